"""ember.backends.cpu."""
from __future__ import annotations


def get_cpu_capability() -> str:
    """'DEFAULT': ember's kernels are NumPy's, with no ISA-specific dispatch of its own."""
    return "DEFAULT"
