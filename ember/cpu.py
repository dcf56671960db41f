"""ember.cpu: the device ember computes on."""
from __future__ import annotations


def is_available() -> bool:
    """True."""
    return True


def device_count() -> int:
    """1."""
    return 1


def current_device() -> str:
    """'cpu'."""
    return "cpu"


def synchronize(device=None) -> None:
    """Nothing to wait for: ember's ops finish before they return."""
