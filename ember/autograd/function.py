"""Function: one differentiable operation, forward and backward side by side.

Every ember op is a subclass (a *primitive*): ``forward`` takes arrays (and plain Python
values) and returns an array or a tuple of them; ``backward`` takes one grad per output and
returns one per input (None where there is none), in the broadcast shape and dtype of its
forward: the engine sums each back to its input's shape and casts it to its dtype. ``apply``
runs forward and, when an input requires grad, records the call: the instance is both the
``ctx`` of forward/backward and the graph node (``grad_fn``).

Backward formulas are written against the array library; under ``create_graph=True`` the
engine hands them Tensors instead, and NumPy's dispatch protocols route the same formula
through ember's differentiable ops: higher-order gradients with no second formula. (So only
inputs and outputs may be saved for that: another float array saved raises there.)
Subclasses written outside ember follow PyTorch's Tensor-in, Tensor-out protocol instead
(``ember/_autograd_tools/custom_function.py``).
"""
from __future__ import annotations

import re
import traceback
from collections import OrderedDict

from .. import _dtype
from .._backend import quiet, xp
from .._dtype import type_name
from .._grad_mode import _state as _grad_state
from .._ops._shape import broadcast_value_error
from .._promotion import promote
from .._tensor import Tensor, _add_hook, _make

_ndarray = xp.ndarray
_asarray = xp.asarray
_new = object.__new__
# Set by the engine while it runs backward with create_graph=True.
_create_graph = [False]
# While anomaly detection is on: the tool that does it (_autograd_tools/anomaly.py). Nodes then
# remember the traceback of their forward call; the engine has it report failures and NaNs.
_anomaly = [None]
# PyTorch's protocol for Functions written outside ember (_autograd_tools/custom_function.py,
# built on this module), which registers itself here when ember.autograd loads it.
_user_protocol = [None]

# Kinds of saved entries: (array, kind, obj, version_counter, version, producer): producer is
# the grad_fn that made the saved tensor, named in the error when it was modified in place
_CONST = 0  # a Python value, a non-Tensor argument, or a non-float derived array
_INPUT = 1  # obj is the input Tensor the array belongs to
_OUTPUT = 2  # obj is the output number
_DERIVED = 3  # a float array computed in forward: no graph to rebuild it under create_graph
_NONE = 4  # user Functions: None saved


class _NoGrads(tuple):
    """needs_input_grad of a forward that records nothing: False at every index."""

    def __getitem__(self, i):
        return (False,) * len(range(*i.indices(1 << 16))) if isinstance(i, slice) else False


_NO_GRADS = _NoGrads()


class _FunctionMeta(type):
    def __init__(cls, name, bases, ns):
        super().__init__(name, bases, ns)
        if "_raw" not in ns:
            mod = ns.get("__module__", "")
            if mod == "ember" or mod.startswith("ember."):
                cls._raw = True
            # otherwise inherited: Function itself says False, ember's primitives say True
        if not cls._raw and bases:  # user Functions: PyTorch's Tensor-in, Tensor-out protocol
            if "apply" not in ns:
                cls.apply = classmethod(_user_protocol[0].apply)
            cls._user_backward = staticmethod(_user_protocol[0].backward)
            cls._plain = False
            if "_node_name" not in ns:
                cls._node_name = name + "Backward"
            cls._setup_ctx = "setup_context" in ns or any(
                "setup_context" in vars(b) for b in cls.__mro__[1:-1] if b is not Function)
        elif "_node_name" not in ns:
            cls._node_name = name + "Backward0"


