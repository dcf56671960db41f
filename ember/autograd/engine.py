"""The reverse-mode engine: one walk serves backward(), backward(gradient), hooks, inputs=,
create_graph and autograd.grad.

1. Count, for every node reachable from the roots, the edges that point at it.
2. Seed the roots' grads; pop a node whose count is zero, run its backward, add each result
   into the buffer of the node it flows to and count that node down.
3. A leaf's grads are summed as they arrive and written to ``.grad`` at the end; if a leaf has
   hooks, it is finished as soon as its last edge is walked instead (PyTorch's AccumulateGrad
   node runs then, and DDP starts its all-reduce from there while the walk goes on).

Broadcasting is undone here, in one place: a node's backward returns grads in the broadcast
shape and dtype of its forward, and the engine sums each back to its input's shape and casts
it to the input's dtype. Grads are plain arrays, or Tensors under ``create_graph`` (then every
backward formula records a graph of its own).
"""
from __future__ import annotations

from .._backend import ndarray as _ndarray
from .._backend import quiet, xp
from .._dtype import NP_TO_DTYPE
from .._grad_mode import _state
from .._ops._sumorder import sum_to_shape
from .._tensor import Tensor, _make
from . import function as _function

_asarray = xp.asarray
_cg = _function._create_graph
_anomaly = _function._anomaly

# ember.doctor's observers: f(root, None) before and f(root, n_nodes) after each backward into
# the leaves' .grad. Empty unless the doctor watches, so the cost is one falsy check.
_observers: list = []
_callbacks: list = []  # one list per backward call in progress (reentrant calls nest)


def queue_callback(callback):
    """Run ``callback()`` once, after the walk of the backward call in progress."""
    if not _callbacks:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    _callbacks[-1].append(callback)


def sum_to(grad, shape, node=None, index=0):
    """Sum a broadcast gradient (array or Tensor) back to its input's ``shape``."""
    shape = tuple(shape)
    if grad.__class__ is _ndarray:
        out = sum_to_shape(grad, shape)  # (in PyTorch's order)
        if out is not None:
            return out
    gshape = tuple(grad.shape)
    lead = len(gshape) - len(shape)
    if lead < 0 or any(s != 1 and s != g for s, g in zip(shape, gshape[lead:])):
        raise RuntimeError(f"Function {node.name() if node else 'backward'} returned an invalid "
                           f"gradient at index {index} - got {list(gshape)} but expected shape "
                           f"compatible with {list(shape)}")
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape) if axes else grad.reshape(shape)


def _tensor(g):
    return g if isinstance(g, Tensor) else _make(g, False, None, 0)


