"""skip_init: build a module without running its parameter initialisation."""
from __future__ import annotations

import inspect

__all__ = ["skip_init"]


def skip_init(module_cls, *args, **kwargs):
    """``module_cls(*args, **kwargs)``; its parameters' values are unspecified, as in PyTorch."""
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    # PyTorch builds on the meta device and allocates empty storage; ember runs the initialiser
    # (the values are left unspecified either way)
    return module_cls(*args, **kwargs)
