"""Rprop: resilient backpropagation, sign-based steps with per-weight adaptive sizes."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor, _make
from .optimizer import Optimizer, _check, _closure_loss, _updates, _value

__all__ = ["Rprop", "rprop"]


class Rprop(Optimizer):
    """Implements the resilient backpropagation algorithm (Rprop); PyTorch's formulas."""

    _zero_state = ("prev",)  # with "step", and step_size: see _init_state
    _counters = ("step",)

    def __init__(self, params, lr: float | Tensor = 1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _check(lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        _check(differentiable=differentiable)
        super().__init__(params, dict(
            lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
            differentiable=differentiable, capturable=capturable))

    def _init_state(self, st, p, group):
        super()._init_state(st, p, group)
        st["step_size"] = _make(xp.full_like(p._grad._data, _value(group["lr"])), False, None, 0)

    def step(self, closure=None):
        """One Rprop step for every param with a grad; ``closure`` re-evaluates the loss.

        Each weight's step size grows by etaplus while its gradient keeps its sign and shrinks by
        etaminus when it flips; p -= sign(g) * step_size: see ``rprop``.
        """
        loss = _closure_loss(closure)
        for group in self.param_groups:
            etaminus, etaplus = group["etas"]
            step_size_min, step_size_max = group["step_sizes"]
            rprop(*self._gather(group, "prev", "step_size", "step"),
                  step_size_min=step_size_min, step_size_max=step_size_max, etaminus=etaminus,
                  etaplus=etaplus, maximize=group["maximize"])
        return loss


def rprop(params, grads, prevs, step_sizes, state_steps, foreach=None, capturable=False,
          maximize=False, differentiable=False, has_complex=False, *, step_size_min,
          step_size_max, etaminus, etaplus) -> None:
    """Functional Rprop: updates ``params``, ``prevs`` and ``step_sizes`` in place."""
    step_size_min, step_size_max, etaminus, etaplus = map(
        _value, (step_size_min, step_size_max, etaminus, etaplus))
    for p, g, prev, step_size, _ in _updates(params, grads, prevs, step_sizes,
                                             steps=state_steps, maximize=maximize):
        # the factor: etaplus where the gradient kept its sign, etaminus where it flipped
        sign = xp.sign(g * prev)
        # NaN stays NaN, as with PyTorch's masked assignments
        factor = xp.where(sign > 0, etaplus,
                          xp.where(sign < 0, etaminus, xp.where(sign == 0, 1, sign)))
        step_size *= factor
        xp.clip(step_size, step_size_min, step_size_max, out=step_size)
        # after a sign flip the step is skipped and the flip forgotten
        g = xp.where(factor == etaminus, 0, g)
        p -= xp.sign(g) * step_size
        prev[...] = g
