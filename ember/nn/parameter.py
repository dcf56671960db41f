"""Parameter, Buffer and the uninitialised parameter that lazy modules materialise."""
from __future__ import annotations

from .._backend import xp
from .._creation import _np_dtype
from .._device import check_device
from .._dtype import _names as _dtype_names
from .._dtype import from_numpy_dtype
from .._tensor import Tensor, _make, _new

__all__ = [
    "Buffer",
    "Parameter",
    "UninitializedBuffer",
    "UninitializedParameter",
    "UninitializedTensorMixin",
    "is_lazy",
]


def _init_like(t, cls, data, requires_grad, vc):
    t._data = data
    t._requires_grad = requires_grad
    t._grad_fn = None
    t._output_nr = 0
    t._grad = None
    t._vc = vc
    t._hooks = None
    t._retains_grad = False
    return t


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter (shares ``data``'s storage)."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            return _init_like(_new(cls), cls, xp.empty(0, _np_dtype(None)), bool(requires_grad), [0])
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter() expects a Tensor as data, got {type(data).__name__}")
        if requires_grad and data._data.dtype.kind != "f":
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        # like detach(): same storage, same version counter, no history
        return _init_like(_new(cls), cls, data._data, bool(requires_grad), data._vc)

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(_plain(self._data.copy()), self._requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (type(self), self._data, self._requires_grad))


def _plain(data):
    return _make(data, False, None, 0)


def _rebuild_parameter(cls, data, requires_grad):
    return cls(_plain(data), requires_grad)


class _BufferMeta(type):
    def __instancecheck__(cls, instance) -> bool:
        if cls is Buffer:
            return isinstance(instance, Tensor) and getattr(instance, "_is_buffer", False)
        return super().__instancecheck__(instance)


class Buffer(Tensor, metaclass=_BufferMeta):
    """A Tensor marked as a module buffer: assigning it to a Module attribute registers it."""

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = _plain(xp.empty(0, _np_dtype(None)))
        t = data.detach().requires_grad_(data.requires_grad)
        t.persistent = persistent
        t._is_buffer = True
        return t


class UninitializedTensorMixin:
    """A placeholder whose shape is known only after the first forward call (lazy modules)."""

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Allocate storage of ``shape`` and turn into ``cls_to_become``."""
        if isinstance(shape, int):
            shape = (shape,)
        dt = self._data.dtype if dtype is None else _np_dtype(dtype)
        self._data = xp.empty(tuple(shape), dt)
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error usually "
            "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
            "initialized one. Call `forward` to initialize the parameters before accessing their "
            "attributes.")

    def share_memory_(self):
        raise RuntimeError(
            "Can't share memory on an uninitialized parameter or buffer. Call `forward` to "
            "initialize the parameters before calling `module.share_memory()`.")

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__}>"

    def __reduce_ex__(self, proto):
        return (self.__class__, (self._requires_grad,))


def is_lazy(param) -> bool:
    """Whether ``param`` is an UninitializedParameter or UninitializedBuffer."""
    return isinstance(param, UninitializedTensorMixin)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter without a shape yet; LazyLinear materialises it at the first call."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        check_device(device)
        dt = _np_dtype(dtype)
        return _init_like(_new(cls), cls, xp.empty(0, dt), bool(requires_grad), [0])

    def __init__(self, requires_grad=True, device=None, dtype=None):
        pass

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self._requires_grad, None, from_numpy_dtype(self._data.dtype))
        memo[id(self)] = result
        return result


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer without a shape yet."""

    cls_to_become = Tensor

    def __new__(cls, requires_grad=False, device=None, dtype=None, persistent=True):
        t = _init_like(_new(cls), cls, xp.empty(0, _np_dtype(dtype)), bool(requires_grad), [0])
        t.persistent = persistent
        t._is_buffer = True
        return t

    def __init__(self, *args, **kwargs):
        pass


if _dtype_names["prefix"] == "torch":  # imported under ember.compat: print as torch's class
    Parameter.__module__ = "torch.nn.parameter"
