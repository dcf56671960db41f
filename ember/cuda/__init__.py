"""ember.cuda: ember computes on the CPU, so CUDA is never available; the seeding calls are no-ops."""
from __future__ import annotations

from .._device import check_device


def is_available() -> bool:
    """False: ember computes on the CPU."""
    return False


def device_count() -> int:
    """0."""
    return 0


def is_initialized() -> bool:
    """False."""
    return False


def current_device() -> int:
    """An error: there is no CUDA device."""
    check_device("cuda")


def get_device_name(device=None) -> str:
    """An error: there is no CUDA device."""
    check_device("cuda")


def set_device(device) -> None:
    """An error: there is no CUDA device."""
    check_device("cuda")


def manual_seed(seed) -> None:
    """No-op (there is no CUDA generator), so seeding code written for GPUs runs unchanged."""


def manual_seed_all(seed) -> None:
    """No-op, as manual_seed."""


def synchronize(device=None) -> None:
    """Nothing to wait for on the CPU."""


def empty_cache() -> None:
    """Nothing to free."""


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False."""
    return False


from . import amp  # noqa: E402  (torch.cuda.amp.GradScaler without an import of its own)
