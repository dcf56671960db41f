"""RMSprop: gradients scaled by a running root mean square (Hinton), optionally centered."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor
from .optimizer import Optimizer, _addcmul_, _check, _closure_loss, _lerp_, _updates, _value, _zeros

__all__ = ["RMSprop", "rmsprop"]


class RMSprop(Optimizer):
    """Implements RMSprop with PyTorch's options (alpha, centered, momentum)."""

    _zero_state = ("square_avg",)  # with "step", and more: see _init_state
    _counters = ("step",)

    def __init__(self, params, lr: float | Tensor = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _check(lr=lr, epsilon=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha,
               differentiable=differentiable)
        super().__init__(params, dict(
            lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
            weight_decay=weight_decay, capturable=capturable, foreach=foreach, maximize=maximize,
            differentiable=differentiable))

    def _init_state(self, st, p, group):
        super()._init_state(st, p, group)
        if group["momentum"] > 0:
            st["momentum_buffer"] = _zeros(p)
        if group["centered"]:
            st["grad_avg"] = _zeros(p)

    def step(self, closure=None):
        """One RMSprop step for every param with a grad; ``closure`` re-evaluates the loss.

        v = alpha * v + (1 - alpha) * g², p -= lr * g / (sqrt(v) + eps), optionally centered
        (v minus the squared mean gradient) and with momentum: see ``rmsprop``.
        """
        loss = _closure_loss(closure)
        for group in self.param_groups:
            momentum, centered = group["momentum"], group["centered"]
            rmsprop(*self._gather(group, "square_avg", centered and "grad_avg",
                                  momentum > 0 and "momentum_buffer", "step"),
                    lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                    weight_decay=group["weight_decay"], momentum=momentum, centered=centered,
                    maximize=group["maximize"])
        return loss


def rmsprop(params, grads, square_avgs, grad_avgs, momentum_buffer_list, state_steps, foreach=None,
            maximize=False, differentiable=False, capturable=False, has_complex=False, *, lr,
            alpha, eps, weight_decay, momentum, centered) -> None:
    """Functional RMSprop: updates ``params`` and its state tensors in place."""
    lr, alpha, eps, weight_decay, momentum = map(_value, (lr, alpha, eps, weight_decay, momentum))
    for p, g, square_avg, grad_avg, buf, _ in _updates(
            params, grads, square_avgs, grad_avgs if centered else None,
            momentum_buffer_list if momentum > 0 else None, steps=state_steps,
            maximize=maximize, weight_decay=weight_decay):
        square_avg *= alpha
        _addcmul_(square_avg, g, g, 1 - alpha)  # v = alpha * v + (1 - alpha) * g²
        if centered:  # minus the square of the mean gradient
            _lerp_(grad_avg, g, 1 - alpha)
            avg = xp.sqrt(square_avg - grad_avg * grad_avg)  # square_avg.addcmul(ga, ga, value=-1)
        else:
            avg = xp.sqrt(square_avg)
        avg += eps
        if momentum > 0:
            buf *= momentum
            buf += g / avg
            p -= lr * buf
        else:
            p += -lr * g / avg