def _grad(value, create_graph):
    """A hook's (or seed's) value as an engine grad: an array, or a Tensor under create_graph."""
    if create_graph:
        return value if isinstance(value, Tensor) else _make(_asarray(value), False, None, 0)
    return value._data if isinstance(value, Tensor) else _asarray(value)


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None,
                 accumulate=True):
    """Backpropagate from ``roots``; accumulate into leaves, or return the grads of ``inputs``.

    With ``accumulate`` the leaves' (or, given ``inputs``, only those tensors') ``.grad`` is
    updated and None is returned; without it (autograd.grad) the grads of ``inputs`` are
    returned as a list (None for unused ones) and no ``.grad`` is touched.
    """
    if accumulate:
        for f in _observers:
            f(roots[0], None)
    # 1. Count the edges into each node; note whether any leaf has hooks.
    deps, stack, hooked = {}, [], False
    for r in roots:
        fn = r._grad_fn
        if fn is not None and fn not in deps:
            deps[fn] = 0
            stack.append(fn)
    ready = list(stack)
    while stack:
        for e in stack.pop()._next:
            if e is None:
                continue
            t = e[0]
            if t.__class__ is Tensor or isinstance(t, Tensor):
                hooked = hooked or t._hooks is not None or t._post_acc_hooks is not None
            elif t in deps:
                deps[t] += 1
            else:
                deps[t] = 1
                stack.append(t)
    ready = [fn for fn in ready if not deps[fn]] if len(ready) > 1 else ready
    # With inputs=: which tensors to capture, and which nodes lead to them.
    targets = node_targets = execute = None
    if inputs is not None:
        targets, node_targets = {}, {}
        for i, t in enumerate(inputs):
            if t._grad_fn is None:
                targets.setdefault(id(t), []).append(i)
            else:
                node_targets.setdefault(t._grad_fn, {}).setdefault(t._output_nr, []).append(i)
        execute = _nodes_to_execute(ready, deps, targets, node_targets)
    out = [None] * len(inputs) if not accumulate else None
    # leaves: id(leaf) -> [leaf, its grad so far, edges still to come (if hooked)]
    if hooked or targets is not None:  # more to do with a complete leaf than add to .grad
        leaves = _Leaves(deps, roots, hooked, create_graph, targets, out)
        borrowed = leaves.borrowed
    else:
        leaves, borrowed = {}, set()  # ids of arrays to copy before keeping them as a .grad

    # 2. Seed the roots' grads.
    buffers = {}
    for r, g in zip(roots, root_grads):
        borrowed.add(id(g))
        if r._grad_fn is not None:
            _add(buffers, r._grad_fn, r._output_nr, g)
        elif r._requires_grad:
            ent = leaves.setdefault(id(r), [r, None, 0])
            ent[1] = g if ent[1] is None else ent[1] + g
    for r in roots if hooked else ():
        if r._grad_fn is None and r._requires_grad:
            leaves.arrive(r, None)  # the root's own edge (PyTorch's GraphRoot) has been walked

    # 3. The walk.
    plain = not create_graph and not _anomaly[0]
    cbs = []
    _callbacks.append(cbs)
    prev = _state[0], _cg[0]
    _state[0] = _cg[0] = bool(create_graph)
    try:
        while ready:
            fn = ready.pop()
            g = buffers.pop(fn, None)
            if fn._has_pre or inputs is not None:  # hooks, retain_grad, inputs=
                g, run = _before(fn, g, create_graph, borrowed, execute, node_targets, inputs, out)
            else:
                run = g is not None
            res = None
            if run:
                if plain and fn._plain:
                    try:  # the common node, called directly
                        res = fn.backward(fn, g)
                    except RuntimeWarning:  # warnings made errors by the caller: _backend.quiet
                        res = quiet(fn.backward, fn, g)
                else:
                    res = _call(fn, g, create_graph, borrowed)
                if res.__class__ is not tuple:
                    res = (res,)
                if len(res) < len(fn._next):  # (more is fine: Nones for a primitive's options)
                    res += (None,) * (len(fn._next) - len(res))
                if not retain_graph and fn._saved.__class__ is list:  # see function._record_saved
                    fn._saved = None
                    fn._freed = True
            k = -1
            for e in fn._next:
                k += 1
                if e is None:
                    continue
                t = e[0]
                gi = None if res is None else res[k]  # (None: no grad reached this node)
                if gi is not None:  # to the input's shape and dtype (undoing broadcasting)
                    if create_graph:
                        gi = _graph_grad(gi, e, fn, k)
                    else:
                        if gi.__class__ is not _ndarray:
                            gi = _grad(gi, False)
                        if gi.shape != e[2]:  # (in PyTorch's order; None: no broadcast)
                            r = sum_to_shape(gi, e[2])
                            gi = sum_to(gi, e[2], fn, k) if r is None else r
                        if gi.dtype is not e[3] and gi.dtype != e[3]:
                            gi = gi.astype(e[3])
                        elif gi is g or (k and (gi is res[0] or (k > 1 and any(
                                gi is r for r in res[1:k])))):
                            borrowed.add(id(gi))  # passed through, or given to two inputs
                if t.__class__ is Tensor or isinstance(t, Tensor):
                    if hooked:
                        leaves.arrive(t, gi)
                    elif gi is not None:  # summed here, written to .grad after the walk
                        ent = leaves.setdefault(id(t), [t, None, 0])
                        ent[1] = gi if ent[1] is None else ent[1] + gi
                    continue
                if gi is not None:
                    if t._n_out == 1:
                        cur = buffers.get(t)
                        buffers[t] = gi if cur is None else cur + gi
                    else:
                        _add(buffers, t, e[1], gi)
                c = deps[t] - 1
                deps[t] = c
                if not c:
                    ready.append(t)
        finish = leaves.finish if isinstance(leaves, _Leaves) else None
        for t, g, _ in leaves.values():  # the leaves not finished yet
            if g is not None and finish is not None:
                finish(t, g)
            elif g is not None and t._requires_grad:  # (the common case: only .grad to write)
                _accumulate(t, g, create_graph, borrowed)
        for cb in cbs:  # (a callback may queue another: the loop sees it)
            cb()
    finally:
        _state[0], _cg[0] = prev
        _callbacks.pop()
    if accumulate:
        for f in _observers:
            f(roots[0], len(deps))
        return None
    return [None if g is None else _tensor(g) for g in out]


