"""Function: one differentiable primitive, forward and backward side by side.

A Function's forward takes raw NumPy arrays (and plain Python values) and returns an array
or a tuple of arrays; its backward takes one gradient per output and returns one per input
(None where an input is not differentiable), in the *broadcast* shape: the engine sums each
back to its input's shape. The instance that ``apply`` creates is both the ``ctx`` of
forward/backward and the graph node (``grad_fn``).

Backward formulas are written against NumPy. Under ``create_graph=True`` the engine hands
them Tensors instead, and NumPy's dispatch protocols route the same formula through ember's
differentiable ops, which is how higher-order gradients work without a second formula.
"""
from __future__ import annotations

import numpy as np

from . import grad_mode
from .._tensor import Tensor, _make

_grad_state = grad_mode._state
_ndarray = np.ndarray
_asarray = np.asarray
# Set by the engine while it runs backward with create_graph=True.
_create_graph = [False]
# Set by detect_anomaly: nodes then remember the traceback of their forward call.
_anomaly = [False]


class _FunctionMeta(type):
    def __init__(cls, name, bases, ns):
        super().__init__(name, bases, ns)
        if "_node_name" not in ns:
            cls._node_name = name + "Backward0"


class Function(metaclass=_FunctionMeta):
    """Base of every primitive. Subclasses define static ``forward`` and ``backward``."""

    # Set per instance by apply(); declared here so that a node always has them.
    needs_input_grad: tuple = ()
    to_save: tuple = ()
    _saved = None
    _next = ()
    _in_meta = ()
    _freed = False
    _hooks = None
    _pre_hooks = None
    _nondiff = None
    _trace = None
    _materialize = True

    # ---- what forward may call ---------------------------------------------------------
    def save_for_backward(self, *arrays):
        self.to_save = arrays

    def mark_non_differentiable(self, *outputs):
        self._nondiff = {id(o) for o in outputs}

    def mark_dirty(self, *args):  # ember's user Functions never write in place; accepted for parity
        pass

    def set_materialize_grads(self, value: bool):
        self._materialize = bool(value)

    @property
    def saved_tensors(self):
        saved = self._saved
        if saved is None:
            if self._freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access saved "
                    "tensors after they have already been freed). Saved intermediate values of the "
                    "graph are freed when you call .backward() or autograd.grad(). Specify "
                    "retain_graph=True if you need to backward through the graph a second time or "
                    "if you need to access saved tensors after calling backward."
                )
            return self.to_save
        out = []
        cg = _create_graph[0]
        for arr, tensor, vc, version in saved:
            if vc is not None and vc[0] != version:
                owner = self if tensor is None else tensor._grad_fn
                where = f", which is output 0 of {owner.name()}," if owner is not None else ""
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{_type_name(arr)} {list(arr.shape)}]{where} is at version "
                    f"{vc[0]}; expected version {version} instead. Hint: enable anomaly detection "
                    "to find the operation that failed to compute its gradient, with "
                    "torch.autograd.set_detect_anomaly(True)."
                )
            if cg and arr is not None and tensor is not False:
                # Under create_graph the formula needs tensors that are part of the graph.
                if tensor is None:  # this node's own output
                    tensor = _make(arr, True, self, 0)
                    tensor._vc = vc
                out.append(tensor)
            else:
                out.append(arr)
        return tuple(out)

    # ---- graph node protocol -------------------------------------------------------------
    def name(self) -> str:
        return self._node_name

    @property
    def next_functions(self):
        from .engine import _edge_node

        return tuple((None, 0) if e is None else (_edge_node(e[0]), e[1]) for e in self._next)

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) runs after this node's backward."""
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        return _RemovableHandle(self._hooks, fn)

    def register_prehook(self, fn):
        """fn(grad_outputs) runs before this node's backward."""
        if self._pre_hooks is None:
            self._pre_hooks = {}
        self._pre_hooks.setdefault("node", []).append(fn)
        return _RemovableHandle(self._pre_hooks["node"], fn)

    def __repr__(self):
        return f"<{self._node_name} object at {hex(id(self))}>"

    @property
    def metadata(self):
        if not hasattr(self, "_metadata"):
            self._metadata = {}
        return self._metadata

    # ---- the call -----------------------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = cls.__new__(cls)
        record = False
        if _grad_state[0]:
            for a in args:
                if isinstance(a, Tensor) and a._requires_grad:
                    record = True
                    break
        if not record:
            raw = [a._data if isinstance(a, Tensor) else a for a in args]
            try:
                out = cls.forward(ctx, *raw, **kwargs)
            except ValueError as exc:
                raise _translate(exc, cls, raw) from None
            if out.__class__ is tuple:
                return tuple(_wrap_plain(o) for o in out)
            return _make(out if out.__class__ is _ndarray else _asarray(out), False, None, 0)

        raw, needs, edges, meta = [], [], [], []
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a._data)
                r = a._requires_grad
                needs.append(r)
                if r:
                    fn = a._grad_fn
                    edges.append((fn, a._output_nr) if fn is not None else (a, 0))
                else:
                    edges.append(None)
                meta.append(a._data)
            else:
                raw.append(a)
                needs.append(False)
                edges.append(None)
                meta.append(None)
        ctx.needs_input_grad = tuple(needs)
        ctx._next = tuple(edges)
        # shapes and dtypes the grads must be reduced and cast to
        ctx._in_meta = tuple(None if m is None else (m.shape, m.dtype) for m in meta)
        if _anomaly[0]:
            import traceback

            ctx._trace = traceback.format_stack()[:-1]
        try:
            with_out = cls.forward(ctx, *raw, **kwargs)
        except ValueError as exc:
            raise _translate(exc, cls, raw) from None
        multi = with_out.__class__ is tuple
        outs = with_out if multi else (with_out,)
        outs = tuple(o if o.__class__ is _ndarray else _asarray(o) for o in outs)
        if multi:
            ctx._n_out = len(outs)
            ctx._out_meta = [(o.shape, o.dtype) for o in outs]
        nondiff = ctx._nondiff
        results = []
        for i, o in enumerate(outs):
            diff = o.dtype.kind == "f" and (nondiff is None or id(o) not in nondiff)
            results.append(_make(o, diff, ctx if diff else None, i))
        if ctx.to_save:
            ctx._saved = _record_saved(ctx.to_save, args, outs, results)
            ctx.to_save = ()
        return tuple(results) if multi else results[0]


