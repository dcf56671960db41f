"""Shape (movement) ops: reshapes and views, joins and splits, flips, rolls and diagonals.

Views (reshape of viewable data, view, permute, transpose, expand, squeeze/unsqueeze, narrow,
select, split/chunk/unbind, diagonal) are NumPy views of their input and share its version
counter, so an in-place write through a view bumps the base's version as in PyTorch. Ops that
PyTorch copies (flip, roll, repeat, cat, ...) copy here too, so their writes never leak.

Each op validates its arguments and computes its result in the public function; the Function
subclasses only carry the backward (their forward receives the precomputed result), so the
work is done once whether or not a graph is recorded.
"""
from __future__ import annotations

import math
import operator
import warnings

from .. import _dtype
from .._backend import xp
from .._creation import tensor as _tensor
from .._creation import zeros
from .._device import Size
from .._dtype import type_name
from .._tensor import ARRAY_FUNCTIONS, Tensor, _make, _wrap_dim, register_methods
from ..autograd import grad_mode
from ..autograd.function import Function
from ._shape import broadcast_shape
from ._util import norm_dims
from ._util import renamed as _renamed
from .elementwise import _out as _copy_out

_grad_state = grad_mode._state
_ndarray = xp.ndarray
_as_strided = xp.lib.stride_tricks.as_strided


# ---- plumbing ---------------------------------------------------------------------------------
class _Pre(Function):
    """Base of the ops here: forward gets the result array and metadata for the backward."""

    _inputs = 1  # (x, out, *meta): x is the one graph input

    @staticmethod
    def forward(ctx, a, out, *meta):
        ctx.meta = meta
        ctx.in_meta = (a.shape, a.dtype)
        return out


def _finish(cls, x, out, *meta):
    """Wrap ``out`` (a view of x's data) as a Tensor sharing x's version counter."""
    if x._requires_grad and _grad_state[0]:
        t = cls.apply(x, out, *meta)
    else:
        t = _make(out, False, None, 0)
    t._vc = x._vc
    b = x._base
    t._base = x if b is None else b
    return t


def _finish_copy(cls, x, out, *meta):
    """Wrap ``out`` (fresh memory) as a Tensor with its own version counter."""
    if x._requires_grad and _grad_state[0]:
        return cls.apply(x, out, *meta)
    return _make(out, False, None, 0)


def _in_shape(ctx):
    return ctx.in_meta[0]


def _dim(d, ndim):
    if d.__class__ is not int:
        d = operator.index(d)
    return _wrap_dim(d, ndim)


def _sizes(args, kwargs=None, name=None):
    """f(2, 3), f((2, 3)), f([2, 3]), f(Size) and f(name=(2, 3)) all give the sequence (2, 3)."""
    if kwargs:
        args = (kwargs.pop(name),)
    if len(args) == 1:
        s = args[0]
        if s.__class__ is not int and isinstance(s, (tuple, list)):
            return s
        if isinstance(s, Tensor) and s._data.ndim == 1:
            return tuple(s._data.tolist())
    return args


def _shares(out, a):
    return out.size == 0 or xp.may_share_memory(out, a)


def _aview(x):
    """x as a Tensor (the ARRAY_FUNCTIONS adapters may receive plain arrays)."""
    return x if isinstance(x, Tensor) else _make(xp.asarray(x), False, None, 0)


# ---- reshape / view ---------------------------------------------------------------------------
class View(_Pre):
    _node_name = "ViewBackward0"

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(_in_shape(ctx))


UnsafeView = _renamed(View, "UnsafeViewBackward0")


def _shape_error(shape, numel):
    try:
        shape = [operator.index(s) for s in shape]
    except TypeError:
        bad = next(s for s in shape if not hasattr(s, "__index__"))
        return TypeError(f"reshape(): argument 'shape' must be tuple of ints, but found element "
                         f"of type {type(bad).__name__}")
    for i, s in enumerate(shape):
        if s < -1:
            return RuntimeError(f"invalid shape dimension {s} at index {i} of shape {shape}")
    if shape.count(-1) > 1:
        return RuntimeError("only one dimension can be inferred")
    if -1 in shape and numel == 0 and 0 in shape:
        return RuntimeError(
            f"cannot reshape tensor of 0 elements into shape {shape} because the unspecified "
            "dimension size -1 can be any value and is ambiguous")
    return RuntimeError(f"shape '{shape}' is invalid for input of size {numel}")


def _reshaped(a, shape):
    """NumPy's reshape (a view where possible) with PyTorch's shape validation."""
    try:
        out = a.reshape(shape)
    except (ValueError, TypeError):
        raise _shape_error(shape, a.size) from None
    # NumPy infers any negative size; PyTorch only -1
    if out.shape != shape and out.shape != tuple(shape) and any(s < -1 for s in shape):
        raise _shape_error(shape, a.size)
    return out


def reshape(input, *shape, **kwargs):
    """Returns a tensor with the same data and the given shape (a view where possible)."""
    shape = _sizes(shape, kwargs, "shape")
    a = input._data
    out = _reshaped(a, shape)
    if a.flags.c_contiguous or _shares(out, a):
        return _finish(View, input, out)
    return _finish_copy(UnsafeView, input, out)


def view(self, *shape, **kwargs):
    """A view with another shape, or of the same bytes as another dtype (``view(dtype)``)."""
    if kwargs:
        shape = (kwargs.pop("dtype") if "dtype" in kwargs else kwargs.pop("size"),)
    if len(shape) == 1 and isinstance(shape[0], (_dtype.dtype, xp.dtype, type)):
        return _view_dtype(self, _dtype.to_dtype(shape[0]))
    shape = _sizes(shape)
    a = self._data
    out = _reshaped(a, shape)
    if not (a.flags.c_contiguous or _shares(out, a)):
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    return _finish(View, self, out)


def _view_dtype(self, dt):
    a = self._data
    if dt.np == a.dtype:
        return _finish(View, self, a.view())
    try:
        out = a.view(dt.np)
    except ValueError:
        src, dst = (type_name(t).split(".")[-1][:-6] for t in (a.dtype, dt.np))
        ratio = max(dt.itemsize, a.itemsize) // min(dt.itemsize, a.itemsize)
        raise RuntimeError(
            f"self.size(-1) must be divisible by {ratio} to view {src} as {dst} (different "
            f"element sizes), but got {a.shape[-1] if a.ndim else 1}") from None
    t = _make(out, False, None, 0)
    t._vc = self._vc
    return t