def _add(buffers, fn, nr, g):
    """Add grad ``g`` for output ``nr`` of node ``fn`` into its buffer."""
    if fn._n_out == 1:
        cur = buffers.get(fn)
        buffers[fn] = g if cur is None else cur + g
    else:
        slots = buffers.setdefault(fn, [None] * fn._n_out)
        slots[nr] = g if slots[nr] is None else slots[nr] + g


class _Leaves(dict):
    """id(leaf) -> [leaf, its grad so far, edges still to come (counted only if hooked)], and
    what happens when a leaf's grad is complete (PyTorch's AccumulateGrad node): its hooks,
    then ``.grad`` (or, for autograd.grad, the grad is captured), then post-accumulate hooks."""

    def __init__(self, deps, roots, hooked, create_graph, targets, captured):
        super().__init__()
        self.hooked, self.create_graph = hooked, create_graph
        self.targets, self.captured = targets, captured
        self.borrowed = set()  # ids of arrays to copy before keeping them as a .grad
        for e in (e for fn in deps for e in fn._next) if hooked else ():
            if e is not None and isinstance(e[0], Tensor):
                self.setdefault(id(e[0]), [e[0], None, 0])[2] += 1
        for r in roots if hooked else ():
            if r._grad_fn is None and r._requires_grad:  # the root's own edge (GraphRoot)
                self.setdefault(id(r), [r, None, 0])[2] += 1

    def arrive(self, t, g):
        ent = self.setdefault(id(t), [t, None, 0])
        if g is not None:
            ent[1] = g if ent[1] is None else ent[1] + g
        if self.hooked:
            ent[2] -= 1
            if not ent[2] and ent[1] is not None:
                self.finish(t, ent[1])
                ent[1] = None

    def finish(self, t, g):
        if self.targets is not None:
            pos = self.targets.get(id(t))
            if pos is None:  # not among inputs=: PyTorch does not run its node at all
                return
        for hook in list(t._hooks.values()) if t._hooks else ():
            res = hook(_tensor(g))
            if res is not None:
                g = _grad(res, self.create_graph)
                self.borrowed.add(id(g))
        if self.captured is not None:  # autograd.grad: returned, .grad untouched
            for i in pos:
                self.captured[i] = g
        elif t._requires_grad:  # (turned off after forward: no .grad, but the hooks still run)
            _accumulate(t, g, self.create_graph, self.borrowed)
        for hook in list(t._post_acc_hooks.values()) if t._post_acc_hooks else ():
            hook(t)


def _nodes_to_execute(ready, deps, leaf_targets, node_targets):
    """The nodes whose backward must run for the grads of ``inputs`` (the rest are skipped)."""
    remaining, order, ready = dict(deps), [], list(ready)
    while ready:
        fn = ready.pop()
        order.append(fn)
        for e in fn._next:
            if e is not None and not isinstance(e[0], Tensor):
                remaining[e[0]] -= 1
                if not remaining[e[0]]:
                    ready.append(e[0])
    execute = set()
    for fn in reversed(order):  # every node after all the nodes it feeds
        for e in fn._next:
            if e is not None and (id(e[0]) in leaf_targets if isinstance(e[0], Tensor)
                                  else e[0] in execute or e[0] in node_targets):
                execute.add(fn)
                break
    return execute


def _before(fn, g, create_graph, borrowed, execute, node_targets, inputs, out):
    """Before a node runs, in the general case: its pre-hooks and retain_grad, and the grad of
    an ``inputs=`` tensor captured; returns the grad and whether the node's backward runs."""
    run = g is not None and (execute is None or fn in execute)
    if g is not None and fn._has_pre:
        g = _pre_hooks(fn, g, create_graph, borrowed, run)
    if node_targets is not None and fn in node_targets:
        _capture(fn, g, node_targets[fn], inputs, out, create_graph, borrowed)
    return g, run


def _capture(fn, g, slots, inputs, captured, create_graph, borrowed):
    """The grad flowing into a non-leaf tensor named in ``inputs``."""
    grads = [g] if fn._n_out == 1 else (g or [None] * fn._n_out)
    for nr, positions in slots.items():
        if grads[nr] is not None:
            for i in positions:
                if captured is None:
                    _accumulate(inputs[i], grads[nr], create_graph, borrowed)
                else:
                    captured[i] = grads[nr]


