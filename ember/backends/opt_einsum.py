"""ember.backends.opt_einsum: NumPy's einsum picks its own contraction order."""
from __future__ import annotations

enabled = True
strategy = "auto"


def is_available() -> bool:
    """False: ember does not use the opt_einsum package."""
    return False
