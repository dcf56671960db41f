"""Adagrad: per-coordinate learning rates from the accumulated squared gradients."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor, _make
from .optimizer import (
    Optimizer,
    _bump,
    _check_flags,
    _check_lr,
    _check_nonneg,
    _closure_loss,
    _get_scalar_dtype,
    _l2_grad,
    _scalar_tensor,
    _value,
)

__all__ = ["Adagrad", "adagrad"]


class Adagrad(Optimizer):
    """Implements Adagrad (Duchi et al.); state is created for every parameter at construction."""

    def __init__(self, params, lr: float | Tensor = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _check_lr(lr)
        _check_nonneg(lr_decay=lr_decay, weight_decay=weight_decay,
                      initial_accumulator_value=initial_accumulator_value, epsilon=eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        _check_flags(differentiable, fused, foreach)

        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state[p], p, group)

    def _init_state(self, st, p, group):
        st["step"] = _scalar_tensor(0.0, _get_scalar_dtype(is_fused=group["fused"]))
        st["sum"] = _make(xp.full_like(p._data, self.defaults["initial_accumulator_value"]),
                          False, None, 0)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setdefault_groups(foreach=None, maximize=False, differentiable=False, fused=None)
        self._steps_to_tensors("step")

    def share_memory(self) -> None:
        """Calls tensor.share_memory_() on the state sum tensors."""
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"].share_memory_()

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, sums, steps = self._gather(group, "sum", "step")
            adagrad(params, grads, sums, steps, lr=group["lr"],
                    weight_decay=group["weight_decay"], lr_decay=group["lr_decay"],
                    eps=group["eps"], maximize=group["maximize"])
        return loss


def adagrad(params, grads, state_sums, state_steps, fused=None, grad_scale=None, found_inf=None,
            has_sparse_grad=False, foreach=None, differentiable=False, has_complex=False, *, lr,
            weight_decay, lr_decay, eps, maximize) -> None:
    """Functional Adagrad: updates ``params`` and ``state_sums`` in place."""
    lr, weight_decay, lr_decay, eps = map(_value, (lr, weight_decay, lr_decay, eps))
    for param, grad, state_sum, step_t in zip(params, grads, state_sums, state_steps):
        p = param._data
        g = grad._data
        s = state_sum._data
        step_t._data += 1
        step = float(step_t._data)
        g = _l2_grad(g, p, maximize, weight_decay)
        clr = lr / (1 + (step - 1) * lr_decay)
        s += xp.multiply(g, g)
        std = xp.sqrt(s)
        std += eps
        upd = xp.multiply(g, -clr)
        upd /= std
        p += upd
        _bump(param)
