"""Special-function kernels for NumPy arrays: erf, erfc, erfinv and the gamma family.

NumPy has no erf. erf/erfc use W. J. Cody's rational Chebyshev approximations (Math. Comp.
1969; the CALERF routine of netlib's SPECFUN, which is what C libraries use), evaluated on
the whole array with one mask per interval. Results are computed in float64 and returned in
the input's floating dtype.

lgamma, digamma, trigamma and gammainc (the regularized lower incomplete gamma) compute in
float64 and return float64: their callers chain them in float64 (the samplers' implicit
gradients in distributions/_functions.py) or cast once (ember.special's Functions).
"""
from __future__ import annotations

import math

from .._backend import xp

__all__ = ["digamma", "erf", "erfc", "erfinv", "gammainc", "lgamma", "trigamma"]

_f64 = xp.float64

# CALERF's coefficients, highest index = leading term as in the Fortran source.
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_SQRPI = 5.6418958354775628695e-1  # 1/sqrt(pi)
_THRESH = 0.46875
_XBIG = 27.3  # erfc(x) underflows to 0 beyond this


def _ratio(z, num, den, n):
    """Cody's Horner scheme: (num[n] z^(n+1) + ... ) / (z^n + den...), as in CALERF."""
    xnum = num[n] * z
    xden = z
    for i in range(n - 1):
        xnum = (xnum + num[i]) * z
        xden = (xden + den[i]) * z
    return (xnum + num[n - 1]) / (xden + den[n - 1])


def _exp_neg_sq(y):
    """exp(-y*y) without the rounding error of squaring y: split y at a multiple of 1/16."""
    ysq = xp.trunc(y * 16.0) / 16.0
    return xp.exp(-ysq * ysq) * xp.exp(-(y - ysq) * (y + ysq))


def _erfc_abs(y):
    """erfc(y) for y > THRESH (y = |x|), float64 array in, float64 array out."""
    out = xp.zeros_like(y)
    mid = y <= 4.0
    if mid.any():
        ym = y[mid]
        out[mid] = _exp_neg_sq(ym) * _ratio(ym, _C, _D, 8)
    tail = (y > 4.0) & (y < _XBIG)
    if tail.any():
        yt = y[tail]
        z = 1.0 / (yt * yt)
        r = z * _ratio(z, _P, _Q, 5)
        out[tail] = _exp_neg_sq(yt) * ((_SQRPI - r) / yt)
    return out


def _prepare(x):
    x = xp.asarray(x)
    dt = x.dtype if x.dtype.kind == "f" else xp.dtype(xp.float64)
    return xp.asarray(x, dtype=xp.float64), dt


def erf(x) -> xp.ndarray:
    """The error function, elementwise, accurate to a few float64 ulps."""
    x, dt = _prepare(x)
    y = xp.abs(x)
    out = xp.array(x, dtype=xp.float64, copy=True)  # NaN stays NaN
    small = y <= _THRESH
    if small.any():
        xs = x[small]
        out[small] = xs * _ratio(xs * xs, _A, _B, 4)
    big = y > _THRESH
    if big.any():
        r = (0.5 - _erfc_abs(y[big])) + 0.5
        out[big] = xp.copysign(r, x[big])
    return out.astype(dt, copy=False)


def erfc(x) -> xp.ndarray:
    """1 - erf(x), without the cancellation for large x."""
    x, dt = _prepare(x)
    y = xp.abs(x)
    out = xp.array(x, dtype=xp.float64, copy=True)
    small = y <= _THRESH
    if small.any():
        xs = x[small]
        out[small] = 1.0 - xs * _ratio(xs * xs, _A, _B, 4)
    big = y > _THRESH
    if big.any():
        r = _erfc_abs(y[big])
        out[big] = xp.where(x[big] < 0, 2.0 - r, r)
    return out.astype(dt, copy=False)


def erfinv(x) -> xp.ndarray:
    """Inverse error function: M. Giles' approximation refined by Newton steps on erf/erfc."""
    x, dt = _prepare(x)
    ax = xp.abs(x)
    # Giles (2010), single-precision form: a starting point for the Newton steps below.
    with xp.errstate(divide="ignore", invalid="ignore"):
        w = -xp.log((1.0 - x) * (1.0 + x))
        wc = w - 2.5
        p_c = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
            p_c = p_c * wc + c
        wt = xp.sqrt(xp.where(w >= 5.0, w, 5.0)) - 3.0
        p_t = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                  -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
            p_t = p_t * wt + c
        r = xp.array(xp.abs(xp.where(w < 5.0, p_c, p_t) * x))  # an array even for 0-d input
        k = 2.0 * _SQRPI
        # Newton on erf(r) = |x| near 0; in the tail on log erfc(r) = log(1 - |x|), which is
        # nearly linear there (the initial guess is poor for 1 - |x| < 1e-7) and keeps full
        # precision: 1 - |x| is exact for |x| >= 0.5 (Sterbenz) while erf(r) - |x| cancels.
        mid = ax <= 0.5
        rm, am = r[mid], ax[mid]
        for _ in range(2):
            rm = rm - (erf(rm) - am) / (k * xp.exp(-rm * rm))
        tail = (ax > 0.5) & (ax < 1.0)
        rt, lq = r[tail], xp.log(1.0 - ax[tail])
        for _ in range(4):
            ec = erfc(rt)
            rt = rt + (xp.log(ec) - lq) * ec / (k * xp.exp(-rt * rt))
        r[mid] = rm
        r[tail] = rt
        r = xp.copysign(r, x)
        r = xp.where(ax == 1.0, xp.copysign(xp.inf, x), r)
        r = xp.where(ax > 1.0, xp.nan, r)
    return r.astype(dt, copy=False)