def view_as(self, other):
    """A view with the shape of ``other``."""
    return view(self, other._data.shape)


def reshape_as(self, other):
    """Reshaped to the shape of ``other``."""
    return reshape(self, other._data.shape)


def flatten(input, start_dim=0, end_dim=-1):
    """Flattens dims start_dim..end_dim into one (a view where possible)."""
    a = input._data
    nd = a.ndim
    if nd == 0:
        return reshape(input, (1,))
    s, e = _dim(start_dim, nd), _dim(end_dim, nd)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    shape = a.shape
    return reshape(input, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def ravel(input):
    """The flattened tensor (a view where possible)."""
    a = input._data
    out = a.reshape(-1)
    if a.flags.c_contiguous or _shares(out, a):
        return _finish(View, input, out)
    return _finish_copy(View, input, out)


def unflatten(input, dim, sizes):
    """Expands dim into the given sizes (one of which may be -1)."""
    a = input._data
    d = _dim(dim, a.ndim)
    sizes = tuple(operator.index(s) for s in sizes)
    n = a.shape[d] if a.ndim else 1
    if sizes.count(-1) > 1:
        raise RuntimeError("unflatten got an unexpected error:\nonly one dimension can be inferred")
    known = int(xp.prod([s for s in sizes if s != -1]))
    if (-1 in sizes and (known == 0 or n % known)) or (-1 not in sizes and known != n):
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {dim} ({n}) in the input tensor")
    return view(input, a.shape[:d] + sizes + a.shape[d + 1:])


# ---- squeeze / unsqueeze -------------------------------------------------------------------------
Squeeze = _renamed(View, "SqueezeBackward0")
Squeeze1 = _renamed(View, "SqueezeBackward1")
Squeeze2 = _renamed(View, "SqueezeBackward2")
Unsqueeze = _renamed(View, "UnsqueezeBackward0")


def squeeze(input, dim=None, *, axis=None):
    """Removes dims of size 1 (all of them, or those in ``dim``)."""
    if axis is not None:
        dim = axis
    a = input._data
    shape = a.shape
    if dim is None:
        return _finish(Squeeze, input, a.reshape(tuple(s for s in shape if s != 1)))
    if isinstance(dim, (tuple, list)):
        axes = norm_dims(dim, a.ndim) or ()
        keep = tuple(s for i, s in enumerate(shape) if s != 1 or i not in axes)
        return _finish(Squeeze2, input, a.reshape(keep))
    d = _dim(dim, a.ndim)
    if a.ndim and shape[d] == 1:
        out = a.reshape(shape[:d] + shape[d + 1:])
    else:
        out = a.view()
    return _finish(Squeeze1, input, out)


def unsqueeze(input, dim):
    """Inserts a dim of size 1 at ``dim``."""
    a = input._data
    d = dim if dim.__class__ is int and 0 <= dim <= a.ndim else _dim(dim, a.ndim + 1)
    shape = a.shape
    return _finish(Unsqueeze, input, a.reshape(shape[:d] + (1,) + shape[d:]))


def _inplace_view(op):
    """squeeze_/unsqueeze_/t_/transpose_: self takes the new shape (and the view's history)."""

    def method(self, *args, **kwargs):
        res = op(self, *args, **kwargs)
        self._data = res._data
        if res._grad_fn is not None:
            self._grad_fn, self._output_nr = res._grad_fn, res._output_nr
        return self

    return method


# ---- permutations ------------------------------------------------------------------------------
class Permute(_Pre):
    _node_name = "PermuteBackward0"

    @staticmethod
    def backward(ctx, grad):
        return xp.transpose(grad, tuple(xp.argsort(ctx.meta[0])))


class Transpose(_Pre):
    _node_name = "TransposeBackward0"

    @staticmethod
    def backward(ctx, grad):
        d0, d1 = ctx.meta
        return grad if d0 == d1 else xp.swapaxes(grad, d0, d1)


TBackward = _renamed(Transpose, "TBackward0")


def permute(input, *dims, **kwargs):
    """Returns a view with the dims reordered as ``dims``."""
    dims = _sizes(dims, kwargs, "dims")
    a = input._data
    nd = a.ndim
    if len(dims) != nd:
        raise RuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the "
            "length of the desired ordering of dimensions i.e. input.dim() = "
            f"{nd} is not equal to len(dims) = {len(dims)}")
    perm = tuple(_dim(d, nd) for d in dims)
    if len(set(perm)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return _finish(Permute, input, a.transpose(perm), perm)


def transpose(input, dim0, dim1):
    """Returns a view with dims dim0 and dim1 swapped."""
    a = input._data
    d0, d1 = _dim(dim0, a.ndim), _dim(dim1, a.ndim)
    return _finish(Transpose, input, a.swapaxes(d0, d1) if a.ndim else a.view(), d0, d1)


def swapaxes(input, axis0, axis1):
    """NumPy's name for transpose."""
    return transpose(input, axis0, axis1)


def swapdims(input, dim0, dim1):
    """An alias of transpose."""
    return transpose(input, dim0, dim1)


def t(input):
    """Transposes a tensor of at most 2 dims (0-d and 1-d are returned as is)."""
    a = input._data
    if a.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {a.ndim}D")
    if a.ndim < 2:
        return _finish(TBackward, input, a.view(), 0, 0)
    return _finish(TBackward, input, a.T, 0, 1)


def movedim(input, source, destination):
    """Moves the dims in ``source`` to the positions in ``destination``."""
    nd = input._data.ndim
    src = [source] if not isinstance(source, (tuple, list)) else list(source)
    dst = [destination] if not isinstance(destination, (tuple, list)) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({src} dims) should contain the "
            f"same number of dims as destination ({dst} dims)")
    src = [_dim(d, nd) for d in src]
    dst = [_dim(d, nd) for d in dst]
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({list(source)})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({list(destination)})")
    order = [d for d in range(nd) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, order)


moveaxis = movedim


# ---- expand / broadcast --------------------------------------------------------------------------
class Expand(_Pre):
    _node_name = "ExpandBackward0"

    @staticmethod
    def backward(ctx, grad):
        return grad  # the engine sums the broadcast grad back to the input's shape


