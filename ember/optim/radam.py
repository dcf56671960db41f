"""RAdam: Adam with a rectified adaptive learning rate (Liu et al.)."""
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

__all__ = ["RAdam", "radam"]


class RAdam(Optimizer):
    """Implements RAdam; ``decoupled_weight_decay=True`` gives RAdamW."""

    def __init__(self, params, lr: float | Tensor = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check_lr(lr)
        _check_nonneg(epsilon=eps)
        _check_betas(betas)
        _check_nonneg(weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable,
                        decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)
        _check_flags(differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setdefault_groups(foreach=None, maximize=False, differentiable=False,
                                decoupled_weight_decay=False, capturable=False)
        self._steps_to_tensors("step")

    def _init_state(self, st, p, group):
        st["step"] = _scalar_tensor(0.0)
        st["exp_avg"] = _zeros_like(p)
        st["exp_avg_sq"] = _zeros_like(p)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, steps = self._gather(
                group, "exp_avg", "exp_avg_sq", "step")
            beta1, beta2 = group["betas"]
            radam(params, grads, exp_avgs, exp_avg_sqs, steps, beta1=beta1, beta2=beta2,
                  lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"],
                  maximize=group["maximize"],
                  decoupled_weight_decay=group["decoupled_weight_decay"])
        return loss


def radam(params, grads, exp_avgs, exp_avg_sqs, state_steps, decoupled_weight_decay=False,
          foreach=None, differentiable=False, capturable=False, has_complex=False,
          maximize=False, *, beta1, beta2, lr, weight_decay, eps) -> None:
    """Functional RAdam: updates ``params`` and the moment tensors in place."""
    lr, beta1, beta2, weight_decay, eps = map(_value, (lr, beta1, beta2, weight_decay, eps))
    # maximum length of the approximated simple moving average
    rho_inf = 2 / (1 - beta2) - 1
    for i, param in enumerate(params):
        p = param._data
        g = grads[i]._data
        m = exp_avgs[i]._data
        v = exp_avg_sqs[i]._data
        if maximize:
            g = xp.negative(g)
        state_steps[i]._data += 1
        step = float(state_steps[i]._data)

        g = _weight_decay(g, p, lr, weight_decay, decoupled_weight_decay)

        _lerp_(m, g, 1 - beta1)
        v *= beta2
        _addcmul_(v, g, g, 1 - beta2)

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        upd = xp.divide(m, bias_correction1)  # the bias-corrected first moment
        upd *= lr
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            # adaptive lr = sqrt(bc2) / (sqrt(v) + eps), as reciprocal() * scalar like PyTorch
            adaptive = xp.sqrt(v)
            adaptive += eps
            adaptive = xp.reciprocal(adaptive)
            adaptive *= bias_correction2**0.5
            upd *= adaptive
            upd *= rect
        p -= upd
        _bump(param)
