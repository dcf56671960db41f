"""nn.functional: layers, activations, dropout, normalisation and losses as functions.

Fused Functions (one graph node, NumPy forward and backward) are used where they are faster or
more accurate than a composition: linear, the common activations, batch/layer/group norm,
embedding, and the losses PyTorch implements natively. Everything else is composed from ember
ops, as PyTorch composes it. Convolution, pooling, softmax and cross-entropy live in
``ember/_ops/nn_ops.py`` and are re-exported here.
"""
from __future__ import annotations

import itertools
import math
import warnings

from .. import _creation, _dtype, _random
from .._backend import xp
from .._creation import empty_like as _empty_like
from .._creation import linspace as _linspace
from .._creation import tensor as _new_tensor
from .._creation import zeros as _zeros
from .._creation import zeros_like as _zeros_like
from .._device import Size as _Size
from .._ops._gelu import gelu_f32 as _gelu_f32
from .._ops._gelu import gelu_grad as _gelu_grad
from .._ops._layernorm import col_sum as _col_sum
from .._ops._layernorm import layer_norm_backward as _ln_backward
from .._ops._layernorm import layer_norm_forward as _ln_forward
from .._ops._special import erfc as _erfc
from .._ops._sumorder import tsum as _tsum
from .._ops._util import renamed as _renamed
from .._ops.elementwise import _rebase, _tname
from .._ops.elementwise import div as _div
from .._ops.elementwise import minimum as _minimum
from .._ops.elementwise import where as _where
from .._ops.linalg import einsum as _einsum_t
from .._ops.movement import cat as _cat
from .._tensor import Tensor, _make
from ..autograd import grad_mode
from ..autograd.function import Function
from ._batchnorm import _verify_batch_size, batch_norm  # noqa: F401  (public here)

_grad_state = grad_mode._state

# ---- reductions ---------------------------------------------------------------------------------


def _reduction(size_average, reduce, reduction):
    """The reduction string, from the legacy flags (with PyTorch's warning) or validated."""
    if size_average is not None or reduce is not None:
        sa = True if size_average is None else size_average
        rd = True if reduce is None else reduce
        ret = "mean" if (sa and rd) else "sum" if rd else "none"
        warnings.warn(f"size_average and reduce args will be deprecated, please use "
                      f"reduction='{ret}' instead.", stacklevel=3)
        return ret
    if reduction in ("none", "mean", "sum"):
        return reduction
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' "
                      "instead.", stacklevel=3)
        return "mean"
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _apply_reduction(t, reduction):
    if reduction == "mean":
        return t.mean()
    if reduction == "sum":
        return t.sum()
    return t


def _np_reduce(arr, reduction):
    """A loss's reduction, summing in PyTorch's order (so printed losses match digit for digit)."""
    if reduction == "mean":
        total = _tsum(arr, None, None, False)
        return xp.asarray(total / arr.dtype.type(arr.size) if arr.size else xp.nan, dtype=arr.dtype)
    if reduction == "sum":
        return xp.asarray(_tsum(arr, None, None, False), dtype=arr.dtype)
    return arr


def _np_reduce_grad(grad, reduction, n):
    """The upstream grad of a reduced loss, ready to multiply the pointwise derivative."""
    if reduction == "mean":
        return grad / n if n else grad
    return grad


def _size_warning(input, target):
    if input._data.shape != target._data.shape:
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.", stacklevel=3)


def _float_pair(a, b):
    """Both operands as float arrays of PyTorch's promoted dtype."""
    ad, bd = a._data, b._data
    if ad.dtype == bd.dtype and ad.dtype.kind == "f":
        return ad, bd
    dt = _dtype.result_type(a, b)
    if not dt.is_floating_point:
        dt = _dtype.get_default_dtype()
    return ad.astype(dt.np, copy=False), bd.astype(dt.np, copy=False)


def _t(x):
    return x if isinstance(x, Tensor) else _make(xp.asarray(x), False, None, 0)


def _inplace_result(input, out):
    """Write an out-of-place result into ``input`` (the inplace=True forms)."""
    input._check_inplace()
    return _rebase(input, out)


def _apply_inplace(cls, input, *args):
    """cls applied to ``input`` with the result written back into it (PyTorch's op_)."""
    input._check_inplace()
    if _grad_state[0] and input._requires_grad:
        # the backward must see the values from before the overwrite: give it a private copy
        # that is the same node of the graph as ``input``
        src = _make(input._data.copy(), True, input._grad_fn, input._output_nr)
        return _rebase(input, cls.apply(src, *args))
    return _rebase(input, cls.apply(input, *args))


def _apply_maybe_inplace(cls, input, inplace, *args):
    """cls.apply(input, *args), written back into ``input`` when ``inplace`` (the op_ forms)."""
    if inplace:
        return _apply_inplace(cls, input, *args)
    return cls.apply(input, *args)


def _dt_name(dt):
    return {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
            "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
            "bool": "bool"}.get(xp.dtype(dt).name, xp.dtype(dt).name)


def _no_double_backward(ctx, grad):
    # PyTorch has no double backward for these losses either
    if isinstance(grad, Tensor):
        raise RuntimeError(f"{ctx.name()} does not support double backward (create_graph=True)")


# ---- linear layers ----------------------------------------------------------------------------


class _Linear(Function):
    """y = x W^T + b as one BLAS call with the bias added in place (PyTorch's addmm)."""

    _node_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, x, w, b):
        nd = x.ndim
        x2 = x if nd == 2 else x.reshape(-1, x.shape[-1])
        out = x2 @ w.T
        if b is not None:
            out += b
        ni = ctx.needs_input_grad
        if ni:
            ctx.save_for_backward(x if ni[1] else None, w if ni[0] else None)
            ctx.xshape = x.shape
        if nd != 2:
            out = out.reshape(x.shape[:-1] + (w.shape[0],))
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        ni = ctx.needs_input_grad
        g2 = grad if grad.ndim == 2 else grad.reshape(-1, grad.shape[-1])
        if g2.__class__ is xp.ndarray and not (g2.flags.c_contiguous or g2.flags.f_contiguous):
            # e.g. the stride-0 grad of a sum: NumPy's matmul only calls BLAS on dense arrays
            g2 = xp.ascontiguousarray(g2)
        gx = gw = gb = None
        if ni[0]:
            gx = g2 @ w
            if grad.ndim != 2:
                gx = gx.reshape(ctx.xshape)
        if ni[1]:
            x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
            # a batch of one: the outer product as a broadcast multiply (same single term;
            # NumPy's matmul is ~5x slower on (n, 1) @ (1, m))
            gw = g2.T * x2 if g2.shape[0] == 1 else g2.T @ x2
        if ni[2]:
            gb = _col_sum(g2)  # a GEMV: 2x faster than g2.sum(0) (ember/_ops/_layernorm.py)
        return gx, gw, gb

    @property
    def next_functions(self):
        # as PyTorch's addmm(bias, input, weight.t()) / mm(input, weight.t()) show them
        x, w, b = Function.next_functions.fget(self)
        if self._node_name not in ("AddmmBackward0", "MmBackward0"):
            return x, w, b
        if w[0] is not None:
            w = (_TBackward0(w), 0)
        return (b, x, w) if self._node_name == "AddmmBackward0" else (x, w)


class _TBackward0:
    """The transpose node PyTorch's graph has between a linear layer's weight and addmm/mm."""

    def __init__(self, edge):
        self.next_functions = (edge,)

    def name(self):
        return "TBackward0"

    def __repr__(self):
        return f"<TBackward0 object at {hex(id(self))}>"


_LinearMm = _renamed(_Linear, "MmBackward0")


_LinearView = _renamed(_Linear, "ViewBackward0")


_LinearUnsafeView = _renamed(_Linear, "UnsafeViewBackward0")


_LinearSqueeze = _renamed(_Linear, "SqueezeBackward4")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b for input (*, in_features), weight (out_features, in_features)."""
    xd, wd = input._data, weight._data
    nd = xd.ndim
    if nd == 0 or wd.ndim != 2 or xd.shape[-1] != wd.shape[1]:
        if wd.ndim != 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{wd.ndim}D")
        rows = int(xp.prod(xd.shape[:-1])) if nd > 1 else 1
        k = xd.shape[-1] if nd else 1
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{k} and "
                           f"{wd.shape[1]}x{wd.shape[0]})")
    if xd.dtype != wd.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_dt_name(xd.dtype)} != {_dt_name(wd.dtype)}")
    if bias is not None:
        bd = bias._data
        if bd.shape not in ((wd.shape[0],), (1,), ()):
            shape = list(xd.shape[:-1]) + [wd.shape[0]] if nd > 1 else [1, wd.shape[0]]
            raise RuntimeError(
                f"The expanded size of the tensor ({wd.shape[0]}) must match the existing size "
                f"({bd.shape[-1]}) at non-singleton dimension {len(shape) - 1}.  Target sizes: "
                f"{shape}.  Tensor sizes: {list(bd.shape)}")
        if bd.dtype != xd.dtype:
            raise RuntimeError(f"self and mat2 must have the same dtype, but got "
                               f"{_dt_name(bd.dtype).capitalize()} and "
                               f"{_dt_name(xd.dtype).capitalize()}")
        cls = _Linear if nd == 2 else _LinearView
    else:
        cls = _LinearMm if nd == 2 else _LinearSqueeze if nd == 1 else _LinearUnsafeView
    return cls.apply(input, weight, bias)


def _einsum(spec, *ops):
    """xp.einsum on arrays; ember.einsum (differentiable) on Tensors under create_graph."""
    if any(isinstance(o, Tensor) for o in ops):
        return _einsum_t(spec, *[_t(o) for o in ops])
    return xp.einsum(spec, *ops, optimize=True)


class _Bilinear(Function):
    _node_name = "ViewBackward0"

    @staticmethod
    def forward(ctx, x1, x2, w, b):
        lead = x1.shape[:-1]
        a = x1.reshape(-1, x1.shape[-1])
        c = x2.reshape(-1, x2.shape[-1])
        out = xp.einsum("ni,oij,nj->no", a, w, c, optimize=True)
        if b is not None:
            out += b
        ctx.save_for_backward(x1, x2, w)
        return out.reshape(lead + (w.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        x1, x2, w = ctx.saved_tensors
        ni = ctx.needs_input_grad
        g = grad.reshape(-1, grad.shape[-1])
        a = x1.reshape(-1, x1.shape[-1])
        c = x2.reshape(-1, x2.shape[-1])
        g1 = _einsum("no,oij,nj->ni", g, w, c).reshape(x1.shape) if ni[0] else None
        g2 = _einsum("no,oij,ni->nj", g, w, a).reshape(x2.shape) if ni[1] else None
        gw = _einsum("no,ni,nj->oij", g, a, c) if ni[2] else None
        gb = g.sum(0) if ni[3] else None
        return g1, g2, gw, gb


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x1^T W x2 + b, weight of shape (out, in1, in2)."""
    w = weight._data
    if input1._data.shape[-1] != w.shape[1]:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got "
                           f"{input1._data.shape[-1]} but expected {w.shape[1]}")
    if input2._data.shape[-1] != w.shape[2]:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got "
                           f"{input2._data.shape[-1]} but expected {w.shape[2]}")
    if input1._data.shape[:-1] != input2._data.shape[:-1]:
        raise RuntimeError("bilinear(): input batch dimensions do not match: got "
                           f"{list(input1._data.shape[:-1])} and {list(input2._data.shape[:-1])}")
    return _Bilinear.apply(input1, input2, weight, bias)


# ---- activations ------------------------------------------------------------------------------


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return input.relu_() if inplace else input.relu()


def relu_(input: Tensor) -> Tensor:
    """In-place relu."""
    return input.relu_()


class _Threshold(Function):
    _node_name = "ThresholdBackward0"

    @staticmethod
    def forward(ctx, x, threshold, value):
        mask = x > threshold
        ctx.save_for_backward(mask)
        return xp.where(mask, x, xp.asarray(value, x.dtype))

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None


