"""ASGD: averaged stochastic gradient descent (Polyak & Juditsky)."""
from __future__ import annotations

from .._tensor import Tensor
from .optimizer import Optimizer, _check, _closure_loss, _updates, _value

__all__ = ["ASGD", "asgd"]


class ASGD(Optimizer):
    """Implements averaged SGD; ``state['ax']`` holds the running average of the iterates."""

    _zero_state = ("ax",)  # after step, eta and mu: see _init_state
    _counters = ("step", "eta", "mu")

    def __init__(self, params, lr: float | Tensor = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        _check(lr=lr, weight_decay=weight_decay, differentiable=differentiable)
        super().__init__(params, dict(
            lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
            maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _init_state(self, st, p, group):
        super()._init_state(st, p, group, eta=_value(group["lr"]), mu=1.0)

    def step(self, closure=None):
        """One averaged SGD step for every param with a grad; ``closure`` re-evaluates the loss.

        p = p * (1 - lambd * eta) - eta * g, ax = the mean of p since step t0: see ``asgd``.
        """
        loss = _closure_loss(closure)
        for group in self.param_groups:
            asgd(*self._gather(group, "ax", "mu", "eta", "step"), lambd=group["lambd"],
                 lr=group["lr"], t0=group["t0"], alpha=group["alpha"],
                 weight_decay=group["weight_decay"], maximize=group["maximize"])
        return loss


def asgd(params, grads, axs, mus, etas, state_steps, foreach=None, maximize=False,
         differentiable=False, capturable=False, has_complex=False, *, lambd, lr, t0, alpha,
         weight_decay) -> None:
    """Functional ASGD: updates ``params``, ``axs``, ``etas`` and ``mus`` in place."""
    lambd, lr, t0, alpha, weight_decay = map(_value, (lambd, lr, t0, alpha, weight_decay))
    for p, g, ax, mu, eta, step in _updates(params, grads, axs, mus, etas, steps=state_steps,
                                            maximize=maximize, weight_decay=weight_decay):
        eta_value = float(eta)
        p *= 1 - lambd * eta_value  # decay term
        p -= eta_value * g  # update parameter
        if float(mu) != 1:  # the average of the iterates since t0: ax += mu * (p - ax)
            t = p - ax
            t *= mu  # (in place: rounded to the param's dtype, as PyTorch's mul_)
            ax += t
        else:
            ax[...] = p
        eta[...] = lr / ((1 + lambd * lr * step) ** alpha)
        mu[...] = 1 / max(1, step - t0)
