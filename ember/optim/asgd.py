"""ASGD: averaged stochastic gradient descent (Polyak & Juditsky)."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor
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
    _zeros_like,
)

__all__ = ["ASGD", "asgd"]


class ASGD(Optimizer):
    """Implements averaged SGD; ``state['ax']`` holds the running average of the iterates."""

    def __init__(self, params, lr: float | Tensor = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        _check_lr(lr)
        _check_nonneg(weight_decay=weight_decay)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)
        _check_flags(differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setdefault_groups(foreach=None, maximize=False, differentiable=False,
                                capturable=False)
        self._steps_to_tensors("step", "eta", "mu")

    def _init_state(self, st, p, group):
        st["step"] = _scalar_tensor(0.0)
        st["eta"] = _scalar_tensor(_value(group["lr"]), _get_scalar_dtype())
        st["mu"] = _scalar_tensor(1.0)
        st["ax"] = _zeros_like(p)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, mus, axs, etas, steps = self._gather(group, "mu", "ax", "eta", "step")
            asgd(params, grads, axs, mus, etas, steps, lambd=group["lambd"], lr=group["lr"],
                 t0=group["t0"], alpha=group["alpha"], weight_decay=group["weight_decay"],
                 maximize=group["maximize"])
        return loss


def asgd(params, grads, axs, mus, etas, state_steps, foreach=None, maximize=False,
         differentiable=False, capturable=False, has_complex=False, *, lambd, lr, t0, alpha,
         weight_decay) -> None:
    """Functional ASGD: updates ``params``, ``axs``, ``etas`` and ``mus`` in place."""
    lambd, lr, t0, alpha, weight_decay = map(_value, (lambd, lr, t0, alpha, weight_decay))
    for i, param in enumerate(params):
        p = param._data
        g = grads[i]._data
        ax = axs[i]._data
        mu = mus[i]._data
        eta = etas[i]._data
        state_steps[i]._data += 1
        g = _l2_grad(g, p, maximize, weight_decay)
        eta_value = float(eta)
        p *= 1 - lambd * eta_value  # decay term
        p -= xp.multiply(g, eta_value)  # update parameter
        if float(mu) != 1:
            t = xp.subtract(p, ax)
            t *= mu
            ax += t
        else:
            ax[...] = p
        step = float(state_steps[i]._data)
        eta[...] = lr / ((1 + lambd * lr * step) ** alpha)
        mu[...] = 1 / max(1, step - t0)
        _bump(param)