def _threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    return _apply_maybe_inplace(_Threshold, input, inplace, threshold, value)


threshold = _threshold


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place threshold."""
    return _threshold(input, threshold, value, True)


class _LeakyRelu(Function):
    _node_name = "LeakyReluBackward0"

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return xp.where(x > 0, x, x * slope)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return xp.where(x > 0, grad, grad * ctx.slope), None


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    return _apply_maybe_inplace(_LeakyRelu, input, inplace, negative_slope)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place leaky_relu."""
    return leaky_relu(input, negative_slope, True)


class _Elu(Function):
    """PyTorch's elu(x, alpha, scale, input_scale), which also gives selu."""

    _node_name = "EluBackward0"

    @staticmethod
    def forward(ctx, x, alpha, scale, input_scale):
        ctx.save_for_backward(x)
        ctx.c = (alpha, scale, input_scale)
        neg = xp.expm1(xp.minimum(x, 0) * input_scale) * (alpha * scale)
        return xp.where(x > 0, x * scale, neg).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        alpha, scale, input_scale = ctx.c
        neg = grad * xp.exp(xp.minimum(x, 0) * input_scale) * (alpha * scale * input_scale)
        return xp.where(x > 0, grad * scale, neg), None, None, None


_Celu = _renamed(_Elu, "CeluBackward0")


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _apply_maybe_inplace(_Elu, input, inplace, alpha, 1.0, 1.0)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place elu."""
    return elu(input, alpha, True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants."""
    return _apply_maybe_inplace(_Elu, input, inplace, _SELU_ALPHA, _SELU_SCALE, 1.0)


def selu_(input: Tensor) -> Tensor:
    """In-place selu."""
    return selu(input, True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (exp(x / alpha) - 1)."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    return _apply_maybe_inplace(_Celu, input, inplace, alpha, 1.0, 1.0 / alpha)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place celu."""
    return celu(input, alpha, True)


_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _phi(x):
    """The standard normal CDF, 0.5 erfc(-x/sqrt 2), accurate in the left tail too.

    Arrays: float64 through Cody's erfc (full precision); the create_graph backward of
    float32 and lower GELU (Tensors) composes differentiable ops.
    """
    if isinstance(x, Tensor):  # a create_graph backward: differentiable ops
        return 0.5 * (1 + (x * _INV_SQRT_2).erf())
    return 0.5 * _erfc(x * -_INV_SQRT_2)


class _Gelu(Function):
    _node_name = "GeluBackward0"

    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            t = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
            ctx.cache = t  # reused by backward (a Tensor backward recomputes it)
            return (0.5 * x * (1.0 + t)).astype(x.dtype, copy=False)
        need = bool(ctx.needs_input_grad and ctx.needs_input_grad[0])
        if x.dtype == xp.float64:
            cdf = _phi(x)
            ctx.cache = (cdf + x * _INV_SQRT_2PI * xp.exp(-0.5 * x * x)) if need else None
            return x * cdf
        # float32 (and float16 through it): one kernel for the value and the derivative,
        # exact to a few ulps (ember/_ops/_gelu.py has the formulation and its error bound)
        x32 = x if x.dtype == xp.float32 else x.astype(xp.float32)
        out, d = _gelu_f32(x32, need)
        ctx.cache = d if d is None or d.dtype == x.dtype else d.astype(x.dtype)
        return out if out.dtype == x.dtype else out.astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        graph = isinstance(x, Tensor)
        if ctx.approximate == "tanh":
            x2 = x * x
            t = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x2 * x)) if graph else ctx.cache
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x2)
        elif graph:
            d = _phi(x) + x * _INV_SQRT_2PI * (-0.5 * x * x).exp()
        else:
            d = ctx.cache  # Phi(x) + x phi(x), from the forward
            if grad.__class__ is xp.ndarray:
                return _gelu_grad(grad, d), None
        return grad * d, None


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x); approximate='tanh' uses the tanh formula."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _Gelu.apply(input, approximate)


def _sigmoid_np(x):
    """sigmoid of an array, or of a Tensor (inside a create_graph backward)."""
    if isinstance(x, Tensor):
        return x.sigmoid()
    # 1/(1+exp(-x)) overflows for x << 0; the tanh form is stable everywhere
    s = xp.tanh(x * 0.5)
    s *= 0.5
    s += 0.5
    return s


class _Silu(Function):
    _node_name = "SiluBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        sig = _sigmoid_np(x)
        ctx.cache = sig  # reused by backward (a Tensor backward recomputes it)
        return x * sig

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        sig = _sigmoid_np(x) if isinstance(x, Tensor) else ctx.cache
        return grad * (sig * (1 + x * (1 - sig)))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (swish)."""
    return _apply_maybe_inplace(_Silu, input, inplace)


def _softplus_np(x):
    """log(1 + exp(x)), stably; for arrays or Tensors."""
    if isinstance(x, Tensor):
        return x.clamp_min(0) + (-x.abs()).exp().log1p()
    return xp.logaddexp(xp.zeros((), x.dtype), x)


class _Mish(Function):
    _node_name = "MishBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * xp.tanh(_softplus_np(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        t = xp.tanh(_softplus_np(x))
        return grad * (t + x * _sigmoid_np(x) * (1 - t * t))


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    return _apply_maybe_inplace(_Mish, input, inplace)


class _Hardtanh(Function):
    _node_name = "HardtanhBackward0"

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return xp.clip(x, lo, hi).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ((x > ctx.lo) & (x < ctx.hi)), None, None


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """clamp(x, min_val, max_val)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _apply_maybe_inplace(_Hardtanh, input, inplace, min_val, max_val)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place hardtanh."""
    return hardtanh(input, min_val, max_val, True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


class _Hardsigmoid(Function):
    _node_name = "HardsigmoidBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (xp.clip(x + 3, 0, 6) / 6).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ((x > -3) & (x < 3)) * (1.0 / 6)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6."""
    return _apply_maybe_inplace(_Hardsigmoid, input, inplace)


class _Hardswish(Function):
    _node_name = "HardswishBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x * xp.clip(x + 3, 0, 6) / 6).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return xp.where(x < -3, grad * 0, xp.where(x <= 3, grad * (x / 3 + 0.5), grad))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6."""
    return _apply_maybe_inplace(_Hardswish, input, inplace)


class _Softplus(Function):
    _node_name = "SoftplusBackward0"

    @staticmethod
    def forward(ctx, x, beta, threshold):
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        bx = x * beta
        # log1p(exp(bx)) / beta, reverting to x where bx > threshold (as PyTorch)
        return xp.where(bx > threshold, x, _softplus_np(bx) / beta).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        bx = x * ctx.beta
        return xp.where(bx > ctx.threshold, grad, grad * _sigmoid_np(bx)), None, None


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear above ``threshold``."""
    return _Softplus.apply(input, beta, threshold)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (input.abs() + 1)


class _LogSigmoid(Function):
    _node_name = "LogSigmoidBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return -_softplus_np(-x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * _sigmoid_np(-x)


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)), computed stably."""
    return _LogSigmoid.apply(input)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    return input - input.tanh()


def _check_lambd(input, lambd):
    if lambd < 0:
        raise RuntimeError(f"lambda must be in range [0, 3.40282e+38] for input dtype "
                           f"{_dt_name(input._data.dtype).capitalize()}, but found {lambd:g}")


class _Shrink(Function):
    """Base of soft/hardshrink: the grad passes where |x| > lambd (the mask forward saves)."""

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None


class _Softshrink(_Shrink):
    _node_name = "SoftshrinkBackward0"

    @staticmethod
    def forward(ctx, x, lambd):
        mask = xp.abs(x) > lambd
        ctx.save_for_backward(mask)
        return xp.where(mask, x - xp.sign(x) * lambd, 0).astype(x.dtype, copy=False)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd*sign(x) where |x| > lambd, else 0."""
    _check_lambd(input, lambd)
    return _Softshrink.apply(input, lambd)


class _Hardshrink(_Shrink):
    _node_name = "HardshrinkBackward0"

    @staticmethod
    def forward(ctx, x, lambd):
        mask = xp.abs(x) > lambd
        ctx.save_for_backward(mask)
        return xp.where(mask, x, 0).astype(x.dtype, copy=False)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    return _Hardshrink.apply(input, lambd)


class _Glu(Function):
    _node_name = "GluBackward0"

    @staticmethod
    def forward(ctx, x, dim):
        a, b = xp.split(x, 2, axis=dim)
        ctx.save_for_backward(x)
        ctx.dim = dim
        return a * _sigmoid_np(b)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        a, b = xp.split(x, 2, axis=ctx.dim)
        s = _sigmoid_np(b)
        return xp.concatenate([grad * s, grad * a * s * (1 - s)], axis=ctx.dim), None


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), where a and b are the two halves of ``input`` along ``dim``."""
    nd = input._data.ndim
    if nd == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = dim + nd if dim < 0 else dim
    if not 0 <= d < nd:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                         f"but got {dim})")
    n = input._data.shape[d]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {n}")
    return _Glu.apply(input, d)


class _Prelu(Function):
    _node_name = "PreluKernelBackward0"

    @staticmethod
    def forward(ctx, x, w, wshape):
        wb = w.reshape(wshape)
        ctx.save_for_backward(x, w)
        ctx.wshape = wshape
        return xp.where(x > 0, x, wb * x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        pos = x > 0
        gx = xp.where(pos, grad, grad * w.reshape(ctx.wshape)) if ctx.needs_input_grad[0] else None
        gw = None
        if ctx.needs_input_grad[1]:
            # reduce over every dim but the channel one ourselves: the engine aligns trailing
            # dims, which would be wrong for a (C,) weight against an (N, C, H, W) input
            gfull = xp.where(pos, grad * 0, grad * x)
            keep = [i for i, s in enumerate(ctx.wshape) if s != 1]
            axes = tuple(i for i in range(gfull.ndim) if i not in keep)
            gw = gfull.sum(axis=axes).reshape(w.shape) if axes else gfull.reshape(w.shape)
        return gx, gw, None


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """max(0, x) + weight * min(0, x), weight broadcast over the channel dim 1."""
    nd = input._data.ndim
    wn = weight._data.size
    if weight._data.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = "
                           f"{weight._data.ndim}")
    if wn != 1:
        channels = input._data.shape[1] if nd > 1 else 1
        if channels != wn:
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found "
                               f"parameter numbers = {wn} and channel size = {channels}.")
    if weight._data.dtype != input._data.dtype:
        raise RuntimeError(f"prelu: Type promoting not supported. Got "
                           f"{_dt_name(input._data.dtype).capitalize()} and "
                           f"{_dt_name(weight._data.dtype).capitalize()}")
    wshape = [1] * nd
    if nd > 1:
        wshape[1] = wn
    elif nd == 1:
        wshape[0] = wn
    return _Prelu.apply(input, weight, tuple(wshape))


class _MaskMul(Function):
    """x * m for a constant array m (rrelu's noise, dropout's scaled keep-mask)."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None


_Rrelu = _renamed(_MaskMul, "RreluWithNoiseBackward0")


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Leaky ReLU with a random slope in [lower, upper] (their mean in eval)."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    x = input._data
    u = _random.rand(*x.shape, dtype=input.dtype)._data
    noise = _t(xp.where(x >= 0, 1, lower + (upper - lower) * u).astype(x.dtype, copy=False))
    return _apply_maybe_inplace(_Rrelu, input, inplace, noise)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    """In-place rrelu."""
    return rrelu(input, lower, upper, training, True)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x))."""
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    """tanh(x)."""
    return input.tanh()


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """softmax(-x)."""
    return softmax(-input, dim, _stacklevel, dtype)


# ---- dropout ---------------------------------------------------------------------------------------


_DropoutMul = _renamed(_MaskMul, "MulBackward0")


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(shape, p, dtype_np):
    """Bernoulli(1 - p) as 0/1 values divided by (1 - p): PyTorch's CPU recipe, so that the
    same manual_seed drops the same elements."""
    if p == 1:
        return xp.zeros(shape, dtype_np)
    noise = _creation.empty(*shape, dtype=_dtype.from_numpy_dtype(dtype_np)).bernoulli_(1 - p)._data
    noise /= dtype_np.type(1 - p)
    return noise


