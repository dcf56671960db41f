"""Fused nn kernels: softmax family, nll/cross-entropy, convolution, pooling, interpolate, pad,
and the recurrent layers.

Each kernel is one Function on raw NumPy arrays, forward and backward side by side; the
public wrappers validate arguments with PyTorch's messages and pick the Function.

Cross-entropy is log-softmax + gather + reduction in one pass; its backward is
``softmax - onehot`` scaled per sample (weights, ignore_index, label smoothing, mean).

Convolution is im2col + GEMM. 2-d stride-1 single-group convolutions (the CNNs' case) take
the flat-row kernels of ``_conv``: batch-major blocks of a few samples, window rows copied as
contiguous runs of the padded plane, one GEMM per block and pass, no transposes. The rest is
channel-major: an ``as_strided`` window view of the padded input is copied into ``cols``
(C*K, n*L) for a chunk of n samples (~4 MB, so the copy and the GEMM share the cache), and
``weight (O, C*K) @ cols`` computes the whole chunk at once. Backward recomputes ``cols``
chunk by chunk (nothing large is saved): ``grad @ cols.T`` for the weight, ``weight.T @ grad``
scattered back with one strided add per kernel offset (col2im) for the input. The work
buffers are reused (fresh multi-MB arrays cost page faults on every call).

Pooling copies the windows once into (K, N, C, *out) so that every reduction runs over the
leading axis of a contiguous array (NumPy's fastest path); max-pool's argmax is built from
K comparisons, and the backward scatters with a put (disjoint windows) or ``xp.bincount``.

Interpolation and the non-constant paddings are separable gathers: per spatial axis an index
table (and for the linear modes a weight table), forward by ``take``, backward by the
transposed scatter (``add.reduceat`` over the sorted indices, or a loop over the few border
positions for padding).

RNN / LSTM / GRU run as one Function per call: the input projection of all time steps is one
GEMM, the time loop and BPTT run in NumPy with in-place updates.

Double backward (create_graph=True) is supported by softmax, log_softmax and constant padding;
the other kernels raise a RuntimeError that says so.
"""
from __future__ import annotations

import itertools
import math
import warnings

from .. import _dtype
from .._backend import as_strided, xp
from .._random import rand
from .._tensor import Tensor, _make, _wrap_dim, register_methods
from ..autograd.function import Function
from . import NN_OPS_EXPORTS, _conv, _pool, _softmax
from ._conv import scratch as _scratch
from ._parallel import grain, parallel_for
from ._util import renamed as _renamed

# only the names that PyTorch has at top level (torch.conv2d...); nn.functional imports the rest
__all__ = list(NN_OPS_EXPORTS)

_ndarray = xp.ndarray
_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
               "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _tname(arr) -> str:
    return _TYPE_NAMES.get(arr.dtype.name, arr.dtype.name)


def _shape(arr) -> list:
    return list(arr.shape)


def _need_tensor(value, op, name, pos):
    if not isinstance(value, Tensor):
        t = type(value)
        tn = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
        raise TypeError(f"{op}(): argument '{name}' (position {pos}) must be Tensor, not {tn}")


def _not_implemented(op, arr):
    return NotImplementedError(f'"{op}" not implemented for \'{_tname(arr)}\'')


def _no_double_backward(name, grad):
    if grad.__class__ is not _ndarray:
        raise RuntimeError(f"{name} does not support double backward (create_graph=True) in "
                           "ember")


# ============================================================================================
# softmax family
# ============================================================================================
def _softmax_forward(x, axis):
    if x.size == 0:
        return xp.empty_like(x)
    return _softmax.softmax(x, axis)


def _log_softmax_forward(x, axis):
    if x.size == 0:
        return xp.empty_like(x)
    z = x - _softmax.row_max(x, axis)
    z -= xp.log(xp.exp(z).sum(axis, keepdims=True))
    return z


def _softmax_input(x, dt, kernel):
    """x cast to the requested dtype; without one, integer input is PyTorch's NotImplemented."""
    if dt is not None and x.dtype != dt:
        return x.astype(dt)
    if x.dtype.kind != "f":
        raise _not_implemented(kernel, x)
    return x


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis, dt=None):
        x = _softmax_input(x, dt, "softmax_kernel_impl")
        if x.ndim == 0:
            out = _softmax_forward(x.reshape(1), 0).reshape(())
            ctx.axis = None
        else:
            out = xp.ascontiguousarray(_softmax_forward(x, axis))  # PyTorch's result is contiguous
            ctx.axis = axis
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        if ctx.axis is None:
            return grad * 0
        if grad.__class__ is _ndarray and y.__class__ is _ndarray:
            return _softmax.softmax_backward(grad, y, ctx.axis)
        gy = grad * y  # create_graph: Tensors, so that the backward is differentiable
        return gy - y * gy.sum(axis=ctx.axis, keepdims=True)


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis, dt=None):
        x = _softmax_input(x, dt, "log_softmax_kernel_impl")
        if x.ndim == 0:
            out = xp.zeros_like(x)
            ctx.axis = None
        else:
            out = xp.ascontiguousarray(_log_softmax_forward(x, axis))  # contiguous, as PyTorch's
            ctx.axis = axis
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        if ctx.axis is None:
            return grad * 0
        return grad - xp.exp(y) * grad.sum(axis=ctx.axis, keepdims=True)


def _implicit_dim(name, ndim, stacklevel=3):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", UserWarning, stacklevel=stacklevel + 1)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_args(name, input, dim, dtype, _stacklevel):
    if dim is None:
        dim = _implicit_dim(name, input.ndim, _stacklevel)
    axis = _wrap_dim(dim, input.ndim)
    dt = None if dtype is None else _dtype.to_dtype(dtype).np
    return axis, dt


def softmax(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed stably (the max is subtracted first)."""
    axis, dt = _softmax_args("softmax", input, dim, dtype, _stacklevel)
    return Softmax.apply(input, axis, dt)


def log_softmax(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """log(softmax(x)) along ``dim`` as x - logsumexp(x), without overflow."""
    axis, dt = _softmax_args("log_softmax", input, dim, dtype, _stacklevel)
    return LogSoftmax.apply(input, axis, dt)


def softmin(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """softmax(-x) along ``dim``."""
    axis, dt = _softmax_args("softmin", input, dim, dtype, _stacklevel)
    if dt is not None:
        input = input.to(_dtype.to_dtype(dtype))
    return Softmax.apply(-input, axis, None)


def _tensor_softmax(self, dim, dtype=None):
    return softmax(self, dim, dtype=dtype)


def _tensor_log_softmax(self, dim, dtype=None):
    return log_softmax(self, dim, dtype=dtype)


register_methods(softmax=_tensor_softmax, log_softmax=_tensor_log_softmax)


# ============================================================================================
# nll_loss / cross_entropy
# ============================================================================================
_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='"
                  + _legacy_string(size_average, reduce) + "' instead.", UserWarning, stacklevel=3)
    return _legacy_string(size_average, reduce)


def _legacy_string(size_average, reduce):
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _class_targets(x, t, ignore_index):
    """Validate integer class targets; returns (safe targets, valid mask or None)."""
    if t.dtype != xp.int64 and t.dtype != xp.uint8:
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_tname(t)}")
    C = x.shape[1]
    # negative targets wrap to huge unsigned values: one max finds every out-of-range one
    out_of_range = t.size and (t.view(xp.uint64) if t.dtype == xp.int64 else t).max() >= C
    if not out_of_range and not 0 <= ignore_index < C:
        return t, None
    valid = t != ignore_index
    if out_of_range:
        bad = valid & ((t < 0) | (t >= C))
        if bad.any():
            raise IndexError(f"Target {t[bad].flat[0]} is out of bounds.")
    if valid.all():
        return t, None
    return xp.where(valid, t, 0), valid


_ONES: dict = {}


def _ones(n, dtype):
    v = _ONES.get((n, dtype))
    if v is None:
        v = _ONES[(n, dtype)] = xp.ones(n, dtype)
        v.flags.writeable = False
    return v


def _row_logsumexp(x):
    """(z, e, s) with z = x - shift, e = exp(z), s = e.sum(1): the per-row log-sum-exp parts.

    Rows of a 2-D (N, C) input share one shift (the global max; a per-row max over a short
    last axis costs more than the whole rest of the kernel in NumPy). That is exact for the
    loss, which uses z - log(s), as long as no row sits so far below the global max that its
    sum underflows; such inputs (and non-finite ones) take the per-row shift."""
    if x.ndim == 2 and x.size:
        m = x.max()
        if math.isfinite(m):
            z = x - m
            e = xp.exp(z)
            s = xp.matmul(e, _ones(x.shape[1], x.dtype))[:, None]
            if s.min() > 1e-20:
                return z, e, s
    z = x - x.max(1, keepdims=True)
    e = xp.exp(z)
    return z, e, e.sum(1, keepdims=True)


class NllLoss(Function):
    """Negative log-likelihood of class-index targets; input is (N, C, *d) log-probabilities."""

    @staticmethod
    def forward(ctx, x, t, w, reduction, ignore_index, smoothing=0.0, logits=False):
        # logits=True fuses log_softmax in front (cross_entropy); smoothing is PyTorch's
        # label smoothing: (1-eps) * nll + eps/C * (-sum_c w_c logp_c), same denominator.
        in_shape = x.shape
        if x.ndim == 1:  # unbatched (C,) input with a 0-dim target
            x, t = x[None], t.reshape(1)
        t, valid = _class_targets(x, t, ignore_index)
        C = x.shape[1]
        flat = None
        if x.ndim == 2:  # pick x[i, t_i] through flat indices: cheaper than take_along_axis
            flat = t + xp.arange(0, x.shape[0] * C, C)
        if logits:
            z, e, s = _row_logsumexp(x)
            lse = xp.log(s)
            if flat is not None:
                logp_t = z.reshape(-1)[flat]
                logp_t -= lse[:, 0]
            else:
                logp_t = xp.take_along_axis(z, t[:, None], 1)[:, 0]
                logp_t -= lse[:, 0]
        elif flat is not None:
            logp_t = x.reshape(-1)[flat]
        else:
            logp_t = xp.take_along_axis(x, t[:, None], 1)[:, 0]
        loss = xp.negative(logp_t, out=logp_t)
        wt = None
        if w is not None:
            wt = w[t]
            if valid is not None:
                wt *= valid
            loss *= wt
        elif valid is not None:
            loss *= valid
        if smoothing:
            logp = z - lse
            if w is None:
                smooth = -logp.sum(1)
            else:
                smooth = -(logp * w.reshape((1, C) + (1,) * (x.ndim - 2))).sum(1)
            if valid is not None:
                smooth *= valid
            loss *= 1 - smoothing
            loss += smooth * (smoothing / C)
        denom = None
        if reduction == "none":
            out = loss.reshape(()) if len(in_shape) == 1 else loss
        else:
            out = loss.sum(dtype=x.dtype)
            if reduction == "mean":
                # the weighted mean divides by the summed weights of the non-ignored targets
                denom = wt.sum() if wt is not None else (
                    valid.sum() if valid is not None else t.size)
                if denom:
                    out = xp.asarray(out / x.dtype.type(denom), dtype=x.dtype)
                else:  # nothing counted: 0/0, as in PyTorch
                    out = xp.asarray(xp.nan, dtype=x.dtype)
        if ctx.needs_input_grad:
            if logits:
                e /= s  # softmax, what the backward needs
            ctx.save_for_backward(e if logits else None, t, valid, wt, w, flat)
            ctx.meta = (reduction, denom, smoothing, in_shape, x.dtype)
        return out

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx.name(), grad)
        p, t, valid, wt, w, flat = ctx.saved_tensors
        reduction, denom, smoothing, in_shape, dtype = ctx.meta
        # coef_i: d out / d loss_i (upstream grad over the mean's denominator, 0 if ignored)
        if reduction == "none":
            coef = grad.astype(dtype).reshape(t.shape)
        elif valid is None and wt is None and not smoothing:
            # the common case: one scalar coefficient for every sample
            c = grad.astype(dtype)
            if reduction == "mean":
                c = c / dtype.type(denom)
            if p is None:
                g = xp.zeros(in_shape if len(in_shape) > 1 else (1,) + in_shape, dtype)
            else:
                g = p * c
            if flat is not None:
                g.reshape(-1)[flat] -= c
            else:
                tt = t[:, None]
                xp.put_along_axis(g, tt, xp.take_along_axis(g, tt, 1) - c, 1)
            return (g.reshape(in_shape) if len(in_shape) == 1 else g), None, None
        else:
            coef = xp.full(t.shape, grad, dtype)
            if reduction == "mean":
                with xp.errstate(invalid="ignore", divide="ignore"):
                    coef /= dtype.type(denom)
        if valid is not None:  # ignored targets get 0, even when the mean's 0/0 is nan
            coef = xp.where(valid, coef, dtype.type(0))
        hot = coef * wt if wt is not None else coef  # weight of the one-hot term
        if smoothing:
            hot = hot * (1 - smoothing)
        if p is None:  # nll_loss: d/dx = -hot at the target
            g = xp.zeros((t.shape[0],) + tuple(in_shape[-1:] if len(in_shape) == 1
                                               else in_shape[1:]), dtype)
        elif smoothing:
            # d/dx of (1-eps) w_t (lse - z_t) + eps/C sum_c w_c (lse - z_c):
            #   p * ((1-eps) w_t + eps/C * W) - eps/C * w - (1-eps) w_t onehot
            C = p.shape[1]
            W = float(w.sum()) if w is not None else float(C)
            g = p * (hot + coef * (smoothing / C * W))[:, None]
            cexp = coef[:, None] * (smoothing / C)
            g -= cexp if w is None else cexp * w.reshape((1, C) + (1,) * (p.ndim - 2))
        else:  # d/dx of -log softmax(x)_t = p - onehot(t)
            g = p * hot[:, None]
        if flat is not None:
            g.reshape(-1)[flat] -= hot
        else:
            tt = t[:, None]
            cur = xp.take_along_axis(g, tt, 1)
            cur -= hot[:, None]
            xp.put_along_axis(g, tt, cur, 1)
        return (g.reshape(in_shape) if len(in_shape) == 1 else g), None, None


_NllLoss2d = _renamed(NllLoss, "NllLoss2DBackward0")


_SmoothedCE = _renamed(NllLoss, "AddBackward0")


# PyTorch reshapes 3-D and >4-D inputs to 4-D and back
_NllLossView = _renamed(NllLoss, "ViewBackward0")


def _nll_class(ndim, reduction, smoothing):
    if smoothing > 0:
        return _SmoothedCE
    if ndim <= 2:
        return NllLoss
    if reduction == "none" and ndim != 4:
        return _NllLossView
    return _NllLoss2d


class ProbCrossEntropy(Function):
    """Cross-entropy against class probabilities: -sum_c w_c q_c log_softmax(x)_c."""

    _node_name = "NegBackward0"

    @staticmethod
    def forward(ctx, x, q, w, reduction, smoothing):
        in_shape = x.shape
        if x.ndim == 1:
            x, q = x[None], q[None]
        C = x.shape[1]
        if smoothing:
            q = q * (1 - smoothing) + smoothing / C
        logp = _log_softmax_forward(x, 1)
        wq = q if w is None else q * w.reshape((1, C) + (1,) * (x.ndim - 2))
        s = (logp * wq).sum(1)
        denom = None
        if reduction == "none":
            out = -s.reshape(()) if len(in_shape) == 1 else -s
        else:
            out = -s.sum(dtype=x.dtype)  # negated after the sum, as PyTorch: a zero loss is -0.
            if reduction == "mean":  # PyTorch divides by numel / C, unweighted
                denom = x.size // C if C else 0
                with xp.errstate(invalid="ignore", divide="ignore"):
                    out = xp.asarray(out / x.dtype.type(denom) if x.size else xp.nan, x.dtype)
        ctx.save_for_backward(logp, wq, w)
        ctx.meta = (reduction, denom, smoothing, in_shape)
        return out

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx.name(), grad)
        logp, wq, w = ctx.saved_tensors
        reduction, denom, smoothing, in_shape = ctx.meta
        if reduction == "none":
            g = grad.reshape((logp.shape[0], 1) + logp.shape[2:])
        else:
            g = grad / denom if reduction == "mean" else grad
        gx = gq = None
        if ctx.needs_input_grad[0]:
            # d/dx_c = p_c * sum_k wq_k - wq_c
            gx = (xp.exp(logp) * wq.sum(1, keepdims=True) - wq) * g
            gx = gx.reshape(in_shape)
        if ctx.needs_input_grad[1]:
            gq = -logp * g
            if w is not None:
                gq = gq * w.reshape((1, logp.shape[1]) + (1,) * (logp.ndim - 2))
            if smoothing:
                gq = gq * (1 - smoothing)
            gq = gq.reshape(in_shape)
        return gx, gq, None


_ProbCEMean = _renamed(ProbCrossEntropy, "DivBackward1")


def _loss_inputs(input, target, weight, op):
    """PyTorch's shape checks shared by nll_loss and cross_entropy."""
    x, t = input._data, target._data
    if x.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {x.ndim})")
    if x.ndim != 1 and t.ndim and x.shape[0] != t.shape[0]:
        raise ValueError(f"Expected input batch_size ({x.shape[0]}) to match target batch_size "
                         f"({t.shape[0]}).")
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    if weight is not None:
        w = weight._data
        if w.ndim != 1 or w.shape[0] != C:
            raise RuntimeError(f"{op}weight tensor should be defined either for all {C} classes "
                               f"or no classes but got weight tensor of shape: {_shape(w)}")
    return x, t


