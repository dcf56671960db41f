"""Tracing: run the model once with ember's entry points wrapped, recording ONNX nodes.

While an export runs, ``Module.__call__``, the Tensor methods and operators, and the functions
of ``ember`` and ``ember.nn.functional`` are replaced by wrappers; they are put back when the
export ends, so ember pays nothing outside an export. A known module (Linear, Conv2d, ...)
becomes its ONNX node(s) without descending into it; a known op becomes its node; anything
else applied to a traced tensor raises UnsupportedOperatorError naming it. Values read out of a
traced tensor (``.item()``, ``.numpy()``, ``bool(x)``) raise too, since the graph would lose
them.
"""
from __future__ import annotations

import types
from threading import get_ident

import ember
import ember.nn.functional as F
from ember.nn.modules.module import Module

from .. import _ops
from .._tensor import Tensor
from . import _state
from . import _symbolic as S
from .errors import UnsupportedOperatorError

_active = _state.active


def is_tracing() -> bool:
    return _active[0] is not None


# Tensor members that only read metadata, or whose result is not a traced value
_PASS = {
    "size", "dim", "ndimension", "numel", "nelement", "is_floating_point", "is_complex",
    "is_contiguous", "element_size", "get_device", "is_signed", "stride", "storage_offset",
    "data_ptr", "is_shared", "is_pinned", "is_inference", "register_hook", "retain_grad",
    "requires_grad_", "register_post_accumulate_grad_hook", "backward", "type", "cuda",
    "pin_memory", "share_memory_",
}
# dunders wrapped (as supported ops, or as errors when applied to a traced tensor)
_DUNDERS = {
    "__abs__", "__add__", "__and__", "__array__", "__array_function__", "__array_ufunc__",
    "__bool__", "__complex__", "__contains__", "__eq__", "__float__", "__floordiv__", "__ge__",
    "__getitem__", "__gt__", "__iadd__", "__iand__", "__ifloordiv__", "__imod__", "__imul__",
    "__index__", "__int__", "__invert__", "__ior__", "__ipow__", "__isub__", "__iter__",
    "__itruediv__", "__ixor__", "__le__", "__lt__", "__matmul__", "__mod__", "__mul__",
    "__ne__", "__neg__", "__or__", "__pos__", "__pow__", "__radd__", "__rand__", "__rfloordiv__",
    "__rmatmul__", "__rmod__", "__rmul__", "__ror__", "__rpow__", "__rsub__", "__rtruediv__",
    "__rxor__", "__setitem__", "__sub__", "__truediv__", "__xor__",
}
_READS = {"item", "tolist", "numpy", "__array__", "__bool__", "__float__", "__int__",
          "__index__", "__complex__", "__iter__"}
_NS_PASS = {"is_tensor", "numel", "is_floating_point", "is_complex", "typename", "result_type",
            "can_cast", "is_storage", "is_nonzero", "is_grad_enabled", "get_default_dtype",
            "is_inference_mode_enabled", "manual_seed", "seed", "initial_seed"}


