"""Linear algebra, samplers and their gradients that the distributions need and ember lacks.

(lgamma, digamma and gammainc are ember.special's, over the kernels of _ops/_special.py.)
The samplers follow PyTorch's CPU kernels draw for draw (``_s_gamma_cpu``,
``_s_dirichlet_cpu``, ``_s_poisson_cpu``): one element at a time in memory order, with double
uniforms (the low 53 bits of random64) and the cached double Box-Muller normal of
ember._random. ``binomial`` is PyTorch's
``_s_binomial_cpu`` (inversion for small means, BTRS rejection otherwise) the same way.
"""
from __future__ import annotations

import math

import ember
from ember import _random
from ember._tensor import Tensor
from ember.autograd.function import Function

from .._backend import xp
from .._ops import _special
from .._ops.linalg import LinAlgError

_f64 = xp.float64


# ---- linear algebra ---------------------------------------------------------------------------
def _cholesky_failure(a: xp.ndarray) -> str:
    """PyTorch's message naming the first batch element and leading minor that fail."""
    batch = a.reshape((-1,) + a.shape[-2:])
    for i, m in enumerate(batch):
        for k in range(1, m.shape[-1] + 1):
            try:
                ok = xp.isfinite(xp.linalg.cholesky(m[:k, :k])).all()
            except xp.linalg.LinAlgError:
                ok = False
            if not ok:
                where = f"(Batch element {i}): " if a.ndim > 2 else ""
                return (f"linalg.cholesky: {where}The factorization could not be completed "
                        f"because the input is not positive-definite (the leading minor of "
                        f"order {k} is not positive-definite).")
    return ("linalg.cholesky: The factorization could not be completed because the input is "
            "not positive-definite.")


class Cholesky(Function):
    @staticmethod
    def forward(ctx, a):
        try:
            L = xp.linalg.cholesky(a)
        except xp.linalg.LinAlgError:
            L = None
        if L is None or not xp.isfinite(L).all():
            raise LinAlgError(_cholesky_failure(a))
        ctx.L = L
        return L

    @staticmethod
    def backward(ctx, grad):
        # A = L L^T:  gA = sym(L^-T Phi(L^T gL) L^-1), Phi = lower triangle, diagonal halved
        L = ctx.L
        P = xp.tril(xp.swapaxes(L, -1, -2) @ grad)
        d = xp.einsum("...ii->...i", P)
        d *= 0.5
        Linv = xp.linalg.inv(L)
        S = xp.swapaxes(Linv, -1, -2) @ P @ Linv
        return 0.5 * (S + xp.swapaxes(S, -1, -2))


def cholesky(a):
    """Lower Cholesky factor (torch.linalg.cholesky)."""
    return Cholesky.apply(a)


class SolveTriangularLower(Function):
    @staticmethod
    def forward(ctx, L, B):
        # the general solver: NumPy has no triangular solve without SciPy
        shape = xp.broadcast_shapes(L.shape[:-2], B.shape[:-2])
        Lb = xp.broadcast_to(L, shape + L.shape[-2:])
        Bb = xp.broadcast_to(B, shape + B.shape[-2:])
        X = xp.linalg.solve(Lb, Bb)
        ctx.Lb, ctx.X = Lb, X
        return X

    @staticmethod
    def backward(ctx, grad):
        gB = xp.linalg.solve(xp.swapaxes(ctx.Lb, -1, -2), grad)
        gL = xp.tril(-gB @ xp.swapaxes(ctx.X, -1, -2)) if ctx.needs_input_grad[0] else None
        return gL, gB


def solve_triangular_lower(L, B):
    """X with L @ X = B for lower-triangular L (torch.linalg.solve_triangular, upper=False)."""
    return SolveTriangularLower.apply(L, B)