def _expand_shape(a, sizes):
    shape = a.shape
    nd, n = a.ndim, len(sizes)
    if n < nd:
        raise RuntimeError(
            f"expand({type_name(a.dtype)}{{{list(shape)}}}, size={list(sizes)}): the number of sizes "
            f"provided ({n}) must be greater or equal to the number of dimensions in the tensor ({nd})")
    lead = n - nd
    out = [0] * n
    for i in range(n - 1, -1, -1):  # PyTorch reports the last mismatching dim
        s = operator.index(sizes[i])
        if i < lead:
            if s < 0:
                raise RuntimeError(f"The expanded size of the tensor ({s}) isn't allowed in a "
                                   f"leading, non-existing dimension {i}")
            out[i] = s
            continue
        cur = shape[i - lead]
        if s == -1:
            s = cur
        elif (cur != s and cur != 1) or s < 0:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                f"{list(shape)}")
        out[i] = s
    return tuple(out)


def expand(self, *sizes, **kwargs):
    """A view with size-1 dims repeated (no copy); -1 keeps a dim's size."""
    sizes = _sizes(sizes, kwargs, "size")
    a = self._data
    shape = sizes if sizes == a.shape else _expand_shape(a, sizes)
    return _finish(Expand, self, xp.broadcast_to(a, shape))


def expand_as(self, other):
    """expand to the shape of ``other``."""
    return expand(self, other._data.shape)


def broadcast_to(input, size):
    """expand to ``size`` (a view)."""
    return expand(input, size)


def broadcast_shapes(*shapes):
    """The shape that tensors of the given shapes broadcast to."""
    out = ()
    for s in shapes:
        out = broadcast_shape(out, (s,) if isinstance(s, int) else tuple(s))
    return Size(out)


def broadcast_tensors(*tensors):
    """Expands all tensors to their common broadcast shape (views)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    shape = ()
    for x in tensors:
        shape = broadcast_shape(shape, x._data.shape)
    return tuple(expand(x, shape) for x in tensors)


# ---- repeat / tile ---------------------------------------------------------------------------------
class Repeat(_Pre):
    _node_name = "RepeatBackward0"

    @staticmethod
    def backward(ctx, grad):
        (reps,) = ctx.meta
        in_shape = _in_shape(ctx)
        pad = (1,) * (len(reps) - len(in_shape)) + tuple(in_shape)
        # the output along a dim is r copies of size s: view it as (r, s) and sum over r
        g = grad.reshape(tuple(x for r, s in zip(reps, pad) for x in (r, s)))
        g = g.sum(axis=tuple(range(0, 2 * len(reps), 2)))
        return g.reshape(in_shape)


def repeat(self, *sizes, **kwargs):
    """Tiles the tensor ``sizes[i]`` times along each dim (copies)."""
    reps = tuple(operator.index(s) for s in _sizes(sizes, kwargs, "repeats"))
    a = self._data
    if len(reps) < a.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    if any(r < 0 for r in reps):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(reps)}: {list(reps)}")
    out = xp.tile(a, reps) if reps else a.copy()
    if out.base is not None or out is a:
        out = out.copy()
    return _finish_copy(Repeat, self, out, reps)


def tile(input, *dims, **kwargs):
    """Like repeat, but dims shorter than the tensor's rank are padded with leading 1s."""
    dims = tuple(operator.index(d) for d in _sizes(dims, kwargs, "dims"))
    nd = input._data.ndim
    if len(dims) < nd:
        dims = (1,) * (nd - len(dims)) + dims
    return repeat(input, dims)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeats each element ``repeats`` times (along ``dim``, or of the flattened tensor)."""
    if repeats is None:  # torch.repeat_interleave(repeats): indices repeated by their count
        r = input._data
        return _make(xp.repeat(xp.arange(r.size), r.reshape(-1)), False, None, 0)
    x = input
    if dim is None:
        x, d = reshape(input, (-1,)), 0
    else:
        d = _dim(dim, input._data.ndim)
    if x._data.ndim == 0:
        x = reshape(x, (1,))
    n = x._data.shape[d]
    if isinstance(repeats, Tensor) and repeats._data.ndim > 0 and repeats._data.size != 1:
        r = repeats._data
        if r.shape != (n,):
            raise RuntimeError("repeats must have the same size as input along dim")
        from .indexing import index_select  # in here: indexing imports this module

        return index_select(x, d, _make(xp.repeat(xp.arange(n), r), False, None, 0))
    r = int(repeats)
    if r < 0:
        raise RuntimeError("repeats can not be negative")
    shape = x._data.shape
    e = expand(unsqueeze(x, d + 1), shape[:d + 1] + (r,) + shape[d + 1:])
    return view(contiguous(e), shape[:d] + (n * r,) + shape[d + 1:])


# ---- flips and rolls -----------------------------------------------------------------------------------
class Flip(_Pre):
    _node_name = "FlipBackward0"

    @staticmethod
    def backward(ctx, grad):
        return xp.flip(grad, ctx.meta[0])


def flip(input, *dims, **kwargs):
    """Reverses the order of elements along ``dims`` (a copy, as in PyTorch)."""
    dims = _sizes(dims, kwargs, "dims")
    a = input._data
    axes = norm_dims(dims, a.ndim) if dims else ()
    out = xp.flip(a, axes).copy() if axes else a.copy()
    return _finish_copy(Flip, input, out, axes)


def fliplr(input):
    """Flips dim 1 (left/right)."""
    if input._data.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def flipud(input):
    """Flips dim 0 (up/down)."""
    if input._data.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


class Roll(_Pre):
    _node_name = "RollBackward0"

    @staticmethod
    def backward(ctx, grad):
        shifts, dims = ctx.meta
        neg = tuple(-s for s in shifts) if isinstance(shifts, tuple) else -shifts
        return xp.roll(grad, neg, dims)


def roll(input, shifts, dims=None):
    """Rolls elements along ``dims`` (of the flattened tensor when dims is None)."""
    a = input._data
    if dims is None:
        s = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
        if len(s) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(s)}, dims:0")
        shifts = operator.index(s[0])
        return _finish_copy(Roll, input, xp.roll(a, shifts), shifts, None)
    s = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
    d = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(s) != len(d):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(s)}, dims:{len(d)}")
    d = tuple(_dim(x, a.ndim) for x in d)
    s = tuple(operator.index(x) for x in s)
    out = xp.roll(a, s, d) if a.ndim else a.copy()
    if not out.flags.c_contiguous:  # contiguous, as PyTorch's
        out = xp.ascontiguousarray(out)
    return _finish_copy(Roll, input, out, s, d)


# ---- slicing views: narrow, select, and the basic-index node shared with indexing.py ---------------
class BasicIndex(_Pre):
    """x[key] for a basic key (ints, slices, None, Ellipsis): a view."""

    _node_name = "SliceBackward0"

    @staticmethod
    def backward(ctx, grad):
        return index_backward(grad, ctx.in_meta, ctx.meta[0], None)


SelectIndex = _renamed(BasicIndex, "SelectBackward0")
AliasIndex = _renamed(BasicIndex, "AliasBackward0")
UnsqueezeIndex = _renamed(BasicIndex, "UnsqueezeBackward0")


class AdvancedIndex(_Pre):
    """x[key1][key2]: key1 basic (may be empty), key2 advanced (integer/boolean arrays)."""

    _node_name = "IndexBackward0"

    @staticmethod
    def backward(ctx, grad):
        key1, key2 = ctx.meta
        return index_backward(grad, ctx.in_meta, key1, key2)


class IndexBackwardFn(Function):
    """The backward of indexing as a differentiable op (for create_graph=True)."""

    _node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, grad, meta, key1, key2):
        ctx.keys = key1, key2
        return _index_backward_np(grad, meta, key1, key2)

    @staticmethod
    def backward(ctx, gg):
        key1, key2 = ctx.keys
        return index_with_keys(gg, key1, key2)


def _needs_add_at(key2):
    return any(k.__class__ is _ndarray and k.dtype.kind != "b" for k in key2)


def _index_backward_np(grad, meta, key1, key2):
    shape, dt = meta
    g = xp.zeros(shape, dtype=grad.dtype if grad.dtype.kind == "f" else dt)
    v = g[key1] if key1 is not None else g
    if key2 is None:
        v[...] = grad
    elif _needs_add_at(key2):
        xp.add.at(v, key2, grad)  # integer indices may repeat: their grads add up
    else:
        v[key2] = grad
    return g


def index_backward(grad, meta, key1, key2):
    """Scatter grad (the result of x[key1][key2]) into zeros of x's shape."""
    if isinstance(grad, Tensor):
        return IndexBackwardFn.apply(grad, meta, key1, key2)
    return _index_backward_np(grad, meta, key1, key2)


