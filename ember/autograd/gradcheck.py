"""``torch.autograd.gradcheck``: the tool lives in ``ember/_autograd_tools/gradcheck.py`` (not the core)."""
import sys

from .._autograd_tools import gradcheck as _impl

sys.modules[__name__] = _impl