# ---- PyTorch's CPU samplers, draw for draw ----------------------------------------------------
class _Draws:
    """Scalar double uniforms and normals from an ember Generator, in PyTorch's order."""

    __slots__ = ("g",)

    def __init__(self, g):
        self.g = g

    def uniform(self) -> float:
        r = self.g._raw(2)
        return float(((int(r[0]) << 32 | int(r[1])) & ((1 << 53) - 1)) * 2.0 ** -53)

    def normal(self) -> float:
        g = self.g
        if g._next_double is not None:
            v, g._next_double = g._next_double, None
            return v
        u1 = self.uniform()
        u2 = self.uniform()
        r = math.sqrt(-2.0 * math.log1p(-u2))
        theta = 2.0 * math.pi * u1
        g._next_double = r * math.sin(theta)
        return r * math.cos(theta)


_THIRD_F = float(xp.float32(1.0) / xp.float32(3.0))  # 1.0f / 3.0f
_C0331_F = float(xp.float32(0.0331))


def _gamma_one(alpha, draws: _Draws, f32: bool) -> float:
    """sample_gamma: Marsaglia-Tsang, boosted below alpha = 1 (alpha in the sample dtype)."""
    scale = 1.0
    if alpha < 1.0:
        if alpha == 0.0:
            return 0.0
        inv = float(xp.float32(1.0) / xp.float32(alpha)) if f32 else 1.0 / alpha
        scale *= (1.0 - draws.uniform()) ** inv
        alpha = float(xp.float32(alpha) + xp.float32(1.0)) if f32 else alpha + 1.0
    d = float(xp.float32(alpha) - xp.float32(_THIRD_F)) if f32 else alpha - _THIRD_F
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        while True:
            x = draws.normal()
            y = 1.0 + c * x
            if y > 0:
                break
        v = y * y * y
        u = 1.0 - draws.uniform()
        xx = x * x
        if u < 1.0 - _C0331_F * xx * xx:
            return scale * d * v
        if math.log(u) < 0.5 * xx + d * (1.0 - v + math.log(v)):
            return scale * d * v


def _gamma_values(alpha: xp.ndarray, g) -> xp.ndarray:
    draws = _Draws(g)
    f32 = alpha.dtype != xp.float64
    vals = [_gamma_one(a, draws, f32) for a in xp.ascontiguousarray(alpha).ravel().tolist()]
    return xp.array(vals, _f64).reshape(alpha.shape)


def _np_standard_gamma(alpha: xp.ndarray, generator=None) -> xp.ndarray:
    g = _random._gen(generator)
    vals = _gamma_values(alpha, g).astype(alpha.dtype)
    return xp.maximum(vals, xp.finfo(alpha.dtype).tiny)  # PyTorch clamps to the smallest normal


def _np_sample_dirichlet(alpha: xp.ndarray, generator=None) -> xp.ndarray:
    g = _random._gen(generator)
    # gammas in double (the alphas cast up, to avoid underflow), then normalised
    draws = _Draws(g)
    flat = [_gamma_one(a, draws, False) for a in xp.ascontiguousarray(alpha, _f64).ravel().tolist()]
    gam = xp.maximum(xp.array(flat, _f64).reshape(alpha.shape), xp.finfo(_f64).tiny)
    total = ember.tensor(gam).sum(-1, keepdim=True).numpy()  # in PyTorch's summation order
    ratio = (gam / total).astype(alpha.dtype)
    top = xp.nextafter(alpha.dtype.type(1), alpha.dtype.type(0))
    return xp.minimum(top, xp.maximum(xp.finfo(alpha.dtype).tiny, ratio))


