"""The reverse-mode engine: order the graph, run each node's backward once, route the grads.

Broadcasting is undone here, in one place: a node's backward returns grads in the broadcast
shape and the engine sums each back to its input's shape (and casts it to the input's dtype).

The walk: count, for every node reachable from the roots, the edges that point at it; seed the
roots' grads; pop a node whose count is zero, run its backward, add each result into the
buffer of the node (or leaf) it flows to and decrement that node's count. Leaves are counted
too: when a leaf's count reaches zero its gradient is complete, and it is finished at once
(hooks, ``.grad``, post-accumulate-grad hooks), as PyTorch's AccumulateGrad node runs as soon
as it is ready; DDP starts its all-reduces from there while the walk goes on. Callbacks queued
during the walk (``queue_callback``) run once after it. Grads are plain arrays unless
``create_graph`` is set, in which case they are Tensors and every backward formula records a
graph of its own.
"""
from __future__ import annotations

import weakref

from .._backend import xp
from .._dtype import NP_TO_DTYPE
from .._ops._sumorder import full_sum as _full_sum
from .._ops._sumorder import tsum as _tsum
from .._tensor import Tensor, _make
from . import function as _function
from . import grad_mode

_ndarray = xp.ndarray
_asarray = xp.asarray
_state = grad_mode._state
_cg = _function._create_graph
_anomaly = _function._anomaly
_user_backward = _function._user_backward

# ember.doctor's observers: f(root, None) before and f(root, n_nodes) after each backward into
# the leaves' .grad. Empty unless the doctor watches, so the cost is one falsy check.
_observers: list = []

# One list per backward call in progress (reentrant backward nests them): its final callbacks.
_callbacks: list = []


def queue_callback(callback):
    """Run ``callback()`` once, after the walk of the backward call in progress."""
    if not _callbacks:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    _callbacks[-1].append(callback)


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
    """The node an edge points at; a leaf's AccumulateGrad lives as long as someone holds it."""
    if not isinstance(target, Tensor):
        return target
    ref = target.__dict__.get("_acc")
    acc = ref() if ref is not None else None
    if acc is None:
        acc = AccumulateGrad(target)
        target._acc = weakref.ref(acc)
    return acc


_FULL_SUM_DTYPES = (xp.dtype(xp.float32), xp.dtype(xp.float64))


def sum_to(grad, shape, node=None, index=0):
    """Sum a broadcast gradient back to ``shape``; works for arrays and Tensors."""
    if not shape and grad.__class__ is _ndarray and grad.dtype in _FULL_SUM_DTYPES:
        # to a 0-d tensor (w in w * x): one full sum, in PyTorch's order
        return _asarray(_full_sum(grad.reshape(-1))) if grad.ndim else grad
    gshape = grad.shape
    if shape.__class__ is not tuple:
        shape = tuple(shape)
    if gshape == shape:
        return grad
    if grad.__class__ is _ndarray and len(gshape) == len(shape) + 1 and gshape[1:] == shape:
        return _tsum(grad, (0,), None, False)  # a bias: the sum over the batch
    gshape = tuple(gshape)
    if (grad.__class__ is _ndarray and len(gshape) >= len(shape) and grad.dtype in _FULL_SUM_DTYPES
            and all(s == 1 for s in shape)):
        # to an all-ones shape: the same full sum
        return _asarray(_full_sum(grad.reshape(-1))).reshape(shape)
    lead = len(gshape) - len(shape)
    ok = lead >= 0 and all(s == 1 or s == g for s, g in zip(shape, gshape[lead:]))
    if not ok:
        name = node.name() if node is not None else "backward"
        raise RuntimeError(f"Function {name} returned an invalid gradient at index {index} - got "
                           f"{list(gshape)} but expected shape compatible with {list(shape)}")
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1)
    if axes:
        grad = (_tsum(grad, axes, None, True) if grad.__class__ is _ndarray
                else grad.sum(axis=axes, keepdims=True))
    if lead:
        grad = grad.reshape(shape)
    return grad


