"""Adam (and, with decoupled weight decay, AdamW): adaptive moment estimation."""
from __future__ import annotations

import numpy as np

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
    _get_scalar_dtype,
    _lerp_,
    _scalar_tensor,
    _to_scalar,
    _value,
    _weight_decay,
    _zeros_like,
)

__all__ = ["Adam", "adam"]


class Adam(Optimizer):
    """Implements Adam (Kingma & Ba), with PyTorch's options, defaults and state layout.

    ``foreach``, ``fused`` and ``capturable`` select PyTorch kernels; they are accepted and
    validated, and ember runs its single NumPy implementation for all of them.
    """

    def __init__(self, params, lr: float | Tensor = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError(
                "lr as a Tensor is not supported for capturable=False and foreach=True")
        _check_lr(lr)
        _check_nonneg(epsilon=eps)
        _check_betas(betas)
        _check_nonneg(weight_decay=weight_decay)
        if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
                or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))):
            raise ValueError("betas must be either both floats or both Tensors")
        for i in (0, 1):
            if isinstance(betas[i], Tensor):
                if not capturable and foreach:
                    raise ValueError(f"betas[{i}] as a Tensor is not supported for "
                                     "capturable=False and foreach=True")
                if betas[i].numel() != 1:
                    raise ValueError(f"Tensor betas[{i}] must be 1-element")
        betas = tuple(map(_to_scalar, betas))

        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)
        _check_flags(differentiable, fused, foreach)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setdefault_groups(amsgrad=False, maximize=False, foreach=None, capturable=False,
                                differentiable=False, decoupled_weight_decay=False, fused=None)
        self._steps_to_tensors("step")

    def _init_state(self, st, p, group):
        # step is a float32 (or default-float) 0-dim tensor, as in PyTorch 2.x
        st["step"] = _scalar_tensor(0.0, _get_scalar_dtype(is_fused=group["fused"]))
        st["exp_avg"] = _zeros_like(p)
        st["exp_avg_sq"] = _zeros_like(p)
        if group["amsgrad"]:
            st["max_exp_avg_sq"] = _zeros_like(p)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps = self._gather(
                group, "exp_avg", "exp_avg_sq", group["amsgrad"] and "max_exp_avg_sq", "step")
            beta1, beta2 = group["betas"]
            adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps,
                 amsgrad=group["amsgrad"], beta1=beta1, beta2=beta2, lr=group["lr"],
                 weight_decay=group["weight_decay"], eps=group["eps"],
                 maximize=group["maximize"],
                 decoupled_weight_decay=group["decoupled_weight_decay"])
        return loss


def adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
         exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor], state_steps: list[Tensor],
         foreach=None, capturable=False, differentiable=False, fused=None, grad_scale=None,
         found_inf=None, has_complex=False, decoupled_weight_decay: bool = False, *,
         amsgrad: bool, beta1, beta2, lr, weight_decay: float, eps: float,
         maximize: bool) -> None:
    """Functional Adam: updates ``params`` and the moment tensors in place."""
    lr, beta1, beta2, weight_decay, eps = map(_value, (lr, beta1, beta2, weight_decay, eps))
    for i, param in enumerate(params):
        p = param._data
        g = grads[i]._data
        m = exp_avgs[i]._data
        v = exp_avg_sqs[i]._data
        step_t = state_steps[i]._data
        if maximize:
            g = np.negative(g)
        step_t += 1

        g = _weight_decay(g, p, lr, weight_decay, decoupled_weight_decay)

        # m = lerp(m, g, 1 - beta1); v = v * beta2 + ((1 - beta2) * g) * g
        _lerp_(m, g, 1 - beta1)
        v *= beta2
        _addcmul_(v, g, g, 1 - beta2)

        step = float(step_t)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5

        if amsgrad:
            vmax = max_exp_avg_sqs[i]._data
            np.maximum(vmax, v, out=vmax)
            v = vmax
        # denom = sqrt(v) / sqrt(bc2) + eps;  param += (-step_size * m) / denom
        denom = np.sqrt(v)
        denom /= bias_correction2_sqrt
        denom += eps
        upd = np.multiply(m, -step_size)
        upd /= denom
        p += upd
        _bump(param)
