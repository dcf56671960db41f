"""Adam (and, with decoupled weight decay, AdamW): adaptive moment estimation."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor
from . import _fused
from .optimizer import (
    Optimizer,
    _addcmul_,
    _check,
    _closure_loss,
    _lerp_,
    _to_scalar,
    _updates,
    _value,
    _zeros,
)

__all__ = ["Adam", "adam"]


class Adam(Optimizer):
    """Implements Adam (Kingma & Ba), with PyTorch's options, defaults and state layout.

    ``foreach``, ``fused`` and ``capturable`` select PyTorch kernels; they are accepted and
    validated, and ember runs its single NumPy implementation for all of them.
    """

    _zero_state = ("exp_avg", "exp_avg_sq")  # with "step": see Optimizer._init_state
    _counters = ("step",)

    def __init__(self, params, lr: float | Tensor = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError(
                "lr as a Tensor is not supported for capturable=False and foreach=True")
        _check(lr=lr, epsilon=eps, betas=betas, weight_decay=weight_decay)
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
        _check(differentiable=differentiable, fused=fused, foreach=foreach)

    def _init_state(self, st, p, group):
        super()._init_state(st, p, group)
        if group["amsgrad"]:
            st["max_exp_avg_sq"] = _zeros(p)

    def step(self, closure=None):
        """One Adam step for every param with a grad; ``closure`` re-evaluates the loss.

        m = beta1 * m + (1 - beta1) * g, v = beta2 * v + (1 - beta2) * g²,
        p -= lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps): see ``adam``.
        """
        loss = _closure_loss(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            adam(*self._gather(group, "exp_avg", "exp_avg_sq",
                               group["amsgrad"] and "max_exp_avg_sq", "step"),
                 amsgrad=group["amsgrad"], beta1=beta1, beta2=beta2, lr=group["lr"],
                 weight_decay=group["weight_decay"], eps=group["eps"],
                 maximize=group["maximize"], decoupled_weight_decay=group["decoupled_weight_decay"],
                 _scratch=self._scratch())
        return loss


def adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor],
         exp_avg_sqs: list[Tensor], max_exp_avg_sqs: list[Tensor], state_steps: list[Tensor],
         foreach=None, capturable=False, differentiable=False, fused=None, grad_scale=None,
         found_inf=None, has_complex=False, decoupled_weight_decay: bool = False, *,
         amsgrad: bool, beta1, beta2, lr, weight_decay: float, eps: float, maximize: bool,
         _scratch=None) -> None:
    """Functional Adam: updates ``params`` and the moment tensors in place.

    ``_scratch`` (an optimizer's ``_Scratch``) lends the fused kernel its work arrays.
    """
    lr, beta1, beta2, weight_decay, eps = map(_value, (lr, beta1, beta2, weight_decay, eps))
    for p, g, m, v, vmax, step in _updates(
            params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs if amsgrad else None,
            steps=state_steps, maximize=maximize, weight_decay=weight_decay, lr=lr,
            decoupled=decoupled_weight_decay):
        if _fused.adam_applies(p.dtype, beta1):  # the same formula in fewer passes
            s = xp.empty_like(p) if _scratch is None else _scratch.get(p, p)
            _fused.adam_(p, g, m, v, vmax, s, step, lr, beta1, beta2, eps)
            continue
        _lerp_(m, g, 1 - beta1)  # m = beta1 * m + (1 - beta1) * g
        v *= beta2
        _addcmul_(v, g, g, 1 - beta2)  # v = beta2 * v + (1 - beta2) * g * g
        if amsgrad:  # the largest v so far
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        denom = xp.sqrt(v) / bias_correction2**0.5 + eps
        p -= lr / bias_correction1 * m / denom
