"""Make ``import torch``, ``import torchvision`` and ``from d2l import torch as d2l`` load ember.

    import ember.compat
    ember.compat.install()
    import torch                      # -> ember
    from torchvision import datasets  # -> ember.vision.datasets

Names map one to one (``torch.X`` -> ``ember.X``; ``torchvision.X`` -> ``ember.vision.X``;
``d2l.torch`` -> ``ember.d2l``), the modules are ember's own objects (no copies), and while
installed, reprs print ``torch.`` as PyTorch does (``torch.float64``, ``torch.Size``).
``uninstall()`` removes the aliases and restores ember's prefix. ``python -m ember run
script.py`` does this around an unmodified PyTorch script.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys

from . import _dtype

_ROOTS = {"torch": "ember", "torchvision": "ember.vision", "d2l": "ember._d2l_pkg"}
_SPECIAL = {"d2l.torch": "ember.d2l"}


def _target(fullname: str):
    if fullname in _SPECIAL:
        return _SPECIAL[fullname]
    root, _, rest = fullname.partition(".")
    if root not in _ROOTS:
        return None
    base = _ROOTS[root]
    return f"{base}.{rest}" if rest else base


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module):
        _rename_classes(True)  # the ember module is already executed; it may have new classes


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Resolves torch/torchvision/d2l imports to the corresponding ember modules."""

    def find_spec(self, fullname, path=None, target=None):
        name = _target(fullname)
        if name is None:
            return None
        try:
            real = importlib.util.find_spec(name)
        except (ImportError, AttributeError, ValueError):
            real = None
        if real is None:
            return None
        spec = importlib.machinery.ModuleSpec(fullname, _AliasLoader(name),
                                              is_package=real.submodule_search_locations is not None)
        if real.submodule_search_locations is not None:
            spec.submodule_search_locations = list(real.submodule_search_locations)
        return spec


_finder = _AliasFinder()
_saved: dict = {}
# Classes whose repr names their module (`<class 'torch.Tensor'>`): shown under torch's names
# while installed, as unmodified scripts print them.
_CLASS_MODULES = [("ember._tensor", "Tensor", "torch"), ("ember._device", "Size", "torch"),
                  ("ember._device", "device", "torch"), ("ember._dtype", "dtype", "torch"),
                  ("ember.nn.parameter", "Parameter", "torch.nn.parameter"),
                  ("ember._random", "Generator", "torch._C")]


def _rename_classes(to_torch: bool) -> None:
    for module, name, torch_module in _CLASS_MODULES:
        if module not in sys.modules and module.startswith("ember.nn"):
            continue  # not imported yet; nothing to rename
        cls = getattr(importlib.import_module(module), name)
        cls.__module__ = torch_module if to_torch else module


def install() -> None:
    """Route torch/torchvision/d2l imports to ember (idempotent)."""
    if _finder in sys.meta_path:
        return
    for name in list(sys.modules):
        if _target(name) is not None:  # a real torch imported earlier: hide it while installed
            _saved[name] = sys.modules.pop(name)
    sys.meta_path.insert(0, _finder)
    _dtype._names["prefix"] = "torch"
    _rename_classes(True)


def uninstall() -> None:
    """Undo install(): the aliases go, real packages imported before come back."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in list(sys.modules):
        if _target(name) is not None:
            del sys.modules[name]
    sys.modules.update(_saved)
    _saved.clear()
    _dtype._names["prefix"] = "ember"
    _rename_classes(False)


def is_installed() -> bool:
    return _finder in sys.meta_path
