"""``torch.autograd.anomaly``: the tool lives in ``ember/_autograd_tools/anomaly.py`` (not the core)."""
import sys

from .._autograd_tools import anomaly as _impl

sys.modules[__name__] = _impl