def _dropout_impl(input, p, training, inplace, feature):
    _check_p(p)
    if not training or p == 0 or input._data.size == 0:
        return input
    x = input._data
    shape = x.shape[:2] + (1,) * (x.ndim - 2) if feature else x.shape
    mask = _keep_mask(shape, p, x.dtype if x.dtype.kind == "f" else xp.float32)
    if inplace:
        input._check_inplace()
        if _grad_state[0] and input._requires_grad:
            return _rebase(input, _DropoutMul.apply(input, _t(mask)))
        xp.multiply(x, mask, out=x, casting="unsafe")
        input._bump()
        return input
    return _DropoutMul.apply(input, _t(mask))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (when training)."""
    return _dropout_impl(input, p, training, inplace, False)


def _feature_dropout(input, p, training, inplace, unbatched):
    """Channel dropout; an unbatched input is dropped as a batch of one (PyTorch's recipe)."""
    if unbatched:
        out = _dropout_impl(input.unsqueeze(0), p, training, False, True).squeeze(0)
        return _inplace_result(input, out) if inplace and out is not input else out
    return _dropout_impl(input, p, training, inplace, True)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) inputs."""
    _check_p(p)
    nd = input.dim()
    if nd not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {nd}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, "
            "a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(input, p, training, inplace, unbatched=nd == 2)


def _warn_feature_dims(nd, n):
    """dropout{n}d's deprecation warning for an input that is not (N, C, *n) or (C, *n)."""
    if nd not in (n + 1, n + 2):
        warnings.warn(
            f"dropout{n}d: Received a {nd}-D input to dropout{n}d, which is deprecated and will "
            "result in an error in a future release. To retain the behavior and silence this "
            f"warning, please use dropout instead. Note that dropout{n}d exists to provide "
            f"channel-wise dropout on inputs with {n} spatial dimensions, a channel dimension, "
            f"and an optional batch dimension (i.e. {n + 1}D or {n + 2}D inputs).", stacklevel=3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) inputs."""
    _check_p(p)
    nd = input.dim()
    _warn_feature_dims(nd, 2)
    if nd == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2)
    return _dropout_impl(input, p, training, inplace, True)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) inputs."""
    _check_p(p)
    nd = input.dim()
    _warn_feature_dims(nd, 3)
    return _feature_dropout(input, p, training, inplace, unbatched=nd == 4)


_SELU_ALPHA_PRIME = 1.7580993408473766  # -scale * alpha of SELU