def _poisson_one(lam: float, draws: _Draws) -> int:
    if lam >= 10:
        # transformed rejection (Hoermann 1993), as PyTorch's sample_poisson
        slam = math.sqrt(lam)
        loglam = math.log(lam)
        b = 0.931 + 2.53 * slam
        a = -0.059 + 0.02483 * b
        invalpha = 1.1239 + 1.1328 / (b - 3.4)
        vr = 0.9277 - 3.6224 / (b - 2)
        while True:
            U = draws.uniform() - 0.5
            V = draws.uniform()
            us = 0.5 - abs(U)
            k = math.floor((2 * a / us + b) * U + lam + 0.43)
            if us >= 0.07 and V <= vr:
                return k
            if k < 0 or (us < 0.013 and V > us):
                continue
            if (math.log(V) + math.log(invalpha) - math.log(a / (us * us) + b)
                    <= -lam + k * loglam - math.lgamma(k + 1.0)):
                return k
    if lam == 0:
        return 0
    enlam = math.exp(-lam)  # multiplication method (Knuth)
    x = 0
    prod = 1.0
    while True:
        prod *= draws.uniform()
        if prod > enlam:
            x += 1
        else:
            return x


def poisson(rates: Tensor, generator=None) -> Tensor:
    """torch.poisson: Poisson counts with the given rates, in the rates' dtype."""
    lam = rates.detach().numpy()
    if lam.size and not (lam.min() >= 0):
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    draws = _Draws(_random._gen(generator))
    vals = [_poisson_one(v, draws) for v in xp.ascontiguousarray(lam, _f64).ravel().tolist()]
    return ember.tensor(xp.array(vals, _f64).reshape(lam.shape).astype(lam.dtype))


# ---- implicit reparameterisation gradients ----------------------------------------------------
_GAMMA_COEF = xp.array([
    [0.16009398, -0.094634809, 0.025146376, -0.0030648343,
     1, 0.32668115, 0.10406089, 0.0014179084],
    [0.53487893, 0.1298071, 0.065735949, -0.0015649758,
     0.16639465, 0.020070113, -0.0035938915, -0.00058392623],
    [0.040121004, -0.0065914022, -0.0026286047, -0.0013441777,
     0.017050642, -0.0021309326, 0.00085092367, -1.5247877e-07]])


def _np_standard_gamma_grad(alpha: xp.ndarray, x: xp.ndarray) -> xp.ndarray:
    """dx/dalpha = -(dF/dalpha)(x; alpha) / f(x; alpha), by PyTorch's three approximations:
    a Taylor series for x < 0.8, Rice's saddle point for alpha > 8, else a bivariate
    rational fit in (log(x/alpha), log(alpha))."""
    a = xp.asarray(alpha, _f64)
    x = xp.asarray(x, _f64)
    a, x = xp.broadcast_arrays(a, x)
    out = xp.empty(a.shape, _f64)
    with xp.errstate(all="ignore"):
        # Taylor series of the lower incomplete gamma for small x
        numer = xp.ones_like(x)
        denom = a.copy()
        s1 = numer / denom
        s2 = numer / (denom * denom)
        for i in range(1, 6):
            numer = numer * (-x / i)
            denom = denom + 1
            s1 = s1 + numer / denom
            s2 = s2 + numer / (denom * denom)
        pow_xa = x ** a
        pdf = x ** (a - 1) * xp.exp(-x)
        cdf = pow_xa * s1
        cdf_a = (xp.log(x) - _special.digamma(a)) * cdf - pow_xa * s2
        taylor = -cdf_a / pdf
        taylor = xp.where(xp.isnan(taylor), 0.0, taylor)
        # Rice saddle point, near the mode and in the tails
        near = (1 + 24 * a * (1 + 12 * a)) * (
            1440 * (a * a) + 6 * x * (53 - 120 * x) - 65 * x * x / a + a * (107 + 3600 * x)
        ) / (1244160 * (a * a) * (a * a))
        den = xp.sqrt(8 * a)
        t2 = den / (a - x)
        t3 = (x - a - a * xp.log(x / a)) ** -1.5
        t23 = xp.where(x < a, t2 - t3, t2 + t3)
        t1 = xp.log(x / a) * t23 - xp.sqrt(2 / a) * (a + x) / ((a - x) * (a - x))
        stirling = 1 + 1 / (12 * a) * (1 + 1 / (24 * a))
        far = -stirling * (x * t1) / den
        rice = xp.where((0.9 * a <= x) & (x <= 1.1 * a), near, far)
        # rational approximation
        u = xp.log(x / a)
        v = xp.log(a)
        cv = [_GAMMA_COEF[0, i] + u * (_GAMMA_COEF[1, i] + u * _GAMMA_COEF[2, i])
              for i in range(8)]
        p = cv[0] + v * (cv[1] + v * (cv[2] + v * cv[3]))
        q = cv[4] + v * (cv[5] + v * (cv[6] + v * cv[7]))
        rational = xp.exp(p / q)
        out = xp.where(x < 0.8, taylor, xp.where(a > 8.0, rice, rational))
    return out


