"""Tensor creation: tensor, as_tensor, from_numpy, zeros/ones/full/empty, ranges, *_like.

``arange``, ``linspace`` and ``logspace`` reproduce PyTorch's CPU kernels value for value
(they are printed in the course material): the arithmetic is done in the kernel's
accumulation type, in the kernel's order, with the fused multiply-adds its compiled code uses.
"""
from __future__ import annotations

import builtins
import math
import warnings

from . import _dtype
from ._backend import xp
from ._device import Size, check_device
from ._dtype import finfo, iinfo
from ._ops._util import shape_arg
from ._tensor import Tensor, _make, register_methods
from ._threads import get_num_threads

_py_float, _py_int, _py_bool = builtins.float, builtins.int, builtins.bool
# this module defines range() (PyTorch's deprecated one): use builtins.range inside it


def _finish(data: xp.ndarray, requires_grad: bool, device=None) -> Tensor:
    if device is not None:
        check_device(device)
    t = _make(data, False, None, 0)
    if requires_grad:
        if data.dtype.kind != "f":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients")
        t._requires_grad = True
    return t


# ---- tensor(), as_tensor(): dtype inference as PyTorch's -----------------------------------------
def _infer_array(data, dtype=None) -> xp.ndarray:
    """Data -> ndarray with PyTorch's dtype inference (Python floats give the default dtype)."""
    if isinstance(data, Tensor):
        arr = data._data
        return arr if dtype is None else arr.astype(_dtype.to_dtype(dtype).np)
    if isinstance(data, xp.ndarray):
        _dtype.from_numpy_dtype(data.dtype)  # rejects object/str/complex arrays clearly
        return data if dtype is None else data.astype(_dtype.to_dtype(dtype).np)
    if isinstance(data, xp.generic):
        arr = xp.asarray(data)
        _dtype.from_numpy_dtype(arr.dtype)
        return arr if dtype is None else arr.astype(_dtype.to_dtype(dtype).np)
    if data is None:
        raise RuntimeError("Could not infer dtype of NoneType")
    if isinstance(data, str):
        raise TypeError("new(): invalid data type 'str'")
    if isinstance(data, (list, tuple)):
        _check_first_leaf(data)
        data, inferred = _unwrap_nested(data)
    elif isinstance(data, (_py_bool, _py_int, _py_float)):
        inferred = _scalar_dtype(type(data))
    else:  # range, pandas objects, anything NumPy can convert
        try:
            data = xp.asarray(data)
        except Exception:  # noqa: BLE001 - report it as PyTorch does
            raise RuntimeError(f"Could not infer dtype of {type(data).__name__}") from None
        if data.dtype == object:
            raise RuntimeError(f"Could not infer dtype of {type(data).__name__}")
        return _infer_array(data, dtype)
    target = _dtype.to_dtype(dtype) if dtype is not None else inferred
    try:
        try:
            arr = xp.asarray(data) if target is None else xp.array(data, dtype=target.np)
        except RuntimeWarning:  # 1e40 -> inf in float32 under warnings-as-errors: as PyTorch
            with xp.errstate(all="ignore"):
                arr = xp.asarray(data) if target is None else xp.array(data, dtype=target.np)
    except (ValueError, TypeError) as exc:
        if isinstance(data, (list, tuple)):
            _raise_ragged(data)
        raise ValueError(f"could not convert {type(data).__name__} to a tensor: {exc}") from None
    except OverflowError:
        arr = _checked_int_cast(data, target)
    if arr.dtype == object:
        _raise_ragged(data)
    if target is None:  # an empty list: the default dtype
        arr = arr.astype(_dtype.get_default_dtype().np)
    return arr


