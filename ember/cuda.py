"""ember.cuda: ember computes on the CPU, so CUDA is never available; the seeding calls are no-ops."""
from __future__ import annotations

from ._device import check_device


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def current_device() -> int:
    check_device("cuda")


def get_device_name(device=None) -> str:
    check_device("cuda")


def set_device(device) -> None:
    check_device("cuda")


def manual_seed(seed) -> None:
    """No-op (there is no CUDA generator), so seeding code written for GPUs runs unchanged."""


def manual_seed_all(seed) -> None:
    """No-op, as manual_seed."""


def synchronize(device=None) -> None:
    """Nothing to wait for on the CPU."""


def empty_cache() -> None:
    """Nothing to free."""


def is_bf16_supported() -> bool:
    return False
