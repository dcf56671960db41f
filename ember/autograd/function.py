"""Function: one differentiable primitive, forward and backward side by side.

There are two kinds of subclass, chosen when the class is created:

* **Primitives** (classes defined inside ember, or with ``_raw = True``): ``forward`` takes raw
  NumPy arrays (and plain Python values) and returns an array or a tuple of arrays; ``backward``
  takes one gradient per output and returns one per input (None where an input is not
  differentiable), in the *broadcast* shape: the engine sums each back to its input's shape
  and casts it to its dtype. This is the fast path every ember op takes.
* **User Functions** (subclasses of ``ember.autograd.Function`` defined anywhere else, or with
  ``_raw = False``) behave as in PyTorch: forward and backward receive and return Tensors,
  forward runs under no_grad, ``setup_context`` is supported, and the node is named
  ``<Class>Backward``.

The instance that ``apply`` creates is both the ``ctx`` of forward/backward and the graph node
(``grad_fn``). Primitive backward formulas are written against NumPy; under
``create_graph=True`` the engine hands them Tensors instead (grads and saved tensors), and
NumPy's dispatch protocols route the same formula through ember's differentiable ops, which is
how higher-order gradients work without a second formula. Only inputs and outputs saved with
``save_for_backward`` become part of that graph: a floating-point array saved that is neither
raises under create_graph rather than silently acting as a constant.
"""
from __future__ import annotations

import functools
import re
import traceback
from collections import OrderedDict

from .. import _dtype
from .._backend import xp
from .._ops._shape import broadcast_error
from .._tensor import Tensor, _add_hook, _make, type_name
from ..utils.hooks import RemovableHandle
from . import grad_mode

_grad_state = grad_mode._state
_ndarray = xp.ndarray
_asarray = xp.asarray
_new = object.__new__
# Set by the engine while it runs backward with create_graph=True.
_create_graph = [False]
# Set by detect_anomaly: nodes then remember the traceback of their forward call, and the
# engine checks every gradient for NaN (when the second flag is set).
_anomaly = [False]
_anomaly_check_nan = [True]

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
        if isinstance(i, slice):
            return (False,) * len(range(*i.indices(1 << 16)))
        return False


_NO_GRADS = _NoGrads()


