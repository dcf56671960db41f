"""ember.special: torch.special's functions, composed from ember's differentiable ops.

The gamma family (gammaln, digamma, gammainc) are Functions over the array kernels of
_ops/_special.py; ember.lgamma, ember.digamma and the distributions use these same ones.
"""
from __future__ import annotations

import math

from . import _dtype
from ._backend import xp
from ._ops import _special
from ._ops.elementwise import (
    _flt,
    erf,
    erfc,
    erfinv,
    exp,
    exp2,
    expm1,
    log,
    log1p,
    logit,
    round,
    sigmoid,
    sinc,
    where,
    xlogy,
)
from ._ops.elementwise import _out as _copy_out
from ._ops.reduce import logsumexp
from ._tensor import Tensor
from .autograd.function import Function

__all__ = ["digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammainc",
           "gammaln", "i0", "log1p", "log_softmax", "logit", "logsumexp", "ndtr", "ndtri", "psi",
           "round", "sinc", "softmax", "xlogy"]

expit = sigmoid


def _float(x: Tensor) -> Tensor:
    return x if x.is_floating_point() else x.to(_dtype.get_default_dtype())


class _GammaFamily(Function):
    """One of lgamma, digamma, trigamma: the array kernel forward, the next one backward."""

    kernel = derivative = None  # set by each subclass

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return type(ctx).kernel(a).astype(_flt(a).dtype)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * type(ctx).derivative(a)


def _trigamma_derivative(a):
    raise NotImplementedError("the derivative of trigamma is not implemented in ember")


def _gamma_family(cls):
    """cls on Tensors; its kernel on the raw arrays a backward outside create_graph sees."""
    def fn(a):
        if isinstance(a, Tensor):
            return cls.apply(a)
        return cls.kernel(a).astype(a.dtype, copy=False)
    return fn


class Trigamma(_GammaFamily):
    kernel = staticmethod(_special.trigamma)
    derivative = staticmethod(_trigamma_derivative)


class Digamma(_GammaFamily):
    kernel = staticmethod(_special.digamma)
    derivative = staticmethod(_gamma_family(Trigamma))


class Lgamma(_GammaFamily):
    kernel = staticmethod(_special.lgamma)
    derivative = staticmethod(_gamma_family(Digamma))


class Gammainc(Function):
    @staticmethod
    def forward(ctx, a, x):
        ctx.save_for_backward(a, x)
        return _special.gammainc(a, x).astype(xp.result_type(a, x))

    @staticmethod
    def backward(ctx, grad):
        a, x = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            raise NotImplementedError("derivative for input is not implemented for gammainc")
        with xp.errstate(divide="ignore", invalid="ignore"):
            dx = xp.exp((a - 1) * xp.log(x) - x - _special.lgamma(a))
        return None, grad * dx.astype(grad.dtype)


def gammaln(input: Tensor, *, out=None) -> Tensor:
    """log|Gamma(input)|."""
    return _out(Lgamma.apply(_float(input)), out)


def digamma(input: Tensor, *, out=None) -> Tensor:
    """d/dx log Gamma(x)."""
    return _out(Digamma.apply(_float(input)), out)


def gammainc(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """The regularized lower incomplete gamma function P(input, other)."""
    return _out(Gammainc.apply(input, other), out)


psi = digamma


def i0(input: Tensor, *, out=None) -> Tensor:
    """The modified Bessel function of the first kind, order 0: sum_k ((x/2)^k / k!)^2."""
    x = _float(input)
    t = x * x / 4
    big = float(t.detach().abs().max()) if t.numel() else 0.0
    # the terms grow until k ~ sqrt(t); 4 sqrt(t) + 30 of them reach float64 precision
    term = t.new_ones(())
    total = term.expand(t.shape)
    for k in range(1, int(4 * math.sqrt(big)) + 30):
        term = term * t / (k * k)
        total = total + term
    return _out(total, out)


def entr(input: Tensor, *, out=None) -> Tensor:
    """-x log x elementwise (0 at 0, -inf for negative x)."""
    x = _float(input)
    res = where(x > 0, -xlogy(x, x), where(x == 0, 0.0, -math.inf)).to(x.dtype)
    return _out(res, out)


def ndtr(input: Tensor, *, out=None) -> Tensor:
    """The standard normal CDF."""
    return _out(0.5 * erfc(_float(input) * -math.sqrt(0.5)), out)


def ndtri(input: Tensor, *, out=None) -> Tensor:
    """The inverse of the standard normal CDF."""
    return _out(math.sqrt(2.0) * erfinv(2 * _float(input) - 1), out)


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return input.softmax(dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return input.log_softmax(dim, dtype=dtype)


def _out(res: Tensor, out):
    return res if out is None else _copy_out(res, out)


del exp, log  # only torch.special's names stay public
