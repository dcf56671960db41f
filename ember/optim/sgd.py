"""Stochastic gradient descent, optionally with momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

from typing import ClassVar

from .._backend import xp
from .._tensor import Tensor, _make
from . import _fused
from .optimizer import Optimizer, _check, _closure_loss, _updates, _value

__all__ = ["SGD", "sgd"]


class SGD(Optimizer):
    """Implements stochastic gradient descent (optionally with momentum); PyTorch's formulas."""

    # (PyTorch's SGD gives an older param group fused=False, not None)
    _group_defaults: ClassVar[dict] = {**Optimizer._group_defaults, "fused": False}

    def __init__(self, params, lr: float | Tensor = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float | Tensor = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        # (PyTorch's checks here let NaN through, unlike the other optimizers')
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")

        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        _check(differentiable=differentiable, fused=fused, foreach=foreach)

    def step(self, closure=None):
        """One SGD step for every param with a grad; ``closure`` re-evaluates the loss.

        buf = momentum * buf + (1 - dampening) * g (with momentum), p -= lr * buf (or g, or
        g + momentum * buf with nesterov): see ``sgd``.
        """
        loss = _closure_loss(closure)
        state = self.state
        for group in self.param_groups:
            if _fused.sgd_plain_applies(group):  # p -= lr * g, with less Python around it
                _fused.sgd_plain_(group["params"], group["lr"])
                continue
            momentum = group["momentum"]
            params = [p for p in group["params"] if p._grad is not None]
            grads = [p._grad for p in params]
            # the momentum buffers: None before a param's first step with momentum
            bufs = [state[p].get("momentum_buffer") for p in params] if momentum != 0 else []
            sgd(params, grads, bufs, weight_decay=group["weight_decay"], momentum=momentum,
                lr=group["lr"], dampening=group["dampening"], nesterov=group["nesterov"],
                maximize=group["maximize"])
            for p, buf in zip(params, bufs):
                state[p]["momentum_buffer"] = buf
        return loss


def sgd(params: list[Tensor], d_p_list: list[Tensor], momentum_buffer_list: list,
        has_sparse_grad=False, foreach=None, fused=None, grad_scale=None, found_inf=None, *,
        weight_decay: float, momentum: float, lr: float, dampening: float, nesterov: bool,
        maximize: bool) -> None:
    """Functional SGD: updates ``params`` in place; new momentum buffers go into the list."""
    lr, weight_decay, momentum, dampening = map(_value, (lr, weight_decay, momentum, dampening))
    for i, (p, g) in enumerate(_updates(params, d_p_list, maximize=maximize,
                                        weight_decay=weight_decay)):
        if momentum != 0:
            buf = momentum_buffer_list[i]
            if buf is None:  # the first step: the buffer starts as the gradient
                buf = momentum_buffer_list[i] = _make(xp.array(g, copy=True), False, None, 0)
            else:  # buf = momentum * buf + (1 - dampening) * g
                buf._data *= momentum
                buf._data += g if dampening == 0 else (1 - dampening) * g
            g = g + momentum * buf._data if nesterov else buf._data
        p -= lr * g
