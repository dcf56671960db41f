"""Tensor creation: tensor, as_tensor, from_numpy, zeros/ones/full/empty, ranges, *_like."""
from __future__ import annotations

import math
import warnings

import numpy as np

from . import _dtype
from ._device import check_device
from ._ops._util import shape_arg
from ._tensor import Tensor, _make


def _finish(data: np.ndarray, requires_grad: bool, device=None) -> Tensor:
    if device is not None:
        check_device(device)
    t = _make(data, False, None, 0)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer_array(data, dtype=None) -> np.ndarray:
    """Data -> ndarray with PyTorch's dtype inference for Python values."""
    if isinstance(data, Tensor):
        arr = data._data
        return arr if dtype is None else arr.astype(_dtype.to_dtype(dtype).np)
    if isinstance(data, np.ndarray):
        _dtype.from_numpy_dtype(data.dtype)  # rejects object/str/complex arrays clearly
        return data if dtype is None else data.astype(_dtype.to_dtype(dtype).np)
    python_values = not isinstance(data, np.generic)
    if isinstance(data, (list, tuple)):
        data = _unwrap_nested(data)
    try:
        arr = np.asarray(data)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"could not create a tensor from {type(data).__name__}: {exc}") from None
    if arr.dtype == object:
        if isinstance(data, (list, tuple)) and _ragged(data):
            raise ValueError(
                f"expected sequence of length {len(data[0])} at dim 1 (got {_ragged(data)})")
        raise TypeError(f"Could not infer dtype of {type(_first_leaf(data)).__name__}")
    if arr.dtype.kind in "US":
        raise TypeError("new(): invalid data type 'str'")
    if dtype is not None:
        return arr.astype(_dtype.to_dtype(dtype).np, copy=False)
    if python_values and arr.dtype == np.float64 and not _has_float64_arrays(data):
        return arr.astype(_dtype.get_default_dtype().np)
    if arr.dtype.kind == "c":
        raise TypeError("ember does not support complex tensors")
    if arr.dtype.kind == "u" and arr.dtype != np.uint8 or arr.dtype == np.uint64:
        return arr.astype(np.int64)
    return arr


def _unwrap_nested(data):
    out = []
    for x in data:
        if isinstance(x, Tensor):
            out.append(x._data)
        elif isinstance(x, (list, tuple)):
            out.append(_unwrap_nested(x))
        else:
            out.append(x)
    return out


def _has_float64_arrays(data) -> bool:
    if isinstance(data, np.ndarray):
        return data.dtype == np.float64
    if isinstance(data, (list, tuple)):
        return any(_has_float64_arrays(x) for x in data)
    return isinstance(data, np.float64)


def _first_leaf(data):
    while isinstance(data, (list, tuple)) and data:
        data = data[0]
    return data