def _class_index_loss(cls, input, target, weight, reduction, ignore_index, smoothing, logits):
    x, t = _loss_inputs(input, target, weight, "")
    if x.ndim <= 2:
        if t.ndim != x.ndim - 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    elif t.shape[1:] != x.shape[2:]:
        raise RuntimeError(f"Expected target size {[x.shape[0]] + _shape(x)[2:]}, got "
                           f"{_shape(t)}")
    if x.dtype.kind != "f":
        raise _not_implemented("nll_loss_forward_reduce_cuda_kernel_2d_index", x)
    return cls.apply(input, target, weight, reduction, int(ignore_index), smoothing, logits)


def nll_loss(input: Tensor, target: Tensor, weight=None, size_average=None, ignore_index=-100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices; ``input`` holds log-probabilities."""
    _need_tensor(input, "nll_loss_nd", "input", 1)
    _need_tensor(target, "nll_loss_nd", "target", 2)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    cls = _nll_class(input.ndim, reduction, 0.0)
    return _class_index_loss(cls, input, target, weight, reduction, ignore_index, 0.0, False)


def cross_entropy(input: Tensor, target: Tensor, weight=None, size_average=None,
                  ignore_index=-100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """log_softmax + nll_loss in one stable kernel; class-index or class-probability targets."""
    _need_tensor(input, "cross_entropy_loss", "input", 1)
    _need_tensor(target, "cross_entropy_loss", "target", 2)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    x, t = input._data, target._data
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if x.shape == t.shape:  # class probabilities
        if t.dtype.kind != "f":
            raise RuntimeError("Expected floating point type for target with class "
                               f"probabilities, got {_tname(t)}")
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        _loss_inputs(input, target, weight, "cross_entropy: ")
        cls = _ProbCEMean if reduction == "mean" else ProbCrossEntropy
        return cls.apply(input, target, weight, reduction, float(label_smoothing))
    if x.dtype.kind != "f":
        raise _not_implemented("log_softmax_lastdim_kernel_impl", x)
    cls = _nll_class(x.ndim, reduction, label_smoothing)
    return _class_index_loss(cls, input, target, weight, reduction, ignore_index,
                             float(label_smoothing), True)


# ============================================================================================
# convolution: im2col + one matmul
# ============================================================================================
def _int_tuple(value, n):
    """An int or a 1-element sequence -> an n-tuple of ints; other sequences -> their ints as
    they are (the caller checks the length, with its own message)."""
    if isinstance(value, (int, xp.integer)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    return value * n if len(value) == 1 else value


def _expand(value, n, name, what="convolution dimensions"):
    """An int or a 1/n-element sequence -> an n-tuple of ints (PyTorch's expand_param_if_needed)."""
    value = _int_tuple(value, n)
    if len(value) != n:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values "
                           f"to match the {what}, but got {name}={list(value)}")
    return value


def _pad_zeros(x, pads):
    """Zero-pad the spatial dims of (N, C, *sp) by (lo, hi) pairs; no copy when all are 0.
    Samples are split over ember's threads, each writing its borders and interior once
    (zeros() then a copy wrote the interior twice, on one thread)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    sp = x.shape[2:]
    xpad = xp.empty(x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(sp, pads)), x.dtype)
    inner = tuple(slice(lo, lo + n) for n, (lo, _) in zip(sp, pads))

    def samples(a, b):
        out = xpad[a:b]
        for d, (n, (lo, hi)) in enumerate(zip(sp, pads)):  # the border slabs of each dim
            before = (slice(None), slice(None)) + inner[:d]
            out[before + (slice(0, lo),)] = 0
            out[before + (slice(lo + n, None),)] = 0
        out[(slice(None), slice(None)) + inner] = x[a:b]

    parallel_for(samples, len(x), grain(math.prod(xpad.shape[1:])))
    return xpad


def _windows(xpad, ks, stride, dil, out_sp, lead):
    """A strided view of the sliding windows: (N, C, *k, *out) or, lead=True, (*k, N, C, *out)."""
    st = xpad.strides
    sp = st[2:]
    kst = tuple(s * d for s, d in zip(sp, dil))
    ost = tuple(s * t for s, t in zip(sp, stride))
    if lead:
        return as_strided(xpad, tuple(ks) + xpad.shape[:2] + tuple(out_sp), kst + st[:2] + ost,
                          writeable=False)
    return as_strided(xpad, xpad.shape[:2] + tuple(ks) + tuple(out_sp), st[:2] + kst + ost,
                      writeable=False)


def _im2col(xpad, ks, stride, dil, out_sp):
    """(N, C, *padded) -> contiguous cols (N, C*K, L)."""
    N, C = xpad.shape[:2]
    cols = xp.ascontiguousarray(_windows(xpad, ks, stride, dil, out_sp, False))
    return cols.reshape(N, C * math.prod(ks), math.prod(out_sp))


def _col2im(cols, full_shape, ks, stride, dil, out_sp):
    """Scatter-add cols (N, C, *k, *out) into a zero array of ``full_shape`` (the padded input)."""
    out = xp.zeros(full_shape, cols.dtype)
    lead = (slice(None), slice(None))
    for off in itertools.product(*(range(k) for k in ks)):
        sl = tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                   for o, d, s, n in zip(off, dil, stride, out_sp))
        out[lead + sl] += cols[lead + off]
    return out


def _crop(x, pads):
    if not any(lo or hi for lo, hi in pads):
        return x
    return x[(slice(None), slice(None)) + tuple(slice(lo, n - hi) for n, (lo, hi) in
                                                zip(x.shape[2:], pads))]


def _cols_t(xpad, ks, stride, dil, out_sp, scratch=False):
    """(N, C, *padded) -> contiguous cols (C*K, N*L): channel-major, so that the whole batch is
    one GEMM with the (O, C*K) weight (a large GEMM runs faster than N small ones).
    scratch=True writes into the shared work buffer (the result must not outlive the call)."""
    N, C = xpad.shape[:2]
    st = xpad.strides
    sp = st[2:]
    shape = (C,) + tuple(ks) + (N,) + tuple(out_sp)
    view = as_strided(xpad, shape,
                      (st[1],) + tuple(s * d for s, d in zip(sp, dil)) + (st[0],)
                      + tuple(s * t for s, t in zip(sp, stride)), writeable=False)
    rows, cols = C * math.prod(ks), N * math.prod(out_sp)
    if not scratch:
        return xp.ascontiguousarray(view).reshape(rows, cols)
    out = _scratch(rows * cols, xpad.dtype).reshape(shape)
    xp.copyto(out, view)
    return out.reshape(rows, cols)


def _col2im_t(dcols, full_shape, ks, stride, dil, out_sp):
    """Scatter-add dcols (C, *k, N, *out) into zeros (N, C, *padded); one strided add per kernel
    offset. Returns a (N, C, ...) view of a channel-major array."""
    N, C = full_shape[:2]
    out = xp.zeros((C, N) + tuple(full_shape[2:]), dcols.dtype)
    lead = (slice(None), slice(None))
    for off in itertools.product(*(range(k) for k in ks)):
        sl = tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                   for o, d, s, n in zip(off, dil, stride, out_sp))
        out[lead + sl] += dcols[(slice(None),) + off]
    return out.swapaxes(0, 1)


def _batch_major(y, N, sp):
    """(O, N*L) -> contiguous (N, O, *sp)."""
    O = y.shape[0]
    return xp.ascontiguousarray(y.reshape((O, N) + tuple(sp)).swapaxes(0, 1))


def _channel_major(g):
    """(N, O, *sp) -> contiguous (O, N*L)."""
    N, O = g.shape[:2]
    L = math.prod(g.shape[2:])
    return xp.ascontiguousarray(g.reshape(N, O, L).swapaxes(0, 1)).reshape(O, N * L)


def _col2im_into(out, dcols, ks, stride, dil, out_sp):
    """out (C, N, *padded) += the scatter of dcols (C, *k, N, *out)."""
    lead = (slice(None), slice(None))
    for off in itertools.product(*(range(k) for k in ks)):
        sl = tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                   for o, d, s, n in zip(off, dil, stride, out_sp))
        out[lead + sl] += dcols[(slice(None),) + off]


def _col2im_flat(out, dcols, dil, Wp, Ho, Wo):
    """out (C, N, Hp*Wp) += the scatter of dcols (C, kh, kw, N, Ho*Wp) for a stride-1 2-d
    convolution whose cols were computed on the padded width (columns >= Wo are zero): each
    kernel offset is one add of a flat shifted slice. Measured (CPU time, 1 thread, 6
    repeats), the input-gradient GEMM + col2im of one sample block: ResNet 3x3 conv (4 x 32 x
    28 x 28) 1.27-1.58 -> 1.13-1.33 ms, LeNet conv2 (68 x 6 x 14 x 14, 5x5) 1.52-2.33 ->
    1.25-1.65 ms; the flat adds alone are 1.8x faster, the GEMM grows by Wp / Wo. Whole
    training steps: ResNet 303 -> 297 ms, LeNet 35.7 -> 35.2 ms (medians of 4, in the noise)."""
    n = (Ho - 1) * Wp + Wo  # up to the last valid position; the zero tail may be dropped
    for i in range(dcols.shape[1]):
        for j in range(dcols.shape[2]):
            sh = i * dil[0] * Wp + j * dil[1]
            out[:, :, sh:sh + n] += dcols[:, i, j, :, :n]


_CHUNK_BYTES = 1 << 22


def _batch_chunk(N, col_bytes_per_sample):
    """Samples per im2col chunk: ~4 MB of cols stays in cache between the copy and the GEMM
    (measured 10-25% faster than one whole-batch cols matrix, and nothing big is kept)."""
    return max(1, min(N, _CHUNK_BYTES // max(col_bytes_per_sample, 1)))


class Convolution(Function):
    """N-d cross-correlation: stride, asymmetric zero padding, dilation, groups."""

    _node_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, stride, pads, dil, groups):
        unbatched = x.ndim == w.ndim - 1
        if unbatched:
            x = x[None]
        N = x.shape[0]
        O, ks = w.shape[0], w.shape[2:]
        G = groups
        xpad = _pad_zeros(x, pads)
        out_sp = tuple((n - d * (k - 1) - 1) // s + 1
                       for n, k, s, d in zip(xpad.shape[2:], ks, stride, dil))
        needs = ctx.needs_input_grad
        if _conv.applies(xpad, w, stride, G):
            xpad = xp.ascontiguousarray(xpad)
            y = _conv.forward(xpad, w, b, dil, *out_sp)
            if needs:
                ctx.save_for_backward(xpad if needs[1] else None, w if needs[0] else None)
                ctx.meta = (xpad.shape, w.shape, pads, stride, dil, G, out_sp, unbatched, None)
            return y[0] if unbatched else y
        L = math.prod(out_sp)
        y = xp.empty((N, O) + out_sp, xp.result_type(x, w))
        yv = y.reshape(N, O, L)
        wm = w.reshape(O, -1) if G == 1 else w.reshape(G, O // G, -1)
        step = _batch_chunk(N, w.shape[1] * G * math.prod(ks) * L * x.itemsize)
        for n0 in range(0, N, step):
            cols = _cols_t(xpad[n0:n0 + step], ks, stride, dil, out_sp, True)  # (C*K, nb*L)
            nbl = cols.shape[1]
            r = _scratch(O * nbl, y.dtype, 1).reshape((O, nbl) if G == 1 else (G, O // G, nbl))
            xp.matmul(wm, cols if G == 1 else cols.reshape(G, -1, nbl), out=r)
            yv[n0:n0 + step] = r.reshape(O, -1, L).swapaxes(0, 1)
        if b is not None:
            yv += b[:, None]
        if needs:
            ctx.save_for_backward(xpad if needs[1] else None, w if needs[0] else None)
            ctx.meta = (xpad.shape, w.shape, pads, stride, dil, G, out_sp, unbatched, step)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx.name(), grad)
        xpad, w = ctx.saved_tensors
        xp_shape, w_shape, pads, stride, dil, G, out_sp, unbatched, step = ctx.meta
        if unbatched:
            grad = grad[None]
        N, C = xp_shape[:2]
        O, ks = w_shape[0], w_shape[2:]
        L = math.prod(out_sp)
        gv = grad.reshape(N, O, L)
        needs = ctx.needs_input_grad
        if step is None:  # the flat-row kernel's forward
            gx, gw, gb = _conv.backward(xpad, xp_shape, w, w_shape, xp.ascontiguousarray(grad),
                                        pads, dil, needs[0], needs[1], needs[2])
            if unbatched and gx is not None:
                gx = gx[0]
            return gx, gw, gb
        gb = gv.sum((0, 2)) if needs[2] else None
        gw = xp.zeros((O, C // G * math.prod(ks)) if G == 1 else
                      (G, O // G, C // G * math.prod(ks)), grad.dtype) if needs[1] else None
        gxp = xp.zeros((C, N) + tuple(xp_shape[2:]), grad.dtype) if needs[0] else None
        if needs[0]:
            wt = w.reshape(O, -1).T if G == 1 else w.reshape(G, O // G, -1).transpose(0, 2, 1)
        CK = C * math.prod(ks)
        # 2-d, stride 1: the input grad's cols on the padded width (zero grad columns past
        # Wo), so that col2im is one shifted add of whole (Ho x Wp) planes per kernel offset
        # instead of a strided add with Wo-long inner runs (measured: see _col2im_flat).
        flat = needs[0] and len(ks) == 2 and all(s == 1 for s in stride)
        if flat:
            Hp, Wp = xp_shape[2:]
            Ho, Wo = out_sp
            gx_rows = gxp.reshape(C, N, Hp * Wp)
        for n0 in range(0, N, step):
            gs = gv[n0:n0 + step]
            nb = gs.shape[0]
            gc = _scratch(O * nb * L, grad.dtype, 1).reshape(O, nb, L)
            xp.copyto(gc, gs.swapaxes(0, 1))
            gc = gc.reshape((O, nb * L) if G == 1 else (G, O // G, nb * L))
            if needs[1]:
                cols = _cols_t(xpad[n0:n0 + step], ks, stride, dil, out_sp, True)
                if G == 1:
                    gw += xp.matmul(gc, cols.T)
                else:
                    gw += xp.matmul(gc, cols.reshape(G, -1, cols.shape[1]).transpose(0, 2, 1))
            if flat:
                Lp = Ho * Wp
                gcp = _scratch(O * nb * Lp, grad.dtype, 2).reshape(O, nb, Ho, Wp)
                gcp[..., Wo:] = 0
                gcp[..., :Wo] = gc.reshape(O, nb, Ho, Wo)
                dcols = _scratch(CK * nb * Lp, grad.dtype).reshape(
                    (CK, nb * Lp) if G == 1 else (G, CK // G, nb * Lp))
                xp.matmul(wt, gcp.reshape((O, nb * Lp) if G == 1 else (G, O // G, nb * Lp)),
                          out=dcols)
                _col2im_flat(gx_rows[:, n0:n0 + step], dcols.reshape(C, ks[0], ks[1], nb, Lp),
                             dil, Wp, Ho, Wo)
            elif needs[0]:  # the cols buffer is free again: the input grad's cols go there
                dcols = _scratch(CK * nb * L, grad.dtype).reshape(
                    (CK, nb * L) if G == 1 else (G, CK // G, nb * L))
                xp.matmul(wt, gc, out=dcols)
                _col2im_into(gxp[:, n0:n0 + step], dcols.reshape((C,) + tuple(ks) + (nb,) + out_sp),
                             ks, stride, dil, out_sp)
        gx = None
        if needs[0]:
            gx = _crop(gxp.swapaxes(0, 1), pads)
            if unbatched:
                gx = gx[0]
        return gx, (gw.reshape(w_shape) if gw is not None else None), gb


class ConvTranspose(Function):
    """N-d transposed convolution: the input-gradient of Convolution, as a forward op."""

    _node_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, out_pad, groups, dil):
        unbatched = x.ndim == w.ndim - 1
        if unbatched:
            x = x[None]
        N, Cin = x.shape[:2]
        in_sp = x.shape[2:]
        ks = w.shape[2:]
        G = groups
        Cout = w.shape[1] * G
        full = tuple((n - 1) * s + d * (k - 1) + 1 + op
                     for n, s, d, k, op in zip(in_sp, stride, dil, ks, out_pad))
        xt = _channel_major(x)  # (Cin, N*L)
        if G == 1:
            dcols = xp.matmul(w.reshape(Cin, -1).T, xt)
        else:
            dcols = xp.matmul(w.reshape(G, Cin // G, -1).transpose(0, 2, 1),
                              xt.reshape(G, Cin // G, -1))
        dcols = dcols.reshape((Cout,) + tuple(ks) + (N,) + tuple(in_sp))
        y = _col2im_t(dcols, (N, Cout) + full, ks, stride, dil, in_sp)
        pads = tuple((p, p) for p in padding)
        y = _crop(y, pads)
        if b is not None:
            y = y + b.reshape((1, Cout) + (1,) * len(ks))
        else:
            y = xp.ascontiguousarray(y)
        needs = ctx.needs_input_grad
        if needs:
            ctx.save_for_backward(xt if needs[1] else None, w if needs[0] else None)
            ctx.meta = (pads, stride, dil, G, in_sp, unbatched, w.shape, N)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx.name(), grad)
        xt, w = ctx.saved_tensors
        pads, stride, dil, G, in_sp, unbatched, w_shape, N = ctx.meta
        if unbatched:
            grad = grad[None]
        Cin, ks = w_shape[0], w_shape[2:]
        cols = _cols_t(_pad_zeros(grad, pads), ks, stride, dil, in_sp)  # (Cout*K, N*L)
        gx = gw = gb = None
        needs = ctx.needs_input_grad
        if needs[2]:
            gb = grad.sum((0,) + tuple(range(2, grad.ndim)))
        if needs[0]:
            if G == 1:
                gx = xp.matmul(w.reshape(Cin, -1), cols)
            else:
                gx = xp.matmul(w.reshape(G, Cin // G, -1), cols.reshape(G, -1, cols.shape[1]))
            gx = _batch_major(gx.reshape(Cin, -1), N, in_sp)
            if unbatched:
                gx = gx[0]
        if needs[1]:
            if G == 1:
                gw = xp.matmul(xt, cols.T)
            else:
                gw = xp.matmul(xt.reshape(G, Cin // G, -1),
                               cols.reshape(G, -1, cols.shape[1]).transpose(0, 2, 1))
            gw = gw.reshape(w_shape)
        return gx, gw, gb


# PyTorch unsqueezes unbatched input and squeezes back
_ConvUnbatched = _renamed(Convolution, "SqueezeBackward1")


_ConvTransposeUnbatched = _renamed(ConvTranspose, "SqueezeBackward1")


def _torch_type(arr) -> str:
    return f"torch.{_tname(arr)}Tensor"


def _check_conv_dtypes(x, w, b):
    if x.dtype != w.dtype:
        if x.dtype == xp.float32:
            raise RuntimeError(f"Input type ({_torch_type(x)}) and weight type ({_torch_type(w)}) "
                               "should be the same or input should be a MKLDNN tensor and weight "
                               "is a dense tensor")
        raise RuntimeError(f"expected scalar type {_tname(x)} but found {_tname(w)}")
    if b is not None and b.dtype != x.dtype:
        raise RuntimeError(f"Input type ({_tname(x).lower()}) and bias type ({_tname(b).lower()}) "
                           "should be the same")


def _conv_common(input, weight, bias, stride, dilation, groups, n, name, transposed):
    _need_tensor(input, name, "input", 1)
    _need_tensor(weight, name, "weight", 2)
    x, w = input._data, weight._data
    if x.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {name}, "
                           f"but got input of size: {_shape(x)}")
    stride = _expand(stride, n, "stride")
    dilation = _expand(dilation, n, "dilation")
    if w.ndim != n + 2:
        raise RuntimeError(f"expected stride to be a single integer value or a list of "
                           f"{max(w.ndim - 2, 0)} values to match the convolution dimensions, but "
                           f"got stride={list(stride)}")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    b = None if bias is None else bias._data
    _check_conv_dtypes(x, w, b)
    C = x.shape[0] if x.ndim == n + 1 else x.shape[1]
    xs = [1] + _shape(x) if x.ndim == n + 1 else _shape(x)
    if w.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at "
                           f"dimension 0, but got weight of size [{_shape(w)}] instead")
    if transposed:
        if C != w.shape[0]:
            raise RuntimeError(f"Given transposed=1, weight of size {_shape(w)}, expected "
                               f"input{xs} to have {w.shape[0]} channels, but got {C} channels "
                               "instead")
        out_ch = w.shape[1] * groups
    else:
        if C != w.shape[1] * groups:
            raise RuntimeError(f"Given groups={groups}, weight of size {_shape(w)}, expected "
                               f"input{xs} to have {w.shape[1] * groups} channels, but got {C} "
                               "channels instead")
        out_ch = w.shape[0]
    if b is not None and (b.ndim != 1 or b.shape[0] != out_ch):
        prefix = "transposed=1" if transposed else ""
        what = f"Given {prefix}, weight" if transposed else "Given weight"
        raise RuntimeError(f"{what} of size {_shape(w)}, expected bias to be 1-dimensional with "
                           f"{out_ch} elements, but got bias of size {_shape(b)} instead")
    return x, w, stride, dilation


def _conv_nd(input, weight, bias, stride, padding, dilation, groups, n):
    name = f"conv{n}d"
    x, w, stride, dilation = _conv_common(input, weight, bias, stride, dilation, groups, n, name,
                                          False)
    ks = w.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * n
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            totals = [d * (k - 1) for d, k in zip(dilation, ks)]
            pads = tuple((t // 2, t - t // 2) for t in totals)
            if any(t % 2 for t in totals):
                warnings.warn("Using padding='same' with even kernel lengths and odd dilation may "
                              "require a zero-padded copy of the input be created", UserWarning,
                              stacklevel=3)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        padding = _expand(padding, n, "padding")
        if any(p < 0 for p in padding):
            raise RuntimeError("negative padding is not supported")
        pads = tuple((p, p) for p in padding)
    sp = x.shape[-n:]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(sp, pads))
    eff = tuple(d * (k - 1) + 1 for d, k in zip(dilation, ks))
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError("Calculated padded input size per channel: ("
                           f"{' x '.join(map(str, padded))}). Kernel size: "
                           f"({' x '.join(map(str, eff))}). Kernel size can't be greater than "
                           "actual input size")
    cls = _ConvUnbatched if x.ndim == n + 1 else Convolution
    return cls.apply(input, weight, bias, stride, pads, dilation, int(groups))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D convolution over (N, C, L) or unbatched (C, L) input."""
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution over (N, C, H, W) or unbatched (C, H, W) input."""
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 2)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """3-D convolution over (N, C, D, H, W) or unbatched (C, D, H, W) input."""
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 3)


_DIM_NAMES = {1: ("width",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation, n):
    name = f"conv_transpose{n}d"
    if isinstance(padding, str):
        raise TypeError(f"{name}(): argument 'padding' must be tuple of ints, not str")
    x, w, stride, dilation = _conv_common(input, weight, bias, stride, dilation, groups, n, name,
                                          True)
    padding = _expand(padding, n, "padding")
    output_padding = _expand(output_padding, n, "output_padding")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(p < 0 for p in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        names = _DIM_NAMES[max(n, 2)]
        op = ((0,) * (len(names) - n)) + output_padding
        st = ((1,) * (len(names) - n)) + stride
        dl = ((1,) * (len(names) - n)) + dilation
        parts = ([f"output_padding_{a}: {v}" for a, v in zip(names, op)]
                 + [f"stride_{a}: {v}" for a, v in zip(names, st)]
                 + [f"dilation_{a}: {v}" for a, v in zip(names, dl)])
        raise RuntimeError("output padding must be smaller than either stride or dilation, but "
                           "got " + " ".join(parts))
    ks = w.shape[2:]
    out = tuple((s_in - 1) * s - 2 * p + d * (k - 1) + op + 1 for s_in, s, p, d, k, op in
                zip(x.shape[-n:], stride, padding, dilation, ks, output_padding))
    if any(o <= 0 for o in out):
        raise RuntimeError(f"Given input size per channel: ({' x '.join(map(str, x.shape[-n:]))})"
                           f". Calculated output size per channel: ({' x '.join(map(str, out))})"
                           ". Output size is too small")
    cls = _ConvTransposeUnbatched if x.ndim == n + 1 else ConvTranspose
    return cls.apply(input, weight, bias, stride, padding, output_padding, int(groups), dilation)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """1-D transposed convolution ("deconvolution")."""
    return _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                              dilation, 1)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """2-D transposed convolution ("deconvolution")."""
    return _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                              dilation, 2)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """3-D transposed convolution ("deconvolution")."""
    return _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                              dilation, 3)


# ---- unfold / fold (im2col / col2im as public ops) -------------------------------------------
class Im2Col(Function):
    @staticmethod
    def forward(ctx, x, ks, dil, padding, stride):
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        pads = tuple((p, p) for p in padding)
        xpad = _pad_zeros(x, pads)
        out_sp = tuple((n - d * (k - 1) - 1) // s + 1
                       for n, k, s, d in zip(xpad.shape[2:], ks, stride, dil))
        cols = _im2col(xpad, ks, stride, dil, out_sp)
        ctx.meta = (xpad.shape, pads, ks, stride, dil, out_sp, unbatched)
        return cols[0] if unbatched else cols

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx.name(), grad)
        xp_shape, pads, ks, stride, dil, out_sp, unbatched = ctx.meta
        if unbatched:
            grad = grad[None]
        N, C = xp_shape[:2]
        gx = _crop(_col2im(grad.reshape((N, C) + ks + out_sp), xp_shape, ks, stride, dil, out_sp),
                   pads)
        return gx[0] if unbatched else gx


class Col2Im(Function):
    @staticmethod
    def forward(ctx, cols, out_size, ks, dil, padding, stride, blocks):
        unbatched = cols.ndim == 2
        if unbatched:
            cols = cols[None]
        N = cols.shape[0]
        C = cols.shape[1] // math.prod(ks)
        pads = tuple((p, p) for p in padding)
        full = (N, C) + tuple(o + 2 * p for o, p in zip(out_size, padding))
        y = _crop(_col2im(cols.reshape((N, C) + ks + blocks), full, ks, stride, dil, blocks), pads)
        y = xp.ascontiguousarray(y)
        ctx.meta = (full, pads, ks, stride, dil, blocks, unbatched)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx.name(), grad)
        full, pads, ks, stride, dil, blocks, unbatched = ctx.meta
        if unbatched:
            grad = grad[None]
        cols = _im2col(_pad_zeros(grad, pads), ks, stride, dil, blocks)
        return cols[0] if unbatched else cols


def _fold_args(kernel_size, dilation, padding, stride):
    ks = _expand(kernel_size, 2, "kernel_size", "fold dimensions")
    return (ks, _expand(dilation, 2, "dilation"), _expand(padding, 2, "padding"),
            _expand(stride, 2, "stride"))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Extract sliding local blocks (im2col): (N, C, H, W) -> (N, C*kh*kw, L)."""
    x = input._data
    if x.ndim not in (3, 4):
        if x.ndim < 3:
            _wrap_dim(2, x.ndim)
        raise RuntimeError("Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and "
                           f"other non-zero dimensions for input, but got: {_shape(x)}")
    ks, dil, pad, st = _fold_args(kernel_size, dilation, padding, stride)
    sp = x.shape[-2:]
    blocks = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                   for n, p, d, k, s in zip(sp, pad, dil, ks, st))
    if any(b < 1 for b in blocks):
        raise RuntimeError(f"Given input with spatial size {tuple(sp)}, kernel_size={ks}, "
                           f"dilation={dil}, padding={pad}, calculated shape of the array of "
                           f"sliding blocks as {blocks}, but its components must be at least one.")
    return Im2Col.apply(input, ks, dil, pad, st)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Combine sliding local blocks into a tensor, summing overlaps (col2im)."""
    x = input._data
    if x.ndim not in (2, 3):
        raise RuntimeError("Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch "
                           f"size and non-zero dimensions for input, but got: {_shape(x)}")
    out = _expand(output_size, 2, "output_size", "fold dimensions")
    ks, dil, pad, st = _fold_args(kernel_size, dilation, padding, stride)
    c_axis = x.ndim - 2
    K = math.prod(ks)
    if x.shape[c_axis] % K:
        raise RuntimeError("Expected size of input's dimension 1 to be divisible by the product of "
                           f"kernel_size, but got input.size(1)={x.shape[c_axis]} and "
                           f"kernel_size={ks}.")
    blocks = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                   for n, p, d, k, s in zip(out, pad, dil, ks, st))
    if math.prod(blocks) != x.shape[-1] or any(b < 1 for b in blocks):
        raise RuntimeError(f"Given output_size={out}, kernel_size={ks}, dilation={dil}, "
                           f"padding={pad}, stride={st}, expected size of input's dimension 2 to "
                           f"match the calculated number of sliding blocks {blocks[0]} * "
                           f"{blocks[1]} = {math.prod(blocks)}, but got input.size(2)="
                           f"{x.shape[-1]}.")
    return Col2Im.apply(input, out, ks, dil, pad, st, blocks)


# ============================================================================================
# pooling
# ============================================================================================
def _pool_out_size(n, k, s, p, d, ceil):
    """PyTorch's pooling_output_shape, including ceil_mode's last-window rule."""
    o = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p:  # the last window must start inside input + left pad
        o -= 1
    return o


def _pad_const(x, pads, value):
    """Pad the spatial dims of (N, C, *sp) by (lo, hi) pairs with ``value``."""
    if not any(lo or hi for lo, hi in pads):
        return x
    shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads))
    xpad = xp.full(shape, value, x.dtype)
    xpad[(slice(None), slice(None)) + tuple(slice(lo, lo + n) for n, (lo, _) in
                                          zip(x.shape[2:], pads))] = x
    return xpad


def _pool_pads(sp, ks, stride, pad, dil, out_sp):
    """(lo, hi) per dim: the symmetric padding plus what ceil_mode's last window overhangs."""
    return tuple((p, max((o - 1) * s + d * (k - 1) + 1 - n - p, 0))
                 for n, k, s, p, d, o in zip(sp, ks, stride, pad, dil, out_sp))