class StandardGamma(Function):
    @staticmethod
    def forward(ctx, alpha):
        x = _np_standard_gamma(alpha)
        ctx.save_for_backward(alpha)
        ctx.x = x
        return x

    @staticmethod
    def backward(ctx, grad):
        (alpha,) = ctx.saved_tensors
        return grad * _np_standard_gamma_grad(alpha, ctx.x).astype(ctx.x.dtype)


def _standard_gamma(alpha: Tensor) -> Tensor:
    """Standard Gamma(alpha) samples, reparameterised (torch._standard_gamma)."""
    return StandardGamma.apply(alpha)


# PyTorch's fitted coefficients of the rational correction (numerator, denominator), indexed
# [i][j][k] for the term u**i * a**j * b**k, u = log x, a = log alpha - u, b = log total - a.
_DIR_P = xp.array([
    [[1.003668233, -0.01061107488, -0.0657888334, 0.01201642863],
     [0.6336835991, -0.3557432599, 0.05486251648, -0.001465281033],
     [-0.03276231906, 0.004474107445, 0.002429354597, -0.0001557569013]],
    [[0.221950385, -0.3187676331, 0.01799915743, 0.01074823814],
     [-0.2951249643, 0.06219954479, 0.01535556598, 0.001550077057],
     [0.02155310298, 0.004170831599, 0.001292462449, 6.976601077e-05]],
    [[-0.05980841433, 0.008441916499, 0.01085618172, 0.002319392565],
     [0.02911413504, 0.01400243777, -0.002721828457, 0.000751041181],
     [0.005900514878, -0.001936558688, -9.495446725e-06, 5.385558597e-05]]])
_DIR_Q = xp.array([
    [[1, -0.02924021934, -0.04438342661, 0.007285809825],
     [0.6357567472, -0.3473456711, 0.05454656494, -0.002407477521],
     [-0.03301322327, 0.004845219414, 0.00231480583, -0.0002307248149]],
    [[0.5925320577, -0.1757678135, 0.01505928619, 0.000564515273],
     [0.1014815858, -0.06589186703, 0.01272886114, -0.0007316646956],
     [-0.007258481865, 0.001096195486, 0.0003934994223, -4.12701925e-05]],
    [[0.06469649321, -0.0236701437, 0.002902096474, -5.896963079e-05],
     [0.001925008108, -0.002869809258, 0.0008000589141, -6.063713228e-05],
     [-0.0003477407336, 6.959756487e-05, 1.097287507e-05, -1.650964693e-06]]])


def _beta_grad_small_x(x, a, b):
    """d x / d a for x ~ Beta(a, b) near 0 (scaled by 1/(1-x)): Taylor series of the CDF."""
    factor = _special.digamma(a) - _special.digamma(a + b) - xp.log(x)
    numer = xp.ones_like(x)
    series = numer / a * (factor + 1 / a)
    for i in range(1, 11):
        numer = numer * (i - b) * x / i
        denom = a + i
        series = series + numer / denom * (factor + 1 / denom)
    res = x * (1 - x) ** -b * series
    return xp.where(xp.isnan(res), 0.0, res)


