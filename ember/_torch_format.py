"""PyTorch's zip checkpoint format (``torch.save`` since 1.6), read and written without torch.

The archive ``<name>/`` holds ``data.pkl`` (a pickle, protocol 2, of the saved object with every
storage replaced by a persistent id ``('storage', torch.FloatStorage, key, location, numel)``),
``data/<key>`` (each storage's raw bytes, stored uncompressed and 64-byte aligned), ``byteorder``,
``version`` and ``.data/serialization_id``.

Reading runs ``data.pkl`` through an interpreter that knows only an allow-list of globals (the
ones PyTorch's own ``weights_only=True`` accepts for plain tensors, Parameters, containers,
sizes, dtypes and devices), each mapped to an ember function of ours that checks its arguments;
BUILD and the container opcodes only act on the plain containers they are meant for. Nothing a
file names is ever imported or called, so a file can fail to load but cannot run code.

With ``weights_only=False`` (or a class given to ``add_safe_globals``) the interpreter also
rebuilds whole modules: a global may then name an ``nn.Module`` subclass of a module that is
already imported (``torch.*`` names map to ember's modules), which NEWOBJ creates with
``object.__new__`` (never the class's ``__new__``/``__init__``) and BUILD fills from a state
dict (never a ``__setstate__`` the class defines outside ember). REDUCE calls only the
allow-listed rebuild functions.

Writing emits the pickle opcodes by hand: the globals are the names torch expects, and nothing
depends on torch being importable.
"""
from __future__ import annotations

import io
import mmap as _mmap
import os
import pickle
import pickletools
import struct
import sys
import types
import uuid
import zipfile
import zlib
from collections import Counter, OrderedDict, defaultdict

import numpy as np

from . import _dtype, compat
from ._device import Size, device
from ._tensor import Tensor, _make

# ember.nn (Module, Parameter) is imported inside the functions that meet one: it takes ~0.45 s
# to load, and saving or loading plain tensors never needs it.

ALIGN = 64
# numpy dtype (or "bfloat16") of each legacy storage class; complex ones are refused with a reason
_STORAGES = {
    "FloatStorage": np.dtype(np.float32), "DoubleStorage": np.dtype(np.float64),
    "HalfStorage": np.dtype(np.float16), "BFloat16Storage": "bfloat16",
    "LongStorage": np.dtype(np.int64), "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16), "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8), "BoolStorage": np.dtype(np.bool_),
    "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
}
_STORAGE_OF = {v: k for k, v in _STORAGES.items() if isinstance(v, np.dtype)}
# torch dtype names ember can represent (bfloat16 tensors load as float32, so the dtype does too)
_DTYPES = {"float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
           "float16": "float16", "half": "float16", "bfloat16": "float32", "int64": "int64",
           "long": "int64", "int32": "int32", "int": "int32", "int16": "int16", "short": "int16",
           "int8": "int8", "uint8": "uint8", "bool": "bool"}
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


class FormatError(ValueError):
    """Something in the file is not what the format allows; serialization names the file."""


# ---- reading ------------------------------------------------------------------------------------
class _Storage:
    """A storage read from the archive: a 1-D array of its dtype."""

    __slots__ = ("array", "torch_name")

    def __init__(self, array: np.ndarray, torch_name: str):
        self.array = array
        self.torch_name = torch_name


class _StorageType:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class _Global:
    """An allow-listed global: calling it runs ember's checked rebuild function, nothing else."""

    __slots__ = ("name", "fn")

    def __init__(self, name: str, fn):
        self.name = name
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)


def _int(x, what: str, lo: int = 0) -> int:
    if type(x) is not int or x < lo or x >= 2**62:
        raise FormatError(f"{what} must be an int in [{lo}, 2**62), got {_short(x)}")
    return x


def _short(x) -> str:
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


def _named(x) -> str:
    if type(x) is _Global:
        return x.name
    if type(x) is types.FunctionType or isinstance(x, type):
        return f"{torch_module_name(x.__module__)}.{x.__qualname__}"
    return _short(x)


def _ints(x, what: str) -> tuple:
    if type(x) not in (tuple, list, Size):
        raise FormatError(f"{what} must be a tuple of ints, got {_short(x)}")
    if len(x) > 64:
        raise FormatError(f"{what} has {len(x)} dimensions (at most 64)")
    return tuple(_int(v, what) for v in x)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks=None, metadata=None):
    if type(storage) is not _Storage:
        raise FormatError(f"_rebuild_tensor_v2 expects a storage, got {_short(storage)}")
    offset = _int(offset, "storage_offset")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride):
        raise FormatError(f"size {size} and stride {stride} differ in length")
    if type(requires_grad) is not bool:
        raise FormatError(f"requires_grad must be a bool, got {_short(requires_grad)}")
    if metadata:
        raise FormatError(f"tensor metadata {_short(metadata)} is not supported")
    arr = storage.array
    n = arr.shape[0]
    if 0 in size:
        if offset > n:
            raise FormatError(f"storage_offset {offset} is past the storage's {n} elements")
        out = np.empty(size, arr.dtype)
    else:
        last = offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= n:
            raise FormatError(f"a tensor of size {size}, stride {stride} and offset {offset} "
                              f"reaches element {last} of a storage of {n}")
        item = arr.itemsize
        out = np.lib.stride_tricks.as_strided(arr[offset:], size, [s * item for s in stride],
                                              writeable=arr.flags.writeable)
    t = _make(out, False, None, 0)
    if requires_grad:
        if out.dtype.kind != "f":
            raise FormatError("only floating-point tensors can require gradients")
        t.requires_grad_(True)
    return t


