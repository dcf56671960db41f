"""RMSprop: gradients scaled by a running root mean square (Hinton), optionally centered."""
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
        _check_lr(lr)
        _check_nonneg(epsilon=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)
        _check_flags(differentiable)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setdefault_groups(momentum=0, centered=False, foreach=None, maximize=False,
                                differentiable=False, capturable=False)
        self._steps_to_tensors("step")

    def _init_state(self, st, p, group):
        st["step"] = _scalar_tensor(0.0)
        st["square_avg"] = _zeros_like(p)
        if group["momentum"] > 0:
            st["momentum_buffer"] = _zeros_like(p)
        if group["centered"]:
            st["grad_avg"] = _zeros_like(p)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            momentum, centered = group["momentum"], group["centered"]
            params, grads, square_avgs, grad_avgs, bufs, steps = self._gather(
                group, "square_avg", centered and "grad_avg", momentum > 0 and "momentum_buffer",
                "step")
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
        state_steps[i]._data += 1
        g = _l2_grad(g, p, maximize, weight_decay)
        sq *= alpha
        _addcmul_(sq, g, g, 1 - alpha)
        if centered:
            ga = grad_avgs[i]._data
            _lerp_(ga, g, 1 - alpha)
            avg = xp.sqrt(sq - xp.multiply(ga, ga))  # square_avg.addcmul(ga, ga, value=-1)
        else:
            avg = xp.sqrt(sq)
        avg += eps
        if momentum > 0:
            buf = momentum_buffer_list[i]._data
            buf *= momentum
            buf += xp.divide(g, avg)
            p -= xp.multiply(buf, lr)
        else:
            upd = xp.multiply(g, -lr)
            upd /= avg
            p += upd
        _bump(param)
