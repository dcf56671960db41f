"""Tensor: a NumPy array plus what autograd needs (requires_grad, grad, grad_fn, a version).

Operators and methods are attached by the op families in ``ember/_ops`` (each family binds
its own functions, so adding an op touches one file); this module holds the state, the
Python protocols and the autograd-facing methods.
"""
from __future__ import annotations

import warnings
import weakref

from . import _dtype
from ._backend import xp
from ._device import CPU, Size, check_device
from .autograd import grad_mode as _grad_mode

_grad_state = _grad_mode._state
_new = object.__new__
_engine = [None]  # autograd.engine.run_backward_simple, bound on first backward()
_ONES: dict = {}  # (dtype, shape) -> the read-only gradient of loss.backward()
_ndarray = xp.ndarray

# NumPy ufuncs / array functions that have an ember equivalent; filled in by the op families.
# They make xp.exp(t) return a Tensor (as PyTorch does) and let backward formulas written
# against NumPy build a graph under create_graph=True.
UFUNCS: dict = {}
ARRAY_FUNCTIONS: dict = {}

_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}
# The C++ names PyTorch's messages use for element types.
_CPP_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half",
              "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
              "uint8": "unsigned char", "bool": "bool"}


def type_name(np_dtype) -> str:
    """PyTorch's legacy type name of a dtype, e.g. ``torch.FloatTensor`` (prefix per repr)."""
    return f"{_dtype._names['prefix']}.{_TYPE_NAMES.get(xp.dtype(np_dtype).name, 'Tensor')}"


_float_warned = False


def _warn_float_once():
    # PyTorch's TORCH_WARN_ONCE: float(t) of a tensor that requires grad, once per process
    global _float_warned
    _float_warned = True
    warnings.warn("Converting a tensor with requires_grad=True to a scalar may lead to unexpected "
                  "behavior.\nConsider using tensor.detach() first.", UserWarning, stacklevel=3)