def _rebuild_tensor_v3(*args):
    raise FormatError("a tensor of a dtype ember does not have (torch's _rebuild_tensor_v3 is "
                      "used for uint16/32/64, float8 and other new dtypes)")


def _set_state(t, state):
    # torch restores a Parameter's/tensor's Python attributes; we allow new public ones only
    if state is None or state == {} or state == ({}, None) or state == (None, {}):
        return t
    slots = None
    if type(state) is tuple and len(state) == 2:
        state, slots = state
    for part in (state, slots):
        if part is None:
            continue
        if type(part) is not dict:
            raise FormatError(f"bad tensor state {_short(part)}")
        for k, v in part.items():
            if type(k) is not str or not k.isidentifier() or k.startswith("_") \
                    or hasattr(type(t), k):
                raise FormatError(f"a tensor attribute {_short(k)} that ember will not set")
            t.__dict__[k] = v
    return t


def _rebuild_parameter(data, requires_grad, hooks, state=None):
    from .nn.parameter import Parameter  # lazy: see the imports

    if not isinstance(data, Tensor) or type(requires_grad) is not bool:
        raise FormatError("_rebuild_parameter expects (tensor, bool, hooks)")
    return _set_state(Parameter(data, requires_grad=requires_grad), state)


def _rebuild_from_type_v2(func, new_type, args, state):
    if type(func) is not _Global or func.fn not in (_rebuild_tensor_v2, _rebuild_parameter):
        raise FormatError(f"_rebuild_from_type_v2 with {_short(func)}")
    if type(args) is not tuple:
        raise FormatError("_rebuild_from_type_v2 expects an argument tuple")
    t = func(*args)
    if new_type is _TENSOR:
        pass
    elif new_type is _PARAMETER:
        if type(t) is Tensor:
            t = _rebuild_parameter(t, t.requires_grad, None)
    else:
        raise FormatError(f"tensor subclass {_short(new_type)}")
    return _set_state(t, state)


def _size(dims):
    return Size(_ints(dims, "torch.Size"))


def _device(kind, index=None):
    if type(kind) is not str or (index is not None and type(index) is not int):
        raise FormatError(f"bad device {_short(kind)}")
    return device(kind) if index is None else device(kind, index)


def _dtype_global(name):
    target = _DTYPES.get(name)
    if target is None:
        return None
    return _dtype.to_dtype(target)


def _ordered_dict(*args):
    if args and (len(args) > 1 or type(args[0]) not in (list, tuple, dict)):
        raise FormatError("OrderedDict expects one list of pairs")
    return OrderedDict(*args)


def _counter(*args):
    if args and (len(args) > 1 or type(args[0]) is not dict):
        raise FormatError("Counter expects one dict")
    return Counter(*args)


def _set(*args):
    if args and (len(args) > 1 or type(args[0]) not in (list, tuple)):
        raise FormatError("set expects one list")
    return set(*args)


def _complex(re=0.0, im=0.0):
    if type(re) not in (int, float) or type(im) not in (int, float):
        raise FormatError("complex expects two numbers")
    return complex(re, im)


def _encode(s, encoding="latin1"):
    if type(s) is not str or encoding not in ("latin1", "latin-1"):
        raise FormatError("_codecs.encode is allowed for latin1 bytes only")
    return s.encode("latin1")


def _bytearray(*args):
    if args and (len(args) > 1 or type(args[0]) is not bytes):
        raise FormatError("bytearray expects bytes")
    return bytearray(*args)


class _NpDtype:
    """``numpy.dtype(...)`` as a file rebuilds it for a NumPy scalar: numbers and bools only."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype


def _np_dtype(code, align=False, copy=True):
    if type(code) is not str or len(code) > 4:
        raise FormatError(f"numpy.dtype({_short(code)})")
    dt = np.dtype(code)
    if dt.kind not in "biuf":
        raise FormatError(f"a NumPy scalar of dtype {dt}; ember loads numbers and bools only")
    return _NpDtype(dt)


def _np_scalar(dt, data=None):
    if type(dt) is not _NpDtype or type(data) is not bytes or len(data) != dt.dtype.itemsize:
        raise FormatError("numpy scalar() expects a number dtype and its bytes")
    return np.frombuffer(data, dt.dtype)[0].copy()


# torch's own names for NumPy scalars (users allow them with add_safe_globals)
NUMPY_SCALAR = ("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar")
_NUMPY = {**{n: _Global(n, _np_scalar) for n in NUMPY_SCALAR},
          "numpy.dtype": _Global("numpy.dtype", _np_dtype)}
user_safe: set[str] = set()  # names given to serialization.add_safe_globals
user_safe_objects: list = []  # the objects themselves (a module class is matched by identity)


# ---- whole modules (weights_only=False, or classes given to add_safe_globals) ---------------
# functions a module may hold as a value (TransformerEncoderLayer.activation): ember's own,
# returned as references and never called while loading
_FUNCTIONS = ("relu", "gelu", "tanh", "sigmoid", "silu", "elu", "leaky_relu", "softplus",
              "mish", "hardswish", "hardtanh", "relu6", "selu", "celu", "glu", "softsign")
_ROOTS_BACK = (("ember.d2l", "d2l.torch"), ("ember._d2l_pkg", "d2l"),
               ("ember.vision", "torchvision"), ("ember", "torch"))


def torch_module_name(module: str) -> str:
    """The name torch gives ember's module ``module`` (``ember.nn.x`` -> ``torch.nn.x``)."""
    for ours, theirs in _ROOTS_BACK:
        if module == ours or module.startswith(ours + "."):
            return theirs + module[len(ours):]
    return module


def _ember_module_name(module: str) -> str:
    if module.partition(".")[0] in ("torch", "torchvision", "d2l"):
        return compat._target(module) or module
    return module


