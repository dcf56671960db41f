"""``torch.autograd.functional``: a tool built on the core, in ``ember/_autograd_tools``."""
import sys

from .._autograd_tools import functional as _impl

sys.modules[__name__] = _impl
