"""dtypes, the default float dtype, and PyTorch's type-promotion rules."""
from __future__ import annotations

from ._backend import xp

# Reprs say `ember.float32`; compat.install() switches the prefix to `torch` so that
# unmodified PyTorch scripts print exactly what they print on PyTorch.
_names = {"prefix": "ember"}


class dtype:
    """A tensor element type; a thin, hashable wrapper over a NumPy dtype."""

    __slots__ = ("_category", "is_floating_point", "is_signed", "itemsize", "name", "np")

    def __init__(self, name: str, np_dtype, category: int):
        self.name = name
        self.np = xp.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.is_signed = name not in ("uint8", "bool")
        self.itemsize = self.np.itemsize
        self._category = category  # 0 bool, 1 integer, 2 floating

    @property
    def is_complex(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"{_names['prefix']}.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))

    def to_real(self):
        return self


bool_ = dtype("bool", xp.bool_, 0)
uint8 = dtype("uint8", xp.uint8, 1)
int8 = dtype("int8", xp.int8, 1)
int16 = dtype("int16", xp.int16, 1)
int32 = dtype("int32", xp.int32, 1)
int64 = dtype("int64", xp.int64, 1)
float16 = dtype("float16", xp.float16, 2)
float32 = dtype("float32", xp.float32, 2)
float64 = dtype("float64", xp.float64, 2)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_BY_NAME = {d.name: d for d in ALL}
# PyTorch's aliases
half, float, double = float16, float32, float64
short, int, long = int16, int32, int64
_BY_NAME.update(half=half, float=float, double=double, short=short, int=int, long=long)

NP_TO_DTYPE = {d.np: d for d in ALL}


def _by_name(name: str) -> dtype:
    return _BY_NAME[name]


def from_numpy_dtype(np_dtype) -> dtype:
    """The ember dtype of a NumPy dtype; TypeError for types ember has no tensor type for."""
    try:
        return NP_TO_DTYPE[np_dtype]
    except KeyError:
        pass
    try:
        return NP_TO_DTYPE[xp.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(
            f"can't convert np.ndarray of type {xp.dtype(np_dtype)}. The only supported types are: "
            "float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        ) from None


def to_dtype(d) -> dtype:
    """Accept an ember dtype, a NumPy dtype/type, a Python type or a name."""
    if d.__class__ is dtype:
        return d
    if d is None:
        return _default[0]
    if isinstance(d, str):
        name = d.split(".")[-1]
        if name in _BY_NAME:
            return _BY_NAME[name]
        raise TypeError(f"invalid dtype: {d!r}")
    if d is _builtin_float:
        return float64
    if d is _builtin_int:
        return int64
    if d is _builtin_bool:
        return bool_
    return from_numpy_dtype(d)


import builtins as _b

_builtin_float, _builtin_int, _builtin_bool = _b.float, _b.int, _b.bool

# --- the default floating dtype --------------------------------------------------------------
_default = [float32]


def get_default_dtype() -> dtype:
    """The dtype Python floats and float-valued factories get (float32 unless set)."""
    return _default[0]


def set_default_dtype(d) -> None:
    """Set the default floating dtype (float16, float32 or float64)."""
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default[0] = d


# --- promotion -------------------------------------------------------------------------------
def promote_types(a: dtype, b: dtype) -> dtype:
    """torch.promote_types: like NumPy's, except a float always wins over an integer as is."""
    if a is b:
        return a
    if a._category != b._category:
        if a._category == 2:
            return a
        if b._category == 2:
            return b
        if a is bool_:
            return b
        if b is bool_:
            return a
    return NP_TO_DTYPE[xp.promote_types(a.np, b.np)]


def _category_of_scalar(x) -> int:
    if x.__class__ is _builtin_bool or isinstance(x, xp.bool_):
        return 0
    if isinstance(x, (_builtin_int, xp.integer)):
        return 1
    return 2


def _scalar_dtype(x) -> dtype:
    c = _category_of_scalar(x)
    return bool_ if c == 0 else int64 if c == 1 else _default[0]


def _combine(higher: dtype | None, lower: dtype | None) -> dtype | None:
    # c10's combine_categories: a lower-priority operand only matters when it is of a
    # higher category (bool < integer < floating) than the higher-priority one.
    if higher is None:
        return lower
    if lower is None or higher._category == 2:
        return higher
    if higher is bool_ or lower._category == 2:
        return promote_types(higher, lower)
    return higher


def result_type(*operands) -> dtype:
    """PyTorch's result type: dimensioned tensors > zero-dim tensors > Python numbers."""
    from ._tensor import Tensor  # in here: _tensor imports this module

    dim = zero = wrapped = None
    for x in operands:
        if isinstance(x, Tensor):
            d = x.dtype
            if x._data.ndim:
                dim = d if dim is None else promote_types(dim, d)
            else:
                zero = d if zero is None else promote_types(zero, d)
        elif isinstance(x, xp.ndarray):
            d = from_numpy_dtype(x.dtype)
            if x.ndim:
                dim = d if dim is None else promote_types(dim, d)
            else:
                zero = d if zero is None else promote_types(zero, d)
        elif isinstance(x, dtype):
            dim = x if dim is None else promote_types(dim, x)
        else:
            d = _scalar_dtype(x)
            wrapped = d if wrapped is None else promote_types(wrapped, d)
    return _combine(dim, _combine(zero, wrapped))


def can_cast(from_: dtype, to: dtype) -> bool:
    """torch.can_cast: same-kind casting (no float -> int, no int -> bool)."""
    return from_._category <= to._category


class finfo:
    """Machine limits of a floating dtype: eps, max, min, tiny, resolution, bits."""

    def __init__(self, type=None):
        d = to_dtype(type)
        if not d.is_floating_point:
            raise TypeError(f"torch.finfo() requires a floating point input type. Use "
                            f"torch.iinfo to handle '{d}'")
        info = xp.finfo(d.np)
        self.dtype = d.name
        self.bits = info.bits
        self.eps = _builtin_float(info.eps)
        self.max = _builtin_float(info.max)
        self.min = _builtin_float(info.min)
        self.tiny = self.smallest_normal = _builtin_float(info.tiny)
        self.resolution = 10.0 ** -_builtin_int(info.precision)

    def __repr__(self):
        return (f"finfo(resolution={self.resolution}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.tiny:g}, tiny={self.tiny:g}, "
                f"dtype={self.dtype})")


class iinfo:
    """Machine limits of an integer dtype: min, max, bits."""

    def __init__(self, type):
        d = to_dtype(type)
        if d._category != 1:
            raise TypeError(f"torch.iinfo() requires an integer input type. Use torch.finfo to "
                            f"handle '{d}'")
        info = xp.iinfo(d.np)
        self.dtype = d.name
        self.bits = info.bits
        self.min = _builtin_int(info.min)
        self.max = _builtin_int(info.max)

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}
# The C++ names PyTorch's messages use for element types.
_CPP_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half",
              "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
              "uint8": "unsigned char", "bool": "bool"}


def type_name(np_dtype) -> str:
    """PyTorch's legacy type name of a dtype, e.g. ``torch.FloatTensor`` (prefix per repr)."""
    return f"{_names['prefix']}.{_TYPE_NAMES.get(xp.dtype(np_dtype).name, 'Tensor')}"
