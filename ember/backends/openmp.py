"""ember.backends.openmp: NumPy does the compute; PyTorch's openmp flags are accepted and change nothing."""
from __future__ import annotations

enabled = True


def is_available() -> bool:
    """False: ember does not use openmp itself."""
    return False