class Tensor:
    """A multi-dimensional array with automatic differentiation; the API is PyTorch's."""

    # The four fields every op sets live in slots; the rarely-set ones are class-level defaults
    # (an instance gets its own value in __dict__ only when one is assigned), which keeps
    # _make, the constructor every op calls, to four stores.
    __slots__ = ("__dict__", "__weakref__", "_data", "_grad_fn", "_requires_grad", "_vc")
    _grad = None
    _output_nr = 0
    _hooks = None  # hooks of a leaf: callables grad -> grad or None
    _post_acc_hooks = None  # hooks of a leaf run after its .grad was updated
    _retains_grad = False

    # ---- construction --------------------------------------------------------------------
    def __new__(cls, *args, **kwargs):
        # The legacy constructor: Tensor(2, 3) (uninitialised), Tensor([1, 2]), Tensor(ndarray).
        from ._creation import _legacy_new

        return _legacy_new(cls, _dtype.get_default_dtype(), args, kwargs)

    def __init__(self, *args, **kwargs):
        pass

    # ---- properties ----------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        """The size of each dimension, as a Size."""
        return Size(self._data.shape)

    @property
    def dtype(self):
        """The element type."""
        return _dtype.NP_TO_DTYPE[self._data.dtype]

    @property
    def device(self):
        """Always the CPU."""
        return CPU

    @property
    def is_cuda(self) -> bool:
        """False: ember computes on the CPU."""
        return False

    @property
    def is_cpu(self) -> bool:
        """True."""
        return True

    @property
    def is_sparse(self) -> bool:
        return False

    @property
    def is_quantized(self) -> bool:
        return False

    @property
    def is_meta(self) -> bool:
        return False

    @property
    def is_mps(self) -> bool:
        return False

    @property
    def is_xpu(self) -> bool:
        return False

    @property
    def layout(self):
        return "torch.strided"

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of all elements."""
        return self._data.nbytes

    @property
    def _version(self) -> int:
        return self._vc[0]

    @property
    def requires_grad(self) -> bool:
        """Whether autograd records operations on this tensor."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(bool(value))

    @property
    def grad_fn(self):
        """The node that created this tensor (None for leaves)."""
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        """True unless this tensor was computed by a recorded operation."""
        return self._grad_fn is None

    @property
    def output_nr(self) -> int:
        """Which output of its grad_fn this tensor is."""
        return self._output_nr

    @property
    def grad(self):
        """The accumulated gradient (leaves, and non-leaves after retain_grad())."""
        if self._grad_fn is not None and not self._retains_grad and self._grad is None:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed want "
                "the .grad field to be populated for a non-leaf Tensor, use .retain_grad() on the "
                "non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure you "
                "access the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for "
                "more informations.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value._data.shape)}' to a "
                    f"tensor of size '{list(self._data.shape)}'. Please ensure that the gradient "
                    "and the tensor are the same size")
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{_CPP_NAMES[value._data.dtype.name]}'"
                    f" to a tensor with grad_dtype '{_TYPE_NAMES[self._data.dtype.name][:-6]}'. The "
                    "gradient must match the tensor's grad_dtype (defaults to the tensor's dtype).")
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None

    @property
    def data(self) -> Tensor:
        """The same memory as a tensor that autograd does not track."""
        # A new tensor on the same memory that autograd does not track: unlike detach(), it has
        # its own version counter, so writes through it go unnoticed (PyTorch's semantics).
        return _make(self._data, False, None, 0)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, not {type(value).__name__}")
        self._data = value._data

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

    mH = mT

    @property
    def H(self) -> Tensor:
        """The conjugate transpose (the transpose: ember has no complex tensors)."""
        return self.T

    # ---- sizes -------------------------------------------------------------------------------
    def size(self, dim=None):
        """The shape, or the size of dimension ``dim``."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    def dim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    ndimension = dim

    def numel(self) -> int:
        """The number of elements."""
        return self._data.size

    nelement = numel

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

    # ---- leaving ember -------------------------------------------------------------------------
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

    # ---- Python protocols ------------------------------------------------------------------------
    def __repr__(self, *, tensor_contents=None):
        from ._tensor_str import _str

        return _str(self, tensor_contents=tensor_contents)

    def __format__(self, spec):
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        if spec:
            raise TypeError(f"unsupported format string passed to {type(self).__name__}.__format__")
        return repr(self)

    def __hash__(self):
        return id(self)

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
            import copy

            new.__dict__.update(copy.deepcopy(state, memo))
        return new

    def __setstate__(self, state):  # pickles of Tensor subclasses with attributes
        if isinstance(state, dict):
            self.__dict__.update(state)

    # ---- autograd ------------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set whether autograd records operations on this (leaf) tensor; returns self."""
        if self._grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to use "
                    "a computed variable in a subgraph that doesn't require differentiation use "
                    "var_no_grad = var.detach().")
            return self
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate into the leaves' ``.grad`` the gradient of this tensor."""
        d = self._data
        if inputs is None and not create_graph and self._grad_fn is not None:
            # loss.backward() or y.backward(g): the engine's fast path (it declines graphs
            # with hooks etc.); unusual seeds (other shapes, dtypes) get the general checks
            g0 = None
            if gradient is None:
                if d.size == 1 and d.dtype.kind == "f":
                    key = (d.dtype, d.shape)
                    g0 = _ONES.get(key)
                    if g0 is None:  # read-only: the engine never writes into the seed
                        g0 = _ONES[key] = xp.ones(d.shape, d.dtype)
                        g0.flags.writeable = False
            elif (isinstance(gradient, Tensor) and not gradient._requires_grad
                  and gradient._data.shape == d.shape and gradient._data.dtype == d.dtype):
                g0 = gradient._data  # borrowed: the engine copies before it writes
            if g0 is not None:
                if _engine[0] is None:
                    from .autograd.engine import run_backward_simple

                    _engine[0] = run_backward_simple
                if _engine[0](self, g0, bool(retain_graph)):
                    return
        from .autograd import backward

        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def retain_grad(self) -> None:
        """Populate ``.grad`` of this non-leaf tensor during backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True
        fn = self._grad_fn
        if fn._retain is None:
            fn._retain = {}
        fn._retain[self._output_nr] = weakref.ref(self)
        fn._has_pre = True

    @property
    def retains_grad(self) -> bool:
        """Whether retain_grad() was called on this non-leaf."""
        return self._retains_grad

    def register_hook(self, hook):
        """hook(grad) -> Tensor or None, called with this tensor's gradient during backward."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from .autograd.function import RemovableHandle

        fn = self._grad_fn
        if fn is None:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(hook)
            return RemovableHandle(self._hooks, hook)
        if fn._pre_hooks is None:
            fn._pre_hooks = {}
        lst = fn._pre_hooks.setdefault(self._output_nr, [])
        lst.append(hook)
        fn._has_pre = True
        return RemovableHandle(lst, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor) runs after backward has accumulated into this leaf's ``.grad``."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors")
        from .autograd.function import RemovableHandle

        if self._post_acc_hooks is None:
            self._post_acc_hooks = []
        self._post_acc_hooks.append(hook)
        return RemovableHandle(self._post_acc_hooks, hook)

    def detach(self) -> Tensor:
        """A tensor on the same memory, cut from the graph (shares the version counter)."""
        t = _make(self._data, False, None, 0)
        t._vc = self._vc
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place; returns self."""
        self._grad_fn = None
        self._requires_grad = False
        if "_output_nr" in self.__dict__:
            del self._output_nr
        return self

    # ---- device -----------------------------------------------------------------------------------
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
        from .multiprocessing.reductions import share_memory_

        return share_memory_(self)

    def is_shared(self) -> bool:
        from .multiprocessing.reductions import is_shared

        return is_shared(self)

    # ---- in-place plumbing used by the op families ----------------------------------------------
    def _check_inplace(self):
        """PyTorch's rules for writing in place while a graph is recorded: not into a leaf that
        requires grad, nor a view of one, nor an output of split/unbind (one of several views)."""
        if not _grad_state[0]:
            return
        if self._requires_grad:
            fn = self._grad_fn
            if fn is None:
                raise RuntimeError(
                    "a leaf Variable that requires grad is being used in an in-place operation.")
            if fn._multi_view:
                raise RuntimeError(
                    f"Output {self._output_nr} of {fn.name()} is a view and is being modified "
                    "inplace. This view is the output of a function that returns multiple views. "
                    "Such functions do not allow the output views to be modified inplace. You "
                    "should replace the inplace operation by an out-of-place one.")
        base = self._base
        if base is not None and base._requires_grad and base._grad_fn is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation.")

    def _bump(self):
        self._vc[0] += 1


def _make(data, requires_grad, grad_fn, output_nr):
    """The fast internal constructor: wrap an ndarray without copying or checks."""
    t = _new(Tensor)
    t._data = data
    t._requires_grad = requires_grad
    t._grad_fn = grad_fn
    t._vc = [0]
    if output_nr:
        t._output_nr = output_nr
    return t


def _rebuild(cls, data, requires_grad, state=None):
    """Unpickling: a leaf of class ``cls`` (Tensor subclasses keep their attributes)."""
    t = _new(cls)
    t._data = data
    t._requires_grad = requires_grad
    t._grad_fn = None
    t._vc = [0]
    if state:
        t.__dict__.update(state)
    return t


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


def _wrap_dim(dim, ndim, op="dim"):
    """Normalise a possibly negative dim, with PyTorch's IndexError when out of range."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


def register_methods(**methods):
    """Attach functions to Tensor as methods (used by the op families)."""
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
