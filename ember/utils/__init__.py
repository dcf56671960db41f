"""ember.utils: data loading (``ember.utils.data``) and TensorBoard logging, as torch.utils."""
from __future__ import annotations

import importlib


def __getattr__(name):
    # `import ember.utils` stays cheap; the data package (and multiprocessing) loads on first use.
    if name in ("data", "tensorboard", "safetensors"):
        mod = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'ember.utils' has no attribute '{name}'")
