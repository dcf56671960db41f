"""Stochastic gradient descent, optionally with momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

from .._backend import xp
from .._tensor import Tensor, _make
from .optimizer import (
    Optimizer,
    _bump,
    _check_flags,
    _closure_loss,
    _l2_grad,
    _scalar_array,
    _value,
)

__all__ = ["SGD", "sgd"]


class SGD(Optimizer):
    """Implements stochastic gradient descent (optionally with momentum); PyTorch's formulas."""

    def __init__(self, params, lr: float | Tensor = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float | Tensor = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
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
        _check_flags(differentiable, fused, foreach)

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setdefault_groups(nesterov=False, maximize=False, foreach=None,
                                differentiable=False, fused=False)

    def step(self, closure=None):
        """Perform a single optimization step; ``closure`` re-evaluates the loss."""
        loss = None if closure is None else _closure_loss(closure)
        for group in self.param_groups:
            lr = group["lr"]
            momentum = group["momentum"]
            if (momentum == 0 and lr.__class__ in _NUMBER and group["weight_decay"] == 0
                    and not group["maximize"]):
                # The common case (seed S2's loop), kept short: p -= lr * g, with sgd()'s
                # rounding (lr * g in the param's dtype: a 0-d array of that dtype stands for
                # the Python float, as a ufunc rounds a Python float operand to that dtype).
                for p in group["params"]:
                    g = p._grad
                    if g is not None:
                        a = p._data
                        g = g._data
                        dt = a.dtype
                        if g.dtype is dt:
                            _subtract(a, _multiply(g, _scalar_array(lr, dt)), a)
                        else:  # (a grad of another dtype: sgd()'s promotion rules)
                            a -= xp.multiply(g, lr)
                        p._vc[0] += 1  # _bump(p)
                continue
            state = self.state
            params, grads, bufs = [], [], []
            for p in group["params"]:
                if p._grad is not None:
                    params.append(p)
                    grads.append(p._grad)
                    if momentum != 0:
                        bufs.append(state[p].get("momentum_buffer"))
            sgd(params, grads, bufs, weight_decay=group["weight_decay"], momentum=momentum,
                lr=lr, dampening=group["dampening"], nesterov=group["nesterov"],
                maximize=group["maximize"])
            if momentum != 0:
                for p, buf in zip(params, bufs):
                    state[p]["momentum_buffer"] = buf
        return loss


_NUMBER = (float, int)  # an lr of these types (not bool, not a tensor) takes the quick path
_multiply, _subtract = xp.multiply, xp.subtract


def sgd(params: list[Tensor], d_p_list: list[Tensor], momentum_buffer_list: list,
        has_sparse_grad=False, foreach=None, fused=None, grad_scale=None, found_inf=None, *,
        weight_decay: float, momentum: float, lr: float, dampening: float, nesterov: bool,
        maximize: bool) -> None:
    """Functional SGD: updates ``params`` in place; new momentum buffers go into the list."""
    lr, weight_decay, momentum, dampening = map(_value, (lr, weight_decay, momentum, dampening))
    for i, param in enumerate(params):
        p = param._data
        g = d_p_list[i]._data
        g = _l2_grad(g, p, maximize, weight_decay)
        if momentum != 0:
            buf = momentum_buffer_list[i]
            if buf is None:
                buf = _make(xp.array(g, copy=True), False, None, 0)  # grad.detach().clone()
                momentum_buffer_list[i] = buf
            else:
                b = buf._data
                b *= momentum
                if dampening != 0:
                    b += xp.multiply(g, 1 - dampening)
                else:
                    b += g
            if nesterov:
                g = g + xp.multiply(buf._data, momentum)
            else:
                g = buf._data
        # param.add_(grad, alpha=-lr): the scalar is rounded to the param's dtype first
        p -= xp.multiply(g, lr)
        _bump(param)
