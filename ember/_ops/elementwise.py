"""Elementwise ops: arithmetic, unary math, comparisons, casts, and their in-place forms."""
from __future__ import annotations

import math

import numpy as np

from .. import _dtype
from .._tensor import ARRAY_FUNCTIONS, UFUNCS, Tensor, _make, register_methods
from ..autograd import grad_mode
from ..autograd.function import Function
from ._util import as_tensor_arg, float_dtype_for

_grad_state = grad_mode._state
_float_kind = "f"


def _cast(x, dt):
    if dt is None or not isinstance(x, np.ndarray) or x.dtype == dt:
        return x
    return x.astype(dt)


# ---- binary arithmetic ------------------------------------------------------------------------
class Add(Function):
    @staticmethod
    def forward(ctx, a, b, dt=None):
        if dt is not None:
            a, b = _cast(a, dt), _cast(b, dt)
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b, dt=None):
        if dt is not None:
            a, b = _cast(a, dt), _cast(b, dt)
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b, dt=None):
        if dt is not None:
            a, b = _cast(a, dt), _cast(b, dt)
        need_a, need_b = ctx.needs_input_grad[:2] if ctx.needs_input_grad else (False, False)
        ctx.save_for_backward(b if need_a else None, a if need_b else None)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        b, a = ctx.saved_tensors
        return (grad * b if b is not None else None), (grad * a if a is not None else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b, dt=None):
        if dt is not None:
            a, b = _cast(a, dt), _cast(b, dt)
        need_b = ctx.needs_input_grad[1] if ctx.needs_input_grad else False
        out = a / b
        ctx.save_for_backward(b, out if need_b else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        b, out = ctx.saved_tensors
        ga = grad / b if ctx.needs_input_grad[0] else None
        gb = -grad * out / b if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b, dt=None):
        if dt is not None:
            a, b = _cast(a, dt), _cast(b, dt)
        out = a ** b
        ctx.save_for_backward(a, b, out if ctx.needs_input_grad and ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            if isinstance(b, (int, float)):
                # d/da a**b; b == 0 gives 0 everywhere (PyTorch: grad 0, not nan, at a == 0)
                ga = grad * (b * a ** (b - 1)) if b != 0 else grad * 0
            else:
                ga = grad * np.where(b == 0, 0, b * a ** (b - 1))
        if ctx.needs_input_grad[1]:
            # d/db a**b = a**b log a, defined as 0 where a == 0 and b >= 0
            gb = grad * np.where((a == 0) & (b >= 0), 0, out * np.log(np.where(a == 0, 1, a)))
        return ga, gb


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b, dt=None):
        if dt is not None:
            a, b = _cast(a, dt), _cast(b, dt)
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        # ties split the gradient evenly, as in PyTorch
        ga = grad * ((a > b) + (a == b) * 0.5)
        gb = grad * ((b > a) + (a == b) * 0.5)
        return ga, gb


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b, dt=None):
        if dt is not None:
            a, b = _cast(a, dt), _cast(b, dt)
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = grad * ((a < b) + (a == b) * 0.5)
        gb = grad * ((b < a) + (a == b) * 0.5)
        return ga, gb