def _checked_int_cast(data, target):
    """Python numbers outside a small integer dtype: PyTorch's checked conversion.

    NumPy refuses them all; PyTorch (c10::checked_convert) wraps a negative integer into an
    unsigned type when its magnitude fits (-1 -> 255 for uint8) and raises otherwise.
    """
    try:
        wide = xp.array(data)  # int64 or float64; beyond int64 NumPy gives object or raises
    except OverflowError:
        wide = None
    if (wide is None or wide.dtype.kind not in "if" or target is None
            or target.np.kind not in "iu"):  # a Python int beyond int64: PyTorch's error
        raise ValueError("Overflow when unpacking long long") from None
    info = xp.iinfo(target.np)
    with xp.errstate(all="ignore"):
        ok = (wide >= info.min) & (wide <= info.max)
        if info.min == 0 and wide.dtype.kind in "iu":
            ok |= (wide < 0) & (-wide <= info.max)
    if not ok.all():
        raise RuntimeError(f"value cannot be converted to type {target.np.name} without overflow")
    return wide.astype(target.np)


def _scalar_dtype(tp):
    if tp is _py_bool:
        return _dtype.bool_
    if tp is _py_int:
        return _dtype.int64
    if tp is _py_float:
        return _dtype.get_default_dtype()
    if issubclass(tp, xp.generic):
        return _dtype.from_numpy_dtype(xp.dtype(tp))
    if issubclass(tp, str):
        raise TypeError("new(): invalid data type 'str'")
    if tp is type(None):
        raise RuntimeError("Could not infer dtype of NoneType")
    if issubclass(tp, (_py_int,)):
        return _dtype.int64
    if issubclass(tp, (_py_float,)):
        return _dtype.get_default_dtype()
    raise RuntimeError(f"Could not infer dtype of {tp.__name__}")


def _check_first_leaf(data):
    # PyTorch sizes a nested list along its first elements; a string there reads as one more
    # (character) dimension, so it is a ValueError, where a string met later is a TypeError
    while isinstance(data, (list, tuple)) and len(data):
        data = data[0]
    if isinstance(data, str):
        raise ValueError("too many dimensions 'str'")


def _unwrap_nested(data):
    """Replace Tensors by arrays; return the data and the promoted dtype of all its leaves.

    Each leaf's dtype is its type's (numpy scalars and arrays keep theirs, Python ints are
    int64, floats the default dtype), and PyTorch's promotion combines them. Leaves of the
    same type are seen once per list (map(type, ...) runs at C speed).
    """
    dt = None
    has_seq = has_special = False
    for tp in set(map(type, data)):
        if tp is list or tp is tuple:
            has_seq = True
        elif issubclass(tp, (Tensor, xp.ndarray)) or (
                not issubclass(tp, xp.generic) and issubclass(tp, (list, tuple))):
            has_special = True
        else:
            d = _scalar_dtype(tp)
            dt = d if dt is None else _dtype.promote_types(dt, d)
    if not has_seq and not has_special:
        return data, dt
    out = []
    for x in data:
        if isinstance(x, Tensor):
            d = x.dtype
            x = x._data
        elif isinstance(x, xp.ndarray):
            d = _dtype.from_numpy_dtype(x.dtype)
        elif isinstance(x, (list, tuple)):
            x, d = _unwrap_nested(x)
        else:
            d = None
        if d is not None:
            dt = d if dt is None else _dtype.promote_types(dt, d)
        out.append(x)
    return out, dt


