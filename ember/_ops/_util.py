"""Helpers shared by the op families: argument normalisation and dtype handling."""
from __future__ import annotations

import itertools
import operator

from .. import _dtype
from .._backend import xp
from .._tensor import Tensor, _make, _wrap_dim

__all__ = []


def as_tensor_arg(x):
    """Operands that are not Tensors: NumPy scalars become Python numbers, arrays Tensors."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, xp.generic):
        return x.item()
    if isinstance(x, xp.ndarray):
        return _make(x, False, None, 0)
    if isinstance(x, (int, float, bool)):
        return x
    raise TypeError(f"unsupported operand type: {type(x).__name__}")


def float_dtype_for(arr) -> xp.dtype:
    """The dtype a float-valued op computes in: the input's if floating, else the default."""
    return arr.dtype if arr.dtype.kind == "f" else _dtype.get_default_dtype().np


def norm_dims(dim, ndim, op="dim"):
    """dim (int, sequence or None) -> a sorted tuple of non-negative axes, or None for all."""
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        if len(dim) == 0:
            return None
        axes = tuple(sorted(_wrap_dim(operator.index(d), ndim, op) for d in dim))
        for a, b in itertools.pairwise(axes):
            if a == b:
                raise RuntimeError(f"dim {a} appears multiple times in the list of dims")
        return axes
    return (_wrap_dim(operator.index(dim), ndim, op),)


def dim_arg(dim, axis):
    """Accept PyTorch's ``dim`` or NumPy's ``axis`` (d2l code uses the latter)."""
    if axis is not None:
        if dim is not None:
            raise TypeError("got both 'dim' and its alias 'axis'")
        return axis
    return dim


def shape_arg(args):
    """f(2, 3), f((2, 3)), f([2, 3]) and f(Size) all mean the shape (2, 3).

    Sizes must be integers (Python or NumPy ints, or integer tensors of one element); a float
    is a TypeError, as in PyTorch.
    """
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    try:
        return tuple(operator.index(s) for s in args)
    except TypeError:
        bad = next(s for s in args if not _is_index(s))
        raise TypeError(f"expected a sequence of integers as a size, but got an element of type "
                        f"{type(bad).__name__}: {tuple(args)!r}") from None


def _is_index(s) -> bool:
    try:
        operator.index(s)
        return True
    except TypeError:
        return False


def renamed(base: type, node_name: str, **attrs) -> type:
    """``base`` under another of PyTorch's node names: the same backward (with ``attrs`` set),
    recorded (and printed by ``grad_fn``) as PyTorch names the node of the op that uses it."""
    return type(node_name, (base,),
                {"_node_name": node_name, "__module__": base.__module__, **attrs})