def resolve(module: str, name: str):
    """``(object, "")`` for a Module subclass or an allow-listed ember function that ``module.name``
    names in an already imported module, else ``(None, why)``. Never imports, never calls."""
    full = f"{module}.{name}"
    if not name.isidentifier():
        return None, f"{name!r} is not a top-level name"
    target = _ember_module_name(module)
    if target.startswith("ember.nn.") and "ember.nn" not in sys.modules:
        import ember.nn  # noqa: F401  (ember's own layers, a fixed import: not what the file names)
    mod = sys.modules.get(target)
    if not isinstance(mod, types.ModuleType):
        return None, (f"the module {module} is not imported: ember never imports a module "
                      "that a file names (import the module that defines the class before "
                      "loading)")
    obj = mod.__dict__.get(name)  # no getattr: a module's __getattr__ could run code
    from .nn.modules.module import Module  # lazy: see the imports

    if isinstance(obj, type) and issubclass(obj, Module):
        return obj, ""
    if target == "ember.nn.functional" and name in _FUNCTIONS and \
            getattr(obj, "__module__", "").startswith("ember."):
        return obj, ""
    what = "nothing" if obj is None else f"a {type(obj).__name__}"
    return None, (f"{full} is {what}, not an nn.Module subclass: ember rebuilds only modules, "
                  "tensors, containers and plain values, and never calls what a file names")


_NEVER_MODULES = ("builtins", "__builtin__", "os", "posix", "nt", "subprocess", "sys")


def _weights_only_hint(full: str) -> str:
    return ("Weights only load failed. This file can still be loaded, to do so you have two "
            "options, do those steps only if you trust the source of the checkpoint. "
            "(1) Re-running `torch.load` with `weights_only` set to `False` will likely succeed "
            "(in ember that rebuilds only nn.Module subclasses of modules already imported; "
            "it never runs code from the file). (2) Alternatively, to load with "
            "`weights_only=True`, allowlist the classes. WeightsUnpickler error: Unsupported "
            f"global: GLOBAL {full} was not an allowed global by default. Please use "
            f"`torch.serialization.add_safe_globals([{full}])` or the "
            f"`torch.serialization.safe_globals([{full}])` context manager to allowlist this "
            "global if you trust this class/function.")


def _ember_setstate(cls: type):
    """The class's ``__setstate__`` if ember defines it (Module's or a layer's), else None."""
    ember_dir = os.path.dirname(os.path.abspath(__file__))
    for c in cls.__mro__:
        fn = c.__dict__.get("__setstate__")
        if fn is None:
            continue
        code = getattr(fn, "__code__", None)
        if type(fn) is types.FunctionType and code is not None and \
                fn.__module__.startswith("ember.") and \
                os.path.abspath(code.co_filename).startswith(ember_dir + os.sep):
            return fn
        return None
    return None


def _check_children(d: dict, cls_name: str) -> None:
    from .nn.modules.module import Module  # lazy: see the imports
    from .nn.parameter import Parameter  # lazy: see the imports

    for key, kind in (("_parameters", Parameter), ("_buffers", Tensor), ("_modules", Module)):
        v = d.get(key)
        if type(v) not in (dict, OrderedDict):
            raise FormatError(f"{cls_name}.{key} must be a dict, got {_short(v)}")
        for k, x in v.items():
            if type(k) is not str or not (x is None or isinstance(x, kind)):
                raise FormatError(f"{cls_name}.{key}[{_short(k)}] is {_short(x)}, not a "
                                  f"{kind.__name__}")
    if type(d.get("training")) is not bool:
        raise FormatError(f"{cls_name}.training must be a bool")


def _build_module(inst, state) -> None:
    from .nn.modules.module import Module  # lazy: see the imports

    cls = type(inst)
    name = cls.__qualname__
    if type(state) is not dict:
        raise FormatError(f"the state of a {name} must be a dict, got {_short(state)}")
    for k in state:
        if type(k) is not str or (k.startswith("__") and k.endswith("__")):
            raise FormatError(f"a {name} attribute {_short(k)} that ember will not set")
    d = object.__getattribute__(inst, "__dict__")
    fn = _ember_setstate(cls)
    if fn is not None:
        fn(inst, dict(state))  # ember's own: fills defaults that older files lack
    else:
        d.update(state)  # a user class's __setstate__ is never called
    fresh = object.__new__(Module)
    Module.__init__(fresh)  # ember's bookkeeping that a torch file may lack
    for k, v in fresh.__dict__.items():
        d.setdefault(k, v)
    for k in [k for k in d if k.startswith("_") and k not in fresh.__dict__]:
        # a torch-private field that ember computes (RNN's _flat_weights is a property here)
        attr = next((c.__dict__[k] for c in cls.__mro__ if k in c.__dict__), None)
        if isinstance(attr, property):
            del d[k]
    _check_children(d, name)

_TENSOR = _Global("torch.Tensor", None)
_PARAMETER = _Global("torch.nn.parameter.Parameter", None)
_ALLOWED = {
    "collections.OrderedDict": _ordered_dict, "collections.Counter": _counter,
    "builtins.set": _set, "builtins.complex": _complex, "builtins.bytearray": _bytearray,
    "_codecs.encode": _encode, "torch.Size": _size, "torch.device": _device,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
}
_GLOBALS = {k: _Global(k, fn) for k, fn in _ALLOWED.items()}
_GLOBALS["torch.Tensor"] = _TENSOR
_GLOBALS["torch.nn.parameter.Parameter"] = _PARAMETER
for _n in _STORAGES:
    _GLOBALS[f"torch.{_n}"] = _StorageType(_n)
_GLOBALS["torch.storage.UntypedStorage"] = _GLOBALS["torch.UntypedStorage"] = \
    _StorageType("UntypedStorage")


