"""Kernels of softmax and of the mask fill before it (attention's ``masked_fill`` + ``softmax``).

Every trick here only pays for speed; the results stay those of the plain NumPy formulas up to
the order of a row sum (float rounding, well inside the parity tests' tolerances) and, for the
mask fill, bit for bit. Measured on the char-GPT attention shape (32, 4, 64, 64) float32, one
thread, best of 30 ``time.process_time`` runs (NumPy 2.4):

- ``x.max(-1)`` over rows of 64: 0.48 ms; with ``initial=-inf`` 0.33 ms. The same maximum (the
  initial value never wins, a NaN still propagates), but NumPy then reduces whole rows instead
  of copying each row's first element and reducing the odd-sized rest.
- ``e.sum(-1)`` over rows of 64: 0.22 ms; ``e.reshape(-1, 64) @ ones`` (one GEMV) 0.04 ms.
  NumPy's reduction pays per row; the GEMV adds in another order, so the last bit may differ.
- the mask fill ``where(m, v, a)`` with a (64, 64) mask broadcast over (32, 4): 0.32 ms;
  ``a.copy()`` then ``copyto(out, v, where=m)`` 0.21 ms, the same array. (``g * keep`` would be
  0.11 ms, but turns a non-finite grad at a masked place into NaN and a negative one into -0.0,
  where PyTorch's masked_fill gives 0.)
"""
from __future__ import annotations

from .._backend import xp
from ._parallel import grain, parallel_for

_NEG_INF = float("-inf")
_BLAS = (xp.dtype(xp.float32), xp.dtype(xp.float64))
_ones = {}  # (n, dtype) -> a read-only vector of ones for the GEMV row sums


def _ones_of(n, dtype):
    key = (n, dtype)
    v = _ones.get(key)
    if v is None:
        if len(_ones) > 64:
            _ones.clear()
        v = xp.ones(n, dtype)
        v.flags.writeable = False
        _ones[key] = v
    return v


def row_sum(a, axis):
    """a.sum(axis, keepdims=True), by one GEMV when axis is a's last and a is contiguous."""
    n = a.shape[axis]
    if axis != a.ndim - 1 or not a.flags.c_contiguous or a.dtype not in _BLAS or n == 0:
        return a.sum(axis, keepdims=True)
    return (a.reshape(-1, n) @ _ones_of(n, a.dtype)).reshape(a.shape[:-1] + (1,))


def row_max(x, axis):
    """x.max(axis, keepdims=True), the same array, faster (``initial``: see the module doc)."""
    return xp.max(x, axis, keepdims=True, initial=_NEG_INF)


def _last_axis_rows(x, axis, passes):
    """(rows (M, n) view, grain in rows) when x splits over ember's threads along its last
    axis, else None: contiguous, and at least ~2^19 element-passes per thread (a thread's
    wake-up costs ~55 us here, see _parallel)."""
    n = x.shape[axis] if x.ndim else 0
    if (axis != x.ndim - 1 or not x.flags.c_contiguous or n == 0
            or x.size * passes < 2 * _PARALLEL_WORK):
        return None
    return x.reshape(-1, n), grain(passes * n, _PARALLEL_WORK)


_PARALLEL_WORK = 1 << 19


def _softmax_rows(x2, out):
    e = xp.subtract(x2, row_max(x2, 1), out=out)  # the max shift keeps exp() finite
    xp.exp(e, out=e)
    e /= row_sum(e, 1)


def softmax(x, axis):
    """exp(x - max) / sum along axis (x non-empty, floating); a fresh array."""
    split = _last_axis_rows(x, axis, 4)
    if split is None:
        e = x - row_max(x, axis)  # the max shift keeps exp() finite
        xp.exp(e, out=e)
        e /= row_sum(e, axis)
        return e
    x2, grain = split
    out = xp.empty(x2.shape, x.dtype)
    parallel_for(lambda lo, hi: _softmax_rows(x2[lo:hi], out[lo:hi]), len(x2), grain)
    return out.reshape(x.shape)


def _softmax_backward_rows(g, y, out):
    xp.subtract(g, row_sum(g * y, g.ndim - 1), out=out)
    out *= y


def softmax_backward(grad, y, axis):
    """(grad - sum(grad * y)) * y along axis, for NumPy arrays."""
    split = _last_axis_rows(grad, axis, 4) if y.flags.c_contiguous else None
    if split is None:
        s = row_sum(grad * y, axis)
        out = grad - s
        out *= y
        return out
    g2, grain = split
    y2 = y.reshape(g2.shape)
    out = xp.empty(g2.shape, xp.result_type(grad, y))
    parallel_for(lambda lo, hi: _softmax_backward_rows(g2[lo:hi], y2[lo:hi], out[lo:hi]),
                 len(g2), grain)
    return out.reshape(grad.shape)


def fill_where(a, m, v):
    """where(m, v, a) for a mask that broadcasts to a's shape: a C-contiguous copy of a."""
    out = xp.empty(a.shape, a.dtype)
    if a.ndim == 0 or a.size < 2 * _PARALLEL_WORK:
        out[...] = a
        xp.copyto(out, v, where=m)
        return out
    mb = xp.broadcast_to(m, a.shape)

    def rows(lo, hi):  # ranges of the first axis
        out[lo:hi] = a[lo:hi]
        xp.copyto(out[lo:hi], v, where=mb[lo:hi])

    parallel_for(rows, len(a), grain(a.size // len(a), _PARALLEL_WORK))
    return out