def index_with_keys(x, key1, key2):
    """x[key1][key2] with canonical keys (ints only in key1; arrays only in key2)."""
    if not isinstance(x, Tensor):
        v = x[key1] if key1 is not None else x
        return v[key2] if key2 is not None else v
    a = x._data
    v = a[key1] if key1 is not None else a
    if key2 is None:
        return _finish(BasicIndex, x, v, key1)
    return _finish_copy(AdvancedIndex, x, v[key2], key1, key2)


def narrow(input, dim, start, length):
    """A view of ``length`` elements of ``dim`` from ``start``."""
    a = input._data
    d = _dim(dim, a.ndim)
    n = a.shape[d]
    start, length = operator.index(start), operator.index(length)
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got {start})")
    if start < 0:
        start += n
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    key = (slice(None),) * d + (slice(start, start + length), Ellipsis)
    return _finish(BasicIndex, input, a[key], key)


def select(input, dim, index):
    """A view of the slice ``index`` of ``dim`` (that dim removed)."""
    a = input._data
    d = _dim(dim, a.ndim)
    n = a.shape[d] if a.ndim else 0
    i = operator.index(index)
    if not -n <= i < n:
        raise IndexError(f"select(): index {i} out of range for tensor of size {list(a.shape)} at "
                         f"dimension {d}")
    key = (slice(None),) * d + (i, Ellipsis)
    return _finish(SelectIndex, input, a[key], key)


# ---- contiguous -------------------------------------------------------------------------------------------
class Contiguous(_Pre):
    _node_name = "CloneBackward0"

    @staticmethod
    def backward(ctx, grad):
        return grad


def contiguous(self, memory_format=None):
    """self if its memory is C-contiguous, else a C-contiguous copy."""
    a = self._data
    if a.flags.c_contiguous:
        return self
    return _finish_copy(Contiguous, self, xp.ascontiguousarray(a))


# ---- joining --------------------------------------------------------------------------------------------------
class Cat(Function):
    _node_name = "CatBackward0"

    @staticmethod
    def forward(ctx, *arrays, out, dim, sizes):
        ctx.dim, ctx.sizes = dim, sizes
        return out

    @staticmethod
    def backward(ctx, grad):
        d, grads, start = ctx.dim, [], 0
        lead = (slice(None),) * d
        for n in ctx.sizes:
            if n is None:  # a legacy empty 1-D input that was skipped: an empty grad
                grads.append(grad.reshape(-1)[:0])
                continue
            grads.append(grad[lead + (slice(start, start + n),)])
            start += n
        return tuple(grads)


class Stack(Function):
    _node_name = "StackBackward0"

    @staticmethod
    def forward(ctx, *arrays, out, dim):
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad):
        lead = (slice(None),) * ctx.dim
        return tuple(grad[lead + (i,)] for i in range(grad.shape[ctx.dim]))


def _tensor_list(tensors, op):
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor")
    tensors = list(tensors)
    for i, x in enumerate(tensors):
        if not isinstance(x, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got "
                            f"{type(x).__name__}")
    return tensors


def _result_dtype(tensors):
    dt = tensors[0]._data.dtype
    for x in tensors:
        if x._data.dtype != dt:
            res = tensors[0].dtype
            for y in tensors[1:]:
                res = _dtype.promote_types(res, y.dtype)
            return res.np
    return dt


def _record(tensors):
    if not _grad_state[0]:
        return False
    for x in tensors:
        if x._requires_grad:
            return True
    return False