class Fmod(Function):
    @staticmethod
    def forward(ctx, a, b, dt=None):
        if dt is not None:
            a, b = _cast(a, dt), _cast(b, dt)
        ctx.save_for_backward(a, b)
        return np.fmod(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad, -grad * np.trunc(a / b)


class Remainder(Function):
    @staticmethod
    def forward(ctx, a, b, dt=None):
        if dt is not None:
            a, b = _cast(a, dt), _cast(b, dt)
        ctx.save_for_backward(a, b)
        return np.remainder(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad, -grad * np.floor(a / b)


def _binary(cls, a, b):
    """Apply a binary Function with PyTorch's result dtype (NumPy's differs for mixed kinds)."""
    if a.__class__ is not Tensor and not isinstance(a, Tensor):
        a = as_tensor_arg(a)
    if b.__class__ is not Tensor and not isinstance(b, Tensor):
        b = as_tensor_arg(b)
        if b.__class__ is float and isinstance(a, Tensor) and a._data.dtype.kind == "f":
            return cls.apply(a, b)  # float tensor with a Python float: NumPy keeps the dtype
    elif isinstance(a, Tensor) and a._data.dtype is b._data.dtype:
        return cls.apply(a, b)
    dt = _dtype.result_type(a, b).np
    return cls.apply(a, b, dt=dt)


def _float_binary(cls, a, b):
    """Like _binary, but integer results become the default float (true division)."""
    a, b = as_tensor_arg(a), as_tensor_arg(b)
    dt = _dtype.result_type(a, b)
    if not dt.is_floating_point:
        dt = _dtype.get_default_dtype()
    da = a._data.dtype if isinstance(a, Tensor) else None
    db = b._data.dtype if isinstance(b, Tensor) else None
    if (da is None or da == dt.np) and (db is None or db == dt.np):
        return cls.apply(a, b)
    return cls.apply(a, b, dt=dt.np)


def add(input, other, *, alpha=1, out=None):
    if alpha != 1:
        other = mul(other, alpha)
    return _out(_binary(Add, input, other), out)


def sub(input, other, *, alpha=1, out=None):
    if alpha != 1:
        other = mul(other, alpha)
    if isinstance(input, Tensor) and input._data.dtype == np.bool_ and isinstance(other, Tensor) \
            and other._data.dtype == np.bool_:
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
            "`logical_xor()` operator instead.")
    return _out(_binary(Sub, input, other), out)


def mul(input, other, *, out=None):
    return _out(_binary(Mul, input, other), out)


def div(input, other, *, rounding_mode=None, out=None):
    if rounding_mode is None:
        return _out(_float_binary(Div, input, other), out)
    if rounding_mode == "trunc":
        r = _binary_nograd(np.divide, input, other)
        res = _make(np.trunc(r._data).astype(r._data.dtype) if r._data.dtype.kind == "f" else r._data, False, None, 0)
        return _out(_int_div_result(input, other, res, np.trunc), out)
    if rounding_mode == "floor":
        return _out(floor_divide(input, other), out)
    raise RuntimeError(
        f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


def _int_div_result(a, b, res, rounder):
    dt = _dtype.result_type(as_tensor_arg(a), as_tensor_arg(b))
    if dt.is_floating_point:
        return res
    a_ = a._data if isinstance(a, Tensor) else a
    b_ = b._data if isinstance(b, Tensor) else b
    q = rounder(np.true_divide(a_, b_))
    return _make(np.asarray(q).astype(dt.np), False, None, 0)


subtract, multiply, divide = sub, mul, div


def true_divide(input, other, *, out=None):
    return div(input, other, out=out)


def floor_divide(input, other, *, out=None):
    a, b = as_tensor_arg(input), as_tensor_arg(other)
    dt = _dtype.result_type(a, b).np
    a_ = a._data if isinstance(a, Tensor) else a
    b_ = b._data if isinstance(b, Tensor) else b
    if dt.kind in "iu":
        if np.any(np.asarray(b_) == 0):
            raise RuntimeError("ZeroDivisionError")
        res = np.floor_divide(np.asarray(a_).astype(dt), np.asarray(b_).astype(dt))
    else:
        res = np.floor_divide(_cast(np.asarray(a_), dt), _cast(np.asarray(b_), dt)).astype(dt, copy=False)
    return _out(_make(np.asarray(res), False, None, 0), out)


def remainder(input, other, *, out=None):
    return _out(_binary(Remainder, input, other), out)


def fmod(input, other, *, out=None):
    return _out(_binary(Fmod, input, other), out)


def pow(input, exponent, *, out=None):
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        e = as_tensor_arg(exponent)
        if input._data.dtype.kind in "iub" and isinstance(e, int) and e < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        if isinstance(e, float) and input._data.dtype.kind != "f":
            return _out(Pow.apply(input, e, dt=_dtype.get_default_dtype().np), out)
        if input._data.dtype.kind == "f" or isinstance(e, int):
            return _out(Pow.apply(input, e), out)
    return _out(_binary(Pow, input, exponent), out)


def float_power(input, exponent):
    a, e = as_tensor_arg(input), as_tensor_arg(exponent)
    return Pow.apply(a, e, dt=np.dtype(np.float64))


def maximum(input, other, *, out=None):
    return _out(_binary(Maximum, input, other), out)


def minimum(input, other, *, out=None):
    return _out(_binary(Minimum, input, other), out)


def fmax(input, other):
    return maximum(input, other)


def fmin(input, other):
    return minimum(input, other)


def _rsub(a, b):
    return sub(b, a)


def rsub(input, other, alpha=1):
    return sub(other, input, alpha=alpha)


def _out(result, out):
    """Honour out=: copy into the given tensor (resizing it as PyTorch does)."""
    if out is None:
        return result
    if out._data.shape != result._data.shape:
        out._data = np.empty(result._data.shape, out._data.dtype)
    np.copyto(out._data, result._data, casting="same_kind")
    out._bump()
    return out


def _binary_nograd(ufunc, a, b):
    a, b = as_tensor_arg(a), as_tensor_arg(b)
    a_ = a._data if isinstance(a, Tensor) else a
    b_ = b._data if isinstance(b, Tensor) else b
    return _make(np.asarray(ufunc(a_, b_)), False, None, 0)


# ---- unary math ---------------------------------------------------------------------------------
class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.sign(a)


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(_cast(a, float_dtype_for(a)))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Exp2(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp2(_cast(a, float_dtype_for(a)))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * math.log(2.0)


class Expm1(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.expm1(_cast(a, float_dtype_for(a)))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out + 1)


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        a = _cast(a, float_dtype_for(a))
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Log2(Function):
    @staticmethod
    def forward(ctx, a):
        a = _cast(a, float_dtype_for(a))
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log2(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * math.log(2.0))


class Log10(Function):
    @staticmethod
    def forward(ctx, a):
        a = _cast(a, float_dtype_for(a))
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * math.log(10.0))


class Log1p(Function):
    @staticmethod
    def forward(ctx, a):
        a = _cast(a, float_dtype_for(a))
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a + 1)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        with np.errstate(invalid="ignore"):
            out = np.sqrt(_cast(a, float_dtype_for(a)))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


class Rsqrt(Function):
    @staticmethod
    def forward(ctx, a):
        a = _cast(a, float_dtype_for(a))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 1 / np.sqrt(a)
        ctx.save_for_backward(out)
        return out.astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * -0.5 * out ** 3


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        a = _cast(a, float_dtype_for(a))
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * np.cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        a = _cast(a, float_dtype_for(a))
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad * np.sin(a)


class Tan(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tan(_cast(a, float_dtype_for(a)))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 + out * out)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(_cast(a, float_dtype_for(a)))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        a = _cast(a, float_dtype_for(a))
        # 1/(1+exp(-x)) overflows for x << 0; the tanh form is stable everywhere
        out = np.tanh(a * 0.5)
        out *= 0.5
        out += 0.5
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


class Relu(Function):
    _node_name = "ReluBackward0"

    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0, dtype=a.dtype) if a.dtype.kind != "b" else a.copy()
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out > 0)


