"""Reductions: sum, mean, prod, max/min, arg*, var/std, norms, logsumexp, cumulative ops, all/any.

Every reduction takes PyTorch's ``dim``/``keepdim`` and NumPy's ``axis``/``keepdims`` (d2l code
uses the latter). Backward formulas broadcast the incoming grad back over the reduced dims;
they are written so that they also work on Tensors (for create_graph=True).
"""
from __future__ import annotations

import builtins
import math
import warnings

from .. import _dtype
from .._backend import xp
from .._creation import linspace
from .._tensor import ARRAY_FUNCTIONS, Tensor, _make, _wrap_dim, register_methods
from ..autograd import grad_mode
from ..autograd.function import Function
from ._sumorder import tsum as _tsum_ordered  # float sums in PyTorch's order (same last bit)
from ._util import dim_arg, norm_dims
from .elementwise import _out as _copy_out
from .elementwise import _tname, where
from .elementwise import maximum as _maximum
from .elementwise import minimum as _minimum
from .indexing import (
    _return_type,  # the package's one factory of torch.return_types
    argsort,
    sort,
)
from .movement import _renamed

_INT64 = xp.dtype(xp.int64)
_FLOAT = xp.dtype(xp.float32)
_HALF = xp.dtype(xp.float16)
_grad_state = grad_mode._state
_inf = math.inf

_max_t = _return_type("max")
_min_t = _return_type("min")
_median_t = _return_type("median")
_mode_t = _return_type("mode")
_cummax_t = _return_type("cummax")
_cummin_t = _return_type("cummin")
_aminmax_t = _return_type("aminmax", ("min", "max"))


# ---- helpers -------------------------------------------------------------------------------------


def _tsum(a, axes, dt, keepdim):
    """The ordered sum, made contiguous: PyTorch allocates reduction results so, NumPy's follow the input."""
    out = _tsum_ordered(a, axes, dt, keepdim)
    return out if out.__class__ is not xp.ndarray or out.flags.c_contiguous else xp.ascontiguousarray(out)


def _keep(keepdim, keepdims):
    return keepdim if keepdims is None else bool(keepdims)


def _axes(dim, ndim, op="dim"):
    """PyTorch dim(s) -> NumPy axes, None for all. A 0-d tensor takes dim 0/-1 and reduces all."""
    if dim is None:
        return None
    axes = norm_dims(dim, ndim, op)
    return None if ndim == 0 else axes


def _kshape(shape, axes):
    """The keepdim shape of a reduction over ``axes`` (None: all)."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _count(shape, axes):
    """How many elements each output of the reduction combines."""
    if axes is None:
        return math.prod(shape)
    return math.prod(shape[i] for i in axes)


def _keepdims_grad(grad, shape, axes, keepdim):
    """The grad of a reduction, reshaped to the keepdim shape (so it broadcasts over the input)."""
    if keepdim or not shape:
        return grad
    return grad.reshape(_kshape(shape, axes))


def _unreduce(grad, shape, axes, keepdim):
    """Broadcast a reduction's grad back to its input's shape: a view, except that a small
    full reduction's grad is filled in (cheaper than a broadcast view up to a few thousand)."""
    if isinstance(grad, Tensor):  # create_graph: stay differentiable
        return _keepdims_grad(grad, shape, axes, keepdim).expand(shape)
    if grad.ndim == 0 and math.prod(shape) <= 4096:
        out = xp.empty(shape, grad.dtype)
        out.fill(grad)
        return out
    return xp.broadcast_to(_keepdims_grad(grad, shape, axes, keepdim), shape)


def _np_dtype(dtype):
    return None if dtype is None else _dtype.to_dtype(dtype).np


def _out(result, out):
    return result if out is None else _copy_out(result, out)


def _tensor(x):
    if isinstance(x, Tensor):
        return x
    return _make(xp.asarray(x), False, None, 0)


def _check_nonempty(a, axes, op):
    """PyTorch's errors for max-like reductions, which have no identity, over empty dims."""
    if a.size:
        return
    if axes is None:
        raise RuntimeError(
            f"{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
            "reduction dim with the 'dim' argument.")
    for d in axes:
        if a.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


def _arr(x):
    # full reductions return NumPy scalars; saved outputs must be the arrays apply() wraps;
    # PyTorch allocates reduction results contiguous, NumPy's follow the input's layout
    if x.__class__ is not xp.ndarray:
        return xp.asarray(x)
    return x if x.flags.c_contiguous else xp.ascontiguousarray(x)


def _rshape(shape, axes):
    """The shape of a reduction over ``axes`` without keepdim."""
    if axes is None:
        return ()
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _moveaxis_last(a, d):
    return a if d == a.ndim - 1 else xp.moveaxis(a, d, -1)


# ---- sum, mean, nansum, nanmean, prod ------------------------------------------------------------
class Sum(Function):
    _node_name = "SumBackward0"
    _inputs = 1  # (x, axes, keepdim, dtype)

    @staticmethod
    def forward(ctx, a, axes, keepdim, dt):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return _tsum(a, axes, dt, keepdim)

    @staticmethod
    def backward(ctx, grad):
        return _unreduce(grad, ctx.shape, ctx.axes, ctx.keepdim)


SumDim = _renamed(Sum, "SumBackward1")


class Mean(Function):
    _node_name = "MeanBackward0"
    _inputs = 1  # (x, axes, keepdim, dtype)

    @staticmethod
    def forward(ctx, a, axes, keepdim, dt):
        shape = a.shape
        ctx.shape, ctx.axes, ctx.keepdim = shape, axes, keepdim
        n = ctx.n = _count(shape, axes)
        half = dt is None and a.dtype == _HALF  # PyTorch: float32 sum and division, cast back
        s = _tsum(a, axes, _FLOAT if half else dt, keepdim)
        if n == 0:
            return xp.full(xp.shape(s), xp.nan, dtype=a.dtype if half else s.dtype)
        s = s / s.dtype.type(n)  # divided in the sum's dtype, as PyTorch does
        return s.astype(_HALF) if half else s

    @staticmethod
    def backward(ctx, grad):
        g = grad / ctx.n if ctx.n else grad
        return _unreduce(g, ctx.shape, ctx.axes, ctx.keepdim)


MeanDim = _renamed(Mean, "MeanBackward1")


def _sum_dtype(a, dtype):
    if dtype is not None:
        return _dtype.to_dtype(dtype).np
    return _INT64 if a.dtype.kind in "biu" else None


def sum(input, dim=None, keepdim=False, *, dtype=None, out=None, axis=None, keepdims=None):
    """Sum over all elements, or over ``dim`` (int or sequence); ints and bools sum to int64."""
    a = input._data
    full = dim is None and axis is None
    axes = None if full else _axes(dim_arg(dim, axis), a.ndim)
    keep = _keep(keepdim, keepdims)
    dt = _sum_dtype(a, dtype)
    if out is None and not (input._requires_grad and _grad_state[0]):
        # nothing to record: skip Function.apply (this is the hottest reduction)
        res = _tsum(a, axes, dt, keep)
        return _make(res if res.__class__ is xp.ndarray else xp.asarray(res), False, None, 0)
    res = (Sum if full else SumDim).apply(input, axes, keep, dt)
    return res if out is None else _out(res, out)