def _alpha_dropout_impl(input, p, training, inplace, feature):
    _check_p(p)
    if not training or p == 0 or input._data.size == 0:
        return input
    x = input._data
    if p == 1:
        out = input * 0
        return _inplace_result(input, out) if inplace else out
    shape = x.shape[:2] + (1,) * (x.ndim - 2) if feature else x.shape
    keep = (_random.rand(*shape, dtype=input.dtype)._data < (1 - p)).astype(x.dtype)
    # keeps the mean and variance of SELU activations: x*a*keep + b (PyTorch's formula)
    a = 1.0 / math.sqrt((_SELU_ALPHA_PRIME ** 2 * p + 1) * (1 - p))
    b = (keep - 1) * (_SELU_ALPHA_PRIME * a) + _SELU_ALPHA_PRIME * a * p
    out = input * _t((keep * a).astype(x.dtype)) + _t(b.astype(x.dtype))
    return _inplace_result(input, out) if inplace else out


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout that keeps SELU's self-normalising mean and variance."""
    return _alpha_dropout_impl(input, p, training, inplace, False)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels."""
    return _alpha_dropout_impl(input, p, training, inplace, True)


# ---- normalisation --------------------------------------------------------------------------------




class _LayerNorm(Function):
    """Layer normalisation over the last k dims, on an (M, D) view of x."""

    _node_name = "NativeLayerNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, k, eps):
        x2 = x.reshape(-1, math.prod(x.shape[x.ndim - k:]))
        out, xhat, mean, invstd = _ln_forward(x2, None if w is None else w.reshape(-1),
                                              None if b is None else b.reshape(-1), eps)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w)
            ctx.meta = (mean, invstd, k, eps)
            ctx.xhat = xhat  # a private array (None without a weight: rebuilt from x)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        if isinstance(grad, Tensor):
            return _LayerNorm._backward_graph(ctx, grad, x, w)
        mean, invstd, k, _ = ctx.meta
        nshape = x.shape[x.ndim - k:]
        d = math.prod(nshape)
        gx, gw, gb = _ln_backward(grad.reshape(-1, d), x.reshape(-1, d), ctx.xhat, mean, invstd,
                                  None if w is None else w.reshape(-1), ctx.needs_input_grad)
        return (None if gx is None else gx.reshape(x.shape), None if gw is None else
                gw.reshape(nshape), None if gb is None else gb.reshape(nshape), None, None)

    @staticmethod
    def _backward_graph(ctx, grad, x, w):
        """create_graph=True: the same formulas on Tensors, statistics rebuilt from x."""
        _, _, k, eps = ctx.meta
        ni = ctx.needs_input_grad
        axes = tuple(range(x.ndim - k, x.ndim))
        lead = tuple(range(x.ndim - k))
        xc = x - x.mean(axes, keepdim=True)
        inv = ((xc * xc).mean(axes, keepdim=True) + eps).rsqrt()
        xhat = xc * inv
        gx = gw = gb = None
        if ni[0]:
            gh = grad if w is None else grad * w
            gx = (gh - gh.mean(axes, keepdim=True)
                  - xhat * (gh * xhat).mean(axes, keepdim=True)) * inv
        if ni[1]:
            gw = (grad * xhat).sum(lead) if lead else grad * xhat
        if ni[2]:
            gb = grad.sum(lead) if lead else grad
        return gx, gw, gb, None, None


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    ns = tuple(int(s) for s in normalized_shape)
    shape = input._data.shape
    k = len(ns)
    if k == 0 or shape[len(shape) - k:] != ns or len(shape) < k:
        raise RuntimeError(f"Given normalized_shape={list(ns)}, expected input with shape "
                           f"[*, {', '.join(str(s) for s in ns)}], but got input of size"
                           f"{list(shape)}")
    if weight is not None and weight._data.shape != ns:
        raise RuntimeError(f"Expected weight to be of same shape as normalized_shape, but got "
                           f"weight of shape {list(weight._data.shape)} and normalized_shape = "
                           f"{list(ns)}")
    if bias is not None and bias._data.shape != ns:
        raise RuntimeError(f"Expected bias to be of same shape as normalized_shape, but got "
                           f"bias of shape {list(bias._data.shape)} and normalized_shape = "
                           f"{list(ns)}")
    return _LayerNorm.apply(input, weight, bias, k, eps)


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the trailing ``normalized_shape`` dims, times weight."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    ns = tuple(int(s) for s in normalized_shape)
    shape = input._data.shape
    if len(shape) < len(ns) or shape[len(shape) - len(ns):] != ns:
        raise RuntimeError(f"Given normalized_shape={list(ns)}, expected input with shape "
                           f"[*, {', '.join(str(s) for s in ns)}], but got input of size"
                           f"{list(shape)}")
    if eps is None:
        eps = float(xp.finfo(input._data.dtype).eps)
    dims = tuple(range(-len(ns), 0))
    out = input * (input * input).mean(dims, keepdim=True).add(eps).rsqrt()
    return out if weight is None else out * weight


class _GroupNorm(Function):
    """Group normalisation: statistics over (C/G, *) per sample and group."""

    _node_name = "NativeGroupNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, g, eps):
        n, c = x.shape[:2]
        xg = x.reshape(n, g, -1)
        mean = xg.mean(axis=2)
        xc = xg - mean[:, :, None]
        var = xp.einsum("ngl,ngl->ng", xc, xc) / xg.shape[2]
        invstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        out = xc
        out *= invstd[:, :, None]
        out = out.reshape(n, c, -1)
        if w is not None:
            out *= w[:, None]
        if b is not None:
            out += b[:, None]
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w)
            ctx.meta = (mean, invstd, g, eps)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        mean, invstd, g, _ = ctx.meta
        ni = ctx.needs_input_grad
        if isinstance(grad, Tensor):
            return _GroupNorm._backward_graph(ctx, grad, x, w)
        n, c = x.shape[:2]
        xhat = x.reshape(n, g, -1) - mean[:, :, None]
        xhat *= invstd[:, :, None]
        g3 = grad.reshape(n, c, -1)
        gx = gw = gb = None
        if ni[0]:
            gh = g3 if w is None else g3 * w[:, None]
            ghg = gh.reshape(n, g, -1)
            gx = xhat * (xp.einsum("ngl,ngl->ng", ghg, xhat) / -xhat.shape[2])[:, :, None]
            gx += ghg
            gx -= ghg.mean(axis=2, keepdims=True)
            gx *= invstd[:, :, None]
            gx = gx.reshape(x.shape)
        if ni[1]:
            gw = xp.einsum("ncl,ncl->c", g3, xhat.reshape(n, c, -1))
        if ni[2]:
            gb = g3.sum(axis=(0, 2))
        return gx, gw, gb, None, None

    @staticmethod
    def _backward_graph(ctx, grad, x, w):
        """create_graph=True: the same formulas on Tensors, statistics rebuilt from x."""
        _, _, g, eps = ctx.meta
        ni = ctx.needs_input_grad
        n, c = x.shape[:2]
        cshape = (1, c) + (1,) * (x.ndim - 2)
        axes = (0,) + tuple(range(2, x.ndim))
        xg = x.reshape(n, g, -1)
        xc = xg - xg.mean(2, keepdim=True)
        inv = ((xc * xc).mean(2, keepdim=True) + eps).rsqrt()
        xhg = xc * inv
        gx = gw = gb = None
        if ni[0]:
            gh = grad if w is None else grad * w.reshape(cshape)
            ghg = gh.reshape(n, g, -1)
            gx = ((ghg - ghg.mean(2, keepdim=True) - xhg * (ghg * xhg).mean(2, keepdim=True))
                  * inv).reshape(x.shape)
        if ni[1]:
            gw = (grad * xhg.reshape(x.shape)).sum(axes)
        if ni[2]:
            gb = grad.sum(axes)
        return gx, gw, gb, None, None


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over groups of channels (and spatial dims) per sample."""
    x = input._data
    if x.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {x.ndim}")
    n, c = x.shape[:2]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, "
                           f"but got input of shape {list(x.shape)} and num_groups={num_groups}")
    _verify_batch_size([n * c // num_groups, num_groups] + list(x.shape[2:]))
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t._data.ndim != 1 or t._data.size != c):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of "
                               f"channels in input, but got {name} of shape "
                               f"{list(t._data.shape)} and input of shape {list(x.shape)}")
    return _GroupNorm.apply(input, weight, bias, num_groups, eps)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample over its spatial dims."""
    shape = input._data.shape
    if use_input_stats:
        prod = 1
        for s in shape[2:]:
            prod *= s
        if prod == 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input "
                             f"size {_Size(shape)}")
    n, c = shape[:2]
    # PyTorch's trick: batch norm of a (1, N*C, *) view, running stats averaged over the batch
    rm = None if running_mean is None else running_mean.repeat(n)
    rv = None if running_var is None else running_var.repeat(n)
    w = None if weight is None else weight.repeat(n)
    b = None if bias is None else bias.repeat(n)
    out = batch_norm(input.reshape(1, n * c, *shape[2:]), rm, rv, w, b, use_input_stats,
                     momentum, eps)
    if use_input_stats:
        with grad_mode.no_grad():
            if running_mean is not None:
                running_mean.copy_(rm.view(n, c).mean(0))
            if running_var is not None:
                running_var.copy_(rv.view(n, c).mean(0))
    return out.view(*shape)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """Normalise each element by the sum of squares of ``size`` neighbouring channels."""
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality                          input "
                         f"(got {dim} dimensions)")
    if input.numel() == 0:
        return input
    div = input.mul(input)
    sizes = input.size()
    div = div.reshape(sizes[0], 1, sizes[1], -1)
    div = pad(div, (0, 0, size // 2, (size - 1) // 2))
    div = avg_pool2d(div, (size, 1), stride=1).squeeze(1).reshape(sizes)
    div = div.mul(alpha).add(k).pow(beta)
    return input / div


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Tensor | None = None) -> Tensor:
    """x / max(||x||_p, eps) along ``dim``."""
    denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    if out is None:
        return input / denom
    return _div(input, denom, out=out)


# ---- embedding ----------------------------------------------------------------------------------------


class _Embedding(Function):
    _node_name = "EmbeddingBackward0"

    @staticmethod
    def forward(ctx, w, idx, padding_idx, scale_grad_by_freq):
        ctx.save_for_backward(idx)
        ctx.meta = (w.shape, padding_idx, scale_grad_by_freq)
        return w[idx]

    @staticmethod
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        wshape, padding_idx, by_freq = ctx.meta
        flat = idx.reshape(-1)
        keep = flat != padding_idx if padding_idx is not None and padding_idx >= 0 else None
        if isinstance(grad, Tensor):  # create_graph: an index_add, which is differentiable
            g = grad.reshape(-1, wshape[1])
            if by_freq:
                counts = xp.bincount(flat, minlength=wshape[0])
                g = g / _t(counts[flat][:, None].astype(grad._data.dtype))
            if keep is not None:  # the padding row is never trained
                g = g * _t(keep[:, None].astype(grad._data.dtype))
            gw = _zeros(*wshape, dtype=grad.dtype).index_add(0, _t(flat), g)
            return gw, None, None, None
        g = grad.reshape(-1, wshape[1])
        if by_freq:
            counts = xp.bincount(flat, minlength=wshape[0])
            g = g / counts[flat][:, None].astype(g.dtype)
        if keep is not None:  # the padding row is never trained
            flat, g = flat[keep], g[keep]
        # sum the rows of equal index: sort once, then one reduceat (faster than xp.add.at)
        order = xp.argsort(flat, kind="stable")
        sidx = flat[order]
        gw = xp.zeros(wshape, grad.dtype)
        if sidx.size:
            starts = xp.flatnonzero(xp.concatenate(([True], sidx[1:] != sidx[:-1])))
            gw[sidx[starts]] = xp.add.reduceat(g[order], starts, axis=0)
        return gw, None, None, None


def _check_indices(input, op):
    if input._data.dtype not in (xp.int64, xp.int32):
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following "
                           f"scalar types: Long, Int; but got {input.type()} instead (while "
                           f"checking arguments for {op})")


def _embedding_renorm_(weight, idx, max_norm, norm_type):
    rows = xp.unique(idx)
    w = weight._data
    norms = xp.linalg.norm(w[rows], ord=norm_type, axis=1)
    big = norms > max_norm
    if big.any():
        scale = max_norm / (norms[big] + 1e-7)
        w[rows[big]] *= scale[:, None].astype(w.dtype)
        weight._bump()


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` selected by the integer ``input``."""
    n = weight._data.shape[0]
    if padding_idx is not None:
        if padding_idx > 0:
            if padding_idx >= n:
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -n:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = n + padding_idx
    _check_indices(input, "embedding")
    idx = input._data
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError("index out of range in self")
    if max_norm is not None:
        with grad_mode.no_grad():
            _embedding_renorm_(weight, idx, max_norm, norm_type)
    return _Embedding.apply(weight, idx, padding_idx, scale_grad_by_freq)


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None,
                  max_norm: float | None = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sums, means or maxima of bags of ``weight`` rows (bags: rows of 2-D input, or offsets)."""
    if weight.dtype == _dtype.int64 and input.is_floating_point():
        warnings.warn("Argument order of nn.functional.embedding_bag was changed. Usage "
                      "`embedding_bag(weight, input, ...)` is deprecated, and should now be "
                      "`embedding_bag(input, weight, ...)`.", stacklevel=2)
        weight, input = input, weight
    if per_sample_weights is not None and input.size() != per_sample_weights.size():
        raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is "
                         f"not None, then it must have the same shape as the input "
                         f"({input.shape})")
    if weight.dim() != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension "
                         f"{weight.dim()}")
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is "
                             "a mini-batch of fixed length sequences. However, found offsets of "
                             f"type {type(offsets)}")
        offs = xp.arange(0, input.numel(), input.size(1)) if input.size(1) else \
            xp.zeros(input.size(0), xp.int64)
        include_last_offset = False
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.dim() != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        offs = xp.asarray(offsets._data, xp.int64)
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.dim()}")
    if mode == "max":
        if scale_grad_by_freq:
            raise ValueError("max mode does not support scaling the gradient by the frequency")
        if sparse:
            raise ValueError("max mode does not support sparse weights")
    elif mode not in ("sum", "mean"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError("embedding_bag: per_sample_weights was not None. "
                                  "per_sample_weights is only supported for mode='sum' "
                                  f"(got mode='{mode}'). Please open a feature request on GitHub.")
    _check_indices(input, "embedding_bag")
    idx = xp.asarray(input._data, xp.int64)
    n, length = weight.shape[0], idx.size
    bad = xp.flatnonzero((idx < 0) | (idx >= n))
    if bad.size:
        raise RuntimeError(f"Index {bad[0]} of input takes value {idx[bad[0]]} which is not in "
                           f"the valid range [0, {n})")
    if offs.size and offs[0] != 0:
        raise RuntimeError(f"offsets[0] has to be 0, i.e., the first sequence in the mini-batch "
                           f"has to start from position 0. However, got {offs[0]}")
    if offs.size and offs[-1] > length:
        raise RuntimeError(f"offsets[-1] can not be greater than input's length {length} but got "
                           f"offsets[-1] of {offs[-1]}")
    bounds = offs if include_last_offset else xp.append(offs, length)
    if xp.any(xp.diff(bounds) < 0):
        raise RuntimeError("embedding_bag: offsets must be non-decreasing")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    if max_norm is not None:
        with grad_mode.no_grad():
            _embedding_renorm_(weight, idx, max_norm, norm_type)
    nbags = max(bounds.size - 1, 0)
    sizes = xp.diff(bounds)
    pos = xp.arange(int(bounds[-1]) if bounds.size else 0)
    bag = xp.repeat(xp.arange(nbags), sizes)
    keep = idx[pos] != padding_idx if padding_idx is not None else xp.ones(pos.size, bool)
    dt = weight._data.dtype
    if mode == "max":
        rows = _Embedding.apply(weight, idx[pos], None, scale_grad_by_freq)  # (positions, D)
        # a (bags, longest bag) gather, padded with a row of -inf; an empty bag gives 0
        counts = xp.bincount(bag[keep], minlength=nbags)
        width = int(counts.max()) if counts.size else 0
        table = xp.full((nbags, width), pos.size, xp.int64)
        kept = pos[keep]
        slot = xp.arange(kept.size) - xp.repeat(xp.cumsum(counts) - counts, counts)
        table[bag[keep], slot] = kept
        ext = _cat([rows, _t(xp.full((1, weight.shape[1]), -xp.inf, dt))])
        if width == 0:
            return _t(xp.zeros((nbags, weight.shape[1]), dt)) + rows.sum() * 0
        best = ext[_t(table)].max(1).values
        return _where(_t(counts[:, None] > 0), best, _t(xp.zeros((), dt)))
    # sum / mean: scatter-add the rows of the kept positions into their bags
    kept = pos[keep]
    rows = _Embedding.apply(weight, idx[kept], None, scale_grad_by_freq)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1)[_t(kept)].unsqueeze(1)
    out = _zeros(nbags, weight.shape[1], dtype=weight.dtype).index_add(0, _t(bag[keep]), rows)
    if mode == "mean":
        counts = xp.bincount(bag[keep], minlength=nbags)
        out = out / _t(xp.maximum(counts, 1).astype(dt)[:, None])
    return out


# ---- pixel and channel shuffles (reshape + permute compositions) ---------------------------------


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    r = int(upscale_factor)
    if input.dim() < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got "
                           f"input with {input.dim()} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                           f"is not divisible by {r * r}")
    k = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W), the inverse of pixel_shuffle."""
    r = int(downscale_factor)
    if input.dim() < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but "
                           f"got input with {input.dim()} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    if h % r:
        raise RuntimeError(f"pixel_unshuffle expects height to be divisible by downscale_factor, "
                           f"but input.size(-2)={h} is not divisible by {r}")
    if w % r:
        raise RuntimeError(f"pixel_unshuffle expects width to be divisible by downscale_factor, "
                           f"but input.size(-1)={w} is not divisible by {r}")
    k = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``groups`` groups: (N, g*k, *) viewed (N, g, k, *) -> (N, k, g, *)."""
    if input.dim() <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with "
                           f"sizes {list(input.shape)}")
    g = int(groups)
    if g <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of "
                           f"groups:{g}")
    n, c, *rest = input.shape
    if c % g:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels "
                           f"and {g} groups.")
    return input.reshape(n, g, c // g, *rest).transpose(1, 2).reshape(n, c, *rest)


native_channel_shuffle = channel_shuffle


# ---- gumbel softmax, affine_grid and grid_sample (compositions) ------------------------------------


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """softmax((logits + Gumbel noise) / tau); hard=True: one-hot forward, soft gradient."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    gumbels = -_empty_like(logits).exponential_().log()
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = _zeros_like(logits).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft  # straight-through estimator


def _align_corners_default(align_corners):
    if align_corners is None:
        warnings.warn("Default grid_sample and affine_grid behavior has changed to "
                      "align_corners=False since 1.3.0. Please specify align_corners=True if the "
                      "old behavior is desired. See the documentation of grid_sample for "
                      "details.", stacklevel=3)
        return False
    return align_corners


def affine_grid(theta: Tensor, size, align_corners: bool | None = None) -> Tensor:
    """The sampling grid (N, H, W, 2) (or (N, D, H, W, 3)) of a batch of affine maps ``theta``."""
    align_corners = _align_corners_default(align_corners)
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = list(size)
    if len(size) == 4:
        if theta.dim() != 3 or theta.shape[-2] != 2 or theta.shape[-1] != 3:
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size "
                             f"{size}. Got {theta.shape}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if theta.dim() != 3 or theta.shape[-2] != 3 or theta.shape[-1] != 4:
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size "
                             f"{size}. Got {theta.shape}.")
        spatial = size[-3:]
    else:
        raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D "
                                  f"affine transforms, respectively. Got size {size}.")
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids "
                      "when align_corners=True. This is not an intended use case of affine_grid. "
                      "See the documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    dt = theta._data.dtype

    def steps(n):
        if n <= 1:
            return xp.zeros(max(n, 0), dt)
        s = _linspace(-1, 1, n, dtype=_dtype.to_dtype(dt))._data  # PyTorch's linspace values
        return s if align_corners else s * dt.type(n - 1) / dt.type(n)  # rounded as PyTorch

    # base grid of homogeneous coordinates, x (the last spatial dim) first
    axes = [steps(n) for n in reversed(spatial)]
    mesh = list(xp.meshgrid(*axes[::-1], indexing="ij"))[::-1]
    base = xp.stack(mesh + [xp.ones_like(mesh[0])], -1).reshape(1, -1, 1, len(spatial) + 1)
    # base @ theta^T with the k terms added in order, as PyTorch's small bmm does
    th = theta.unsqueeze(1)
    grid = _t(base[..., 0]) * th[..., 0]
    for k in range(1, len(spatial) + 1):
        grid = grid + _t(base[..., k]) * th[..., k]
    return grid.reshape(size[0], *spatial, len(spatial))


def _grid_unnormalize(coord, n, align_corners):
    if align_corners:
        return (coord + 1) * ((n - 1) / 2)
    return ((coord + 1) * n - 1) / 2