def _tensors_in(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (x for x in a if isinstance(x, Tensor))


def _wrap(orig, label, emit):
    """``orig`` recording through ``emit`` (or raising, when emit is None) while tracing."""

    def wrapper(*args, **kwargs):
        g = _active[0]
        if g is None or g.busy or get_ident() != g.thread:
            return orig(*args, **kwargs)
        traced = any(g.traced(t) for t in _tensors_in(args, kwargs))
        if not traced:
            return orig(*args, **kwargs)  # a constant: its value is read where it is used
        if emit is None:
            if label.rsplit(".", 1)[-1] in _READS:
                raise UnsupportedOperatorError(
                    f"ember.onnx.export: {label} reads the values of a traced tensor, which "
                    "an ONNX graph cannot hold; compute with tensor ops instead")
            raise UnsupportedOperatorError(f"ember.onnx.export does not support {label}")
        g.busy += 1  # the op's own calls, and the emitter's, are not recorded
        try:
            result = orig(*args, **kwargs)
            if not isinstance(result, Tensor):
                raise UnsupportedOperatorError(f"ember.onnx.export does not support {label} "
                                               f"returning {type(result).__name__}")
            emit(g, result, *args, **kwargs)
        finally:
            g.busy -= 1
        return result

    wrapper.__name__ = getattr(orig, "__name__", label)
    wrapper.__wrapped__ = orig
    return wrapper


def _wrap_sizes(orig):
    """``shape``/``size()`` of a traced tensor: dynamic dimensions come back as SymInts."""

    def sizes(self, *args, **kwargs):
        r = orig(self, *args, **kwargs)
        g = _active[0]
        if g is None or g.busy or get_ident() != g.thread or not g.traced(self):
            return r
        name = g.names[id(self)]
        sym = g.sym_of(name)

        def size(n, axis):
            return S.SymInt(n, ("dim", name, axis)) if sym[axis] is not None else n

        if isinstance(r, tuple):
            return type(r)(size(n, i) for i, n in enumerate(r))
        dim = args[0] if args else kwargs.get("dim")
        return size(r, dim + self.ndim if dim < 0 else dim)

    return sizes


def _wrap_module_call(orig):
    def call(module, *args, **kwargs):
        g = _active[0]
        if g is None or g.busy or get_ident() != g.thread:
            return orig(module, *args, **kwargs)
        cls = type(module)
        emit = _module_emitter(cls)
        if emit is None:
            if isinstance(module, S.CONTAINERS) or not cls.__module__.startswith("ember."):
                return orig(module, *args, **kwargs)  # the user's code: traced op by op
            if not any(g.traced(t) for t in _tensors_in(args, kwargs)):
                return orig(module, *args, **kwargs)
            raise UnsupportedOperatorError(
                f"ember.onnx.export does not support the module {cls.__name__}")
        if len(args) != 1 or kwargs:
            raise UnsupportedOperatorError(
                f"ember.onnx.export: {cls.__name__} called with {len(args)} arguments "
                f"{'and keywords ' if kwargs else ''}(one tensor expected)")
        g.busy += 1
        try:
            result = orig(module, *args, **kwargs)
            emit(g, module, result, args[0])
        finally:
            g.busy -= 1
        return result

    return call


def _module_emitter(cls):
    # a subclass that keeps its parent's forward is still that layer
    for base in cls.__mro__:
        emit = S.MODULES.get(base)
        if emit is not None:
            return emit if cls.forward is base.forward else None
    return None


class Patches:
    """Installs the wrappers on enter and restores every original on exit."""

    def __init__(self, graph):
        self.graph = graph
        self.saved = []  # (owner, name, original)

    def _set(self, owner, name, value):
        self.saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)

    def __enter__(self):
        ember._lazy("_ops.nn_ops")  # its import rebinds Tensor.softmax: load it first
        for name in _ops.NN_OPS_EXPORTS:
            getattr(ember, name)
        if _active[0] is not None:
            raise RuntimeError("ember.onnx.export is already running (not reentrant)")
        try:
            self._set(Module, "__call__", _wrap_module_call(Module.__dict__["__call__"]))
            for name, member in list(vars(Tensor).items()):
                if name == "shape":
                    self._set(Tensor, name, property(_wrap_sizes(member.fget)))
                    continue
                if name == "size":
                    self._set(Tensor, name, _wrap_sizes(member))
                    continue
                if isinstance(member, property):
                    if name in S.PROPERTIES:
                        self._set(Tensor, name, property(
                            _wrap(member.fget, f"Tensor.{name}", S.PROPERTIES[name])))
                    continue
                if not callable(member) or name in _PASS or isinstance(member, (type,
                                                                                 staticmethod)):
                    continue
                if name.startswith("_") and name not in _DUNDERS:
                    continue
                self._set(Tensor, name, _wrap(member, f"Tensor.{name}", S.METHODS.get(name)))
            for mod, table, prefix in ((ember, S.FUNCTIONS, "ember"),
                                       (F, S.FUNCTIONAL, "ember.nn.functional")):
                for name, fn in list(vars(mod).items()):
                    if (name.startswith("_") or name in _NS_PASS
                            or not isinstance(fn, (types.FunctionType, types.BuiltinFunctionType))):
                        continue
                    self._set(mod, name, _wrap(fn, f"{prefix}.{name}", table.get(name)))
        except BaseException:
            self._restore()
            raise
        self.graph.thread = get_ident()  # other threads run ember as usual meanwhile
        _active[0] = self.graph
        return self

    def _restore(self):
        for owner, name, orig in reversed(self.saved):
            setattr(owner, name, orig)
        self.saved.clear()

    def __exit__(self, *exc):
        _active[0] = None
        self._restore()

