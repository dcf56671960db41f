"""RMSprop: gradients scaled by a running root mean square (Hinton), optionally centered."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from .optimizer import (
    Optimizer,
    _bump,
    _check_flags,
    _closure_loss,
    _lerp_,
    _scalar_tensor,
    _value,
    _zeros_like,
)

__all__ = ["RMSprop", "rmsprop"]


class RMSprop(Optimizer):
    """Implements RMSprop with PyTorch's options (alpha, centered, momentum)."""

    def __init__(self, params, lr: float | Tensor = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)
        _check_flags(differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)
        self._steps_to_tensors("step")

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            params, grads, square_avgs, grad_avgs, bufs, steps = [], [], [], [], [], []
            momentum, centered = group["momentum"], group["centered"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                params.append(p)
                grads.append(p._grad)
                st = self.state[p]
                if len(st) == 0:
                    st["step"] = _scalar_tensor(0.0)
                    st["square_avg"] = _zeros_like(p)
                    if momentum > 0:
                        st["momentum_buffer"] = _zeros_like(p)
                    if centered:
                        st["grad_avg"] = _zeros_like(p)
                square_avgs.append(st["square_avg"])
                steps.append(st["step"])
                if momentum > 0:
                    bufs.append(st["momentum_buffer"])
                if centered:
                    grad_avgs.append(st["grad_avg"])
            rmsprop(params, grads, square_avgs, grad_avgs, bufs, steps, lr=group["lr"],
                    alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                    momentum=momentum, centered=centered, maximize=group["maximize"])
        return loss


def rmsprop(params, grads, square_avgs, grad_avgs, momentum_buffer_list, state_steps, foreach=None,
            maximize=False, differentiable=False, capturable=False, has_complex=False, *, lr,
            alpha, eps, weight_decay, momentum, centered) -> None:
    """Functional RMSprop: updates ``params`` and its state tensors in place."""
    lr, alpha, eps, weight_decay, momentum = map(_value, (lr, alpha, eps, weight_decay, momentum))
    for i, param in enumerate(params):
        p = param._data
        g = grads[i]._data
        sq = square_avgs[i]._data
        if maximize:
            g = np.negative(g)
        state_steps[i]._data += 1
        if weight_decay != 0:
            g = g + np.multiply(p, weight_decay)
        sq *= alpha
        t = np.multiply(g, 1 - alpha)
        t *= g
        sq += t
        if centered:
            ga = grad_avgs[i]._data
            _lerp_(ga, g, 1 - alpha)
            avg = np.sqrt(sq - np.multiply(ga, ga))  # square_avg.addcmul(ga, ga, value=-1)
        else:
            avg = np.sqrt(sq)
        avg += eps
        if momentum > 0:
            buf = momentum_buffer_list[i]._data
            buf *= momentum
            buf += np.divide(g, avg)
            p -= np.multiply(buf, lr)
        else:
            upd = np.multiply(g, -lr)
            upd /= avg
            p += upd
        _bump(param)