def _raise_ragged(data):
    """PyTorch's message for lists that do not form a rectangular array."""
    level, dim = [data], 0
    while True:
        first = level[0]
        seqs = [isinstance(x, (list, tuple, xp.ndarray, Tensor)) for x in level]
        if any(seqs) and not all(seqs):
            if seqs[0]:
                raise TypeError("not a sequence")
            bad = level[seqs.index(True)]
            raise TypeError(f"'{type(bad).__name__}' object cannot be interpreted as an integer")
        if not seqs[0]:
            raise ValueError("could not convert the data to a tensor")
        n = len(first)
        for x in level[1:]:
            if len(x) != n:
                raise ValueError(f"expected sequence of length {n} at dim {dim} (got {len(x)})")
        level = [y for x in level for y in x]
        dim += 1
        if not level:
            raise ValueError("could not convert the data to a tensor")


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """Copy data into a new tensor (dtype inferred as PyTorch does)."""
    if isinstance(data, Tensor):
        warnings.warn(
            "To copy construct from a tensor, it is recommended to use sourceTensor.clone().detach() "
            "or sourceTensor.clone().detach().requires_grad_(True), rather than "
            "torch.tensor(sourceTensor).", UserWarning, stacklevel=2)
    arr = _infer_array(data, dtype)
    src = data._data if isinstance(data, Tensor) else data
    if arr is src or not arr.flags.owndata or not arr.flags.writeable:
        arr = arr.copy()  # never share memory with the source (views of pandas data included)
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


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False) -> Tensor:
    """torch.asarray: shares memory when possible unless ``copy=True``."""
    if device is not None:
        check_device(device)
    if isinstance(obj, Tensor) and (dtype is None or _dtype.to_dtype(dtype) is obj.dtype):
        t = obj
        if copy:
            t = _make(obj._data.copy(), False, None, 0)
        if requires_grad:
            t = t.detach() if t is obj else t
            t.requires_grad_(True)
        return t
    arr = _infer_array(obj, dtype)
    shared = isinstance(obj, (xp.ndarray, Tensor)) and xp.shares_memory(
        arr, obj._data if isinstance(obj, Tensor) else obj)
    if copy is False and not shared:
        raise ValueError("can't alias the given data: a copy is needed (dtype conversion or "
                         "Python data)")
    if copy and shared:
        arr = arr.copy()
    return _finish(arr, requires_grad)


def from_numpy(ndarray: xp.ndarray) -> Tensor:
    """A tensor sharing memory with ``ndarray`` (writes to one show in the other)."""
    if not isinstance(ndarray, xp.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dtype.from_numpy_dtype(ndarray.dtype)
    if not ndarray.flags.writeable:
        warnings.warn(
            "The given NumPy array is not writable, and PyTorch does not support non-writable "
            "tensors. This means writing to this tensor will result in undefined behavior.",
            UserWarning, stacklevel=2)
    return _make(ndarray, False, None, 0)


def _np_dtype(dtype, default=None) -> xp.dtype:
    if dtype is None:
        return (default or _dtype.get_default_dtype()).np
    return _dtype.to_dtype(dtype).np


# ---- filled tensors -------------------------------------------------------------------------------
def _size_of(name, size, kw):
    """The shape from f(2, 3), f((2, 3)), f([2, 3]), f(Size) or f(size=(2, 3))."""
    if kw:
        if "size" in kw:
            if size:
                raise TypeError(f"{name}() got multiple values for argument 'size'")
            size = (kw.pop("size"),)
        if kw:
            raise TypeError(f"{name}() got an unexpected keyword argument '{next(iter(kw))}'")
    shape = shape_arg(size)
    for s in shape:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: "
                               f"{list(shape)}")
    return shape


def _filled(fill, shape, dtype, requires_grad, device, out):
    dt = _np_dtype(dtype)
    data = xp.empty(shape, dt) if fill is None else xp.full(shape, fill, dt)
    if out is not None:
        out._data = data if out._data.dtype == dt else data.astype(out._data.dtype)
        out._vc[0] += 1
        return out
    return _finish(data, requires_grad, device)


def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False, **kw) -> Tensor:
    """A tensor of zeros: zeros(2, 3), zeros((2, 3)), zeros(size=(2, 3))."""
    return _filled(0, _size_of("zeros", size, kw), dtype, requires_grad, device, out)


def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
         pin_memory=False, **kw) -> Tensor:
    """A tensor of ones."""
    return _filled(1, _size_of("ones", size, kw), dtype, requires_grad, device, out)


