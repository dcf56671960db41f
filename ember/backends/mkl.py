"""ember.backends.mkl: NumPy does the compute; PyTorch's mkl flags are accepted and change nothing."""
from __future__ import annotations

enabled = True


def is_available() -> bool:
    """False: ember does not use mkl itself."""
    return False