def _mean_dtype(a, dtype, op="mean"):
    if dtype is not None:
        dt = _dtype.to_dtype(dtype)
        if not dt.is_floating_point:
            raise RuntimeError(
                f"{op}(): could not infer output dtype. Optional dtype must be either a floating "
                f"point or complex dtype. Got: {_tname(dt.np)}")
        return dt.np
    if a.dtype.kind != "f":
        raise RuntimeError(
            f"{op}(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {_tname(a.dtype)}")
    return None


def mean(input, dim=None, keepdim=False, *, dtype=None, out=None, axis=None, keepdims=None):
    """Arithmetic mean; floating inputs only (or pass ``dtype``), as in PyTorch."""
    a = input._data
    if dim is None and axis is None and dtype is None and out is None and a.dtype.kind == "f":
        return Mean.apply(input, None, _keep(keepdim, keepdims), None)  # the loss's mean()
    dt = _mean_dtype(a, dtype)
    if dim is None and axis is None:
        res = Mean.apply(input, None, _keep(keepdim, keepdims), dt)
    else:
        axes = _axes(dim_arg(dim, axis), a.ndim)
        res = MeanDim.apply(input, axes, _keep(keepdim, keepdims), dt)
    return res if out is None else _out(res, out)


class Nansum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim, dt):
        ctx.save_for_backward(a)
        ctx.axes, ctx.keepdim = axes, keepdim
        if a.dtype.kind == "f":  # PyTorch reads NaN as 0 and sums in its usual order
            return _tsum(xp.where(xp.isnan(a), a.dtype.type(0), a), axes, dt, keepdim)
        return xp.nansum(a, axis=axes, dtype=dt, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        g = _keepdims_grad(grad, a.shape, ctx.axes, ctx.keepdim)
        return xp.where(xp.isnan(a), 0, g)


def nansum(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """Sum treating NaN as zero."""
    a = input._data
    axes = _axes(dim_arg(dim, axis), a.ndim)
    return Nansum.apply(input, axes, _keep(keepdim, keepdims), _sum_dtype(a, dtype))


def nanmean(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """Mean of the non-NaN elements."""
    a = input._data
    if a.dtype.kind != "f" and dtype is None:
        raise RuntimeError("nanmean(): expected input to have floating point or complex dtype but "
                           f"got {_tname(a.dtype)}")
    dim = dim_arg(dim, axis)
    keep = _keep(keepdim, keepdims)
    axes = _axes(dim, a.ndim)
    count = xp.add.reduce(~xp.isnan(a), axis=axes, dtype=_INT64, keepdims=keep)
    return nansum(input, dim, keep, dtype=dtype) / _tensor(count)


def _others_product(a, axes):
    """For each element, the product of the others in its reduction group (zeros allowed)."""
    nd = a.ndim
    axes = tuple(range(nd)) if axes is None else axes
    rest = [i for i in range(nd) if i not in axes]
    perm = rest + list(axes)
    t = a.transpose(perm)
    lead = t.shape[: len(rest)]
    t = t.reshape(lead + (-1,))
    ones = xp.ones(lead + (1,), dtype=a.dtype)
    left = xp.concatenate([ones, xp.cumprod(t[..., :-1], axis=-1)], axis=-1)
    right = xp.concatenate([xp.cumprod(t[..., :0:-1], axis=-1)[..., ::-1], ones], axis=-1)
    prod = (left * right).reshape([a.shape[i] for i in perm])
    return prod.transpose(xp.argsort(perm))


class _SavedReduction(Function):
    """A reduction over ``axes`` whose backward reads its input and its result: subclasses give
    ``_value(a, axes, keepdim, *options)`` and ``_grad(grad, a, out)`` (prod, amax/amin,
    logsumexp)."""

    @staticmethod
    def forward(ctx, a, axes, keepdim, *options):
        out = _arr(ctx._value(a, axes, keepdim, *options))
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        return ctx._grad(grad, a, out)


class Prod(_SavedReduction):
    _node_name = "ProdBackward0"

    @staticmethod
    def _value(a, axes, keepdim, dt):
        return xp.multiply.reduce(a, axis=axes, dtype=dt, keepdims=keepdim)

    def _grad(ctx, grad, a, out):
        g = _keepdims_grad(grad, a.shape, ctx.axes, ctx.keepdim)
        if not bool((a == 0).any()):
            return g * (_keepdims_grad(out, a.shape, ctx.axes, ctx.keepdim) / a)
        # with zeros, out / a is 0/0: use the product of the other elements instead
        raw = a._data if isinstance(a, Tensor) else a
        return g * _others_product(raw, ctx.axes)


ProdDim = _renamed(Prod, "ProdBackward1")


def prod(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """Product of all elements, or along ``dim``; ints and bools multiply to int64."""
    a = input._data
    dim = dim_arg(dim, axis)
    cls = Prod if dim is None else ProdDim
    return cls.apply(input, _axes(dim, a.ndim), _keep(keepdim, keepdims), _sum_dtype(a, dtype))


# ---- max, min, amax, amin, argmax, argmin --------------------------------------------------------
class Amax(_SavedReduction):
    """amax/amin and the full max()/min(): the grad is shared evenly among tied extremes."""

    _node_name = "AmaxBackward0"
    _reduce = xp.maximum

    def _value(ctx, a, axes, keepdim):
        return ctx._reduce.reduce(a, axis=axes, keepdims=keepdim)

    def _grad(ctx, grad, a, out):
        return _even_grad(grad, a, out, ctx.axes, ctx.keepdim)


def _even_grad(grad, a, out, axes, keep):
    """The grad of an extreme value, split evenly among the elements equal to it (NaN too)."""
    o = _keepdims_grad(out, a.shape, axes, keep)
    mask = a == o
    raw = out._data if isinstance(out, Tensor) else out
    if raw.dtype.kind == "f" and xp.isnan(raw).any():
        mask = mask | (xp.isnan(a) & xp.isnan(o))
    count = mask.sum(axis=axes, keepdims=True, dtype=grad.dtype)
    return _keepdims_grad(grad, a.shape, axes, keep) / count * mask


class Amin(Amax):
    _node_name = "AminBackward0"
    _reduce = xp.minimum


MaxAll = _renamed(Amax, "MaxBackward1")
MinAll = _renamed(Amin, "MinBackward1")


class MaxDim(Function):
    """max(dim)/min(dim): values and indices; the grad goes to the selected index."""

    _node_name = "MaxBackward0"
    _arg = staticmethod(xp.argmax)

    @staticmethod
    def forward(ctx, a, d, keepdim):
        if a.ndim == 0:
            ctx.d = None
            return a.copy(), xp.zeros((), _INT64)
        values, idx = ctx._select(a, d)
        ctx.d, ctx.shape, ctx.idx = d, a.shape, idx
        if not keepdim:
            values, idx = values.squeeze(d), idx.squeeze(d)
        return values, idx

    @classmethod
    def _select(cls, a, d):
        """The values and indices along d, keepdim-shaped (median and mode override it)."""
        idx = cls._arg(a, axis=d, keepdims=True)
        return xp.take_along_axis(a, idx, axis=d), idx

    @staticmethod
    def backward(ctx, grad, _grad_indices=None):
        if ctx.d is None:
            return grad
        return _select_grad(grad, ctx.idx, ctx.d, ctx.shape)


class MinDim(MaxDim):
    _node_name = "MinBackward0"
    _arg = staticmethod(xp.argmin)


def _select_grad(grad, idx, d, shape):
    """Route grad to positions ``idx`` (keepdim-shaped) along ``d``: a one-hot mask times grad."""
    where = xp.arange(shape[d]).reshape([-1 if i == d else 1 for i in range(len(shape))])
    mask = where == idx
    if grad.ndim != len(shape):
        grad = grad.reshape(idx.shape)
    return grad * mask


def _extreme(op, all_cls, dim_cls, binary, rtype):
    def fn(input, dim=None, keepdim=False, *, out=None, other=None, axis=None, keepdims=None):
        if isinstance(dim, Tensor) or other is not None:
            res = binary(input, dim if other is None else other)
            return res if out is None else _out(res, out)
        dim = dim_arg(dim, axis)
        input = _tensor(input)
        a = input._data
        if dim is None:
            _check_nonempty(a, None, op)
            return all_cls.apply(input, None, False)
        d = _wrap_dim(int(dim), a.ndim)
        if a.ndim and a.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
        return rtype(*dim_cls.apply(input, d, _keep(keepdim, keepdims)))

    fn.__name__ = op
    fn.__doc__ = (f"{op}(input) -> Tensor; {op}(input, dim, keepdim) -> (values, indices); "
                  f"{op}(input, other) -> elementwise {op}imum.")
    return fn


max = _extreme("max", MaxAll, MaxDim, _maximum, _max_t)
min = _extreme("min", MinAll, MinDim, _minimum, _min_t)


def _amax_like(op, cls):
    def fn(input, dim=(), keepdim=False, *, out=None, axis=None, keepdims=None):
        a = input._data
        dim = dim_arg(None if dim == () else dim, axis)
        axes = _axes(dim, a.ndim)
        _check_nonempty(a, axes, op)
        res = cls.apply(input, axes, _keep(keepdim, keepdims))
        return res if out is None else _out(res, out)

    fn.__name__ = op
    fn.__doc__ = f"The {op[1:]}imum over ``dim`` (all dims by default); ties share the gradient."
    return fn


amax = _amax_like("amax", Amax)
amin = _amax_like("amin", Amin)


class Aminmax(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        mn = _arr(xp.minimum.reduce(a, axis=axes, keepdims=keepdim))
        mx = _arr(xp.maximum.reduce(a, axis=axes, keepdims=keepdim))
        ctx.save_for_backward(a, mn, mx)
        ctx.axes, ctx.keepdim = axes, keepdim
        return mn, mx

    @staticmethod
    def backward(ctx, grad_min, grad_max):
        a, mn, mx = ctx.saved_tensors
        return (_even_grad(grad_min, a, mn, ctx.axes, ctx.keepdim)
                + _even_grad(grad_max, a, mx, ctx.axes, ctx.keepdim))


def aminmax(input, *, dim=None, keepdim=False):
    """(min, max) in one pass over the arguments."""
    a = input._data
    if a.size == 0 and (dim is None or a.shape[_wrap_dim(dim, a.ndim)] == 0):
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the "
                           "operation has no identity.")
    axes = None if dim is None else _axes(dim, a.ndim)
    return _aminmax_t(*Aminmax.apply(input, axes, keepdim))


def _arg_extreme(op, np_fn):
    def fn(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
        a = input._data
        dim = dim_arg(dim, axis)
        keep = _keep(keepdim, keepdims)
        if a.dtype == xp.bool_:
            raise RuntimeError(f"{op}(): does not support bool input")
        if dim is None:
            if a.size == 0:
                raise IndexError(
                    f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
            res = xp.asarray(np_fn(a), dtype=_INT64)
            if keep:
                res = res.reshape((1,) * a.ndim)
            return _make(res, False, None, 0)
        d = _wrap_dim(int(dim), a.ndim)
        if a.ndim == 0:
            return _make(xp.zeros((), _INT64), False, None, 0)
        if a.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
        res = np_fn(a, axis=d, keepdims=keep)
        return _make(res.astype(_INT64, copy=False), False, None, 0)

    fn.__name__ = op
    fn.__doc__ = f"Index of the {op[3:]}imum (of the flattened tensor when ``dim`` is None)."
    return fn


argmax = _arg_extreme("argmax", xp.argmax)
argmin = _arg_extreme("argmin", xp.argmin)


# ---- var, std ------------------------------------------------------------------------------------
class Var(Function):
    @staticmethod
    def forward(ctx, a, axes, correction, keepdim):
        n = _count(a.shape, axes)
        dof = ctx.dof = builtins.max(n - correction, 0)
        mu = xp.add.reduce(a, axis=axes, keepdims=True) / builtins.max(n, 1)
        d = a - mu
        d *= d
        ss = xp.add.reduce(d, axis=axes, keepdims=keepdim)
        if dof:
            out = ss / dof
        else:  # PyTorch divides by 0 too (inf or nan), after its warning
            with xp.errstate(divide="ignore", invalid="ignore"):
                out = ss / dof
        ctx.save_for_backward(a)
        ctx.axes, ctx.keepdim = axes, keepdim
        return _arr(out)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return _var_grad(grad, a, ctx)


def _var_grad(grad, a, ctx):
    # d var / d a = 2 (a - mean) / dof
    axes = ctx.axes
    g = _keepdims_grad(grad, a.shape, axes, ctx.keepdim)
    scale = 2.0 / ctx.dof if ctx.dof else math.inf
    return (g * scale) * (a - a.mean(axis=axes, keepdims=True))


class Std(Function):
    @staticmethod
    def forward(ctx, a, axes, correction, keepdim):
        out = _arr(xp.sqrt(Var.forward(ctx, a, axes, correction, keepdim)))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        return _std_grad(grad, a, out, ctx)


def _std_grad(grad, a, out, ctx):
    # d std = d var / (2 std); PyTorch defines it as 0 where std == 0
    axes, keep = ctx.axes, ctx.keepdim
    g = _keepdims_grad(grad, a.shape, axes, keep)
    o = _keepdims_grad(out, a.shape, axes, keep)
    scale = xp.where(o == 0, 0, g / xp.where(o == 0, 1, o * ctx.dof))
    return scale * (a - a.mean(axis=axes, keepdims=True))


def _var_args(op, input, dim, unbiased, keepdim, correction, axis, keepdims):
    a = input._data
    if a.dtype.kind != "f":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    if isinstance(dim, bool):  # var(input, unbiased)
        dim, unbiased = None, dim
    if correction is not None and unbiased is not None:
        raise TypeError(f"{op}() received an invalid combination of arguments: 'correction' and "
                        "'unbiased' cannot both be given")
    c = correction if correction is not None else (0 if unbiased is False else 1)
    axes = _axes(dim_arg(dim, axis), a.ndim)
    n = _count(a.shape, axes) if a.size else 0  # PyTorch: numel(input) / numel(output)
    if n - c <= 0:
        warnings.warn(f"{op}(): degrees of freedom is <= 0. Correction should be strictly less "
                      "than the reduction factor (input numel divided by output numel).",
                      UserWarning, stacklevel=3)
    return axes, c, _keep(keepdim, keepdims)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None, axis=None,
        keepdims=None):
    """Variance with Bessel's correction by default (``correction=1``), as in PyTorch."""
    axes, c, keep = _var_args("var", input, dim, unbiased, keepdim, correction, axis, keepdims)
    res = Var.apply(input, axes, c, keep)
    return res if out is None else _out(res, out)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None, axis=None,
        keepdims=None):
    """Standard deviation with Bessel's correction by default (``correction=1``)."""
    axes, c, keep = _var_args("std", input, dim, unbiased, keepdim, correction, axis, keepdims)
    res = Std.apply(input, axes, c, keep)
    return res if out is None else _out(res, out)


class VarMean(Function):
    """(var or std, mean) from one pass; the grad is the sum of both parts."""

    _node_name = "VarMeanBackward0"
    _std = False

    @staticmethod
    def forward(ctx, a, axes, correction, keepdim):
        v = _arr(Var.forward(ctx, a, axes, correction, keepdim))
        if ctx._std:
            v = xp.sqrt(v)
        n = builtins.max(_count(a.shape, axes), 1)
        m = _arr(xp.add.reduce(a, axis=axes, keepdims=keepdim) / n)
        ctx.n = n
        ctx.save_for_backward(a, v)
        return v, m

    @staticmethod
    def backward(ctx, grad_v, grad_m):
        a, v = ctx.saved_tensors
        gv = _std_grad(grad_v, a, v, ctx) if ctx._std else _var_grad(grad_v, a, ctx)
        return gv + _unreduce(grad_m / ctx.n, a.shape, ctx.axes, ctx.keepdim)


class StdMean(VarMean):
    _node_name = "StdMeanBackward0"
    _std = True


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
             keepdims=None):
    """(var, mean) over the same dims."""
    axes, c, keep = _var_args("var_mean", input, dim, unbiased, keepdim, correction, axis,
                              keepdims)
    return VarMean.apply(input, axes, c, keep)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
             keepdims=None):
    """(std, mean) over the same dims."""
    axes, c, keep = _var_args("std_mean", input, dim, unbiased, keepdim, correction, axis,
                              keepdims)
    return StdMean.apply(input, axes, c, keep)


# ---- norms ---------------------------------------------------------------------------------------
def _norm2_lastdim_f32(a, axes, keepdim):
    """PyTorch's float32 2-norm over the last (or every) dim of a contiguous tensor, bit for bit.

    Its CPU kernel (norm_kernel_tensor_iterator_impl's lastdim path, AVX2 build: 8 lanes)
    squares and adds 8-wide vectors into lanes started at 0, adds lanes 1..7 to lane 0 one by
    one, then the tail: groups of 4 squared first and added one by one, the last n % 4 values
    with a fused multiply-add (emulated in float64: a float32 square is exact there).
    """
    n = a.shape[-1] if axes is not None and len(axes) == 1 and a.ndim > 1 else a.size
    a2 = a.reshape(-1, n)
    m = n - n % 8
    if m:
        head = a2[:, :m]
        # reducing a non-innermost axis adds the slices one after another, as the lanes do
        acc = xp.add.reduce((head * head).reshape(len(a2), m // 8, 8), axis=1)
    else:
        acc = xp.zeros((len(a2), 8), xp.float32)
    b = acc[:, 0].copy()
    for j in range(1, 8):
        b += acc[:, j]
    k4 = m + 4 * ((n - m) // 4)
    for j in range(m, k4):
        b += a2[:, j] * a2[:, j]
    for j in range(k4, n):
        x = a2[:, j].astype(xp.float64)
        b = (b.astype(xp.float64) + x * x).astype(xp.float32)
    out = xp.sqrt(b)
    if axes is not None and len(axes) == 1 and a.ndim > 1:
        shape = a.shape[:-1] + ((1,) if keepdim else ())
    else:
        shape = (1,) * a.ndim if keepdim else ()
    return out.reshape(shape)


class VectorNorm(Function):
    _node_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, a_in, ord, axes, keepdim, dt):
        a = a_in if dt is None else a_in.astype(dt, copy=False)
        if ord == 2 and a.dtype == xp.float32 and a.flags.c_contiguous and a.size and (
                axes is None or tuple(axes) == (a.ndim - 1,)
                or sorted(axes) == list(range(a.ndim))):
            out = _norm2_lastdim_f32(a, axes, keepdim)
        elif ord == 2:
            out = xp.sqrt(xp.add.reduce(a * a, axis=axes, keepdims=keepdim))
        elif ord == 1:
            out = xp.add.reduce(xp.abs(a), axis=axes, keepdims=keepdim)
        elif ord == _inf:
            out = xp.maximum.reduce(xp.abs(a), axis=axes, keepdims=keepdim)
        elif ord == -_inf:
            out = xp.minimum.reduce(xp.abs(a), axis=axes, keepdims=keepdim)
        elif ord == 0:
            out = xp.add.reduce(a != 0, axis=axes, keepdims=keepdim, dtype=a.dtype)
        else:
            with xp.errstate(divide="ignore"):
                s = xp.add.reduce(xp.abs(a) ** ord, axis=axes, keepdims=keepdim)
                out = (s ** (1.0 / ord)).astype(a.dtype, copy=False)
        out = _arr(out)
        if not out.flags.c_contiguous:  # contiguous, as PyTorch's reduction results
            out = xp.ascontiguousarray(out)
        ctx.save_for_backward(a_in, out)  # the grad is cast back to a_in's dtype by the engine
        ctx.ord, ctx.axes, ctx.keepdim = ord, axes, keepdim
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        p, axes, keep = ctx.ord, ctx.axes, ctx.keepdim
        g = _keepdims_grad(grad, a.shape, axes, keep)
        o = _keepdims_grad(out, a.shape, axes, keep)
        if p == 2:  # a / |a|; a whole group of zeros gets 0, not nan
            return a * (g / xp.where(o == 0, 1, o))
        if p == 1:
            return g * xp.sign(a)
        if p == _inf or p == -_inf:
            mask = xp.abs(a) == o
            count = mask.sum(axis=axes, keepdims=True, dtype=grad.dtype)
            return g / count * (xp.sign(a) * mask)
        if p == 0:
            return g * (a * 0)
        # d/da (sum |a|^p)^(1/p) = sign(a) |a|^(p-1) / norm^(p-1)
        absa = xp.abs(a)
        safe = xp.where(absa == 0, 1, absa)
        return g / xp.where(o == 0, 1, o) ** (p - 1) * (xp.sign(a) * safe ** (p - 1))


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    """torch.linalg.vector_norm: the ``ord``-norm of ``x`` flattened, or over ``dim``."""
    a = x._data
    if isinstance(ord, str):
        raise TypeError("linalg_vector_norm(): argument 'ord' (position 2) must be Number, not str")
    if a.dtype.kind != "f":
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {_tname(a.dtype)}")
    axes = _axes(dim, a.ndim)
    ord = float(ord)
    if a.size == 0 and (ord < 0 or ord == _inf):
        if axes is None:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {ord:g} norm on an empty "
                               "tensor because the operation does not have an identity")
        for d in axes:
            if a.shape[d] == 0:
                raise RuntimeError(
                    f"linalg.vector_norm cannot compute the {ord:g} norm on the dimension {d}"
                    "because this dimension is empty and the operation does not have an identity")
    res = VectorNorm.apply(x, ord, axes, keepdim, _np_dtype(dtype))
    return res if out is None else _out(res, out)


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """torch.norm: a vector norm (p='fro' means 2) over ``dim``, or the nuclear matrix norm."""
    if isinstance(dim, int):
        dim = [dim]
    if isinstance(p, str):
        if p == "fro" and (dim is None or len(dim) <= 2):
            return vector_norm(input, 2, dim, keepdim, dtype=dtype, out=out)
        from ..linalg import matrix_norm  # in here: ember.linalg imports this module

        res = matrix_norm(input, p, list(range(input.ndim)) if dim is None else dim, keepdim,
                          dtype=dtype)
        return res if out is None else _out(res, out)
    return vector_norm(input, 2.0 if p is None else p, dim, keepdim, dtype=dtype, out=out)


# ---- logsumexp -----------------------------------------------------------------------------------
class Logsumexp(_SavedReduction):
    @staticmethod
    def _value(a, axes, keepdim):
        if _count(a.shape, axes) == 0:
            return xp.full(_kshape(a.shape, axes) if keepdim else _rshape(a.shape, axes), -xp.inf,
                           dtype=a.dtype)  # log of an empty sum
        m = xp.array(xp.maximum.reduce(a, axis=axes, keepdims=True))
        m[~xp.isfinite(m)] = 0  # all -inf (or an inf) in a group: don't compute inf - inf
        with xp.errstate(divide="ignore"):
            out = xp.log(xp.add.reduce(xp.exp(a - m), axis=axes, keepdims=True))
        out += m
        return out if keepdim else out.reshape(_rshape(a.shape, axes))

    def _grad(ctx, grad, a, out):
        axes, keep = ctx.axes, ctx.keepdim
        g = _keepdims_grad(grad, a.shape, axes, keep)
        return g * xp.exp(a - _keepdims_grad(out, a.shape, axes, keep))


def logsumexp(input, dim=None, keepdim=False, *, out=None, axis=None, keepdims=None):
    """log(sum(exp(x))) over ``dim``, computed stably (shifted by the max)."""
    dim = dim_arg(dim, axis)
    if dim is None:
        raise TypeError('logsumexp() missing 1 required positional arguments: "dim"')
    if not input.is_floating_point():  # integers (never differentiated) in the default dtype
        input = input.to(_dtype.get_default_dtype())
    res = Logsumexp.apply(input, _axes(dim, input._data.ndim), _keep(keepdim, keepdims))
    return res if out is None else _out(res, out)


# ---- cumulative ops ------------------------------------------------------------------------------
def _rev_cumsum(g, d):
    """sum_{j >= i} g_j along d."""
    if isinstance(g, Tensor):  # create_graph: built from differentiable ops
        return g.sum(d, keepdim=True) - g.cumsum(d) + g
    return xp.flip(xp.cumsum(xp.flip(g, d), axis=d), d)


class _Scan(Function):
    """A running op along dim d (cumsum, cumprod, logcumsumexp): subclasses give ``_scan`` of
    an array with dims and ``_grad``; a 0-d input is its own result and passes grad through."""

    _saves = True  # the backward reads the input and the result

    @staticmethod
    def forward(ctx, a, d, dt=None):
        ctx.d = d
        if a.ndim == 0:
            out = a.astype(dt) if dt is not None else a.copy()
        else:
            out = _arr(ctx._scan(a, d, dt))  # contiguous, as PyTorch's
        if ctx._saves:
            ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        if grad.ndim == 0:
            return grad
        return ctx._grad(grad)


class Cumsum(_Scan):
    _saves = False

    @staticmethod
    def _scan(a, d, dt):
        return xp.cumsum(a, axis=d, dtype=dt)

    def _grad(ctx, grad):
        return _rev_cumsum(grad, ctx.d)


class Cumprod(_Scan):
    @staticmethod
    def _scan(a, d, dt):
        return xp.cumprod(a, axis=d, dtype=dt)

    def _grad(ctx, grad):
        a, out = ctx.saved_tensors
        d = ctx.d
        if not bool((a == 0).any()):
            return _rev_cumsum(grad * out, d) / a
        raw = [x._data if isinstance(x, Tensor) else x for x in (a, out, grad)]
        return _cumprod_grad_with_zeros(*raw, d)


def _cumprod_grad_with_zeros(a, out, g, d):
    """cumprod's vector-Jacobian product when some inputs are exactly zero.

    With z the first zero of a slice: for i < z the usual sum_{j>=i} g_j out_j / a_i holds (the
    terms for j >= z are 0 on both sides); for i > z every term contains a_z, so the grad is 0;
    at i == z it is out_{z-1} * sum_{j>=z} g_j prod_{z<k<=j} a_k.
    """
    a, out, g = (_moveaxis_last(x, d) for x in (a, out, g))
    n = a.shape[-1]
    pos = xp.arange(n)
    is_zero = a == 0
    z = xp.where(is_zero.any(-1, keepdims=True), is_zero.argmax(-1)[..., None], n)
    before = pos < z
    with xp.errstate(divide="ignore", invalid="ignore"):
        res = xp.where(before, xp.flip(xp.cumsum(xp.flip(g * out, -1), -1), -1) / a, 0)
    # prod_{z<k<=j} a_k: cumprod of a with the entries up to z replaced by 1
    tail = xp.cumprod(xp.where(pos > z, a, 1), axis=-1)
    s = xp.flip(xp.cumsum(xp.flip(xp.where(pos >= z, g * tail, 0), -1), -1), -1)
    prev = xp.where(z > 0, xp.take_along_axis(out, xp.maximum(z - 1, 0) % n, -1), 1)
    at_z = prev * xp.take_along_axis(s, xp.minimum(z, n - 1), -1)
    res = xp.where(pos == z, at_z, res)
    return xp.moveaxis(res, -1, d) if d != a.ndim - 1 else res


def _cum_args(op, input, dim, axis, dtype):
    dim = dim_arg(dim, axis)
    if dim is None:
        raise TypeError(f'{op}() missing 1 required positional arguments: "dim"')
    a = input._data
    d = _wrap_dim(int(dim), a.ndim)
    return d, _sum_dtype(a, dtype)


def cumsum(input, dim=None, *, dtype=None, out=None, axis=None):
    """Cumulative sum along ``dim``; ints and bools accumulate in int64."""
    d, dt = _cum_args("cumsum", input, dim, axis, dtype)
    res = Cumsum.apply(input, d, dt)
    return res if out is None else _out(res, out)


def cumprod(input, dim=None, *, dtype=None, out=None, axis=None):
    """Cumulative product along ``dim``; ints and bools accumulate in int64."""
    d, dt = _cum_args("cumprod", input, dim, axis, dtype)
    res = Cumprod.apply(input, d, dt)
    return res if out is None else _out(res, out)


class Cummax(Function):
    _accumulate = xp.maximum

    @staticmethod
    def forward(ctx, a, d):
        ctx.d, ctx.shape = d, a.shape
        if a.ndim == 0:
            ctx.idx = xp.zeros((), _INT64)
            return a.copy(), ctx.idx
        values = ctx._accumulate.accumulate(a, axis=d)
        # index of the latest element equal to the running extreme (PyTorch's tie rule)
        pos = xp.arange(a.shape[d], dtype=_INT64).reshape(
            [-1 if i == d else 1 for i in range(a.ndim)])
        idx = xp.maximum.accumulate(xp.where(a == values, pos, 0), axis=d)
        if a.dtype.kind == "f":
            # a NaN is the extreme from where it appears on, and a later NaN takes over (PyTorch)
            last_nan = xp.maximum.accumulate(xp.where(xp.isnan(a), pos, -1), axis=d)
            idx = xp.where(last_nan >= 0, last_nan, idx)
        ctx.idx = idx = _arr(idx)  # contiguous, as PyTorch's
        return _arr(values), idx

    @staticmethod
    def backward(ctx, grad, _grad_indices=None):
        if not ctx.shape:
            return grad
        g = xp.asarray(grad._data if isinstance(grad, Tensor) else grad)
        res = xp.zeros(ctx.shape, dtype=g.dtype)
        # scatter-add: each output position adds its grad to the index it selected
        flat = xp.ravel_multi_index(_index_grid(ctx.idx, ctx.d), ctx.shape)
        xp.add.at(res.reshape(-1), flat.reshape(-1), g.reshape(-1))
        return res


class Cummin(Cummax):
    _accumulate = xp.minimum


def _index_grid(idx, d):
    grids = list(xp.indices(idx.shape, sparse=True))
    grids[d] = idx
    return tuple(xp.broadcast_arrays(*grids))


def cummax(input, dim, *, axis=None):
    """Running maximum along ``dim`` and the index where it was attained."""
    d = _wrap_dim(int(dim_arg(dim, axis)), input._data.ndim)
    return _cummax_t(*Cummax.apply(input, d))


def cummin(input, dim, *, axis=None):
    """Running minimum along ``dim`` and the index where it was attained."""
    d = _wrap_dim(int(dim_arg(dim, axis)), input._data.ndim)
    return _cummin_t(*Cummin.apply(input, d))


# ---- logical reductions, counting ----------------------------------------------------------------
def _logical(op, ufunc):
    def fn(input, dim=None, keepdim=False, *, out=None, axis=None, keepdims=None):
        a = input._data
        axes = _axes(dim_arg(dim, axis), a.ndim)
        res = ufunc.reduce(a, axis=axes, keepdims=_keep(keepdim, keepdims))
        res = _arr(xp.asarray(res, dtype=xp.uint8 if a.dtype == xp.uint8 else xp.bool_))
        return _out(_make(res, False, None, 0), out)

    fn.__name__ = op
    fn.__doc__ = f"Whether {op} elements (over ``dim``) are nonzero."
    return fn


all = _logical("all", xp.logical_and)
any = _logical("any", xp.logical_or)


def count_nonzero(input, dim=None, *, axis=None):
    """Number of nonzero elements, over ``dim`` (int or tuple) or in total."""
    a = input._data
    axes = _axes(dim_arg(dim, axis), a.ndim)
    return _make(_arr(xp.asarray(xp.count_nonzero(a, axis=axes), dtype=_INT64)), False, None, 0)


# ---- median, mode --------------------------------------------------------------------------------
class MedianAll(Amax):
    """The median of all elements; its grad, as amax's, goes evenly to the elements equal to it."""

    _node_name = "MedianBackward0"

    @staticmethod
    def forward(ctx, a):
        flat = a.reshape(-1)
        if flat.size == 0 or a.dtype.kind == "f" and xp.isnan(flat).any():
            out = xp.full((), xp.nan, dtype=a.dtype)
        else:
            k = (flat.size - 1) // 2  # the lower median, as PyTorch
            out = xp.array(xp.partition(flat, k)[k])
        ctx.save_for_backward(a, out)
        return out

    axes, keepdim = None, False  # what Amax._grad reads


class MedianDim(MaxDim):
    _node_name = "MedianBackward1"

    @staticmethod
    def _select(a, d):
        n = a.shape[d]
        order = xp.argsort(a, axis=d, kind="stable")  # NaNs sort last
        idx = xp.take(order, [(n - 1) // 2], axis=d)
        if a.dtype.kind == "f":
            nan = xp.isnan(a)
            has_nan = nan.any(axis=d, keepdims=True)
            if has_nan.any():  # PyTorch propagates NaN, with the index of the first one
                idx = xp.where(has_nan, nan.argmax(axis=d, keepdims=True), idx)
        return xp.take_along_axis(a, idx, axis=d), idx


def median(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The lower median of all elements, or (values, indices) along ``dim``."""
    dim = dim_arg(dim, axis)
    a = input._data
    if dim is None:
        return MedianAll.apply(input)
    d = _wrap_dim(int(dim), a.ndim)
    if a.ndim and a.shape[d] == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    return _median_t(*MedianDim.apply(input, d, _keep(keepdim, keepdims)))


class ModeDim(MaxDim):
    _node_name = "ModeBackward0"

    @staticmethod
    def _select(a, d):
        x = _moveaxis_last(a, d)
        n = x.shape[-1]
        s = xp.sort(x, axis=-1)
        pos = xp.arange(n)
        starts = xp.ones(s.shape, dtype=bool)
        starts[..., 1:] = s[..., 1:] != s[..., :-1]
        # length of the run of equal values so far; its first maximum ends the longest run
        # of the smallest such value (PyTorch returns the smallest of the most frequent)
        run = pos - xp.maximum.accumulate(xp.where(starts, pos, 0), axis=-1)
        values = xp.take_along_axis(s, run.argmax(-1)[..., None], -1)
        # PyTorch's index is the last occurrence of the mode in the input
        last = n - 1 - xp.flip(x == values, -1).argmax(-1)[..., None]
        return xp.moveaxis(values, -1, d), xp.moveaxis(last.astype(_INT64), -1, d)


def mode(input, dim=-1, keepdim=False, *, axis=None, keepdims=None):
    """The most frequent value along ``dim`` (the smallest on ties) and its last index."""
    dim = dim if axis is None else axis
    a = input._data
    d = _wrap_dim(int(dim), a.ndim)
    if a.ndim and a.shape[d] == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    return _mode_t(*ModeDim.apply(input, d, _keep(keepdim, keepdims)))


# ---- NumPy dispatch (xp.sum(t) etc., and backward formulas under create_graph) -------------------
def _np_reduction(fn):
    def f(a, axis=None, dtype=None, out=None, keepdims=False, **_):
        kw = {} if dtype is None else {"dtype": dtype}
        return fn(a, axis, keepdims, **kw)

    return f


def _np_extreme(fn):
    def f(a, axis=None, out=None, keepdims=False, **_):
        return fn(a, () if axis is None else axis, keepdims)

    return f


def _np_var(fn):
    def f(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **_):
        return fn(a, axis, keepdim=keepdims, correction=ddof)

    return f


ARRAY_FUNCTIONS.update({
    xp.sum: _np_reduction(sum), xp.mean: _np_reduction(mean), xp.prod: _np_reduction(prod),
    xp.nansum: _np_reduction(nansum), xp.max: _np_extreme(amax), xp.amax: _np_extreme(amax),
    xp.min: _np_extreme(amin), xp.amin: _np_extreme(amin), xp.var: _np_var(var),
    xp.std: _np_var(std),
    xp.cumsum: lambda a, axis=None, dtype=None, out=None: cumsum(
        a if axis is not None else a.reshape(-1), 0 if axis is None else axis, dtype=dtype),
    xp.cumprod: lambda a, axis=None, dtype=None, out=None: cumprod(
        a if axis is not None else a.reshape(-1), 0 if axis is None else axis, dtype=dtype),
    xp.argmax: lambda a, axis=None, out=None, keepdims=False: argmax(a, axis, keepdims),
    xp.argmin: lambda a, axis=None, out=None, keepdims=False: argmin(a, axis, keepdims),
    xp.all: lambda a, axis=None, out=None, keepdims=False: all(a, axis, keepdims),
    xp.any: lambda a, axis=None, out=None, keepdims=False: any(a, axis, keepdims),
    xp.count_nonzero: lambda a, axis=None, keepdims=False: count_nonzero(a, axis),
})

def _norm_method(self, p="fro", dim=None, keepdim=False, dtype=None):
    return norm(self, p, dim, keepdim, dtype=dtype)


# ---- histograms ----------------------------------------------------------------------------------
_histogram_t = _return_type("histogram", ("hist", "bin_edges"))


def _check_hist_dtype(a, op):
    if a.dtype.kind != "f":
        raise NotImplementedError(f'"{op}" not implemented for \'{_tname(a.dtype)}\'')


def histogram(input, bins=100, *, range=None, weight=None, density=False, out=None):
    """Counts of ``input`` in ``bins`` equal bins (or between the edges of a tensor ``bins``)."""
    a = input._data
    _check_hist_dtype(a, "histogramdd")
    flat = a.reshape(-1)
    if isinstance(bins, Tensor):
        edges = bins._data.astype(a.dtype, copy=False)
    else:
        if range is not None:
            lo, hi = (float(v) for v in range)
        elif flat.size:
            lo, hi = float(flat.min()), float(flat.max())
        else:
            lo, hi = 0.0, 1.0
        if lo == hi:  # PyTorch widens a degenerate range by 1/2 on each side
            lo, hi = lo - 0.5, hi + 0.5
        edges = linspace(lo, hi, int(bins) + 1, dtype=input.dtype)._data
    n = edges.size - 1
    # bin i holds [e_i, e_{i+1}); the last bin also holds its right edge; the rest is dropped
    inside = (flat >= edges[0]) & (flat <= edges[-1])
    idx = xp.minimum(xp.searchsorted(edges, flat[inside], side="right") - 1, n - 1)
    w = None if weight is None else weight._data.reshape(-1)[inside].astype(xp.float64)
    hist = xp.bincount(idx, weights=w, minlength=n)[:n].astype(a.dtype)
    if density:
        # PyTorch divides by the total, then by each bin's width, in the input's dtype
        hist = hist / a.dtype.type(hist.sum(dtype=xp.float64))
        hist = hist / xp.diff(edges)
    res = _histogram_t(_make(hist, False, None, 0), _make(xp.array(edges), False, None, 0))
    if out is not None:
        out[0].copy_(res[0])
        out[1].copy_(res[1])
        return out
    return res


def histc(input, bins=100, min=0, max=0, *, out=None):
    """Counts of ``input`` in ``bins`` equal bins over [min, max] (the data's range if equal)."""
    a = input._data
    _check_hist_dtype(a, "histogram_cpu")
    flat = a.reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and flat.size:
        lo, hi = float(flat.min()), float(flat.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    keep = flat[(flat >= lo) & (flat <= hi)].astype(xp.float64)
    # PyTorch's bin: floor((x - min) * bins / (max - min)), the maximum in the last bin
    pos = xp.minimum(((keep - lo) * bins / (hi - lo)).astype(xp.int64), bins - 1)
    hist = xp.bincount(pos, minlength=bins)[:bins].astype(a.dtype)
    return _copy_out(_make(hist, False, None, 0), out)


register_methods(
    sum=sum, mean=mean, nansum=nansum, nanmean=nanmean, prod=prod, max=max, min=min, amax=amax,
    amin=amin, aminmax=aminmax, argmax=argmax, argmin=argmin, var=var, std=std, norm=_norm_method,
    logsumexp=logsumexp, cumsum=cumsum, cumprod=cumprod, cummax=cummax, cummin=cummin,
    all=all, any=any, count_nonzero=count_nonzero, median=median, mode=mode, histogram=histogram,
    histc=histc,
)

__all__ = [
    "all", "amax", "amin", "aminmax", "any", "argmax", "argmin", "count_nonzero", "cummax",
    "cummin", "cumprod", "cumsum", "logsumexp", "max", "mean", "median", "min", "mode", "nanmean",
    "nansum", "norm", "prod", "std", "std_mean", "sum", "var", "var_mean", "histogram", "histc",
]


# ---- kthvalue, quantile, logcumsumexp, trapezoid (composed: sort/gather/cumsum carry the grads) ----


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False, *, out=None):
    """The ``k``-th smallest element along ``dim`` and its index."""
    d = _wrap_dim(dim, builtins.max(input.ndim, 1))
    x = input.reshape(1) if input.ndim == 0 else input
    n = x.shape[d]
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    idx = argsort(x, d, stable=True).narrow(d, k - 1, 1)
    values = x.gather(d, idx)
    if not keepdim or input.ndim == 0:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return _return_type("kthvalue")(values, idx)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(op, input, q, dim, keepdim, interpolation, ignore_nan):
    if not input.is_floating_point():
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{op}() interpolation must be one of linear, lower, higher, midpoint "
                           f"or nearest. Got {interpolation}")
    scalar_q = not isinstance(q, Tensor)
    if not scalar_q:
        if q.ndim > 1:
            raise RuntimeError(f"{op}() q must be a scalar or 1D tensor")
        if q.dtype != input.dtype:
            raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor")
        scalar_q = q.ndim == 0
    qs = xp.asarray(q._data if isinstance(q, Tensor) else q, dtype=xp.float64).reshape(-1)
    if qs.size and (qs.min() < 0 or qs.max() > 1):
        raise RuntimeError(f"{op}() q values must be in the range [0, 1]" if not
                           isinstance(q, (int, float)) else
                           f"{op}() q must be in the range [0, 1] but got {q}")
    if input.numel() == 0 and dim is None:
        raise RuntimeError(f"{op}() input tensor must be non-empty")
    x = input.reshape(-1) if dim is None else input
    d = -1 if dim is None else _wrap_dim(dim, builtins.max(x.ndim, 1))
    s = sort(x.reshape(1) if x.ndim == 0 else x, d).values.movedim(d, -1)  # NaN sorts last
    a = s.detach().numpy()
    n = a.shape[-1]
    nan = xp.isnan(a)
    k = (~nan).sum(-1) if ignore_nan else xp.full(a.shape[:-1], n)
    pos = qs.reshape((-1,) + (1,) * (a.ndim - 1)) * (k - 1)  # (Q, *batch)
    if interpolation == "lower":
        pos = xp.floor(pos)
    elif interpolation == "higher":
        pos = xp.ceil(pos)
    elif interpolation == "nearest":
        pos = xp.round(pos)  # half to even, as PyTorch's round
    lo = xp.clip(xp.floor(pos), 0, builtins.max(n - 1, 0)).astype(xp.int64)
    hi = xp.clip(xp.ceil(pos), 0, builtins.max(n - 1, 0)).astype(xp.int64)
    w = xp.full(pos.shape, 0.5) if interpolation == "midpoint" else pos - xp.floor(pos)
    src = s.unsqueeze(0).expand((len(qs),) + tuple(s.shape))
    v_lo = src.gather(-1, _make(lo[..., None], False, None, 0)).squeeze(-1)
    v_hi = src.gather(-1, _make(hi[..., None], False, None, 0)).squeeze(-1)
    res = v_lo + _make(w.astype(a.dtype), False, None, 0) * (v_hi - v_lo)
    bad = (k == 0) if ignore_nan else nan.any(-1)
    if bad.any():
        res = where(_make(xp.broadcast_to(bad, res.shape), False, None, 0), float("nan"), res)
    if keepdim:
        if dim is None:
            res = res.reshape((len(qs),) + (1,) * input.ndim)
        else:
            res = res.unsqueeze(d + 1 if d >= 0 else d)
    return res[0] if scalar_q else res


def quantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear",
             out=None):
    """The ``q``-th quantiles along ``dim`` (a leading dimension for each q of a 1-D tensor)."""
    return _copy_out(_quantile("quantile", input, q, dim, keepdim, interpolation, False), out)


def nanquantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear",
                out=None):
    """quantile ignoring NaN (NaN only where a row is all NaN)."""
    return _copy_out(_quantile("nanquantile", input, q, dim, keepdim, interpolation, True), out)


class Logcumsumexp(_Scan):
    """A running logaddexp, stable where the shifted cumsum of exp is not."""

    @staticmethod
    def _scan(a, d, dt):
        return xp.logaddexp.accumulate(a, axis=d)

    def _grad(ctx, grad):
        a, out = ctx.saved_tensors
        d = ctx.d

        def rev_lcse(z):  # log sum_{i>=j} exp(z_i)
            return xp.flip(xp.logaddexp.accumulate(xp.flip(z, d), axis=d), d)

        # sum_{i>=j} g_i exp(a_j - out_i), the positive and negative parts of g in log space
        with xp.errstate(divide="ignore"):
            pos = xp.exp(a + rev_lcse(xp.log(xp.maximum(grad, 0)) - out))
            neg = xp.exp(a + rev_lcse(xp.log(xp.maximum(-grad, 0)) - out))
        return (pos - neg).astype(a.dtype, copy=False)


def logcumsumexp(input, dim: int, *, out=None):
    """``log(cumsum(exp(input)))`` along ``dim``, computed as a running logaddexp."""
    if not input.is_floating_point():
        input = input.to(_dtype.get_default_dtype())
    d = _wrap_dim(dim, builtins.max(input.ndim, 1)) if input.ndim else 0
    return _copy_out(Logcumsumexp.apply(input, d), out)


def trapezoid(y, x=None, *, dx=None, dim: int = -1):
    """The trapezoidal rule along ``dim``: sample points ``x`` or a constant spacing ``dx``."""
    d = _wrap_dim(dim, y.ndim)
    n = y.shape[d]
    if not y.is_floating_point():
        y = y.to(_dtype.get_default_dtype())
    if n == 0:
        return y.sum(d)
    mid = (y.narrow(d, 1, n - 1) + y.narrow(d, 0, n - 1)) / 2
    if x is None or not isinstance(x, Tensor):
        step = 1 if dx is None and x is None else (x if dx is None else dx)
        return mid.sum(d) * step
    if x.ndim == 1:
        shape = [1] * y.ndim
        shape[d] = x.shape[0]
        x = x.reshape(shape)
    xd = _wrap_dim(dim, x.ndim)
    dxs = x.narrow(xd, 1, x.shape[xd] - 1) - x.narrow(xd, 0, x.shape[xd] - 1)
    return (dxs * mid).sum(d)


def trapz(y, x=None, *, dx=None, dim: int = -1):
    """trapezoid (the older name)."""
    return trapezoid(y, x, dx=dx, dim=dim)


register_methods(kthvalue=kthvalue, quantile=quantile, nanquantile=nanquantile,
                 logcumsumexp=logcumsumexp)
__all__ += ["kthvalue", "quantile", "nanquantile", "logcumsumexp", "trapezoid", "trapz"]