class _FunctionMeta(type):
    def __init__(cls, name, bases, ns):
        super().__init__(name, bases, ns)
        if "_raw" not in ns:
            mod = ns.get("__module__", "")
            if mod == "ember" or mod.startswith("ember."):
                cls._raw = True
            # otherwise inherited: Function itself says False, ember's primitives say True
        if not cls._raw:
            if "apply" not in ns:
                cls.apply = classmethod(_apply_user)
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
    # one edge, as in PyTorch (``x.mean().grad_fn.next_functions`` has one entry), and records
    # as a unary op. A Tensor among the later arguments still makes it an input.
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
    _hooks = None  # post hooks: fn(grad_inputs, grad_outputs)
    _pre_hooks = None  # tensor hooks: {output_nr: [fn(grad)]}
    _node_pre_hooks = None  # fn(grad_outputs)
    _retain = None  # {output_nr: weakref to a tensor that called retain_grad()}
    _has_pre = False
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

    @property
    def next_functions(self):
        from .engine import _edge_node  # (engine imports this module)

        return tuple((None, 0) if e is None else (_edge_node(e[0]), e[1]) for e in self._next)

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) -> None or new grad_inputs; runs after backward."""
        if self._hooks is None:
            self._hooks = OrderedDict()
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
        d = self.__dict__.get("_metadata")
        if d is None:
            d = self._metadata = {}
        return d

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
            raw = _promote(cls, args, raw)
        if record:
            if cls._inputs == 1 and len(args) > 1 and not _tensors_after_first(args):
                del edges[1:]  # options after the input: one edge, as in PyTorch (x.mean(dim))
            ctx._next = edges
            ctx.needs_input_grad = tuple(needs)
            if _anomaly[0]:
                ctx._trace = traceback.format_stack()[:-1]
        try:
            out = cls.forward(ctx, *raw, **kwargs)
        except ValueError as exc:
            raise _translate(exc, cls, raw) from None
        except RuntimeWarning:  # see _quiet
            out = _quiet(cls.forward, ctx, raw, kwargs)
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
    ctx._out_meta = meta
    if ctx.to_save:
        ctx._saved = _record_saved(ctx.to_save, args, raw, out, results)
        ctx.to_save = ()
    return tuple(results)


def _promote(cls, args, raw):
    """PyTorch's type promotion, once, before forward: the operands from ``cls._operands`` on
    cast to the result dtype (``_promote = "float"``: a floating one). The node's edges keep
    the inputs' own dtypes, so the engine casts each grad back."""
    first = cls._operands
    if len(raw) == 2:  # the usual case, first: two arrays of one dtype, or a float array and a number
        a, b = raw
        if a.__class__ is _ndarray:
            if b.__class__ is _ndarray:
                if a.dtype is b.dtype and (a.dtype.kind == "f" or cls._promote == "same"):
                    return raw
            elif (b.__class__ is float or b.__class__ is int) and a.dtype.kind == "f":
                return raw
        elif (a.__class__ is float or a.__class__ is int) and b.__class__ is _ndarray and (
                b.dtype.kind == "f"):
            return raw
    dt, simple, numbers = None, True, False
    for r in raw[first:]:
        if r.__class__ is _ndarray:
            if dt is None:
                dt = r.dtype
            elif r.dtype is not dt:
                simple = False
        elif r.__class__ is float or r.__class__ is int:
            numbers = True
        elif r is not None:
            simple = False
    if simple and dt is not None and (dt.kind == "f" or (not numbers and cls._promote == "same")):
        return raw  # one dtype already (the usual case)
    operands = [a for a in args[first:] if a is not None]
    res = _dtype.result_type(*operands)
    if cls._promote == "float" and not res.is_floating_point:
        res = _dtype.get_default_dtype()
    np_dt = res.np
    out = raw[:first]
    for r in raw[first:]:
        if r.__class__ is _ndarray:
            r = r if r.dtype == np_dt else r.astype(np_dt)
        elif dt is None and r is not None:  # numbers only: the first becomes an array
            r, dt = _asarray(r, dtype=np_dt), np_dt
        elif r.__class__ is int and np_dt.kind in "iu" and not (
                xp.iinfo(np_dt).min <= r <= xp.iinfo(np_dt).max):
            r = _asarray(r).astype(np_dt)  # wraps around, as PyTorch's integers do
        out.append(r)
    return out


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
        for i, o in enumerate(outs):
            if o is s:
                r = results[i]
                saved.append((r._data, _OUTPUT, i, r._vc, r._vc[0], r._grad_fn))
                break
        else:
            for i, r in enumerate(raw):  # an input (by identity, possibly cast by _promote)?
                if r is s:
                    a = args[i]
                    saved.append((s, _INPUT, a, a._vc, a._vc[0], a._grad_fn)
                                 if isinstance(a, Tensor) else (s, _CONST, None, None, 0, None))
                    break
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


def _quiet(fn, ctx, args, kwargs):
    """Run fn again with NumPy's floating-point warnings off.

    PyTorch gives inf and nan silently; NumPy warns, and ember's package filter ignores those
    warnings, but code that turns warnings into errors (``simplefilter("error")``) gets a
    RuntimeWarning exception out of the ufunc. Primitives are pure, so they are simply re-run
    silently then; in the normal case this costs nothing.
    """
    with xp.errstate(all="ignore"):
        return fn(ctx, *args, **kwargs)


def _translate(exc, cls, raw):
    """NumPy's broadcasting ValueError -> PyTorch's RuntimeError naming both sizes."""
    if "broadcast" not in str(exc):
        return exc
    shapes = [a.shape for a in raw if isinstance(a, _ndarray)]
    if len(shapes) >= 2:
        return broadcast_error(shapes[0], shapes[1], cls.__name__.lower())
    return RuntimeError(f"{cls.__name__.lower()}: {exc}")


# ---- user Functions: PyTorch's Tensor-in, Tensor-out protocol ----------------------------------
def _apply_user(cls, *args, **kwargs):
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


def _user_backward(fn, grads, create_graph):
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


_RemovableHandle = RemovableHandle


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
        with grad_mode.no_grad():
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