def _translate(exc, cls, raw):
    """NumPy's broadcasting ValueError -> PyTorch's RuntimeError naming both sizes."""
    if "broadcast" not in str(exc):
        return exc
    from .._ops._shape import broadcast_error

    shapes = [a.shape for a in raw if isinstance(a, _ndarray)]
    if len(shapes) >= 2:
        return broadcast_error(shapes[0], shapes[1], cls.__name__.lower())
    return RuntimeError(f"{cls.__name__.lower()}: {exc}")


def _wrap_plain(o):
    return _make(o if o.__class__ is _ndarray else _asarray(o), False, None, 0)


def _record_saved(to_save, args, outs, results):
    """Remember, for each saved array, the version of the tensor it belongs to."""
    saved = []
    for arr in to_save:
        entry = None
        if arr is not None and arr.__class__ is _ndarray:
            for a in args:
                if isinstance(a, Tensor) and a._data is arr:
                    entry = (arr, a, a._vc, a._vc[0])
                    break
            else:
                for o, r in zip(outs, results):
                    if o is arr:
                        entry = (arr, None, r._vc, 0)
                        break
        saved.append(entry if entry is not None else (arr, False, None, 0))
    return saved


def _type_name(arr) -> str:
    names = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
             "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
             "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}
    return "torch." + names.get(str(getattr(arr, "dtype", "")), "Tensor")


class _RemovableHandle:
    def __init__(self, container, item):
        self._container, self._item = container, item

    def remove(self):
        try:
            self._container.remove(self._item)
        except ValueError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


RemovableHandle = _RemovableHandle


class BackwardCFunction:  # name kept for isinstance checks people write against torch
    pass


class FunctionCtx:
    pass


def once_differentiable(fn):
    return fn