def _to_tensor(g):
    return g if isinstance(g, Tensor) else _make(g, False, None, 0)


def _value(res, create_graph):
    """A hook's return value as an engine grad (array, or Tensor under create_graph)."""
    if create_graph:
        return res if isinstance(res, Tensor) else _make(_asarray(res), False, None, 0)
    return res._data if isinstance(res, Tensor) else _asarray(res)


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None,
                 allow_unused=False, accumulate=True):
    """Backpropagate from ``roots``; accumulate into leaves, or return the grads of ``inputs``.

    With ``accumulate`` the leaves' (or, given ``inputs``, only those tensors') ``.grad`` is
    updated and None is returned; without it (autograd.grad) the grads of ``inputs`` are
    returned as a list (None for unused ones) and no ``.grad`` is touched.
    """
    if _observers and accumulate and roots:
        for f in _observers:
            f(roots[0], None)
    # 1. Count, for each reachable node and leaf, the edges that point at it.
    deps = {}
    leaves = {}  # id(leaf) -> edges still to come
    root_fns = []
    for r in roots:
        fn = r._grad_fn
        if fn is not None and fn not in deps:
            deps[fn] = 0
            root_fns.append(fn)
    stack = list(root_fns)
    while stack:
        fn = stack.pop()
        for e in fn._next:
            if e is not None:
                t = e[0]
                if isinstance(t, Tensor):
                    leaves[id(t)] = leaves.get(id(t), 0) + 1
                    continue
                c = deps.get(t)
                if c is None:
                    deps[t] = 1
                    stack.append(t)
                else:
                    deps[t] = c + 1

    # 2. With inputs=: which tensors to capture, and which nodes lead to them.
    leaf_targets = node_targets = execute = captured = None
    if inputs is not None:
        leaf_targets, node_targets = {}, {}
        for i, t in enumerate(inputs):
            if t._grad_fn is None:
                leaf_targets.setdefault(id(t), []).append(i)
            else:
                node_targets.setdefault(t._grad_fn, {}).setdefault(t._output_nr, []).append(i)
        execute = _nodes_to_execute(root_fns, deps, leaf_targets, node_targets)
        captured = [None] * len(inputs)

    # 3. Seed the roots' grads.
    buffers = {}
    leaf_buf = {}  # id(leaf) -> the sum of its grads so far, while more are to come
    root_leaves = {}
    borrowed = set()  # ids of arrays that must be copied before being stored as a .grad
    for r, g in zip(roots, root_grads):
        borrowed.add(id(g))
        fn = r._grad_fn
        if fn is None:
            if r._requires_grad:
                if id(r) not in root_leaves:  # one edge from the roots (PyTorch's GraphRoot)
                    root_leaves[id(r)] = r
                    leaves[id(r)] = leaves.get(id(r), 0) + 1
                cur = leaf_buf.get(id(r))
                leaf_buf[id(r)] = g if cur is None else cur + g
        elif fn._n_out == 1:
            cur = buffers.get(fn)
            buffers[fn] = g if cur is None else cur + g
        else:
            _add_slot(buffers, fn, r._output_nr, g)

    # 4. Run the nodes in dependency order, finishing each leaf when its count reaches zero.
    capture = captured if not accumulate else None
    ready = [fn for fn in root_fns if deps[fn] == 0]
    cbs = []
    _callbacks.append(cbs)
    prev_mode, prev_cg = _state[0], _cg[0]
    _state[0] = _cg[0] = bool(create_graph)
    try:
        for r in root_leaves.values():  # the roots' edges are walked first
            _leaf_edge(leaves, leaf_buf, r, None, create_graph, borrowed, leaf_targets, capture)
        while ready:
            fn = ready.pop()
            g = buffers.pop(fn, None)
            run = g is not None and (execute is None or fn in execute)
            if g is not None and fn._has_pre:
                g = _run_pre_hooks(fn, g, create_graph, borrowed, run)
            if node_targets is not None and fn in node_targets:
                _capture_node(fn, g, node_targets[fn], inputs, captured, accumulate,
                              create_graph, borrowed)
            grads = None
            if run:
                grads = _call_backward(fn, g, create_graph, retain_graph, borrowed)
            k = -1
            for e in fn._next:
                k += 1
                if e is None:
                    continue
                t = e[0]
                gi = None if grads is None else grads[k]
                if isinstance(t, Tensor):
                    _leaf_edge(leaves, leaf_buf, t, gi, create_graph, borrowed, leaf_targets,
                               capture)
                    continue
                if gi is not None:
                    if t._n_out == 1:
                        cur = buffers.get(t)
                        buffers[t] = gi if cur is None else cur + gi
                    else:
                        _add_slot(buffers, t, e[1], gi)
                c = deps[t] - 1
                deps[t] = c
                if not c:
                    ready.append(t)

        for cb in cbs:  # (a callback may queue another: the loop sees it)
            cb()
    finally:
        _state[0], _cg[0] = prev_mode, prev_cg
        _callbacks.pop()

    if accumulate:
        for f in _observers:
            f(roots[0], len(deps))
        return None
    return [None if g is None else _to_tensor(g) for g in captured]


