"""SparseAdam: a lazy Adam that only touches the rows a gradient reaches."""
from __future__ import annotations

import math

from .._backend import xp
from .._tensor import Tensor
from .optimizer import Optimizer, _bump, _check, _closure_loss, _value, _zeros

__all__ = ["SparseAdam", "sparse_adam"]


class SparseAdam(Optimizer):
    """Lazy Adam for embedding tables: only the rows whose gradient is nonzero are updated.

    PyTorch's SparseAdam requires sparse gradients (``nn.Embedding(sparse=True)``) and updates
    the rows listed in them. ember has no sparse tensors: its gradients are dense, and the rows
    (indices along dim 0) holding a nonzero are taken as the rows the gradient touched. For an
    embedding lookup these are the looked-up rows, so the trajectory is PyTorch's; a looked-up
    row whose gradient is exactly zero is skipped here (PyTorch would still decay its moments).
    Untouched rows keep their moments and values, unlike Adam, which decays every row.
    """

    def __init__(self, params, lr: float | Tensor = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 maximize: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 < lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check(betas=betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                params.append(p)
                grads.append(p._grad)
                st = self.state[p]
                if len(st) == 0:
                    st["step"] = 0  # a Python int here, as in PyTorch
                    st["exp_avg"] = _zeros(p)
                    st["exp_avg_sq"] = _zeros(p)
                exp_avgs.append(st["exp_avg"])
                exp_avg_sqs.append(st["exp_avg_sq"])
                st["step"] += 1
                steps.append(st["step"])
            sparse_adam(params, grads, exp_avgs, exp_avg_sqs, steps, eps=group["eps"],
                        beta1=beta1, beta2=beta2, lr=group["lr"],
                        maximize=group.get("maximize", False))
        return loss


def _touched_rows(g: xp.ndarray) -> xp.ndarray:
    """Indices along dim 0 of the rows of ``g`` (at least 1-D) that hold a nonzero."""
    return xp.flatnonzero(g.reshape(g.shape[0], -1).any(axis=1))


def sparse_adam(params, grads, exp_avgs, exp_avg_sqs, state_steps, *, eps, beta1, beta2, lr,
                maximize) -> None:
    """Functional SparseAdam on dense gradients: updates only their nonzero rows, in place."""
    eps, beta1, beta2, lr = map(_value, (eps, beta1, beta2, lr))
    for i, param in enumerate(params):
        # 0-dim tensors are handled as one row (atleast_1d gives views, so writes land)
        g = xp.atleast_1d(grads[i]._data)
        if maximize:
            g = xp.negative(g)
        idx = _touched_rows(g)
        if idx.size == 0:
            continue  # nothing touched: skip, as PyTorch skips an empty sparse gradient
        p = xp.atleast_1d(param._data)
        m = xp.atleast_1d(exp_avgs[i]._data)
        v = xp.atleast_1d(exp_avg_sqs[i]._data)
        step = state_steps[i]
        gv = g[idx]

        # old <- b * old + (1 - b) * new  <==>  old += (1 - b) * (new - old)
        old_m = m[idx]
        m_update = xp.subtract(gv, old_m)
        m_update *= 1 - beta1
        m[idx] = old_m + m_update
        old_v = v[idx]
        v_update = xp.multiply(gv, gv)
        v_update -= old_v
        v_update *= 1 - beta2
        v[idx] = old_v + v_update

        numer = m_update
        numer += old_m
        v_update += old_v
        denom = xp.sqrt(v_update, out=v_update)
        denom += eps

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr * math.sqrt(bias_correction2) / bias_correction1
        numer /= denom
        numer *= -step_size
        p[idx] = p[idx] + numer
        _bump(param)
