"""Batch normalisation: the statistics, the normalisation and its backward, per channel.

Kept apart from ``nn.functional`` because it is the convolutional nets' own kernel: the float32
path reproduces PyTorch's CPU kernel bit for bit (see ``_BatchNorm._forward_f32``).
"""
from __future__ import annotations

from .._backend import xp
from .._device import Size
from .._ops._conv import scratch
from .._ops._parallel import grain, parallel_for
from .._tensor import Tensor, _make
from .._threads import get_num_threads
from ..autograd import grad_mode
from ..autograd.function import Function


def _t(x):
    return x if isinstance(x, Tensor) else _make(xp.asarray(x), False, None, 0)


def _verify_batch_size(size) -> None:
    size_prods = size[0]
    for i in range(len(size) - 2):
        size_prods *= size[i + 2]
    if size_prods == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{Size(size)}")


def _bn_stats_columns(x2):
    """Mean and variance sum per column of a float32 (N, C) array as PyTorch's channels-last
    kernel gets them: each thread adds its block of rows in float, the blocks add in double."""
    n, c = x2.shape
    chunk = -(-n // get_num_threads())
    blocks = range(0, n, chunk)
    mean = sum(x2[i:i + chunk].cumsum(0, dtype=xp.float32)[-1].astype(xp.float64)
               for i in blocks) / n
    mean = mean.astype(xp.float32)
    var_sum = xp.zeros(c, xp.float64)
    for i in blocks:
        acc = xp.zeros(c, xp.float32)
        for row in x2[i:i + chunk]:  # acc = fma(d, d, acc), row after row
            d = (row - mean).astype(xp.float64)
            acc = (d * d + acc).astype(xp.float32)
        var_sum += acc
    return mean, var_sum.astype(xp.float32)


# float32 batch norms up to this size follow PyTorch's CPU kernel bit for bit (about 3x slower
# than the plain NumPy formula, which larger ones use: their inputs come from convolutions and
# matmuls that differ from PyTorch's in the last bits anyway)
_BN_EXACT_SIZE = 1 << 18


def _fma_channels(x3, alpha, beta):
    """float32 fma(x, alpha[c], beta[c]) over an (N, C, L) array: in double (exact product, one
    rounding), a few rows at a time so that the double temporary stays in cache."""
    n, c, hw = x3.shape
    out = xp.empty_like(x3)
    flat, oflat = x3.reshape(n * c, hw), out.reshape(n * c, hw)
    rows = min(max(1, 16384 // hw), n * c)
    reps = -(-(rows + c) // c)
    a = xp.tile(alpha.astype(xp.float64), reps)[:, None]  # row i has channel i % c
    b = xp.tile(beta.astype(xp.float64), reps)[:, None]
    buf = xp.empty((rows, hw), xp.float64)
    for i in range(0, n * c, rows):
        k = min(rows, n * c - i)
        j = i % c
        xp.multiply(flat[i:i + k], a[j:j + k], out=buf[:k])
        buf[:k] += b[j:j + k]
        oflat[i:i + k] = buf[:k]
    return out


def _grain(x3):
    """Channels per thread: at least ~128 K elements each, or a thread's wake-up (~55 us
    here) costs more than its share of the passes saves (_ops/_parallel.py)."""
    n, _, hw = x3.shape
    return grain(n * hw, 1 << 17)


def _rowdot(a, b):
    """sum(a * b, axis=(0, 2)) for (N, C, L) arrays, without the temporary (one pass)."""
    return xp.einsum("ncl,ncl->c", a, b)


# Per-channel elementwise ops on (N, C, L) arrays. NumPy's loop for an operand broadcast as
# (C, 1) is slow (a stride-0 inner operand); einsum's product loop, or a (C, L) row that
# broadcasts over N only, run at full speed. Measured (CPU time, 1 thread, 64 x 32 x 784
# float32, ``python /tmp/proto/ops.py``): x * s[:, None] 1.20 ms, einsum 0.46 ms; x - m[:, None]
# 1.04 ms, x - (C, L) row 0.56 ms; x.mean((0, 2)) 0.36 ms, x.sum(0).sum(1) 0.20 ms.
def _scale_channels(x3, s, out=None):
    """x3 * s[c] (the same single rounding as multiply)."""
    return xp.einsum("ncl,c->ncl", x3, s.astype(x3.dtype, copy=False), out=out)


def _channel_rows(v, x3):
    """v[c] repeated along L: a (C, L) operand that broadcasts over the batch only."""
    return xp.repeat(v.astype(x3.dtype, copy=False), x3.shape[2]).reshape(x3.shape[1:])


def _channel_sum(x3):
    """x3.sum(axis=(0, 2)): the batch first (whole contiguous planes), then each row."""
    return x3.sum(axis=0).sum(axis=1)


class _BatchNorm(Function):
    """Batch normalisation; the statistics per channel come from one (N, C, L) view of x."""

    _node_name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, mean, var, training, eps, stats):
        n, c = x.shape[:2]
        x3 = x.reshape(n, c, -1)
        if x.dtype == xp.float32 and x.flags.c_contiguous and 0 < x.size <= _BN_EXACT_SIZE:
            return _BatchNorm._forward_f32(ctx, x, x3, w, b, mean, var, training, eps, stats)
        m = x.size // c
        out, xc = xp.empty_like(x3), xp.empty_like(x3)

        def channels(lo, hi):  # one thread's channels: everything below is per channel
            xs = x3[:, lo:hi]
            mu = (_channel_sum(xs) / x.dtype.type(m) if training
                  else mean[lo:hi].astype(x.dtype, copy=False))
            xcs = xp.subtract(xs, _channel_rows(mu, xs), out=xc[:, lo:hi])
            v = _rowdot(xcs, xcs) / m if training else var[lo:hi]
            inv = (1.0 / xp.sqrt(v + eps)).astype(x.dtype, copy=False)
            _scale_channels(xcs, inv if w is None else inv * w[lo:hi], out=out[:, lo:hi])
            if b is not None:
                out[:, lo:hi] += _channel_rows(b[lo:hi], xs)
            return mu, v, inv

        parts = parallel_for(channels, c, _grain(x3))
        mean, var, invstd = (xp.concatenate(vs) for vs in zip(*parts))
        if training:
            stats.append((mean, var))
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w)
            # the centred input too, for backward (it saves recomputing it: 2 passes)
            ctx.meta = (mean, invstd, training, eps, xc)
        return out.reshape(x.shape)

    @staticmethod
    def _forward_f32(ctx, x, x3, w, b, mean, var, training, eps, stats):
        # PyTorch's CPU kernels bit for bit (batch_norm_kernel.cpp): statistics summed in double
        # (an (N, C) input: per-thread float column sums), invstd in double, and the output as
        # fma(x, alpha, beta) with alpha = invstd * w, beta = fma(-mean, alpha, b)
        n, c, hw = x3.shape
        m = n * hw
        if training:
            if hw == 1 and n <= 4096:
                mean, var_sum = _bn_stats_columns(x3.reshape(n, c))
            else:
                mean = (x3.sum(axis=(0, 2), dtype=xp.float64) / m).astype(xp.float32)
                d = x3 - mean[:, None]
                d *= d
                var_sum = d.sum(axis=(0, 2), dtype=xp.float64).astype(xp.float32)
            var = var_sum / xp.float32(m)
            stats.append((mean, var, var_sum))
            invstd = (1.0 / xp.sqrt(var.astype(xp.float64) + eps)).astype(xp.float32)
        else:
            mean = mean.astype(xp.float32, copy=False)
            invstd = xp.float32(1) / xp.sqrt(var.astype(xp.float32, copy=False) + xp.float32(eps))
        alpha = invstd if w is None else invstd * w
        beta = -mean.astype(xp.float64) * alpha
        if b is not None:
            beta += b
        out = _fma_channels(x3, alpha, beta.astype(xp.float32))
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, w)
            ctx.meta = (mean, invstd, training, eps)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        mean, invstd, training, _ = ctx.meta[:4]
        ni = ctx.needs_input_grad
        if isinstance(grad, Tensor):
            return _BatchNorm._backward_graph(ctx, grad, x, w)
        n, c = x.shape[:2]
        m = x.size // c
        g3 = grad.reshape(n, c, -1)
        x3 = x.reshape(n, c, -1)
        xc = ctx.meta[4] if len(ctx.meta) == 5 else None  # the NumPy path saved x - mean
        need_gw = ni[1] or (ni[0] and training)
        need_gb = ni[2] or (ni[0] and training)
        gx = xp.empty_like(g3) if ni[0] else None

        def channels(lo, hi):  # one thread's channels
            g = g3[:, lo:hi]
            inv = invstd[lo:hi]
            xcs = xc[:, lo:hi] if xc is not None else x3[:, lo:hi] - mean[lo:hi, None]
            # sum(g * xhat) = sum(g * xc) * invstd: no xhat array (one read of g and xc)
            gw = _rowdot(g, xcs) * inv if need_gw else None
            gb = _channel_sum(g) if need_gb else None
            if gx is not None:
                scale = inv if w is None else inv * w[lo:hi]
                gxs = _scale_channels(g, scale, out=gx[:, lo:hi])
                if training:  # through the batch mean and variance: - (k1 * xc + k0)
                    t = _scale_channels(xcs, gw * (scale * inv / m),
                                        out=scratch(xcs.size, gx.dtype, 2).reshape(xcs.shape))
                    t += _channel_rows(gb * (scale / m), t)
                    gxs -= t
            return gw, gb

        parts = parallel_for(channels, c, _grain(g3))
        gw = xp.concatenate([p[0] for p in parts]) if need_gw else None
        gb = xp.concatenate([p[1] for p in parts]) if need_gb else None
        if gx is not None:
            gx = gx.reshape(x.shape)
        return gx, gw if ni[1] else None, gb if ni[2] else None, None, None, None, None, None

    @staticmethod
    def _backward_graph(ctx, grad, x, w):
        """create_graph=True: the same formulas on Tensors, statistics rebuilt from x."""
        mean, invstd, training, eps = ctx.meta[:4]
        ni = ctx.needs_input_grad
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if training:
            mu = x.mean(axes, keepdim=True)
            xc = x - mu
            inv = ((xc * xc).mean(axes, keepdim=True) + eps).rsqrt()
        else:
            xc = x - _t(mean.reshape(shape))
            inv = _t(invstd.reshape(shape))
        xhat = xc * inv
        scale = inv if w is None else inv * w.reshape(shape)
        gx = None
        if ni[0]:
            if training:
                gx = (grad - grad.mean(axes, keepdim=True)
                      - xhat * (grad * xhat).mean(axes, keepdim=True)) * scale
            else:
                gx = grad * scale
        gw = (grad * xhat).sum(axes) if ni[1] else None
        gb = grad.sum(axes) if ni[2] else None
        return gx, gw, gb, None, None, None, None, None


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise over the batch (and spatial dims) per channel; updates running stats in place."""
    if training:
        _verify_batch_size(input._data.shape)
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    x = input._data
    if x.ndim < 2:
        raise ValueError(f"expected 2D or higher input (got {x.ndim}D input)")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t._data.size != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t._data.size}")
    if not training:
        if running_mean is None:
            raise RuntimeError("running_mean must be defined in evaluation mode")
        if running_var is None:
            raise RuntimeError("running_var must be defined in evaluation mode")
    stats: list = []
    out = _BatchNorm.apply(input, weight, bias,
                           None if running_mean is None else running_mean._data,
                           None if running_var is None else running_var._data,
                           training, eps, stats)
    if training and stats and (running_mean is not None or running_var is not None):
        mean, var = stats[0][:2]
        n = x.size // c
        m = momentum
        if len(stats[0]) == 3:  # float32: PyTorch's update, in float
            var = stats[0][2] / xp.float32(n - 1)  # unbiased (n > 1: checked above)
            with grad_mode.no_grad():
                for t, v in ((running_mean, mean), (running_var, var)):
                    if t is not None and t._data.dtype == xp.float32:
                        new = float(xp.float32(m)) * v.astype(xp.float64)
                        if t is running_mean:  # m * v + (1-m) * t, rounded after each step
                            new = new.astype(xp.float32)
                        new += xp.float32(1 - m) * t._data  # the variance: one fma
                        t._data[...] = new
                        t._bump()
                    elif t is not None:
                        t._data[...] = m * v + (1 - m) * t._data
                        t._bump()
            return out
        with grad_mode.no_grad():
            if running_mean is not None:
                rm = running_mean._data
                rm *= 1 - m
                rm += m * mean
                running_mean._bump()
            if running_var is not None:
                rv = running_var._data
                rv *= 1 - m
                rv += m * var * (n / (n - 1) if n > 1 else 1.0)  # the unbiased variance
                running_var._bump()
    return out
