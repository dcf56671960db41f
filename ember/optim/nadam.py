"""NAdam: Adam with Nesterov momentum (Dozat), with PyTorch's momentum-decay schedule."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor
from .optimizer import (
    Optimizer,
    _addcmul_,
    _bump,
    _check_betas,
    _check_flags,
    _check_lr,
    _check_nonneg,
    _closure_loss,
    _lerp_,
    _scalar_tensor,
    _value,
    _weight_decay,
    _zeros_like,
)

__all__ = ["NAdam", "nadam"]


class NAdam(Optimizer):
    """Implements NAdam; ``decoupled_weight_decay=True`` gives NAdamW."""

    def __init__(self, params, lr: float | Tensor = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check_lr(lr)
        _check_nonneg(epsilon=eps)
        _check_betas(betas)
        _check_nonneg(weight_decay=weight_decay, momentum_decay=momentum_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)
        _check_flags(differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setdefault_groups(maximize=False, foreach=None, capturable=False,
                                differentiable=False, decoupled_weight_decay=False)
        self._steps_to_tensors("step", "mu_product")

    def _init_state(self, st, p, group):
        st["step"] = _scalar_tensor(0.0)
        st["mu_product"] = _scalar_tensor(1.0)
        st["exp_avg"] = _zeros_like(p)
        st["exp_avg_sq"] = _zeros_like(p)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, mu_products, steps = self._gather(
                group, "exp_avg", "exp_avg_sq", "mu_product", "step")
            beta1, beta2 = group["betas"]
            nadam(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, beta1=beta1,
                  beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
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
    for i, param in enumerate(params):
        p = param._data
        g = grads[i]._data
        m = exp_avgs[i]._data
        v = exp_avg_sqs[i]._data
        mu_product = mu_products[i]._data
        if maximize:
            g = xp.negative(g)
        state_steps[i]._data += 1
        step = float(state_steps[i]._data)
        bias_correction2 = 1 - beta2**step

        g = _weight_decay(g, p, lr, weight_decay, decoupled_weight_decay)

        # the momentum cache mu_t and mu_{t+1}
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mu_product *= mu  # a float32 tensor times a float: rounded as PyTorch rounds it

        _lerp_(m, g, 1 - beta1)
        v *= beta2
        _addcmul_(v, g, g, 1 - beta2)
        denom = xp.sqrt(xp.divide(v, bias_correction2))
        denom += eps

        mu_prod = float(mu_product)
        mu_product_next = mu_prod * mu_next
        # param.addcdiv_(grad, denom, value=c1); param.addcdiv_(exp_avg, denom, value=c2)
        upd = xp.multiply(g, -lr * (1.0 - mu) / (1.0 - mu_prod))
        upd /= denom
        p += upd
        upd = xp.multiply(m, (-lr * mu_next) / (1.0 - mu_product_next))
        upd /= denom
        p += upd
        _bump(param)
