"""Elementwise ops: arithmetic, unary math, comparisons, casts, and their in-place forms.

Dtypes follow PyTorch's promotion (``_dtype.result_type``), which differs from NumPy's for
mixed kinds and for 0-dim tensors; ``_binary`` is where that happens, with fast paths for the
common same-dtype and tensor-with-Python-number cases. While a graph is recorded, operands are
cast *before* the op (a ToCopy node for those that require grad), so that forward only ever
saves its actual inputs and outputs, which keeps double backward exact.
"""
from __future__ import annotations

import math

from .. import _dtype
from .._backend import xp
from .._device import check_device, device
from .._dtype import type_name
from .._tensor import ARRAY_FUNCTIONS, UFUNCS, Tensor, _make, register_methods
from ..autograd import grad_mode
from ..autograd.function import _DERIVED, _INPUT, _OUTPUT, Function
from . import _special
from ._parallel import grain, parallel_for
from ._shape import broadcast_error
from ._util import as_tensor_arg

_grad_state = grad_mode._state
_ndarray = xp.ndarray
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)



def _cast(x, dt):
    if x.__class__ is not _ndarray or x.dtype == dt:
        return x
    return x.astype(dt)


_SCALARS = (int, float, bool)
# What this family needs from indexing, which builds on it: nonzero (for where(cond)) and
# rebase_view_base (an in-place write through a view); indexing.py fills it in.
_from_indexing: dict = {}
_NO_KWARGS: dict = {}


# ---- binary arithmetic ------------------------------------------------------------------------
class Add(Function):
    _promote = "same"

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    _promote = "same"

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Rsub(Function):
    """number - tensor (PyTorch's rsub with a scalar)."""

    _promote = "same"
    _node_name = "RsubBackward1"
    _inputs = 1  # the number is not a graph input

    @staticmethod
    def forward(ctx, b, a):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return -grad, None


class Mul(Function):
    _promote = "same"

    @staticmethod
    def forward(ctx, a, b):
        if ctx.needs_input_grad:  # each input's grad needs the other input only
            ctx.save_for_backward(b if ctx.needs_input_grad[0] else None,
                                  a if ctx.needs_input_grad[1] else None)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        b, a = ctx.saved_tensors
        return (None if b is None else grad * b), (None if a is None else grad * a)


