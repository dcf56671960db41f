"""Adamax: Adam with the infinity norm in place of the second moment."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor
from .optimizer import (
    Optimizer,
    _bump,
    _check_betas,
    _check_flags,
    _check_lr,
    _check_nonneg,
    _closure_loss,
    _l2_grad,
    _lerp_,
    _scalar_tensor,
    _value,
    _zeros_like,
)

__all__ = ["Adamax", "adamax"]


class Adamax(Optimizer):
    """Implements Adamax (a variant of Adam based on the infinity norm); PyTorch's formulas."""

    def __init__(self, params, lr: float | Tensor = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        _check_lr(lr)
        _check_nonneg(epsilon=eps)
        _check_betas(betas)
        _check_nonneg(weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)
        _check_flags(differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setdefault_groups(foreach=None, maximize=False, differentiable=False,
                                capturable=False)
        self._steps_to_tensors("step")

    def _init_state(self, st, p, group):
        st["step"] = _scalar_tensor(0.0)
        st["exp_avg"] = _zeros_like(p)
        st["exp_inf"] = _zeros_like(p)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, exp_avgs, exp_infs, steps = self._gather(
                group, "exp_avg", "exp_inf", "step")
            beta1, beta2 = group["betas"]
            adamax(params, grads, exp_avgs, exp_infs, steps, eps=group["eps"], beta1=beta1,
                   beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                   maximize=group["maximize"])
        return loss


def adamax(params, grads, exp_avgs, exp_infs, state_steps, foreach=None, maximize=False,
           differentiable=False, capturable=False, has_complex=False, *, eps, beta1, beta2, lr,
           weight_decay) -> None:
    """Functional Adamax: updates ``params``, ``exp_avgs`` and ``exp_infs`` in place."""
    lr, beta1, beta2, weight_decay, eps = map(_value, (lr, beta1, beta2, weight_decay, eps))
    for i, param in enumerate(params):
        p = param._data
        g = grads[i]._data
        m = exp_avgs[i]._data
        u = exp_infs[i]._data
        state_steps[i]._data += 1
        g = _l2_grad(g, p, maximize, weight_decay)
        _lerp_(m, g, 1 - beta1)
        # u = max(u * beta2, |g| + eps)
        u *= beta2
        t = xp.abs(g)
        t += eps
        xp.maximum(u, t, out=u)
        clr = lr / (1 - beta1 ** float(state_steps[i]._data))
        upd = xp.multiply(m, -clr)
        upd /= u
        p += upd
        _bump(param)
