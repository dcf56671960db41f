"""Tensor's Python and NumPy protocols: conversions out of ember (numpy, item, tolist,
float(t)...), NumPy's dispatch hooks, printing, pickling and copying, iteration, and the
device and memory-layout queries PyTorch code asks (``is_cuda``, ``stride``, ``data_ptr``).

None of it is autograd: ``ember/_tensor.py`` keeps the state and the autograd-facing methods,
and this family adds the rest to Tensor, as the other op families add their ops.
"""
from __future__ import annotations

import copy
import warnings

from .._backend import xp
from .._device import CPU, check_device
from .._grad_mode import _state as _grad_state
from .._tensor import ARRAY_FUNCTIONS, UFUNCS, Tensor, _make, _rebuild, _wrap_dim
from .._tensor_str import _str

_float_warned = False


def _warn_float_once():
    # PyTorch's TORCH_WARN_ONCE: float(t) of a tensor that requires grad, once per process
    global _float_warned
    _float_warned = True
    warnings.warn("Converting a tensor with requires_grad=True to a scalar may lead to unexpected "
                  "behavior.\nConsider using tensor.detach() first.", UserWarning, stacklevel=3)


# Entries of a Tensor's __dict__ that are autograd state, not user attributes.
_INTERNAL = frozenset(("_grad", "_output_nr", "_hooks", "_post_acc_hooks", "_retains_grad",
                       "_acc", "_base"))


def _user_state(t) -> dict:
    d = t.__dict__
    if not d:
        return {}
    return {k: v for k, v in d.items() if k not in _INTERNAL}


def _needs_graph(values) -> bool:
    if not _grad_state[0]:
        return False
    for v in values:
        if isinstance(v, Tensor) and v._requires_grad:
            return True
        if isinstance(v, (list, tuple)) and _needs_graph(v):
            return True
    return False


def _unwrap(v):
    if isinstance(v, Tensor):
        return v._data
    if isinstance(v, (list, tuple)):
        return type(v)(_unwrap(x) for x in v)
    return v