class Function(metaclass=_FunctionMeta):
    """Base of differentiable operations; subclass with static ``forward`` and ``backward``."""

    _raw = False  # see the module docstring; ember's own subclasses become primitives
    _setup_ctx = False
    # Primitives set this to 1 when arguments after the first that are not Tensors are options
    # (dims, dtypes, result arrays, a number exponent), not graph inputs: the node then has
    # one edge, as in PyTorch (``x.mean().grad_fn.next_functions`` has one entry). A Tensor
    # among the later arguments still makes it an input.
    _inputs = None
    # Ops whose operands follow PyTorch's type promotion ("same": the result dtype; "float":
    # a floating one) get them cast once, by apply, before forward; from argument _operands on.
    _promote = None
    _operands = 0

    # Per-node state, set by apply() where it differs from these defaults.
    needs_input_grad: tuple = _NO_GRADS
    to_save: tuple = ()
    _saved = None
    _next = ()  # one edge per input: None or (node_or_leaf_tensor, output_nr, shape, dtype)
    _freed = False
    _n_out = 1
    _out_meta = None
    _hooks = None  # post hooks, {handle id: fn(grad_inputs, grad_outputs)}
    _pre_hooks = None  # tensor hooks, {output_nr: {handle id: fn(grad)}}
    _node_pre_hooks = None  # {handle id: fn(grad_outputs)}
    _retain = None  # {output_nr: weakref to a tensor that called retain_grad()}
    _has_pre = False
    _plain = True  # the engine may call backward(ctx, grad) directly: one output, no hooks
    _nondiff = None
    _multi_view = False  # split/unbind: outputs are views that must not be written in place
    _dirty = None
    _trace = None
    _materialize = True

    # ---- what forward may call ---------------------------------------------------------
    def save_for_backward(self, *tensors):
        """Keep inputs or outputs for backward (version-checked, freed after backward)."""
        self.to_save = tensors

    def mark_non_differentiable(self, *outputs):
        """The given outputs get requires_grad=False."""
        self._nondiff = {id(o) for o in outputs}

    def mark_dirty(self, *args):
        """User Functions: these inputs were modified in place by forward (and are returned)."""
        self._dirty = {id(a) for a in args}

    def set_materialize_grads(self, value: bool):
        """Whether backward receives zeros (True, default) or None for outputs without grad."""
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
                    "if you need to access saved tensors after calling backward.")
            return ()
        if _create_graph[0] or not self._raw:
            return self._saved_as_tensors(saved)
        out = []
        for entry in saved:
            vc = entry[3]
            if vc is not None and vc[0] != entry[4]:
                raise _modified_error(self, entry)
            out.append(entry[0])
        return tuple(out)

    saved_variables = saved_tensors

    def _saved_as_tensors(self, saved):
        """Saved values as Tensors that are part of the graph (create_graph, user Functions)."""
        out = []
        for entry in saved:
            arr, kind, obj, vc, version = entry[:5]
            if vc is not None and vc[0] != version:
                raise _modified_error(self, entry)
            if kind == _INPUT:  # (cast by _promote: the cast is part of the graph too)
                out.append(obj if obj._data.dtype == arr.dtype else obj.to(_dtype.NP_TO_DTYPE[arr.dtype]))
            elif kind == _OUTPUT:
                diff = self._out_meta is None or self._out_meta[obj] is not None
                t = _make(arr, diff, self if diff else None, obj)
                t._vc = vc
                out.append(t)
            elif kind == _DERIVED:
                raise RuntimeError(
                    f"{self.name()} does not support double backward (create_graph=True): it "
                    "saved a floating-point array that is neither an input nor an output")
            elif kind == _NONE:
                out.append(None)
            else:
                out.append(arr)
        return tuple(out)

    # ---- graph node protocol -------------------------------------------------------------
    def name(self) -> str:
        return self._node_name

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) -> None or new grad_inputs; runs after backward."""
        if self._hooks is None:
            self._hooks = OrderedDict()
            self._plain = False
        return _add_hook(self._hooks, fn)

    def register_prehook(self, fn):
        """fn(grad_outputs) -> None or new grad_outputs; runs before this node's backward."""
        if self._node_pre_hooks is None:
            self._node_pre_hooks = OrderedDict()
        self._has_pre = True
        return _add_hook(self._node_pre_hooks, fn)

    def __repr__(self):
        return f"<{self._node_name} object at {hex(id(self))}>"

    @property
    def metadata(self) -> dict:
        return self.__dict__.setdefault("_metadata", {})

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD.")

    vjp = backward

    # ---- the call: one recording path for every primitive ---------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        """Run forward on the arrays of ``args``; if an input requires grad (and grad mode is
        on), the result remembers this node, and the node its inputs (one edge per input).

        The hottest function in ember: one pass over the arguments, the Tensor built inline.
        """
        ctx = _new(cls)
        raw, edges, needs = [], [], []
        rec = _grad_state[0]
        record = False
        for a in args:
            if isinstance(a, Tensor):
                d = a._data
                raw.append(d)
                if rec and a._requires_grad:
                    fn = a._grad_fn  # the edge: where this input's grad goes
                    edges.append((a, 0, d.shape, d.dtype) if fn is None
                                 else (fn, a._output_nr, d.shape, d.dtype))
                    needs.append(True)
                    record = True
                    continue
            else:
                raw.append(a)
            edges.append(None)
            needs.append(False)
        if cls._promote is not None:
            raw = promote(cls._promote, cls._operands, args, raw)
        if record:
            if cls._inputs == 1 and len(args) > 1 and not _tensors_after_first(args):
                del edges[1:]  # options after the input: one edge, as in PyTorch (x.mean(dim))
            ctx._next = edges
            ctx.needs_input_grad = tuple(needs)
            if _anomaly[0]:
                ctx._trace = traceback.format_stack()[:-1]
        try:
            out = cls.forward(ctx, *raw, **kwargs)
        except ValueError as exc:  # NumPy's broadcasting error, as PyTorch words it
            raise broadcast_value_error(exc, cls.__name__.lower(), raw) from None
        except RuntimeWarning:  # warnings made errors by the caller: see _backend.quiet
            out = quiet(cls.forward, ctx, *raw, **kwargs)
        if out.__class__ is tuple:
            return _outputs(ctx, out, args, raw, record)
        arr = out if out.__class__ is _ndarray else _asarray(out)
        t = _new(Tensor)
        t._data = arr
        t._vc = [0]
        if record and arr.dtype.kind == "f" and (ctx._nondiff is None
                                                 or id(out) not in ctx._nondiff):
            t._requires_grad = True
            t._grad_fn = ctx
            if ctx.to_save:
                ctx._saved = _record_saved(ctx.to_save, args, raw, (out,), (t,))
                ctx.to_save = ()
        else:
            t._requires_grad = False
            t._grad_fn = None
        return t


def _tensors_after_first(args):
    for a in args[1:]:
        if isinstance(a, Tensor):
            return True
    return False


def _outputs(ctx, out, args, raw, record):
    """The Tensors of a forward that returned several arrays."""
    if not record:
        return tuple(_make(o if o.__class__ is _ndarray else _asarray(o), False, None, 0)
                     for o in out)
    nondiff, results, meta = ctx._nondiff, [], []
    for i, o in enumerate(out):
        arr = o if o.__class__ is _ndarray else _asarray(o)
        diff = arr.dtype.kind == "f" and (nondiff is None or id(o) not in nondiff)
        results.append(_make(arr, diff, ctx if diff else None, i))
        meta.append((arr.shape, arr.dtype) if diff else None)
    ctx._n_out = len(results)
    ctx._plain = False
    ctx._out_meta = meta
    if ctx.to_save:
        ctx._saved = _record_saved(ctx.to_save, args, raw, out, results)
        ctx.to_save = ()
    return tuple(results)


_CONST_NONE = (None, _CONST, None, None, 0, None)


def _record_saved(to_save, args, raw, outs, results):
    """For each saved value, what it is (input, output, constant) and its version then.

    A list when an array was saved (the engine frees it after backward, and a second backward
    then raises), a tuple when only numbers were: PyTorch keeps those, so a graph that saved
    nothing but numbers can be walked twice.
    """
    saved, arrays = [], False
    for s in to_save:
        if s is None:
            saved.append(_CONST_NONE)
            continue
        if s.__class__ is not _ndarray and not isinstance(s, xp.generic):
            saved.append((s, _CONST, None, None, 0, None))
            continue
        arrays = True
        i = 0
        for o in outs:
            if o is s:
                r = results[i]
                saved.append((r._data, _OUTPUT, i, r._vc, r._vc[0], r._grad_fn))
                break
            i += 1
        else:
            i = 0
            for r in raw:  # an input (by identity, possibly cast by _promote)?
                if r is s:
                    a = args[i]
                    saved.append((s, _INPUT, a, a._vc, a._vc[0], a._grad_fn)
                                 if isinstance(a, Tensor) else (s, _CONST, None, None, 0, None))
                    break
                i += 1
            else:
                saved.append((s, _DERIVED if s.dtype.kind == "f" else _CONST, None, None, 0,
                              None))
    return saved if arrays else tuple(saved)


def _modified_error(node, entry):
    arr, kind, obj, vc, version, producer = entry
    nr = obj._output_nr if kind == _INPUT else obj if kind == _OUTPUT else 0
    # PyTorch names the op that produced the saved tensor, without the Backward suffix
    where = (f", which is output {nr} of {re.sub(r'Backward[0-9]*$', '', producer.name())},"
             if producer is not None else "")
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{type_name(arr.dtype)} {list(xp.shape(arr))}]{where} is at version {vc[0]}; "
        f"expected version {version} instead. Hint: enable anomaly detection to find the "
        "operation that failed to compute its gradient, with "
        "torch.autograd.set_detect_anomaly(True, check_nan=False).")


def __getattr__(name):
    # PyTorch's helpers for user Functions live with their protocol (custom_function.py)
    if name in ("once_differentiable", "FunctionCtx", "InplaceFunction", "NestedIOFunction",
                "BackwardCFunction"):
        return getattr(_user_protocol[0], name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