def _plane_strides(sp):
    st, acc = [], 1
    for n in reversed(sp):
        st.append(acc)
        acc *= n
    return tuple(reversed(st))


def _bcast_axis(v, i, nd):
    """Shape a 1-d per-axis array to broadcast along spatial axis i of an nd-dim output plane."""
    return v.reshape((1,) * i + (-1,) + (1,) * (nd - i - 1))


def _maxpool_argmax(W, best, sp, ks, stride, pad, dil, out_sp, padded):
    """Flat input-plane index of each window's max: the first max in row-major window order
    (PyTorch's rule; a NaN window points at its last NaN). ``W`` is (K, N, C, *out)."""
    nd = len(sp)
    instr = _plane_strides(sp)
    origin = [xp.arange(o, dtype=xp.int64) * s - p for o, s, p in zip(out_sp, stride, pad)]
    base = sum(_bcast_axis(org * m, i, nd) for i, (org, m) in enumerate(zip(origin, instr)))
    offsets = list(itertools.product(*(range(k) for k in ks)))

    def valid(off):  # is this window element inside the (unpadded) input?
        v = None
        for i, (org, o, d, n) in enumerate(zip(origin, off, dil, sp)):
            pos = org + o * d
            vi = _bcast_axis((pos >= 0) & (pos < n), i, nd)
            v = vi if v is None else v & vi
        return v

    flat = xp.empty(best.shape, xp.int64)
    flat[...] = base
    taken = W[0] == best
    if padded:
        taken &= valid(offsets[0])
    for j in range(1, len(offsets)):
        off = offsets[j]
        e = W[j] == best
        if padded:
            e &= valid(off)
        xp.greater(e, taken, out=e)  # e and not yet taken
        taken |= e
        delta = sum(o * d * m for o, d, m in zip(off, dil, instr))
        xp.add(flat, delta, out=flat, where=e)
    if not taken.all():  # NaN windows: PyTorch keeps the last NaN's index
        rest = ~taken
        for j, off in enumerate(offsets):
            e = xp.isnan(W[j]) & rest if W.dtype.kind == "f" else None
            if e is None:
                break
            if padded:
                e &= valid(off)
            delta = sum(o * d * m for o, d, m in zip(off, dil, instr))
            xp.copyto(flat, xp.broadcast_to(base, flat.shape) + delta, where=e)
    return flat