def cat(tensors, dim=0, *, axis=None, out=None):
    """Concatenates tensors along an existing dim (PyTorch's dtype promotion across inputs)."""
    if axis is not None:
        dim = axis
    tensors = _tensor_list(tensors, "cat")
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    # PyTorch's legacy rule: 1-D empty tensors are skipped whatever the other shapes are
    used = [x for x in tensors if not (x._data.ndim == 1 and x._data.shape[0] == 0)]
    for i, x in enumerate(tensors):
        if x._data.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    dt = _result_dtype(tensors)
    if not used:
        res = _make(xp.empty((0,), dt), False, None, 0)
        return _copy_out(res, out)
    ref = used[0]._data
    nd = ref.ndim
    d = _dim(dim, nd)
    shape = ref.shape
    for i, x in enumerate(tensors):
        s = x._data.shape
        if x._data.ndim == 1 and s[0] == 0:
            continue
        if len(s) != nd:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {nd} and {len(s)}")
        if s != shape:
            for j in range(nd):
                if j != d and s[j] != shape[j]:
                    raise RuntimeError(
                        f"Sizes of tensors must match except in dimension {d}. Expected size "
                        f"{shape[j]} but got size {s[j]} for tensor number {i} in the list.")
    arrays = [x._data for x in used]
    res_arr = xp.concatenate(arrays, axis=d, dtype=dt, casting="unsafe")
    if not res_arr.flags.c_contiguous:  # PyTorch's cat result is contiguous, whatever the inputs' strides
        res_arr = xp.ascontiguousarray(res_arr)
    if _record(tensors):
        sizes = [None if (x._data.ndim == 1 and x._data.shape[0] == 0) else x._data.shape[d]
                 for x in tensors]
        res = Cat.apply(*tensors, out=res_arr, dim=d, sizes=sizes)
    else:
        res = _make(res_arr, False, None, 0)
    return _copy_out(res, out)


concat = concatenate = cat



def stack(tensors, dim=0, *, axis=None, out=None):
    """Joins equally-shaped tensors along a new dim."""
    if axis is not None:
        dim = axis
    tensors = _tensor_list(tensors, "stack")
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._data.shape
    for i, x in enumerate(tensors):
        if x._data.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} "
                               f"at entry 0 and {list(x._data.shape)} at entry {i}")
    d = _dim(dim, len(shape) + 1)
    dt = _result_dtype(tensors)
    res_arr = xp.stack([x._data for x in tensors], axis=d, dtype=dt, casting="unsafe")
    if not res_arr.flags.c_contiguous:  # contiguous, as PyTorch's
        res_arr = xp.ascontiguousarray(res_arr)
    if _record(tensors):
        res = Stack.apply(*tensors, out=res_arr, dim=d)
    else:
        res = _make(res_arr, False, None, 0)
    return _copy_out(res, out)


def atleast_1d(*tensors):
    """Each tensor with at least 1 dim (0-d ones become shape (1,))."""
    ts = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    res = [reshape(x, (1,)) if x._data.ndim == 0 else x for x in ts]
    return res[0] if len(tensors) == 1 and isinstance(tensors[0], Tensor) else tuple(res)


def atleast_2d(*tensors):
    """Each tensor with at least 2 dims (new leading dims of size 1)."""
    ts = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    res = [x if x._data.ndim >= 2 else unsqueeze(x, 0) if x._data.ndim else reshape(x, (1, 1))
           for x in ts]
    return res[0] if len(tensors) == 1 and isinstance(tensors[0], Tensor) else tuple(res)


def atleast_3d(*tensors):
    """Each tensor with at least 3 dims (NumPy's placement of new dims)."""
    ts = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    res = []
    for x in ts:
        nd = x._data.ndim
        if nd == 0:
            x = reshape(x, (1, 1, 1))
        elif nd == 1:
            x = reshape(x, (1, -1, 1))
        elif nd == 2:
            x = unsqueeze(x, -1)
        res.append(x)
    return res[0] if len(tensors) == 1 and isinstance(tensors[0], Tensor) else tuple(res)


def hstack(tensors, *, out=None):
    """Stacks horizontally: along dim 1, or dim 0 for 1-D tensors."""
    ts = atleast_1d(*_tensor_list(tensors, "hstack"))
    ts = [ts] if isinstance(ts, Tensor) else ts
    return cat(ts, 0 if ts[0]._data.ndim == 1 else 1, out=out)


def vstack(tensors, *, out=None):
    """Stacks vertically (along dim 0) after making every tensor at least 2-D."""
    ts = atleast_2d(*_tensor_list(tensors, "vstack"))
    return cat([ts] if isinstance(ts, Tensor) else ts, 0, out=out)


row_stack = vstack


def dstack(tensors, *, out=None):
    """Stacks depth-wise (along dim 2) after atleast_3d."""
    ts = atleast_3d(*_tensor_list(tensors, "dstack"))
    return cat([ts] if isinstance(ts, Tensor) else ts, 2, out=out)


def column_stack(tensors, *, out=None):
    """Stacks 1-D tensors as columns (along dim 1)."""
    ts = [reshape(x, (-1, 1)) if x._data.ndim <= 1 else x
          for x in _tensor_list(tensors, "column_stack")]
    return cat(ts, 1, out=out)


# ---- splitting -----------------------------------------------------------------------------------
class Split(Function):
    _node_name = "SplitBackward0"
    _inputs = 1  # (x, outs, dim)

    @staticmethod
    def forward(ctx, a, outs, dim):
        ctx.dim = dim
        return outs

    @staticmethod
    def backward(ctx, *grads):
        return xp.concatenate(grads, axis=ctx.dim)


SplitWithSizes = _renamed(Split, "SplitWithSizesBackward0")


class Unbind(Split):
    """Split's forward; the outputs lost the dim, so the backward stacks instead of concatenating."""

    _node_name = "UnbindBackward0"

    @staticmethod
    def backward(ctx, *grads):
        g0 = grads[0]
        if ctx.dim == 0 and g0.__class__ is xp.ndarray:  # xp.stack's cost, without xp.stack
            out = xp.empty((len(grads),) + g0.shape, g0.dtype)
            for i, g in enumerate(grads):
                out[i] = g
            return out
        return xp.stack(grads, axis=ctx.dim)


def _multi(cls, x, outs, d):
    if x._requires_grad and _grad_state[0]:
        res = cls.apply(x, tuple(outs), d)
        if res.__class__ is not tuple:
            res = (res,)
    else:
        res = tuple(_make(o, False, None, 0) for o in outs)
    vc = x._vc
    base = x if x._base is None else x._base
    for r in res:
        r._vc = vc
        r._base = base
    return res


