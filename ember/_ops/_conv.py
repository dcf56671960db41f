"""2-d stride-1 convolution on flat rows: the fast path of ``nn_ops.Convolution``.

A stride-1 window row of the padded input, read on the *padded* width Wp, is one contiguous
run of the flat (Hp * Wp) plane: row (c, i, j) of a sample's im2col matrix is the plane from
offset ``i*d*Wp + j*d`` on, Ho*Wp long. So im2col is C*kh*kw plain memcpys per sample, not
C*kh*kw*Ho copies of Wo-long runs, and the GEMM computes Wp - Wo extra output columns per
row, dropped when the block is copied out (the GEMM grows by Wp / Wo, ~7% on 28 x 28 3x3).

Everything is batch-major, a few samples at a time, so no transpose copy is needed anywhere:

* forward:       y[n] (O, L)      = W (O, CK) @ cols[n] (CK, L), written out cropped (+ bias);
* weight grad:   gW^T (CK, O)    += cols[n] (CK, L) @ g[n]^T     (BLAS reads g[n] transposed);
* input grad:    "same" padding (pl + pr = (kw-1)*d, likewise in height; ResNet's 3x3 pad 1):
  the correlation of the zero-padded grad with the flipped, transposed weight, i.e. the
  forward kernel again (flat cols of the padded grad, one GEMM, a cropped copy); the padded
  grad buffer doubles as the weight grad's operand. Other paddings: W^T @ g[n] scattered back
  with one flat shifted add per kernel offset (col2im on flat rows).

Measured (CPU time, 1 thread, 64 x 32 x 28 x 28, 32 3x3 filters pad 1; ``python
/tmp/proto/conv_proto.py``, a NumPy mock-up of these kernels): im2col 3.8 -> 1.7 ms; the
GEMM 13.6 -> 10.9 ms with one sample per block instead of four (~1 MB of cols stays in L2);
the weight grad's GEMM as cols @ g^T runs at ~85 GFLOP/s against ~57 for g @ cols^T; the input
grad as a transposed convolution 15.6 ms against 20.4 (flat col2im) and 23.0 (strided).

The weight grad was once taken without im2col from 16 input channels on (k*k GEMMs of
K = Ho*Wp on shifted planes, measured faster then); against these flat cols it no longer
was, and it went (backward with both grads, ms, medians of 15, 1 / 2 threads, flat against
shifted, NumPy's own OpenBLAS kernel unless named): 64x32x28x28 3x3 pad 1 16.6-17.2 / 8.8
against 17.1-18.3 / 9.1-10.2, the same on the Haswell kernel 25.3-26.1 / 14.7-21.3 against
26.9-27.6 / 16.8-17.5; 64x64x14x14 17.5-17.9 / 7.9-9.3 against 24.9-26.3 / 12.0-12.1;
32x128x7x7 10.2-11.9 / 6.5-6.8 against 11.6-13.4 / 7.5; 64x32x28x28 3x3 pad 0 (col2im
input grad) 18.3-19.4 / 11.1-11.8 against 20.1-21.7 / 12.1-12.4.
"""
from __future__ import annotations

import threading

from .._backend import as_strided, xp
from ._parallel import parallel_for

_work = threading.local()
_SCRATCH_MAX = 1 << 26


def scratch(n, dtype, slot=0):
    """A reusable buffer of n elements: large fresh arrays cost page faults on every call
    (glibc returns them to the OS), which measured slower than the im2col copy itself."""
    if n * dtype.itemsize > _SCRATCH_MAX:  # too big to keep around
        return xp.empty(n, dtype)
    bufs = getattr(_work, "bufs", None)
    if bufs is None:
        bufs = _work.bufs = [None] * 5
    buf = bufs[slot]
    if buf is None or buf.nbytes < n * dtype.itemsize:
        buf = bufs[slot] = xp.empty(max(n * dtype.itemsize, 1 << 16), xp.uint8)
    return buf[:n * dtype.itemsize].view(dtype)


# Samples per block: their cols take about this much (L2-sized; see the module docstring).
_BLOCK_BYTES = 1 << 20
# col2im's blocks (_col2im_runs): fewer, longer adds pay more than staying in L2
_COL2IM_BYTES = 1 << 22