def _leaf_edge(leaves, leaf_buf, t, g, create_graph, borrowed, targets=None, captured=None):
    """An edge into leaf ``t`` has been walked (``g``: its grad, or None); finish the leaf if
    it was the last one and some grad arrived."""
    k = id(t)
    c = leaves[k] - 1
    leaves[k] = c
    cur = leaf_buf.pop(k, None)
    if cur is not None:
        g = cur if g is None else cur + g
    if g is None:
        return
    if c:
        leaf_buf[k] = g
    else:
        _finish_leaf(t, g, create_graph, borrowed, targets, captured)


def _finish_leaf(t, g, create_graph, borrowed, targets=None, captured=None):
    """A leaf's grad is complete: its hooks, then ``.grad`` (or, for autograd.grad, the grad
    is captured) and the post-accumulate-grad hooks — PyTorch's AccumulateGrad node."""
    pos = None
    if targets is not None:
        pos = targets.get(id(t))
        if pos is None:  # not among inputs=: PyTorch does not run its node at all
            return
    if t._hooks:
        for hook in list(t._hooks):
            res = hook(_to_tensor(g))
            if res is not None:
                g = _value(res, create_graph)
                borrowed.add(id(g))
    if captured is not None:  # autograd.grad: returned, .grad untouched
        for i in pos:
            captured[i] = g
        return
    if t._requires_grad:  # (turned off after forward: no .grad, but the hooks still run)
        _accumulate(t, g, create_graph, borrowed)
    if t._post_acc_hooks:
        for hook in list(t._post_acc_hooks):
            hook(t)


def _add_slot(buffers, fn, nr, g):
    lst = buffers.get(fn)
    if lst is None:
        lst = buffers[fn] = [None] * fn._n_out
    cur = lst[nr]
    lst[nr] = g if cur is None else cur + g


def _nodes_to_execute(root_fns, deps, leaf_targets, node_targets):
    """The nodes whose backward must run for the grads of ``inputs`` (the rest are skipped)."""
    remaining = dict(deps)
    order, ready = [], [fn for fn in root_fns if deps[fn] == 0]
    while ready:
        fn = ready.pop()
        order.append(fn)
        for e in fn._next:
            if e is not None and not isinstance(e[0], Tensor):
                t = e[0]
                remaining[t] -= 1
                if not remaining[t]:
                    ready.append(t)
    execute = set()
    for fn in reversed(order):  # every node after all the nodes it feeds
        for e in fn._next:
            if e is None:
                continue
            t = e[0]
            if isinstance(t, Tensor):
                if id(t) in leaf_targets:
                    execute.add(fn)
                    break
            elif t in execute or t in node_targets:
                execute.add(fn)
                break
    return execute


def _capture_node(fn, g, slots, inputs, captured, accumulate, create_graph, borrowed):
    """The grad flowing into a non-leaf tensor named in ``inputs``."""
    grads = [g] if fn._n_out == 1 else (g or [None] * fn._n_out)
    for nr, positions in slots.items():
        gv = grads[nr]
        if gv is None:
            continue
        for i in positions:
            if accumulate:
                _accumulate(inputs[i], gv, create_graph, borrowed)
            else:
                captured[i] = gv


