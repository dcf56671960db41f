"""Variable: PyTorch's pre-0.4 wrapper, today an alias that returns a Tensor."""
from __future__ import annotations

from .._tensor import Tensor
from ..autograd import engine as _engine


class _VariableMeta(type):
    def __instancecheck__(cls, other):
        return isinstance(other, Tensor)


class Variable(metaclass=_VariableMeta):
    """``Variable(t, requires_grad=False)`` returns ``t`` (made to require grad if asked)."""

    _execution_engine = _engine  # for Variable._execution_engine.queue_callback(fn)

    def __new__(cls, data, requires_grad=False, volatile=False):
        if requires_grad:
            data.requires_grad_(True)
        return data
