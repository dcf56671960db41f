"""Adadelta: Adagrad with a decaying window and units-corrected steps (Zeiler)."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from .optimizer import (
    Optimizer,
    _bump,
    _check_flags,
    _closure_loss,
    _scalar_tensor,
    _value,
    _zeros_like,
)

__all__ = ["Adadelta", "adadelta"]


class Adadelta(Optimizer):
    """Implements Adadelta; PyTorch's formulas and defaults (lr=1.0, rho=0.9, eps=1e-6)."""

    def __init__(self, params, lr: float | Tensor = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)
        _check_flags(differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)
        self._steps_to_tensors("step")

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, square_avgs, acc_deltas, steps = [], [], [], [], []
            for p in group["params"]:
                if p._grad is None:
                    continue
                params.append(p)
                grads.append(p._grad)
                st = self.state[p]
                if len(st) == 0:
                    st["step"] = _scalar_tensor(0.0)
                    st["square_avg"] = _zeros_like(p)
                    st["acc_delta"] = _zeros_like(p)
                square_avgs.append(st["square_avg"])
                acc_deltas.append(st["acc_delta"])
                steps.append(st["step"])
            adadelta(params, grads, square_avgs, acc_deltas, steps, lr=group["lr"],
                     rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
                     maximize=group["maximize"])
        return loss


def adadelta(params, grads, square_avgs, acc_deltas, state_steps, capturable=False, foreach=None,
             differentiable=False, has_complex=False, *, lr, rho, eps, weight_decay,
             maximize) -> None:
    """Functional Adadelta: updates ``params``, ``square_avgs`` and ``acc_deltas`` in place."""
    lr, rho, eps, weight_decay = map(_value, (lr, rho, eps, weight_decay))
    for param, grad, square_avg, acc_delta, step in zip(params, grads, square_avgs, acc_deltas,
                                                         state_steps):
        p = param._data
        g = grad._data
        sq = square_avg._data
        acc = acc_delta._data
        step._data += 1
        if maximize:
            g = np.negative(g)
        if weight_decay != 0:
            g = g + np.multiply(p, weight_decay)
        sq *= rho
        t = np.multiply(g, 1 - rho)
        t *= g
        sq += t
        std = np.sqrt(np.add(sq, eps))
        delta = np.sqrt(np.add(acc, eps))
        delta /= std
        delta *= g
        acc *= rho
        t = np.multiply(delta, 1 - rho)
        t *= delta
        acc += t
        p -= np.multiply(delta, lr)
        _bump(param)