# ---- the gamma family -------------------------------------------------------------------
def lgamma(x) -> xp.ndarray:
    """log|Gamma(x)|: math.lgamma per element, +inf at the poles as C's lgamma."""
    x = xp.asarray(x, _f64)

    def one(v):
        if v != v:
            return math.nan
        if math.isinf(v) or (v <= 0 and v == math.floor(v)):
            return math.inf  # poles and +-inf, as C's lgamma
        return math.lgamma(v)

    return xp.fromiter(map(one, x.ravel().tolist()), _f64, x.size).reshape(x.shape)


def digamma(x) -> xp.ndarray:
    """psi(x) = d/dx log Gamma(x): recurrence up to x >= 10, then the asymptotic series."""
    x = xp.array(x, _f64)
    out = xp.zeros(x.shape, _f64)
    with xp.errstate(divide="ignore", invalid="ignore"):
        neg = x < 0
        # reflection: psi(1 - x) - psi(x) = pi / tan(pi x)
        refl = xp.where(neg, -math.pi / xp.tan(math.pi * xp.where(neg, x, 0.5)), 0.0)
        y = xp.where(neg, 1.0 - x, x)
        while True:
            small = (y < 10) & xp.isfinite(y)
            if not small.any():
                break
            out -= xp.where(small, 1.0 / xp.where(small, y, 1.0), 0.0)
            y = xp.where(small, y + 1.0, y)
        z = 1.0 / (y * y)
        series = z * (1 / 12 - z * (1 / 120 - z * (1 / 252 - z * (1 / 240 - z * (1 / 132)))))
        out += xp.log(y) - 0.5 / y - series + refl
    out[x == 0] = -xp.copysign(xp.inf, x[x == 0])  # PyTorch: digamma(+-0) = -+inf
    out[neg & (x == xp.floor(x))] = xp.nan
    return out


def trigamma(x) -> xp.ndarray:
    """psi'(x), the same way as digamma."""
    x = xp.array(x, _f64)
    out = xp.zeros(x.shape, _f64)
    with xp.errstate(divide="ignore", invalid="ignore"):
        neg = x < 0.5
        # reflection: psi1(1 - x) + psi1(x) = pi^2 / sin^2(pi x)
        s = xp.sin(math.pi * xp.where(neg, x, 0.5))
        refl = xp.where(neg, math.pi ** 2 / (s * s), 0.0)
        sign = xp.where(neg, -1.0, 1.0)
        y = xp.where(neg, 1.0 - x, x)
        while True:
            small = (y < 10) & xp.isfinite(y)
            if not small.any():
                break
            out += xp.where(small, 1.0 / xp.where(small, y * y, 1.0), 0.0)
            y = xp.where(small, y + 1.0, y)
        z = 1.0 / (y * y)
        tail = 1.0 / y + z / 2 + z / y * (1 / 6 - z * (1 / 30 - z * (1 / 42 - z / 30)))
        return sign * (out + tail) + refl


def gammainc(a, x) -> xp.ndarray:
    """Regularized lower incomplete gamma P(a, x): series for x < a + 1, else Lentz's CF."""
    a, x = xp.broadcast_arrays(xp.asarray(a, _f64), xp.asarray(x, _f64))
    out = xp.empty(a.shape, _f64)
    for idx in xp.ndindex(a.shape):
        out[idx] = _gammainc_one(float(a[idx]), float(x[idx]))
    return out


def _gammainc_one(a: float, x: float) -> float:
    if x != x or a != a or a < 0 or x < 0:
        return math.nan
    if a == 0:
        return 1.0 if x > 0 else math.nan
    if x == 0:
        return 0.0
    if math.isinf(x):
        return 1.0
    log_pre = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(10000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-17:
                break
        return min(1.0, total * math.exp(log_pre))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-17:
            break
    return max(0.0, 1.0 - math.exp(log_pre) * h)
