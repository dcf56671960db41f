"""The exact GELU, x * Phi(x), for float32 arrays: one kernel for forward and derivative.

Phi is written through the upper tail q(a) = 1 - Phi(a) = 0.5 erfc(a / sqrt 2) of a = |x|:
Phi(x) = q(a) for x < 0 and 1 - q(a) otherwise, so the left tail keeps its relative
precision (1 + erf(x / sqrt 2) would cancel to nothing there, as PyTorch's float32 kernel
does: -0.0 at x = -5.6 where the exact value is -6e-8). The tail factors as

    q(a) = phi(a) / (a + r(a)),    phi(a) = exp(-a^2/2) / sqrt(2 pi),

where 1 / (a + r(a)) is Mills' ratio q / phi and r a smooth, positive, decreasing function
(0.798 at 0, ~1/a for large a). Where the precision goes:

* phi is computed in float64 from the float32 x: the float64 square of a float32 is exact,
  so the argument has no rounding error (in float32, x*x would carry a^2/2 ulps of error
  into the result, ~85 ulps at a = 13, and NumPy's float32 exp alone is off by up to 2.4
  ulps) and NumPy's float64 exp is accurate to ~1 ulp of float64. This is the one float64
  step; phi is rounded once to float32, and reused by the derivative Phi + x phi.
* r(a) = P(a) / Q(a), degrees 4 and 4 (Q monic), a relative minimax fit of q over [0, 15]
  (Lawson-weighted least squares on 4200 nodes, reference values from mpmath at 40 digits,
  coefficients rounded to float32 one at a time with the rest refitted): the fit's own error
  is < 2.7e-8 relative (0.45 float32 ulp). All coefficients are positive, so Horner's
  scheme in float32 on a >= 0 has no cancellation, and r's rounding errors reach q damped
  by r / (a + r) (< 0.05 past a = 4).

Measured error, exhaustively over every float32 |x| <= 15 against float64 Cody erfc
(``python -m ember._ops._gelu``; outputs >= 1e-36, smaller ones come from a subnormal q and
carry a subnormal's absolute error): 4.65 ulps for x > 0 (at x = 0.015: near 0, q ~ 0.5
carries r's rounding errors undamped) and 4.17 ulps for x < 0 (at x = -0.34); the
derivative's absolute error is < 1.7e-7. On a 30 M sample of the same range the float64
Numerical-Recipes formulation this replaces measured 2.75 ulps (x > 0) and 8.4 ulps (x < 0);
PyTorch's float32 kernel is within 5.4 ulps for x > 0 and loses the left tail.

Speed, (2048, 512) float32, forward with the derivative, one thread, CPU time, median of 30
calls on a loaded 2-core machine: 4.5-6.3 ms against 21 ms for the float64 formulation
(``python -m ember._ops._gelu --time``). In the GPT step of ``bench/transformer.py`` the
four GELU layers went from ~97 ms to ~29 ms of the profile (forward and backward). The kernel
runs in 128 K-element chunks on per-thread buffers, the chunks split over ember's threads
(``_parallel``): on two threads 3.5 against 5.0 ms per call (``python /tmp/gelu_ab.py``).
"""
from __future__ import annotations

import math
import sys
import threading
import time

from .._backend import xp
from ._parallel import parallel_for
from ._special import erfc  # float64 Cody erfc: the reference of _check

__all__ = ["gelu_f32", "gelu_grad"]

_f32, _f64, _i32 = xp.float32, xp.float64, xp.int32

# r(a) = P(a) / Q(a): P's coefficients from a^0 up, Q's from a^0 up to the monic a^4.
_P = (81.60035705566406, 37.59320068359375, 9.436250686645508, 0.995694100856781,
      9.313343616668135e-05)
_Q = (102.27088165283203, 93.69316101074219, 40.526123046875, 9.352124214172363)
_INV_SQRT_2PI = 0.3989422804014327  # applied in float64
_SIGN = _i32(-(2 ** 31))
# P(a) and Q(a) stay finite up to here (a^4 < 3.4e38); beyond, q = 0 whatever r is, as
# phi(a) is 0 in float32 from a = 14.4 on. Inputs are clamped only when one exceeds it.
_BIG = _f32(1e9)


def gelu_f32(x, need_grad=True):
    """(x * Phi(x), Phi(x) + x phi(x) or None) for a float32 array x."""
    flat = xp.ascontiguousarray(x).reshape(-1)
    out = xp.empty(flat.size, _f32)
    d = xp.empty(flat.size, _f32) if need_grad else None
    parallel_for(lambda lo, hi: _gelu_into(flat, out, d, lo, hi), flat.size, _CHUNK)
    return out.reshape(x.shape), None if d is None else d.reshape(x.shape)


def gelu_grad(grad, d):
    """grad * d (d the derivative gelu_f32 returned), on ember's threads for large arrays."""
    if (grad.shape != d.shape or grad.dtype != d.dtype or grad.size < 2 * _CHUNK
            or not (grad.flags.c_contiguous and d.flags.c_contiguous)):
        return grad * d
    out = xp.empty(grad.shape, grad.dtype)
    g, dd, o = grad.reshape(-1), d.reshape(-1), out.reshape(-1)
    parallel_for(lambda lo, hi: xp.multiply(g[lo:hi], dd[lo:hi], out=o[lo:hi]), g.size, _CHUNK)
    return out