def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
          pin_memory=False, memory_format=None, **kw) -> Tensor:
    """An uninitialised tensor."""
    return _filled(None, _size_of("empty", size, kw), dtype, requires_grad, device, out)


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad=False) -> Tensor:
    """A tensor filled with ``fill_value`` (its dtype inferred from the value)."""
    if isinstance(size, (_py_int, xp.integer)):
        raise TypeError(f"full(): argument 'size' (position 1) must be tuple of ints, not "
                        f"{type(size).__name__}")
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if dtype is None:
        dtype = (_dtype.bool_ if isinstance(fill_value, (_py_bool, xp.bool_)) else
                 _dtype.int64 if isinstance(fill_value, (_py_int, xp.integer)) else None)
    return _filled(fill_value, _size_of("full", (size,), None), dtype, requires_grad, device,
                   out)


def _like(fill, name):
    def fn(input, *, dtype=None, layout=None, device=None, requires_grad=False,
           memory_format=None, pin_memory=False):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                            f"{type(input).__name__}")
        dt = input._data.dtype if dtype is None else _dtype.to_dtype(dtype).np
        shape = input._data.shape
        data = xp.empty(shape, dt) if fill is None else xp.full(shape, fill, dt)
        return _finish(data, requires_grad, device)

    fn.__name__ = name
    fn.__doc__ = f"Like {name[:-5]}(), with input's shape (and dtype unless given)."
    return fn


zeros_like = _like(0, "zeros_like")
ones_like = _like(1, "ones_like")
empty_like = _like(None, "empty_like")


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None) -> Tensor:
    """A tensor of input's shape (and dtype unless given) filled with ``fill_value``."""
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dt = input._data.dtype if dtype is None else _dtype.to_dtype(dtype).np
    return _finish(xp.full(input._data.shape, fill_value, dt), requires_grad, device)


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None,
        requires_grad=False) -> Tensor:
    """The identity matrix, n x n or n x m."""
    if n < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    if m is not None and m < 0:
        raise RuntimeError(f"m must be greater or equal to 0, got {m}")
    data = xp.eye(n, n if m is None else m, dtype=_np_dtype(dtype))
    if out is not None:
        out._data = data.astype(out._data.dtype, copy=False)
        out._vc[0] += 1
        return out
    return _finish(data, requires_grad, device)


def scalar_tensor(s, *, dtype=None, layout=None, device=None, requires_grad=False,
                  pin_memory=False) -> Tensor:
    """A 0-dim tensor holding ``s`` (default dtype unless given)."""
    return _finish(xp.asarray(s, _np_dtype(dtype)), requires_grad, device)


# ---- ranges: PyTorch's CPU kernels, value for value ----------------------------------------------
_GRAIN = 32768  # at::internal::GRAIN_SIZE: ranges longer than this are split across threads
_VEC_BYTES = 32  # the vector width of the arange kernel in PyTorch's x86 builds


