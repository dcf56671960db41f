"""RAdam: Adam with a rectified adaptive learning rate (Liu et al.)."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor
from .optimizer import Optimizer, _addcmul_, _check, _closure_loss, _lerp_, _updates, _value

__all__ = ["RAdam", "radam"]


class RAdam(Optimizer):
    """Implements RAdam; ``decoupled_weight_decay=True`` gives RAdamW."""

    _zero_state = ("exp_avg", "exp_avg_sq")  # with "step": see Optimizer._init_state
    _counters = ("step",)

    def __init__(self, params, lr: float | Tensor = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check(lr=lr, epsilon=eps, betas=betas, weight_decay=weight_decay,
               differentiable=differentiable)
        super().__init__(params, dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
            foreach=foreach, capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
            differentiable=differentiable))

    def step(self, closure=None):
        """One RAdam step for every param with a grad; ``closure`` re-evaluates the loss.

        Adam's moments; the adaptive step is rectified once its variance is tractable (rho_t > 5),
        before that p -= lr * m / (1 - beta1^t): see ``radam``.
        """
        loss = _closure_loss(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            radam(*self._gather(group, "exp_avg", "exp_avg_sq", "step"), beta1=beta1,
                  beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                  eps=group["eps"], maximize=group["maximize"],
                  decoupled_weight_decay=group["decoupled_weight_decay"])
        return loss


def radam(params, grads, exp_avgs, exp_avg_sqs, state_steps, decoupled_weight_decay=False,
          foreach=None, differentiable=False, capturable=False, has_complex=False,
          maximize=False, *, beta1, beta2, lr, weight_decay, eps) -> None:
    """Functional RAdam: updates ``params`` and the moment tensors in place."""
    lr, beta1, beta2, weight_decay, eps = map(_value, (lr, beta1, beta2, weight_decay, eps))
    rho_inf = 2 / (1 - beta2) - 1  # the maximum length of the approximated SMA
    for p, g, exp_avg, exp_avg_sq, step in _updates(
            params, grads, exp_avgs, exp_avg_sqs, steps=state_steps, maximize=maximize,
            weight_decay=weight_decay, lr=lr, decoupled=decoupled_weight_decay):
        _lerp_(exp_avg, g, 1 - beta1)
        exp_avg_sq *= beta2
        _addcmul_(exp_avg_sq, g, g, 1 - beta2)

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        update = exp_avg / bias_correction1 * lr  # the bias-corrected first moment, times lr
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:  # the variance is tractable: rectify the adaptive lr
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            # sqrt(bc2) / (sqrt(v) + eps), as reciprocal() * scalar like PyTorch
            adaptive_lr = xp.reciprocal(xp.sqrt(exp_avg_sq) + eps) * bias_correction2**0.5
            update = update * adaptive_lr * rect
        p -= update