class _Unpickler(pickle._Unpickler):
    """The pure-Python unpickler with every code path that could reach an arbitrary object
    closed: globals come from the allow-list, and object-building opcodes are refused."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, data: bytes, storage_reader, weights_only: bool = True):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self._storage_reader = storage_reader
        self._storages: dict[str, _Storage] = {}
        self._weights_only = weights_only
        self._unbuilt: dict[int, object] = {}  # modules made by NEWOBJ, awaiting their BUILD

    def find_class(self, module, name):
        if module == "__builtin__":
            module = "builtins"
        full = f"{module}.{name}"
        g = _GLOBALS.get(full)
        if g is None and module == "torch":
            dt = _dtype_global(name)
            if dt is not None:
                return dt
            if name in ("cfloat", "complex64", "cdouble", "complex128", "chalf", "complex32"):
                raise FormatError(f"it holds the dtype torch.{name}; ember has no complex tensors")
        if g is None and full in _NUMPY:
            if not user_safe.intersection(NUMPY_SCALAR):
                raise pickle.UnpicklingError(
                    f"weights-only load refuses the global {full} (a NumPy scalar): allow NumPy "
                    "scalars with torch.serialization.add_safe_globals([numpy.core.multiarray."
                    "scalar, numpy.dtype]) if you trust the file")
            return _NUMPY[full]
        if g is None:
            obj, why = resolve(module, name)
            if obj is not None:
                if self._weights_only and not any(obj is o for o in user_safe_objects):
                    raise pickle.UnpicklingError(_weights_only_hint(full))
                return obj  # a Module class (NEWOBJ may instantiate it) or an activation
            if not self._weights_only:
                raise pickle.UnpicklingError(f"ember.load refuses the global {full}: {why}")
        if g is None:
            extra = (" (ember never calls a class or function named by a file, even one given "
                     "to add_safe_globals; it rebuilds NumPy scalars itself)"
                     if full in user_safe else "")
            if not extra and name[:1].isupper() and module not in _NEVER_MODULES:
                extra = (". If it is an nn.Module class and you trust the file, import the "
                         "module that defines it and load with weights_only=False")
            raise pickle.UnpicklingError(
                f"weights-only load refuses the global {full}: ember only rebuilds tensors, "
                "Parameters, containers, sizes, dtypes and devices, and never runs code from a "
                f"file{extra}")
        return g

    def persistent_load(self, pid):
        if type(pid) is not tuple or len(pid) != 5 or pid[0] != "storage":
            raise FormatError(f"unexpected persistent id {_short(pid)}")
        _, stype, key, location, numel = pid
        if type(stype) is not _StorageType or type(key) is not str or type(location) is not str:
            raise FormatError(f"bad storage reference {_short(pid)}")
        numel = _int(numel, "storage numel")
        st = self._storages.get(key)
        if st is None:
            st = self._storages[key] = self._storage_reader(key, stype.name, numel)
        elif st.torch_name != stype.name:
            raise FormatError(f"storage {key} is referenced as {stype.name} and {st.torch_name}")
        return st

    def load(self):
        obj = super().load()
        if self._unbuilt:
            inst = next(iter(self._unbuilt.values()))
            raise FormatError(f"a {type(inst).__qualname__} is created but never given its state")
        return obj

    # -- object construction: modules only, never through the class's own code --
    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        from .nn.modules.module import Module  # lazy: see the imports

        if not (isinstance(cls, type) and issubclass(cls, Module)) or type(args) is not tuple \
                or args:
            raise FormatError(f"NEWOBJ of {_named(cls)} is not allowed (only an nn.Module "
                              "class, with no arguments)")
        inst = object.__new__(cls)  # not cls.__new__ nor __init__: no code of the class runs
        self._unbuilt[id(inst)] = inst
        self.append(inst)

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if type(func) is not _Global or type(args) is not tuple:
            raise FormatError(f"REDUCE of {_named(func)} is not allowed (it would call it)")
        self.stack[-1] = func(*args)

    # -- opcodes that act on the object at the top of the stack: plain containers only --
    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if self._unbuilt.pop(id(inst), None) is not None:
            _build_module(inst, state)
            return
        if type(inst) is _NpDtype:  # (3, byteorder, None, None, None, -1, -1, 0)
            if type(state) is not tuple or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
                raise FormatError(f"bad numpy dtype state {_short(state)}")
            if state[1] in "<>":
                inst.dtype = inst.dtype.newbyteorder(state[1])
            return
        # torch stores a state_dict's _metadata this way: BUILD of an OrderedDict with a dict
        if type(inst) is not OrderedDict or type(state) is not dict or \
                any(type(k) is not str or hasattr(OrderedDict, k) for k in state):
            raise FormatError(f"BUILD of a {type(inst).__name__} is not allowed")
        for k, v in state.items():
            setattr(inst, k, v)

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        self._dict_target()[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        d = self._dict_target()
        for i in range(0, len(items) - 1, 2):
            d[items[i]] = items[i + 1]
        if len(items) % 2:
            raise FormatError("SETITEMS with an odd number of items")

    def load_append(self):
        value = self.stack.pop()
        self._target(list).append(value)

    def load_appends(self):
        items = self.pop_mark()
        self._target(list).extend(items)

    def load_additems(self):
        items = self.pop_mark()
        self._target(set).update(items)

    def _dict_target(self):
        d = self.stack[-1]
        if type(d) not in (dict, OrderedDict, Counter):
            raise FormatError(f"SETITEM on a {type(d).__name__}")
        return d

    def _target(self, cls):
        t = self.stack[-1]
        if type(t) is not cls:
            raise FormatError(f"an item added to a {type(t).__name__}")
        return t


for _op, _fn in (("BUILD", "load_build"), ("NEWOBJ", "load_newobj"), ("REDUCE", "load_reduce"),
                 ("SETITEM", "load_setitem"),
                 ("SETITEMS", "load_setitems"), ("APPEND", "load_append"),
                 ("APPENDS", "load_appends"), ("ADDITEMS", "load_additems")):
    _Unpickler.dispatch[getattr(pickle, _op)[0]] = getattr(_Unpickler, _fn)
# object construction, the copyreg registry, text persistent ids, and protocol-5 buffers (whose
# BYTEARRAY8 allocates whatever size the file declares) are never needed for a checkpoint
for _op in ("INST", "OBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4", "PERSID", "BYTEARRAY8",
            "NEXT_BUFFER", "READONLY_BUFFER"):
    def _refused(self, _name=_op):
        raise FormatError(f"pickle opcode {_name} is not allowed in a weights-only file")

    _Unpickler.dispatch[getattr(pickle, _op)[0]] = _refused


def globals_in(data: bytes) -> list[str]:
    """The ``module.name`` of every GLOBAL / STACK_GLOBAL in a pickle, without running it."""
    out, strings = [], []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            out.append(arg.replace(" ", ".").replace("__builtin__.", "builtins."))
        elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
            out.append(f"{strings[-2]}.{strings[-1]}")
        elif isinstance(arg, str):
            strings.append(arg)
    return list(dict.fromkeys(out))


def is_allowed(full: str) -> bool:
    """Whether ember's reader resolves the global ``full`` (with the user's allow-list)."""
    if full in _GLOBALS or (full.startswith("torch.") and _dtype_global(full[6:]) is not None):
        return True
    if full in _NUMPY and bool(user_safe.intersection(NUMPY_SCALAR)):
        return True
    module, _, name = full.rpartition(".")
    obj = resolve(module, name)[0] if module else None
    return obj is not None and any(obj is o for o in user_safe_objects)


def find_archive(names: list[str]) -> str | None:
    """The archive folder (``'archive'``) of a torch.save zip, or None if it is not one."""
    for n in names:
        if n.endswith("/data.pkl") and n.count("/") == 1:
            return n[:-len("/data.pkl")]
    return None


def is_legacy(head: bytes) -> bool:
    return head.startswith(_LEGACY_MAGIC)


class _Members:
    """Direct access to the stored members of a zip: sizes checked, CRC-32 verified."""

    def __init__(self, zf: zipfile.ZipFile, fh, mm):
        self.zf, self.fh, self.mm = zf, fh, mm
        fh.seek(0, os.SEEK_END)
        self.file_size = fh.tell()

    def info(self, name: str) -> zipfile.ZipInfo:
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise FormatError(f"the archive lacks {name}") from None
        if info.compress_type != zipfile.ZIP_STORED:
            raise FormatError(f"{name} is compressed; checkpoints are stored uncompressed, and "
                              "ember does not inflate members (a small file could expand to "
                              "gigabytes)")
        if info.flag_bits & 1:
            raise FormatError(f"{name} is encrypted")
        if info.file_size != info.compress_size or info.file_size > self.file_size:
            raise FormatError(f"{name} declares {info.file_size} bytes, but the file holds "
                              f"{self.file_size}")
        return info

    def small(self, name: str, limit: int = 1 << 31) -> bytes:
        info = self.info(name)
        if info.file_size > limit:
            raise FormatError(f"{name} declares {info.file_size} bytes (at most {limit})")
        return self.zf.read(info)  # zipfile checks the CRC

    def locate(self, name: str) -> tuple[zipfile.ZipInfo, int]:
        """The member's info and the offset of its first data byte (checked against the file)."""
        info = self.info(name)
        self.fh.seek(info.header_offset)
        head = self.fh.read(30)
        if len(head) != 30 or head[:4] != b"PK\x03\x04":
            raise FormatError(f"{name}: bad local header")
        n, m = struct.unpack("<HH", head[26:30])
        if self.fh.read(n) != info.orig_filename.encode("utf-8"):
            raise FormatError(f"{name}: its local header names another member")
        start = info.header_offset + 30 + n + m
        if start + info.file_size > self.file_size:
            raise FormatError(f"{name} runs past the end of the file")
        return info, start

    def read_into(self, start: int, nbytes: int) -> np.ndarray:
        """``nbytes`` from ``start``: mapped, or read once into a fresh writable buffer."""
        if self.mm is not None:
            return np.frombuffer(self.mm, np.uint8, nbytes, start)
        buf = bytearray(nbytes)
        self.fh.seek(start)
        if nbytes and self.fh.readinto(memoryview(buf)) != nbytes:
            raise FormatError("the file ends early")
        return np.frombuffer(buf, np.uint8)

    def array(self, name: str, nbytes: int) -> np.ndarray:
        """The member's bytes as a uint8 array, read once (or mapped), CRC-checked."""
        info, start = self.locate(name)
        if info.file_size != nbytes:
            raise FormatError(f"{name} holds {info.file_size} bytes, but the pickle declares "
                              f"{nbytes}")
        arr = self.read_into(start, nbytes)
        if zlib.crc32(arr) != info.CRC:
            raise FormatError(f"{name} fails its CRC-32 check (the file is corrupt)")
        return arr


