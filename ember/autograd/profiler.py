"""``torch.autograd.profiler``: the tool lives in ``ember/_autograd_tools/profiler.py`` (not the core)."""
import sys

from .._autograd_tools import profiler as _impl

sys.modules[__name__] = _impl