def _reflect(coord, twice_low, twice_high):
    if twice_low == twice_high:
        return coord * 0
    lo, span = twice_low / 2, (twice_high - twice_low) / 2
    c = (coord - lo).abs()
    flips = (c / span).floor().detach()
    extra = c - flips * span
    even = _t((xp.asarray(flips._data) % 2) == 0)
    return _where(even, extra + lo, span - extra + lo)


def _grid_source(coord, n, padding_mode, align_corners):
    """Grid coordinate -> pixel coordinate, with the border / reflection folding applied."""
    c = _grid_unnormalize(coord, n, align_corners)
    if padding_mode == "border":
        c = c.clamp(0, n - 1)
    elif padding_mode == "reflection":
        c = _reflect(c, 0, 2 * (n - 1)) if align_corners else _reflect(c, -1, 2 * n - 1)
        c = c.clamp(0, n - 1)
    return c


def _np_fold(c, n, padding_mode, align_corners):
    """compute_coordinates on integer tap positions (bicubic): border clip or reflection."""
    if padding_mode == "border":
        return xp.clip(c, 0, n - 1)
    if padding_mode == "reflection":
        lo2, hi2 = (0, 2 * (n - 1)) if align_corners else (-1, 2 * n - 1)
        if lo2 == hi2:
            return xp.zeros_like(c)
        lo, span = lo2 / 2, (hi2 - lo2) / 2
        a = xp.abs(c - lo)
        flips = xp.floor(a / span)
        extra = a - flips * span
        return xp.clip(xp.where(flips % 2 == 0, extra + lo, span - extra + lo), 0, n - 1)
    return c


