"""The graph under construction: ONNX nodes, initializers, and the name of each traced tensor."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from .._tensor import Tensor
from .errors import OnnxExporterError

# ONNX element types of the NumPy dtypes ember tensors hold
_ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
         np.dtype(np.float16): TensorProto.FLOAT16, np.dtype(np.int64): TensorProto.INT64,
         np.dtype(np.int32): TensorProto.INT32, np.dtype(np.int16): TensorProto.INT16,
         np.dtype(np.int8): TensorProto.INT8, np.dtype(np.uint8): TensorProto.UINT8,
         np.dtype(np.bool_): TensorProto.BOOL}


def elem_type(dtype) -> int:
    dtype = np.dtype(dtype)
    if dtype not in _ELEM:
        raise OnnxExporterError(f"ember.onnx.export: dtype {dtype} has no ONNX counterpart here")
    return _ELEM[dtype]


class Graph:
    """Nodes and initializers in the order the model ran, and the ONNX name of each tensor.

    ``sym[name]`` holds one marker per dimension of a value: None for a size fixed at export,
    a string for a size that varies (a dynamic axis, or '?' for one derived from it); reshape
    targets are written from these so that a dynamic batch keeps working.
    """

    def __init__(self, param_names, opset):
        self.opset = opset
        self.busy = 0  # > 0 inside a recorded module or op: its inner calls are not recorded
        self.nodes = []
        self.initializers = {}  # name -> TensorProto
        self.inputs = []  # (name, array, sym) of the graph inputs
        self.param_names = param_names  # id(Parameter or buffer) -> qualified name
        self.params_as_inputs = False
        self.names = {}  # id(Tensor) -> ONNX value name
        self.sym = {}  # ONNX value name -> tuple of dim markers
        self._keep = []  # the traced tensors, alive until the end so that ids stay unique
        self.cache = {}  # graph values computed once: sizes of dynamic axes
        self._used = set()
        self.constants = []  # (name, array) of the initializers that are not parameters

    def fresh(self, hint):
        hint = hint.replace(".", "_") or "v"
        name, k = hint, 0
        while name in self._used:
            k += 1
            name = f"{hint}_{k}"
        self._used.add(name)
        return name

    def traced(self, x) -> bool:
        return isinstance(x, Tensor) and id(x) in self.names

    def keep(self, obj):
        """Hold ``obj`` until the export ends (its id is a key)."""
        self._keep.append(obj)

    def bind(self, tensor, name, sym=None):
        """Record that ``tensor``'s value is the ONNX value ``name``."""
        self.names[id(tensor)] = name
        self._keep.append(tensor)
        if sym is None:
            sym = (None,) * tensor.ndim
        self.sym[name] = tuple(sym)

    def node(self, op_type, inputs, out=None, hint=None, **attrs):
        """Append one node; returns its output name, bound to ``out`` when given."""
        name = self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [name],
                                           name=f"{op_type}_{len(self.nodes)}", **attrs))
        if out is not None:
            self.bind(out, name, self.sym_of(inputs[0]) if out.ndim == self.rank(inputs[0])
                      else None)
        return name

    def rank(self, name):
        return len(self.sym.get(name, ()))

    def sym_of(self, name):
        return self.sym.get(name, ())

    def initializer(self, array, hint):
        """A constant of the graph (not a parameter); retraces compare them."""
        name = self.fresh(hint)
        array = np.ascontiguousarray(array)
        self.initializers[name] = numpy_helper.from_array(array, name)
        self.sym[name] = (None,) * array.ndim
        self.constants.append((name, array))
        return name

    def value(self, x, dtype=None):
        """The ONNX name of ``x``: a traced tensor, a parameter, a constant tensor or a number."""
        if isinstance(x, Tensor):
            name = self.names.get(id(x))
            if name is not None:
                return name
            arr = x.detach().numpy()
            pname = self.param_names.get(id(x))
            if pname is not None:
                name = pname if pname not in self._used else self.fresh(pname)
                self._used.add(name)
                if self.params_as_inputs:
                    self.inputs.append((name, arr, (None,) * arr.ndim))
                    self.sym[name] = (None,) * arr.ndim
                else:
                    self.initializers[name] = numpy_helper.from_array(
                        np.ascontiguousarray(arr), name)
                    self.sym[name] = (None,) * arr.ndim
            else:
                name = self.initializer(arr.copy(), "const")
            self.bind(x, name, (None,) * arr.ndim)
            return name
        if isinstance(x, (bool, int, float, np.generic)):
            return self.initializer(np.asarray(x, dtype=dtype), "scalar")
        raise OnnxExporterError(f"ember.onnx.export: cannot use a {type(x).__name__} as a "
                                "tensor in the graph")

    def cast(self, name, from_dtype, to_dtype):
        if np.dtype(from_dtype) == np.dtype(to_dtype):
            return name
        out = self.fresh("cast")
        self.nodes.append(helper.make_node("Cast", [name], [out], to=elem_type(to_dtype)))
        self.sym[out] = self.sym_of(name)
        return out

    def ints(self, values, hint="shape"):
        return self.initializer(np.asarray(values, dtype=np.int64), hint)