class Erf(Function):
    @staticmethod
    def forward(ctx, a):
        a = _cast(a, float_dtype_for(a))
        ctx.save_for_backward(a)
        return _erf(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * (2.0 / math.sqrt(math.pi)) * np.exp(-a * a)


def _erf(x):
    """erf for arrays, vectorised: math.erf is exact but scalar; use it via frompyfunc only if
    needed. W. J. Cody's rational approximations are what libm uses; NumPy lacks erf, so we
    evaluate in float64 with the Abramowitz-Stegun 7.1.26-free formulation via math.erf ufunc."""
    return _ERF(x.astype(np.float64)).astype(x.dtype)


_ERF = np.vectorize(math.erf, otypes=[np.float64])


class Reciprocal(Function):
    @staticmethod
    def forward(ctx, a):
        a = _cast(a, float_dtype_for(a))
        with np.errstate(divide="ignore"):
            out = 1 / a
        out = out.astype(a.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return -grad * out * out


class Clamp(Function):
    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a)
        ctx.lo, ctx.hi = lo, hi
        if lo is not None and hi is not None:
            return np.minimum(np.maximum(a, lo), hi).astype(a.dtype, copy=False)
        if lo is not None:
            return np.maximum(a, lo).astype(a.dtype, copy=False)
        return np.minimum(a, hi).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        mask = True
        if ctx.lo is not None:
            mask = mask & (a >= ctx.lo)
        if ctx.hi is not None:
            mask = mask & (a <= ctx.hi)
        return grad * mask, None, None


class _Rounding(Function):
    """floor/ceil/round/trunc/sign: piecewise constant, so the gradient is zero."""

    @staticmethod
    def backward(ctx, grad):
        return grad * 0


class Floor(_Rounding):
    @staticmethod
    def forward(ctx, a):
        return np.floor(a) if a.dtype.kind == "f" else a.copy()


class Ceil(_Rounding):
    @staticmethod
    def forward(ctx, a):
        return np.ceil(a) if a.dtype.kind == "f" else a.copy()


class Trunc(_Rounding):
    @staticmethod
    def forward(ctx, a):
        return np.trunc(a) if a.dtype.kind == "f" else a.copy()


class Round(_Rounding):
    @staticmethod
    def forward(ctx, a, decimals=0):
        # NumPy and PyTorch both round half to even
        return np.round(a, decimals) if a.dtype.kind == "f" else a.copy()


class Sign(_Rounding):
    @staticmethod
    def forward(ctx, a):
        return np.sign(a) if a.dtype.kind != "b" else a.copy()


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b, dt=None):
        if dt is not None:
            a, b = _cast(a, dt), _cast(b, dt)
        ctx.save_for_backward(cond)
        out = np.where(cond, a, b)
        if dt is not None and out.dtype != dt:
            out = out.astype(dt)
        return out

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved_tensors
        zero = grad * 0
        return None, np.where(cond, grad, zero), np.where(cond, zero, grad)