def _cubic_coeffs(t, A=-0.75):
    """The four cubic-convolution weights of the taps at -1, 0, 1, 2 for fraction t."""
    s = 1 - t
    return [((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A,
            ((A + 2) * t - (A + 3)) * t * t + 1,
            ((A + 2) * s - (A + 3)) * s * s + 1,
            ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A]


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Tensor:
    """Sample ``input`` (N, C, [D,] H, W) at the normalised (x, y[, z]) points of ``grid``."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' "
                         f"or 'bicubic', but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', "
                         f"'border', or 'reflection', but got: '{padding_mode}'")
    align_corners = _align_corners_default(align_corners)
    nd = input.dim() - 2
    if grid.shape[-1] != nd or grid.dim() != input.dim():
        raise RuntimeError(f"grid_sampler(): expected grid to have size {nd} in last dimension, "
                           f"but got grid with sizes {list(grid.shape)}")
    if nd not in (2, 3):
        raise RuntimeError(f"grid_sampler(): expected 4D or 5D input and grid with same number "
                           f"of dimensions, but got input with sizes {list(input.shape)} and grid "
                           f"with sizes {list(grid.shape)}")
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError(f"grid_sampler(): expected grid and input to have same batch size, "
                           f"but got input with sizes {list(input.shape)} and grid with sizes "
                           f"{list(grid.shape)}")
    if mode == "bicubic" and nd != 2:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    N, C = input.shape[:2]
    sizes = tuple(input.shape[2:])  # (D,) H, W; the grid lists x (W) first
    out_sp = tuple(grid.shape[1:-1])
    L = int(xp.prod(out_sp))
    flat = input.reshape(N, C, -1)

    def tap(pos):
        """input at integer positions (one (N, 1, L) array per spatial dim), 0 outside."""
        inside = xp.ones(pos[0].shape, bool)
        lin = xp.zeros(pos[0].shape, xp.int64)
        for p, n in zip(pos, sizes):
            inside &= (p >= 0) & (p < n)
            lin = lin * n + xp.clip(p, 0, n - 1).astype(xp.int64)
        vals = flat.gather(2, _t(xp.ascontiguousarray(xp.broadcast_to(lin, (N, C, L)))))
        return vals * _t(inside.astype(flat._data.dtype))

    def coord(k, fold):
        c = grid[..., nd - 1 - k]
        c = (_grid_source(c, sizes[k], padding_mode, align_corners) if fold
             else _grid_unnormalize(c, sizes[k], align_corners))
        return c.reshape(N, 1, L)

    if mode == "nearest":
        out = tap([xp.rint(coord(k, True)._data).astype(xp.int64) for k in range(nd)])
    elif mode == "bilinear":
        cs = [coord(k, True) for k in range(nd)]
        # float32 with zero padding: PyTorch's values bit for bit (its kernel unnormalises with
        # an fma when align_corners=False and adds the corner terms with fmas); the autograd
        # graph is the composite below, whose values are replaced by those
        exact = (flat._data.dtype == xp.float32 and grid._data.dtype == xp.float32
                 and padding_mode == "zeros")
        if exact and not align_corners:
            for k, c in enumerate(cs):
                g = grid._data[..., nd - 1 - k].reshape(N, 1, L).astype(xp.float64) + 1
                c._data[...] = (g.astype(xp.float32) * xp.float64(xp.float32(sizes[k] / 2))
                                - 0.5).astype(xp.float32)
        base = [c.detach().floor() for c in cs]
        frac = [c - b for c, b in zip(cs, base)]  # the weight of the upper neighbour
        ibase = [b._data.astype(xp.int64) for b in base]
        out = acc = None
        for corner in itertools.product((0, 1), repeat=nd):
            w = None
            for bit, f in zip(corner, frac):
                wk = f if bit else 1 - f
                w = wk if w is None else w * wk
            v = tap([b + bit for b, bit in zip(ibase, corner)])
            term = v * w
            out = term if out is None else out + term
            if exact:  # acc = fma(v, w, acc)
                acc = (term._data if acc is None else
                       (v._data.astype(xp.float64) * w._data + acc).astype(xp.float32))
        if exact:
            out._data[...] = acc
    else:  # bicubic: 4 x 4 taps, padding applied to each tap's integer position
        y, x = coord(0, False), coord(1, False)
        y0, x0 = y.detach().floor(), x.detach().floor()
        wy, wx = _cubic_coeffs(y - y0), _cubic_coeffs(x - x0)
        iy0, ix0 = y0._data, x0._data
        out = None
        for i in range(4):
            py = _np_fold(iy0 - 1 + i, sizes[0], padding_mode, align_corners)
            row = None
            for j in range(4):
                px = _np_fold(ix0 - 1 + j, sizes[1], padding_mode, align_corners)
                term = tap([py.astype(xp.int64), px.astype(xp.int64)]) * wx[j]
                row = term if row is None else row + term
            out = row * wy[i] if out is None else out + row * wy[i]
    return out.reshape(N, C, *out_sp)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding with a trailing dim of size num_classes."""
    x = tensor._data
    if x.dtype != xp.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if x.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(x.max()) + 1
    if x.size:
        if x.min() < 0:
            raise RuntimeError("Class values must be non-negative.")
        if x.max() >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    out = (x[..., None] == xp.arange(num_classes)).astype(xp.int64)
    return _make(out, False, None, 0)


# ---- distances ----------------------------------------------------------------------------------------


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dim."""
    nd = max(x1.dim(), x2.dim())
    return (x1 - x2 + eps).norm(p, max(nd - 1, 0), keepdim=keepdim)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Sum over ``dim`` of (x1/max(||x1||, eps)) * (x2/max(||x2||, eps))."""
    n1 = x1.norm(2, dim, keepdim=True)
    n2 = x2.norm(2, dim, keepdim=True)
    with grad_mode.no_grad():  # as PyTorch: the clamp does not enter the gradient
        n1._data = xp.maximum(n1._data, eps).astype(n1._data.dtype, copy=False)
        n2._data = xp.maximum(n2._data, eps).astype(n2._data.dtype, copy=False)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pdist(input: Tensor, p: float = 2) -> Tensor:
    """Distances between all pairs of rows (the upper triangle, flattened)."""
    n = input.size(0)
    i, j = xp.triu_indices(n, 1)
    return (input[_new_tensor(i)] - input[_new_tensor(j)]).norm(p, 1)


# ---- losses -------------------------------------------------------------------------------------------


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """Mean/sum of |input - target|."""
    _size_warning(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    err = (input - target).abs()
    if weight is not None:
        if weight._data.shape != input._data.shape:
            raise ValueError("Weights and input must have the same size.")
        err = err * weight
        if reduction == "mean":
            return err.sum() / weight.sum()
    return _apply_reduction(err, reduction)


class _MseLoss(Function):
    _node_name = "MseLossBackward0"

    @staticmethod
    def forward(ctx, a, b, reduction):
        d = a - b
        ctx.save_for_backward(a, b)
        ctx.meta = (reduction, d.size)
        return _np_reduce(d * d, reduction)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        reduction, n = ctx.meta
        g = _np_reduce_grad(grad, reduction, n) * 2 * (a - b)
        return g, -g, None


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean/sum of (input - target)^2."""
    _size_warning(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if weight is not None:
        if weight._data.shape != input._data.shape:
            raise ValueError("Weights and input must have the same size.")
        sq = (input - target) ** 2 * weight
        if reduction == "mean":
            return sq.sum() / weight.sum()
        return _apply_reduction(sq, reduction)
    if input._data.dtype != target._data.dtype:
        a, b = _float_pair(input, target)
        input, target = _cast_like(input, a), _cast_like(target, b)
    return _MseLoss.apply(input, target, reduction)


def _cast_like(t, arr):
    if t._data.dtype == arr.dtype:
        return t
    return t.to(_dtype.from_numpy_dtype(arr.dtype))


class _SmoothL1Loss(Function):
    _node_name = "SmoothL1LossBackward0"

    @staticmethod
    def forward(ctx, a, b, reduction, beta, huber):
        d = a - b
        ad = xp.abs(d)
        if huber:  # delta * (|d| - delta/2) above delta
            loss = xp.where(ad < beta, 0.5 * d * d, beta * (ad - 0.5 * beta))
        else:
            loss = xp.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta)
        ctx.save_for_backward(a, b)
        ctx.meta = (reduction, beta, huber, d.size)
        return _np_reduce(loss.astype(d.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        reduction, beta, huber, n = ctx.meta
        d = a - b
        if huber:
            dd = xp.clip(d, -beta, beta)
        else:
            dd = xp.where(xp.abs(d) < beta, d / beta, xp.sign(d))
        g = _np_reduce_grad(grad, reduction, n) * dd
        return g, -g, None, None, None


_HuberLoss = _renamed(_SmoothL1Loss, "HuberLossBackward0")


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - beta/2."""
    _size_warning(input, target)
    reduction = _reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0.0:
        return l1_loss(input, target, reduction=reduction)
    return _SmoothL1Loss.apply(input, target, reduction, beta, False)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - delta/2)."""
    _size_warning(input, target)
    reduction = _reduction(None, None, reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    if weight is None:
        return _HuberLoss.apply(input, target, reduction, delta, True)
    if weight._data.shape != input._data.shape:
        raise ValueError("Weights and input must have the same size.")
    return _apply_reduction(_HuberLoss.apply(input, target, "none", delta, True) * weight,
                            reduction)


class _SoftMarginLoss(Function):
    _node_name = "SoftMarginLossBackward0"

    @staticmethod
    def forward(ctx, x, y, reduction):
        z = -y * x
        ctx.save_for_backward(x, y)
        ctx.meta = (reduction, z.size)
        return _np_reduce(_softplus_np(z), reduction)

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        reduction, n = ctx.meta
        g = _np_reduce_grad(grad, reduction, n) * _sigmoid_np(-y * x)
        return -y * g, -x * g, None


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-y x)), for targets y in {1, -1}."""
    reduction = _reduction(size_average, reduce, reduction)
    return _SoftMarginLoss.apply(input, target, reduction)


class _BinaryCrossEntropy(Function):
    _node_name = "BinaryCrossEntropyBackward0"

    @staticmethod
    def forward(ctx, x, t, w, reduction):
        # PyTorch clamps the logs at -100 so that x = 0 or 1 gives a finite loss
        with xp.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log1p(-x), -100)
        loss = -(t * log_x + (1 - t) * log_1mx)
        if w is not None:
            loss = loss * w
        ctx.save_for_backward(x, t, w)
        ctx.meta = (reduction, x.size)
        return _np_reduce(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        x, t, w = ctx.saved_tensors
        reduction, n = ctx.meta
        g = _np_reduce_grad(grad, reduction, n)
        if w is not None:
            g = g * w
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = g * (x - t) / xp.maximum((1 - x) * x, 1e-12)
        if ctx.needs_input_grad[1]:
            with xp.errstate(divide="ignore"):
                gt = g * (xp.maximum(xp.log1p(-x), -100) - xp.maximum(xp.log(x), -100))
        return gx, gt, None, None


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """-(t log x + (1 - t) log(1 - x)), logs clamped at -100."""
    reduction = _reduction(size_average, reduce, reduction)
    if target._data.shape != input._data.shape:
        raise ValueError(f"Using a target size ({target.size()}) that is different to the input "
                         f"size ({input.size()}) is deprecated. Please ensure they have the same "
                         "size.")
    x = input._data
    if x.size and ((x < 0).any() or (x > 1).any()):
        raise RuntimeError("all elements of input should be between 0 and 1")
    if weight is not None:
        weight = weight.expand(*xp.broadcast_shapes(target._data.shape, weight._data.shape))
    return _BinaryCrossEntropy.apply(input, target, weight, reduction)


class _BinaryCrossEntropyWithLogits(Function):
    _node_name = "BinaryCrossEntropyWithLogitsBackward0"

    @staticmethod
    def forward(ctx, x, t, w, pw, reduction):
        # (1 - t) x + (1 + (pw - 1) t) * log(1 + exp(-x)), stable for any x
        sp = _softplus_np(-x)
        if pw is None:
            loss = (1 - t) * x + sp
        else:
            loss = (1 - t) * x + (1 + (pw - 1) * t) * sp
        if w is not None:
            loss = loss * w
        ctx.save_for_backward(x, t, w, pw)
        ctx.meta = (reduction, loss.size)
        return _np_reduce(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        x, t, w, pw = ctx.saved_tensors
        ni = ctx.needs_input_grad
        reduction, n = ctx.meta
        g = _np_reduce_grad(grad, reduction, n)
        if w is not None:
            g = g * w
        s = _sigmoid_np(x)
        gx = gt = gpw = None
        if pw is None:
            if ni[0]:
                gx = g * (s - t)
            if ni[1]:
                gt = -g * x
        else:
            lw = 1 + (pw - 1) * t
            if ni[0]:
                gx = g * (lw * s - pw * t)
            if ni[1]:
                gt = g * ((pw - 1) * _softplus_np(-x) - x)
            if ni[3]:
                gpw = g * t * _softplus_np(-x)
        return gx, gt, None, gpw, None


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """BCE of sigmoid(input), computed stably from the logits; pos_weight weighs positives."""
    reduction = _reduction(size_average, reduce, reduction)
    if target._data.shape != input._data.shape:
        raise ValueError(f"Target size ({target.size()}) must be the same as input size "
                         f"({input.size()})")
    return _BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Pointwise KL divergence target * (log target - input), input given as log-probabilities."""
    if size_average is not None or reduce is not None:
        reduction = _reduction(size_average, reduce, "mean")
    else:
        if reduction == "mean":
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the support "
                "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
                "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
                "major release.", stacklevel=2)
        if reduction != "batchmean":
            reduction = _reduction(None, None, reduction)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = _xlogy_self(target) - target * input
    if reduction == "batchmean":
        out = loss.sum()
        return out / input.size(0) if input.dim() != 0 else out
    return _apply_reduction(loss, reduction)


def _xlogy_self(t):
    """t * log(t) with 0 log 0 = 0."""
    safe = _where(t > 0, t, _t(xp.ones((), t._data.dtype)))
    return _where(t > 0, t * safe.log(), _t(xp.zeros((), t._data.dtype)))


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """exp(x) - t x (log_input) or x - t log(x + eps), plus Stirling's term if full."""
    reduction = _reduction(size_average, reduce, reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:

        t = target._data
        st = t * xp.log(xp.where(t > 1, t, 1)) - t + 0.5 * xp.log(2 * math.pi * xp.where(t > 1, t, 1))
        st = xp.where(t > 1, st, 0).astype(loss._data.dtype, copy=False)
        loss = loss + _t(st)
    return _apply_reduction(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """0.5 (log var + (input - target)^2 / var), var clamped at eps."""
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = _t(xp.full(input._data.shape, var, input._data.dtype))
    elif bool((var._data < 0).any()):
        raise ValueError("var has negative entry/entries")
    if var._data.shape != input._data.shape:
        if input._data.shape[:-1] == var._data.shape:
            var = var.unsqueeze(-1)
        elif input.dim() == var.dim() and sum(
                y for x, y in zip(input._data.shape, var._data.shape) if x != y) == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    var = var.clone()
    with grad_mode.no_grad():
        var.clamp_(min=eps)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _apply_reduction(loss, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -y (x1 - x2) + margin)."""
    reduction = _reduction(size_average, reduce, reduction)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} ")
    return _apply_reduction((-target * (input1 - input2) + margin).clamp_min(0), reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """x where y == 1, max(0, margin - x) where y == -1."""
    reduction = _reduction(size_average, reduce, reduction)
    zero = _t(xp.zeros((), input._data.dtype))
    margin_clamp = (margin - input).clamp_min(0)
    out = _where(target != 1, margin_clamp, zero) + _where(target != -1, input, zero)
    return _apply_reduction(out, reduction)


class _MultiMarginLoss(Function):
    _node_name = "MultiMarginLossBackward0"

    @staticmethod
    def forward(ctx, x, y, p, margin, w, reduction):
        x2 = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
        n, c = x2.shape
        rows = xp.arange(n)
        xy = x2[rows, y.reshape(-1)][:, None]
        z = margin - xy + x2
        active = z > 0
        active[rows, y.reshape(-1)] = False  # the target class does not compete with itself
        zp = xp.where(active, z, 0)
        per = zp if p == 1 else zp * zp
        if w is not None:
            per = per * w[y.reshape(-1)][:, None]
        loss = (per.sum(1) / c).astype(x.dtype, copy=False)
        ctx.save_for_backward(x2, y)
        ctx.meta = (p, w, active, zp, reduction, x.shape)
        loss = loss.reshape(x.shape[:-1]) if x.ndim > 1 else loss.reshape(())
        return _np_reduce(loss, reduction)

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx, grad)
        x2, y = ctx.saved_tensors
        p, w, active, zp, reduction, xshape = ctx.meta
        n, c = x2.shape
        rows = xp.arange(n)
        g = xp.broadcast_to(_np_reduce_grad(grad, reduction, n), (n,)).reshape(n, 1) / c
        d = (active * 1.0 if p == 1 else 2 * zp).astype(x2.dtype, copy=False)
        if w is not None:
            d = d * w[y.reshape(-1)][:, None]
        gx = d * g
        gx[rows, y.reshape(-1)] = -gx.sum(1)
        return gx.reshape(xshape), None, None, None, None, None


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """sum_{i != y} max(0, margin - x[y] + x[i])^p / C (multi-class hinge)."""
    reduction = _reduction(size_average, reduce, reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    c = input._data.shape[-1] if input.dim() else 1
    y = target._data
    if y.size and (y.min() < 0 or y.max() >= c):
        raise RuntimeError("target out of range")
    return _MultiMarginLoss.apply(input, y, p, margin,
                                  None if weight is None else weight._data, reduction)


class _MultilabelMarginLoss(Function):
    _node_name = "MultilabelMarginLossBackward0"

    @staticmethod
    def forward(ctx, x, y, reduction):
        x2 = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
        y2 = y.reshape(x2.shape)
        n, c = x2.shape
        # targets are the labels before the first -1 of each row
        valid = xp.cumprod(y2 >= 0, axis=1).astype(bool)
        is_target = xp.zeros((n, c), bool)
        rr, cc = xp.nonzero(valid)
        is_target[rr, y2[rr, cc]] = True
        # z[n, j, i] = 1 - (x[y_j] - x[i]) for target j and non-target i
        z = 1 - x2[:, :, None] + x2[:, None, :]
        pair = is_target[:, :, None] & ~is_target[:, None, :]
        active = pair & (z > 0)
        loss = (xp.where(active, z, 0).sum((1, 2)) / c).astype(x.dtype, copy=False)
        ctx.save_for_backward(active)
        ctx.meta = (reduction, x.shape, c)
        loss = loss.reshape(x.shape[:-1]) if x.ndim > 1 else loss.reshape(())
        return _np_reduce(loss, reduction)

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx, grad)
        (active,) = ctx.saved_tensors
        reduction, xshape, c = ctx.meta
        n = active.shape[0]
        g = xp.broadcast_to(_np_reduce_grad(grad, reduction, n), (n,)).reshape(n, 1) / c
        a = active.astype(g.dtype)
        gx = (a.sum(1) - a.sum(2)) * g  # +1 for each non-target i, -1 for each target j
        return gx.reshape(xshape), None, None


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss; target rows list class indices, ended by -1."""
    reduction = _reduction(size_average, reduce, reduction)
    if target._data.shape != input._data.shape:
        raise RuntimeError(f"inconsistent target size: {list(target._data.shape)} for input of "
                           f"size: {list(input._data.shape)}")
    y = target._data
    c = input._data.shape[-1] if input.dim() else 1
    if y.size and y.max() >= c:
        raise RuntimeError("target out of range")
    return _MultilabelMarginLoss.apply(input, y, reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Per-class logistic loss averaged over the classes."""
    reduction = _reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.dim() - 1
    c = input.size(class_dim)
    loss = loss.sum(dim=class_dim) / c
    return _apply_reduction(loss, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where y == 1, max(0, cos(x1, x2) - margin) where y == -1."""
    reduction = _reduction(size_average, reduce, reduction)
    nd = input1.dim()
    if input1._data.shape != input2._data.shape:
        raise RuntimeError(f"cosine_embedding_loss: Input1 and Input2 must have the same shape, "
                           f"but got Input1: {list(input1._data.shape)} and Input2: "
                           f"{list(input2._data.shape)}")
    if nd not in (1, 2):
        raise RuntimeError(f"cosine_embedding_loss: 1D or 2D target tensor expected, multi-target "
                           f"not supported, but got {nd}D input")
    dim = nd - 1
    eps = 1e-12
    prod_sum = (input1 * input2).sum(dim)
    mag1 = (input1 * input1).sum(dim) + eps
    mag2 = (input2 * input2).sum(dim) + eps
    cos = prod_sum / (mag1 * mag2).sqrt()
    zero = _t(xp.zeros((), cos._data.dtype))
    out = _where(target == 1, 1 - cos, zero) + _where(target == -1, (cos - margin).clamp_min(0), zero)
    return _apply_reduction(out, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0) with d the pairwise p-norm distance."""
    reduction = _reduction(size_average, reduce, reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a_dim, p_dim, n_dim = anchor.dim(), positive.dim(), negative.dim()
    if not (a_dim == p_dim and p_dim == n_dim):
        raise RuntimeError(
            f"The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {a_dim}D, positive {p_dim}D, and negative {n_dim}D "
            "inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = _minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _apply_reduction((margin + d_pos - d_neg).clamp_min(0), reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function=None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Tensor:
    """Triplet loss with a custom distance function (pairwise_distance by default)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a_dim, p_dim, n_dim = anchor.ndim, positive.ndim, negative.ndim
    if not (a_dim == p_dim and p_dim == n_dim):
        raise RuntimeError(
            f"The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {a_dim}D, positive {p_dim}D, and negative {n_dim}D "
            "inputs")
    if distance_function is None:
        distance_function = pairwise_distance
    d_pos = distance_function(anchor, positive)
    d_neg = distance_function(anchor, negative)
    if swap:
        d_neg = _minimum(d_neg, distance_function(positive, negative))
    return _apply_reduction((margin + d_pos - d_neg).clamp_min(0), reduction)


# ---- CTC ------------------------------------------------------------------------------------------------


def _lse3(a, b, c):
    """log(exp a + exp b + exp c), elementwise, with -inf handled."""
    m = xp.maximum(xp.maximum(a, b), c)
    ms = xp.where(xp.isneginf(m), 0, m)
    with xp.errstate(divide="ignore"):
        return xp.log(xp.exp(a - ms) + xp.exp(b - ms) + xp.exp(c - ms)) + ms


class _CtcLoss(Function):
    """The negative log-likelihood of each target under CTC, by the alpha-beta recursion.

    Vectorised over the batch and the extended label sequence (blank, l1, blank, l2, ...,
    blank); the loop runs over time. Computed in float64 and cast back. The gradient is
    PyTorch's: exp(lp) - posterior, which is the true gradient once it goes through the
    log_softmax that produced ``log_probs``.
    """

    _node_name = "CtcLossBackward0"

    @staticmethod
    def forward(ctx, lp, tg, il, tl, blank, zero_infinity):
        dt = lp.dtype
        lp = lp.astype(xp.float64)
        T, N, _ = lp.shape
        S = tg.shape[1]
        L = 2 * S + 1
        ext = xp.full((N, L), blank, xp.int64)
        ext[:, 1::2] = tg
        s_idx = xp.arange(L)
        valid = s_idx[None, :] < (2 * tl + 1)[:, None]
        prev2 = xp.concatenate([xp.full((N, 2), blank), ext[:, :-2]], axis=1)
        skip = (s_idx[None, :] >= 2) & (ext != blank) & (ext != prev2)
        lpe = lp[:, xp.arange(N)[:, None], ext]  # (T, N, L): log-prob of each extended label
        ninf = -xp.inf
        alpha = xp.full((T, N, L), ninf)
        alpha[0, :, 0] = lpe[0, :, 0]
        if L > 1:
            alpha[0, :, 1] = xp.where(tl > 0, lpe[0, :, 1], ninf)
        pad1 = xp.full((N, 1), ninf)
        pad2 = xp.full((N, 2), ninf)
        for t in range(1, T):
            a = alpha[t - 1]
            a1 = xp.concatenate([pad1, a[:, :-1]], axis=1)
            a2 = xp.where(skip, xp.concatenate([pad2, a[:, :-2]], axis=1), ninf)
            alpha[t] = xp.where(valid, _lse3(a, a1, a2) + lpe[t], ninf)
        rows = xp.arange(N)
        last = alpha[il - 1, rows]  # (N, L) at each sample's last frame
        end1 = last[rows, 2 * tl]
        end2 = xp.where(tl > 0, last[rows, xp.maximum(2 * tl - 1, 0)], ninf)
        nll = -xp.logaddexp(end1, end2)
        ctx.save_for_backward(lp, lpe, alpha, nll)
        ctx.meta = (ext, skip, valid, il, tl, blank, zero_infinity, dt)
        out = nll
        if zero_infinity:
            out = xp.where(xp.isinf(nll), 0.0, nll)
        return out.astype(dt)

    @staticmethod
    def backward(ctx, grad):
        _no_double_backward(ctx, grad)
        lp, lpe, alpha, nll = ctx.saved_tensors
        ext, skip, valid, il, tl, _, zero_infinity, dt = ctx.meta
        T, N, C = lp.shape
        L = ext.shape[1]
        ninf = -xp.inf
        rows = xp.arange(N)
        beta = xp.full((T, N, L), ninf)
        skip_next = xp.concatenate([skip[:, 2:], xp.zeros((N, 2), bool)], axis=1)
        pad1 = xp.full((N, 1), ninf)
        pad2 = xp.full((N, 2), ninf)
        init = xp.full((N, L), ninf)
        init[rows, 2 * tl] = 0.0
        init[rows, xp.maximum(2 * tl - 1, 0)] = xp.where(tl > 0, 0.0, init[rows, xp.maximum(2 * tl - 1, 0)])
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                b = beta[t + 1]
                b1 = xp.concatenate([b[:, 1:], pad1], axis=1)
                b2 = xp.where(skip_next, xp.concatenate([b[:, 2:], pad2], axis=1), ninf)
                rec = _lse3(b, b1, b2)
            else:
                rec = xp.full((N, L), ninf)
            start = (il - 1 == t)[:, None]
            inside = (t < il - 1)[:, None] & valid
            beta[t] = xp.where(start, init, xp.where(inside, rec, ninf)) + lpe[t]
        # posterior mass of class c at (t, n): logsumexp over s with ext[n, s] == c of alpha+beta
        ab = alpha + beta
        shift = ab.max(axis=2, keepdims=True)
        shift = xp.where(xp.isneginf(shift), 0, shift)
        onehot = (ext[:, :, None] == xp.arange(C)).astype(xp.float64)  # (N, L, C)
        mass = xp.einsum("tnl,nlc->tnc", xp.exp(ab - shift), onehot)
        with xp.errstate(divide="ignore"):
            lcab = xp.log(mass) + shift
        g = xp.exp(lp) - xp.exp(lcab + nll[None, :, None] - lp)
        live = xp.arange(T)[:, None] < il[None, :]
        g = xp.where(live[:, :, None], g, 0.0)
        g = g * xp.asarray(grad, xp.float64).reshape(1, N, 1)
        if zero_infinity:  # an impossible alignment contributes neither loss nor gradient
            g = xp.where(xp.isinf(nll).reshape(1, N, 1), 0.0, g)
        return g.astype(dt), None, None, None, None, None


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist Temporal Classification loss; log_probs (T, N, C) from log_softmax."""
    reduction = _reduction(None, None, reduction)
    unbatched = log_probs.dim() == 2
    lp_t = log_probs.unsqueeze(1) if unbatched else log_probs
    il = xp.asarray(input_lengths._data if isinstance(input_lengths, Tensor) else input_lengths,
                    xp.int64).reshape(-1)
    tl = xp.asarray(target_lengths._data if isinstance(target_lengths, Tensor) else target_lengths,
                    xp.int64).reshape(-1)
    tgt = targets._data.astype(xp.int64, copy=False)
    if unbatched and tgt.ndim == 1 and tgt.size and tl.size == 1 and tgt.size >= tl[0]:
        tgt = tgt[None, : max(int(tl[0]), tgt.size)]
    T, N = lp_t._data.shape[:2]
    if il.size != N:
        raise RuntimeError(f"input_lengths must be of size batch_size, but got {il.size} and "
                           f"batch_size {N}")
    if tl.size != N:
        raise RuntimeError(f"target_lengths must be of size batch_size, but got {tl.size} and "
                           f"batch_size {N}")
    for v in il:
        if v > T:
            raise RuntimeError(f"Expected input_lengths to have value at most {T}, but got value "
                               f"{v} (while checking arguments for ctc_loss_allocate_outputs)")
    smax = int(tl.max()) if tl.size else 0
    if tgt.ndim == 2:
        if tgt.shape[1] < smax:
            raise RuntimeError(
                f"Expected tensor to have size at least {smax} at dimension 1, but got size "
                f"{tgt.shape[1]} for argument #2 'targets' (while checking arguments for "
                "ctc_loss_allocate_outputs)")
        padded = tgt[:, :smax]
    else:  # the targets of all samples concatenated
        offsets = xp.cumsum(tl) - tl
        j = xp.arange(smax)
        idx = offsets[:, None] + j[None, :]
        ok = j[None, :] < tl[:, None]
        padded = xp.where(ok, tgt[xp.clip(idx, 0, max(tgt.size - 1, 0))] if tgt.size else 0, blank)
    ok = xp.arange(smax)[None, :] < tl[:, None]
    padded = xp.where(ok, padded, blank).astype(xp.int64)
    nll = _CtcLoss.apply(lp_t, padded, il, tl, blank, zero_infinity)
    if unbatched:
        nll = nll.squeeze(0)
    if reduction == "mean":
        denom = _t(xp.maximum(tl, 1).astype(nll._data.dtype).reshape(nll._data.shape))
        return (nll / denom).mean()
    return _apply_reduction(nll, reduction)


# ---- kernels from ember/_ops/nn_ops.py ------------------------------------------------------------------

# (the `x as x` form marks them as re-exports)
from .._ops.nn_ops import (  # noqa: E402
    adaptive_avg_pool1d as adaptive_avg_pool1d,
)
from .._ops.nn_ops import (
    adaptive_avg_pool2d as adaptive_avg_pool2d,
)
from .._ops.nn_ops import (
    adaptive_avg_pool3d as adaptive_avg_pool3d,
)
from .._ops.nn_ops import (
    adaptive_max_pool1d as adaptive_max_pool1d,
)
from .._ops.nn_ops import (
    adaptive_max_pool1d_with_indices as adaptive_max_pool1d_with_indices,
)
from .._ops.nn_ops import (
    adaptive_max_pool2d as adaptive_max_pool2d,
)
from .._ops.nn_ops import (
    adaptive_max_pool2d_with_indices as adaptive_max_pool2d_with_indices,
)
from .._ops.nn_ops import (
    adaptive_max_pool3d as adaptive_max_pool3d,
)
from .._ops.nn_ops import (
    adaptive_max_pool3d_with_indices as adaptive_max_pool3d_with_indices,
)
from .._ops.nn_ops import (
    avg_pool1d as avg_pool1d,
)
from .._ops.nn_ops import (
    avg_pool2d as avg_pool2d,
)
from .._ops.nn_ops import (
    avg_pool3d as avg_pool3d,
)
from .._ops.nn_ops import (
    conv1d as conv1d,
)
from .._ops.nn_ops import (
    conv2d as conv2d,
)
from .._ops.nn_ops import (
    conv3d as conv3d,
)
from .._ops.nn_ops import (
    conv_transpose1d as conv_transpose1d,
)
from .._ops.nn_ops import (
    conv_transpose2d as conv_transpose2d,
)
from .._ops.nn_ops import (
    conv_transpose3d as conv_transpose3d,
)
from .._ops.nn_ops import (
    cross_entropy as cross_entropy,
)
from .._ops.nn_ops import (
    fold as fold,
)
from .._ops.nn_ops import (
    fractional_max_pool2d as fractional_max_pool2d,
)
from .._ops.nn_ops import (
    fractional_max_pool2d_with_indices as fractional_max_pool2d_with_indices,
)
from .._ops.nn_ops import (
    fractional_max_pool3d as fractional_max_pool3d,
)
from .._ops.nn_ops import (
    fractional_max_pool3d_with_indices as fractional_max_pool3d_with_indices,
)
from .._ops.nn_ops import (
    interpolate as interpolate,
)
from .._ops.nn_ops import (
    log_softmax as log_softmax,
)
from .._ops.nn_ops import (
    lp_pool1d as lp_pool1d,
)
from .._ops.nn_ops import (
    lp_pool2d as lp_pool2d,
)
from .._ops.nn_ops import (
    lp_pool3d as lp_pool3d,
)
from .._ops.nn_ops import (
    max_pool1d as max_pool1d,
)
from .._ops.nn_ops import (
    max_pool1d_with_indices as max_pool1d_with_indices,
)
from .._ops.nn_ops import (
    max_pool2d as max_pool2d,
)
from .._ops.nn_ops import (
    max_pool2d_with_indices as max_pool2d_with_indices,
)
from .._ops.nn_ops import (
    max_pool3d as max_pool3d,
)
from .._ops.nn_ops import (
    max_pool3d_with_indices as max_pool3d_with_indices,
)
from .._ops.nn_ops import (
    max_unpool1d as max_unpool1d,
)
from .._ops.nn_ops import (
    max_unpool2d as max_unpool2d,
)
from .._ops.nn_ops import (
    max_unpool3d as max_unpool3d,
)
from .._ops.nn_ops import (
    nll_loss as nll_loss,
)
from .._ops.nn_ops import (
    pad as pad,
)
from .._ops.nn_ops import (
    softmax as softmax,
)
from .._ops.nn_ops import (
    unfold as unfold,
)
from .._ops.nn_ops import (
    upsample as upsample,
)
from .._ops.nn_ops import (
    upsample_bilinear as upsample_bilinear,
)
from .._ops.nn_ops import (
    upsample_nearest as upsample_nearest,
)

# attention ----------------------------------------------------------------------------------------


def _causal_keep(L, S):
    """(L, S) bool: query i may attend to keys 0..i (top-left aligned, as PyTorch)."""
    return xp.tri(L, S, dtype=bool)


def _sdpa_checks(query, key, value, attn_mask, dropout_p):
    qd, kd, vd = query._data, key._data, value._data
    if qd.ndim < 2 or kd.ndim < 2 or vd.ndim < 2:
        raise RuntimeError("Expected query, key, and value to all be  at least 2 dimensional, but "
                           f"got query.dim: {qd.ndim} key.dim: {kd.ndim} and value.dim: {vd.ndim}"
                           " instead.")
    if not qd.dtype == kd.dtype == vd.dtype:
        raise RuntimeError("Expected query, key, and value to have the same dtype, but got "
                           f"query.dtype: {_dt_name(qd.dtype)} key.dtype: {_dt_name(kd.dtype)} "
                           f"and value.dtype: {_dt_name(vd.dtype)} instead.")
    if qd.dtype.kind != "f":
        raise RuntimeError(f"expected scalar type Float but found {_tname(qd.dtype)}")
    if attn_mask is not None:
        md = attn_mask._data
        if md.dtype != xp.bool_ and md.dtype != qd.dtype:
            raise RuntimeError("Expected attn_mask dtype to be bool or float or to match query "
                               f"dtype, but got attn_mask.dtype: {_dt_name(md.dtype)} and  "
                               f"query.dtype: {_dt_name(qd.dtype)} instead.")
    if not 0.0 <= dropout_p <= 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, *, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q k^T * scale + mask) v over the last two dims; dropout on the weights."""
    _sdpa_checks(query, key, value, attn_mask, dropout_p)
    dt = query._data.dtype
    L, S = query._data.shape[-2], key._data.shape[-2]
    if is_causal and attn_mask is not None:
        # PyTorch's CPU flash kernel (4-D inputs, no dropout, no mask grad) applies both; its math
        # path refuses: follow whichever PyTorch would take
        qs, ks, vs = query._data.shape, key._data.shape, value._data.shape
        flash = (len(qs) == len(ks) == len(vs) == 4 and dropout_p == 0
                 and not (attn_mask._requires_grad and _grad_state[0])
                 and qs[0] == ks[0] == vs[0] and ks[1] == vs[1] and qs[3] == vs[3]
                 and (qs[1] == ks[1] or enable_gqa))
        if not flash:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                               "set when is_causal=True")
    # the additive mask: an ndarray where it is a constant, a Tensor where it may carry a grad
    bias = None
    if attn_mask is not None and attn_mask._data.dtype == xp.bool_:
        keep = attn_mask._data & _causal_keep(L, S) if is_causal else attn_mask._data
        bias = xp.where(keep, dt.type(0), dt.type(-xp.inf))
    elif attn_mask is not None:
        bias = attn_mask
        if is_causal:
            bias = bias + _t(xp.where(_causal_keep(L, S), dt.type(0), dt.type(-xp.inf)))
    elif is_causal:
        bias = xp.where(_causal_keep(L, S), dt.type(0), dt.type(-xp.inf))
    # rows whose every key is masked give 0 (PyTorch's _safe_softmax), not NaN: softmax runs on
    # a harmless 0 bias there and the weights are zeroed after it
    dead = None
    if bias is not None:
        b = bias._data if isinstance(bias, Tensor) else bias
        dead = xp.isneginf(b).all(axis=-1, keepdims=True)
        if dead.any():
            bias = bias.masked_fill(_t(dead), 0.0) if isinstance(bias, Tensor) else xp.where(
                dead, dt.type(0), bias)
        else:
            dead = None
    if enable_gqa:
        hq, hk, hv = (t._data.shape[-3] if t.ndim >= 3 else 1 for t in (query, key, value))
        if hq % hk or hq % hv:
            raise RuntimeError("Number of heads in key and value must divide the number of heads "
                               f"in query (got {hq} query, {hk} key and {hv} value heads)")
        if hk != hq:
            key = key.repeat_interleave(hq // hk, -3)
        if hv != hq:
            value = value.repeat_interleave(hq // hv, -3)
    factor = 1.0 / math.sqrt(query._data.shape[-1]) if scale is None else scale
    attn = (query * factor).matmul(key.transpose(-2, -1))
    if bias is not None:
        attn = attn + (bias if isinstance(bias, Tensor) else _t(bias))
    attn = softmax(attn, -1)
    if dead is not None:
        attn = attn.masked_fill(_t(dead), 0.0)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p, True)
    return attn.matmul(value)


def _none_or_dtype(input):
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or torch.Tensor")


def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """A bool mask (True = masked out) as a float one with -inf there; float masks pass through."""
    if mask is None:
        return None
    md = mask._data
    if md.dtype != xp.bool_ and md.dtype.kind != "f":
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use "
                      "same type for both instead.", stacklevel=2)
    if md.dtype == xp.bool_:
        tnp = _dtype.to_dtype(target_type).np
        return _t(xp.where(md, tnp.type(-xp.inf), tnp.type(0)))
    return mask


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """Whether the input is batched (3-D query) or not (2-D); PyTorch's shape assertions."""
    if query.dim() == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError("For batched (3-D) `query`, expected `key` and `value` to be 3-D "
                                 f"but found {key.dim()}-D and {value.dim()}-D tensors "
                                 "respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError("For batched (3-D) `query`, expected `key_padding_mask` to be "
                                 f"`None` or 2-D but found {key_padding_mask.dim()}-D tensor "
                                 "instead")
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError("For batched (3-D) `query`, expected `attn_mask` to be `None`, "
                                 f"2-D or 3-D but found {attn_mask.dim()}-D tensor instead")
        return True
    if query.dim() == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError("For unbatched (2-D) `query`, expected `key` and `value` to be "
                                 f"2-D but found {key.dim()}-D and {value.dim()}-D tensors "
                                 "respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError("For unbatched (2-D) `query`, expected `key_padding_mask` to be "
                                 f"`None` or 1-D but found {key_padding_mask.dim()}-D tensor "
                                 "instead")
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError("For unbatched (2-D) `query`, expected `attn_mask` to be "
                                     f"`None`, 2-D or 3-D but found {attn_mask.dim()}-D tensor "
                                     "instead")
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.dim() == 3 and tuple(attn_mask.shape) != expected:
                raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                     f"{attn_mask.shape}")
        return False
    raise AssertionError("query should be unbatched 2D or batched 3D tensor but received "
                         f"{query.dim()}-D query tensor")


def _in_projection_packed(q, k, v, w, b=None):
    """q, k, v projected by the stacked (3E, E) weight; one matmul where inputs coincide."""
    E = q.shape[-1]
    if k is v:
        if q is k:
            return linear(q, w, b).chunk(3, -1)
        w_q, w_kv = w.split([E, 2 * E])
        b_q, b_kv = (None, None) if b is None else b.split([E, 2 * E])
        return (linear(q, w_q, b_q), *linear(k, w_kv, b_kv).chunk(2, -1))
    b_q, b_k, b_v = (None,) * 3 if b is None else b.chunk(3)
    w_q, w_k, w_v = w.chunk(3)
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _in_projection(q, k, v, w_q, w_k, w_v, b_q=None, b_k=None, b_v=None):
    """q, k, v projected by separate weights (kdim/vdim differ from embed_dim)."""
    Eq, Ek, Ev = q.shape[-1], k.shape[-1], v.shape[-1]
    for name, t, shape in (("query weights", w_q, (Eq, Eq)), ("key weights", w_k, (Eq, Ek)),
                           ("value weights", w_v, (Eq, Ev)), ("query bias", b_q, (Eq,)),
                           ("key bias", b_k, (Eq,)), ("value bias", b_v, (Eq,))):
        if t is not None and tuple(t.shape) != shape:
            raise AssertionError(f"expecting {name} shape of {shape}, but got {t.shape}")
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def multi_head_attention_forward(
        query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
        in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
        bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
        out_proj_bias: Tensor | None, training: bool = True,
        key_padding_mask: Tensor | None = None, need_weights: bool = True,
        attn_mask: Tensor | None = None, use_separate_proj_weight: bool = False,
        q_proj_weight: Tensor | None = None, k_proj_weight: Tensor | None = None,
        v_proj_weight: Tensor | None = None, static_k: Tensor | None = None,
        static_v: Tensor | None = None, average_attn_weights: bool = True,
        is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention on (L, N, E) inputs (or unbatched (L, E)), as nn.MultiheadAttention."""
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask",
                                       _none_or_dtype(attn_mask), "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint is trusted: SDPA builds the causal mask itself
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got "
                             f"{embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(f"key's sequence and batch dims {key.shape[:2]} do not match "
                                 f"value's {value.shape[:2]}")
        for name, w in (("q", q_proj_weight), ("k", k_proj_weight), ("v", v_proj_weight)):
            if w is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name}_proj_weight "
                                     "is None")
        b_q, b_k, b_v = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = _in_projection(query, key, value, q_proj_weight, k_proj_weight, v_proj_weight,
                                 b_q, b_k, b_v)
    else:
        if key.shape != value.shape:
            raise AssertionError(f"key shape {key.shape} does not match value shape "
                                 f"{value.shape}")
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)

    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but "
                                   f"should be {(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but "
                                   f"should be {(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")

    if bias_k is not None and bias_v is not None:
        if static_k is not None:
            raise AssertionError("bias cannot be added to static key.")
        if static_v is not None:
            raise AssertionError("bias cannot be added to static value.")
        k = _cat([k, bias_k.repeat(1, bsz, 1)])
        v = _cat([v, bias_v.repeat(1, bsz, 1)])
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    elif bias_k is not None:
        raise AssertionError("bias_k is set but bias_v is None")
    elif bias_v is not None:
        raise AssertionError("bias_v is set but bias_k is None")

    # heads side by side: (L, N, E) -> (N * H, L, head_dim), PyTorch's batch-major head order
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    if static_k is None:
        k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        _check_static(static_k, "k", bsz * num_heads, head_dim)
        k = static_k
    if static_v is None:
        v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        _check_static(static_v, "v", bsz * num_heads, head_dim)
        v = static_v

    if add_zero_attn:
        zeros = _creation.zeros((bsz * num_heads, 1, head_dim), dtype=k.dtype)
        k = _cat([k, zeros], dim=1)
        v = _cat([v, zeros.to(v.dtype)], dim=1)
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))

    src_len = k.shape[1]
    if key_padding_mask is not None:
        if key_padding_mask.shape[0] != bsz:
            raise AssertionError(f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                                 f"{key_padding_mask.shape[0]}")
        if key_padding_mask.shape[1] != src_len:
            raise AssertionError(f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                                 f"{key_padding_mask.shape[1]}")
        key_padding_mask = (key_padding_mask.reshape(bsz, 1, 1, src_len)
                            .expand(-1, num_heads, -1, -1).reshape(bsz * num_heads, 1, src_len))
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask

    if not training:
        dropout_p = 0.0

    if need_weights:
        # the weights are returned, so they are formed here (a plain softmax: a fully masked row
        # gives NaN, as in PyTorch)
        q_scaled = q * math.sqrt(1.0 / float(head_dim))
        weights = q_scaled.bmm(k.transpose(-2, -1))
        if attn_mask is not None:
            weights = weights + attn_mask
        weights = softmax(weights, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, p=dropout_p)
        out = weights.bmm(v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not is_batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        if attn_mask.shape[0] == 1 and attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
    if not is_batched:
        out = out.squeeze(1)
    return out, None


def _check_static(t, name, n, head_dim):
    if t.shape[0] != n:
        raise AssertionError(f"expecting static_{name}.size(0) of {n}, but got {t.shape[0]}")
    if t.shape[2] != head_dim:
        raise AssertionError(f"expecting static_{name}.size(2) of {head_dim}, but got "
                             f"{t.shape[2]}")