def _ragged(data):
    lens = {len(x) for x in data if isinstance(x, (list, tuple))}
    if len(lens) > 1:
        return sorted(lens)[-1]
    return 0


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """Copy data into a new tensor (dtype inferred as PyTorch does)."""
    if isinstance(data, Tensor):
        warnings.warn(
            "To copy construct from a tensor, it is recommended to use sourceTensor.clone().detach() "
            "or sourceTensor.clone().detach().requires_grad_(True), rather than "
            "torch.tensor(sourceTensor).", UserWarning, stacklevel=2)
    arr = _infer_array(data, dtype)
    if isinstance(data, (np.ndarray, Tensor)) and arr is (data._data if isinstance(data, Tensor) else data):
        arr = arr.copy()
    elif not arr.flags.writeable or not arr.flags.owndata:
        arr = arr.copy()
    return _finish(arr, requires_grad, device)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like tensor(), but shares memory with an ndarray or Tensor when no conversion is needed."""
    if isinstance(data, Tensor):
        if dtype is None or _dtype.to_dtype(dtype) is data.dtype:
            return data
        return data.to(_dtype.to_dtype(dtype))
    if device is not None:
        check_device(device)
    return _make(_infer_array(data, dtype), False, None, 0)


asarray = as_tensor


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``ndarray`` (writes to one show in the other)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dtype.from_numpy_dtype(ndarray.dtype)
    if not ndarray.flags.writeable:
        warnings.warn(
            "The given NumPy array is not writable, and PyTorch does not support non-writable "
            "tensors. This means writing to this tensor will result in undefined behavior.",
            UserWarning, stacklevel=2)
    return _make(ndarray, False, None, 0)


def _np_dtype(dtype, default=None) -> np.dtype:
    if dtype is None:
        return (default or _dtype.get_default_dtype()).np
    return _dtype.to_dtype(dtype).np


def _filled(fill, size, dtype, requires_grad, device, out, **_):
    shape = shape_arg(size) if not (len(size) == 1 and isinstance(size[0], int)) else (size[0],)
    for s in shape:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(shape)}")
    dt = _np_dtype(dtype)
    data = np.empty(shape, dt) if fill is None else np.full(shape, fill, dt)
    if out is not None:
        out._data = data
        return out
    return _finish(data, requires_grad, device)


def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    return _filled(0, _size_kw(size, layout), dtype, requires_grad, device, out)


def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    return _filled(1, _size_kw(size, layout), dtype, requires_grad, device, out)


def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False, memory_format=None):
    return _filled(None, _size_kw(size, layout), dtype, requires_grad, device, out)


def _size_kw(size, layout):
    return size


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if dtype is None:
        dtype = (_dtype.bool_ if isinstance(fill_value, bool) else
                 _dtype.int64 if isinstance(fill_value, (int, np.integer)) else None)
    shape = (size,) if isinstance(size, int) else tuple(size)
    return _filled(fill_value, (shape,), dtype, requires_grad, device, out)


def _like(fill):
    def fn(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
        dt = input._data.dtype if dtype is None else _dtype.to_dtype(dtype).np
        shape = input._data.shape
        data = np.empty(shape, dt) if fill is None else np.full(shape, fill, dt)
        return _finish(data, requires_grad, device)

    return fn


zeros_like = _like(0)
ones_like = _like(1)
empty_like = _like(None)


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None):
    dt = input._data.dtype if dtype is None else _dtype.to_dtype(dtype).np
    return _finish(np.full(input._data.shape, fill_value, dt), requires_grad, device)


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    if n < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    return _finish(np.eye(n, n if m is None else m, dtype=_np_dtype(dtype)), requires_grad, device)


def _num(x):
    return x.item() if isinstance(x, (Tensor, np.generic)) else x


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad=False):
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    is_float = any(isinstance(v, float) for v in (start, end, step))
    dt = _np_dtype(dtype, None if is_float else _dtype.int64)
    if dt.kind == "f":
        # computed in double and rounded, as PyTorch's kernel accumulates in double
        n = math.ceil((end - start) / step)
        data = (start + np.arange(n, dtype=np.float64) * step).astype(dt)
    else:
        data = np.arange(start, end, step).astype(dt, copy=False)
    return _finish(data, requires_grad, device)


def range_(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    warnings.warn("torch.range is deprecated and will be removed in a future release because its "
                  "behavior is inconsistent with Python's range builtin. Instead, use torch.arange, "
                  "which produces values in [start, end).", UserWarning, stacklevel=2)
    n = int(math.floor((end - start) / step)) + 1
    data = (start + np.arange(n, dtype=np.float64) * step).astype(_np_dtype(dtype))
    return _finish(data, requires_grad, device)


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    start, end = _num(start), _num(end)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = _np_dtype(dtype)
    if steps == 1:
        return _finish(np.full((1,), start, dt), requires_grad, device)
    # PyTorch's kernel: the first half counts up from start, the second down from end
    step = (end - start) / (steps - 1)
    i = np.arange(steps, dtype=np.float64)
    half = steps // 2
    vals = np.where(i < half, start + step * i, end - step * (steps - 1 - i))
    return _finish(vals.astype(dt), requires_grad, device)


def logspace(start, end, steps, base=10.0, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    exps = linspace(start, end, steps, dtype=_dtype.float64)._data
    return _finish((base ** exps).astype(_np_dtype(dtype)), requires_grad, device)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    return _finish(np.asarray(s, _np_dtype(dtype)), requires_grad, device)


# ---- legacy typed constructors: torch.FloatTensor(...) etc. ---------------------------------------
def _legacy_new(cls, dt, args, kwargs):
    kwargs.pop("device", None)
    if not args:
        data = np.empty((0,), dt.np)
    elif len(args) == 1 and not isinstance(args[0], (int, np.integer)) and not isinstance(args[0], _SizeLike):
        src = args[0]
        if isinstance(src, Tensor):
            data = src._data if src._data.dtype == dt.np else src._data.astype(dt.np)
        else:
            data = np.array(_infer_array(src), dtype=dt.np)
    else:
        data = np.empty(shape_arg(args), dt.np)
    t = object.__new__(Tensor if cls is None else cls)
    t._data, t._requires_grad, t._grad_fn, t._output_nr = data, False, None, 0
    t._grad, t._vc, t._hooks, t._retains_grad = None, [0], None, False
    return t


class _SizeLike(tuple):
    pass


class _LegacyMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj._data.dtype == cls._legacy_dtype.np


def _legacy_type(name, dt):
    def __new__(cls, *args, **kwargs):
        return _legacy_new(None, dt, args, kwargs)

    return _LegacyMeta(name, (), {"__new__": __new__, "_legacy_dtype": dt, "__module__": "ember"})


FloatTensor = _legacy_type("FloatTensor", _dtype.float32)
DoubleTensor = _legacy_type("DoubleTensor", _dtype.float64)
HalfTensor = _legacy_type("HalfTensor", _dtype.float16)
LongTensor = _legacy_type("LongTensor", _dtype.int64)
IntTensor = _legacy_type("IntTensor", _dtype.int32)
ShortTensor = _legacy_type("ShortTensor", _dtype.int16)
CharTensor = _legacy_type("CharTensor", _dtype.int8)
ByteTensor = _legacy_type("ByteTensor", _dtype.uint8)
BoolTensor = _legacy_type("BoolTensor", _dtype.bool_)

__all__ = [
    "tensor", "as_tensor", "asarray", "from_numpy", "zeros", "ones", "empty", "full", "zeros_like",
    "ones_like", "empty_like", "full_like", "eye", "arange", "linspace", "logspace",
    "scalar_tensor", "FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor",
    "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor",
]
