"""ember.mps: Apple's Metal backend is never available in ember."""
from __future__ import annotations


def is_available() -> bool:
    """False."""
    return False


def device_count() -> int:
    """0."""
    return 0


def manual_seed(seed) -> None:
    """No-op (there is no MPS generator), as torch.cuda.manual_seed."""


def seed() -> None:
    """No-op."""


def synchronize() -> None:
    """An error, as in PyTorch without MPS."""
    raise RuntimeError("Cannot execute deviceSynchronize() without MPS backend.")


def empty_cache() -> None:
    """Nothing to free."""


def current_allocated_memory() -> int:
    """0."""
    return 0


driver_allocated_memory = current_allocated_memory
