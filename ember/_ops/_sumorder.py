"""Floating-point sums in PyTorch's CPU order, so that results agree with PyTorch bit for bit.

PyTorch sums float32/float64 on the CPU with ``cascade_sum`` (aten/src/ATen/native/cpu/
SumKernel.cpp); NumPy's pairwise summation adds in another order and the last bit differs (a
course prints ``Loss 1763.884766`` where NumPy's order gives ``1763.884644``). This module
replays PyTorch's order with a few vectorised NumPy calls, relying on two facts: reducing a
non-innermost axis (``xp.add.reduce``, or ``xp.einsum``, which does it faster) adds the slices
one after another, as pairwise summation only happens along a reduced innermost axis; and
``xp.add.accumulate`` is sequential.

The pieces of PyTorch's algorithm (``L`` = 8 lanes for float32, 4 for float64: ``Vectorized<T>``
of AVX2, which PyTorch also uses for sums on AVX512 machines, and of its NEON/default builds):

- ``multi_row_sum`` (``_cascade``): rows are added sequentially in blocks of ``step = 2**p``,
  ``p = max(4, ceil(log2(size)) // 4)``; block sums are carried up a 4-level cascade (level j+1
  receives level j each time the block count is a multiple of ``step**j``; the last level never
  flushes); the leftover rows, then levels 1, 2, 3 are added to level 0.
- ``row_sum`` (``_rowsum``): the values are read as rows of 4 ("ilp"), cascaded, the leftover
  values go into partial 0, then partials 1, 2, 3 are added to it.
- a contiguous inner reduction (``_inner``) of ``n >= L`` values: ``row_sum`` of the L-wide
  vectors, then a scalar starting at 0 adds the ``n % L`` tail values and then the L lanes one by
  one; ``n < L`` values: ``row_sum`` of the scalars.
- a reduction over the outer axis of a (rows, cols) block (``_outer``, ``vectorized_outer_sum``/
  ``scalar_outer_sum``): columns in whole groups of 4L (4 when cols < L) are cascaded over the
  rows; the other columns get ``row_sum`` over the rows.
- TensorIterator's loop: reduced dims come first (in memory order), kept dims after (in the
  contiguous output's order), adjacent dims merge; the 2-d loop reduces the first reduced group
  (``_inner``/``_outer`` above) and, with several reduced groups, adds the results to the output
  one after another.
- a full reduction of >= 32768 (GRAIN_SIZE) values with more than one thread
  (``two_pass_reduction``): the values are cut into ``min(threads, ceil(n / 32768))`` equal
  chunks (the last shorter), each summed as above, and the per-thread results (0 for idle
  threads) are summed again. The thread count is ember's ``get_num_threads()``.
- every result is finally added to a 0-filled output, so a zero sum is +0.0.

Exact (bit for bit against torch 2.x, see tests/test_sum_order.py) for float32 and float64 (and
float32 sums of other dtypes cast with ``dtype=``) over any dims of a C-contiguous array or of a
permuted one (``x.T``) whose kept dims lie in memory in their logical order. ``mean`` is that sum
divided by the count in the same dtype, as in PyTorch (float16: in float32, then cast back);
``nansum`` the sum with NaN read as 0. Other layouts (slices, broadcasts) and dtypes (float16
sums) fall back to NumPy's order and may differ from PyTorch in the last bit.
"""
from __future__ import annotations

import math

from .._backend import xp

_LANES = {xp.dtype(xp.float32): 8, xp.dtype(xp.float64): 4}
_ZERO = {8: xp.float32(0), 4: xp.float64(0)}  # by lanes
_GRAIN = 32768  # at::internal::GRAIN_SIZE: smaller reductions run on one thread
_add = xp.add.reduce
_acc = xp.add.accumulate
_einsum = xp.einsum