def _scatter_flat(g, flat, in_shape, overlap):
    """Sum g (N, C, *out) into zeros (N, C, *sp) at flat plane indices ``flat``."""
    N, C = in_shape[:2]
    P = math.prod(in_shape[2:])
    if not overlap:  # distinct targets: a plain put
        gx = xp.zeros((N * C, P), g.dtype)
        xp.put_along_axis(gx, flat.reshape(N * C, -1), g.reshape(N * C, -1), 1)
        return gx.reshape(in_shape)
    rows = (xp.arange(N * C, dtype=xp.int64) * P).reshape((N, C) + (1,) * (flat.ndim - 2))
    gx = xp.bincount((flat + rows).ravel(), weights=g.ravel(), minlength=N * C * P)
    return gx.astype(g.dtype, copy=False).reshape(in_shape)


class _ArgmaxPool(Function):
    """Base of MaxPool and AdaptiveMaxPool, whose forward saves the flat argmax positions and
    ctx.meta = (input shape, whether windows overlap, unbatched)."""

    @staticmethod
    def backward(ctx, grad, grad_idx=None):
        _no_double_backward(ctx.name(), grad)
        (flat,) = ctx.saved_tensors
        in_shape, overlap, unbatched = ctx.meta
        if unbatched:
            grad = grad[None]
        gx = _scatter_flat(grad, flat, in_shape, overlap)
        return gx[0] if unbatched else gx


def _tile_views(x, ks, out_sp):
    """The K strided views (N, C, *out) of x, one per window offset, for windows that tile the
    input (stride == kernel, no padding, no dilation), in row-major window order."""
    lead = (slice(None), slice(None))
    return [x[lead + tuple(slice(o, o + k * n, k) for o, k, n in zip(off, ks, out_sp))]
            for off in itertools.product(*(range(k) for k in ks))]


def _maxpool_tiled(x, ks, out_sp):
    """Max pooling over tiling windows without a window copy or int64 indices: the max of the
    K strided views, and a bool one-hot mask (K, N, C, *out) of PyTorch's chosen element (the
    first max; a NaN window's last NaN). Measured (CPU time, 1 thread, LeNet's first pool
    2x2 on 256x6x28x28) against the window copy + int64 argmax + put_along_axis path:
    forward 5.8-7.3 -> 1.7-2.2 ms, forward + backward 7.4-9.8 -> 3.5-4.3 ms."""
    views = _tile_views(x, ks, out_sp)
    best = views[0].copy()
    for v in views[1:]:
        xp.maximum(best, v, out=best)
    masks = xp.empty((len(views),) + best.shape, bool)
    xp.equal(views[0], best, out=masks[0])
    taken = masks[0].copy()
    for v, e in zip(views[1:], masks[1:]):
        xp.equal(v, best, out=e)
        xp.greater(e, taken, out=e)  # equal and not yet taken
        taken |= e
    if x.dtype.kind == "f" and not taken.all():  # NaN windows: the last NaN, as PyTorch
        rest = ~taken
        for v, e in zip(views[::-1], masks[::-1]):
            hit = xp.isnan(v) & rest
            e |= hit
            rest &= ~hit
    return best, masks


class MaxPool(_ArgmaxPool):
    _node_name = "MaxPool2DWithIndicesBackward0"

    @staticmethod
    def backward(ctx, grad, grad_idx=None):
        if len(ctx.meta) == 2:  # the 2 x 2 kernel's bool maps
            _no_double_backward(ctx.name(), grad)
            in_shape, unbatched = ctx.meta
            gx = _pool.backward(grad[None] if unbatched else grad, ctx.saved_tensors, in_shape)
            return gx[0] if unbatched else gx
        if len(ctx.meta) != 4:
            return _ArgmaxPool.backward(ctx, grad, grad_idx)
        _no_double_backward(ctx.name(), grad)
        (masks,) = ctx.saved_tensors
        in_shape, ks, out_sp, unbatched = ctx.meta
        if unbatched:
            grad = grad[None]
        gx = xp.zeros(in_shape, grad.dtype)
        for view, m in zip(_tile_views(gx, ks, out_sp), masks):
            xp.multiply(grad, m, out=view)
        return gx[0] if unbatched else gx

    @staticmethod
    def forward(ctx, x, ks, stride, pad, dil, out_sp, return_indices):
        unbatched = x.ndim == len(ks) + 1
        if unbatched:
            x = x[None]
        sp = x.shape[2:]
        K = math.prod(ks)
        pads = _pool_pads(sp, ks, stride, pad, dil, out_sp)
        needs = ctx.needs_input_grad
        if not return_indices and _pool.applies(x, ks, stride, dil, pads):
            res = _pool.forward(x)
            if res is not None:
                if needs and needs[0]:
                    ctx.save_for_backward(*res[1])
                    ctx.meta = (x.shape, unbatched)
                return res[0][0] if unbatched else res[0]
        if (not return_indices and tuple(stride) == tuple(ks) and all(d == 1 for d in dil)
                and not any(lo or hi for lo, hi in pads)):
            best, masks = _maxpool_tiled(x, ks, out_sp)
            if needs and needs[0]:
                ctx.save_for_backward(masks)
                ctx.meta = (x.shape, tuple(ks), tuple(out_sp), unbatched)
            return best[0] if unbatched else best
        fill = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min
        xpad = _pad_const(x, pads, fill)
        Wv = _windows(xpad, ks, stride, dil, out_sp, True)
        W = _scratch(Wv.size, x.dtype).reshape(Wv.shape)
        xp.copyto(W, Wv)
        W = W.reshape((K,) + x.shape[:2] + tuple(out_sp))
        best = W.max(0)
        needs = ctx.needs_input_grad
        flat = None
        if return_indices or (needs and needs[0]):
            padded = any(lo or hi for lo, hi in pads)
            flat = _maxpool_argmax(W, best, sp, ks, stride, pad, dil, out_sp, padded)
        if needs and needs[0]:
            overlap = any(s < d * (k - 1) + 1 for s, d, k in zip(stride, dil, ks))
            ctx.save_for_backward(flat)
            ctx.meta = (x.shape, overlap, unbatched)
        if unbatched:
            best = best[0]
            flat = flat[0] if flat is not None else None
        if return_indices:
            return best, flat
        return best

_MaxPool1d = _renamed(MaxPool, "SqueezeBackward1")


_MaxPool3d = _renamed(MaxPool, "MaxPool3DWithIndicesBackward0")


class AvgPool(Function):
    _node_name = "AvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, ks, stride, pad, count_include_pad, divisor_override, out_sp):
        unbatched = x.ndim == len(ks) + 1
        if unbatched:
            x = x[None]
        sp = x.shape[2:]
        nd = len(sp)
        ones = (1,) * nd
        pads = _pool_pads(sp, ks, stride, pad, ones, out_sp)
        xpad = _pad_zeros(x, pads)
        Wv = _windows(xpad, ks, stride, ones, out_sp, True)
        acc = None
        for off in itertools.product(*(range(k) for k in ks)):
            acc = Wv[off].copy() if acc is None else xp.add(acc, Wv[off], out=acc)
        if divisor_override:
            div = divisor_override
        else:
            div = None
            for i, (n, k, s, p, o) in enumerate(zip(sp, ks, stride, pad, out_sp)):
                start = xp.arange(o) * s - p
                end = xp.minimum(start + k, n + p)
                size = (end - start if count_include_pad
                        else xp.minimum(end, n) - xp.maximum(start, 0))
                size = _bcast_axis(size, i, nd)
                div = size if div is None else div * size
            div = div.astype(x.dtype if x.dtype.kind == "f" else xp.float64)
        if x.dtype.kind == "f":
            out = xp.divide(acc, div, out=acc) if not xp.isscalar(div) else acc / x.dtype.type(div)
        else:  # integer average pooling truncates, as C++ integer division does
            out = xp.trunc(acc / div).astype(x.dtype)
        if ctx.needs_input_grad:
            ctx.meta = (xpad.shape, pads, ks, stride, out_sp, div, unbatched)
        return out[0] if unbatched else out

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx.name(), grad)
        xp_shape, pads, ks, stride, out_sp, div, unbatched = ctx.meta
        if unbatched:
            grad = grad[None]
        gd = grad / (div if not xp.isscalar(div) else grad.dtype.type(div))
        gx = xp.zeros(xp_shape, grad.dtype)
        lead = (slice(None), slice(None))
        for off in itertools.product(*(range(k) for k in ks)):
            gx[lead + tuple(slice(o, o + s * (n - 1) + 1, s)
                            for o, s, n in zip(off, stride, out_sp))] += gd
        gx = _crop(gx, pads)
        return gx[0] if unbatched else gx


_AvgPool1d = _renamed(AvgPool, "SqueezeBackward1")


_AvgPool3d = _renamed(AvgPool, "AvgPool3DBackward0")


def _omitted(stride):
    """A pooling stride left out: None or an empty sequence (then it defaults to kernel_size)."""
    return stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0)


def _pool_tuple(value, n, op, what, allow_none=False):
    if allow_none and _omitted(value):
        return None
    value = _int_tuple(value, n)
    if len(value) != n:
        word = {2: "two", 3: "three"}[n]
        if what == "stride":
            msg = f"{op}: stride must either be omitted, a single int, or a tuple of {word} ints"
        elif what == "dilation":
            msg = f"{op}: dilation must be either a single int, or a tuple of {word} ints"
        else:
            msg = f"{op}: {what} must either be a single int, or a tuple of {word} ints"
        raise RuntimeError(msg)
    return value


