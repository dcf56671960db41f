"""``torch.autograd.profiler``: a tool built on the core, in ``ember/_autograd_tools``."""
import sys

from .._autograd_tools import profiler as _impl

sys.modules[__name__] = _impl
