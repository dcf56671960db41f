"""Adagrad: per-coordinate learning rates from the accumulated squared gradients."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor, _make
from .optimizer import (
    Optimizer,
    _bump,
    _check_flags,
    _closure_loss,
    _get_scalar_dtype,
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
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        _check_flags(differentiable, fused, foreach)

        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group, initial_accumulator_value)

    def _init_state(self, p, group, initial_accumulator_value):
        st = self.state[p]
        st["step"] = _scalar_tensor(0.0, _get_scalar_dtype(is_fused=group["fused"]))
        st["sum"] = _make(np.full_like(p._data, initial_accumulator_value), False, None, 0)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)
        self._steps_to_tensors("step")

    def share_memory(self) -> None:
        """Calls tensor.share_memory_() on the state sum tensors (a no-op in ember)."""

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, sums, steps = [], [], [], []
            for p in group["params"]:
                if p._grad is None:
                    continue
                params.append(p)
                grads.append(p._grad)
                st = self.state[p]
                if len(st) == 0:
                    self._init_state(p, group, self.defaults["initial_accumulator_value"])
                sums.append(st["sum"])
                steps.append(st["step"])
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
        if maximize:
            g = np.negative(g)
        if weight_decay != 0:
            g = g + np.multiply(p, weight_decay)
        clr = lr / (1 + (step - 1) * lr_decay)
        s += np.multiply(g, g)
        std = np.sqrt(s)
        std += eps
        upd = np.multiply(g, -clr)
        upd /= std
        p += upd
        _bump(param)