def _accumulate(t, g, create_graph, borrowed):
    """Add ``g`` into ``t.grad`` (in place, as PyTorch does, unless building a graph)."""
    cur = t._grad
    if create_graph:
        g = _tensor(g)
        t._grad = (g.clone() if id(g) in borrowed else g) if cur is None else cur + g
    elif cur is None:
        g = g._data if isinstance(g, Tensor) else g
        if g.base is not None or id(g) in borrowed or not g.flags.writeable:
            g = g.copy()
        t._grad = _make(g, False, None, 0)
    elif cur._requires_grad or cur._data.shape != g.shape:
        t._grad = cur + _tensor(g)
    else:
        xp.add(cur._data, g._data if isinstance(g, Tensor) else g, out=cur._data,
               casting="unsafe")
        cur._vc[0] += 1


def _pre_hooks(fn, g, create_graph, borrowed, run):
    """Tensor hooks and retain_grad (always), then the node's own pre-hooks (if it runs)."""
    grads = [g] if fn._n_out == 1 else list(g)
    for nr, hooks in (fn._pre_hooks or {}).items():
        for hook in list(hooks.values()):
            if grads[nr] is None:
                break
            res = hook(_tensor(grads[nr]))
            if res is not None:
                grads[nr] = _grad(res, create_graph)
                borrowed.add(id(grads[nr]))
    for nr, ref in (fn._retain or {}).items():
        t, gv = ref(), grads[nr]
        if t is not None and gv is not None:
            gv = _tensor(gv) if create_graph else _make(_grad(gv, False).copy(), False, None, 0)
            t._grad = gv if t._grad is None else t._grad + gv
    if run and fn._node_pre_hooks:
        for hook in list(fn._node_pre_hooks.values()):
            res = hook(tuple(None if x is None else _tensor(x) for x in grads))
            if res is not None:
                grads = [None if x is None else _grad(x, create_graph) for x in res]
                borrowed.update(id(x) for x in grads)
    return grads[0] if fn._n_out == 1 else grads


_NO_DOUBLE = ("returned NotImplemented", "no implementation found",
              "Can't call numpy() on Tensor that requires grad")


def _call(fn, g, create_graph, borrowed):
    """Run a node's backward in the general case: user Functions, several outputs, hooks,
    create_graph, anomaly mode."""
    try:
        if not fn._raw:
            result = fn._user_backward(fn, [g] if fn._n_out == 1 else g, create_graph)
        else:
            args = (g,) if fn._n_out == 1 else [  # missing grads: zeros (None if not float)
                xp.zeros(*m) if x is None and m is not None and fn._materialize else x
                for x, m in zip(g, fn._out_meta or [None] * len(g))]
            if create_graph:
                args = tuple(None if a is None else _tensor(a) for a in args)
            try:
                result = fn.backward(fn, *args)
            except RuntimeWarning:
                result = quiet(fn.backward, fn, *args)
    except Exception as exc:
        if create_graph and isinstance(exc, (TypeError, RuntimeError)) and any(
                m in str(exc) for m in _NO_DOUBLE):
            raise RuntimeError(f"{fn.name()} does not support double backward "
                               f"(create_graph=True): {exc}") from None
        if _anomaly[0]:
            _anomaly[0].report(fn)
        raise
    if result.__class__ is not tuple:
        result = (result,)
    if fn._hooks:  # they see one grad per input
        n = len(fn._next)
        result = _post_hooks(fn, (result + (None,) * n)[:n], g, create_graph, borrowed)
    if _anomaly[0]:
        _anomaly[0].check_nan(fn, result)
    return result


def _graph_grad(gi, e, fn, k):
    """create_graph: a grad as a Tensor of its input's shape and dtype (recorded ops)."""
    gi = _grad(gi, True)
    if gi._data.shape != e[2]:
        gi = sum_to(gi, e[2], fn, k)
    return gi if gi._data.dtype == e[3] else gi.to(NP_TO_DTYPE[e[3]])


def _post_hooks(fn, result, g, create_graph, borrowed):
    gi = tuple(None if x is None else _tensor(x) for x in result)
    go = tuple(None if x is None else _tensor(x) for x in ([g] if fn._n_out == 1 else g))
    for hook in list(fn._hooks.values()):
        res = hook(gi, go)
        if res is not None:
            res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
            if len(res) != len(gi):
                raise RuntimeError(
                    f"hook '{getattr(hook, '__name__', hook)}' has returned an incorrect number "
                    f"of values (got {len(res)}, but expected {len(gi)})")
            gi = res
    out = tuple(None if x is None else _grad(x, create_graph) for x in gi)
    borrowed.update(id(x) for x in out if x is not None)
    return out
