"""ember.backends.cudnn: the flags are kept for programs that set them; there is no cuDNN."""
from __future__ import annotations

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True
benchmark_limit = 10


def is_available() -> bool:
    """False: there is no cuDNN."""
    return False


def version():
    """None: there is no cuDNN."""
    return None


def is_acceptable(tensor) -> bool:
    """False: there is no cuDNN."""
    return False
