"""``torch.autograd.variable``: the tool lives in ``ember/_autograd_tools/variable.py`` (not the core)."""
import sys

from .._autograd_tools import variable as _impl

sys.modules[__name__] = _impl
