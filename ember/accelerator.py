"""ember.accelerator: the answers of PyTorch's CPU-only build (there is no accelerator)."""
from __future__ import annotations


def _none_available():
    return RuntimeError("Cannot access accelerator device when none is available.")


def is_available() -> bool:
    """False: ember computes on the CPU."""
    return False


def current_accelerator(check_available: bool = False):
    """None: there is no accelerator."""
    return None


def device_count() -> int:
    """0."""
    return 0


def current_device_index() -> int:
    """An error, as in PyTorch's CPU build."""
    raise _none_available()


current_device_idx = current_device_index


def set_device_index(device) -> None:
    """An error, as in PyTorch's CPU build."""
    raise _none_available()


set_device_idx = set_device_index


def synchronize(device=None) -> None:
    """An error, as in PyTorch's CPU build."""
    raise _none_available()


def empty_cache() -> None:
    """Nothing to free."""
