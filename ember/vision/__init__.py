"""ember.vision: datasets, models, transforms, image io and utilities (torchvision's API; needs Pillow)."""
from __future__ import annotations

import importlib

from .. import __version__  # noqa: F401 - torchvision.__version__: ember's


def __getattr__(name):
    # Submodules load on first use: `import ember.vision` stays cheap.
    if name in ("datasets", "io", "models", "transforms", "utils"):
        mod = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'ember.vision' has no attribute '{name}'")


__all__ = ["datasets", "io", "models", "transforms", "utils"]
