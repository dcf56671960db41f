"""Adamax: Adam with the infinity norm in place of the second moment."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor
from .optimizer import Optimizer, _check, _closure_loss, _lerp_, _updates, _value

__all__ = ["Adamax", "adamax"]


class Adamax(Optimizer):
    """Implements Adamax (a variant of Adam based on the infinity norm); PyTorch's formulas."""

    _zero_state = ("exp_avg", "exp_inf")  # with "step": see Optimizer._init_state
    _counters = ("step",)

    def __init__(self, params, lr: float | Tensor = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        _check(lr=lr, epsilon=eps, betas=betas, weight_decay=weight_decay,
               differentiable=differentiable)
        super().__init__(params, dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
            maximize=maximize, differentiable=differentiable, capturable=capturable))

    def step(self, closure=None):
        """One Adamax step for every param with a grad; ``closure`` re-evaluates the loss.

        m = beta1 * m + (1 - beta1) * g, u = max(beta2 * u, |g| + eps),
        p -= lr / (1 - beta1^t) * m / u: see ``adamax``.
        """
        loss = _closure_loss(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            adamax(*self._gather(group, "exp_avg", "exp_inf", "step"), eps=group["eps"],
                   beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                   maximize=group["maximize"])
        return loss


def adamax(params, grads, exp_avgs, exp_infs, state_steps, foreach=None, maximize=False,
           differentiable=False, capturable=False, has_complex=False, *, eps, beta1, beta2, lr,
           weight_decay) -> None:
    """Functional Adamax: updates ``params``, ``exp_avgs`` and ``exp_infs`` in place."""
    lr, beta1, beta2, weight_decay, eps = map(_value, (lr, beta1, beta2, weight_decay, eps))
    for p, g, exp_avg, exp_inf, step in _updates(params, grads, exp_avgs, exp_infs,
                                                 steps=state_steps, maximize=maximize,
                                                 weight_decay=weight_decay):
        _lerp_(exp_avg, g, 1 - beta1)  # m = beta1 * m + (1 - beta1) * g
        exp_inf *= beta2
        xp.maximum(exp_inf, xp.abs(g) + eps, out=exp_inf)  # u = max(beta2 * u, |g| + eps)
        clr = lr / (1 - beta1**step)
        p += -clr * exp_avg / exp_inf