def _pool_shape(x, ks, stride, pad, dil, ceil, n):
    """PyTorch's pooling_output_shape checks and pool2d/3d_shape_check."""
    sp = x.shape[-n:]
    out = []
    for size, k, s, p, d in zip(sp, ks, stride, pad, dil):
        if s == 0:
            raise RuntimeError("stride should not be zero")
        if p < 0:
            raise RuntimeError(f"pad must be non-negative, but got pad: {p}")
        if p > ((k - 1) * d + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                               f"pad={p}, kernel_size={k} and dilation={d}")
        out.append(_pool_out_size(size, k, s, p, d, ceil))
    names = ("kT", "kH", "kW")[-n:] if n > 1 else ("kH", "kW")
    if any(k <= 0 for k in ks):
        vals = ks if n > 1 else (1,) + tuple(ks)
        raise RuntimeError("kernel size should be greater than zero, but got " +
                           " ".join(f"{a}: {v}" for a, v in zip(names, vals)))
    if any(s <= 0 for s in stride):
        dn = ("dT", "dH", "dW")[-len(names):]
        vals = stride if n > 1 else (1,) + tuple(stride)
        raise RuntimeError("stride should be greater than zero, but got " +
                           " ".join(f"{a}: {v}" for a, v in zip(dn, vals)))
    if any(d <= 0 for d in dil):
        dn = ("dilationT", "dilationH", "dilationW")[-len(names):]
        vals = dil if n > 1 else (1,) + tuple(dil)
        raise RuntimeError("dilation should be greater than zero, but got " +
                           " ".join(f"{a}: {v}" for a, v in zip(dn, vals)))
    nb = x.ndim - n  # 1 (unbatched) or 2
    if any(s == 0 for s in x.shape[nb - 1:]):
        raise RuntimeError(f"Expected {n + 1}D or {n + 2}D (batch mode) tensor with optional 0 dim "
                           f"batch size for input, but got:{_shape(x)}")
    if any(o < 1 for o in out):
        plane = x.shape[nb - 1]
        ins = "x".join(map(str, ((1,) if n == 1 else ()) + tuple(sp)))
        outs = "x".join(map(str, ((1,) if n == 1 else ()) + tuple(out)))
        raise RuntimeError(f"Given input size: ({plane}x{ins}). Calculated output size: "
                           f"({plane}x{outs}). Output size is too small")
    return tuple(out)


def _max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, n,
                 cls):
    op = f"max_pool{n}d"
    _need_tensor(input, op, "input", 1)
    x = input._data
    if x.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"non-empty {n + 1}D or {n + 2}D (batch mode) tensor expected for "
                           "input")
    ks = _pool_tuple(kernel_size, n, op, "kernel_size")
    st = _pool_tuple(stride, n, op, "stride", allow_none=True) or ks
    pad = _pool_tuple(padding, n, op, "padding")
    dil = _pool_tuple(dilation, n, op, "dilation")
    out = _pool_shape(x, ks, st, pad, dil, ceil_mode, n)
    return cls.apply(input, ks, st, pad, dil, out, bool(return_indices))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling; with return_indices also the argmax positions (flat in H*W)."""
    return _max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode,
                        return_indices, 2, MaxPool)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-D max pooling; with return_indices also the argmax positions (flat in D*H*W)."""
    return _max_pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode,
                        return_indices, 3, _MaxPool3d)


def _one_int(value, op, what):
    if isinstance(value, (int, xp.integer)):
        return int(value)
    value = tuple(value)
    if len(value) != 1:
        raise RuntimeError(f"{op}() {what} must be an int, list of ints or tuple of ints of size 1 "
                           f"but got size {len(value)}")
    return int(value[0])


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L)."""
    x = input._data
    if x.ndim not in (2, 3):
        raise RuntimeError("max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim "
                           f"batch size for input, but got:{_shape(x)}")
    k = _one_int(kernel_size, "max_pool1d", "kernel_size")
    s = k if _omitted(stride) else _one_int(stride, "max_pool1d", "stride")
    p = _one_int(padding, "max_pool1d", "padding")
    d = _one_int(dilation, "max_pool1d", "dilation")
    if k <= 0:
        raise RuntimeError(f"max_pool1d() kernel_size must be greater than zero, but got {k}")
    if s <= 0:
        raise RuntimeError(f"max_pool1d() stride must be greater than zero, but got {s}")
    if p < 0:
        raise RuntimeError(f"max_pool1d() padding must be non-negative, but got {p}")
    if p > k // 2:
        raise RuntimeError(f"max_pool1d() padding should be at most half of kernel size, but got "
                           f"padding={p} and kernel_size={k}")
    if d <= 0:
        raise RuntimeError(f"max_pool1d() dilation must be greater than zero, but got {d}")
    o = _pool_out_size(x.shape[-1], k, s, p, d, ceil_mode)
    if o <= 0:
        raise RuntimeError(f"max_pool1d() Invalid computed output size: {o}")
    return _MaxPool1d.apply(input, (k,), (s,), (p,), (d,), (o,), bool(return_indices))


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False):
    """max_pool1d returning (values, indices)."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False):
    """max_pool2d returning (values, indices)."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False):
    """max_pool3d returning (values, indices)."""
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                 divisor_override, n, cls):
    op = f"avg_pool{n}d"
    _need_tensor(input, op, "input", 1)
    x = input._data
    ks = _pool_tuple(kernel_size, n, op, "kernel_size")
    st = _pool_tuple(stride, n, op, "stride", allow_none=True) or ks
    pad = _pool_tuple(padding, n, op, "padding")
    if x.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"Expected {n + 1}D or {n + 2}D (batch mode) tensor with optional 0 dim "
                           f"batch size for input, but got:{_shape(x)}")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    out = _pool_shape(x, ks, st, pad, (1,) * n, ceil_mode, n)
    return cls.apply(input, ks, st, pad, bool(count_include_pad), divisor_override, out)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling."""
    return _avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override, 2, AvgPool)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """3-D average pooling."""
    return _avg_pool_nd(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override, 3, _AvgPool3d)


def _one_int_arg(value, op, what):
    if isinstance(value, (int, xp.integer)):
        return int(value)
    value = tuple(value)
    if len(value) != 1:
        raise RuntimeError(f"{op}() argument '{what}' should contain one int (got {len(value)})")
    return int(value[0])


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True) -> Tensor:
    """1-D average pooling over (N, C, L) or (C, L)."""
    x = input._data
    if x.ndim not in (2, 3):
        raise RuntimeError(f"Expected 2 to 3 dimensions, but got {x.ndim}-dimensional tensor for "
                           "argument #1 'self' (while checking arguments for avg_pool1d)")
    k = _one_int_arg(kernel_size, "avg_pool1d", "kernel_size")
    s = k if _omitted(stride) else _one_int_arg(stride, "avg_pool1d", "stride")
    p = _one_int_arg(padding, "avg_pool1d", "padding")
    out = _pool_shape(x, (k,), (s,), (p,), (1,), ceil_mode, 1)
    return _AvgPool1d.apply(input, (k,), (s,), (p,), bool(count_include_pad), None, out)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """Power-average pooling: (sum x^p over each window)^(1/p)."""
    out = avg_pool1d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu()).mul(kernel_size).pow(1.0 / norm_type)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """Power-average pooling: (sum x^p over each window)^(1/p)."""
    kh, kw = _expand(kernel_size, 2, "kernel_size")
    out = avg_pool2d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu()).mul(kh * kw).pow(1.0 / norm_type)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False) -> Tensor:
    """Power-average pooling: (sum x^p over each window)^(1/p)."""
    kd, kh, kw = _expand(kernel_size, 3, "kernel_size")
    out = avg_pool3d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu()).mul(kd * kh * kw).pow(1.0 / norm_type)


# ---- adaptive pooling ----------------------------------------------------------------------
def _adaptive_bounds(n, o):
    i = xp.arange(o, dtype=xp.int64)
    return (i * n) // o, ((i + 1) * n + o - 1) // o  # floor(i*n/o), ceil((i+1)*n/o)


def _avg_matrix(n, o, dtype):
    """(o, n) matrix averaging each adaptive window."""
    start, end = _adaptive_bounds(n, o)
    j = xp.arange(n)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _apply_axis(y, M, axis):
    """Contract ``axis`` of y with M (out, in): y'[.., o, ..] = sum_i M[o, i] y[.., i, ..]."""
    if axis == y.ndim - 1:
        return xp.matmul(y, M.T)
    if axis == y.ndim - 2:
        return xp.matmul(M, y)
    return xp.moveaxis(xp.tensordot(y, M, axes=([axis], [1])), -1, axis)


class AdaptiveAvgPool(Function):
    _node_name = "AdaptiveAvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, out_sp):
        n = len(out_sp)
        mats = [_avg_matrix(s, o, x.dtype) for s, o in zip(x.shape[-n:], out_sp)]
        y = x
        for i, M in enumerate(mats):
            y = _apply_axis(y, M, x.ndim - n + i)
        ctx.mats = mats
        return y

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx.name(), grad)
        n = len(ctx.mats)
        g = grad
        for i, M in enumerate(ctx.mats):
            g = _apply_axis(g, M.T, grad.ndim - n + i)
        return g


_AdaptiveAvgPool1d = _renamed(AdaptiveAvgPool, "SqueezeBackward1")


_AdaptiveAvgPool3d = _renamed(AdaptiveAvgPool, "AdaptiveAvgPool3DBackward0")


class _GlobalAvgPool(Function):
    """2-d output size 1: PyTorch computes it as a mean over (H, W), whose backward spreads
    grad / (H*W). Measured (CPU time, 1 thread, 64 x 32 x 14 x 14, ``python
    /tmp/proto/ap.py``): forward + backward 1.34 -> 0.30 ms (the per-axis averaging
    matrices cost two small matmuls each way)."""

    _node_name = "MeanBackward1"

    @staticmethod
    def forward(ctx, x, out_sp):
        ctx.meta = x.shape
        lead = x.shape[:-2]
        return x.reshape(lead + (-1,)).mean(-1).reshape(lead + (1, 1))

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx.name(), grad)
        shape = ctx.meta
        gx = xp.empty(shape, grad.dtype)
        xp.divide(grad, grad.dtype.type(shape[-1] * shape[-2]), out=gx)
        return gx


class AdaptiveMaxPool(_ArgmaxPool):
    _node_name = "AdaptiveMaxPool2DBackward0"

    @staticmethod
    def forward(ctx, x, out_sp, return_indices):
        n = len(out_sp)
        unbatched = x.ndim == n + 1
        if unbatched:
            x = x[None]
        N, C = x.shape[:2]
        sp = x.shape[2:]
        # per axis, the window's positions padded to the longest window by repeating its last
        # position (a repeat never beats the first occurrence, so argmax stays PyTorch's)
        flat_idx = None
        for i, (s, o) in enumerate(zip(sp, out_sp)):
            start, end = _adaptive_bounds(s, o)
            kmax = int((end - start).max()) if o else 1
            idx = xp.minimum(start[:, None] + xp.arange(kmax), end[:, None] - 1)  # (o, kmax)
            m = math.prod(sp[i + 1:])
            # arrange as (k_0.., k_i, .., o_0.., o_i, ..) with k axes first, o axes after
            shape = [1] * (2 * n)
            shape[i], shape[n + i] = kmax, o
            part = (idx.T * m).reshape(shape)
            flat_idx = part if flat_idx is None else flat_idx + part
        K = math.prod(flat_idx.shape[:n])
        flat_idx = flat_idx.reshape((K,) + tuple(out_sp))
        xf = x.reshape(N, C, -1)
        W = xp.take(xf, flat_idx, axis=2)  # (N, C, K, *out)
        pos = W.argmax(2)
        best = xp.take_along_axis(W, pos[:, :, None], 2)[:, :, 0]
        grids = xp.ix_(*[xp.arange(o) for o in out_sp]) if n > 1 else (xp.arange(out_sp[0]),)
        flat = flat_idx[(pos,) + tuple(grids)]
        if ctx.needs_input_grad:
            ctx.save_for_backward(flat)
            ctx.meta = (x.shape, True, unbatched)  # adaptive windows may overlap
        if unbatched:
            best, flat = best[0], flat[0]
        return (best, flat) if return_indices else best

_AdaptiveMaxPool1d = _renamed(AdaptiveMaxPool, "SqueezeBackward1")


_AdaptiveMaxPool3d = _renamed(AdaptiveMaxPool, "AdaptiveMaxPool3DBackward0")


def _adaptive_size(output_size, x, n, op):
    if isinstance(output_size, (int, xp.integer)) or output_size is None:
        output_size = (output_size,) * n
    output_size = tuple(output_size)
    if len(output_size) != n:
        raise RuntimeError(f"{op}: output_size must be {n}")
    out = tuple(int(x.shape[x.ndim - n + i]) if o is None else int(o)
                for i, o in enumerate(output_size))
    if any(o < 0 for o in out):
        raise RuntimeError(f"{op}: elements of output_size must be greater than or equal to 0 but "
                           f"received {{{', '.join(map(str, out))}}}")
    return out


def _check_adaptive_input(x, n, op):
    if x.ndim not in (n + 1, n + 2):
        if n == 1:
            raise RuntimeError(f"Expected 2 to 3 dimensions, but got {x.ndim}-dimensional tensor "
                               f"for argument #1 'self' (while checking arguments for {op})")
        sep = ": " if "max" in op else " "
        raise RuntimeError(f"{op}(): Expected {n + 1}D or {n + 2}D tensor, but got{sep}"
                           f"{_shape(x)}")
    for i in range(x.ndim - n, x.ndim):
        if x.shape[i] == 0:
            raise RuntimeError(f"{op}(): Expected input to have non-zero size for non-batch "
                               f"dimensions, but input has sizes {_shape(x)} with dimension {i} "
                               "being empty")


def _adaptive_args(input, output_size, n, op):
    """The checked output size of adaptive_{avg,max}_pool{n}d, for a float input."""
    x = input._data
    if n == 1 and not isinstance(output_size, (int, xp.integer)):
        output_size = (_one_int_arg(output_size, op, "output_size"),)
    _check_adaptive_input(x, n, op)
    out = _adaptive_size(output_size, x, n, op)
    if x.dtype.kind != "f":
        raise _not_implemented(op, x)
    return out


def _adaptive_avg(input, output_size, n, cls):
    out = _adaptive_args(input, output_size, n, f"adaptive_avg_pool{n}d")
    if n == 2 and out == (1, 1):
        cls = _GlobalAvgPool
    return cls.apply(input, out)