# Elements per pass: the ~25 passes of the formula run chunk by chunk on buffers made once
# per thread (no temporaries per call). On (2048, 512), chunks of 2^14 ... 2^18 interleaved,
# medians of 15 (``python /tmp/gelu_chunk.py``): one thread 8.5 / 7.8 / 7.3 / 6.4 / 6.0 ms,
# two threads 10.4 / 6.6 / 5.2 / 4.4 / 4.3 ms (small chunks pay the GIL per call); one pass
# over whole arrays took 7.2 ms.
_CHUNK = 1 << 17
_work = threading.local()


def _buffers(n):
    bufs = getattr(_work, "bufs", None)
    if bufs is None or bufs[0].size < n:
        bufs = _work.bufs = (xp.empty(n, _f64),) + tuple(xp.empty(n, _f32) for _ in range(4))
    return bufs


def _gelu_into(x, out, d, lo, hi):
    """out[lo:hi] = x * Phi(x) and, unless d is None, d[lo:hi] = Phi(x) + x phi(x), chunk by
    chunk (x, out and d flat float32 arrays)."""
    e_, pdf_, a_, s_, den_ = _buffers(min(_CHUNK, hi - lo))
    for i in range(lo, hi, _CHUNK):
        j = min(hi, i + _CHUNK)
        k = j - i
        xc, e, pdf, a, s, den = x[i:j], e_[:k], pdf_[:k], a_[:k], s_[:k], den_[:k]
        # phi(x) = exp(-x^2/2) / sqrt(2 pi), the argument exact in float64 (a cast, then the
        # square: 43 against 73 us per chunk for multiply(x, x, dtype=float64)'s casting loop)
        e[...] = xc
        xp.multiply(e, e, out=e)
        e *= -0.5
        xp.exp(e, out=e)
        e *= _INV_SQRT_2PI
        pdf[...] = e  # rounded once
        xp.abs(xc, out=a)
        if not a.max() <= _BIG:  # inf, nan or huge: keep the polynomials finite
            xp.minimum(a, _BIG, out=a)
        xp.multiply(a, _f32(-_P[4]), out=s)  # -P(a): negated coefficients, so that the
        s -= _f32(_P[3])  # quotient below is -q
        for c in _P[2::-1]:
            s *= a
            s -= _f32(c)
        xp.add(a, _f32(_Q[3]), out=den)
        for c in _Q[2::-1]:
            den *= a
            den += _f32(c)
        s /= den
        s -= a  # -(a + r(a))
        xp.divide(pdf, s, out=s)  # -q(a) = -phi(a) / (a + r(a))
        # Phi = q where x < 0 (sign bit set), 1 - q elsewhere: give -q x's sign, then add 1
        # where x's sign bit is clear (-0.0 counts as negative: Phi(-0.0) = q(0) = 0.5)
        si, xi, mi = s.view(_i32), xc.view(_i32), den.view(_i32)
        xp.bitwise_and(xi, _SIGN, out=mi)
        xp.bitwise_xor(si, mi, out=si)
        xp.greater_equal(xi, 0, out=den, casting="unsafe")  # 1.0 where the sign bit is clear
        s += den
        xp.multiply(xc, s, out=out[i:j])
        if d is not None:  # the derivative Phi(x) + x phi(x)
            pdf *= xc
            xp.add(pdf, s, out=d[i:j])


def _check(hi=15.0, step=1 << 22):  # pragma: no cover - a measurement, run by hand
    """Max ulp errors of gelu_f32 over every float32 |x| <= hi (both signs)."""
    worst = {}
    top = int(xp.array(hi, _f32).view(_i32))
    for lo in range(0, top + 1, step):
        a = xp.arange(lo, min(lo + step, top + 1), dtype=_i32).view(_f32)
        a64 = a.astype(_f64)
        q = 0.5 * erfc(a64 * (1 / math.sqrt(2)))
        pdf = xp.exp(-0.5 * a64 * a64) / math.sqrt(2 * math.pi)
        for sign, name in ((1, "x>0"), (-1, "x<0")):
            x = a if sign > 0 else -a
            out, d = gelu_f32(x)
            phi = 1 - q if sign > 0 else q
            ref = sign * a64 * phi
            dref = phi + sign * a64 * pdf
            keep = xp.abs(ref) >= 1e-36
            ulp = xp.spacing(xp.abs(ref).astype(_f32)).astype(_f64)
            for key, err in ((f"gelu {name}", (xp.abs(out - ref) / ulp)[keep]),
                             (f"dgelu {name} abs", xp.abs(d - dref))):
                if err.size and err.max() > worst.get(key, (0, 0))[0]:
                    i = int(err.argmax())
                    worst[key] = (float(err[i]), float((x[keep] if "abs" not in key
                                                        else x)[i]))
    return worst


def _time(n=30):  # pragma: no cover - a measurement, run by hand
    x = xp.random.default_rng(0).standard_normal((2048, 512)).astype(_f32)
    ts = []
    for _ in range(n):
        t = time.process_time()
        gelu_f32(x)
        ts.append(time.process_time() - t)
    return sorted(ts)[n // 2] * 1e3


if __name__ == "__main__":  # pragma: no cover
    if "--time" in sys.argv:
        print(f"gelu_f32 (2048, 512), forward + derivative: {_time():.2f} ms CPU")
    else:
        for k, (err, at) in sorted(_check().items()):
            print(f"{k:16s} max {err:.3g} at x = {at:.8g}")
