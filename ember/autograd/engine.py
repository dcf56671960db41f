"""The reverse-mode engine: order the graph, run each node's backward once, route the grads.

Broadcasting is undone here, in one place: a node's backward returns grads in the broadcast
shape and the engine sums each back to its input's shape (and casts it to the input's dtype).
"""
from __future__ import annotations

import numpy as np

from . import function as _function
from . import grad_mode
from .._tensor import Tensor, _make

_ndarray = np.ndarray


class AccumulateGrad:
    """The node a leaf's gradient flows into (what ``next_functions`` shows for a leaf)."""

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "torch::autograd::AccumulateGrad"

    next_functions = ()

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"


def _edge_node(target):
    return AccumulateGrad(target) if isinstance(target, Tensor) else target


def sum_to(grad, shape, node=None):
    """Sum a broadcast gradient back to ``shape``; works for arrays and Tensors."""
    gshape = grad.shape
    if gshape == shape:
        return grad
    lead = len(gshape) - len(shape)
    if lead < 0:
        raise RuntimeError(_shape_bug(node, gshape, shape))
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if lead:
        grad = grad.reshape(shape)
    if grad.shape != tuple(shape):
        raise RuntimeError(_shape_bug(node, gshape, shape))
    return grad


def _shape_bug(node, gshape, shape):
    name = node.name() if node is not None else "backward"
    return (f"{name} returned a gradient of shape {list(gshape)} that cannot be reduced to its "
            f"input's shape {list(shape)} (a bug in that op's backward)")


def _as_grad_value(g, create_graph):
    """Engine-internal grads are arrays, or Tensors when building a graph of the backward."""
    if create_graph:
        return g if isinstance(g, Tensor) else _make(np.asarray(g), False, None, 0)
    return g._data if isinstance(g, Tensor) else g


