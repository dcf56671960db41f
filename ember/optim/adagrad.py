"""Adagrad: per-coordinate learning rates from the accumulated squared gradients."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor, _make
from .optimizer import Optimizer, _check, _closure_loss, _updates, _value

__all__ = ["Adagrad", "adagrad"]


class Adagrad(Optimizer):
    """Implements Adagrad (Duchi et al.); state is created for every parameter at construction."""

    _counters = ("step",)

    def __init__(self, params, lr: float | Tensor = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _check(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
               initial_accumulator_value=initial_accumulator_value, epsilon=eps)
        super().__init__(params, dict(
            lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, foreach=foreach,
            maximize=maximize, differentiable=differentiable, fused=fused))
        _check(differentiable=differentiable, fused=fused, foreach=foreach)

        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state[p], p, group)

    def _init_state(self, st, p, group):
        super()._init_state(st, p, group)
        st["sum"] = _make(xp.full_like(p._data, self.defaults["initial_accumulator_value"]),
                          False, None, 0)

    def share_memory(self) -> None:
        """Calls tensor.share_memory_() on the state sum tensors."""
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"].share_memory_()

    def step(self, closure=None):
        """One Adagrad step for every param with a grad; ``closure`` re-evaluates the loss.

        sum += g², p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps): see ``adagrad``.
        """
        loss = _closure_loss(closure)
        for group in self.param_groups:
            adagrad(*self._gather(group, "sum", "step"), lr=group["lr"],
                    weight_decay=group["weight_decay"], lr_decay=group["lr_decay"],
                    eps=group["eps"], maximize=group["maximize"])
        return loss


def adagrad(params, grads, state_sums, state_steps, fused=None, grad_scale=None, found_inf=None,
            has_sparse_grad=False, foreach=None, differentiable=False, has_complex=False, *, lr,
            weight_decay, lr_decay, eps, maximize) -> None:
    """Functional Adagrad: updates ``params`` and ``state_sums`` in place."""
    lr, weight_decay, lr_decay, eps = map(_value, (lr, weight_decay, lr_decay, eps))
    for p, g, state_sum, step in _updates(params, grads, state_sums, steps=state_steps,
                                          maximize=maximize, weight_decay=weight_decay):
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum += g * g  # state_sum.addcmul_(grad, grad, value=1)
        std = xp.sqrt(state_sum)
        std += eps
        p += -clr * g / std