def _block(N, bytes_per_sample):
    return max(1, min(N, _BLOCK_BYTES // max(bytes_per_sample, 1)))


def applies(x, w, stride, groups):
    """Does the flat-row path take this convolution? (2-d, stride 1, one group.)"""
    return w.ndim == 4 and x.ndim == 4 and groups == 1 and stride[0] == stride[1] == 1


class _FlatCols:
    """im2col on flat rows, block by block into one reused buffer: block [n0, n0 + nb) of src
    (N, C, >= Hp rows, Wp) -> (nb, C*kh*kw (+1), Ho*Wp), row (c, i, j) of a sample being its
    plane from offset i*dil*Wp + j*dil. Only (Ho-1)*Wp + Wo elements are read per row (the
    rest could run past the plane); the tail columns stay zero. ``ones=True`` adds a last row
    of ones, so that the GEMM adds the bias (forward) or sums the grad (bias grad): a bias
    added while cropping the output cost 3x the plain cropping copy (1.1 vs 0.36 ms on LeNet's
    first conv, ``python /tmp/proto/crop.py``) and the row costs 1/(C*K) more GEMM. The view
    and the buffer are made once per call: per block it is one copy (a loop of ~10 NumPy
    calls per sample block cost ~15 ms of a ResNet step)."""

    def __init__(self, src, kh, kw, dil, Ho, Wo, Wp, step, slot, ones=False):
        N, C = src.shape[:2]
        s0, s1, s2, s3 = src.strides
        n = (Ho - 1) * Wp + Wo
        self.view = as_strided(src, (N, C, kh, kw, n), (s0, s1, s2 * dil[0], s3 * dil[1], s3),
                               writeable=False)
        CK, Lp = C * kh * kw, Ho * Wp
        self.mat = scratch(step * (CK + ones) * Lp, src.dtype, slot).reshape(step, CK + ones, Lp)
        if ones:
            self.mat[:, CK] = 1
        buf = self.mat[:, :CK].reshape(step, C, kh, kw, Lp)
        buf[..., n:] = 0
        self.dst = buf[..., :n]

    def __call__(self, n0, nb):
        xp.copyto(self.dst[:nb], self.view[n0:n0 + nb])
        return self.mat[:nb]


def forward(xpad, w, b, dil, Ho, Wo):
    """y (N, O, Ho, Wo) of the contiguous padded input xpad (N, C, Hp, Wp)."""
    N, C, Hp, Wp = xpad.shape
    O, _, kh, kw = w.shape
    CK, Lp = C * kh * kw, Ho * Wp
    y = xp.empty((N, O, Ho, Wo), xp.result_type(xpad, w))
    wm = w.reshape(O, CK)
    if b is not None:  # the bias as one more weight column, against a row of ones
        wm = xp.concatenate([wm, b.reshape(O, 1).astype(wm.dtype, copy=False)], axis=1)
    step = _block(N, CK * Lp * xpad.itemsize)

    def samples(lo, hi):  # one thread's range (scratch buffers are per thread)
        cols = _FlatCols(xpad, kh, kw, dil, Ho, Wo, Wp, step, 0, ones=b is not None)
        r = scratch(step * O * Lp, y.dtype, 1).reshape(step, O, Lp)
        rv = r.reshape(step, O, Ho, Wp)[..., :Wo]
        for n0 in range(lo, hi, step):
            nb = min(step, hi - n0)
            xp.matmul(wm, cols(n0, nb), out=r[:nb])
            y[n0:n0 + nb] = rv[:nb]

    parallel_for(samples, N)
    return y


def backward(xpad, xshape, w, wshape, g, pads, dil, need_x, need_w, need_b):
    """(grad of the padded input's interior (N, C, H, W), of w, of the bias; each None where
    not needed) for y = forward(xpad, w, ...), g = dL/dy (N, O, Ho, Wo); xpad is needed for
    the weight grad only, w for the input grad only. Threads take ranges of samples
    (``_parallel``); each returns its part of the weight grad."""
    N, C, Hp, Wp = xshape
    O, _, kh, kw = wshape
    Ho, Wo = g.shape[2:]
    (pt, pb), (pl, pr) = pads
    H, W = Hp - pt - pb, Wp - pl - pr
    eh, ew = (kh - 1) * dil[0], (kw - 1) * dil[1]
    CK, Lp, dt = C * kh * kw, Ho * Wp, g.dtype
    same = pt + pb == eh and pl + pr == ew  # then H == Ho, W == Wo
    P = Hp * Wp
    if not (need_w or need_x):
        return None, None, g.sum((0, 2, 3)) if need_b else None
    gx = gxp = wf = wk = None
    if need_x and same:  # a convolution of the padded grad with the flipped weight (C, O*kh*kw)
        gx = xp.empty((N, C, H, W), dt)
        wf = xp.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, -1)
    elif need_x:  # col2im, channel-major, in blocks of its own (see _col2im_runs)
        gxp = xp.zeros((C, N * P), dt)
        wk = xp.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(kh * kw * C, O)
    step = _block(N, max(CK if need_w else 0, O * kh * kw if gx is not None else 0) * Lp
                  * g.itemsize)

    def col2im(lo, hi):
        cstep = max(1, min(hi - lo, _COL2IM_BYTES // (CK * P * g.itemsize)))
        # work buffers whose zero tails are set once: the grad on width Wp and the dcols
        gp = scratch(cstep * O * Lp, dt, 4).reshape(cstep, O, Ho, Wp)
        gp[..., Wo:] = 0
        d = scratch(CK * cstep * P, dt, 3).reshape(CK, cstep, P)
        d[:, :, Lp:] = 0
        for n0 in range(lo, hi, cstep):
            nb = min(cstep, hi - n0)
            gp[:nb, :, :, :Wo] = g[n0:n0 + nb]
            _col2im_runs(gxp[:, n0 * P:], wk, gp[:nb], d[:, :nb], kh, kw, dil)

    def flat(lo, hi):
        # the grad, zero-padded: "same" -> to the padded input's plane (Hp x Wp, plus a zero
        # row so that every flat row read stays inside its plane), at (eh - pt, ew - pl);
        # otherwise just to width Wp. Either way its flat rows from `start` are g on width
        # Wp, zero-tailed.
        rows, top, left = (Hp + 1, eh - pt, ew - pl) if same else (Ho, 0, 0)
        start = top * Wp + left
        gq = scratch(step * O * rows * Wp, dt, 2).reshape(step, O, rows, Wp)
        gq.fill(0)
        g_in = gq[:, :, top:top + Ho, left:left + Wo]
        gflat = gq.reshape(step, O, rows * Wp)[:, :, start:start + Lp]
        gwt = None
        if need_w:  # from flat cols, with the bias grad as the sum against a row of ones
            gwt = xp.zeros((CK + need_b, O), dt)
            cols = _FlatCols(xpad, kh, kw, dil, Ho, Wo, Wp, step, 0, ones=need_b)
        if gx is not None:
            gcols = _FlatCols(gq, kh, kw, dil, H, W, Wp, step, 3)
            r = scratch(step * C * Lp, dt, 1).reshape(step, C, Lp)
            rv = r.reshape(step, C, H, Wp)[..., :W]
        for n0 in range(lo, hi, step):
            nb = min(step, hi - n0)
            g_in[:nb] = g[n0:n0 + nb]
            if need_w:
                c = cols(n0, nb)
                if nb == 1:
                    gwt += xp.matmul(c[0], gflat[0].T)
                else:
                    gwt += xp.matmul(c, gflat[:nb].transpose(0, 2, 1)).sum(0)
            if gx is not None:
                xp.matmul(wf, gcols(0, nb), out=r[:nb])
                gx[n0:n0 + nb] = rv[:nb]
        return gwt

    def samples(lo, hi):  # one thread's range: its part of the weight grad (or None)
        if gxp is not None:
            col2im(lo, hi)
        if need_w or gx is not None:
            return flat(lo, hi)
        return None

    parts = parallel_for(samples, N)
    gw = gb = None
    if need_w:
        acc = parts[0]
        for part in parts[1:]:
            acc += part
        gw = acc[:CK].T.reshape(wshape)  # acc (CK (+1), O): gW^T and the bias grad
        gb = acc[CK] if need_b else None
    if need_b and gb is None:
        gb = g.sum((0, 2, 3))
    if gxp is not None:
        gx = gxp.reshape(C, N, Hp, Wp)[:, :, pt:pt + H, pl:pl + W]
        gx = xp.ascontiguousarray(gx.transpose(1, 0, 2, 3))
    return gx, gw, gb


def _col2im_runs(out, wk, gp, d, kh, kw, dil):
    """out (C, >= nb*Hp*Wp) += col2im of W^T @ g for a block of the grad gp (nb, O,
    Ho, Wp; zero past Wo), out being channel-major planes of the padded input grad, sample
    after sample. The dcols d (kh*kw*C, nb, Hp*Wp; rows ordered (i, j, c) as wk (kh*kw*C,
    O)) are whole planes, zero past each sample's Ho*Wp positions (one GEMM per sample writes
    the first Ho*Wp of its plane), so that each kernel offset's add is one shift of the flat
    planes: C runs of nb*Hp*Wp. NumPy spends ~50 ns per row of a strided
    add: the batch-major version, nb*C*kh*kw rows of (Ho-1)*Wp + Wo, measured 4.0 ms of adds
    for LeNet's second conv against 1.2 ms here, in 32-sample blocks (8: 4.1 ms; per-call
    costs). The input grad alone: 8.2 -> 5.7 ms; the whole backward (weight, bias and input
    grads, alternating A/B runs) 9.6 / 10.1 / 11.5 -> 9.3 / 9.5 / 10.9 ms (CPU time, 1
    thread, a loaded machine; ``python /tmp/proto/c2i.py``, ``tc.py``, ``abconv.py``). One
    GEMM over whole zero-padded planes per block instead does Hp/Ho more work: the whole
    backward 9.1-9.2 ms against 8.5-8.6 this way (three A/B runs); the zero tails of both
    buffers set once per call, not per block: 8.7 / 9.0 / 9.0 -> 8.0 / 8.7 / 8.1 ms."""
    nb, O, Ho, Wp = gp.shape
    P = d.shape[2]
    xp.matmul(wk, gp.reshape(nb, O, Ho * Wp), out=d[:, :, :Ho * Wp].transpose(1, 0, 2))
    d = d.reshape(kh, kw, -1, nb * P)
    # up to the last sample's last output position: what lies past it is zero, and a shifted
    # add stops inside the block's own planes (no thread writes its neighbour's samples)
    Wo = Wp - (kw - 1) * dil[1]
    m = (nb - 1) * P + (Ho - 1) * Wp + Wo
    for i in range(kh):
        for j in range(kw):
            sh = i * dil[0] * Wp + j * dil[1]
            out[:, sh:sh + m] += d[i, j, :, :m]
