"""Tensor: an array plus what autograd needs (requires_grad, grad, grad_fn, a version).

This module holds the state and the autograd-facing methods. Everything else is attached by
the layers above: ``backward()`` by ``ember.autograd``, the operators and ops by the families
in ``ember/_ops`` (each binds its own, so adding an op touches one file), and the Python and
NumPy protocols (``numpy()``, ``float(t)``, printing, pickling) by ``_ops/protocols.py``.
"""
from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict

from . import _dtype
from ._backend import xp
from ._device import Size
from ._dtype import _CPP_NAMES, _TYPE_NAMES
from ._grad_mode import _state as _grad_state
from .utils.hooks import RemovableHandle

_new = object.__new__
_ndarray = xp.ndarray

# NumPy ufuncs / array functions that have an ember equivalent; filled in by the op families.
# They make xp.exp(t) return a Tensor (as PyTorch does) and let backward formulas written
# against NumPy build a graph under create_graph=True.
UFUNCS: dict = {}
ARRAY_FUNCTIONS: dict = {}

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
    def __init__(self, *args, **kwargs):
        pass  # (construction is __new__'s, PyTorch's legacy constructor, set by _creation.py)

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
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

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

    def __hash__(self):
        return id(self)

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
        fn = self._grad_fn
        if fn is None:
            if self._hooks is None:
                self._hooks = OrderedDict()
            return _add_hook(self._hooks, hook)
        if fn._pre_hooks is None:
            fn._pre_hooks = {}
        fn._has_pre = True
        return _add_hook(fn._pre_hooks.setdefault(self._output_nr, OrderedDict()), hook)

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor) runs after backward has accumulated into this leaf's ``.grad``."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._post_acc_hooks is None:
            self._post_acc_hooks = OrderedDict()
        return _add_hook(self._post_acc_hooks, hook)

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
    t._data, t._requires_grad, t._grad_fn, t._vc = data, requires_grad, None, [0]
    t.__dict__.update(state or ())
    return t


def _wrap_dim(dim, ndim, op="dim"):
    """Normalise a possibly negative dim, with PyTorch's IndexError when out of range."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


def _add_hook(hooks, fn):
    handle = RemovableHandle(hooks)
    hooks[handle.id] = fn
    return handle


def register_methods(**methods):
    """Attach functions to Tensor as methods (used by the op families)."""
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
