"""Image transforms with torchvision's names, arguments, reprs and results.

The classes live in .transforms, the functional forms in .functional (``transforms.functional``
as in torchvision), the v2 API in .v2; every name is also reachable from this package.
"""
from __future__ import annotations

import importlib

from . import functional
from .functional import *  # noqa: F401,F403  (torchvision.transforms re-exports them too)
from .functional import InterpolationMode
from .transforms import *  # noqa: F401,F403
from .transforms import __all__ as _classes

__all__ = ["InterpolationMode", "functional", *_classes]


def __getattr__(name):
    # v2 loads on first use, as the other optional parts of ember.vision do
    if name == "v2":
        mod = importlib.import_module(f"{__name__}.v2")
        globals()[name] = mod
        return mod
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")