def _split_at(a, d, sizes):
    lead = (slice(None),) * d
    outs, start = [], 0
    for n in sizes:
        outs.append(a[lead + (slice(start, start + n), Ellipsis)])
        start += n
    return outs


def split(tensor, split_size_or_sections, dim=0, *, axis=None):
    """Splits into chunks of a given size, or of the sizes in a list (views)."""
    if axis is not None:
        dim = axis
    a = tensor._data
    d = _dim(dim, a.ndim)
    n = a.shape[d] if a.ndim else 1
    s = split_size_or_sections
    if isinstance(s, (list, tuple)) or (isinstance(s, Tensor) and s._data.ndim == 1):
        sizes = [operator.index(v) for v in s]
        if sum(sizes) != n or any(v < 0 for v in sizes):
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                f"dimension {d}), but got split_sizes={sizes}")
        return _multi(SplitWithSizes, tensor, _split_at(a, d, sizes), d)
    s = operator.index(s)
    if s < 0:
        raise RuntimeError(f"split expects split_size be non-negative, but got split_size={s}")
    if s == 0:
        if n != 0:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                               f"dimension size of {n}")
        return _multi(Split, tensor, [a[...]], d)
    sizes = [s] * (n // s) + ([n % s] if n % s or n == 0 else [])
    return _multi(Split, tensor, _split_at(a, d, sizes), d)


def chunk(input, chunks, dim=0):
    """Splits into at most ``chunks`` views of equal size (the last may be smaller)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    a = input._data
    d = _dim(dim, a.ndim)
    n = a.shape[d]
    if n == 0:
        return _multi(Split, input, [a[...]] * chunks, d)
    return split(input, -(-n // chunks), d)


def tensor_split(input, indices_or_sections, dim=0):
    """NumPy's array_split: a number of near-equal sections, or split indices."""
    a = input._data
    d = _dim(dim, a.ndim)
    n = a.shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        ios = ios._data.tolist()
    if isinstance(ios, (list, tuple)):
        bounds = [0] + [min(max(int(i) + (n if int(i) < 0 else 0), 0), n) for i in ios] + [n]
    else:
        k = operator.index(ios)
        if k <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {k}")
        q, r = divmod(n, k)
        bounds = [0]
        for i in range(k):
            bounds.append(bounds[-1] + q + (1 if i < r else 0))
    lead = (slice(None),) * d
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # noqa: RUF007 (py3.10 compatible)
        key = lead + (slice(lo, max(lo, hi)), Ellipsis)
        out.append(_finish(BasicIndex, input, a[key], key))
    return tuple(out)


def unbind(input, dim=0):
    """The slices along ``dim`` as a tuple of views."""
    a = input._data
    d = _dim(dim, a.ndim)
    if a.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    lead = (slice(None),) * d
    return _multi(Unbind, input, [a[lead + (i, Ellipsis)] for i in range(a.shape[d])], d)


# ---- diagonals ---------------------------------------------------------------------------------------------
def _diag_view(a, offset, d1, d2):
    """A writable view of a diagonal, the diagonal dim last (NumPy's own is read-only)."""
    shape, strides = a.shape, a.strides
    if offset >= 0:
        n = max(min(shape[d1], shape[d2] - offset), 0)
        start = (slice(None),) * d2 + (slice(min(offset, shape[d2]), None),)
    else:
        n = max(min(shape[d1] + offset, shape[d2]), 0)
        start = (slice(None),) * d1 + (slice(min(-offset, shape[d1]), None),)
    sub = a[start]
    other = [i for i in range(a.ndim) if i != d1 and i != d2]
    return _as_strided(sub, tuple(shape[i] for i in other) + (n,),
                       tuple(strides[i] for i in other) + (strides[d1] + strides[d2],),
                       writeable=a.flags.writeable)


def _diag_dims(nd, dim1, dim2):
    d1, d2 = _dim(dim1, nd), _dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return d1, d2


class Diagonal(_Pre):
    _node_name = "DiagonalBackward0"

    @staticmethod
    def backward(ctx, grad):
        return diagonal_scatter_zeros(grad, ctx.in_meta, *ctx.meta)


DiagonalCopy = _renamed(Diagonal, "DiagonalBackward0_copy")


class DiagScatter(Function):
    """Writes a diagonal into zeros: the backward of diagonal, differentiable."""

    _node_name = "DiagonalScatterBackward0"

    @staticmethod
    def forward(ctx, grad, meta, offset, d1, d2):
        ctx.args = offset, d1, d2
        return _diag_scatter_np(grad, meta, offset, d1, d2)

    @staticmethod
    def backward(ctx, gg):
        return _diagonal_any(gg, *ctx.args)


def _diag_scatter_np(grad, meta, offset, d1, d2):
    g = xp.zeros(meta[0], dtype=grad.dtype)
    _diag_view(g, offset, d1, d2)[...] = grad
    return g


def diagonal_scatter_zeros(grad, meta, offset, d1, d2):
    """Zeros of the input's shape with grad on the diagonal (differentiable for Tensors)."""
    if isinstance(grad, Tensor):
        return DiagScatter.apply(grad, meta, offset, d1, d2)
    return _diag_scatter_np(grad, meta, offset, d1, d2)


def _diagonal_any(x, offset, d1, d2):
    if isinstance(x, Tensor):
        return diagonal(x, offset, d1, d2)
    return _diag_view(x, offset, d1, d2)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """A view of the diagonal of dims (dim1, dim2), appended as the last dim."""
    a = input._data
    d1, d2 = _diag_dims(a.ndim, dim1, dim2)
    return _finish(Diagonal, input, _diag_view(a, offset, d1, d2), offset, d1, d2)


class DiagEmbed(_Pre):
    _node_name = "DiagEmbedBackward0"

    @staticmethod
    def backward(ctx, grad):
        return _diagonal_any(grad, *ctx.meta)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Puts the last dim of input on the diagonal of dims (dim1, dim2) of a new tensor."""
    a = input._data
    nd = a.ndim + 1
    d1, d2 = _diag_dims(nd, dim1, dim2)
    n = (a.shape[-1] if a.ndim else 1) + abs(offset)
    rest = list(a.shape[:-1])
    shape = []
    for i in range(nd):
        shape.append(n if i in (d1, d2) else rest.pop(0))
    out = xp.zeros(shape, a.dtype)
    _diag_view(out, offset, d1, d2)[...] = a
    return _finish_copy(DiagEmbed, input, out, offset, d1, d2)


def diag(input, diagonal=0, *, out=None):
    """A 1-D tensor -> a square matrix with it on a diagonal; a matrix -> that diagonal."""
    a = input._data
    if a.ndim == 1:
        res = diag_embed(input, diagonal, 0, 1)
    elif a.ndim == 2:
        res = _finish_copy(DiagonalCopy, input, _diag_view(a, diagonal, 0, 1).copy(), diagonal, 0, 1)
    else:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {a.ndim}D")
    return _copy_out(res, out)


# ---- unfold (sliding windows) ------------------------------------------------------------------------------
class Unfold(_Pre):
    _node_name = "UnfoldBackward0"

    @staticmethod
    def backward(ctx, grad):
        d, size, step = ctx.meta
        shape = _in_shape(ctx)
        g = xp.zeros(shape, grad.dtype)
        m = grad.shape[d]
        gm = xp.moveaxis(grad, -1, 0)  # (size, ..., m, ...)
        lead = (slice(None),) * d
        for k in range(size):  # a loop over the window, not the elements
            g[lead + (slice(k, k + step * (m - 1) + 1, step),)] += gm[k]
        return g


def unfold(self, dimension, size, step):
    """Sliding windows of ``size`` with ``step`` along a dim, as a new last dim (a view)."""
    a = self._data
    d = _dim(dimension, a.ndim)
    n = a.shape[d] if a.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if a.ndim == 0:
        return _finish(Unfold, self, a.reshape(1), d, size, step)
    m = (n - size) // step + 1
    shape = a.shape[:d] + (m,) + a.shape[d + 1:] + (size,)
    st = a.strides
    strides = st[:d] + (st[d] * step,) + st[d + 1:] + (st[d],)
    return _finish(Unfold, self, _as_strided(a, shape, strides, writeable=False), d, size, step)


# ---- binding ---------------------------------------------------------------------------------------------------
def _is_view(self):
    return self._base is not None


register_methods(
    _base=None,  # PyTorch's: the tensor a view's memory belongs to (None if not a view)
    _is_view=_is_view,
    reshape=reshape, view=view, view_as=view_as, reshape_as=reshape_as, flatten=flatten,
    ravel=ravel, unflatten=unflatten, squeeze=squeeze, unsqueeze=unsqueeze,
    squeeze_=_inplace_view(squeeze), unsqueeze_=_inplace_view(unsqueeze),
    permute=permute, transpose=transpose, swapaxes=swapaxes, swapdims=swapdims, t=t,
    t_=_inplace_view(t), transpose_=_inplace_view(transpose), swapaxes_=_inplace_view(transpose),
    swapdims_=_inplace_view(transpose), movedim=movedim, moveaxis=movedim,
    expand=expand, expand_as=expand_as, broadcast_to=broadcast_to, repeat=repeat, tile=tile,
    repeat_interleave=repeat_interleave, flip=flip, fliplr=fliplr, flipud=flipud, roll=roll,
    narrow=narrow, select=select, contiguous=contiguous, split=split, chunk=chunk,
    tensor_split=tensor_split, unbind=unbind, diagonal=diagonal, diag=diag, diag_embed=diag_embed,
    unfold=unfold,
)


# NumPy functions called on Tensors (backward formulas under create_graph, user code).
def _np_reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    return reshape(_aview(a), shape if shape is not None else newshape)


def _np_transpose(a, axes=None):
    a = _aview(a)
    return permute(a, tuple(range(a._data.ndim - 1, -1, -1)) if axes is None else tuple(axes))


def _np_flip(m, axis=None):
    m = _aview(m)
    return flip(m, tuple(range(m._data.ndim)) if axis is None else axis)


def _np_roll(a, shift, axis=None):
    return roll(_aview(a), shift, axis)


def _np_concatenate(arrays, axis=0, out=None, dtype=None, casting=None):
    ts = [_aview(x) for x in arrays]
    if axis is None:
        ts, axis = [reshape(x, (-1,)) for x in ts], 0
    return cat(ts, axis)


def _np_stack(arrays, axis=0, out=None, dtype=None, casting=None):
    return stack([_aview(x) for x in arrays], axis)


def _np_squeeze(a, axis=None):
    return squeeze(_aview(a), axis)


def _np_expand_dims(a, axis):
    return unsqueeze(_aview(a), axis)


def _np_broadcast_to(array, shape, subok=False):
    return expand(_aview(array), (shape,) if isinstance(shape, int) else shape)


def _np_swapaxes(a, axis1, axis2):
    return transpose(_aview(a), axis1, axis2)


def _np_moveaxis(a, source, destination):
    return movedim(_aview(a), source, destination)


def _np_tile(A, reps):
    return tile(_aview(A), reps)


def _np_repeat(a, repeats, axis=None):
    return repeat_interleave(_aview(a), repeats, axis)


def _np_ravel(a, order="C"):
    return ravel(_aview(a))


def _np_diagonal(a, offset=0, axis1=0, axis2=1):
    return diagonal(_aview(a), offset, axis1, axis2)


def _np_diag(v, k=0):
    return diag(_aview(v), k)


def _np_split(ary, indices_or_sections, axis=0):
    return list(tensor_split(_aview(ary), indices_or_sections, axis))


def _np_broadcast_arrays(*args, subok=False):
    return broadcast_tensors(*[_aview(x) for x in args])


ARRAY_FUNCTIONS.update({
    xp.reshape: _np_reshape, xp.transpose: _np_transpose, xp.flip: _np_flip, xp.roll: _np_roll,
    xp.concatenate: _np_concatenate, xp.stack: _np_stack, xp.squeeze: _np_squeeze,
    xp.expand_dims: _np_expand_dims, xp.broadcast_to: _np_broadcast_to,
    xp.swapaxes: _np_swapaxes, xp.moveaxis: _np_moveaxis, xp.tile: _np_tile,
    xp.repeat: _np_repeat, xp.ravel: _np_ravel, xp.diagonal: _np_diagonal, xp.diag: _np_diag,
    xp.split: _np_split, xp.array_split: _np_split, xp.broadcast_arrays: _np_broadcast_arrays,
    xp.fliplr: fliplr, xp.flipud: flipud,
    xp.hstack: lambda tup, **kw: hstack([_aview(x) for x in tup]),
    xp.vstack: lambda tup, **kw: vstack([_aview(x) for x in tup]),
})

__all__ = [
    "reshape", "flatten", "ravel", "unflatten", "squeeze", "unsqueeze", "permute", "transpose",
    "swapaxes", "swapdims", "t", "movedim", "moveaxis", "broadcast_to", "broadcast_shapes",
    "broadcast_tensors", "tile", "repeat_interleave", "flip", "fliplr", "flipud", "roll",
    "narrow", "select", "cat", "concat", "concatenate", "stack", "hstack", "vstack", "row_stack",
    "dstack", "column_stack", "atleast_1d", "atleast_2d", "atleast_3d", "split", "chunk",
    "tensor_split", "unbind", "diagonal", "diag", "diag_embed",
]


# ---- grids, rotations and splits that public programs use (composed, so autograd is free) ------


def meshgrid(*tensors, indexing: str | None = None):
    """Coordinate grids from 0-D/1-D tensors; 'ij' (with PyTorch's warning) unless told."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: '
                           f"{indexing}")
    if not tensors:
        raise RuntimeError("torch.meshgrid expects a non-empty TensorList")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but "
                               f"got: {t!r}")
        if t.dtype != tensors[0].dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    flat = [t.reshape(-1) for t in tensors]
    axes = list(range(len(flat)))
    if indexing == "xy" and len(flat) >= 2:  # the first two inputs index columns, rows
        axes[0], axes[1] = 1, 0
    shape = [0] * len(flat)
    for t, ax in zip(flat, axes):
        shape[ax] = t.shape[0]
    out = []
    for t, ax in zip(flat, axes):
        view_shape = [1] * len(flat)
        view_shape[ax] = t.shape[0]
        out.append(t.reshape(view_shape).expand(shape))
    return tuple(out)


