"""ember.backends.mkldnn: NumPy does the compute; PyTorch's mkldnn flags are accepted and change nothing."""
from __future__ import annotations

enabled = True


def is_available() -> bool:
    """False: ember does not use mkldnn itself."""
    return False