def _accumulate(t, g, create_graph, borrowed):
    """Add ``g`` into ``t.grad`` (PyTorch's AccumulateGrad: in place unless building a graph)."""
    cur = t._grad
    if create_graph:
        g = _to_tensor(g)
        if cur is None:
            t._grad = g.clone() if id(g) in borrowed else g
        else:
            t._grad = cur + g
        return
    if isinstance(g, Tensor):
        g = g._data
    if cur is None:
        if g.base is not None or id(g) in borrowed or not g.flags.writeable:
            g = g.copy()
        t._grad = _make(g, False, None, 0)
    elif cur._requires_grad or cur._data.shape != g.shape:
        t._grad = cur + _make(g, False, None, 0)
    else:
        xp.add(cur._data, g, out=cur._data, casting="unsafe")
        cur._vc[0] += 1


def _run_pre_hooks(fn, g, create_graph, borrowed, run):
    """Tensor hooks and retain_grad (always), then the node's own pre-hooks (if it runs)."""
    single = fn._n_out == 1
    grads = [g] if single else list(g)
    if fn._pre_hooks:
        for nr, hooks in fn._pre_hooks.items():
            for hook in list(hooks):
                if grads[nr] is None:
                    break
                res = hook(_to_tensor(grads[nr]))
                if res is not None:
                    grads[nr] = _value(res, create_graph)
                    borrowed.add(id(grads[nr]))
    if fn._retain:
        for nr, ref in fn._retain.items():
            t = ref()
            gv = grads[nr]
            if t is None or gv is None:
                continue
            cur = t._grad
            if create_graph:
                gt = _to_tensor(gv)
                t._grad = gt if cur is None else cur + gt
            else:
                gv = gv._data if isinstance(gv, Tensor) else gv
                t._grad = _make(gv.copy() if cur is None else cur._data + gv, False, None, 0)
    if run and fn._node_pre_hooks:
        for hook in list(fn._node_pre_hooks):
            res = hook(tuple(None if x is None else _to_tensor(x) for x in grads))
            if res is not None:
                grads = [None if x is None else _value(x, create_graph) for x in res]
                borrowed.update(id(x) for x in grads)
    return grads[0] if single else grads


_NO_DOUBLE = ("returned NotImplemented", "no implementation found",
              "Can't call numpy() on Tensor that requires grad")