def read(zf: zipfile.ZipFile, fh, archive: str, use_mmap: bool, weights_only: bool = True):
    """Unpickle ``<archive>/data.pkl`` with storages read from ``<archive>/data/<key>``."""
    mm = None
    if use_mmap:
        mm = _mmap.mmap(fh.fileno(), 0, access=_mmap.ACCESS_COPY)
    members = _Members(zf, fh, mm)
    names = set(zf.namelist())
    byteorder = "little"
    if f"{archive}/byteorder" in names:
        byteorder = members.small(f"{archive}/byteorder", 16).decode("ascii", "replace")
        if byteorder not in ("little", "big"):
            raise FormatError(f"unknown byteorder {byteorder!r}")
    if f"{archive}/version" in names:
        v = members.small(f"{archive}/version", 16).strip()
        if not v.isdigit() or int(v) > 3:
            raise FormatError(f"format version {v!r} is newer than the versions (<= 3) ember "
                              "reads")
    def storage(key: str, tname: str, numel: int) -> _Storage:
        dt = _STORAGES.get(tname)
        if tname == "UntypedStorage":
            dt = np.dtype(np.uint8)
        if dt is None:
            raise FormatError(f"unknown storage type {tname}")
        if isinstance(dt, str) and dt.startswith("complex"):
            raise FormatError(f"it holds a {dt} tensor ({tname}); ember has no complex tensors")
        item = 2 if dt == "bfloat16" else dt.itemsize
        if numel * item > members.file_size:  # before allocating anything
            raise FormatError(f"storage {key} declares {numel} elements ({numel * item} bytes), "
                              f"more than the whole file ({members.file_size} bytes)")
        raw = members.array(f"{archive}/data/{key}", numel * item)
        order = "<" if byteorder == "little" else ">"
        if dt == "bfloat16":
            # bfloat16 is the top half of a float32: widen exactly (ember has no bfloat16)
            bits = raw.view(order + "u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = raw.view(dt.newbyteorder(order))
            if not arr.dtype.isnative:
                arr = arr.astype(dt)
        return _Storage(arr, tname)

    data = members.small(f"{archive}/data.pkl")
    return _Unpickler(data, storage, weights_only).load()


# ---- writing ------------------------------------------------------------------------------------
class NotRepresentable(TypeError):
    """The object holds something torch's weights-only format cannot express."""


class Pickler:
    """Emits a protocol-2 pickle that ``torch.load(weights_only=True)`` reads."""

    def __init__(self) -> None:
        self.out = bytearray(b"\x80\x02")
        self.memo: dict = {}  # id(obj) or global name -> memo index
        self.keep: list = []  # keep memoized objects alive so ids stay unique
        self.storages: list[np.ndarray] = []  # contiguous 1-D arrays, written as data/<i>
        self._storage_keys: dict[int, int] = {}  # id(root array) -> key
        self._active: set[int] = set()
        self.saw_module = False  # a whole module: an unsavable attribute is an error, not a fallback
        self.dropped_hooks: list[str] = []  # "<path> (<hook dicts>)" of modules saved without hooks

    def dump(self, obj) -> bytes:
        self.save(obj, "obj")
        self.out += b"."
        return bytes(self.out)

    # -- primitives --
    def _put(self, key) -> None:
        i = len(self.memo)
        self.memo[key] = i
        self.out += b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)

    def _get(self, key) -> bool:
        i = self.memo.get(key)
        if i is None:
            return False
        self.out += b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)
        return True

    def _global(self, module: str, name: str) -> None:
        key = ("global", module, name)
        if not self._get(key):
            self.out += b"c" + f"{module}\n{name}\n".encode("ascii")
            self._put(key)

    def _str(self, s: str) -> None:
        b = s.encode("utf-8", "surrogatepass")
        self.out += b"X" + struct.pack("<I", len(b)) + b

    def _int(self, v: int) -> None:
        if 0 <= v < 256:
            self.out += b"K" + bytes([v])
        elif 0 <= v < 65536:
            self.out += b"M" + struct.pack("<H", v)
        elif -2**31 <= v < 2**31:
            self.out += b"J" + struct.pack("<i", v)
        else:
            b = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            if len(b) >= 256:
                self.out += b"\x8b" + struct.pack("<I", len(b)) + b
            else:
                self.out += b"\x8a" + bytes([len(b)]) + b

    def _tuple(self, items, where) -> None:
        if not items:
            self.out += b")"
            return
        if len(items) > 3:
            self.out += b"("
        for i, v in enumerate(items):
            self.save(v, f"{where}[{i}]")
        self.out += {1: b"\x85", 2: b"\x86", 3: b"\x87"}.get(len(items), b"t")

    def _empty_ordered_dict(self) -> None:
        self._global("collections", "OrderedDict")
        self.out += b")R"

    # -- objects --
    def save(self, obj, where: str) -> None:
        if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
            obj = obj.item()  # torch's weights-only load refuses NumPy scalars; keep the value
        if obj is None:
            self.out += b"N"
        elif obj is True or obj is False:
            self.out += b"\x88" if obj else b"\x89"
        elif isinstance(obj, Tensor):
            self._tensor(obj, where)
        elif isinstance(obj, int):
            self._int(int(obj))
        elif isinstance(obj, float):
            self.out += b"G" + struct.pack(">d", float(obj))
        elif isinstance(obj, str):
            self._str(str(obj))
        elif type(obj) is complex:
            self._global("__builtin__", "complex")
            self._tuple((obj.real, obj.imag), where)
            self.out += b"R"
        elif type(obj) is bytes:
            self._global("_codecs", "encode")
            self._tuple((obj.decode("latin1"), "latin1"), where)
            self.out += b"R"
        elif isinstance(obj, _dtype.dtype):
            self._global("torch", obj.name)
        elif isinstance(obj, device):
            self._global("torch", "device")
            self._tuple((str(obj),), where)
            self.out += b"R"
        elif isinstance(obj, Size):
            self._global("torch", "Size")
            self.out += b"("
            self._tuple(tuple(int(s) for s in obj), where)
            self.out += b"tR"
        elif isinstance(obj, (dict, list, tuple, set)):
            self._container(obj, where)
        elif _is_module(obj):
            self._module(obj, where)
        elif isinstance(obj, type) and _is_module_class(obj):
            self._global(*_class_name(obj, where))
        elif _is_function(obj):
            self._global("torch.nn.functional", obj.__name__)
        else:
            raise NotRepresentable(f"{where} of type {type(obj).__module__}."
                                   f"{type(obj).__qualname__}")

    def _container(self, obj, where: str) -> None:
        if self._get(id(obj)):
            return
        key = id(obj)
        if key in self._active:
            raise ValueError(f"ember.save cannot save {where}: it contains itself")
        self._active.add(key)
        try:
            cls = type(obj)
            if cls is tuple or isinstance(obj, tuple) and hasattr(obj, "_fields"):
                self._tuple(tuple(obj), where)  # a namedtuple is saved as a plain tuple
                return  # tuples are not memoized (they cannot contain themselves)
            if cls is list:
                self.out += b"]"
                self._put(key)
                self.keep.append(obj)
                for i in range(0, len(obj), 1000):
                    self.out += b"("
                    for j, v in enumerate(obj[i:i + 1000]):
                        self.save(v, f"{where}[{i + j}]")
                    self.out += b"e"
                return
            if cls is set:
                self._global("__builtin__", "set")
                self.out += b"]("
                for v in obj:
                    self.save(v, f"an element of {where}")
                self.out += b"e\x85R"
                self._put(key)
                self.keep.append(obj)
                return
            if cls is OrderedDict:
                self._empty_ordered_dict()
            elif cls is Counter:
                self._global("collections", "Counter")
                self.out += b"}"
            elif cls is dict or _is_defaultdict(obj):
                self.out += b"}"
            else:
                raise NotRepresentable(f"{where} of type {cls.__qualname__}")
            if cls is not Counter:
                self._put(key)
                self.keep.append(obj)
            items = list(obj.items())
            for i in range(0, len(items), 1000):
                self.out += b"("
                for k, v in items[i:i + 1000]:
                    self.save(k, f"a key of {where}")
                    self.save(v, f"{where}[{k!r}]")
                self.out += b"u"
            if cls is Counter:
                self.out += b"\x85R"
                self._put(key)
                self.keep.append(obj)
            meta = getattr(obj, "_metadata", None) if cls is OrderedDict else None
            if meta is not None:
                self.out += b"}"
                self._str("_metadata")
                self.save(meta, f"{where}._metadata")
                self.out += b"sb"
        finally:
            self._active.discard(key)

    def _module(self, m, where: str) -> None:
        """``cls.__new__(cls)`` + BUILD with the ``__dict__``, as pickle protocol 2 writes it."""
        if self._get(id(m)):
            return
        self.saw_module = True
        self._global(*_class_name(type(m), where))
        self.out += b")\x81"  # EMPTY_TUPLE NEWOBJ
        self._put(id(m))
        self.keep.append(m)
        state = object.__getattribute__(m, "__dict__")
        if any(isinstance(c.__dict__.get("_flat_weights"), property) for c in type(m).__mro__):
            # torch's RNNs keep this list in __dict__ and need it; ember computes it
            state = {**state, "_flat_weights": m._flat_weights}
        hooks = [k for k in _HOOKS if state.get(k)]
        if hooks:
            self.dropped_hooks.append(f"{where} ({', '.join(hooks)})")
        self.out += b"}("
        for k, v in state.items():
            if type(k) is not str:
                raise TypeError(f"ember.save cannot save {where}: an attribute name "
                                f"{_short(k)} is not a string")
            self._str(k)
            if k in _HOOK_DICTS and v:
                self._empty_ordered_dict()
            elif k in ("_parameters", "_buffers", "_modules") and type(v) is dict:
                self._children(v, where)
            else:
                self.save(v, f"{where}.{k}")
        self.out += b"ub"  # SETITEMS BUILD

    def _children(self, d: dict, where: str) -> None:
        if self._get(id(d)):
            return
        self.out += b"}"
        self._put(id(d))
        self.keep.append(d)
        if d:
            self.out += b"("
            for k, v in d.items():
                self.save(k, f"a key of {where}")
                self.save(v, f"{where}.{k}")
            self.out += b"u"

    def _tensor(self, t: Tensor, where: str) -> None:
        if self._get(id(t)):
            return
        from .nn.parameter import Parameter, UninitializedTensorMixin  # lazy: see the imports

        if isinstance(t, UninitializedTensorMixin):
            raise TypeError(f"ember.save cannot save {where}: it is an uninitialized (lazy) "
                            "parameter; run a forward pass first to give it a shape")
        is_param = isinstance(t, Parameter)
        if is_param:
            self._global("torch._utils", "_rebuild_parameter")
            self.out += b"("
        self._plain_tensor(t._data, False if is_param else t._requires_grad)
        if is_param:
            self.save(bool(t._requires_grad), where)
            self._empty_ordered_dict()
            self.out += b"tR"
        self._put(id(t))
        self.keep.append(t)

    def _plain_tensor(self, arr: np.ndarray, requires_grad: bool) -> None:
        key, numel, offset, strides = self._storage(arr)
        self._global("torch._utils", "_rebuild_tensor_v2")
        self.out += b"(("
        self._str("storage")
        self._global("torch", _STORAGE_OF[arr.dtype.newbyteorder("=")])
        self._str(str(key))
        self._str("cpu")
        self._int(numel)
        self.out += b"tQ"
        self._int(offset)
        self._tuple(tuple(int(s) for s in arr.shape), "size")
        self._tuple(strides, "stride")
        self.out += b"\x88" if requires_grad else b"\x89"
        self._empty_ordered_dict()
        self.out += b"tR"

    def _storage(self, arr: np.ndarray):
        """(key, numel, offset, strides): views of one array share one storage, as in torch."""
        if arr.dtype.newbyteorder("=") not in _STORAGE_OF:
            raise NotRepresentable(f"an array of dtype {arr.dtype}")
        item = arr.itemsize
        root, off = _root_of(arr), 0
        if root is not None:
            off = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
            extent = sum((n - 1) * s for n, s in zip(arr.shape, arr.strides)) if arr.size else 0
            if off < 0 or off % item or off + extent + item > root.nbytes or \
                    any(s < 0 or s % item for s in arr.strides):
                root = None
        if root is not None:
            strides = tuple(s // item if n > 1 else c for s, n, c in
                            zip(arr.strides, arr.shape, _contiguous_strides(arr.shape)))
        else:
            off, strides = 0, _contiguous_strides(arr.shape)
            root = arr
            if not (arr.flags.c_contiguous and arr.dtype.isnative):
                root = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("="), copy=False))
        key = self._storage_keys.get(id(root))
        if key is None:
            key = self._storage_keys[id(root)] = len(self.storages)
            self.storages.append(root)
            self.keep.append(root)
        return key, int(root.size), off // item, strides