def _beta_grad_small_x_wrt_b(x, a, b):
    """d x / d b for x ~ Beta(a, b) near 0, the same way."""
    factor = _special.digamma(a + b) - _special.digamma(b)
    numer, betas, dbetas = xp.ones_like(x), xp.ones_like(x), xp.zeros_like(x)
    series = factor / a
    for i in range(1, 9):
        numer = numer * (-x / i)
        dbetas = dbetas * (b - i) + betas
        betas = betas * (b - i)
        series = series + numer / (a + i) * (dbetas + factor * betas)
    res = -((1 - x) ** (1 - b)) * series
    return xp.where(xp.isnan(res), 0.0, res)


def _beta_grad_mid(x, a, b):
    """Rice saddle-point expansion for large a and b (a polynomial right at the mean)."""
    total = a + b
    mean = a / total
    std = xp.sqrt(a * b / (total + 1)) / total
    b2 = b * b
    poly = 47 * x * b2 * b2 + a * (
        (43 + 20 * (16 + 27 * b) * x) * b2 * b + a * (
            3 * (59 + 180 * b - 90 * x) * b2 + a * (
                (453 + 1620 * b * (1 - x) - 455 * x) * b + a * (8 * (1 - x) * (135 * b - 11)))))
    pre_num = (1 + 12 * a) * (1 + 12 * b) / (total * total)
    pre_den = 12960 * a * a * a * b * b * (1 + 12 * total)
    at_mean = pre_num / (1 - x) * poly / pre_den
    prefactor = -x / xp.sqrt(2 * a * b / total)

    def st(z):
        return 1 + 1 / (12 * z) + 1 / (288 * z * z)

    stirling = st(a) * st(b) / st(total)
    axbx = a * (x - 1) + b * x
    term1 = ((2 * (a * a) * (x - 1) + a * b * (x - 1) - x * b2)
             / (xp.sqrt(2 * a / b) * total ** 1.5 * axbx * axbx))
    term2 = 0.5 * xp.log(a / (total * x))
    term3 = xp.sqrt(8 * a * b / total) / (b * x + a * (x - 1))
    term4 = (b * xp.log(b / (total * (1 - x))) + a * xp.log(a / (total * x))) ** -1.5
    term1234 = term1 + term2 * (term3 + xp.where(x < mean, term4, -term4))
    away = stirling * prefactor * term1234
    return xp.where((mean - 0.1 * std <= x) & (x <= mean + 0.1 * std), at_mean, away)


def _beta_grad_rational(x, a, total):
    """An analytic approximation times PyTorch's fitted rational correction."""
    u = xp.log(x)
    la = xp.log(a) - u
    lb = xp.log(total) - la
    p = xp.zeros_like(x)
    q = xp.zeros_like(x)
    for i in range(3):
        for j in range(3):
            ua = u ** i * la ** j
            cp, cq = _DIR_P[i, j], _DIR_Q[i, j]
            p = p + ua * (cp[0] + lb * (cp[1] + lb * (cp[2] + lb * cp[3])))
            q = q + ua * (cq[0] + lb * (cq[1] + lb * (cq[2] + lb * cq[3])))
    approx = x * (_special.digamma(total) - _special.digamma(a)) / (total - a)
    return p / q * approx


def _np_dirichlet_grad(x, alpha, total):
    """-(dF/dalpha)(x; alpha, total - alpha) / f(x) / (1 - x) for the Beta marginal of each
    Dirichlet coordinate (torch._dirichlet_grad), by PyTorch's four regimes."""
    x, a, t = (xp.asarray(v, _f64) for v in xp.broadcast_arrays(x, alpha, total))
    b = t - a
    boundary = t * x * (1 - x)
    with xp.errstate(all="ignore"):
        small = _beta_grad_small_x(x, a, b)
        large = -_beta_grad_small_x_wrt_b(1 - x, b, a)
        mid = _beta_grad_mid(x, a, b)
        rational = _beta_grad_rational(x, a, t)
    return xp.where((x <= 0.5) & (boundary < 2.5), small,
                    xp.where((x >= 0.5) & (boundary < 0.75), large,
                             xp.where((a > 6) & (b > 6), mid, rational)))


