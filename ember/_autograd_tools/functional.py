"""ember.autograd.functional: vjp, jvp, jacobian, hessian, vhp, hvp over ember.autograd.grad.

As in PyTorch's default (``vectorize=False``, ``strategy="reverse-mode"``): one backward pass per
output element for jacobian; jvp and hvp by the double-backward trick.
"""
from __future__ import annotations

from .. import _creation
from .._grad_mode import enable_grad
from .._ops.movement import stack
from .._tensor import Tensor
from ..autograd import grad as _grad

__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]


def _as_tuple(x, arg_name, fn_name):
    is_tuple = isinstance(x, tuple)
    xs = x if is_tuple else (x,)
    for i, el in enumerate(xs):
        if not isinstance(el, Tensor):
            if is_tuple:
                raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a "
                                f"tuple of Tensors but the value at index {i} has type "
                                f"{type(el)}.")
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a "
                            f"tuple of Tensors but the given {arg_name} has type {type(el)}.")
    return is_tuple, xs


def _grad_inputs(inputs, create_graph):
    # differentiable views of the inputs (PyTorch: inputs.detach().requires_grad_(...))
    return tuple(x.detach().requires_grad_(True) if not create_graph or not x.requires_grad
                 else x.view_as(x) for x in inputs)


def _grads(outputs, inputs, grad_outputs, create_graph):
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not pairs:
        return tuple(None for _ in inputs)
    return _grad([o for o, _ in pairs], inputs, [g for _, g in pairs], create_graph=create_graph,
                 retain_graph=True, allow_unused=True)


def _fill(grads, refs, create_graph):
    out = []
    for g, r in zip(grads, refs):
        if g is None:
            g = _creation.zeros_like(r)
        elif not create_graph:
            g = g.detach()
        out.append(g)
    return tuple(out)


def _check_output(outputs, fn_name):
    if not isinstance(outputs, (tuple, Tensor)):
        raise TypeError(f"The outputs of the user-provided function given to {fn_name} must be "
                        f"either a Tensor or a tuple of Tensors but the given outputs of the "
                        f"user-provided function has type {type(outputs)}.")
    return _as_tuple(outputs, "outputs of the user-provided function", fn_name)


def _result(is_tuple, xs):
    return xs if is_tuple else xs[0]


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J)."""
    with enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _grad_inputs(inputs, create_graph)
        out_tuple, outputs = _check_output(func(*inputs), "vjp")
        if v is None:
            if len(outputs) != 1 or outputs[0].numel() != 1:
                raise RuntimeError("The vector v can only be None if the user-provided function "
                                   "returns a single Tensor with a single element.")
            v = (_creation.ones_like(outputs[0]),)
        else:
            v = _as_tuple(v, "v", "vjp")[1]
        grads = _grads(outputs, inputs, v, create_graph)
    outs = tuple(o if create_graph else o.detach() for o in outputs)
    return _result(out_tuple, outs), _result(in_tuple, _fill(grads, inputs, create_graph))


def _default_v(inputs):
    """v for a function of one one-element input: 1 (PyTorch's error otherwise)."""
    if len(inputs) != 1 or inputs[0].numel() != 1:
        raise RuntimeError("The vector v can only be None if the input to the user-provided "
                           "function is a single Tensor with a single element.")
    return (_creation.ones_like(inputs[0]),)


def _grad_of_dot(g, v, wrt, create_graph):
    """d(sum g . v)/d wrt for the grads ``g`` that depend on ``wrt`` (None for the others)."""
    pairs = [(gi, vi) for gi, vi in zip(g, v) if gi is not None and gi.requires_grad]
    if not pairs:
        return tuple(None for _ in wrt)
    return _grad([gi for gi, _ in pairs], wrt, [vi for _, vi in pairs],
                 create_graph=create_graph, retain_graph=True, allow_unused=True)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v), by differentiating v^T J with respect to a dummy u."""
    with enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _grad_inputs(inputs, create_graph)
        if v is None:
            v = _default_v(inputs)
        else:
            v = _as_tuple(v, "v", "jvp")[1]
        out_tuple, outputs = _check_output(func(*inputs), "jvp")
        us = tuple(_creation.zeros_like(o).requires_grad_(True) for o in outputs)
        g = _grads(outputs, inputs, us, True)
        jv = _grad_of_dot(g, v, us, create_graph)
    outs = tuple(o if create_graph else o.detach() for o in outputs)
    return _result(out_tuple, outs), _result(out_tuple, _fill(jv, outputs, create_graph))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """d func(inputs) / d inputs: shape output.shape + input.shape (tuples of tuples as PyTorch)."""
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode". Hint: '
                         'If your function has more outputs than inputs, "forward-mode" tends to '
                         'be more performant. Otherwise, prefer to use "reverse-mode".')
    with enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _grad_inputs(inputs, create_graph)
        out_tuple, outputs = _check_output(func(*inputs), "jacobian")
        jac = []
        for out in outputs:
            flat = out.reshape(-1)
            rows = [[] for _ in inputs]
            for j in range(flat.numel()):
                if flat.requires_grad:
                    g = _grad([flat[j]], inputs, retain_graph=True, create_graph=create_graph,
                              allow_unused=True)
                else:
                    g = tuple(None for _ in inputs)
                for k, (gk, x) in enumerate(zip(g, inputs)):
                    if gk is None:
                        gk = _creation.zeros_like(x)
                    rows[k].append(gk if create_graph else gk.detach())
            per_input = []
            for k, x in enumerate(inputs):
                if rows[k]:
                    jk = stack(rows[k]).reshape(tuple(out.shape) + tuple(x.shape))
                else:
                    jk = _creation.zeros(tuple(out.shape) + tuple(x.shape), dtype=x.dtype)
                per_input.append(jk)
            jac.append(tuple(per_input))
    if out_tuple:
        return tuple(_result(in_tuple, row) for row in jac)
    return _result(in_tuple, jac[0])


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """Second derivatives of a function returning a single-element Tensor."""
    is_tuple, inputs_t = _as_tuple(inputs, "inputs", "hessian")

    def ensure_single_output(*inp):
        out = func(*inp)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError("The function given to hessian should return a single Tensor "
                               "with a single element")
        return out.squeeze()

    def jac_func(*inp):
        return jacobian(ensure_single_output, inp if is_tuple else inp[0], create_graph=True)

    return jacobian(jac_func, inputs, create_graph=create_graph)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H)."""
    with enable_grad():
        in_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
        inputs = _grad_inputs(inputs, create_graph)
        v = _as_tuple(v, "v", "vhp")[1] if v is not None else None
        out = func(*inputs)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError("The function given in vhp should return a single Tensor with a "
                               "single element")
        g = _grad([out], inputs, create_graph=True, allow_unused=True)
        if v is None:
            v = _default_v(inputs)
        res = _grad_of_dot(g, v, inputs, create_graph)
    out = out if create_graph else out.detach()
    return out, _result(in_tuple, _fill(res, inputs, create_graph))


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v); the Hessian is symmetric, so this is vhp."""
    return vhp(func, inputs, v, create_graph, strict)