def cartesian_prod(*tensors):
    """Every combination of the 1-D inputs' elements, one per row."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    return stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], 1)


def rot90(input, k: int = 1, dims=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``, from the first towards the second."""
    dims = list(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = _wrap_dim(dims[0], input.ndim), _wrap_dim(dims[1], input.ndim)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and "
                           f"dim1 = {d1}")
    k %= 4
    if k == 1:
        return input.flip(d1).transpose(d0, d1)
    if k == 2:
        return input.flip(d0, d1)
    if k == 3:
        return input.flip(d0).transpose(d0, d1)
    return input.clone()


def _dir_split(op, min_dim, dim):
    def fn(input, indices_or_sections):
        if input.ndim < min_dim:
            raise RuntimeError(f"torch.{op} requires a tensor with at least {min_dim} dimension, "
                               f"but got a tensor with {input.ndim} dimensions!")
        d = 0 if (op == "hsplit" and input.ndim == 1) else dim
        if isinstance(indices_or_sections, int):
            n = input.shape[d]
            if indices_or_sections == 0 or n % indices_or_sections:
                raise RuntimeError(f"torch.{op} attempted to split along dimension {d}, but the "
                                   f"size of the dimension {n} is not divisible by the split_size "
                                   f"{indices_or_sections}!")
        return tensor_split(input, indices_or_sections, d)

    fn.__name__ = op
    fn.__doc__ = f"tensor_split along dimension {dim} (numpy.{op})."
    return fn