def _two_prod(a, b):
    """a * b = p + e exactly (Dekker), for float64 arrays."""
    p = a * b
    t = a * 134217729.0
    ah = t - (t - a)
    al = a - ah
    t = b * 134217729.0
    bh = t - (t - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _fma(a, b, c, acc):
    """a * b + c with one rounding, as the fused multiply-add PyTorch's compiled loops use."""
    if acc == xp.float64:
        p, e = _two_prod(a, b)
        s = p + c
        z = s - p
        return s + (((p - (s - z)) + (c - z)) + e)
    # float32: the product is exact in float64; the sum's double rounding is negligible
    return (a.astype(xp.float64) * b.astype(xp.float64) + xp.float64(c)).astype(xp.float32)


def _chunks(n):
    """How at::parallel_for splits [0, n) among the threads."""
    if n < _GRAIN:
        return [(0, n)]
    nt = min(get_num_threads(), -(-n // _GRAIN))
    if nt <= 1:
        return [(0, n)]
    size = -(-n // nt)
    return [(b, min(n, b + size)) for b in builtins.range(0, n, size)]


def _num(x):
    return x.item() if isinstance(x, (Tensor, xp.generic)) else x


def _arange_values(start, step, n, dt):
    """start + step * i as PyTorch's vectorised arange kernel computes it."""
    acc = xp.float32 if dt == xp.float16 else xp.float64
    s, st = acc(start), acc(step)
    out = xp.empty(n, dt)
    vec = _VEC_BYTES // dt.itemsize
    for b, e in _chunks(n):
        m = e - b
        nvec = (m // (2 * vec)) * 2 * vec  # two vectors per iteration, the rest scalar
        i = xp.arange(b, b + nvec)
        k = (i - b) % vec
        base = _fma(xp.full(nvec, st, acc), (i - k).astype(acc), s, acc).astype(dt).astype(acc)
        out[b:b + nvec] = _fma(k.astype(acc), xp.full(nvec, st, acc), base, acc).astype(dt)
        i = xp.arange(b + nvec, e).astype(acc)
        out[b + nvec:e] = _fma(xp.full(e - b - nvec, st, acc), i, s, acc).astype(dt)
    return out


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad=False) -> Tensor:
    """Values from start (inclusive) to end (exclusive) by step; PyTorch's exact values."""
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    is_float = any(isinstance(v, _py_float) for v in (start, end, step))
    dt = _np_dtype(dtype, None if is_float else _dtype.int64)
    if dt.kind == "b":
        raise NotImplementedError("\"arange_cpu\" not implemented for 'Bool'")
    if not all(math.isfinite(v) for v in (start, end)):
        raise RuntimeError(f"unsupported range: {start} -> {end}")
    if dt.kind == "f":
        if step == 0:
            raise RuntimeError("step must be nonzero")
        n = math.ceil((end - start) / step)
    else:
        xs, xe, xst = _py_int(start), _py_int(end), _py_int(step)
        if xst == 0:
            raise RuntimeError("step must be nonzero")
        if dt == xp.int64:
            sgn = (xst > 0) - (xst < 0)
            num = xe - xs + xst - sgn
            n = abs(num) // abs(xst) * (1 if (num >= 0) == (xst > 0) else -1)
        else:
            n = math.ceil((end - start) / step)
    if (end - start) * step < 0 and n != 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    n = max(n, 0)
    if dt.kind == "f":
        data = _arange_values(start, step, n, dt)
    else:
        data = (_py_int(start) + _py_int(step) * xp.arange(n, dtype=xp.int64)).astype(dt)
    if out is not None:
        out._data = data.astype(out._data.dtype, copy=False)
        out._vc[0] += 1
        return out
    return _finish(data, requires_grad, device)


def range(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
          requires_grad=False) -> Tensor:
    """Deprecated: like arange, but includes ``end``."""
    warnings.warn("torch.range is deprecated and will be removed in a future release because its "
                  "behavior is inconsistent with Python's range builtin. Instead, use "
                  "torch.arange, which produces values in [start, end).", UserWarning,
                  stacklevel=2)
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    dt = _np_dtype(dtype)
    n = _py_int(math.floor((end - start) / step)) + 1
    acc = xp.float32 if dt == xp.float16 else xp.float64
    i = xp.arange(max(n, 0)).astype(acc)
    data = _fma(xp.full(i.size, acc(step), acc), i, acc(start), acc).astype(dt)
    return _finish(data, requires_grad, device)


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from start to end; PyTorch's exact values."""
    start, end = _num(start), _num(end)
    if not isinstance(steps, (_py_int, xp.integer)) or isinstance(steps, _py_bool):
        raise TypeError(f"linspace(): argument 'steps' must be int, not {type(steps).__name__}")
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = _np_dtype(dtype)
    data = _linspace_values(start, end, _py_int(steps), dt)
    if out is not None:
        out._data = data.astype(out._data.dtype, copy=False)
        out._vc[0] += 1
        return out
    return _finish(data, requires_grad, device)


def _linspace_values(start, end, steps, dt):
    if steps == 0:
        return xp.empty(0, dt)
    if steps == 1:
        return xp.full(1, start, dt)
    half = steps // 2
    idx = xp.arange(steps)
    if dt == xp.float16:
        # c10::Half arithmetic: every operation rounds to half (NumPy's float16 does the same)
        h = xp.float16
        s, e = h(start), h(end)
        step = (e - s) / h(steps - 1)
        lo = s + step * idx[:half].astype(h)
        hi = e - step * (steps - idx[half:] - 1).astype(h)
        return xp.concatenate([lo, hi]).astype(h)
    if dt.kind == "f":  # the step and the sums in the dtype itself, with fused multiply-adds
        acc = dt.type
        s, e = acc(start), acc(end)
    else:  # integers: the ends converted to the dtype, the step and sums in double
        acc = xp.float64
        s, e = acc(dt.type(_py_int(start))), acc(dt.type(_py_int(end)))
    step = (e - s) / acc(steps - 1)
    lo = _fma(xp.full(half, step, acc), idx[:half].astype(acc), s, acc)
    hi = _fma(xp.full(steps - half, -step, acc), (steps - idx[half:] - 1).astype(acc), e, acc)
    vals = xp.concatenate([lo, hi])
    return vals.astype(dt) if dt.kind == "f" else xp.trunc(vals).astype(dt)


def logspace(start, end, steps, base=10.0, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False) -> Tensor:
    """base ** linspace(start, end, steps); PyTorch's exact exponents, pow to within an ulp."""
    start, end = _num(start), _num(end)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = _np_dtype(dtype)
    base = _py_float(base)
    if steps == 0:
        data = xp.empty(0, dt)
    elif steps == 1:
        data = xp.full(1, base ** _py_float(start)).astype(dt)
    else:
        # PyTorch: the ends in the dtype, the step and exponents in double (no FMA here), then
        # pow in double; pow through long double rounds like the C library's almost always
        if dt.kind == "f":
            s, e = dt.type(start), dt.type(end)
            span = xp.float64(dt.type(e - s))
        else:
            s, e = dt.type(_py_int(start)), dt.type(_py_int(end))
            span = xp.float64(e) - xp.float64(s)
        step = span / (steps - 1)
        half = steps // 2
        idx = xp.arange(steps)
        exps = xp.concatenate([xp.float64(s) + step * idx[:half].astype(xp.float64),
                               xp.float64(e) - step * (steps - idx[half:] - 1).astype(xp.float64)])
        vals = xp.power(xp.longdouble(base), exps.astype(xp.longdouble)).astype(xp.float64)
        data = vals.astype(dt) if dt.kind == "f" else xp.trunc(vals).astype(dt)
    if out is not None:
        out._data = data.astype(out._data.dtype, copy=False)
        out._vc[0] += 1
        return out
    return _finish(data, requires_grad, device)


# ---- Tensor.new_* --------------------------------------------------------------------------------
def _new_dtype(self, dtype):
    return self._data.dtype if dtype is None else _dtype.to_dtype(dtype).np


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False, layout=None,
               pin_memory=False) -> Tensor:
    """A new tensor from data, with this tensor's dtype unless given."""
    if isinstance(data, Tensor):
        warnings.warn(
            "To copy construct from a tensor, it is recommended to use sourceTensor.clone().detach() "
            "or sourceTensor.clone().detach().requires_grad_(True), rather than "
            "tensor.new_tensor(sourceTensor).", UserWarning, stacklevel=2)
    arr = xp.array(_infer_array(data), dtype=_new_dtype(self, dtype))
    return _finish(arr, requires_grad, device)


def _new_filled(fill, name):
    def method(self, *size, dtype=None, device=None, requires_grad=False, layout=None,
               pin_memory=False, **kw):
        shape = _size_of(name, size, kw)
        dt = _new_dtype(self, dtype)
        data = xp.empty(shape, dt) if fill is None else xp.full(shape, fill, dt)
        return _finish(data, requires_grad, device)

    method.__name__ = name
    return method


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False,
             layout=None, pin_memory=False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``, with this tensor's dtype unless given."""
    return _finish(xp.full(_size_of("new_full", (size,), None), fill_value,
                           _new_dtype(self, dtype)), requires_grad, device)


register_methods(new_tensor=new_tensor, new_zeros=_new_filled(0, "new_zeros"),
                 new_ones=_new_filled(1, "new_ones"), new_empty=_new_filled(None, "new_empty"),
                 new_full=new_full)


# ---- legacy typed constructors: torch.FloatTensor(...) etc. ---------------------------------------
def _legacy_new(cls, dt, args, kwargs):
    check_device(kwargs.pop("device", None))
    if kwargs:
        raise TypeError(f"new() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if not args:
        data = xp.empty((0,), dt.np)
    elif len(args) == 1 and isinstance(args[0], Size):
        data = xp.empty(tuple(args[0]), dt.np)
    elif len(args) == 1 and not isinstance(args[0], (_py_int, xp.integer)):
        src = args[0]
        if isinstance(src, Tensor):
            data = src._data if src._data.dtype == dt.np else src._data.astype(dt.np)
        else:
            data = xp.array(_infer_array(src), dtype=dt.np)
    else:
        data = xp.empty(shape_arg(args), dt.np)
    t = object.__new__(Tensor if cls is None else cls)
    t._data, t._requires_grad, t._grad_fn, t._vc = data, False, None, [0]
    return t


def _tensor_new(cls, *args, **kwargs):
    """Tensor(2, 3) (uninitialised), Tensor([1, 2]), Tensor(ndarray): the legacy constructor."""
    return _legacy_new(cls, _dtype.get_default_dtype(), args, kwargs)


Tensor.__new__ = staticmethod(_tensor_new)


class _LegacyMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj._data.dtype == cls.dtype.np

    def __repr__(cls):
        return f"<class '{_dtype._names['prefix']}.{cls.__name__}'>"


def _legacy_type(name, dt):
    def __new__(cls, *args, **kwargs):
        return _legacy_new(None, dt, args, kwargs)

    return _LegacyMeta(name, (), {"__new__": __new__, "dtype": dt, "_legacy_dtype": dt,
                                  "__module__": "ember",
                                  "__doc__": f"Legacy constructor of {dt.name} tensors."})


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
    "BoolTensor",
    "ByteTensor",
    "CharTensor",
    "DoubleTensor",
    "FloatTensor",
    "HalfTensor",
    "IntTensor",
    "LongTensor",
    "ShortTensor",
    "arange",
    "as_tensor",
    "asarray",
    "empty",
    "empty_like",
    "eye",
    "finfo",
    "from_numpy",
    "full",
    "full_like",
    "iinfo",
    "linspace",
    "logspace",
    "ones",
    "ones_like",
    "range",
    "scalar_tensor",
    "tensor",
    "zeros",
    "zeros_like",
]


def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad=False,
                  pin_memory=False) -> Tensor:
    """An uninitialised contiguous tensor of ``size`` (ember does not honour ``stride``)."""
    return empty(tuple(size), dtype=dtype, device=device, requires_grad=requires_grad)


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0,
               requires_grad: bool = False) -> Tensor:
    """A 1-D tensor over ``buffer``'s bytes (shared when the buffer is writable)."""
    arr = xp.frombuffer(buffer, dtype=_dtype.to_dtype(dtype).np, count=count, offset=offset)
    if not arr.flags.writeable:
        warnings.warn("The given buffer is not writable, and PyTorch does not support "
                      "non-writable tensors. This means you can write to the underlying "
                      "(supposedly non-writable) buffer using the tensor. You may want to copy "
                      "the buffer to protect its data or make it writable before converting it "
                      "to a tensor. This type of warning will be suppressed for the rest of this "
                      "program.", UserWarning, stacklevel=2)
        arr = arr.copy()  # NumPy refuses writes to a read-only view; ember copies instead
    t = from_numpy(arr)
    return t.requires_grad_() if requires_grad else t


__all__ += ["empty_strided", "frombuffer"]