def adaptive_avg_pool1d(input, output_size) -> Tensor:
    """Average pooling to a fixed output length."""
    return _adaptive_avg(input, output_size, 1, _AdaptiveAvgPool1d)


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Average pooling to a fixed (H, W); None keeps that input size."""
    return _adaptive_avg(input, output_size, 2, AdaptiveAvgPool)


def adaptive_avg_pool3d(input, output_size) -> Tensor:
    """Average pooling to a fixed (D, H, W)."""
    return _adaptive_avg(input, output_size, 3, _AdaptiveAvgPool3d)


def _adaptive_max(input, output_size, return_indices, n, cls):
    out = _adaptive_args(input, output_size, n, f"adaptive_max_pool{n}d")
    return cls.apply(input, out, bool(return_indices))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling to a fixed output length."""
    return _adaptive_max(input, output_size, return_indices, 1, _AdaptiveMaxPool1d)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed (H, W)."""
    return _adaptive_max(input, output_size, return_indices, 2, AdaptiveMaxPool)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max pooling to a fixed (D, H, W)."""
    return _adaptive_max(input, output_size, return_indices, 3, _AdaptiveMaxPool3d)


def adaptive_max_pool1d_with_indices(input, output_size):
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size):
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size):
    return adaptive_max_pool3d(input, output_size, True)


# ---- fractional max pooling (pseudo-random window starts, then a gather and a max) ---------
def _fractional_starts(sample, n_in, n_out, pool, dt):
    """Window starts of each output from one U(0, 1) sample per plane (PyTorch's intervals)."""
    starts = xp.empty(sample.shape + (n_out,), xp.int64)
    if n_out > 1:
        alpha = dt.type(n_in - pool) / dt.type(n_out - 1)
        s = sample[..., None].astype(dt)
        i = xp.arange(n_out - 1, dtype=dt)
        starts[..., :-1] = ((i + s) * alpha).astype(xp.int64) - (s * alpha).astype(xp.int64)
    if n_out > 0:
        starts[..., -1] = n_in - pool
    return starts


def _fractional_max_pool(input, kernel_size, output_size, output_ratio, return_indices,
                         _random_samples, n):
    name = f"fractional_max_pool{n}d"
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    x = input
    unbatched = x.dim() == n + 1
    if unbatched:
        x = x.unsqueeze(0)
    sp = tuple(x.shape[2:])
    ks = _expand(kernel_size, n, "kernel_size")
    if output_size is None:
        ratio = (tuple(output_ratio) if isinstance(output_ratio, (list, tuple))
                 else (output_ratio,) * n)
        if len(ratio) == 1:
            ratio = ratio * n
        if len(ratio) != n:
            raise ValueError(f"{name} requires output_ratio to either be a single Int or tuple "
                             "of Ints.")
        out = tuple(int(s * r) for s, r in zip(sp, ratio))
    else:
        out = _expand(output_size, n, "output_size")
    what = ("height", "width") if n == 2 else ("time", "height", "width")
    where = f"{name}()" if n == 2 else f"{name}_out()"
    for k in range(n):
        if out[k] + ks[k] - 1 > sp[k]:
            raise RuntimeError(f"{where}: pool {what[k]} {ks[k]} too large relative to input "
                               f"{what[k]} {sp[k]}")
    N, C = x.shape[:2]
    dt = x._data.dtype
    if _random_samples is None:
        samples = rand(N, C, n, dtype=_dtype.from_numpy_dtype(dt))._data
    else:
        samples = xp.asarray(_random_samples._data)
    # PyTorch draws W's sample first in 2-D, and T, H, W in order in 3-D
    order = (1, 0) if n == 2 else (0, 1, 2)
    strides = [int(xp.prod(sp[k + 1:])) for k in range(n)]
    idx = xp.zeros((N, C) + out + ks, xp.int64)
    for k in range(n):
        st = _fractional_starts(samples[:, :, order[k]], sp[k], out[k], ks[k], dt)
        shape_o = [N, C] + [1] * n + [1] * n
        shape_o[2 + k] = out[k]
        shape_k = [1, 1] + [1] * n + [1] * n
        shape_k[2 + n + k] = ks[k]
        pos = st.reshape(shape_o) + xp.arange(ks[k]).reshape(shape_k)
        idx += pos * strides[k]
    win = idx.reshape(N, C, -1, int(xp.prod(ks)))
    vals = x.reshape(N, C, -1).gather(2, _make(win.reshape(N, C, -1), False, None, 0))
    best, arg = vals.reshape(N, C, -1, win.shape[3]).max(-1)
    result = best.reshape(N, C, *out)
    indices = _make(xp.take_along_axis(win, arg._data[..., None], -1).reshape((N, C) + out),
                    False, None, 0)
    if unbatched:
        result, indices = result.squeeze(0), indices.squeeze(0)
    return (result, indices) if return_indices else result


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """Max pooling over pseudo-randomly placed, overlapping windows (Graham, 2014)."""
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, return_indices,
                                _random_samples, 2)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """3-D fractional max pooling."""
    return _fractional_max_pool(input, kernel_size, output_size, output_ratio, return_indices,
                                _random_samples, 3)


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return fractional_max_pool2d(input, kernel_size, output_size, output_ratio, True,
                                 _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return fractional_max_pool3d(input, kernel_size, output_size, output_ratio, True,
                                 _random_samples)


# ---- max_unpool ----------------------------------------------------------------------------
class MaxUnpool(Function):
    _node_name = "MaxUnpool2DBackward0"

    @staticmethod
    def forward(ctx, x, idx, out_sp):
        n = len(out_sp)
        unbatched = x.ndim == n + 1
        if unbatched:
            x, idx = x[None], idx[None]
        N, C = x.shape[:2]
        P = math.prod(out_sp)
        fi = idx.reshape(N * C, -1)
        if fi.size and (fi.min() < 0 or fi.max() >= P):
            bad = fi[(fi < 0) | (fi >= P)].flat[0]
            raise RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size "
                               f"{'x'.join(map(str, out_sp))})")
        y = xp.zeros((N * C, P), x.dtype)
        xp.put_along_axis(y, fi, x.reshape(N * C, -1), 1)
        y = y.reshape((N, C) + tuple(out_sp))
        ctx.save_for_backward(fi)
        ctx.meta = (x.shape, unbatched)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx, grad, *_):
        _no_double_backward(ctx.name(), grad)
        (fi,) = ctx.saved_tensors
        x_shape, unbatched = ctx.meta
        N, C = x_shape[:2]
        g = xp.take_along_axis(grad.reshape(N * C, -1), fi, 1).reshape(x_shape)
        return (g[0] if unbatched else g), None


def _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, n):
    ks = _expand(kernel_size, n, "kernel_size")
    st = ks if stride is None else _expand(stride, n, "stride")
    pad = _expand(padding, n, "padding")
    x = input._data
    default = tuple((s - 1) * t - 2 * p + k for s, t, p, k in
                    zip(x.shape[-n:], st, pad, ks))
    if output_size is None:
        out = default
    else:
        if len(output_size) == n + 2:
            output_size = output_size[2:]
        if len(output_size) != n:
            raise ValueError(f"output_size should be a sequence containing {n} or {n + 2} "
                             f"elements, but it has a length of '{len(output_size)}'")
        for d in range(n):
            mn, mx = default[d] - st[d], default[d] + st[d]
            if not mn < output_size[d] < mx:
                raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between '
                                 f"{mn} and {mx})")
        out = tuple(int(o) for o in output_size)
    if indices._data.dtype != xp.int64:
        raise RuntimeError("elements in indices should be type int64 but got: "
                           f"{_tname(indices._data)}")
    cls = MaxUnpool if n == 2 else type(f"MaxUnpool{n}d", (MaxUnpool,),
                                        {"_node_name": f"MaxUnpool{n}DBackward0"})
    return cls.apply(input, indices, out)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool1d: scatter values back to their argmax positions."""
    return _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, 1)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool2d: scatter values back to their argmax positions."""
    return _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, 2)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool3d: scatter values back to their argmax positions."""
    return _max_unpool_nd(input, indices, kernel_size, stride, padding, output_size, 3)


# ============================================================================================
# interpolate: separable per-axis gathers
# ============================================================================================
def _bshape(v, axis, ndim):
    return v.reshape((-1,) + (1,) * (ndim - axis - 1))


def _gather_axis(x, idx, w, axis):
    """y[..., o, ...] = sum_j w[o, j] * x[..., idx[o, j], ...] (w None: a plain gather)."""
    if w is None:
        return xp.take(x, idx[:, 0], axis=axis)
    y = None
    for j in range(idx.shape[1]):
        t = xp.take(x, idx[:, j], axis=axis)
        t *= _bshape(w[:, j], axis, x.ndim)
        y = t if y is None else xp.add(y, t, out=y)
    return y


def _scatter_axis(g, idx, w, n, axis):
    """The transpose of _gather_axis; each idx column is non-decreasing, so runs of equal
    targets are summed with one add.reduceat per column."""
    shape = list(g.shape)
    shape[axis] = n
    out = xp.zeros(shape, g.dtype)
    lead = (slice(None),) * axis
    for j in range(idx.shape[1]):
        ij = idx[:, j]
        v = g if w is None else g * _bshape(w[:, j], axis, g.ndim)
        if ij.size == 0:
            continue
        starts = xp.flatnonzero(xp.concatenate(([True], ij[1:] != ij[:-1])))
        red = xp.add.reduceat(v, starts, axis=axis) if starts.size != ij.size else v
        out[lead + (ij[starts],)] += red
    return out


class Interpolate(Function):
    _node_name = "UpsampleNearest2DBackward0"

    @staticmethod
    def forward(ctx, x, tables):
        y = x
        for i, tab in enumerate(tables):
            if tab is not None:
                y = _gather_axis(y, tab[0], tab[1], 2 + i)
        if y is x:
            y = x.copy()
        ctx.tables = tables
        ctx.in_sp = x.shape[2:]
        return y

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx.name(), grad)
        g = grad
        for i in reversed(range(len(ctx.tables))):
            tab = ctx.tables[i]
            if tab is not None:
                g = _scatter_axis(g, tab[0], tab[1], ctx.in_sp[i], 2 + i)
        return g


_interp_classes: dict = {}


def _interp_class(node):
    cls = _interp_classes.get(node)
    if cls is None:
        cls = _interp_classes[node] = type(node[:-len("Backward0")], (Interpolate,),
                                           {"_node_name": node})
    return cls


def _scale_value(scale, n, o, dt):
    """PyTorch's compute_scales_value: 1/scale_factor when given, else in/out."""
    if scale is not None and scale > 0:
        return dt(1.0 / scale)
    return dt(n) / dt(o)


def _area_scale(n, o, align_corners, scale, dt):
    if align_corners:
        return dt(n - 1) / dt(o - 1) if o > 1 else dt(0)
    return _scale_value(scale, n, o, dt)


def _nearest_table(n, o, scale, exact):
    if not exact:
        if o == n:
            return None
        if o == 2 * n:
            return (xp.arange(o) >> 1)[:, None], None
    sc = _scale_value(scale, n, o, xp.float32)
    i = xp.arange(o)
    src = (i + 0.5) * sc if exact else i.astype(xp.float32) * sc
    idx = xp.minimum(xp.floor(src.astype(xp.float32)).astype(xp.int64), n - 1)
    return idx[:, None], None


def _linear_table(n, o, scale, align_corners, dt):
    if o == n:
        return None
    sc = _area_scale(n, o, align_corners, scale, dt)
    i = xp.arange(o, dtype=dt)
    src = sc * i if align_corners else xp.maximum(sc * (i + dt(0.5)) - dt(0.5), dt(0))
    i0 = xp.minimum(xp.floor(src).astype(xp.int64), n - 1)
    l1 = xp.clip(src - i0.astype(dt), 0, 1).astype(dt)
    i1 = i0 + (i0 < n - 1)
    return xp.stack([i0, i1], 1), xp.stack([dt(1) - l1, l1], 1)


def _cubic_weights(t, A):
    # Keys' cubic convolution kernel at distances t+1, t, 1-t, 2-t
    def c1(x):
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def c2(x):
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    return xp.stack([c2(t + 1), c1(t), c1(1 - t), c2(2 - t)], 1)


def _cubic_table(n, o, scale, align_corners, dt):
    sc = _area_scale(n, o, align_corners, scale, dt)
    i = xp.arange(o, dtype=dt)
    src = sc * i if align_corners else sc * (i + dt(0.5)) - dt(0.5)
    fl = xp.floor(src)
    t = (src - fl).astype(dt)
    idx = xp.clip(fl.astype(xp.int64)[:, None] + xp.arange(-1, 3), 0, n - 1)
    return idx, _cubic_weights(t, dt(-0.75)).astype(dt)


def _aa_table(n, o, scale, align_corners, dt, cubic):
    """Antialiased (Pillow-style) weights: the filter is widened by the downscale factor."""
    sc = float(_area_scale(n, o, align_corners, scale, dt))
    size = 4 if cubic else 2
    support = size * 0.5 * sc if sc >= 1.0 else size * 0.5
    invscale = 1.0 / sc if sc >= 1.0 else 1.0
    i = xp.arange(o)
    center = sc * (i + 0.5)
    xmin = xp.maximum((center - support + 0.5).astype(xp.int64), 0)
    xsize = xp.minimum((center + support + 0.5).astype(xp.int64), n) - xmin
    kmax = max(int(xsize.max()) if o else 1, 1)
    j = xp.arange(kmax)
    x = (j + xmin[:, None] - center[:, None] + 0.5) * invscale
    ax = xp.abs(x)
    if cubic:
        a = -0.5
        w = xp.where(ax < 1, ((a + 2) * ax - (a + 3)) * ax * ax + 1,
                     xp.where(ax < 2, ((a * ax - 5 * a) * ax + 8 * a) * ax - 4 * a, 0.0))
    else:
        w = xp.maximum(1.0 - ax, 0.0)
    w = xp.where(j < xsize[:, None], w, 0.0)
    total = w.sum(1, keepdims=True)
    w = xp.divide(w, total, out=xp.zeros_like(w), where=total != 0)
    idx = xp.minimum(xmin[:, None] + j, n - 1)
    return idx, w.astype(dt)