def _to_tensor(g):
    return g if isinstance(g, Tensor) else _make(g, False, None, 0)


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None,
                 allow_unused=False, accumulate=True):
    """Backpropagate from ``roots``; accumulate into leaves, or return grads of ``inputs``."""
    # Targets: for autograd.grad (accumulate=False) we capture the grads of ``inputs``.
    capture_leaf, capture_node = {}, {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            if t._grad_fn is None:
                capture_leaf.setdefault(id(t), []).append(i)
            else:
                capture_node.setdefault((id(t._grad_fn), t._output_nr), []).append(i)
    captured = [None] * (len(inputs) if inputs is not None else 0)

    # 1. Count, for each node, how many edges of the reachable graph point at it.
    deps: dict[int, int] = {}
    nodes: dict[int, object] = {}
    stack = []
    for r in roots:
        fn = r._grad_fn
        if fn is not None and id(fn) not in nodes:
            nodes[id(fn)] = fn
            stack.append(fn)
    while stack:
        fn = stack.pop()
        for e in fn._next:
            if e is None:
                continue
            t = e[0]
            if isinstance(t, Tensor):
                continue
            k = id(t)
            deps[k] = deps.get(k, 0) + 1
            if k not in nodes:
                nodes[k] = t
                stack.append(t)

    # 2. Seed the buffers with the root grads.
    buffers: dict[int, list] = {}
    owned: dict[int, list] = {}

    def deliver(target, nr, g, is_owned):
        if isinstance(target, Tensor):
            _deliver_leaf(target, g, is_owned)
            return
        k = id(target)
        buf = buffers.get(k)
        if buf is None:
            n = _n_outputs(target)
            buf = buffers[k] = [None] * n
            owned[k] = [False] * n
        if buf[nr] is None:
            buf[nr] = g
            owned[k][nr] = is_owned
        else:
            buf[nr] = buf[nr] + g
            owned[k][nr] = True

    def _deliver_leaf(t, g, is_owned):
        k = id(t)
        if k in capture_leaf:
            for i in capture_leaf[k]:
                captured[i] = g if captured[i] is None else captured[i] + g
        if not accumulate or (inputs is not None and k not in capture_leaf):
            return
        if t._hooks:
            for hook in t._hooks:
                res = hook(_to_tensor(g))
                if res is not None:
                    g, is_owned = _as_grad_value(res, create_graph), False
        _accumulate_into(t, g, is_owned, create_graph)

    for r, g in zip(roots, root_grads):
        if r._grad_fn is None:
            if r._requires_grad:
                deliver(r, 0, g, False)
        else:
            deliver(r._grad_fn, r._output_nr, g, False)

    # 3. Run nodes in dependency order.
    ready = [fn for k, fn in nodes.items() if deps.get(k, 0) == 0]
    prev_grad_mode = grad_mode._state[0]
    prev_cg = _function._create_graph[0]
    grad_mode._state[0] = bool(create_graph)
    _function._create_graph[0] = bool(create_graph)
    try:
        while ready:
            fn = ready.pop()
            k = id(fn)
            grads = buffers.pop(k, None)
            own = owned.pop(k, None)
            if grads is None:
                grads, own = [None] * _n_outputs(fn), [False] * _n_outputs(fn)
            if fn._pre_hooks:
                grads = _run_pre_hooks(fn, grads, create_graph)
            if capture_node:
                for nr, g in enumerate(grads):
                    for i in capture_node.get((k, nr), ()):
                        captured[i] = g
            if any(g is not None for g in grads):
                in_grads = _call_backward(fn, grads, create_graph, retain_graph)
                for idx, (e, g) in enumerate(zip(fn._next, in_grads)):
                    if e is None or g is None:
                        continue
                    # A grad is ours to keep (and to store as .grad without a copy) only if it
                    # is a fresh array: not an incoming grad passed through, not a view.
                    is_owned = (g.__class__ is _ndarray and g.base is None
                                and not any(g is x for x in grads)
                                and sum(1 for x in in_grads if x is g) == 1)
                    deliver(e[0], e[1], g, is_owned)
            elif not retain_graph:
                _free(fn)
            for e in fn._next:
                if e is None or isinstance(e[0], Tensor):
                    continue
                kk = id(e[0])
                deps[kk] -= 1
                if deps[kk] == 0:
                    ready.append(e[0])
    finally:
        grad_mode._state[0] = prev_grad_mode
        _function._create_graph[0] = prev_cg

    if inputs is not None and not accumulate:
        for i, (t, g) in enumerate(zip(inputs, captured)):
            if g is None and not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
        return [None if g is None else _result_tensor(g, create_graph) for g in captured]
    return None


def _result_tensor(g, create_graph):
    if isinstance(g, Tensor):
        return g
    return _make(g, False, None, 0)


def _n_outputs(fn):
    return getattr(fn, "_n_out", 1)


def _free(fn):
    if fn._saved is not None:
        fn._saved = None
        fn._freed = True


def _call_backward(fn, grads, create_graph, retain_graph):
    if fn._materialize and any(g is None for g in grads):
        # materialise missing output grads as zeros (multi-output nodes)
        shapes = getattr(fn, "_out_meta", None)
        grads = [g if g is not None else np.zeros(*shapes[i]) for i, g in enumerate(grads)]
    if create_graph:
        grads = [None if g is None else _to_tensor(g) for g in grads]
    try:
        result = fn.backward(fn, *grads)
    except TypeError as exc:
        if create_graph and "no implementation found" in str(exc).lower():
            raise RuntimeError(
                f"{fn.name()} does not support double backward (create_graph=True): {exc}"
            ) from None
        raise
    if result.__class__ is not tuple:
        result = (result,)
    if len(result) < len(fn._next):
        result = result + (None,) * (len(fn._next) - len(result))
    elif len(result) > len(fn._next):
        extra = result[len(fn._next):]
        if any(g is not None for g in extra):
            raise RuntimeError(
                f"function {fn.name()} returned an incorrect number of gradients "
                f"(expected {len(fn._next)}, got {len(result)})"
            )
        result = result[: len(fn._next)]
    if fn._hooks:
        for hook in fn._hooks:
            hook(tuple(None if g is None else _to_tensor(g) for g in result),
                 tuple(None if g is None else _to_tensor(g) for g in grads))
    out = []
    for g, m, e in zip(result, fn._in_meta, fn._next):
        if g is None or e is None:
            out.append(None)
            continue
        if not create_graph and g.__class__ is not _ndarray:
            g = g._data if isinstance(g, Tensor) else np.asarray(g)
        shape, dt = m
        if g.shape != shape:
            g = sum_to(g, shape, fn)
        if g.dtype != dt:
            g = g.astype(dt) if not isinstance(g, Tensor) else g.to(_dt(dt))
        out.append(g)
    if _function._anomaly[0]:
        _check_nan(fn, out)
    if not retain_graph:
        _free(fn)
    return out


def _dt(np_dtype):
    from .._dtype import from_numpy_dtype

    return from_numpy_dtype(np_dtype)


def _run_pre_hooks(fn, grads, create_graph):
    hooks = fn._pre_hooks
    grads = list(grads)
    for nr, hs in hooks.items():
        if nr == "node":
            continue
        if grads[nr] is None:
            continue
        for h in list(hs):
            res = h(_to_tensor(grads[nr]))
            if res is not None:
                grads[nr] = _as_grad_value(res, create_graph)
    for h in hooks.get("node", ()):
        res = h(tuple(None if g is None else _to_tensor(g) for g in grads))
        if res is not None:
            grads = [None if g is None else _as_grad_value(g, create_graph) for g in res]
    return grads


def _accumulate_into(t, g, is_owned, create_graph):
    if create_graph:
        g = _to_tensor(g)
        t._grad = g if t._grad is None else t._grad + g
        return
    cur = t._grad
    if cur is None:
        t._grad = _make(g if is_owned else g.copy(), False, None, 0)
    elif cur._requires_grad:
        t._grad = cur + _make(g, False, None, 0)
    else:
        np.add(cur._data, g, out=cur._data, casting="unsafe")
        cur._vc[0] += 1


def _check_nan(fn, grads):
    for i, g in enumerate(grads):
        if g is None:
            continue
        data = g._data if isinstance(g, Tensor) else g
        if data.dtype.kind == "f" and np.isnan(data).any():
            import warnings

            if fn._trace:
                warnings.warn(
                    "Error detected in " + fn.name() + ". Traceback of forward call that caused "
                    "the error:\n" + "".join(fn._trace), stacklevel=2)
            raise RuntimeError(f"Function '{fn.name()}' returned nan values in its {i}th output.")
