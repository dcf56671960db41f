"""SyncBatchNorm's cross-rank path: the batch statistics are summed over the process group.

The per-channel sums of x and x*x (in float64, so that E[x^2] - E[x]^2 keeps its digits) and
the element count go through one all-reduce whose backward is again an all-reduce; the rest is
ordinary differentiable ops, so the gradient that flows back to every rank's input is that of
the whole group's batch, as PyTorch's SyncBatchNorm gives.
"""
from __future__ import annotations

from ..._backend import xp
from ..._creation import full
from ..._dtype import float64
from ..._ops.movement import cat
from ...autograd import grad_mode
from ...autograd.function import Function
from .distributed import _dist


def sync_group(module):
    """The group to synchronise over, or None when BatchNorm's local statistics are right."""
    dist, c10d = _dist()
    if not module.training or not dist.is_available() or not dist.is_initialized():
        return None
    pg = c10d._group(module.process_group)
    if pg is None or pg.size() == 1:
        return None
    return pg


def _sum_over(pg, a):
    _, c10d = _dist()
    out = xp.array(a, xp.float64)  # a copy: the input array is not written
    c10d._wait(pg, [pg.comm.Iallreduce(c10d._MPI.IN_PLACE, out, op=c10d._MPI.SUM)],
               "SyncBatchNorm")
    return out


class _AllReduceSum(Function):
    """Sum over the group (float64 arrays); its gradient is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx, t, pg):
        ctx.pg = pg
        return _sum_over(pg, t)

    @staticmethod
    def backward(ctx, grad):
        return _sum_over(ctx.pg, grad), None


def sync_batch_norm(m, x, pg):
    """Batch norm of ``x`` with the statistics of every rank's batch."""
    c = x.size(1)
    axes = (0,) + tuple(range(2, x.dim()))
    xd = x.double()
    count = x.numel() // c
    local = cat([xd.sum(axes), (xd * xd).sum(axes), full((1,), float(count), dtype=float64)])
    stats = _AllReduceSum.apply(local, pg)
    n = float(stats[2 * c].item())
    mean = stats[:c] / n
    var = stats[c:2 * c] / n - mean * mean
    shape = (1, c) + (1,) * (x.dim() - 2)
    invstd = (var + m.eps).rsqrt()
    y = (x - mean.to(x.dtype).reshape(shape)) * invstd.to(x.dtype).reshape(shape)
    if m.weight is not None:
        y = y * m.weight.reshape(shape)
    if m.bias is not None:
        y = y + m.bias.reshape(shape)
    if m.track_running_stats and m.running_mean is not None:
        factor = 0.0 if m.momentum is None else m.momentum
        if m.num_batches_tracked is not None:
            nbt = m.num_batches_tracked
            with grad_mode.no_grad():
                nbt.add_(1)
            if m.momentum is None:  # cumulative moving average
                factor = 1.0 / float(nbt.item())
        with grad_mode.no_grad():
            unbiased = var.detach() * (n / max(n - 1.0, 1.0))
            m.running_mean.mul_(1 - factor).add_(mean.detach().to(m.running_mean.dtype) * factor)
            m.running_var.mul_(1 - factor).add_(unbiased.to(m.running_var.dtype) * factor)
    return y