_INTERP_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area",
                 "nearest-exact")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False) -> Tensor:
    """Resize by nearest, (bi/tri)linear, bicubic or area interpolation."""
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    x = input._data
    dim = x.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        scales = None
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {_shape(x)[2:]} and output size of {size}. "
                    "Please provide input tensor in (N, C, d1, d2, ...,dK) format and output size "
                    "in (o1, o2, ...,oK) format.")
            if not all(isinstance(s, (int, xp.integer)) for s in size):
                raise TypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] "
                                "or Tuple[int, int, int], but got size with types "
                                f"{[type(s) for s in size]}")
            out = [int(s) for s in size]
        else:
            out = [int(size)] * dim
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, but "
                    f"got input with spatial dimensions of {_shape(x)[2:]} and scale_factor of "
                    f"shape {scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) "
                    "format and scale_factor in (s1, s2, ...,sK) format.")
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * dim
        out = None
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and out is None:
        recompute_scale_factor = True
    if out is None:
        out = [math.floor(n * s) for n, s in zip(x.shape[2:], scales)]
        if recompute_scale_factor:
            scales = None
    if antialias and not (mode in ("bilinear", "bicubic") and x.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes "
                         "and requires a 4-D tensor as input")
    wanted = {"linear": 3, "bilinear": 4, "trilinear": 5}
    if mode in wanted and x.ndim in (3, 4, 5) and x.ndim != wanted[mode]:
        raise NotImplementedError(f"Got {x.ndim}D input, but {mode} mode needs {wanted[mode]}D "
                                  "input")
    if mode not in _INTERP_MODES or x.ndim not in (3, 4, 5) or (mode == "bicubic" and x.ndim != 4):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {x.ndim}D) for the "
            "modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
            f"nearest-exact (got {mode})")
    if mode == "area":
        return (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d)[dim - 1](input, out)
    if x.dtype.kind != "f":
        raise _not_implemented(f"upsample_{mode.replace('-', '_')}{dim}d", x)
    if any(o <= 0 for o in out):
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input "
                           f"({', '.join(map(str, x.shape[2:]))}) output "
                           f"({', '.join(map(str, out))})")
    scales = scales or [None] * dim
    dt = x.dtype.type
    sp = x.shape[2:]
    if mode in ("nearest", "nearest-exact"):
        exact = mode == "nearest-exact"
        tables = [_nearest_table(n, o, s, exact) for n, o, s in zip(sp, out, scales)]
        node = f"UpsampleNearest{'Exact' if exact else ''}{dim}DBackward0"
    elif mode == "bicubic":
        if antialias:
            tables = [_aa_table(n, o, s, align_corners, dt, True) for n, o, s in
                      zip(sp, out, scales)]
        else:
            tables = [_cubic_table(n, o, s, align_corners, dt) for n, o, s in zip(sp, out, scales)]
        node = "UpsampleBicubic2DAaBackward0" if antialias else "UpsampleBicubic2DBackward0"
    else:
        if antialias:
            tables = [_aa_table(n, o, s, align_corners, dt, False) for n, o, s in
                      zip(sp, out, scales)]
        else:
            tables = [_linear_table(n, o, s, align_corners, dt) for n, o, s in
                      zip(sp, out, scales)]
        node = {1: "UpsampleLinear1DBackward0", 2: "UpsampleBilinear2DBackward0",
                3: "UpsampleTrilinear3DBackward0"}[dim]
        if antialias:
            node = "UpsampleBilinear2DAaBackward0"
    return _interp_class(node).apply(input, tables)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of interpolate."""
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    warnings.warn("nn.functional.upsample_nearest is deprecated. Use nn.functional.interpolate "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    warnings.warn("nn.functional.upsample_bilinear is deprecated. Use nn.functional.interpolate "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ============================================================================================
# pad
# ============================================================================================
class ConstantPad(Function):
    _node_name = "ConstantPadNdBackward0"

    @staticmethod
    def forward(ctx, x, pads, value):
        # pads: (lo, hi) for each of the last len(pads) dims; negative values crop
        lead = x.ndim - len(pads)
        shape = x.shape[:lead] + tuple(n + lo + hi for n, (lo, hi) in
                                       zip(x.shape[lead:], pads))
        y = xp.full(shape, value, x.dtype) if value else xp.zeros(shape, x.dtype)
        src = (slice(None),) * lead + tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi)
                                            in zip(x.shape[lead:], pads))
        dst = (slice(None),) * lead + tuple(slice(max(lo, 0), max(lo, 0) + n - max(-lo, 0)
                                                  - max(-hi, 0))
                                            for n, (lo, hi) in zip(x.shape[lead:], pads))
        y[dst] = x[src]
        ctx.meta = (x.shape, src, dst, pads)
        return y

    @staticmethod
    def backward(ctx, grad):
        shape, src, dst, pads = ctx.meta
        if grad.__class__ is not _ndarray:  # create_graph: the inverse padding, differentiably
            return ConstantPad.apply(grad, tuple((-lo, -hi) for lo, hi in pads), 0)
        gx = xp.zeros(shape, grad.dtype)
        gx[src] = grad[dst]
        return gx


def _pad_index(n, lo, hi, mode):
    pos = xp.arange(-lo, n + hi)
    if mode == "reflect":
        pos = xp.abs(pos)
        pos = xp.where(pos > n - 1, 2 * (n - 1) - pos, pos)
    elif mode == "replicate":
        pos = xp.clip(pos, 0, n - 1)
    else:  # circular: PyTorch crops negative padding first, then wraps within the crop
        start, stop = max(-lo, 0), n - max(-hi, 0)
        pos = xp.arange(-max(lo, 0), stop - start + max(hi, 0)) % (stop - start) + start
    return pos


class IndexPad(Function):
    """Reflect / replicate / circular padding as a per-axis gather."""

    _node_name = "ReflectionPad2DBackward0"

    @staticmethod
    def forward(ctx, x, idxs):
        lead = x.ndim - len(idxs)
        y = x[(Ellipsis,) + xp.ix_(*idxs)] if len(idxs) > 1 else xp.take(x, idxs[0], axis=-1)
        ctx.meta = (x.shape, lead, idxs)
        return y

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx.name(), grad)
        shape, lead, idxs = ctx.meta
        g = grad
        for i in reversed(range(len(idxs))):
            g = _pad_scatter(g, idxs[i], shape[lead + i], lead + i)
        return g


def _pad_scatter(g, idx, n, axis):
    """Transpose of take(x, idx, axis): the identity block is copied, the border is added
    one position at a time (borders are a few elements wide)."""
    shape = list(g.shape)
    shape[axis] = n
    out = xp.zeros(shape, g.dtype)
    lead = (slice(None),) * axis
    for j, src in enumerate(idx.tolist()):
        out[lead + (src,)] += g[lead + (j,)]
    return out


_pad_classes: dict = {}


def _pad_class(mode, n):
    key = (mode, n)
    cls = _pad_classes.get(key)
    if cls is None:
        node = ("torch::autograd::CopySlices" if mode == "circular" else
                f"{'Reflection' if mode == 'reflect' else 'Replication'}Pad{n}DBackward0")
        cls = _pad_classes[key] = type(f"{mode.title()}Pad{n}d", (IndexPad,),
                                       {"_node_name": node})
    return cls


def constant_pad_nd(input, pad, value=0) -> Tensor:
    """Pad the last len(pad)//2 dims with a constant; negative padding crops."""
    x = input._data
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * x.ndim:
        raise RuntimeError("Padding length too large")
    k = len(pad) // 2
    pads = tuple((pad[2 * (k - 1 - i)], pad[2 * (k - 1 - i) + 1]) for i in range(k))
    for i, (lo, hi) in enumerate(pads):
        n = x.shape[x.ndim - k + i]
        if min(lo, 0) + min(hi, 0) < -n:
            raise RuntimeError("narrow(): length must be non-negative.")
        if n + lo + hi < 0:
            raise RuntimeError(f"The input size {n}, plus negative padding {lo} and {hi} resulted "
                               f"in a negative output size, which is invalid. Check dimension "
                               f"{x.ndim - k + i} of your input.")
    if x.dtype.kind in "iub":
        value = int(value)
    return ConstantPad.apply(input, pads, value)


def pad(input, pad, mode: str = "constant", value=None) -> Tensor:
    """Pad the last dims by (left, right, top, bottom, ...): constant/reflect/replicate/circular."""
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    x = input._data
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * x.ndim:
        raise RuntimeError("Padding length should be less than or equal to two times the input "
                           f"dimension but got padding length {len(pad)} and input of dimension "
                           f"{x.ndim}")
    if mode == "constant":
        return constant_pad_nd(input, pad, 0.0 if value is None else value)
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    k = len(pad) // 2
    if k not in (1, 2, 3) or x.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {x.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    nonbatch = x.shape[1:] if x.ndim == k + 2 else x.shape
    if mode != "circular" and any(s == 0 for s in nonbatch):
        raise RuntimeError(f"Expected {k + 1}D or {k + 2}D (batch mode) tensor with possibly 0 "
                           "batch size and other non-zero dimensions for input, but got: "
                           f"{_shape(x)}")
    idxs = []
    for i in range(k):
        lo, hi = pad[2 * (k - 1 - i)], pad[2 * (k - 1 - i) + 1]
        axis = x.ndim - k + i
        n = x.shape[axis]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(f"Argument #{4 + 2 * (k - 1 - i)}: Padding size should be less than "
                               "the corresponding input dimension, but got: padding "
                               f"({lo}, {hi}) at dimension {axis} of input {_shape(x)}")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if n + lo + hi < 0:
            raise RuntimeError(f"input tensor size is too small for the padding: padded size "
                               f"{n + lo + hi} at dimension {axis}")
        idxs.append(_pad_index(n, lo, hi, mode))
    return _pad_class(mode, k).apply(input, tuple(idxs))


# ============================================================================================
# recurrent layers: the whole (multi-layer, bidirectional) recurrence as one Function
# ============================================================================================
def _sigmoid_(a):
    """In-place logistic via tanh: exact to rounding and free of exp overflow warnings."""
    a *= 0.5
    xp.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


_AFFINE: dict = {}


def _lstm_affine(H, dtype):
    """Per-column scale/shift that turn one tanh over the 4H gate block into i, f, o
    sigmoids (sigmoid(a) = 0.5 * tanh(a / 2) + 0.5) and the g tanh: 5 NumPy calls per step
    instead of 9."""
    key = (H, dtype)
    if key not in _AFFINE:
        half = xp.full(H, 0.5, dtype)
        sv = xp.concatenate([half, half, xp.ones(H, dtype), half])
        shv = xp.concatenate([half, half, xp.zeros(H, dtype), half])
        sv.flags.writeable = shv.flags.writeable = False
        _AFFINE[key] = (sv, shv)
    return _AFFINE[key]


def _dir_forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, steps=None, w_hr=None):
    """One direction of one layer over time-major x (T, B, I); returns (out, hT, cT, cache).

    ``steps`` (packed sequences): the number of active rows at each time step, a non-increasing
    prefix of the batch; inactive rows carry their state unchanged, so h_T is each sequence's
    last state (or, reversed, each sequence starts from h0). ``w_hr``: LSTM projection.
    """
    T, B = x.shape[:2]
    H = w_hh.shape[1]
    Hg = w_hh.shape[0] // {"LSTM": 4, "GRU": 3}.get(mode, 1)  # differs from H under proj_size
    xs = x[::-1] if reverse else x
    if steps is not None:
        steps = steps[::-1] if reverse else steps
    gx = xp.matmul(xs.reshape(T * B, -1), w_ih.T)  # the input projection of every step at once
    if b_ih is not None:
        gx += b_ih
        if mode != "GRU":
            gx += b_hh  # GRU keeps b_hn inside r * (W_hn h + b_hn)
    gx = gx.reshape(T, B, -1)
    hs = xp.empty((T + 1, B, H), x.dtype)
    hs[0] = h0
    whh = w_hh.T
    cache = {"xs": xs, "hs": hs, "steps": steps}
    if mode == "LSTM":
        G = Hg
        sv, shv = _lstm_affine(G, x.dtype)
        gx *= sv
        whh = whh * sv
        cs = xp.empty((T + 1, B, G), x.dtype)
        cs[0] = c0
        acts = xp.empty((T, B, 4 * G), x.dtype)
        tcs = xp.empty((T, B, G), x.dtype)
        rs = None if w_hr is None else xp.empty((T, B, G), x.dtype)
        for t in range(T):
            a = xp.matmul(hs[t], whh, out=acts[t])
            a += gx[t]
            xp.tanh(a, out=a)
            a *= sv
            a += shv  # a = [i, f, g, o]
            c = xp.multiply(a[:, G:2 * G], cs[t], out=cs[t + 1])
            c += a[:, :G] * a[:, 2 * G:3 * G]
            if rs is None:
                xp.multiply(a[:, 3 * G:], xp.tanh(c, out=tcs[t]), out=hs[t + 1])
            else:  # h = W_hr (o * tanh(c))
                xp.multiply(a[:, 3 * G:], xp.tanh(c, out=tcs[t]), out=rs[t])
                xp.matmul(rs[t], w_hr.T, out=hs[t + 1])
            if steps is not None and steps[t] < B:
                hs[t + 1, steps[t]:] = hs[t, steps[t]:]
                cs[t + 1, steps[t]:] = cs[t, steps[t]:]
        cache.update(cs=cs, acts=acts, tcs=tcs, rs=rs)
    elif mode == "GRU":
        acts = xp.empty((T, B, 3 * H), x.dtype)
        ghn = xp.empty((T, B, H), x.dtype)
        for t in range(T):
            gh = xp.matmul(hs[t], whh)
            if b_hh is not None:
                gh += b_hh
            a = acts[t]
            xp.add(gx[t, :, :2 * H], gh[:, :2 * H], out=a[:, :2 * H])
            _sigmoid_(a[:, :2 * H])
            ghn[t] = gh[:, 2 * H:]
            n = a[:, 2 * H:]
            xp.multiply(a[:, :H], gh[:, 2 * H:], out=n)
            n += gx[t, :, 2 * H:]
            xp.tanh(n, out=n)
            h = hs[t + 1]
            xp.subtract(hs[t], n, out=h)  # h' = n + z * (h - n)
            h *= a[:, H:2 * H]
            h += n
            if steps is not None and steps[t] < B:
                h[steps[t]:] = hs[t, steps[t]:]
        cache.update(acts=acts, ghn=ghn)
    else:
        relu = mode == "RNN_RELU"
        for t in range(T):
            a = xp.matmul(hs[t], whh, out=hs[t + 1])
            a += gx[t]
            if relu:
                xp.maximum(a, 0, out=a)
            else:
                xp.tanh(a, out=a)
            if steps is not None and steps[t] < B:
                a[steps[t]:] = hs[t, steps[t]:]
    out = hs[1:]
    if reverse:
        out = out[::-1]
    cT = cache["cs"][T] if mode == "LSTM" else None
    return out, hs[T], cT, cache


