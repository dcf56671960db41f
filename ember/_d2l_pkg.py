"""The ``d2l`` package as seen through ember.compat: ``from d2l import torch as d2l``."""
from . import d2l as torch  # noqa: F401

__path__ = []  # a package, so that `import d2l.torch` resolves too
