"""Layer normalisation's forward and backward on an (M, D) view: the row reductions on BLAS.

NumPy's ``x.sum(axis=1)`` over short rows (D = 128) walks each row with its pairwise loop
and is ~5x slower than a matrix-vector product with a vector of ones, and einsum's row dot
products are ~2x slower than a batched (1, D) @ (D, 1) matmul. Measured on (2048, 128)
float32, one thread, CPU time (the medians of 50 calls): sum(axis=1) 96 us, x @ ones 19 us;
einsum("md,md->m") 56 us, matmul row dots 32 us; sum(axis=0) 49 us, ones @ x 29 us.
The sums differ from NumPy's pairwise ones in the last bits only (BLAS accumulates in
blocks), well inside PyTorch's own kernel's differences.

The forward keeps x-hat for the backward when there is an affine weight (the output is a
new array then anyway), saving the backward two passes over the input.
"""
from __future__ import annotations

from .._backend import xp
from ._parallel import grain, parallel_for

__all__ = ["col_sum", "layer_norm_backward", "layer_norm_forward", "row_dot", "row_sum"]


def row_sum(a):
    """a.sum(axis=1) of a 2-D array, as a matrix-vector product."""
    return a @ xp.ones(a.shape[1], a.dtype)


def col_sum(a):
    """a.sum(axis=0) of a 2-D array, as a vector-matrix product."""
    return xp.ones(a.shape[0], a.dtype) @ a


def row_dot(a, b):
    """The dot product of each row of a with the same row of b (2-D, same shape)."""
    return xp.matmul(a[:, None, :], b[:, :, None]).reshape(a.shape[0])


# Elements per thread, at least: LayerNorm makes ~8 passes over them. 2^16 (~0.25 ms of
# passes against a thread's ~55 us wake-up; see _parallel) won alone on (2048, 128) and lost
# inside the GPT step of bench/transformer.py, where the second core is still busy with the
# GEMM before (OpenBLAS's workers) and the passes scale ~1.3x: the nine layer norms took
# 5.5 / 5.7 ms forward and 6.9 / 7.0 ms backward per step in parallel against 3.4 / 4.0 and
# 5.2 / 5.3 ms serial (two sittings; per-op wall times of the step, 2 threads). So the GPT's
# (2048, 128) now stays serial; bigger norms split.
_WORK = 1 << 18


def layer_norm_forward(x2, w, b, eps):
    """(out, x-hat or None, mean, invstd) of an (M, D) array; w, b flat (D,) or None.
    Rows are split over ember's threads."""
    M, d = x2.shape
    dt = x2.dtype
    out = xp.empty((M, d), dt)
    xhat = None if w is None else xp.empty((M, d), dt)
    mean, invstd = xp.empty(M, dt), xp.empty(M, dt)

    def rows(lo, hi):
        xs, o = x2[lo:hi], out[lo:hi]
        with xp.errstate(invalid="ignore", divide="ignore"):  # D = 0: NaN as PyTorch's
            mu = mean[lo:hi]
            mu[...] = row_sum(xs) / dt.type(d)
            xc = xp.subtract(xs, mu[:, None], out=o if xhat is None else xhat[lo:hi])
            var = row_dot(xc, xc) / dt.type(d)
        inv = invstd[lo:hi]
        inv[...] = 1.0 / xp.sqrt(var + eps)
        xc *= inv[:, None]
        if xhat is not None:
            xp.multiply(xc, w, out=o)
        if b is not None:
            o += b

    parallel_for(rows, M, grain(d, _WORK))
    return out, xhat, mean, invstd


def layer_norm_backward(g2, x2, xhat, mean, invstd, w, needs):
    """(gx, gw, gb) of an (M, D) layer norm; x-hat is rebuilt from x2 when not kept. Rows are
    split over ember's threads; gw and gb add the threads' parts."""
    M, d = g2.shape
    gx = xp.empty((M, d), xp.result_type(g2, invstd)) if needs[0] else None

    def rows(lo, hi):
        g = g2[lo:hi]
        inv = invstd[lo:hi]
        if xhat is None:
            xh = x2[lo:hi] - mean[lo:hi, None]
            xh *= inv[:, None]
        else:
            xh = xhat[lo:hi]
        if needs[0]:
            gh = g if w is None else g * w
            o = gx[lo:hi]
            xp.multiply(xh, (row_dot(gh, xh) / -d)[:, None], out=o)
            o += gh
            o -= (row_sum(gh) / d)[:, None]
            o *= inv[:, None]
        return (xp.einsum("md,md->d", g, xh) if needs[1] else None,
                col_sum(g) if needs[2] else None)

    parts = parallel_for(rows, M, grain(d, _WORK))
    gw, gb = parts[0]
    for pw, pb in parts[1:]:
        if gw is not None:
            gw += pw
        if gb is not None:
            gb += pb
    return gx, gw, gb
