"""Adadelta: Adagrad with a decaying window and units-corrected steps (Zeiler)."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor
from .optimizer import Optimizer, _addcmul_, _check, _closure_loss, _updates, _value

__all__ = ["Adadelta", "adadelta"]


class Adadelta(Optimizer):
    """Implements Adadelta; PyTorch's formulas and defaults (lr=1.0, rho=0.9, eps=1e-6)."""

    _zero_state = ("square_avg", "acc_delta")  # with "step": see Optimizer._init_state
    _counters = ("step",)

    def __init__(self, params, lr: float | Tensor = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _check(lr=lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check(epsilon=eps, weight_decay=weight_decay, differentiable=differentiable)
        super().__init__(params, dict(
            lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
            capturable=capturable, foreach=foreach, differentiable=differentiable))

    def step(self, closure=None):
        """One Adadelta step for every param with a grad; ``closure`` re-evaluates the loss.

        v = rho * v + (1 - rho) * g², delta = sqrt(u + eps) / sqrt(v + eps) * g,
        u = rho * u + (1 - rho) * delta², p -= lr * delta: see ``adadelta``.
        """
        loss = _closure_loss(closure)
        for group in self.param_groups:
            adadelta(*self._gather(group, "square_avg", "acc_delta", "step"), lr=group["lr"],
                     rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
                     maximize=group["maximize"])
        return loss


def adadelta(params, grads, square_avgs, acc_deltas, state_steps, capturable=False, foreach=None,
             differentiable=False, has_complex=False, *, lr, rho, eps, weight_decay,
             maximize) -> None:
    """Functional Adadelta: updates ``params``, ``square_avgs`` and ``acc_deltas`` in place."""
    lr, rho, eps, weight_decay = map(_value, (lr, rho, eps, weight_decay))
    for p, g, square_avg, acc_delta, _ in _updates(params, grads, square_avgs, acc_deltas,
                                                   steps=state_steps, maximize=maximize,
                                                   weight_decay=weight_decay):
        square_avg *= rho
        _addcmul_(square_avg, g, g, 1 - rho)  # square_avg = rho * square_avg + (1 - rho) * g²
        delta = xp.sqrt(acc_delta + eps) / xp.sqrt(square_avg + eps) * g
        acc_delta *= rho
        _addcmul_(acc_delta, delta, delta, 1 - rho)
        p -= lr * delta