class Lerp(Function):
    @staticmethod
    def forward(ctx, start, end, weight):
        ctx.save_for_backward(start, end, weight)
        return start + weight * (end - start)

    @staticmethod
    def backward(ctx, grad):
        start, end, weight = ctx.saved_tensors
        return grad * (1 - weight), grad * weight, grad * (end - start)


class Cast(Function):
    _node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, a, dt):
        return a.astype(dt)

    @staticmethod
    def backward(ctx, grad):
        return grad, None  # the engine casts back to the input's dtype


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


def _unary(cls):
    def op(input, *, out=None):
        if not isinstance(input, Tensor):
            input = _make(np.asarray(input), False, None, 0)
        return _out(cls.apply(input), out)

    return op


neg = negative = _unary(Neg)
abs = absolute = _unary(Abs)
exp = _unary(Exp)
exp2 = _unary(Exp2)
expm1 = _unary(Expm1)
log = _unary(Log)
log2 = _unary(Log2)
log10 = _unary(Log10)
log1p = _unary(Log1p)
sqrt = _unary(Sqrt)
rsqrt = _unary(Rsqrt)
sin = _unary(Sin)
cos = _unary(Cos)
tan = _unary(Tan)
tanh = _unary(Tanh)
sigmoid = _unary(Sigmoid)
relu = _unary(Relu)
erf = _unary(Erf)
reciprocal = _unary(Reciprocal)
floor = _unary(Floor)
ceil = _unary(Ceil)
trunc = fix = _unary(Trunc)
sign = _unary(Sign)


def square(input, *, out=None):
    return _out(mul(input, input), out)


def round(input, *, decimals=0, out=None):
    return _out(Round.apply(input, decimals), out)


def sgn(input):
    return sign(input)


def erfc(input):
    return 1 - erf(input)


