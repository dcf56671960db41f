"""erf, erfc and erfinv for NumPy arrays, vectorised and accurate to float64.

NumPy has no erf. erf/erfc use W. J. Cody's rational Chebyshev approximations (Math. Comp.
1969; the CALERF routine of netlib's SPECFUN, which is what C libraries use), evaluated on
the whole array with one mask per interval. Results are computed in float64 and returned in
the input's floating dtype.
"""
from __future__ import annotations

from .._backend import xp

__all__ = ["erf", "erfc", "erfinv"]

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
