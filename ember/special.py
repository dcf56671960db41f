"""ember.special: torch.special's functions, composed from ember's differentiable ops."""
from __future__ import annotations

import math

from . import _dtype
from ._ops.elementwise import (
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
from ._ops.reduce import logsumexp
from ._tensor import Tensor

__all__ = ["digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln", "i0",
           "log1p", "log_softmax", "logit", "logsumexp", "ndtr", "ndtri", "psi", "round",
           "sinc", "softmax", "xlogy"]

expit = sigmoid


def _float(x: Tensor) -> Tensor:
    return x if x.is_floating_point() else x.to(_dtype.get_default_dtype())


def gammaln(input: Tensor, *, out=None) -> Tensor:
    """log|Gamma(input)|."""
    from .distributions._functions import lgamma

    return _out(lgamma(_float(input)), out)


def digamma(input: Tensor, *, out=None) -> Tensor:
    """d/dx log Gamma(x)."""
    from .distributions._functions import digamma as _digamma

    return _out(_digamma(_float(input)), out)


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
    if out is None:
        return res
    from ._ops.elementwise import _out as _copy_out

    return _copy_out(res, out)


del exp, log  # only torch.special's names stay public