class Div(Function):
    _promote = "float"

    @staticmethod
    def forward(ctx, a, b):
        out = a / b
        if ctx.needs_input_grad:
            ctx.save_for_backward(b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        b, out = ctx.saved_tensors
        ga = grad / b if ctx.needs_input_grad[0] else None
        gb = -grad * out / b if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    _promote = "same"
    _inputs = 1  # x ** 2 has one edge; x ** t has two
    @staticmethod
    def forward(ctx, a, b):
        out = _pow_kernel(a, b)
        # PyTorch's names: tensor ** number, tensor ** tensor, number ** tensor
        if b.__class__ is _ndarray:
            ctx._node_name = "PowBackward1" if a.__class__ is _ndarray else "PowBackward2"
        if ctx.needs_input_grad:
            ctx.save_for_backward(a, b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            if isinstance(b, (int, float)):
                # d/da a**b; b == 0 gives 0 everywhere (PyTorch: grad 0, not nan, at a == 0)
                if b == 2:  # the square of every squared-error loss: skip the power
                    ga = grad * (a * 2)
                else:
                    ga = grad * (b * a ** (b - 1)) if b != 0 else grad * 0
            else:
                ga = grad * xp.where(b == 0, 0, b * a ** (b - 1))
        if ctx.needs_input_grad[1]:
            # d/db a**b = a**b log a, defined as 0 where a == 0 and b >= 0
            gb = grad * xp.where((a == 0) & (b >= 0), 0, out * xp.log(xp.where(a == 0, 1, a)))
        return ga, gb


def _pow_kernel(a, b):
    """a ** b as PyTorch computes it for float32: a few exponents by multiplication or sqrt,
    the rest in float64 with the exponent first rounded to float32."""
    if a.__class__ is not _ndarray or a.dtype != _F32:
        if b.__class__ is _ndarray and b.dtype.kind in "iu" and (b < 0).any():
            # integers to negative powers: C's integer pow (1 and -1 survive, the rest is 0)
            a_ = xp.asarray(a)
            pos = a ** xp.where(b < 0, 0, b)
            neg = xp.where(a_ == 1, 1, xp.where(a_ == -1, xp.where(b % 2 == 0, 1, -1), 0))
            return xp.where(b < 0, neg, pos).astype(pos.dtype)
        return a ** b
    if b.__class__ is _ndarray:
        if b.dtype != _F32:
            return a ** b
        return (a.astype(_F64) ** b.astype(_F64)).astype(_F32)
    if b == 2:
        return a * a
    if b == 3:
        return a * a * a
    if b == 0.5:
        return xp.sqrt(a)
    if b == -1:
        return xp.reciprocal(a)
    if b == -0.5:
        return xp.reciprocal(xp.sqrt(a))
    if b == -2:
        return xp.reciprocal(a * a)
    return (a.astype(_F64) ** float(xp.float32(b))).astype(_F32)


class Maximum(Function):
    """max(a, b); ties split the gradient evenly, as in PyTorch. (Minimum: the same by <.)"""

    _promote = "same"
    _kernel, _wins = xp.maximum, xp.greater

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx._kernel(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        tie = (a == b) * 0.5
        ga = grad * (ctx._wins(a, b) + tie) if ctx.needs_input_grad[0] else None
        gb = grad * (ctx._wins(b, a) + tie) if ctx.needs_input_grad[1] else None
        return ga, gb


class Minimum(Maximum):
    _kernel, _wins = xp.minimum, xp.less


class Fmod(Function):
    """a - b * trunc(a / b). (Remainder: the same with floor.)"""

    _promote = "same"
    _kernel, _round, _node_name1 = xp.fmod, xp.trunc, "FmodBackward1"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        if b.__class__ is _ndarray:  # tensor % tensor: PyTorch's second overload
            ctx._node_name = ctx._node_name1
        return ctx._kernel(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        gb = -grad * ctx._round(a / b) if ctx.needs_input_grad[1] else None
        return grad, gb


class Remainder(Fmod):
    _kernel, _round, _node_name1 = xp.remainder, xp.floor, "RemainderBackward1"


class Atan2(Function):
    _promote = "float"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        if a.dtype == _F32 and b.dtype == _F32:
            return xp.arctan2(a.astype(_F64), b.astype(_F64)).astype(_F32)
        return xp.arctan2(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        r = grad / (a * a + b * b)
        return r * b, -r * a


class Logaddexp(Function):
    _promote = "float"

    @staticmethod
    def forward(ctx, a, b):
        out = xp.logaddexp(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        return grad * xp.exp(a - out), grad * xp.exp(b - out)


def _binary(cls, a, b):
    """cls(a, b); NotImplemented for operands that are not numbers, arrays or tensors.
    (apply() gives the result PyTorch's dtype, which differs from NumPy's for mixed kinds.)"""
    a, b = _operand(a), _operand(b)
    if a is NotImplemented or b is NotImplemented:
        return NotImplemented
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = _make(_asarray_dt(a, _dtype.result_type(a, b).np), False, None, 0)
    return cls.apply(a, b)


def _asarray_dt(x, dt):
    return xp.asarray(_scalar_in(x, dt), dtype=dt)


def _operand(x):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, xp.generic):  # before _SCALARS: xp.float64 is a float subclass
        return x.item()
    if isinstance(x, _SCALARS):
        return x
    if isinstance(x, _ndarray):
        return _make(x, False, None, 0)
    return NotImplemented


def _scalar_in(x, dt):
    """A Python number used with arrays of dtype dt: wraps around like PyTorch's integers."""
    if x.__class__ is int and dt.kind in "iub":
        info = xp.iinfo(dt) if dt.kind != "b" else None
        if info is not None and not info.min <= x <= info.max:
            return xp.asarray(x).astype(dt)
    return x


def _as_dtype(x, dt):
    if not isinstance(x, Tensor):
        return _scalar_in(x, dt)
    if x._data.dtype == dt:
        return x
    if x._requires_grad:
        return Cast.apply(x, dt)
    return _make(x._data.astype(dt), False, None, 0)


def _check(res, name, a, b):
    if res is NotImplemented:
        bad = a if _operand(a) is NotImplemented else b
        raise TypeError(f"{name}(): argument 'other' must be Tensor or Number, not "
                        f"{type(bad).__name__}")
    return res


def add(input, other, *, alpha=1, out=None):
    """input + alpha * other."""
    if alpha != 1:
        other = mul(other, alpha)
    r = _check(_binary(Add, input, other), "add", input, other)
    return r if out is None else _out(r, out)


def _is_bool(x):
    if isinstance(x, Tensor):
        return x._data.dtype.kind == "b"
    return x.__class__ is bool or isinstance(x, xp.bool_)


def _check_bool_sub(a, b):
    if _is_bool(a) or _is_bool(b):
        if _is_bool(a) and _is_bool(b) and isinstance(a, Tensor) and isinstance(b, Tensor):
            raise RuntimeError(
                "Subtraction, the `-` operator, with two bool tensors is not supported. Use the "
                "`^` or `logical_xor()` operator instead.")
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead.")


def sub(input, other, *, alpha=1, out=None):
    """input - alpha * other."""
    _check_bool_sub(input, other)
    if alpha != 1:
        other = mul(other, alpha)
    if not isinstance(input, Tensor) and isinstance(other, Tensor):
        r = _check(_binary(Rsub, other, input), "sub", input, other)
    else:
        r = _check(_binary(Sub, input, other), "sub", input, other)
    return r if out is None else _out(r, out)


def mul(input, other, *, out=None):
    """Elementwise product."""
    r = _check(_binary(Mul, input, other), "mul", input, other)
    return r if out is None else _out(r, out)


def div(input, other, *, rounding_mode=None, out=None):
    """True division (ints give the default float), or rounded: 'trunc' / 'floor'."""
    if rounding_mode is None:
        r = _check(_binary(Div, input, other), "div", input, other)
    elif rounding_mode == "trunc":
        r = _rounded_div(input, other, xp.trunc)
    elif rounding_mode == "floor":
        r = _rounded_div(input, other, xp.floor)
    else:
        raise RuntimeError("div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                           f"found '{rounding_mode}'")
    return r if out is None else _out(r, out)


def _rounded_div(a, b, rounder):
    """div with rounding_mode: the result keeps the promoted dtype (not differentiable)."""
    a, b = as_tensor_arg(a), as_tensor_arg(b)
    dt = _dtype.result_type(a, b).np
    if dt.kind == "b":
        name = "div_floor_cpu" if rounder is xp.floor else "div_trunc_cpu"
        raise NotImplementedError(f"\"{name}\" not implemented for 'Bool'")
    a_, b_ = _raw_in(a, dt), _raw_in(b, dt)
    if dt.kind in "iu":
        if xp.any(xp.asarray(b_) == 0):
            raise RuntimeError("ZeroDivisionError")
        if rounder is xp.floor:
            res = xp.floor_divide(a_, b_)
        else:  # C's truncating division: the sign of the quotient, magnitude floored
            q = xp.floor_divide(xp.abs(a_), xp.abs(b_))
            res = xp.where((xp.asarray(a_) < 0) != (xp.asarray(b_) < 0), -q, q)
    else:
        res = rounder(xp.true_divide(a_, b_)) if rounder is xp.trunc else xp.floor_divide(a_, b_)
    return _make(xp.asarray(res).astype(dt, copy=False), False, None, 0)


def _raw_in(x, dt):
    if isinstance(x, Tensor):
        return _cast(x._data, dt)
    return xp.asarray(_scalar_in(x, dt), dtype=dt)


subtract, multiply, divide = sub, mul, div


def true_divide(input, other, *, out=None):
    return div(input, other, out=out)


def floor_divide(input, other, *, out=None):
    """Division rounded down (Python's //), in the promoted dtype."""
    r = _rounded_div(input, other, xp.floor)
    return r if out is None else _out(r, out)


def _int_zero_check(a, b):
    if isinstance(b, Tensor):
        dt = _dtype.result_type(as_tensor_arg(a), b).np
        if dt.kind in "iu" and not b._data.all():
            raise RuntimeError("ZeroDivisionError")
    elif b == 0 and isinstance(b, int) and isinstance(a, Tensor) and a._data.dtype.kind in "iub":
        raise RuntimeError("ZeroDivisionError")


def _no_bool(name, a, b):
    if _is_bool(a) and _is_bool(b):
        raise NotImplementedError(f"\"{name}\" not implemented for 'Bool'")


def remainder(input, other, *, out=None):
    """Python's modulus: the result has the sign of the divisor."""
    _no_bool("remainder_cpu", input, other)
    _int_zero_check(input, other)
    r = _check(_binary(Remainder, input, other), "remainder", input, other)
    return r if out is None else _out(r, out)


def fmod(input, other, *, out=None):
    """C's fmod: the result has the sign of the dividend."""
    _no_bool("fmod_cpu", input, other)
    _int_zero_check(input, other)
    r = _check(_binary(Fmod, input, other), "fmod", input, other)
    return r if out is None else _out(r, out)


def pow(input, exponent, *, out=None):
    """input ** exponent, with PyTorch's dtype rules."""
    _no_bool("pow", input, exponent) if isinstance(input, Tensor) and isinstance(
        exponent, Tensor) else None
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        e = exponent.item() if isinstance(exponent, xp.generic) else exponent
        kind = input._data.dtype.kind
        if kind in "iub" and e.__class__ is int and e < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        if kind == "b" and e.__class__ is bool:  # bool ** bool stays bool
            r = _make(xp.asarray(input._data if e else xp.ones_like(input._data)), False, None,
                      0)
            return r if out is None else _out(r, out)
        if kind == "b" and e.__class__ is int:
            r = Pow.apply(input, e)  # (promoted: bool ** int is int64, as in PyTorch)
            return r if out is None else _out(r, out)
    r = _check(_binary(Pow, input, exponent), "pow", input, exponent)
    return r if out is None else _out(r, out)


def float_power(input, exponent, *, out=None):
    """pow computed in float64."""
    f64 = xp.dtype(xp.float64)
    a, e = _operand(input), _operand(exponent)
    r = Pow.apply(_as_dtype(a, f64), _as_dtype(e, f64) if isinstance(e, Tensor) else e)
    return r if out is None else _out(r, out)


def maximum(input, other, *, out=None):
    """Elementwise maximum (NaN propagates)."""
    r = _check(_binary(Maximum, input, other), "maximum", input, other)
    return r if out is None else _out(r, out)


def minimum(input, other, *, out=None):
    """Elementwise minimum (NaN propagates)."""
    r = _check(_binary(Minimum, input, other), "minimum", input, other)
    return r if out is None else _out(r, out)


def _arr(x):
    return x._data if isinstance(x, Tensor) else x


def _nan_mask(x):
    return _make(xp.asarray(xp.isnan(_raw(x))), False, None, 0)


def fmax(input, other, *, out=None):
    """Elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    a, b = _operand(input), _operand(other)
    r = where(_nan_mask(a), b, where(_nan_mask(b), a, maximum(a, b)))
    return r if out is None else _out(r, out)


def fmin(input, other, *, out=None):
    """Elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    a, b = _operand(input), _operand(other)
    r = where(_nan_mask(a), b, where(_nan_mask(b), a, minimum(a, b)))
    return r if out is None else _out(r, out)


def atan2(input, other, *, out=None):
    """Elementwise arctan(input / other) in the right quadrant."""
    r = _check(_binary(Atan2, input, other), "atan2", input, other)
    return r if out is None else _out(r, out)


arctan2 = atan2


def logaddexp(input, other, *, out=None):
    """log(exp(input) + exp(other)) without overflow."""
    r = _check(_binary(Logaddexp, input, other), "logaddexp", input, other)
    return r if out is None else _out(r, out)


def hypot(input, other, *, out=None):
    """sqrt(input**2 + other**2) without overflow."""
    r = _check(_binary(Hypot, input, other), "hypot", input, other)
    return r if out is None else _out(r, out)


def xlogy(input, other, *, out=None):
    """input * log(other), 0 where input == 0."""
    x = as_tensor_arg(input)
    r = where(_make(xp.asarray(_raw(x) == 0), False, None, 0), 0.0, x * log(as_tensor_arg(other)))
    return r if out is None else _out(r, out)


def rsub(input, other, alpha=1):
    """other - alpha * input."""
    return sub(other, input, alpha=alpha)


def _out(result, out):
    """Honour out=: copy into the given tensor (resizing it as PyTorch does)."""
    if out is None:
        return result
    if _grad_state[0] and (result._requires_grad or out._requires_grad):
        raise RuntimeError(
            "out=... arguments don't support automatic differentiation, but one of the arguments "
            "requires grad.")
    if out._data.shape != result._data.shape:
        out._data = xp.empty(result._data.shape, out._data.dtype)
    try:
        xp.copyto(out._data, result._data, casting="same_kind")
    except TypeError:
        raise RuntimeError(f"result type {_tname(result._data.dtype)} can't be cast to the desired "
                           f"output type {_tname(out._data.dtype)}") from None
    out._vc[0] += 1
    return out


# ---- unary math ---------------------------------------------------------------------------------
_F32 = xp.dtype(xp.float32)
_F64 = xp.dtype(xp.float64)


def _hp(ufunc, a):
    """ufunc(a) of a float-valued op (integers compute in the default dtype); float32 goes
    through float64. PyTorch's float32 kernels are within about an ulp of the correctly
    rounded result and NumPy's SIMD ones often are not, which shows in printed digits
    (exp(10) prints 22026.4648 in PyTorch, 22026.4668 with NumPy's float32)."""
    dt = a.dtype
    if dt is _F32 or dt == _F32:
        return ufunc(a, dtype=_F64).astype(_F32)  # cast in the ufunc's buffer: no f64 copy
    if dt.kind != "f":
        return _hp(ufunc, a.astype(_dtype._default[0].np))
    return ufunc(a)


def _flt(a):
    """Inputs of float-valued ops: integers and bools compute in the default float dtype."""
    return a if a.dtype.kind == "f" else a.astype(_dtype._default[0].np)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return xp.negative(a)

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * xp.sign(a)


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = _hp(xp.exp, a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Exp2(Function):
    @staticmethod
    def forward(ctx, a):
        out = _hp(xp.exp2, a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * _LN2


class Expm1(Function):
    @staticmethod
    def forward(ctx, a):
        out = _hp(xp.expm1, a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out + 1)


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.log, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Log2(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.log2, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * _LN2)


class Log10(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.log10, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a * _LN10)


class Log1p(Function):
    _node_name = "Log1PBackward0"
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.log1p, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (a + 1)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = xp.sqrt(_flt(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


class Rsqrt(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        out = xp.reciprocal(xp.sqrt(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * -0.5 * out ** 3


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.sin, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * xp.cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.cos, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad * xp.sin(a)


class Tan(Function):
    @staticmethod
    def forward(ctx, a):
        out = _hp(xp.tan, a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 + out * out)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = _hp(xp.tanh, a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


class Sinh(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.sinh, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * xp.cosh(a)


class Cosh(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.cosh, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * xp.sinh(a)


class Asin(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.arcsin, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / xp.sqrt(1 - a * a)


class Acos(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.arccos, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad / xp.sqrt(1 - a * a)


class Atan(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.arctan, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (1 + a * a)


class Asinh(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return xp.arcsinh(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / xp.sqrt(a * a + 1)


class Acosh(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return xp.arccosh(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / xp.sqrt(a * a - 1)


class Atanh(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _hp(xp.arctanh, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (1 - a * a)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        # PyTorch's formula, 1 / (1 + exp(-x)) in the input's dtype (exp(-x) may overflow to
        # inf, which gives the right 0); exp itself through float64 as in _hp
        e = _hp(xp.exp, xp.negative(a))
        e += 1
        out = xp.reciprocal(e)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


_RELU_BLOCK = 8192
_RELU_ZEROS: dict = {}  # dtype -> (zero scalar, a read-only block of _RELU_BLOCK zeros)


def _relu_kernel(a):
    """max(0, a), zero first: NaN propagates and relu(-0.0) is -0.0, as in PyTorch.

    NumPy's maximum with a scalar operand runs a slow loop (about 3x slower than with two
    arrays), so large floating inputs are taken in rows of a block of zeros.
    """
    zeros = _RELU_ZEROS.get(a.dtype)
    if zeros is None:
        if a.dtype.kind != "f":
            return xp.maximum(a.dtype.type(0), a)
        block = xp.zeros(_RELU_BLOCK, a.dtype)
        block.flags.writeable = False
        zeros = _RELU_ZEROS[a.dtype] = (a.dtype.type(0), block)
    n = a.size
    if n < 2048 or not a.flags.c_contiguous:
        return xp.maximum(zeros[0], a)
    block = zeros[1]
    out = xp.empty(a.shape, a.dtype)
    src, dst = a.reshape(-1), out.reshape(-1)
    rows = n // _RELU_BLOCK
    full = src[:rows * _RELU_BLOCK].reshape(rows, _RELU_BLOCK)

    def part(lo, hi):  # rows [lo, hi) of blocks (a thread's share)
        xp.maximum(block, full[lo:hi], out=dst[lo * _RELU_BLOCK:hi * _RELU_BLOCK].reshape(
            hi - lo, _RELU_BLOCK))

    if rows:
        parallel_for(part, rows, grain(_RELU_BLOCK))
    k = rows * _RELU_BLOCK
    if k < n:
        xp.maximum(block[:n - k], src[k:], out=dst[k:])
    return out


_BITS = {xp.dtype(xp.float32): (xp.int32, 0x7FFFFFFF, 31),
         xp.dtype(xp.float64): (xp.int64, 0x7FFFFFFFFFFFFFFF, 63)}


def _relu_grad(grad, out):
    """PyTorch's threshold_backward(grad, out, 0): 0 where out <= 0, grad elsewhere, so a NaN
    output passes its grad and an inf grad where the output is 0 gives 0 (grad * (out > 0)
    gave 0 and NaN there). On the bits, for float32/float64: with b = out's bits less the
    sign, ((b & ABS) + ABS) >> (width - 1) is all ones exactly where b != 0, and grad's bits
    AND that mask are grad or +0.0. As fast as the multiply: 0.59 ms on 64 x 32 x 28 x 28
    (four integer passes in place). Large arrays split over ember's threads."""
    bits = _BITS.get(grad.dtype)
    if bits is None or out.dtype != grad.dtype or out.shape != grad.shape:
        return xp.where(out <= 0, grad.dtype.type(0), grad)
    ity, absmask, shift = bits
    g = xp.ascontiguousarray(grad).reshape(-1).view(ity)
    o = xp.ascontiguousarray(out).reshape(-1).view(ity)
    res = xp.empty(g.size, ity)

    def part(lo, hi):
        m = xp.bitwise_and(o[lo:hi], absmask, out=res[lo:hi])
        xp.add(m, absmask, out=m)  # wraps to negative exactly when b != 0
        xp.right_shift(m, shift, out=m)
        xp.bitwise_and(g[lo:hi], m, out=m)

    parallel_for(part, g.size, grain(1))
    return res.view(grad.dtype).reshape(grad.shape)


class Relu(Function):
    @staticmethod
    def forward(ctx, a):
        if a.dtype.kind == "b":
            raise RuntimeError("Boolean inputs not supported for relu")
        out = _relu_kernel(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        if isinstance(out, Tensor):
            # double backward: a mask that is part of the graph (with zero derivative), so the
            # result requires grad as PyTorch's does
            return grad * xp.sign(out)
        return _relu_grad(grad, out)


class Erf(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _special.erf(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * (2.0 / math.sqrt(math.pi)) * xp.exp(-a * a)


class Erfc(Function):
    @staticmethod
    def forward(ctx, a):
        a = _flt(a)
        ctx.save_for_backward(a)
        return _special.erfc(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * (-2.0 / math.sqrt(math.pi)) * xp.exp(-a * a)


class Erfinv(Function):
    @staticmethod
    def forward(ctx, a):
        out = _special.erfinv(_flt(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (math.sqrt(math.pi) / 2.0) * xp.exp(out * out)


class Reciprocal(Function):
    @staticmethod
    def forward(ctx, a):
        out = xp.reciprocal(_flt(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return -grad * out * out


class Clamp(Function):
    _node_name = "ClampBackward1"  # PyTorch's name for number bounds

    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a)
        ctx.lo, ctx.hi = lo, hi
        if lo is not None and hi is not None:
            # PyTorch: min(max(a, lo), hi), so hi wins when lo > hi
            return xp.minimum(xp.maximum(a, lo), hi).astype(a.dtype, copy=False)
        if lo is not None:
            return xp.maximum(a, lo).astype(a.dtype, copy=False)
        return xp.minimum(a, hi).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        lo, hi = ctx.lo, ctx.hi
        if lo is not None and hi is not None:
            mask = (a >= lo) & (a <= hi)
        elif lo is not None:
            mask = a >= lo
        else:
            mask = a <= hi
        if isinstance(a, Tensor):  # double backward: keep the result in the graph
            return xp.where(mask, grad, grad * 0), None, None
        return grad * mask, None, None


class ClampT(Function):
    """clamp with tensor bounds: min(max(a, lo), hi); the grad goes to whichever is chosen."""

    _promote = "same"
    _node_name = "ClampBackward0"

    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a, lo, hi)
        out = a
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, lo, hi = ctx.saved_tensors
        above = (a > hi) if hi is not None else None
        below = (a < lo) if lo is not None else None
        if lo is not None and hi is not None:
            below = below & ~(lo > hi)  # lo > hi: hi wins everywhere
            above = above | (lo > hi)
        keep = None
        for m in (above, below):
            if m is not None:
                keep = ~m if keep is None else keep & ~m
        zero = grad * 0
        ga = xp.where(keep, grad, zero)
        glo = xp.where(below, grad, zero) if below is not None else None
        ghi = xp.where(above, grad, zero) if above is not None else None
        return ga, glo, ghi


class Hypot(Function):
    _promote = "float"

    @staticmethod
    def forward(ctx, a, b):
        out = xp.hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        r = grad / out
        return r * a, r * b


class _Rounding(Function):
    """floor/ceil/round/trunc/sign/frac: piecewise constant (frac: slope 1), zero gradient."""

    @staticmethod
    def backward(ctx, grad):
        return grad * 0


class Floor(_Rounding):
    @staticmethod
    def forward(ctx, a):
        return xp.floor(a) if a.dtype.kind == "f" else a.copy()


class Ceil(_Rounding):
    @staticmethod
    def forward(ctx, a):
        return xp.ceil(a) if a.dtype.kind == "f" else a.copy()


class Trunc(_Rounding):
    @staticmethod
    def forward(ctx, a):
        return xp.trunc(a) if a.dtype.kind == "f" else a.copy()


class Round(_Rounding):
    @staticmethod
    def forward(ctx, a, decimals=0):
        # NumPy and PyTorch both round half to even
        if a.dtype.kind != "f":
            return a.copy() if decimals >= 0 else xp.round(a, decimals)
        return xp.round(a, decimals)


class Sign(_Rounding):
    @staticmethod
    def forward(ctx, a):
        return xp.sign(a) if a.dtype.kind != "b" else a.copy()


class Sgn(Sign):
    pass


class Frac(Function):
    @staticmethod
    def forward(ctx, a):
        return a - xp.trunc(a)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Where(Function):
    _promote = "same"
    _operands = 1  # the condition is not promoted
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved_tensors
        zero = grad * 0
        n = ctx.needs_input_grad
        return (None, xp.where(cond, grad, zero) if n[1] else None,
                xp.where(cond, zero, grad) if n[2] else None)


class Lerp(Function):
    @staticmethod
    def forward(ctx, start, end, weight):
        ctx.save_for_backward(start, end, weight)
        if weight.__class__ is _ndarray:
            ctx._node_name = "LerpBackward1"
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


class CopyFrom(Function):
    """dst.copy_(src): the result is src broadcast to dst's shape, in dst's dtype."""

    _node_name = "CopyBackwards"

    @staticmethod
    def forward(ctx, src, shape, dt):
        return xp.broadcast_to(src, shape).astype(dt)

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None


def _unary(cls, name):
    def op(input, *, out=None):
        if not isinstance(input, Tensor):
            input = _make(xp.asarray(input), False, None, 0)
        r = cls.apply(input)
        return r if out is None else _out(r, out)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}."
    return op


def _method(cls):
    apply = cls.apply

    def method(self):
        return apply(self)

    return method


abs = absolute = _unary(Abs, "abs")
exp = _unary(Exp, "exp")
exp2 = _unary(Exp2, "exp2")
expm1 = _unary(Expm1, "expm1")
log = _unary(Log, "log")
log2 = _unary(Log2, "log2")
log10 = _unary(Log10, "log10")
log1p = _unary(Log1p, "log1p")
sqrt = _unary(Sqrt, "sqrt")
rsqrt = _unary(Rsqrt, "rsqrt")
sin = _unary(Sin, "sin")
cos = _unary(Cos, "cos")
tan = _unary(Tan, "tan")
tanh = _unary(Tanh, "tanh")
sinh = _unary(Sinh, "sinh")
cosh = _unary(Cosh, "cosh")
asin = arcsin = _unary(Asin, "asin")
acos = arccos = _unary(Acos, "acos")
atan = arctan = _unary(Atan, "atan")
asinh = arcsinh = _unary(Asinh, "asinh")
acosh = arccosh = _unary(Acosh, "acosh")
atanh = arctanh = _unary(Atanh, "atanh")
sigmoid = _unary(Sigmoid, "sigmoid")
relu = _unary(Relu, "relu")
erf = _unary(Erf, "erf")
erfc = _unary(Erfc, "erfc")
erfinv = _unary(Erfinv, "erfinv")
reciprocal = _unary(Reciprocal, "reciprocal")
floor = _unary(Floor, "floor")
ceil = _unary(Ceil, "ceil")
trunc = fix = _unary(Trunc, "trunc")
frac = _unary(Frac, "frac")


def neg(input, *, out=None):
    """-input."""
    if input._data.dtype == xp.bool_:
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
            "invert a mask, use the `~` or `logical_not()` operator instead.")
    r = Neg.apply(input)
    return r if out is None else _out(r, out)


negative = neg


def positive(input):
    """input itself (bool tensors are an error, as in PyTorch)."""
    if input._data.dtype == xp.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def sign(input, *, out=None):
    """-1, 0 or 1 by the sign of each element."""
    r = Sign.apply(input)
    return r if out is None else _out(r, out)


def square(input, *, out=None):
    """input ** 2 (bool gives int64, as in PyTorch)."""
    return pow(input, 2, out=out)


def round(input, *, decimals=0, out=None):
    """Round half to even, optionally to ``decimals`` places."""
    r = Round.apply(input, decimals)
    return r if out is None else _out(r, out)


def sgn(input):
    """sign (the complex generalisation is the same on real tensors)."""
    return Sgn.apply(input)


def deg2rad(input):
    return input * (math.pi / 180.0)


def rad2deg(input):
    return input * (180.0 / math.pi)


def logit(input, eps=None):
    """log(p / (1 - p)), with p clamped to [eps, 1 - eps] when eps is given."""
    p = input if eps is None else clamp(input, eps, 1 - eps)
    return log(p / (1 - p))


def sinc(input):
    """sin(pi x) / (pi x), 1 at 0."""
    x = input * math.pi
    return where(input == 0, 1.0, sin(x) / x)


def clamp(input, min=None, max=None, *, out=None):
    """Clamp into [min, max] (either may be None; tensors broadcast)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        lo = None if min is None else _operand(min)
        hi = None if max is None else _operand(max)
        r = ClampT.apply(input, lo, hi)
        return r if out is None else _out(r, out)
    lo = min.item() if isinstance(min, xp.generic) else min
    hi = max.item() if isinstance(max, xp.generic) else max
    if input._data.dtype.kind != "f" and (isinstance(lo, float) or isinstance(hi, float)):
        input = _as_dtype(input, _dtype.get_default_dtype().np)
    r = Clamp.apply(input, lo, hi)
    return r if out is None else _out(r, out)


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def where(condition, input=None, other=None, *, out=None):
    """Elements of input where condition holds, else of other; where(c) is nonzero(c, as_tuple)."""
    if input is None and other is None:
        return _from_indexing["nonzero"](condition, as_tuple=True)
    cond = condition._data if isinstance(condition, Tensor) else xp.asarray(condition)
    if cond.dtype != xp.bool_:
        raise RuntimeError("where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {_tname(cond.dtype)}")
    a, b = _operand(input), _operand(other)
    if a is NotImplemented or b is NotImplemented:
        raise TypeError("where(): arguments must be Tensors or numbers")
    r = Where.apply(cond, a, b)
    return r if out is None else _out(r, out)


def lerp(input, end, weight, *, out=None):
    """input + weight * (end - input)."""
    w = as_tensor_arg(weight)
    r = Lerp.apply(input, end, w)
    return r if out is None else _out(r, out)


def clone(input, *, memory_format=None):
    """A copy with its own memory (differentiable)."""
    return Clone.apply(input)


def _to_dtype(t, dt, copy=False):
    if t._data.dtype == dt.np:
        return Clone.apply(t) if copy else t
    if t._requires_grad and not dt.is_floating_point and _grad_state[0]:
        return _make(t._data.astype(dt.np), False, None, 0)  # ints carry no gradient
    return Cast.apply(t, dt.np)


# ---- comparisons and logic (not differentiable) -----------------------------------------------------
def _cmp(ufunc, name):
    def op(input, other, *, out=None):
        a = input._data if isinstance(input, Tensor) else _operand(input)
        b = other._data if isinstance(other, Tensor) else _operand(other)
        if a is NotImplemented or b is NotImplemented:
            raise TypeError(f"{name}(): argument 'other' must be Tensor or Number, not "
                            f"{type(other).__name__}")
        if isinstance(b, Tensor):
            b = b._data
        if isinstance(a, Tensor):
            a = a._data
        try:
            res = ufunc(a, b)
        except ValueError:
            raise broadcast_error(xp.shape(a), xp.shape(b), name) from None
        r = _make(res if res.__class__ is _ndarray else xp.asarray(res), False, None, 0)
        return r if out is None else _out(r, out)

    op.__name__ = name
    return op


def _dunder_cmp(op):
    def method(self, other):
        if (other.__class__ is not Tensor and not isinstance(other, Tensor)
                and _operand(other) is NotImplemented):
            return NotImplemented
        return op(self, other)

    return method


eq = _cmp(xp.equal, "eq")
ne = not_equal = _cmp(xp.not_equal, "ne")
lt = less = _cmp(xp.less, "lt")
le = less_equal = _cmp(xp.less_equal, "le")
gt = greater = _cmp(xp.greater, "gt")
ge = greater_equal = _cmp(xp.greater_equal, "ge")
logical_and = _cmp(xp.logical_and, "logical_and")
logical_or = _cmp(xp.logical_or, "logical_or")
logical_xor = _cmp(xp.logical_xor, "logical_xor")


def logical_not(input, *, out=None):
    r = _make(xp.asarray(xp.logical_not(input._data)), False, None, 0)
    return r if out is None else _out(r, out)


def _bitwise(ufunc, name):
    def op(input, other):
        a = as_tensor_arg(input)
        b = as_tensor_arg(other)
        for t in (a, b):
            if isinstance(t, Tensor) and t._data.dtype.kind == "f":
                raise NotImplementedError(
                    f'"{name}_cpu" not implemented for \'{_tname(t._data.dtype)}\'')
            if isinstance(t, float):
                raise NotImplementedError(f'"{name}_cpu" not implemented for \'Float\'')
        dt = _dtype.result_type(a, b).np
        return _make(xp.asarray(ufunc(_raw_in(a, dt), _raw_in(b, dt))).astype(dt, copy=False),
                     False, None, 0)

    op.__name__ = name
    return op


bitwise_and = _bitwise(xp.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(xp.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(xp.bitwise_xor, "bitwise_xor")


def bitwise_not(input):
    if input._data.dtype.kind == "f":
        raise NotImplementedError(
            f"\"bitwise_not_cpu\" not implemented for '{_tname(input._data.dtype)}'")
    return _make(xp.asarray(xp.invert(input._data)), False, None, 0)


def _flag(ufunc):
    def op(input):
        return _make(xp.asarray(ufunc(input._data)), False, None, 0)

    op.__name__ = ufunc.__name__
    return op


isnan = _flag(xp.isnan)
isinf = _flag(xp.isinf)
isposinf = _flag(xp.isposinf)
isneginf = _flag(xp.isneginf)
isfinite = _flag(xp.isfinite)
signbit = _flag(xp.signbit)


def isreal(input):
    return _make(xp.ones(input._data.shape, xp.bool_), False, None, 0)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other|, elementwise."""
    return _make(xp.asarray(xp.isclose(input._data, _raw(other), rtol=rtol, atol=atol,
                                       equal_nan=equal_nan)), False, None, 0)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """Whether isclose holds everywhere."""
    return bool(xp.allclose(input._data, _raw(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other) -> bool:
    """Same shape and same values."""
    return input._data.shape == other._data.shape and bool(xp.array_equal(input._data,
                                                                          other._data))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    """NaN -> nan, +inf -> posinf (default: the dtype's max), -inf -> neginf."""
    r = _make(xp.nan_to_num(input._data, nan=nan, posinf=posinf, neginf=neginf), False, None, 0)
    if _grad_state[0] and input._requires_grad:
        r = where(isfinite(input), input, r)
    return r if out is None else _out(r, out)


def _raw(x):
    return x._data if isinstance(x, Tensor) else x


# ---- in-place forms ---------------------------------------------------------------------------------
_TYPE_NAMES = {"f": {2: "Half", 4: "Float", 8: "Double"},
               "i": {1: "Char", 2: "Short", 4: "Int", 8: "Long"},
               "u": {1: "Byte"}, "b": {1: "Bool"}}


def _tname(dt):
    """PyTorch's ScalarType name of a NumPy dtype: Float, Long, Bool..."""
    dt = xp.dtype(dt)
    return _TYPE_NAMES[dt.kind][dt.itemsize]


def _snapshot(self):
    """self as the input of an op whose result will overwrite it: a private copy that is the
    same node of the graph, so the op saves values that the overwrite cannot change."""
    src = _make(self._data.copy(), self._requires_grad, self._grad_fn, self._output_nr)
    src._vc = [self._vc[0]]
    return src


def _inplace(op, ufunc=None):
    """x.op_(y): NumPy's in-place ufunc when no graph is recorded, else compute and rebase."""

    def method(self, other, **kwargs):
        self._check_inplace()
        recording = _grad_state[0] and (
            self._requires_grad or (isinstance(other, Tensor) and other._requires_grad))
        if ufunc is not None and not kwargs and not recording:
            o = other._data if isinstance(other, Tensor) else other
            try:
                ufunc(self._data, o, out=self._data, casting="same_kind")
            except TypeError:  # NumPy's UFuncTypeError: the result can't be cast to self's dtype
                if _operand(other) is NotImplemented:
                    return NotImplemented
                res_dt = _dtype.result_type(self, _operand(other)).np
                if ufunc is xp.divide and res_dt.kind != "f":
                    res_dt = _dtype.get_default_dtype().np
                raise RuntimeError(f"result type {_tname(res_dt)} can't be cast to the desired "
                                   f"output type {_tname(self._data.dtype)}") from None
            except ValueError:
                shape = xp.broadcast_shapes(self._data.shape, xp.shape(o))
                raise RuntimeError(
                    f"output with shape {list(self._data.shape)} doesn't match the broadcast shape "
                    f"{list(shape)}") from None
            except OverflowError:  # a Python int out of the dtype's range: wrap as PyTorch does
                ufunc(self._data, _scalar_in(other, self._data.dtype), out=self._data,
                      casting="same_kind")
            self._vc[0] += 1
            return self
        snap = recording and self._requires_grad
        res = op(_snapshot(self) if snap else self, other, **kwargs)
        if res is NotImplemented:
            return NotImplemented
        # with a snapshot, an array of self still saved is other's (x.mul_(x)): like PyTorch,
        # let the version check catch it
        return _rebase(self, res, _keep_saved=snap)

    return method


def _rebase(self, res, _keep_saved=False):
    """Write an out-of-place result into self and make self's history that result's.

    ``res`` may have been computed from self itself: an array of self that its node saved is
    then replaced by a copy (the values before the write), unless ``_keep_saved``.
    """
    if res._data.shape != self._data.shape:
        raise RuntimeError(
            f"output with shape {list(self._data.shape)} doesn't match the broadcast shape "
            f"{list(res._data.shape)}")
    dt = self._data.dtype
    if res._data.dtype != dt:
        if not xp.can_cast(res._data.dtype, dt, "same_kind"):
            raise RuntimeError(f"result type {_tname(res._data.dtype)} can't be cast to the "
                               f"desired output type {_tname(dt)}")
        if res._requires_grad:
            res = Cast.apply(res, dt)
    fn = res._grad_fn
    if fn is not None and fn._saved and not _keep_saved:
        # the op saved self's array itself: it must keep the values from before the write
        data = self._data
        fn._saved = [(e[0].copy(), _DERIVED, None, None, 0, None)
                     if e[1] == _INPUT and e[0] is data else e for e in fn._saved]
    xp.copyto(self._data, res._data, casting="unsafe")
    self._vc[0] += 1
    if fn is not None and fn._saved and res._requires_grad:
        # the op saved its output, which is now self: later writes to self must be caught
        vc, nr = self._vc, res._output_nr
        fn._saved = [(e[0], e[1], e[2], vc, vc[0], e[5]) if e[1] == _OUTPUT and e[2] == nr
                     else e for e in fn._saved]
    if res._requires_grad:
        self._grad_fn = fn
        if res._output_nr or self._output_nr:
            self._output_nr = res._output_nr
        self._requires_grad = True
    if self._base is not None:
        # a view was written: its base's history must include the write (CopySlices), also
        # when what was written is a constant (its region then gets no gradient)
        _from_indexing["rebase_view_base"](self, res)
    return self


def _unary_inplace(op):
    def method(self, *args, **kwargs):
        self._check_inplace()
        snap = _grad_state[0] and self._requires_grad
        return _rebase(self, op(_snapshot(self) if snap else self, *args, **kwargs), snap)

    return method


def zero_(self):
    """Fill with zeros in place."""
    self._check_inplace()
    if _grad_state[0] and self._requires_grad:
        return _rebase(self, self * 0)
    self._data[...] = 0
    self._vc[0] += 1
    return self


def fill_(self, value):
    """Fill with ``value`` in place."""
    self._check_inplace()
    v = value.item() if isinstance(value, Tensor) else value
    if _grad_state[0] and (self._requires_grad or (isinstance(value, Tensor)
                                                   and value._requires_grad)):
        return _rebase(self, self * 0 + value)
    self._data[...] = v
    self._vc[0] += 1
    return self


def copy_(self, src, non_blocking=False):
    """Copy src's values into self (broadcasting, casting to self's dtype)."""
    self._check_inplace()
    shape = self._data.shape
    if isinstance(src, Tensor):
        try:
            xp.broadcast_shapes(src._data.shape, shape)
            if len(src._data.shape) > len(shape):
                raise ValueError
        except ValueError:
            raise broadcast_error(shape, src._data.shape, "copy_") from None
        if _grad_state[0] and (src._requires_grad or self._requires_grad):
            res = CopyFrom.apply(src, shape, self._data.dtype)
            if not src._requires_grad:  # self's old history is overwritten: cut it
                self._grad_fn = None
                self._requires_grad = False
            return _rebase(self, res)
        s = src._data
    else:
        s = xp.asarray(src)
    xp.copyto(self._data, xp.broadcast_to(s, shape), casting="unsafe")
    self._vc[0] += 1
    return self


# ---- casts and conversions as methods -------------------------------------------------------------
def to(self, *args, **kwargs):
    """to(dtype) / to(device) / to(device, dtype) / to(other) / to(..., copy=True)."""
    dt = kwargs.pop("dtype", None)
    dev = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    args = list(args)
    if args and isinstance(args[0], Tensor):
        dt = args.pop(0).dtype
    elif args and isinstance(args[0], (str, device, int)) and not isinstance(args[0], bool):
        dev = args.pop(0)
    if args and isinstance(args[0], (_dtype.dtype, xp.dtype, type)):
        dt = args.pop(0)
    if len(args) >= 2:  # non_blocking, copy
        copy = bool(args[1])
    if dev is not None:
        check_device(dev)
    if dt is None:
        return Clone.apply(self) if copy else self
    return _to_dtype(self, _dtype.to_dtype(dt), copy)


_LEGACY_TYPES = {
    "FloatTensor": _dtype.float32, "DoubleTensor": _dtype.float64,
    "HalfTensor": _dtype.float16, "LongTensor": _dtype.int64,
    "IntTensor": _dtype.int32, "ShortTensor": _dtype.int16,
    "CharTensor": _dtype.int8, "ByteTensor": _dtype.uint8, "BoolTensor": _dtype.bool_,
}


def type_(self, dtype=None, non_blocking=False, **kwargs):
    """No argument: the type name ('torch.FloatTensor'); else a cast (dtype or type name)."""
    if dtype is None:
        return type_name(self._data.dtype)
    if isinstance(dtype, str):
        name = dtype.split(".")[-1]
        if name in _LEGACY_TYPES:
            return _to_dtype(self, _LEGACY_TYPES[name])
        return _to_dtype(self, _dtype.to_dtype(dtype))
    if isinstance(dtype, type) and hasattr(dtype, "_legacy_dtype"):
        return _to_dtype(self, dtype._legacy_dtype)
    return _to_dtype(self, _dtype.to_dtype(dtype))


def type_as(self, other):
    """Cast to other's dtype."""
    return _to_dtype(self, other.dtype)


def _caster(dt):
    def method(self, memory_format=None):
        return _to_dtype(self, dt)

    return method


def _bfloat16(self, memory_format=None):
    raise TypeError("ember has no bfloat16 dtype (NumPy lacks it); use float16 or float32")


# ---- binding ---------------------------------------------------------------------------------------------
def _op(cls):
    apply = cls.apply

    def method(a, b):  # a is the Tensor: the common operands go straight to apply
        if isinstance(b, Tensor) or b.__class__ is float or b.__class__ is int:
            return apply(a, b)
        return _binary(cls, a, b)

    return method


def _rop(cls):
    # x + t, x * t (commutative): PyTorch computes t + x, so the graph has the tensor first
    return _op(cls)


def _truediv(a, b):
    if (b.__class__ is float or b.__class__ is int) and a._data.dtype.kind == "f":
        return Div.apply(a, b)
    return _binary(Div, a, b)


def _rtruediv(a, b):
    # number / tensor is reciprocal(tensor) * number in PyTorch (values and node name)
    if _operand(b) is NotImplemented:
        return NotImplemented
    if isinstance(b, Tensor):
        return _binary(Div, b, a)
    return _binary(Mul, Reciprocal.apply(a), b)


def _sub(a, b):
    if isinstance(b, Tensor):
        if a._data.dtype is b._data.dtype and a._data.dtype.kind == "f":
            return Sub.apply(a, b)
    elif (b.__class__ is float or b.__class__ is int) and a._data.dtype.kind == "f":
        return Sub.apply(a, b)
    if a._data.dtype.kind == "b" or _is_bool(b):
        _check_bool_sub(a, b)
    return _binary(Sub, a, b)


def _rsub_op(a, b):
    if (b.__class__ is float or b.__class__ is int) and a._data.dtype.kind == "f":
        return Rsub.apply(a, b)
    if a._data.dtype.kind == "b" or _is_bool(b):
        _check_bool_sub(b, a)
    return _binary(Rsub, a, b)


def _pow(a, b):
    if (b.__class__ is int or b.__class__ is float) and a._data.dtype.kind == "f":
        return Pow.apply(a, b)  # float tensor ** number (every squared error): what pow() does
    return pow(a, b) if _operand(b) is not NotImplemented else NotImplemented


def _rpow(a, b):
    if _operand(b) is NotImplemented:
        return NotImplemented
    _no_bool("pow", a, b)
    return pow(b, a)


def _floordiv(a, b):
    return floor_divide(a, b) if _operand(b) is not NotImplemented else NotImplemented


def _rfloordiv(a, b):
    return floor_divide(b, a) if _operand(b) is not NotImplemented else NotImplemented


def _mod(a, b):
    return remainder(a, b) if _operand(b) is not NotImplemented else NotImplemented


def _rmod(a, b):
    return remainder(b, a) if _operand(b) is not NotImplemented else NotImplemented


def _logic(bool_op, int_op):
    def method(a, b):
        if _operand(b) is NotImplemented:
            return NotImplemented
        a_bool = a._data.dtype == xp.bool_
        b_bool = (b._data.dtype == xp.bool_) if isinstance(b, Tensor) else isinstance(b, bool)
        return bool_op(a, b) if a_bool and b_bool else int_op(a, b)

    return method


def _invert(self):
    if self._data.dtype == xp.bool_:
        return logical_not(self)
    if self._data.dtype.kind == "f":
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type "
                        "tensors")
    return bitwise_not(self)


register_methods(
    __add__=_op(Add), __radd__=_rop(Add), __sub__=_sub, __rsub__=_rsub_op,
    __mul__=_op(Mul), __rmul__=_rop(Mul), __truediv__=_truediv, __rtruediv__=_rtruediv,
    __floordiv__=_floordiv, __rfloordiv__=_rfloordiv, __mod__=_mod, __rmod__=_rmod,
    __pow__=_pow, __rpow__=_rpow, __neg__=neg, __pos__=positive, __abs__=_method(Abs),
    __eq__=_dunder_cmp(eq), __ne__=_dunder_cmp(ne), __lt__=_dunder_cmp(lt),
    __le__=_dunder_cmp(le), __gt__=_dunder_cmp(gt), __ge__=_dunder_cmp(ge),
    __and__=_logic(logical_and, bitwise_and), __or__=_logic(logical_or, bitwise_or),
    __xor__=_logic(logical_xor, bitwise_xor), __rand__=_logic(logical_and, bitwise_and),
    __ror__=_logic(logical_or, bitwise_or), __rxor__=_logic(logical_xor, bitwise_xor),
    __invert__=_invert,
    __iadd__=_inplace(add, xp.add), __isub__=_inplace(sub, xp.subtract),
    __imul__=_inplace(mul, xp.multiply), __itruediv__=_inplace(div, xp.divide),
    __ipow__=_inplace(pow, xp.power), __ifloordiv__=_unary_inplace(floor_divide),
    __imod__=_unary_inplace(remainder),
    __iand__=_unary_inplace(_logic(logical_and, bitwise_and)),
    __ior__=_unary_inplace(_logic(logical_or, bitwise_or)),
    __ixor__=_unary_inplace(_logic(logical_xor, bitwise_xor)),
    add=add, sub=sub, subtract=sub, mul=mul, multiply=mul, div=div, divide=div,
    true_divide=true_divide, floor_divide=floor_divide, remainder=remainder, fmod=fmod, pow=pow,
    float_power=float_power, maximum=maximum, minimum=minimum, fmax=fmax, fmin=fmin,
    atan2=atan2, arctan2=atan2, logaddexp=logaddexp, hypot=hypot, xlogy=xlogy,
    neg=neg, negative=neg, positive=positive, abs=_method(Abs), absolute=_method(Abs),
    exp=_method(Exp), exp2=_method(Exp2), expm1=_method(Expm1), log=_method(Log),
    log2=_method(Log2), log10=_method(Log10), log1p=_method(Log1p), sqrt=_method(Sqrt),
    rsqrt=_method(Rsqrt), sin=_method(Sin), cos=_method(Cos), tan=_method(Tan),
    tanh=_method(Tanh), sinh=_method(Sinh), cosh=_method(Cosh), asin=asin, arcsin=asin,
    acos=acos, arccos=acos, atan=atan, arctan=atan, asinh=asinh, arcsinh=asinh, acosh=acosh,
    arccosh=acosh, atanh=atanh, arctanh=atanh, sigmoid=_method(Sigmoid), relu=_method(Relu),
    erf=erf, erfc=erfc, erfinv=erfinv, reciprocal=reciprocal, floor=floor, ceil=ceil,
    trunc=trunc, fix=trunc, frac=frac, round=round, sign=sign, sgn=sgn, square=square,
    clamp=clamp, clip=clamp, clamp_min=clamp_min, clamp_max=clamp_max, logit=logit,
    deg2rad=deg2rad, rad2deg=rad2deg, sinc=sinc,
    lerp=lerp, clone=clone, where=lambda self, cond, other: where(cond, self, other),
    eq=eq, ne=ne, not_equal=ne, lt=lt, less=lt, le=le, less_equal=le, gt=gt, greater=gt,
    ge=ge, greater_equal=ge, logical_and=logical_and, logical_or=logical_or,
    logical_xor=logical_xor, logical_not=logical_not, bitwise_and=bitwise_and,
    bitwise_or=bitwise_or, bitwise_xor=bitwise_xor, bitwise_not=bitwise_not,
    isnan=isnan, isinf=isinf, isposinf=isposinf, isneginf=isneginf, isfinite=isfinite,
    signbit=signbit, isreal=isreal, isclose=isclose, allclose=allclose, equal=equal,
    nan_to_num=nan_to_num,
    add_=_inplace(add, xp.add), sub_=_inplace(sub, xp.subtract),
    subtract_=_inplace(sub, xp.subtract), mul_=_inplace(mul, xp.multiply),
    multiply_=_inplace(mul, xp.multiply), div_=_inplace(div, xp.divide),
    divide_=_inplace(div, xp.divide), true_divide_=_inplace(div, xp.divide),
    pow_=_inplace(pow, xp.power),
    floor_divide_=_unary_inplace(floor_divide), remainder_=_unary_inplace(remainder),
    fmod_=_unary_inplace(fmod), maximum_=_unary_inplace(maximum),
    minimum_=_unary_inplace(minimum), atan2_=_unary_inplace(atan2),
    neg_=_unary_inplace(neg), negative_=_unary_inplace(neg), abs_=_unary_inplace(abs),
    absolute_=_unary_inplace(abs), exp_=_unary_inplace(exp), exp2_=_unary_inplace(exp2),
    expm1_=_unary_inplace(expm1), log_=_unary_inplace(log), log2_=_unary_inplace(log2),
    log10_=_unary_inplace(log10), log1p_=_unary_inplace(log1p), sqrt_=_unary_inplace(sqrt),
    rsqrt_=_unary_inplace(rsqrt), sin_=_unary_inplace(sin), cos_=_unary_inplace(cos),
    tan_=_unary_inplace(tan), tanh_=_unary_inplace(tanh), sinh_=_unary_inplace(sinh),
    cosh_=_unary_inplace(cosh), asin_=_unary_inplace(asin), acos_=_unary_inplace(acos),
    atan_=_unary_inplace(atan), sigmoid_=_unary_inplace(sigmoid), relu_=_unary_inplace(relu),
    erf_=_unary_inplace(erf), erfc_=_unary_inplace(erfc), erfinv_=_unary_inplace(erfinv),
    reciprocal_=_unary_inplace(reciprocal), floor_=_unary_inplace(floor),
    ceil_=_unary_inplace(ceil), trunc_=_unary_inplace(trunc), fix_=_unary_inplace(trunc),
    frac_=_unary_inplace(frac), round_=_unary_inplace(round), sign_=_unary_inplace(sign),
    sgn_=_unary_inplace(sign), square_=_unary_inplace(square), clamp_=_unary_inplace(clamp),
    clip_=_unary_inplace(clamp), lerp_=_unary_inplace(lerp),
    clamp_min_=_unary_inplace(clamp_min), clamp_max_=_unary_inplace(clamp_max),
    nan_to_num_=_unary_inplace(nan_to_num), logit_=_unary_inplace(logit),
    logical_not_=_unary_inplace(logical_not), logical_and_=_unary_inplace(logical_and),
    logical_or_=_unary_inplace(logical_or), logical_xor_=_unary_inplace(logical_xor),
    zero_=zero_, fill_=fill_, copy_=copy_,
    to=to, type=type_, type_as=type_as,
    float=_caster(_dtype.float32), double=_caster(_dtype.float64), half=_caster(_dtype.float16),
    long=_caster(_dtype.int64), int=_caster(_dtype.int32), short=_caster(_dtype.int16),
    char=_caster(_dtype.int8), byte=_caster(_dtype.uint8), bool=_caster(_dtype.bool_),
    bfloat16=_bfloat16,
)

UFUNCS.update({
    xp.add: add, xp.subtract: sub, xp.multiply: mul, xp.divide: div, xp.true_divide: div,
    xp.power: pow, xp.float_power: float_power, xp.negative: neg, xp.positive: positive,
    xp.absolute: abs, xp.exp: exp, xp.exp2: exp2, xp.expm1: expm1, xp.log: log, xp.log2: log2,
    xp.log10: log10, xp.log1p: log1p, xp.sqrt: sqrt, xp.sin: sin, xp.cos: cos, xp.tan: tan,
    xp.tanh: tanh, xp.sinh: sinh, xp.cosh: cosh, xp.arcsin: asin, xp.arccos: acos,
    xp.arctan: atan, xp.arcsinh: asinh, xp.arccosh: acosh, xp.arctanh: atanh,
    xp.arctan2: atan2, xp.logaddexp: logaddexp, xp.sign: sign, xp.floor: floor, xp.ceil: ceil,
    xp.trunc: trunc, xp.rint: round, xp.maximum: maximum, xp.minimum: minimum, xp.fmax: fmax,
    xp.fmin: fmin, xp.reciprocal: reciprocal, xp.square: square, xp.equal: eq,
    xp.not_equal: ne, xp.less: lt, xp.less_equal: le, xp.greater: gt, xp.greater_equal: ge,
    xp.logical_and: logical_and, xp.logical_or: logical_or, xp.logical_xor: logical_xor,
    xp.logical_not: logical_not, xp.isnan: isnan, xp.isinf: isinf, xp.isfinite: isfinite,
    xp.signbit: signbit, xp.fmod: fmod, xp.remainder: remainder, xp.floor_divide: floor_divide,
    xp.bitwise_and: bitwise_and, xp.bitwise_or: bitwise_or, xp.bitwise_xor: bitwise_xor,
    xp.invert: _invert, xp.deg2rad: deg2rad, xp.rad2deg: rad2deg, xp.hypot: hypot,
})
ARRAY_FUNCTIONS.update({xp.where: where, xp.clip: clamp, xp.round: round, xp.around: round,
                        xp.isclose: isclose, xp.allclose: allclose, xp.nan_to_num: nan_to_num,
                        xp.array_equal: equal})

__all__ = [
    "abs",
    "absolute",
    "acos",
    "acosh",
    "add",
    "allclose",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "bitwise_and",
    "bitwise_not",
    "bitwise_or",
    "bitwise_xor",
    "ceil",
    "clamp",
    "clamp_max",
    "clamp_min",
    "clip",
    "clone",
    "cos",
    "cosh",
    "deg2rad",
    "div",
    "divide",
    "eq",
    "equal",
    "erf",
    "erfc",
    "erfinv",
    "exp",
    "exp2",
    "expm1",
    "fix",
    "float_power",
    "floor",
    "floor_divide",
    "fmax",
    "fmin",
    "fmod",
    "frac",
    "ge",
    "greater",
    "greater_equal",
    "gt",
    "hypot",
    "isclose",
    "isfinite",
    "isinf",
    "isnan",
    "isneginf",
    "isposinf",
    "isreal",
    "le",
    "lerp",
    "less",
    "less_equal",
    "log",
    "log1p",
    "log2",
    "log10",
    "logaddexp",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "logit",
    "lt",
    "maximum",
    "minimum",
    "mul",
    "multiply",
    "nan_to_num",
    "ne",
    "neg",
    "negative",
    "not_equal",
    "positive",
    "pow",
    "rad2deg",
    "reciprocal",
    "relu",
    "remainder",
    "round",
    "rsqrt",
    "rsub",
    "sgn",
    "sigmoid",
    "sign",
    "signbit",
    "sin",
    "sinc",
    "sinh",
    "sqrt",
    "square",
    "sub",
    "subtract",
    "tan",
    "tanh",
    "true_divide",
    "trunc",
    "where",
    "xlogy",
]


# ---- addcmul/addcdiv, copysign, heaviside, gcd/lcm, nextafter --------------------------------


def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    """``input + value * tensor1 * tensor2``."""
    res = input + value * (tensor1 * tensor2) if value != 1 else input + tensor1 * tensor2
    return _out(res, out)


def _check_addcdiv(tensor1, tensor2):
    if not (tensor1.is_floating_point() or tensor2.is_floating_point()):
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a future "
                           "release addcdiv will perform a true division of tensor1 and tensor2. "
                           "The historic addcdiv behavior can be implemented as (input + value * "
                           "torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs "
                           "and as (input + value * tensor1 / tensor2) for float inputs. The "
                           "future addcdiv behavior is just the latter implementation: (input + "
                           "value * tensor1 / tensor2), for all dtypes.")


def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    """``input + value * tensor1 / tensor2``."""
    _check_addcdiv(tensor1, tensor2)
    res = input + value * (tensor1 / tensor2) if value != 1 else input + tensor1 / tensor2
    return _out(res, out)


def _addcmul_(self, tensor1, tensor2, *, value=1):
    return self.add_(tensor1 * tensor2, alpha=value)


def _addcdiv_(self, tensor1, tensor2, *, value=1):
    _check_addcdiv(tensor1, tensor2)
    return self.add_(tensor1 / tensor2, alpha=value)


def _float_arg(x):
    return x if x.is_floating_point() else x.to(_dtype.get_default_dtype())


def copysign(input, other, *, out=None):
    """``|input|`` with the sign of ``other`` (integers become the default float dtype)."""
    a = _float_arg(input)
    if not isinstance(other, Tensor):
        return _out(a.abs() * math.copysign(1.0, other), out)
    if other.is_floating_point() and other.dtype != a.dtype:
        a = a.to(_dtype.promote_types(a.dtype, other.dtype))
    sign = where(signbit(other), -1.0, 1.0).to(a.dtype)
    return _out(a.abs() * sign, out)


def _np_binary(name, np_fn, allow):
    def fn(input, other, *, out=None):
        if isinstance(other, Tensor):
            dt, b = _dtype.promote_types(input.dtype, other.dtype), other._data
        else:  # a Python number takes the tensor's dtype, as in PyTorch
            dt, b = input.dtype, xp.asarray(other)
        if not allow(dt):
            raise RuntimeError(f'"{name}_cpu" not implemented for \'{_tname(dt.np)}\'')
        res = np_fn(input._data.astype(dt.np, copy=False), b.astype(dt.np, copy=False))
        res = _make(xp.asarray(res, dtype=dt.np), False, None, 0)
        return _out(res, out)

    fn.__name__ = name
    fn.__doc__ = f"numpy.{np_fn.__name__} on the broadcast inputs (no gradient, like PyTorch)."
    return fn


def _is_int(dt):
    return not dt.is_floating_point and dt is not _dtype.bool_


gcd = _np_binary("gcd", xp.gcd, _is_int)
lcm = _np_binary("lcm", xp.lcm, _is_int)
nextafter = _np_binary("nextafter", xp.nextafter, lambda dt: dt.is_floating_point)


def heaviside(input, values, *, out=None):
    """0 where ``input < 0``, ``values`` where it is 0, 1 where it is positive."""
    if input.dtype != values.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes")
    res = xp.where(input._data == 0, values._data, (input._data > 0).astype(input._data.dtype))
    return _out(_make(xp.asarray(res, dtype=input._data.dtype), False, None, 0), out)


def _inplace(fn):
    def method(self, *args, **kwargs):
        return self.copy_(fn(self, *args, **kwargs))

    method.__name__ = fn.__name__ + "_"
    return method


register_methods(addcmul=addcmul, addcdiv=addcdiv, addcmul_=_addcmul_, addcdiv_=_addcdiv_,
                 copysign=copysign, copysign_=_inplace(copysign), gcd=gcd, gcd_=_inplace(gcd),
                 lcm=lcm, lcm_=_inplace(lcm), nextafter=nextafter,
                 nextafter_=_inplace(nextafter), heaviside=heaviside,
                 heaviside_=_inplace(heaviside))
__all__ += ["addcmul", "addcdiv", "copysign", "gcd", "lcm", "nextafter", "heaviside"]