def _call_backward(fn, g, create_graph, retain_graph, borrowed):
    """Run one node's backward; return one grad per edge, reduced to its input's shape/dtype."""
    try:
        if not fn._raw:
            result = _user_backward(fn, [g] if fn._n_out == 1 else g, create_graph)
        elif fn._n_out == 1:
            if create_graph and g.__class__ is _ndarray:
                g = _make(g, False, None, 0)
            try:
                result = fn.backward(fn, g)
            except RuntimeWarning:  # warnings made errors by the caller: see function._quiet
                result = _function._quiet(fn.backward, fn, (g,), {})
        else:
            grads = _multi_grads(fn, g, create_graph)
            try:
                result = fn.backward(fn, *grads)
            except RuntimeWarning:
                result = _function._quiet(fn.backward, fn, grads, {})
    except (TypeError, RuntimeError) as exc:
        if create_graph and any(m in str(exc) for m in _NO_DOUBLE):
            raise RuntimeError(f"{fn.name()} does not support double backward "
                               f"(create_graph=True): {exc}") from None
        _anomaly_report(fn)
        raise
    except Exception:
        _anomaly_report(fn)
        raise
    if result.__class__ is not tuple:
        result = (result,)
    nxt = fn._next
    n = len(nxt)
    if len(result) != n:
        if len(result) > n and any(r is not None for r in result[n:]):
            raise RuntimeError(f"function {fn.name()} returned an incorrect number of gradients "
                               f"(expected {n}, got {len(result)})")
        result = (result + (None,) * n)[:n]
    if fn._hooks:
        result = _run_post_hooks(fn, result, g, create_graph, borrowed)
    out = []
    for k, (gi, e) in enumerate(zip(result, nxt)):
        if gi is None or e is None:
            out.append(None)
        elif create_graph:
            if not isinstance(gi, Tensor):
                gi = _make(_asarray(gi), False, None, 0)
            if gi._data.shape != e[2]:
                gi = sum_to(gi, e[2], fn, k)
            if gi._data.dtype != e[3]:
                gi = gi.to(NP_TO_DTYPE[e[3]])
            out.append(gi)
        else:
            if gi.__class__ is not _ndarray:
                gi = gi._data if isinstance(gi, Tensor) else _asarray(gi)
            if gi.shape != e[2]:
                gi = sum_to(gi, e[2], fn, k)
            if gi.dtype != e[3]:
                gi = gi.astype(e[3])
            elif gi is g:
                borrowed.add(id(gi))  # passed through (Add, Clone): not ours to keep
            out.append(gi)
    if n > 1 and not create_graph:
        if n == 2:
            if out[0] is out[1] and out[0] is not None:
                borrowed.add(id(out[0]))
        else:
            seen = set()
            for gi in out:
                if gi is not None:
                    if id(gi) in seen:
                        borrowed.add(id(gi))
                    seen.add(id(gi))
    if _anomaly[0] and _function._anomaly_check_nan[0]:
        _check_nan(fn, out)
    if not retain_graph and fn._saved.__class__ is list:  # see _record_saved
        fn._saved = None
        fn._freed = True
    return out


def _multi_grads(fn, grads, create_graph):
    """The grads of a multi-output primitive; missing ones become zeros (None if not float)."""
    out = []
    meta = fn._out_meta
    for i, g in enumerate(grads):
        if g is None and fn._materialize and meta is not None and meta[i] is not None:
            g = xp.zeros(*meta[i])
        if create_graph and g is not None and g.__class__ is _ndarray:
            g = _make(g, False, None, 0)
        out.append(g)
    return out


def _run_post_hooks(fn, result, g, create_graph, borrowed):
    grads_out = [g] if fn._n_out == 1 else g
    gi = tuple(None if x is None else _to_tensor(x) for x in result)
    go = tuple(None if x is None else _to_tensor(x) for x in grads_out)
    for hook in list(fn._hooks):
        res = hook(gi, go)
        if res is not None:
            res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
            if len(res) != len(gi):
                raise RuntimeError(
                    f"hook '{getattr(hook, '__name__', hook)}' has returned an incorrect number "
                    f"of values (got {len(res)}, but expected {len(gi)})")
            gi = res
    out = tuple(None if x is None else _value(x, create_graph) for x in gi)
    borrowed.update(id(x) for x in out if x is not None)
    return out


def _anomaly_report(fn):
    """In anomaly mode, show where the failing node was created (as PyTorch does)."""
    if _anomaly[0] and fn._trace:
        import warnings

        warnings.warn(f"Error detected in {fn.name()}. Traceback of forward call that caused the "
                      "error:\n" + "".join(fn._trace), UserWarning, stacklevel=4)


def _check_nan(fn, grads):
    for i, g in enumerate(grads):
        if g is None:
            continue
        data = g._data if isinstance(g, Tensor) else g
        if data.dtype.kind == "f" and xp.isnan(data).any():
            _anomaly_report(fn)
            raise RuntimeError(f"Function '{fn.name()}' returned nan values in its {i}th output.")


