"""PyTorch's protocol for user-defined Functions, built on the primitive one.

A subclass of ``ember.autograd.Function`` written outside ember gets ``apply`` and its node's
backward from here: forward and backward receive and return Tensors, forward runs under
no_grad (``setup_context`` supported), outputs modified in place are marked dirty, and the
node is named ``<Class>Backward``. Also PyTorch's helpers for such Functions
(``once_differentiable``, ``FunctionCtx``...).
"""
from __future__ import annotations

import functools
import sys
import traceback

from .._backend import xp
from .._grad_mode import _state as _grad_state
from .._grad_mode import no_grad
from .._tensor import Tensor, _make
from ..autograd import function as _function
from ..autograd.function import _INPUT, _NONE, _OUTPUT, Function, _anomaly

_new = object.__new__


def apply(cls, *args, **kwargs):
    """``apply`` of a user Function: forward under no_grad on Tensors, then one node."""
    ctx = _new(cls)
    record = _grad_state[0] and any(isinstance(a, Tensor) and a._requires_grad for a in args)
    ctx.needs_input_grad = tuple(record and isinstance(a, Tensor) and a._requires_grad
                                 for a in args)
    if record:
        ctx._next = [None if not need else (a, 0, a._data.shape, a._data.dtype)
                     if a._grad_fn is None else (a._grad_fn, a._output_nr, a._data.shape,
                                                 a._data.dtype)
                     for a, need in zip(args, ctx.needs_input_grad)]
        if _anomaly[0]:
            ctx._trace = traceback.format_stack()[:-1]
    prev = _grad_state[0]
    _grad_state[0] = False
    try:
        if cls._setup_ctx:
            out = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, out)
        else:
            out = cls.forward(ctx, *args, **kwargs)
    finally:
        _grad_state[0] = prev
    if not record:
        ctx.to_save = ()
        return out
    ctx._in_tensor = tuple(isinstance(a, Tensor) for a in args)

    multi = isinstance(out, tuple)
    outs = out if multi else (out,)
    dirty, nondiff = ctx._dirty, ctx._nondiff
    results, meta = [], []
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            results.append(o)
            meta.append(None)
            continue
        if dirty is not None and id(o) in dirty:
            if o._requires_grad and o._grad_fn is None:
                raise RuntimeError(
                    "a leaf Variable that requires grad has been used in an in-place operation.")
            r = o  # modified in place: the input itself now comes out of this node
            r._vc[0] += 1
        elif o._grad_fn is not None or o._requires_grad or any(o is a for a in args):
            r = _make(o._data, False, None, 0)  # a new tensor on the same memory
            r._vc = o._vc
        else:
            r = o
        diff = o._data.dtype.kind == "f" and (nondiff is None or id(o) not in nondiff)
        r._requires_grad = diff
        r._grad_fn = ctx if diff else None
        if i or r._output_nr:
            r._output_nr = i
        results.append(r)
        meta.append((o._data.shape, o._data.dtype) if diff else None)
    ctx._n_out = len(outs)
    ctx._out_meta = meta
    ctx._out_zero_meta = [(o._data.shape, o._data.dtype) if isinstance(o, Tensor) else None
                          for o in outs]

    if ctx.to_save:
        saved = []
        for k, t in enumerate(ctx.to_save):
            if t is None:
                saved.append((None, _NONE, None, None, 0, None))
                continue
            if not isinstance(t, Tensor):
                raise TypeError("save_for_backward can only save variables, but argument "
                                f"{k} is of type {type(t).__name__}")
            for i, o in enumerate(outs):
                if o is t:
                    r = results[i]
                    saved.append((r._data, _OUTPUT, i, r._vc, r._vc[0], ctx))
                    break
            else:
                saved.append((t._data, _INPUT, t, t._vc, t._vc[0], t._grad_fn))
        ctx._saved = saved
        ctx.to_save = ()
    return tuple(results) if multi else results[0]


def backward(fn, grads, create_graph):
    """Run a user Function's backward: Tensors in, Tensors out; arrays back to the engine."""
    tgrads = []
    for i, g in enumerate(grads):
        if g is None:
            m = fn._out_zero_meta[i] if fn._materialize else None
            tgrads.append(None if m is None else _make(xp.zeros(*m), False, None, 0))
        else:
            tgrads.append(g if isinstance(g, Tensor) else _make(g, False, None, 0))
    result = fn.backward(fn, *tgrads)
    if result.__class__ is not tuple:
        result = (result,)
    n = len(fn._next)
    if len(result) != n:
        if len(result) > n and all(r is None for r in result[n:]):
            result = result[:n]
        else:
            raise RuntimeError(f"function {fn.name()} returned an incorrect number of gradients "
                               f"(expected {n}, got {len(result)})")
    out = []
    for i, (r, e) in enumerate(zip(result, fn._next)):
        if r is None:
            out.append(None)
            continue
        if not fn._in_tensor[i]:
            raise RuntimeError(
                f"function {fn.name()} returned a gradient different than None at position "
                f"{i + 1}, but the corresponding forward input was not a Variable")
        if e is None:
            out.append(None)
            continue
        if not isinstance(r, Tensor):
            raise TypeError(f"function {fn.name()} returned a gradient of type "
                            f"{type(r).__name__} at position {i + 1}; expected a Tensor or None")
        out.append(r if create_graph else r._data)
    return tuple(out)


class FunctionCtx:
    """The type of ``ctx`` in PyTorch's typing; ember's ctx is the Function node itself."""


class BackwardCFunction:  # kept for isinstance checks people write against torch
    pass


class InplaceFunction(Function):
    """PyTorch's legacy base for Functions with an ``inplace`` flag."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace


class NestedIOFunction(Function):
    pass


class _DelayedError(Function):
    """Grads from a @once_differentiable backward under create_graph: differentiating them
    again raises, as in PyTorch."""

    _raw = True
    _node_name = "DelayedError"

    @staticmethod
    def forward(ctx, n, *arrays):
        return arrays[:n] if n > 1 else arrays[0]

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(
            "trying to differentiate twice a function that was marked with @once_differentiable")


def once_differentiable(fn):
    """Decorate a user Function's backward that is not itself differentiable."""
    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            outputs = fn(ctx, *args)
        if not _grad_state[0] or not any(isinstance(a, Tensor) and a._requires_grad
                                         for a in args):
            return outputs
        single = not isinstance(outputs, tuple)
        outs = list((outputs,) if single else outputs)
        idx = [i for i, o in enumerate(outs) if isinstance(o, Tensor)]
        if idx:
            wrapped = _DelayedError.apply(len(idx), *[outs[i] for i in idx], *args)
            if not isinstance(wrapped, tuple):
                wrapped = (wrapped,)
            for k, i in enumerate(idx):
                outs[i] = wrapped[k]
        return outs[0] if single else tuple(outs)

    return wrapper


_function._user_protocol[0] = sys.modules[__name__]  # user Function classes get apply, backward