_HOOKS = ("_backward_pre_hooks", "_backward_hooks", "_forward_hooks", "_forward_pre_hooks",
          "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
          "_load_state_dict_post_hooks")
_HOOK_DICTS = _HOOKS + ("_forward_hooks_with_kwargs", "_forward_hooks_always_called",
                        "_forward_pre_hooks_with_kwargs")


def _is_module(obj) -> bool:
    from .nn.modules.module import Module  # lazy: see the imports

    return isinstance(obj, Module)


def _is_module_class(cls: type) -> bool:
    from .nn.modules.module import Module  # lazy: see the imports

    return issubclass(cls, Module)


def _is_function(obj) -> bool:
    """One of ember.nn.functional's activations that a module may hold (saved by name)."""
    if type(obj) is not types.FunctionType or obj.__name__ not in _FUNCTIONS:
        return False
    from .nn import functional  # lazy: see the imports

    return functional.__dict__.get(obj.__name__) is obj


def _class_name(cls: type, where: str) -> tuple[str, str]:
    """(module, name) under which a loader finds ``cls``; ember's classes get torch's names."""
    module, name = cls.__module__, cls.__qualname__
    if "." in name or "<" in name:
        raise TypeError(f"ember.save cannot save {where}: its class {module}.{name} is not "
                        "defined at the top level of a module, so no loader can find it by "
                        "name (define it at module level)")
    mod = sys.modules.get(module)
    if not isinstance(mod, types.ModuleType) or mod.__dict__.get(name) is not cls:
        raise TypeError(f"ember.save cannot save {where}: its class is not the object "
                        f"{module}.{name} (a loader finds a class by its module and name)")
    return torch_module_name(module), name


