"""ASGD: averaged stochastic gradient descent (Polyak & Juditsky)."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from .optimizer import (
    Optimizer,
    _bump,
    _check_flags,
    _closure_loss,
    _get_scalar_dtype,
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
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)
        _check_flags(differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)
        self._steps_to_tensors("step", "eta", "mu")

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, mus, axs, etas, steps = [], [], [], [], [], []
            for p in group["params"]:
                if p._grad is None:
                    continue
                params.append(p)
                grads.append(p._grad)
                st = self.state[p]
                if len(st) == 0:
                    st["step"] = _scalar_tensor(0.0)
                    st["eta"] = _scalar_tensor(_value(group["lr"]), _get_scalar_dtype())
                    st["mu"] = _scalar_tensor(1.0)
                    st["ax"] = _zeros_like(p)
                mus.append(st["mu"])
                axs.append(st["ax"])
                etas.append(st["eta"])
                steps.append(st["step"])
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
        if maximize:
            g = np.negative(g)
        state_steps[i]._data += 1
        if weight_decay != 0:
            g = g + np.multiply(p, weight_decay)
        eta_value = float(eta)
        p *= 1 - lambd * eta_value  # decay term
        p -= np.multiply(g, eta_value)  # update parameter
        if float(mu) != 1:
            t = np.subtract(p, ax)
            t *= mu
            ax += t
        else:
            ax[...] = p
        step = float(state_steps[i]._data)
        eta[...] = lr / ((1 + lambd * lr * step) ** alpha)
        mu[...] = 1 / max(1, step - t0)
        _bump(param)