def _level_step(size):
    # level_power = max(4, CeilLog2(size) / 4), CeilLog2(x) = 1 for x <= 2
    clog = 1 if size <= 2 else (size - 1).bit_length()
    return 1 << max(4, clog // 4)


def _seq(m):
    """Reduce axis -2 of ``m`` (..., k, W), adding the k slices one after another."""
    k = m.shape[-2]
    if k == 1:
        return m[..., 0, :]
    if m.shape[-1] == 1:  # reduce would make k the inner (pairwise) axis; accumulate never does
        return _acc(m, axis=-2)[..., -1, :]
    if m.strides[-2] < m.strides[-1]:  # the same danger in another layout
        m = xp.ascontiguousarray(m)
    if k < 4 or m.size < 2048 or (m.shape[-1] >= 64 and m.size < 131072):
        return _add(m, axis=-2)  # (einsum only wins for narrow or large operands)
    # einsum adds the slices in order like reduce (W, the smallest stride, is its inner loop)
    # but runs 3-d operands in a plain C loop instead of NumPy's iterator: 2-5x faster
    if m.ndim != 4 or m.shape[0] > 8 or m.size < 32768 * m.shape[0]:
        return _einsum("...kw->...w", m)
    out = xp.empty(m.shape[:2] + m.shape[3:], m.dtype)
    for i in range(m.shape[0]):
        _einsum("bkw->bw", m[i], out=out[i])
    return out


def _cascade(m):
    """multi_row_sum: reduce axis -2 of ``m`` (..., size, W) with PyTorch's 4-level cascade."""
    size, w = m.shape[-2], m.shape[-1]
    step = _level_step(size)
    if size < step:
        return _seq(m)
    lead = m.shape[:-2]
    nb = size // step
    blocks = _seq(m[..., : nb * step, :].reshape(lead + (nb, step, w)))
    acc = _seq(m[..., nb * step:, :]) if size > nb * step else None  # leftover rows: level 0
    for _ in (1, 2):  # levels 1 and 2 carry up every `step` blocks, level 3 keeps everything
        ng = blocks.shape[-2] // step
        if ng == 0:
            break
        if ng * step < blocks.shape[-2]:
            rest = _seq(blocks[..., ng * step:, :])
            acc = rest if acc is None else acc + rest
        blocks = _seq(blocks[..., : ng * step, :].reshape(lead + (ng, step, w)))
    top = _seq(blocks)
    return top if acc is None else acc + top


def _rowsum(m):
    """row_sum: reduce axis -2 of ``m`` (..., size, W), read as rows of 4 (ILP) and cascaded."""
    size, w = m.shape[-2], m.shape[-1]
    k = size // 4
    if not k:
        return _seq(m)
    lead = m.shape[:-2]
    p = _cascade(m[..., : 4 * k, :].reshape(lead + (k, 4 * w))).reshape(lead + (4, w))
    if size > 4 * k:  # partial 0 takes the leftover rows, then partials 1, 2, 3
        p = xp.concatenate((p[..., :1, :], m[..., 4 * k:, :], p[..., 1:, :]), axis=-2)
    return _seq(p)


def _inner(x):
    """vectorized_inner_sum/scalar_inner_sum: the sums of the rows of ``x`` (R, n), n > 0."""
    r, n = x.shape
    lanes = _LANES[x.dtype]
    if n < lanes:
        return _rowsum(x[:, :, None])[:, 0] + x.dtype.type(0)
    vs = n // lanes
    vec = _rowsum(x[:, : vs * lanes].reshape(r, vs, lanes))
    if r == 1:  # the scalar tail, then the lanes, one after another
        if vs * lanes != n:
            vec = xp.concatenate((x[:, vs * lanes:], vec), axis=1)
        return _acc(vec, axis=1)[:, -1] + x.dtype.type(0)
    # the same with the rows side by side: one vector add per value instead of one short
    # accumulate per row (axis 0 of a C-contiguous array is added in order)
    t = n - vs * lanes
    cols = xp.empty((t + lanes, r), x.dtype)
    cols[:t] = x[:, vs * lanes:].T
    cols[t:] = vec.T
    return _add(cols, axis=0) + x.dtype.type(0)


def _outer(x):
    """vectorized_outer_sum/scalar_outer_sum: column sums of ``x`` (..., rows, cols)."""
    cols = x.shape[-1]
    lanes = _LANES[x.dtype]
    g = 4 * lanes if cols >= lanes else 4
    g = cols - cols % g  # columns in whole groups are cascaded, the rest get row_sum
    if g == cols:
        res = _cascade(x)
    elif g == 0:
        res = _rowsum(x)
    else:
        res = xp.concatenate((_cascade(x[..., :g]), _rowsum(x[..., g:])), axis=-1)
    return res + x.dtype.type(0)


def _small(a, n, lanes):
    """The full sum of 0 < ``n`` < 1024L values (at most 15 cascade blocks), in few NumPy calls."""
    if n < 4 * lanes:  # no full row of 4 vectors: one reordering and one sequential pass
        if n <= 4 or n == lanes:
            return _acc(a)[-1] if n > 1 else a[0]
        order = _ORDERS.get((n, lanes))
        if order is None:
            order = _ORDERS[n, lanes] = _order(n, lanes)
        b = a.take(order)  # a copy, like a[order], at a third of its cost
        if n >= 2 * lanes:  # vector 0 (now last in b) += vectors 1 and 2
            tail = b[-lanes:]
            tail += a[lanes: 2 * lanes]
            if n >= 3 * lanes:
                tail += a[2 * lanes: 3 * lanes]
        return _acc(b)[-1]
    vs = n // lanes
    k = vs // 4  # rows of 4 vectors, each lane summed down the rows
    w = 4 * lanes
    if k < 16:
        p = a[:w] if k == 1 else _add(a[: k * w].reshape(k, w), axis=0)
    else:  # level 0 sums blocks of 16 rows, level 1 the blocks, then level 0 the rest
        nb = k // 16
        p = _seq(_seq(a[: nb * 16 * w].reshape(nb, 16, w)))
        if k > nb * 16:
            p = _add(a[nb * 16 * w: k * w].reshape(-1, w), axis=0) + p
    p = p.reshape(4, lanes)
    if vs > 4 * k:  # partial 0 takes the leftover vectors, then partials 1, 2, 3
        p = xp.concatenate((p[:1], a[k * w: vs * lanes].reshape(-1, lanes), p[1:]))
    vec = _add(p, axis=0)
    if vs * lanes != n:  # the scalar tail, then the lanes
        vec = xp.concatenate((a[vs * lanes:], vec))
    return _acc(vec)[-1]


def _order(n, lanes):
    """Where each value of a short sum goes in its sequential pass."""
    if n < lanes:  # row_sum of scalars: partial 0, the leftover values, partials 1..3
        return xp.array((0, *range(4, n), 1, 2, 3))
    vs = n // lanes  # the scalar tail, then vector 0 (vectors 1, 2 are added to it)
    return xp.array((*range(vs * lanes, n), *range(lanes)))


_ORDERS: dict = {}


def _threads():
    global _threads  # bind ember's get_num_threads on first use (avoids an import cycle)
    from .._threads import get_num_threads as _threads

    return _threads()


def full_sum(a):
    """The sum of a 1-D contiguous float32/float64 array in PyTorch's order (a NumPy scalar)."""
    n = a.shape[0]
    lanes = _LANES[a.dtype]
    if n < 1024 * lanes:
        zero = _ZERO[lanes]
        return _small(a, n, lanes) + zero if n else zero
    if n >= _GRAIN:
        threads = _threads()
        if threads > 1:  # two_pass_reduction: one chunk per thread, then their sum
            nt = min(threads, -(-n // _GRAIN))
            chunk = -(-n // nt)
            full = n // chunk  # the chunks of full length are rows of one batch
            buf = xp.zeros(threads, a.dtype)
            buf[:full] = _inner(a[: full * chunk].reshape(full, chunk))
            if full < nt:
                buf[full] = _inner(a[full * chunk:][None])[0]
            return _inner(buf[None])[0]
    return _inner(a[None])[0]


def torch_sum_f32(a: xp.ndarray) -> xp.float32:
    """The float32 sum of a contiguous 1-D float32 array, added in PyTorch's order."""
    return full_sum(a)


def _groups(shape, axes):
    """The dims with size > 1, adjacent ones of the same kind merged: [[size, reduced], ...]."""
    groups = []
    for i, n in enumerate(shape):
        if n != 1:
            red = i in axes
            if groups and groups[-1][1] == red:
                groups[-1][0] *= n
            else:
                groups.append([n, red])
    return groups


def _contiguous_sum(a, axes):
    """sum_axes for a C-contiguous float32/float64 ``a`` and sorted ``axes``."""
    if axes is None or len(axes) == a.ndim:
        return full_sum(a.reshape(-1))
    shape = a.shape
    if len(shape) == 2 and shape[0] > 1 and shape[1] > 1:  # the common case, quickly
        return _inner(a) if axes[0] else _outer(a)
    out_shape = tuple(s for i, s in enumerate(shape) if i not in axes)
    if a.size == 0:
        return xp.zeros(out_shape, a.dtype)
    groups = _groups(shape, axes)
    nred = sum(red for _, red in groups)
    if nred == 0:  # only size-1 dims: PyTorch adds each value to a 0-filled output
        return (a + a.dtype.type(0)).reshape(out_shape)
    if len(groups) == 1:  # one output: the full reduction, threads included
        return xp.asarray(full_sum(a.reshape(-1))).reshape(out_shape)
    last = max(i for i, (_, red) in enumerate(groups) if red)
    pre = math.prod(n for n, _ in groups[:last])
    red = groups[last][0]
    post = groups[last + 1][0] if last + 1 < len(groups) else 1
    if nred == 1:  # TensorIterator's 2-d loop covers the whole reduction
        if post == 1:
            res = _inner(a.reshape(pre, red))
        else:
            res = _outer(a.reshape(pre, red, post) if pre > 1 else a.reshape(red, post))
        return res.reshape(out_shape)
    # Several reduced groups: the loop reduces the last one (a row sum, with the vectorised
    # kernel only when it is innermost) and adds those sums to the output one after another,
    # in row-major order of the other reduced groups.
    if post == 1:
        part = _inner(a.reshape(pre, red))
    else:
        part = _rowsum(a.reshape(pre, red, post))
    sizes = [n for n, _ in groups[:last]] + ([post] if post > 1 else [])
    reds = [i for i, (_, r) in enumerate(groups[:last]) if r]
    kept = [i for i in range(len(sizes)) if i not in reds]
    part = xp.ascontiguousarray(part.reshape(sizes).transpose(reds + kept))
    nr = math.prod(sizes[i] for i in reds)
    res = _add(part.reshape(nr, -1), axis=0)  # one after another: axis 0 is not the inner one
    return (res + a.dtype.type(0)).reshape(out_shape)


def sum_axes(a, axes):
    """The sum of ``a`` over sorted ``axes`` (None: all) in PyTorch's order, or None.

    A full reduction gives a NumPy scalar, others an array without the reduced dims. None means
    that this dtype or layout is not replayed (the caller then sums with NumPy).
    """
    if a.dtype not in _LANES:
        return None
    if a.flags.c_contiguous:
        return _contiguous_sum(a, axes)
    # PyTorch's TensorIterator loops over the reduced dims in the input's memory order and
    # over the kept dims in the (contiguous) output's order: a permuted dense array (x.T) sums
    # as its contiguous base does when its kept dims lie in memory in their logical order
    order = sorted(range(a.ndim), key=lambda i: -a.strides[i])
    t = a.transpose(order)
    if not t.flags.c_contiguous:
        return None
    if axes is None:
        return full_sum(t.reshape(-1))
    kept = [i for i in order if i not in axes]
    if kept != sorted(kept):
        return None
    return _contiguous_sum(t, tuple(sorted(order.index(i) for i in axes)))


def tsum(a, axes, dtype, keepdims):
    """``xp.add.reduce(a, axes, dtype=dtype, keepdims=keepdims)`` in PyTorch's order where known.

    ``axes`` is a sorted tuple or None; ``dtype`` a NumPy dtype or None. As in PyTorch, a
    floating ``dtype`` casts the input first and then sums in that dtype.
    """
    if dtype is None or dtype == a.dtype:
        x = a
    elif dtype in _LANES:
        x = a.astype(dtype)
    else:
        return xp.add.reduce(a, axis=axes, dtype=dtype, keepdims=keepdims)
    if x.dtype in _LANES:
        if axes is None and x.ndim == 1 and x.flags.c_contiguous:
            res = full_sum(x)  # the hot case first: no reshapes
        else:
            res = sum_axes(x, axes)
        if res is not None:
            if keepdims:
                return res.reshape(tuple(1 if axes is None or i in axes else s
                                         for i, s in enumerate(a.shape)))
            return res
    return xp.add.reduce(a, axis=axes, dtype=dtype, keepdims=keepdims)


_FULL_SUM_DTYPES = (xp.dtype(xp.float32), xp.dtype(xp.float64))


def sum_to_shape(grad, shape):
    """The autograd engine's reduction of a broadcast gradient array to ``shape``, in the order
    PyTorch's reduction uses; None when the shapes do not broadcast (the engine's error)."""
    gshape = grad.shape
    lead = len(gshape) - len(shape)
    exact = grad.dtype in _FULL_SUM_DTYPES
    if exact and not shape:  # to a 0-d tensor (w in w * x): one full sum
        return xp.asarray(full_sum(grad.reshape(-1)))
    if lead == 1 and gshape[1:] == shape:
        return tsum(grad, (0,), None, False)  # a bias: the sum over the batch
    if lead < 0 or any(s != 1 and s != g for s, g in zip(shape, gshape[lead:])):
        return None
    if exact and all(s == 1 for s in shape):  # to all ones: the same full sum
        return xp.asarray(full_sum(grad.reshape(-1))).reshape(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1)
    return tsum(grad, axes, None, True).reshape(shape)
