"""``torch.autograd.functional``: the tool lives in ``ember/_autograd_tools/functional.py`` (not the core)."""
import sys

from .._autograd_tools import functional as _impl

sys.modules[__name__] = _impl