def _dir_backward(mode, cache, dout, dhT, dcT, w_ih, w_hh, reverse, need_x, w_hr=None):
    """BPTT for one direction; dout (T, B, H) in time order. Returns the input and weight grads.
    The activation derivatives are computed for all steps at once before the time loop.
    Inactive rows of a packed step get no gate gradient and pass dh (and dc) through."""
    xs, hs, steps = cache["xs"], cache["hs"], cache["steps"]
    T, B = xs.shape[:2]
    H = w_hh.shape[1]
    if reverse:
        dout = dout[::-1]
    dh = xp.zeros((B, H), hs.dtype) if dhT is None else dhT.astype(hs.dtype, copy=True)
    gw_hr = None
    if mode == "LSTM":
        cs, acts, tcs, rs = cache["cs"], cache["acts"], cache["tcs"], cache["rs"]
        G = tcs.shape[2]
        D = acts * (1 - acts)  # sigmoid' for i, f, o ...
        g_all = acts[:, :, 2 * G:3 * G]
        xp.subtract(1, g_all * g_all, out=D[:, :, 2 * G:3 * G])  # ... and tanh' for g
        dtc = 1 - tcs * tcs
        dc = xp.zeros((B, G), hs.dtype) if dcT is None else dcT.astype(hs.dtype, copy=True)
        dg_all = xp.empty((T, B, 4 * G), hs.dtype)
        if rs is not None:
            gw_hr = xp.zeros(w_hr.shape, hs.dtype)
        for t in range(T - 1, -1, -1):
            dh += dout[t]
            n_act = B if steps is None else steps[t]
            if n_act < B:
                keep_h, keep_c = dh[n_act:].copy(), dc[n_act:].copy()
            if rs is not None:
                gw_hr += xp.matmul(dh[:n_act].T, rs[t, :n_act])
                dh = xp.matmul(dh, w_hr)  # now dL/d(o * tanh(c))
            a = acts[t]
            da = dg_all[t]
            xp.multiply(dh, tcs[t], out=da[:, 3 * G:])
            tmp = dh * a[:, 3 * G:]
            tmp *= dtc[t]
            dc += tmp
            xp.multiply(dc, a[:, 2 * G:3 * G], out=da[:, :G])
            xp.multiply(dc, cs[t], out=da[:, G:2 * G])
            xp.multiply(dc, a[:, :G], out=da[:, 2 * G:3 * G])
            da *= D[t]
            dc *= a[:, G:2 * G]
            if n_act < B:
                da[n_act:] = 0
            dh = xp.matmul(da, w_hh)
            if n_act < B:
                dh[n_act:], dc[n_act:] = keep_h, keep_c
        dgx = dgh = dg_all
        dc0 = dc
    elif mode == "GRU":
        acts, ghn = cache["acts"], cache["ghn"]
        D = acts * (1 - acts)  # sigmoid' for r, z
        n_all = acts[:, :, 2 * H:]
        xp.subtract(1, n_all * n_all, out=D[:, :, 2 * H:])  # tanh' for n
        dgx = xp.empty((T, B, 3 * H), hs.dtype)
        dgh = xp.empty((T, B, 3 * H), hs.dtype)
        for t in range(T - 1, -1, -1):
            dh += dout[t]
            n_act = B if steps is None else steps[t]
            keep_h = dh[n_act:].copy()
            a = acts[t]
            r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
            dx_t, dh_t = dgx[t], dgh[t]
            Dt = D[t]
            dan = xp.subtract(dh, dh * z, out=dx_t[:, 2 * H:])  # dL/dn = dh * (1 - z)
            dan *= Dt[:, 2 * H:]
            xp.multiply(dan, ghn[t], out=dx_t[:, :H])  # dL/dr
            xp.subtract(hs[t], n, out=dx_t[:, H:2 * H])
            dx_t[:, H:2 * H] *= dh  # dL/dz
            dx_t[:, :2 * H] *= Dt[:, :2 * H]
            dh_t[:, :2 * H] = dx_t[:, :2 * H]
            xp.multiply(dx_t[:, 2 * H:], r, out=dh_t[:, 2 * H:])
            if n_act < B:
                dx_t[n_act:] = 0
                dh_t[n_act:] = 0
            dh = dh * z + xp.matmul(dh_t, w_hh)
            dh[n_act:] = keep_h
        dc0 = None
    else:
        relu = mode == "RNN_RELU"
        D = (hs[1:] > 0) if relu else 1 - hs[1:] * hs[1:]
        dgx = xp.empty((T, B, H), hs.dtype)
        for t in range(T - 1, -1, -1):
            dh += dout[t]
            n_act = B if steps is None else steps[t]
            xp.multiply(dh, D[t], out=dgx[t])
            if n_act < B:
                dgx[t, n_act:] = 0
                keep_h = dh[n_act:].copy()
            dh = xp.matmul(dgx[t], w_hh)
            if n_act < B:
                dh[n_act:] = keep_h
        dgh = dgx
        dc0 = None
    G = dgx.shape[2]
    dgx2 = dgx.reshape(T * B, G)
    dgh2 = dgh.reshape(T * B, G)
    grads = {
        "w_ih": xp.matmul(dgx2.T, xs.reshape(T * B, -1)),
        "w_hh": xp.matmul(dgh2.T, hs[:-1].reshape(T * B, H)),
        "b_ih": dgx2.sum(0),
        "b_hh": dgh2.sum(0),
        "w_hr": gw_hr,
    }
    dx = None
    if need_x:
        dx = xp.matmul(dgx2, w_ih).reshape(T, B, -1)
        if reverse:
            dx = dx[::-1]
    return dx, dh, dc0, grads


class RNNImpl(Function):
    """A whole multi-layer (bidirectional) RNN / LSTM / GRU: forward loops over time in NumPy,
    backward is BPTT in NumPy. Weights arrive flat, PyTorch's order: per layer and direction
    w_ih, w_hh[, b_ih, b_hh]."""

    _node_name = "StackBackward0"

    @staticmethod
    def forward(ctx, x, h0, c0, *weights, mode, num_layers, bidirectional, has_biases, masks,
                batch_first, unbatched, batch_sizes=None, proj=False):
        if unbatched:
            x = x[:, None]
            h0 = h0[:, None]
            c0 = c0[:, None] if c0 is not None else None
        elif batch_first:
            x = x.transpose(1, 0, 2)
        D = 2 if bidirectional else 1
        per = (4 if has_biases else 2) + (1 if proj else 0)
        layer_in = x
        hn, cn, caches, inputs = [], [], [], []
        for layer in range(num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                w = weights[k * per:(k + 1) * per]
                b_ih, b_hh = (w[2], w[3]) if has_biases else (None, None)
                out, hT, cT, cache = _dir_forward(mode, layer_in, h0[k],
                                                  None if c0 is None else c0[k], w[0], w[1],
                                                  b_ih, b_hh, d == 1, batch_sizes,
                                                  w[-1] if proj else None)
                outs.append(out)
                hn.append(hT)
                cn.append(cT)
                caches.append(cache)
            inputs.append(layer_in)
            out = outs[0] if D == 1 else xp.concatenate(outs, 2)
            if layer < num_layers - 1 and masks is not None:
                out = out * masks[layer]
            layer_in = out
        y = layer_in
        h_n = xp.stack(hn)
        c_n = xp.stack(cn) if mode == "LSTM" else None
        if ctx.needs_input_grad:
            ctx.state = (caches, weights, masks, mode, num_layers, D, per, has_biases,
                         batch_first, unbatched, proj)
        if unbatched:
            y, h_n = y[:, 0], h_n[:, 0]
            c_n = c_n[:, 0] if c_n is not None else None
        elif batch_first:
            y = y.transpose(1, 0, 2)
        return (y, h_n, c_n) if mode == "LSTM" else (y, h_n)

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n=None):
        _no_double_backward(ctx.name(), dy)
        (caches, weights, masks, mode, num_layers, D, per, has_biases, batch_first,
         unbatched, proj) = ctx.state
        if unbatched:
            dy, dh_n = dy[:, None], dh_n[:, None]
            dc_n = dc_n[:, None] if dc_n is not None else None
        elif batch_first:
            dy = dy.transpose(1, 0, 2)
        needs = ctx.needs_input_grad
        gw = [None] * len(weights)
        gh0 = [None] * (num_layers * D)
        gc0 = [None] * (num_layers * D)
        dout = dy
        dx = None
        for layer in range(num_layers - 1, -1, -1):
            H = weights[1].shape[1]
            dx = None
            for d in range(D):
                k = layer * D + d
                w = weights[k * per:(k + 1) * per]
                dslice = dout[:, :, d * H:(d + 1) * H] if D > 1 else dout
                need_x = layer > 0 or needs[0]
                dxd, dh0, dc0, g = _dir_backward(
                    mode, caches[k], dslice, dh_n[k], None if dc_n is None else dc_n[k],
                    w[0], w[1], d == 1, need_x, w[-1] if proj else None)
                gw[k * per], gw[k * per + 1] = g["w_ih"], g["w_hh"]
                if has_biases:
                    gw[k * per + 2], gw[k * per + 3] = g["b_ih"], g["b_hh"]
                if proj:
                    gw[k * per + per - 1] = g["w_hr"]
                gh0[k], gc0[k] = dh0, dc0
                if dxd is not None:
                    dx = dxd if dx is None else dx + dxd
            if layer > 0 and masks is not None:
                dx = dx * masks[layer - 1]
            dout = dx
        gx = dx if needs[0] else None
        if gx is not None:
            if unbatched:
                gx = gx[:, 0]
            elif batch_first:
                gx = gx.transpose(1, 0, 2)
        gh = xp.stack(gh0) if needs[1] else None
        gc = xp.stack(gc0) if mode == "LSTM" and needs[2] else None
        if unbatched:
            gh = gh[:, 0] if gh is not None else None
            gc = gc[:, 0] if gc is not None else None
        return (gx, gh, gc) + tuple(gw)


_RNNImplT = _renamed(RNNImpl, "TransposeBackward0")


_RNNImplCat = _renamed(RNNImpl, "CatBackward0")


def _rnn_masks(x, num_layers, hidden, D, dropout, train, batch_first, unbatched):
    if not (train and dropout > 0 and num_layers > 1):
        return None
    # in the function: nn.functional imports this module's kernels at its import (a cycle)
    from ..nn.functional import _keep_mask

    T = x.shape[0] if (unbatched or not batch_first) else x.shape[1]
    B = 1 if unbatched else (x.shape[0] if batch_first else x.shape[1])
    masks = []
    for _ in range(num_layers - 1):
        masks.append(_keep_mask((T, B, D * hidden), dropout, x.dtype))  # F.dropout's draws
    return masks


def _rnn(mode, input, hx, cx, params, has_biases, num_layers, dropout, train, bidirectional,
         batch_first, batch_sizes=None):
    x = input._data
    unbatched = x.ndim == 2
    params = list(params)
    D = 2 if bidirectional else 1
    H = params[1].shape[1]
    per = 4 if has_biases else 2
    proj = mode == "LSTM" and len(params) == num_layers * D * (per + 1)
    if batch_sizes is not None:  # input is the padded (T, B, I) form of a packed sequence
        batch_sizes = xp.asarray(batch_sizes, xp.int64)
        batch_first = False
    masks = _rnn_masks(x, num_layers, H, D, float(dropout), train, batch_first, unbatched)
    cls = _RNNImplCat if bidirectional else (_RNNImplT if batch_first and not unbatched
                                             else RNNImpl)
    return cls.apply(input, hx, cx, *params, mode=mode, num_layers=int(num_layers),
                     bidirectional=bool(bidirectional), has_biases=bool(has_biases),
                     masks=masks, batch_first=bool(batch_first), unbatched=unbatched,
                     batch_sizes=batch_sizes, proj=proj)


def rnn_tanh(input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
             batch_first, *, batch_sizes=None):
    """The Elman RNN with tanh over a whole sequence: returns (output, h_n)."""
    return _rnn("RNN_TANH", input, hx, None, params, has_biases, num_layers, dropout, train,
                bidirectional, batch_first, batch_sizes)


def rnn_relu(input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
             batch_first, *, batch_sizes=None):
    """The Elman RNN with ReLU over a whole sequence: returns (output, h_n)."""
    return _rnn("RNN_RELU", input, hx, None, params, has_biases, num_layers, dropout, train,
                bidirectional, batch_first, batch_sizes)


def lstm(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first,
         *, batch_sizes=None):
    """LSTM over a whole sequence; hx = (h0, c0); returns (output, h_n, c_n).

    With proj_size, params hold w_hr after each layer's biases (PyTorch's order).
    ``batch_sizes``: input is a packed sequence padded to (T, B, I), time-major."""
    return _rnn("LSTM", input, hx[0], hx[1], params, has_biases, num_layers, dropout, train,
                bidirectional, batch_first, batch_sizes)


def gru(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first,
        *, batch_sizes=None):
    """GRU over a whole sequence: returns (output, h_n)."""
    return _rnn("GRU", input, hx, None, params, has_biases, num_layers, dropout, train,
                bidirectional, batch_first, batch_sizes)


# ---- single steps (the *Cell modules) ------------------------------------------------------
class RNNCellImpl(Function):
    """One step of an RNN / LSTM / GRU cell, fused: x (B, I), h (B, H)[, c (B, H)]."""

    _node_name = "TanhBackward0"

    @staticmethod
    def forward(ctx, x, h, c, w_ih, w_hh, b_ih, b_hh, mode):
        unbatched = x.ndim == 1
        if unbatched:
            x, h = x[None], h[None]
            c = c[None] if c is not None else None
        out, hT, cT, cache = _dir_forward(mode, x[None], h, c, w_ih, w_hh, b_ih, b_hh, False)
        if ctx.needs_input_grad:
            ctx.state = (cache, w_ih, w_hh, mode, unbatched, b_ih is not None)
        if unbatched:
            hT = hT[0]
            cT = cT[0] if cT is not None else None
        return (hT, cT) if mode == "LSTM" else hT

    @staticmethod
    def backward(ctx, dh, dc=None):
        _no_double_backward(ctx.name(), dh)
        cache, w_ih, w_hh, mode, unbatched, has_b = ctx.state
        if unbatched:
            dh = dh[None]
            dc = dc[None] if dc is not None else None
        zeros = xp.zeros((1,) + dh.shape, dh.dtype)
        dx, dh0, dc0, g = _dir_backward(mode, cache, zeros, dh, dc, w_ih, w_hh, False,
                                        ctx.needs_input_grad[0])
        dx = dx[0] if dx is not None else None
        if unbatched:
            dx = dx[0] if dx is not None else None
            dh0 = dh0[0]
            dc0 = dc0[0] if dc0 is not None else None
        gb = (g["b_ih"], g["b_hh"]) if has_b else (None, None)
        return (dx, dh0, dc0, g["w_ih"], g["w_hh"]) + gb


_cell_classes = {name: type(name, (RNNCellImpl,), {"_node_name": node}) for name, node in
                 (("RNNTanhCell", "TanhBackward0"), ("RNNReluCell", "ReluBackward0"),
                  ("LSTMCellImpl", "MulBackward0"), ("GRUCellImpl", "AddBackward0"))}


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None) -> Tensor:
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""
    return _cell_classes["RNNTanhCell"].apply(input, hx, None, w_ih, w_hh, b_ih, b_hh,
                                              "RNN_TANH")


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None) -> Tensor:
    """h' = relu(W_ih x + b_ih + W_hh h + b_hh)."""
    return _cell_classes["RNNReluCell"].apply(input, hx, None, w_ih, w_hh, b_ih, b_hh,
                                              "RNN_RELU")


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step; hx = (h, c); returns (h', c'). Gates in PyTorch's order i, f, g, o."""
    return _cell_classes["LSTMCellImpl"].apply(input, hx[0], hx[1], w_ih, w_hh, b_ih, b_hh,
                                               "LSTM")


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None) -> Tensor:
    """One GRU step (gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)))."""
    return _cell_classes["GRUCellImpl"].apply(input, hx, None, w_ih, w_hh, b_ih, b_hh, "GRU")