class _Protocols:
    """Methods copied onto Tensor below (a class body keeps them readable as methods)."""

    @property
    def device(self):
        """Always the CPU."""
        return CPU

    is_cpu = property(lambda self: True, doc="True: ember computes on the CPU.")
    is_cuda = is_mps = is_xpu = is_meta = is_sparse = is_quantized = property(
        lambda self: False, doc="False: ember computes on the CPU, on dense strided arrays.")

    layout = property(lambda self: "torch.strided")
    itemsize = property(lambda self: self._data.itemsize, doc="Bytes per element.")
    nbytes = property(lambda self: self._data.nbytes, doc="Bytes of all elements.")

    @property
    def T(self) -> Tensor:
        """The tensor with its dimensions reversed."""
        nd = self._data.ndim
        if nd > 2:
            warnings.warn(
                "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
                "deprecated and it will throw an error in a future release. Consider `x.mT` to "
                "transpose batches of matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` "
                "to reverse the dimensions of a tensor.", UserWarning, stacklevel=2)
        return self.permute(*range(nd - 1, -1, -1)) if nd >= 2 else self

    @property
    def mT(self) -> Tensor:
        """The last two dimensions transposed."""
        if self._data.ndim < 2:
            raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. "
                               f"Got {self._data.ndim}-D tensor.")
        return self.transpose(-2, -1)

    @property
    def H(self) -> Tensor:
        """The conjugate transpose (the transpose: ember has no complex tensors)."""
        return self.T

    def element_size(self) -> int:
        """Bytes per element."""
        return self._data.itemsize

    def stride(self, dim=None):
        """Elements to step in each dimension (or in ``dim``)."""
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_wrap_dim(dim, self._data.ndim)]

    def is_contiguous(self, memory_format=None) -> bool:
        """Whether the elements are laid out in row-major order without gaps."""
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self) -> int:
        """The address of the first element."""
        return self._data.__array_interface__["data"][0]

    def storage_offset(self) -> int:
        """The offset of the first element in its base array, in elements."""
        base = self._data
        while isinstance(base.base, xp.ndarray):
            base = base.base
        return (self.data_ptr() - base.__array_interface__["data"][0]) // self._data.itemsize

    def is_floating_point(self) -> bool:
        """Whether the dtype is a floating type."""
        return self._data.dtype.kind == "f"

    def is_complex(self) -> bool:
        """False: ember has no complex tensors."""
        return False

    def is_signed(self) -> bool:
        """Whether the dtype is signed."""
        return self._data.dtype.kind in "if"

    def is_inference(self) -> bool:
        return False

    def get_device(self) -> int:
        return -1

    def numpy(self, *, force: bool = False) -> xp.ndarray:
        """The underlying ndarray (shares memory)."""
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.item()

    def tolist(self):
        """The values as (nested) Python lists of numbers."""
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        if self._requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        a = self._data
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = UFUNCS.get(ufunc)
        if fn is not None and method == "__call__" and not kwargs:
            return fn(*inputs)
        if _needs_graph(inputs):
            return NotImplemented  # never silently drop the graph
        raw = [i._data if isinstance(i, Tensor) else i for i in inputs]
        out = kwargs.get("out")
        if out is not None:
            if _needs_graph(out):
                return NotImplemented
            kwargs["out"] = tuple(o._data if isinstance(o, Tensor) else o for o in out)
        res = getattr(ufunc, method)(*raw, **kwargs)
        if out is not None:
            for o in out:
                if isinstance(o, Tensor):
                    o._vc[0] += 1  # written in place
            return out[0] if len(out) == 1 else out
        if isinstance(res, xp.ndarray):
            return _make(res, False, None, 0)
        return res

    def __array_function__(self, func, types, args, kwargs):
        fn = ARRAY_FUNCTIONS.get(func)
        if fn is not None:
            return fn(*args, **kwargs)
        if _needs_graph(args) or _needs_graph(kwargs.values()):
            return NotImplemented
        return func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})

    def __repr__(self, *, tensor_contents=None):
        return _str(self, tensor_contents=tensor_contents)

    def __format__(self, spec):
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        if spec:
            raise TypeError(f"unsupported format string passed to {type(self).__name__}.__format__")
        return repr(self)

    def __bool__(self):
        n = self._data.size
        if n != 1:
            if n == 0:
                raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.item())

    def __float__(self):
        self._check_scalar()
        if self._requires_grad and not _float_warned:
            _warn_float_once()
        return float(self._data.item())

    def __int__(self):
        self._check_scalar()
        return int(self._data.item())

    def __complex__(self):
        self._check_scalar()
        return complex(self._data.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._data.item())

    def _check_scalar(self):
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        if self._requires_grad and _grad_state[0]:
            return iter(self.unbind(0))  # rows stay connected to the graph (w, b = params)
        # Views of the rows (a[i, ...] is a 0-d array, not a NumPy scalar, for 1-d tensors),
        # sharing the version counter as views do.
        a, vc = self._data, self._vc
        rows = []
        for i in range(a.shape[0]):
            r = _make(a[i, ...], False, None, 0)
            r._vc = vc
            rows.append(r)
        return iter(rows)

    def __contains__(self, element):
        if isinstance(element, (Tensor, int, float, bool)):
            return bool((self == element).any())
        raise RuntimeError("Tensor.__contains__ only supports Tensor or scalar, but you passed in "
                           f"a {type(element)}.")

    def __reduce_ex__(self, proto):
        return (_rebuild, (type(self), self._data, self._requires_grad, _user_state(self)))

    def __deepcopy__(self, memo):
        if self._grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol at the moment.  If you were attempting to deepcopy a module, this may be "
                "because of a torch.nn.utils.weight_norm usage, see "
                "https://github.com/pytorch/pytorch/pull/103001")
        if id(self) in memo:
            return memo[id(self)]
        new = _rebuild(type(self), self._data.copy(), self._requires_grad)
        memo[id(self)] = new
        if self._grad is not None:
            new._grad = self._grad.__deepcopy__(memo)
        state = _user_state(self)
        if state:
            new.__dict__.update(copy.deepcopy(state, memo))
        return new

    def __setstate__(self, state):  # pickles of Tensor subclasses with attributes
        if isinstance(state, dict):
            self.__dict__.update(state)

    def cpu(self, memory_format=None) -> Tensor:
        """This tensor (it is on the CPU already)."""
        return self

    def cuda(self, device=None, non_blocking=False, memory_format=None) -> Tensor:
        """Always an error: ember computes on the CPU only."""
        check_device("cuda" if device is None or isinstance(device, int) else device)

    def pin_memory(self, device=None) -> Tensor:
        return self

    def is_pinned(self, device=None) -> bool:
        return False

    def share_memory_(self) -> Tensor:
        """Move the data into shared memory (see ember.multiprocessing); returns self."""
        from ..multiprocessing.reductions import share_memory_  # (loads multiprocessing)

        return share_memory_(self)

    def is_shared(self) -> bool:
        from ..multiprocessing.reductions import is_shared  # (loads multiprocessing)

        return is_shared(self)

    mH = mT


for _name, _value in vars(_Protocols).items():
    if _name not in ("__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"):
        setattr(Tensor, _name, _value)
