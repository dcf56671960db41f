"""Adadelta: Adagrad with a decaying window and units-corrected steps (Zeiler)."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor
from .optimizer import (
    Optimizer,
    _addcmul_,
    _bump,
    _check_flags,
    _check_lr,
    _check_nonneg,
    _closure_loss,
    _l2_grad,
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
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_nonneg(epsilon=eps, weight_decay=weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)
        _check_flags(differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setdefault_groups(foreach=None, maximize=False, differentiable=False,
                                capturable=False)
        self._steps_to_tensors("step")

    def _init_state(self, st, p, group):
        st["step"] = _scalar_tensor(0.0)
        st["square_avg"] = _zeros_like(p)
        st["acc_delta"] = _zeros_like(p)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, square_avgs, acc_deltas, steps = self._gather(
                group, "square_avg", "acc_delta", "step")
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
        g = _l2_grad(g, p, maximize, weight_decay)
        sq *= rho
        _addcmul_(sq, g, g, 1 - rho)
        std = xp.sqrt(xp.add(sq, eps))
        delta = xp.sqrt(xp.add(acc, eps))
        delta /= std
        delta *= g
        acc *= rho
        _addcmul_(acc, delta, delta, 1 - rho)
        p -= xp.multiply(delta, lr)
        _bump(param)