def clamp(input, min=None, max=None, *, out=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        r = input
        if min is not None:
            r = maximum(r, min)
        if max is not None:
            r = minimum(r, max)
        return _out(r, out)
    lo = None if min is None else _scalar_for(input, min)
    hi = None if max is None else _scalar_for(input, max)
    if input._data.dtype.kind != "f" and (isinstance(lo, float) or isinstance(hi, float)):
        input = input.to(_dtype.get_default_dtype())
    return _out(Clamp.apply(input, lo, hi), out)


def _scalar_for(t, v):
    v = v.item() if isinstance(v, np.generic) else v
    return v


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def where(condition, input=None, other=None, *, out=None):
    if input is None and other is None:
        from .indexing import nonzero

        return nonzero(condition, as_tuple=True)
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {_dtype.from_numpy_dtype(cond.dtype).name.capitalize()}")
    a, b = as_tensor_arg(input), as_tensor_arg(other)
    dt = _dtype.result_type(a, b).np
    return _out(Where.apply(cond, a, b, dt=dt), out)


def lerp(input, end, weight, *, out=None):
    w = as_tensor_arg(weight)
    return _out(Lerp.apply(input, end, w), out)


def clone(input, *, memory_format=None):
    return Clone.apply(input)


def _to_dtype(t, dt, copy=False):
    if t._data.dtype == dt.np:
        return Clone.apply(t) if copy else t
    if t._requires_grad and not dt.is_floating_point and grad_mode._state[0]:
        return _make(t._data.astype(dt.np), False, None, 0)  # ints carry no gradient
    return Cast.apply(t, dt.np)


# ---- comparisons and logic (not differentiable) -----------------------------------------------------
def _cmp(ufunc, name):
    def op(input, other, *, out=None):
        a = input._data if isinstance(input, Tensor) else input
        b = other._data if isinstance(other, Tensor) else as_tensor_arg(other)
        if isinstance(b, Tensor):
            b = b._data
        try:
            res = ufunc(a, b)
        except ValueError:
            from ._shape import broadcast_error

            raise broadcast_error(np.shape(a), np.shape(b), op.__name__) from None
        return _out(_make(np.asarray(res), False, None, 0), out)

    op.__name__ = name
    return op


eq = _cmp(np.equal, "eq")
ne = not_equal = _cmp(np.not_equal, "ne")
lt = less = _cmp(np.less, "lt")
le = less_equal = _cmp(np.less_equal, "le")
gt = greater = _cmp(np.greater, "gt")
ge = greater_equal = _cmp(np.greater_equal, "ge")
logical_and = _cmp(np.logical_and, "logical_and")
logical_or = _cmp(np.logical_or, "logical_or")
logical_xor = _cmp(np.logical_xor, "logical_xor")


def logical_not(input, *, out=None):
    return _out(_make(np.logical_not(input._data), False, None, 0), out)


def _bitwise(ufunc, name):
    def op(input, other):
        a = as_tensor_arg(input)
        b = as_tensor_arg(other)
        for t in (a, b):
            if isinstance(t, Tensor) and t._data.dtype.kind == "f":
                raise RuntimeError(f'"{name}_cpu" not implemented for \'Float\'')
        dt = _dtype.result_type(a, b).np
        a_ = a._data if isinstance(a, Tensor) else a
        b_ = b._data if isinstance(b, Tensor) else b
        return _make(np.asarray(ufunc(a_, b_)).astype(dt, copy=False), False, None, 0)

    return op


bitwise_and = _bitwise(np.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(np.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(np.bitwise_xor, "bitwise_xor")


def bitwise_not(input):
    if input._data.dtype.kind == "f":
        raise RuntimeError("\"bitwise_not_cpu\" not implemented for 'Float'")
    return _make(np.invert(input._data), False, None, 0)


def isnan(input):
    return _make(np.isnan(input._data), False, None, 0)


def isinf(input):
    return _make(np.isinf(input._data), False, None, 0)


def isposinf(input):
    return _make(np.isposinf(input._data), False, None, 0)


def isneginf(input):
    return _make(np.isneginf(input._data), False, None, 0)


def isfinite(input):
    return _make(np.isfinite(input._data), False, None, 0)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _make(np.isclose(input._data, _raw(other), rtol=rtol, atol=atol, equal_nan=equal_nan),
                 False, None, 0)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(np.allclose(input._data, _raw(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other) -> bool:
    return input._data.shape == other._data.shape and bool(np.array_equal(input._data, other._data))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    return _make(np.nan_to_num(input._data, nan=nan, posinf=posinf, neginf=neginf), False, None, 0)


def _raw(x):
    return x._data if isinstance(x, Tensor) else x


# ---- in-place forms ---------------------------------------------------------------------------------
_TYPE_NAMES = {"f": {2: "Half", 4: "Float", 8: "Double"}, "i": {1: "Char", 2: "Short", 4: "Int", 8: "Long"},
               "u": {1: "Byte"}, "b": {1: "Bool"}}


def _tname(dt):
    return _TYPE_NAMES[dt.kind][dt.itemsize]


def _inplace(op, ufunc=None):
    """x.op_(y): NumPy's in-place ufunc when no graph is recorded, else compute and rebase."""

    def method(self, *args, **kwargs):
        self._check_inplace()
        if ufunc is not None and not kwargs and len(args) == 1 and not (
                _grad_state[0] and (self._requires_grad or (isinstance(args[0], Tensor) and args[0]._requires_grad))):
            other = args[0]
            other = other._data if isinstance(other, Tensor) else as_tensor_arg(other)
            if isinstance(other, Tensor):
                other = other._data
            try:
                ufunc(self._data, other, out=self._data, casting="same_kind")
            except TypeError:  # NumPy's UFuncTypeError: the result can't be cast to self's dtype
                res_dt = np.result_type(self._data, other)
                raise RuntimeError(f"result type {_tname(res_dt)} can't be cast to the desired "
                                   f"output type {_tname(self._data.dtype)}") from None
            except ValueError:
                shape = np.broadcast_shapes(self._data.shape, np.shape(other))
                raise RuntimeError(
                    f"output with shape {list(self._data.shape)} doesn't match the broadcast shape "
                    f"{list(shape)}") from None
            self._vc[0] += 1
            return self
        return _rebase(self, op(self, *args, **kwargs))

    return method


def _rebase(self, res):
    """Write an out-of-place result into self and make self's history that result's."""
    if res._data.shape != self._data.shape:
        raise RuntimeError(
            f"output with shape {list(self._data.shape)} doesn't match the broadcast shape "
            f"{list(res._data.shape)}")
    if res._data.dtype != self._data.dtype and not np.can_cast(res._data.dtype, self._data.dtype, "same_kind"):
        raise RuntimeError(f"result type {_tname(res._data.dtype)} can't be cast to the desired "
                           f"output type {_tname(self._data.dtype)}")
    np.copyto(self._data, res._data, casting="unsafe")
    self._vc[0] += 1
    if res._requires_grad:
        self._grad_fn = res._grad_fn
        self._output_nr = res._output_nr
        self._requires_grad = True
    return self


def _unary_inplace(op):
    def method(self, *args, **kwargs):
        self._check_inplace()
        return _rebase(self, op(self, *args, **kwargs))

    return method


def zero_(self):
    self._check_inplace()
    if _grad_state[0] and self._requires_grad:
        return _rebase(self, self * 0)
    self._data[...] = 0
    self._vc[0] += 1
    return self


def fill_(self, value):
    self._check_inplace()
    v = value.item() if isinstance(value, Tensor) else value
    if _grad_state[0] and (self._requires_grad or (isinstance(value, Tensor) and value._requires_grad)):
        return _rebase(self, self * 0 + value)
    self._data[...] = v
    self._vc[0] += 1
    return self


def copy_(self, src, non_blocking=False):
    self._check_inplace()
    if _grad_state[0] and isinstance(src, Tensor) and (src._requires_grad or self._requires_grad):
        from .movement import expand

        s = _to_dtype(src, _dtype.from_numpy_dtype(self._data.dtype))
        return _rebase(self, expand(s, *self._data.shape) + self * 0)
    s = src._data if isinstance(src, Tensor) else np.asarray(src)
    try:
        np.copyto(self._data, np.broadcast_to(s, self._data.shape), casting="unsafe")
    except ValueError:
        raise RuntimeError(
            f"The size of tensor a ({self._data.shape[-1] if self._data.ndim else 1}) must match the "
            f"size of tensor b ({s.shape[-1] if s.ndim else 1}) at non-singleton dimension "
            f"{max(self._data.ndim - 1, 0)}") from None
    self._vc[0] += 1
    return self


# ---- casts and conversions as methods -------------------------------------------------------------
def to(self, *args, **kwargs):
    """to(dtype) / to(device) / to(device, dtype) / to(other) / to(..., copy=True)."""
    from .._device import check_device

    dt = kwargs.pop("dtype", None)
    dev = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    for a in args:
        if isinstance(a, Tensor):
            dt = a.dtype
        elif isinstance(a, _dtype.dtype):
            dt = a
        elif isinstance(a, bool):
            pass  # non_blocking positional
        elif a is not None:
            if isinstance(a, type) or isinstance(a, np.dtype):
                dt = _dtype.to_dtype(a)
            else:
                dev = a
    if dev is not None:
        check_device(dev)
    if dt is None:
        return Clone.apply(self) if copy else self
    return _to_dtype(self, _dtype.to_dtype(dt), copy)


_LEGACY_TYPES = {
    "torch.FloatTensor": _dtype.float32, "torch.DoubleTensor": _dtype.float64,
    "torch.HalfTensor": _dtype.float16, "torch.LongTensor": _dtype.int64,
    "torch.IntTensor": _dtype.int32, "torch.ShortTensor": _dtype.int16,
    "torch.CharTensor": _dtype.int8, "torch.ByteTensor": _dtype.uint8, "torch.BoolTensor": _dtype.bool_,
}


def type_(self, dtype=None, non_blocking=False, **kwargs):
    if dtype is None:
        return "torch." + _tname(self._data.dtype) + "Tensor"
    if isinstance(dtype, str):
        name = dtype.replace("ember.", "torch.")
        if name in _LEGACY_TYPES:
            return _to_dtype(self, _LEGACY_TYPES[name])
        return _to_dtype(self, _dtype.to_dtype(dtype))
    if isinstance(dtype, type) and hasattr(dtype, "_legacy_dtype"):
        return _to_dtype(self, dtype._legacy_dtype)
    return _to_dtype(self, _dtype.to_dtype(dtype))


def type_as(self, other):
    return _to_dtype(self, other.dtype)


def _caster(dt):
    def method(self, memory_format=None):
        return _to_dtype(self, dt)

    return method


# ---- binding ---------------------------------------------------------------------------------------------
def _rdiv(a, b):
    return div(b, a)


def _rpow(a, b):
    return pow(b, a)


def _rfloordiv(a, b):
    return floor_divide(b, a)


def _rmod(a, b):
    return remainder(b, a)


def _inv_or_not(self):
    if self._data.dtype == np.bool_:
        return logical_not(self)
    return bitwise_not(self)


register_methods(
    __add__=add, __radd__=lambda a, b: add(b, a), __sub__=sub, __rsub__=_rsub,
    __mul__=mul, __rmul__=lambda a, b: mul(b, a), __truediv__=div, __rtruediv__=_rdiv,
    __floordiv__=floor_divide, __rfloordiv__=_rfloordiv, __mod__=remainder, __rmod__=_rmod,
    __pow__=pow, __rpow__=_rpow, __neg__=neg, __pos__=lambda a: a, __abs__=abs,
    __eq__=eq, __ne__=ne, __lt__=lt, __le__=le, __gt__=gt, __ge__=ge,
    __and__=lambda a, b: logical_and(a, b) if a._data.dtype == np.bool_ else bitwise_and(a, b),
    __or__=lambda a, b: logical_or(a, b) if a._data.dtype == np.bool_ else bitwise_or(a, b),
    __xor__=lambda a, b: logical_xor(a, b) if a._data.dtype == np.bool_ else bitwise_xor(a, b),
    __rand__=lambda a, b: a.__and__(b), __ror__=lambda a, b: a.__or__(b),
    __rxor__=lambda a, b: a.__xor__(b), __invert__=_inv_or_not,
    __iadd__=_inplace(add, np.add), __isub__=_inplace(sub, np.subtract),
    __imul__=_inplace(mul, np.multiply), __itruediv__=_inplace(div, np.divide),
    __ipow__=_inplace(pow, np.power), __ifloordiv__=_unary_inplace(floor_divide),
    __imod__=_unary_inplace(remainder),
    add=add, sub=sub, subtract=sub, mul=mul, multiply=mul, div=div, divide=div,
    true_divide=true_divide, floor_divide=floor_divide, remainder=remainder, fmod=fmod, pow=pow,
    float_power=float_power, maximum=maximum, minimum=minimum, fmax=fmax, fmin=fmin,
    neg=neg, negative=neg, abs=abs, absolute=abs, exp=exp, exp2=exp2, expm1=expm1, log=log,
    log2=log2, log10=log10, log1p=log1p, sqrt=sqrt, rsqrt=rsqrt, sin=sin, cos=cos, tan=tan,
    tanh=tanh, sigmoid=sigmoid, relu=relu, erf=erf, erfc=erfc, reciprocal=reciprocal,
    floor=floor, ceil=ceil, trunc=trunc, fix=trunc, round=round, sign=sign, sgn=sgn,
    square=square, clamp=clamp, clip=clamp, clamp_min=clamp_min, clamp_max=clamp_max,
    lerp=lerp, clone=clone, where=lambda self, cond, other: where(cond, self, other),
    eq=eq, ne=ne, not_equal=ne, lt=lt, less=lt, le=le, less_equal=le, gt=gt, greater=gt,
    ge=ge, greater_equal=ge, logical_and=logical_and, logical_or=logical_or,
    logical_xor=logical_xor, logical_not=logical_not, bitwise_and=bitwise_and,
    bitwise_or=bitwise_or, bitwise_xor=bitwise_xor, bitwise_not=bitwise_not,
    isnan=isnan, isinf=isinf, isposinf=isposinf, isneginf=isneginf, isfinite=isfinite,
    isclose=isclose, allclose=allclose, equal=equal, nan_to_num=nan_to_num,
    add_=_inplace(add, np.add), sub_=_inplace(sub, np.subtract), subtract_=_inplace(sub, np.subtract),
    mul_=_inplace(mul, np.multiply), multiply_=_inplace(mul, np.multiply),
    div_=_inplace(div, np.divide), divide_=_inplace(div, np.divide), pow_=_inplace(pow, np.power),
    floor_divide_=_unary_inplace(floor_divide), remainder_=_unary_inplace(remainder),
    fmod_=_unary_inplace(fmod), maximum_=_unary_inplace(maximum), minimum_=_unary_inplace(minimum),
    neg_=_unary_inplace(neg), abs_=_unary_inplace(abs), exp_=_unary_inplace(exp),
    expm1_=_unary_inplace(expm1), log_=_unary_inplace(log), log2_=_unary_inplace(log2),
    log10_=_unary_inplace(log10), log1p_=_unary_inplace(log1p), sqrt_=_unary_inplace(sqrt),
    rsqrt_=_unary_inplace(rsqrt), sin_=_unary_inplace(sin), cos_=_unary_inplace(cos),
    tan_=_unary_inplace(tan), tanh_=_unary_inplace(tanh), sigmoid_=_unary_inplace(sigmoid),
    relu_=_unary_inplace(relu), erf_=_unary_inplace(erf), reciprocal_=_unary_inplace(reciprocal),
    floor_=_unary_inplace(floor), ceil_=_unary_inplace(ceil), trunc_=_unary_inplace(trunc),
    round_=_unary_inplace(round), sign_=_unary_inplace(sign), square_=_unary_inplace(square),
    clamp_=_unary_inplace(clamp), clip_=_unary_inplace(clamp), lerp_=_unary_inplace(lerp),
    clamp_min_=_unary_inplace(clamp_min), clamp_max_=_unary_inplace(clamp_max),
    nan_to_num_=_unary_inplace(nan_to_num),
    zero_=zero_, fill_=fill_, copy_=copy_,
    to=to, type=type_, type_as=type_as,
    float=_caster(_dtype.float32), double=_caster(_dtype.float64), half=_caster(_dtype.float16),
    long=_caster(_dtype.int64), int=_caster(_dtype.int32), short=_caster(_dtype.int16),
    char=_caster(_dtype.int8), byte=_caster(_dtype.uint8), bool=_caster(_dtype.bool_),
)

UFUNCS.update({
    np.add: add, np.subtract: sub, np.multiply: mul, np.divide: div, np.true_divide: div,
    np.power: pow, np.negative: neg, np.absolute: abs, np.exp: exp, np.exp2: exp2,
    np.expm1: expm1, np.log: log, np.log2: log2, np.log10: log10, np.log1p: log1p,
    np.sqrt: sqrt, np.sin: sin, np.cos: cos, np.tan: tan, np.tanh: tanh, np.sign: sign,
    np.floor: floor, np.ceil: ceil, np.trunc: trunc, np.maximum: maximum, np.minimum: minimum,
    np.reciprocal: reciprocal, np.square: square, np.equal: eq, np.not_equal: ne, np.less: lt,
    np.less_equal: le, np.greater: gt, np.greater_equal: ge, np.logical_and: logical_and,
    np.logical_or: logical_or, np.logical_not: logical_not, np.isnan: isnan,
    np.isfinite: isfinite, np.fmod: fmod, np.remainder: remainder, np.floor_divide: floor_divide,
})
ARRAY_FUNCTIONS.update({np.where: where, np.clip: clamp, np.round: round, np.around: round})

__all__ = [
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
    "remainder", "fmod", "pow", "float_power", "maximum", "minimum", "fmax", "fmin", "rsub",
    "neg", "negative", "abs", "absolute", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
    "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "erf", "erfc", "reciprocal",
    "floor", "ceil", "trunc", "fix", "round", "sign", "sgn", "square", "clamp", "clip",
    "clamp_min", "clamp_max", "where", "lerp", "clone", "eq", "ne", "not_equal", "lt", "less",
    "le", "less_equal", "gt", "greater", "ge", "greater_equal", "logical_and", "logical_or",
    "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
    "isnan", "isinf", "isposinf", "isneginf", "isfinite", "isclose", "allclose", "equal",
    "nan_to_num",
]