def _root_of(arr: np.ndarray):
    """The furthest C-contiguous array of the same dtype that ``arr`` views, or None."""
    best, cur = None, arr
    for _ in range(64):
        nxt = cur.base
        if not isinstance(nxt, np.ndarray):
            nxt = getattr(nxt, "base", None)  # as_strided's DummyArray keeps its source here
            if not isinstance(nxt, np.ndarray):
                break
        cur = nxt
        if cur.dtype == arr.dtype and cur.flags.c_contiguous and cur.dtype.isnative:
            best = cur
    return best


def _contiguous_strides(shape) -> tuple:
    out, acc = [], 1
    for s in reversed(shape):
        out.append(acc)
        acc *= max(int(s), 1)
    return tuple(reversed(out))


def _is_defaultdict(obj) -> bool:
    return type(obj) is defaultdict  # saved (and loaded) as a plain dict, as its factory can't be


def write_archive(fh, data: bytes, storages: list) -> None:
    """Write a torch.save zip archive (``data.pkl`` from :class:`Pickler`) to ``fh``."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        _add(zf, "archive/data.pkl", data)
        _add(zf, "archive/.format_version", b"1")
        _add(zf, "archive/.storage_alignment", str(ALIGN).encode())
        _add(zf, "archive/byteorder", b"little")
        for i, arr in enumerate(storages):
            if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and
                                               np.little_endian is False):
                arr = arr.astype(arr.dtype.newbyteorder("<"))
            _add(zf, f"archive/data/{i}", arr)
        _add(zf, "archive/version", b"3\n")
        sid = str(uuid.uuid4().int % 10**40).zfill(40)  # torch writes 40 decimal digits
        _add(zf, "archive/.data/serialization_id", sid.encode())


def _add(zf: zipfile.ZipFile, name: str, data) -> None:
    if isinstance(data, np.ndarray):  # C-contiguous: its bytes, without a copy
        data = data.reshape(-1).view(np.uint8)
    buf = memoryview(data)
    nbytes = buf.nbytes
    zinfo = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    zinfo.compress_type = zipfile.ZIP_STORED
    zinfo.file_size = nbytes
    zip64 = nbytes * 1.05 > zipfile.ZIP64_LIMIT
    # pad the local header's extra field so that the data starts on a 64-byte boundary
    fixed = zf.fp.tell() + 30 + len(name.encode("ascii")) + (20 if zip64 else 0)
    pad = -fixed % ALIGN
    if pad < 4:
        pad += ALIGN
    zinfo.extra = struct.pack("<HH", 0x4246, pad - 4) + b"Z" * (pad - 4)
    with zf.open(zinfo, "w", force_zip64=zip64) as w:
        for i in range(0, nbytes, 1 << 26):
            w.write(buf[i:i + (1 << 26)])