# Stirling-series remainders log(k!) - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi)/2] for small k
_STIRLING_TAIL = (0.0810614667953272, 0.0413406959554092, 0.0276779256849983,
                  0.02079067210376509, 0.0166446911898211, 0.0138761288230707,
                  0.0118967099458917, 0.0104112652619720, 0.00925546218271273,
                  0.00833056343336287)


def _stirling_tail(k: float) -> float:
    if k <= 9:
        return _STIRLING_TAIL[int(k)]
    kp1sq = (k + 1) * (k + 1)
    return (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / kp1sq) / kp1sq) / (k + 1)


def _binomial_inversion(count, prob, draws, f32):
    # successes = how many geometric waiting times fit in ``count`` trials
    logprob = float(xp.log1p(xp.float32(-prob))) if f32 else math.log1p(-prob)
    geom_sum = 0.0
    num = 0.0
    while True:
        geom_sum += math.ceil(math.log(draws.uniform()) / logprob)
        if geom_sum > count:
            return num
        num += 1


def _binomial_btrs(count, prob, draws, f32):
    # Hormann's transformed rejection with squeeze (BTRS), as PyTorch's (from TensorFlow's);
    # the products of the float32 arguments are rounded to float32 as the C++ computes them
    f = xp.float32 if f32 else float
    cf, pf = f(count), f(prob)
    stddev = float(xp.sqrt(cf * pf * (f(1) - pf)))
    b = 1.15 + 2.53 * stddev
    a = -0.0873 + 0.0248 * b + 0.01 * prob
    c = float(cf * pf) + 0.5
    v_r = 0.92 - 4.2 / b
    r = float(pf / (f(1) - pf))
    alpha = (2.83 + 5.1 / b) * stddev
    m = math.floor(float((cf + f(1)) * pf))
    while True:
        U = draws.uniform() - 0.5
        V = draws.uniform()
        us = 0.5 - abs(U)
        k = float(math.floor((2 * a / us + b) * U + c))
        if k < 0 or k > count:
            continue
        if us >= 0.07 and V <= v_r:
            return k
        V = math.log(V * alpha / (a / (us * us) + b))
        upperbound = ((m + 0.5) * math.log((m + 1) / (r * (count - m + 1)))
                      + (count + 1) * math.log((count - m + 1) / (count - k + 1))
                      + (k + 0.5) * math.log(r * (count - k + 1) / (k + 1))
                      + _stirling_tail(m) + _stirling_tail(count - m)
                      - _stirling_tail(k) - _stirling_tail(count - k))
        if V <= upperbound:
            return k


def _binomial_one(count: float, prob: float, draws: _Draws, f32: bool) -> float:
    """PyTorch's sample_binomial: inversion when count * min(p, 1-p) < 10, else BTRS."""
    f = xp.float32 if f32 else float
    if count <= 0 or prob <= 0:
        return 0.0
    if prob >= 1:
        return count
    if prob <= 0.5:
        sampler = _binomial_btrs if float(f(count) * f(prob)) >= 10 else _binomial_inversion
        return sampler(count, prob, draws, f32)
    if prob > 0.5:
        q = float(f(1.0 - prob))
        sampler = _binomial_btrs if float(f(count) * f(q)) >= 10 else _binomial_inversion
        return count - sampler(count, q, draws, f32)
    return math.nan


def binomial(count: Tensor, prob: Tensor, generator=None) -> Tensor:
    """torch.binomial: successes in ``count`` trials of probability ``prob``."""
    c, p = xp.broadcast_arrays(count.detach().numpy(), prob.detach().numpy())
    draws = _Draws(_random._gen(generator))
    f32 = p.dtype != xp.float64
    flat = zip(c.astype(_f64).ravel().tolist(), p.astype(_f64).ravel().tolist())
    vals = [_binomial_one(a, b, draws, f32) for a, b in flat]
    return ember.tensor(xp.array(vals, _f64).reshape(c.shape).astype(p.dtype))
