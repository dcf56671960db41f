"""NAdam: Adam with Nesterov momentum (Dozat), with PyTorch's momentum-decay schedule."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor
from .optimizer import Optimizer, _addcmul_, _check, _closure_loss, _lerp_, _updates, _value

__all__ = ["NAdam", "nadam"]


class NAdam(Optimizer):
    """Implements NAdam; ``decoupled_weight_decay=True`` gives NAdamW."""

    _zero_state = ("exp_avg", "exp_avg_sq")  # after step and mu_product: see _init_state
    _counters = ("step", "mu_product")

    def __init__(self, params, lr: float | Tensor = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check(lr=lr, epsilon=eps, betas=betas, weight_decay=weight_decay,
               momentum_decay=momentum_decay, differentiable=differentiable)
        super().__init__(params, dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
            capturable=capturable, differentiable=differentiable))

    def _init_state(self, st, p, group):
        super()._init_state(st, p, group, mu_product=1.0)

    def step(self, closure=None):
        """One NAdam step for every param with a grad; ``closure`` re-evaluates the loss.

        Adam's moments, and a step along g and m weighted by the momentum schedule mu_t:
        see ``nadam``.
        """
        loss = _closure_loss(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            nadam(*self._gather(group, "exp_avg", "exp_avg_sq", "mu_product", "step"),
                  beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                  momentum_decay=group["momentum_decay"], eps=group["eps"],
                  maximize=group["maximize"],
                  decoupled_weight_decay=group["decoupled_weight_decay"])
        return loss


def nadam(params, grads, exp_avgs, exp_avg_sqs, mu_products, state_steps,
          decoupled_weight_decay=False, foreach=None, capturable=False, differentiable=False,
          has_complex=False, maximize=False, *, beta1, beta2, lr, weight_decay, momentum_decay,
          eps) -> None:
    """Functional NAdam: updates ``params``, moments and ``mu_products`` in place."""
    lr, beta1, beta2, weight_decay, momentum_decay, eps = map(
        _value, (lr, beta1, beta2, weight_decay, momentum_decay, eps))
    for p, g, exp_avg, exp_avg_sq, mu_product, step in _updates(
            params, grads, exp_avgs, exp_avg_sqs, mu_products, steps=state_steps,
            maximize=maximize, weight_decay=weight_decay, lr=lr,
            decoupled=decoupled_weight_decay):
        # the momentum cache mu_t and mu_{t+1}
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mu_product *= mu  # a float32 tensor times a float: rounded as PyTorch rounds it
        mu_product_next = float(mu_product) * mu_next

        _lerp_(exp_avg, g, 1 - beta1)
        exp_avg_sq *= beta2
        _addcmul_(exp_avg_sq, g, g, 1 - beta2)
        denom = xp.sqrt(exp_avg_sq / (1 - beta2**step)) + eps
        # param.addcdiv_(grad, denom, value=c1); param.addcdiv_(exp_avg, denom, value=c2)
        p += -lr * (1.0 - mu) / (1.0 - float(mu_product)) * g / denom
        p += (-lr * mu_next) / (1.0 - mu_product_next) * exp_avg / denom