hsplit = _dir_split("hsplit", 1, 1)
vsplit = _dir_split("vsplit", 2, 0)
dsplit = _dir_split("dsplit", 3, 2)


def adjoint(input):
    """The conjugate transpose of the last two dimensions (a plain transpose: ember is real)."""
    if input.ndim < 2:
        raise RuntimeError(f"tensor.adjoint() is only supported on matrices or batches of "
                           f"matrices. Got {input.ndim}-D tensor.")
    return input.transpose(-2, -1)


def block_diag(*tensors):
    """The inputs (0-D, 1-D or 2-D) placed along the diagonal of a zero matrix."""
    mats = []
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. "
                               f"Input {i} has {t.ndim} dimensions")
        mats.append(t.reshape(1, -1) if t.ndim < 2 else t)
    if not mats:
        return zeros(1, 0)
    dt = _result_dtype(mats)
    ncols = sum(m.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:
        r, c = m.shape
        rows.append(cat([zeros(r, left, dtype=dt), m.to(dt), zeros(r, ncols - left - c, dtype=dt)],
                        1))
        left += c
    return cat(rows, 0)


def as_strided(input, size, stride, storage_offset=None):
    """Elements of ``input``'s (contiguous) storage at the given strides, as a new tensor."""
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    off = input.storage_offset() if storage_offset is None else storage_offset
    off -= input.storage_offset()  # ember reads the contiguous elements of ``input`` itself
    idx = xp.full(size, off, dtype=xp.int64)
    for d, (n, s) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[d] = n
        idx = idx + (xp.arange(n, dtype=xp.int64) * s).reshape(shape)
    flat = input.reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= flat.shape[0]):
        raise RuntimeError(f"setStorage: sizes {list(size)}, strides {list(stride)}, storage "
                           f"offset {off}, and itemsize {input.element_size()} requiring a storage "
                           f"size of {(int(idx.max()) + 1) * input.element_size()} are out of "
                           f"bounds for storage of size {flat.shape[0] * input.element_size()}")
    return flat[_tensor(idx.reshape(-1))].reshape(size)


def diff(input, n: int = 1, dim: int = -1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim`` (``!=`` for bool tensors)."""
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    d = _wrap_dim(dim, input.ndim)
    parts = [p for p in (prepend, input, append) if p is not None]
    x = cat(parts, d) if len(parts) > 1 else input
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        hi, lo = x.narrow(d, 1, m - 1), x.narrow(d, 0, m - 1)
        x = (hi != lo) if x.dtype is _dtype.bool_ else hi - lo
    return x


register_methods(rot90=rot90, hsplit=hsplit, vsplit=vsplit, dsplit=dsplit, adjoint=adjoint,
                 as_strided=as_strided, diff=diff)
__all__ += ["meshgrid", "cartesian_prod", "rot90", "hsplit", "vsplit", "dsplit", "adjoint",
            "block_diag", "as_strided", "diff"]