def run_backward_simple(root, g0, retain_graph):
    """The common case, fast: ``loss.backward()`` with no hooks, inputs= or create_graph.

    The same walk as run_backward with the general machinery left out. Returns False, having
    changed nothing, when the graph needs what only run_backward does (hooks, retain_grad,
    user-defined Functions, anomaly mode); the caller then uses run_backward. Without hooks on
    the leaves nothing can tell when their ``.grad`` is written, so it is written after the
    walk: counting the leaves' edges, as run_backward does, cost 2-5% here on small graphs.
    """
    fn0 = root._grad_fn
    if _anomaly[0]:
        return False
    if _observers:
        for f in _observers:
            f(root, None)
    # 1. dependency counts, and a check that nothing in the graph needs the general path
    deps = {fn0: 0}
    stack = [fn0]
    pop, push = stack.pop, stack.append
    while stack:
        fn = pop()
        if fn._has_pre or fn._hooks is not None or not fn._raw:
            return False
        for e in fn._next:
            if e is None:
                continue
            t = e[0]
            if t.__class__ is Tensor or isinstance(t, Tensor):
                if t._hooks or t._post_acc_hooks:
                    return False
                continue
            c = deps.get(t)
            if c is None:
                deps[t] = 1
                push(t)
            else:
                deps[t] = c + 1

    # 2. the walk
    if fn0._n_out == 1:
        buffers = {fn0: g0}
    else:
        slots = [None] * fn0._n_out
        slots[root._output_nr] = g0
        buffers = {fn0: slots}
    leaves = {}
    borrowed = {id(g0)}
    ready = [fn0]
    prev_mode = _state[0]
    _state[0] = False
    try:
        while ready:
            fn = ready.pop()
            g = buffers.pop(fn, None)
            result = None
            if g is not None:
                try:
                    if fn._n_out == 1:
                        result = fn.backward(fn, g)
                    else:
                        result = fn.backward(fn, *_multi_grads(fn, g, False))
                except RuntimeWarning:  # warnings made errors by the caller: see function._quiet
                    args = (g,) if fn._n_out == 1 else _multi_grads(fn, g, False)
                    result = _function._quiet(fn.backward, fn, args, {})
                if result.__class__ is not tuple:
                    result = (result,)
                if not retain_graph and fn._saved.__class__ is list:
                    fn._saved = None
                    fn._freed = True
            nxt = fn._next
            if result is None:  # no gradient reached this node: only count its edges down
                for e in nxt:
                    if e is not None and e[0].__class__ is not Tensor and not isinstance(
                            e[0], Tensor):
                        t = e[0]
                        c = deps[t] - 1
                        deps[t] = c
                        if not c:
                            ready.append(t)
                continue
            if len(result) < len(nxt):  # no grads for trailing options
                result += (None,) * (len(nxt) - len(result))
            # (more results than edges: Nones for options, e.g. Pow's number exponent; only
            # primitives come here, so there is no user error to report)
            k = -1
            for e in nxt:
                k += 1
                if e is None:
                    continue
                t = e[0]
                gi = result[k]
                if gi is not None:
                    if gi.__class__ is not _ndarray:
                        gi = gi._data if isinstance(gi, Tensor) else _asarray(gi)
                    if gi.shape != e[2]:
                        gi = sum_to(gi, e[2], fn, k)
                    dt = gi.dtype
                    if dt is not e[3] and dt != e[3]:  # ufunc results share the dtype singletons
                        gi = gi.astype(e[3])
                    elif gi is g or (k and (gi is result[0]
                                            or (k > 1 and any(gi is r for r in result[1:k])))):
                        borrowed.add(id(gi))  # passed through, or given to two inputs
                    if t.__class__ is Tensor or isinstance(t, Tensor):
                        ent = leaves.get(id(t))
                        if ent is None:
                            leaves[id(t)] = [t, gi]
                        else:
                            ent[1] = ent[1] + gi
                        continue
                    if t._n_out == 1:
                        cur = buffers.get(t)
                        buffers[t] = gi if cur is None else cur + gi
                    else:
                        _add_slot(buffers, t, e[1], gi)
                elif t.__class__ is Tensor or isinstance(t, Tensor):
                    continue
                c = deps[t] - 1
                deps[t] = c
                if not c:
                    ready.append(t)
        for t, g in leaves.values():
            if t._requires_grad:  # (turned off after forward: PyTorch writes no .grad)
                _accumulate(t, g, False, borrowed)
    finally:
        _state[0] = prev_mode
    for f in _observers:
        f(root, len(deps))
    return True
