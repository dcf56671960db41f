"""Indexing ops: ``x[key]`` and ``x[key] = v``, gather/scatter, index_*, masked_*, take,
nonzero, tril/triu, sort/topk/argsort, unique, searchsorted/bucketize.

``x[key]`` follows PyTorch, not NumPy, where the two differ: integers are applied first (as
selects) and the tensor indices afterwards, so ``x[0, :, [0, 1]]`` has shape (d1, 2) as in
PyTorch (NumPy gives (2, d1)). Internally a key becomes a basic NumPy key (ints, slices,
None, Ellipsis; the result is a view) and, if there are tensor indices, a second, advanced
key applied to that view (the result is a copy).
"""
from __future__ import annotations

import collections
import itertools
import warnings

from .. import _creation, _dtype
from .._backend import xp
from .._tensor import ARRAY_FUNCTIONS, Tensor, _make, register_methods
from ..autograd import grad_mode
from ..autograd.function import Function
from ._shape import broadcast_error, broadcast_shape
from ._softmax import fill_where
from .elementwise import _out as _copy_out
from .elementwise import _from_indexing, _rebase, _tname, clone
from .movement import (
    AdvancedIndex,
    AliasIndex,
    BasicIndex,
    SelectIndex,
    Split,
    SplitWithSizes,
    Unbind,
    UnsqueezeIndex,
    _dim,
    _expand_shape,
    _finish,
    _finish_copy,
    _Pre,
    _renamed,
    expand,
    index_with_keys,
    reshape,
)

_grad_state = grad_mode._state
_ndarray = xp.ndarray
_intp = xp.intp
_E = Ellipsis
_FULL = slice(None)
_MULTI_VIEW = (Split, SplitWithSizes, Unbind)  # their outputs may not be written in place
for _cls in _MULTI_VIEW:
    _cls._multi_view = True  # read by Tensor._check_inplace


# ---- return types ------------------------------------------------------------------------------
_RETURN_TYPES: dict = {}


def _return_type(name: str, fields=("values", "indices")):
    """A namedtuple class printed like PyTorch's ``torch.return_types.<name>``."""
    cls = _RETURN_TYPES.get(name)
    if cls is None:
        base = collections.namedtuple(name, fields)

        def __repr__(self):
            body = ",\n".join(f"{f}={v!r}" for f, v in zip(self._fields, self))
            return f"{_dtype._names['prefix']}.return_types.{type(self).__name__}(\n{body})"

        # ember.return_types finds the class by this module and name, so instances pickle
        cls = type(name, (base,), {"__slots__": (), "__repr__": __repr__, "__str__": __repr__,
                                   "__module__": "ember.return_types", "__qualname__": name})
        _RETURN_TYPES[name] = cls
    return cls


# ---- key translation -------------------------------------------------------------------------------
def _as_index_array(k):
    """A tensor/array/list used as an index -> an int or bool ndarray (or an int for 0-d)."""
    if isinstance(k, Tensor):
        arr = k._data
        if arr.dtype == xp.uint8:
            warnings.warn("indexing with dtype torch.uint8 is now deprecated, please use a dtype "
                          "torch.bool instead.", UserWarning, stacklevel=3)
            arr = arr.astype(xp.bool_)
    elif isinstance(k, _ndarray):
        arr = k
    else:
        try:
            arr = xp.asarray([x._data if isinstance(x, Tensor) else x for x in k]
                             if k and isinstance(k[0], Tensor) else k)
        except (ValueError, TypeError):
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or "
                             "byte Variables are valid indices (got list)") from None
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(_intp)  # x[[]] selects nothing, as an integer index
    kind = arr.dtype.kind
    if kind == "b":
        return arr
    if kind not in "iu":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    if arr.ndim == 0:  # a 0-d integer tensor indexes like an int (a view, SelectBackward0)
        return int(arr)
    return arr


def _seq_as_tuple(key):
    """PyTorch's legacy rule: a short list holding slices, None, ..., tensors or sequences
    is a tuple of indices (with a deprecation warning), otherwise one tensor index."""
    if len(key) >= 32:
        return False
    for k in key:
        if k is None or k is _E or isinstance(k, (slice, Tensor, list, tuple)):
            warnings.warn(
                "Using a non-tuple sequence for multidimensional indexing is deprecated and will be "
                "changed in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this "
                "will be interpreted as tensor index, x[torch.tensor(seq)], which will result "
                "either in an error or a different result", UserWarning, stacklevel=4)
            return True
    return False


def _check_step(s):
    step = s.step
    if step is not None and step <= 0:
        if step == 0:
            raise ValueError("slice step cannot be zero")
        raise ValueError("step must be greater than zero")


def _items(key):
    """Normalise each element of a key."""
    if key.__class__ is not tuple:
        if key.__class__ is list and _seq_as_tuple(key):
            key = tuple(key)
        else:
            key = (key,)
    out = []
    for k in key:
        c = k.__class__
        if c is int or k is None or k is _E:
            out.append(k)
        elif c is slice:
            _check_step(k)
            out.append(k)
        elif c is bool or c is xp.bool_:
            out.append(xp.array(bool(k)))
        elif isinstance(k, (Tensor, _ndarray, list, tuple, range)):
            # a range indexes as the tensor of its values (nn_tutorial's `input[range(n), target]`)
            out.append(_as_index_array(k))
        elif isinstance(k, (str, bytes)):
            raise TypeError(f"new(): invalid data type '{type(k).__name__}'")
        elif hasattr(k, "__index__"):
            out.append(k.__index__())
        else:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                             f"Variables are valid indices (got {type(k).__name__})")
    return out


def _consumed(k):
    if k.__class__ is _ndarray:
        return k.ndim if k.dtype.kind == "b" else 1
    return 0 if k is None or k is _E else 1


def _translate(items, ndim):
    """items -> (key1, key2) with PyTorch's semantics (see the module docstring); key1 is None
    when the basic part is trivial, key2 None when there are no tensor indices."""
    used = 0
    n_ell = 0
    adv = False
    for k in items:
        if k is _E:
            n_ell += 1
        else:
            used += _consumed(k)
            if k.__class__ is _ndarray:
                adv = True
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if ndim == 0 and any(k.__class__ is slice for k in items):
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    if used > ndim:
        if ndim == 0:
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                             "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    if not adv:
        key1 = tuple(items) if n_ell else tuple(items) + (_E,)
        return key1, None
    key1, key2 = [], []
    basic = False
    for k in items:
        c = k.__class__
        if c is _ndarray:
            if k.ndim == 0:  # a bool scalar: a new dim of size 1 (True) or 0 (False), indexed
                key1.append(None)
                key2.append(xp.zeros(1 if k else 0, _intp))
                basic = True
            else:
                n = _consumed(k)
                key1.extend((_FULL,) * n)
                key2.append(k)
        elif k is _E:
            key1.append(_E)
            key2.extend((_FULL,) * (ndim - used))
        elif c is int:
            key1.append(k)
            basic = True
        else:  # slice or None
            key1.append(k)
            key2.append(_FULL)
            if k is None or k != _FULL:
                basic = True
    if not n_ell:
        key1.append(_E)
    return (tuple(key1) if basic else None), tuple(key2)


def _basic_class(items, a):
    """PyTorch's node name for a basic index: that of its last non-trivial step."""
    cls = AliasIndex
    d = 0
    for i, k in enumerate(items):
        if k is _E:
            d = a.ndim - sum(_consumed(x) for x in items[i + 1:])
            continue
        if k is None:
            cls = UnsqueezeIndex
        elif k.__class__ is int:
            cls = SelectIndex
            d += 1
        else:
            n = a.shape[d]
            if len(range(*k.indices(n))) != n:
                cls = BasicIndex
            d += 1
    return cls


def _contrib1(k):
    """How many dims of the basic part's result an index element accounts for."""
    if k.__class__ is int or k is _E:
        return 0
    if k.__class__ is _ndarray:
        return k.ndim if k.ndim and k.dtype.kind == "b" else 1
    return 1


def _index_error(items, a, key1, exc):
    """Rebuild NumPy's IndexError with PyTorch's wording (only on the error path)."""
    msg = str(exc)
    shape = a.shape
    d = 0
    for i, k in enumerate(items):
        if k is _E:
            d = a.ndim - sum(_consumed(x) for x in items[i + 1:])
            continue
        if k.__class__ is int:
            n = shape[d]
            if not -n <= k < n:
                return IndexError(f"index {k} is out of bounds for dimension {d} with size {n}")
        d += _consumed(k)
    # tensor indices: checked against the result of the basic part, as PyTorch does
    sub = a[key1] if key1 is not None else a
    pos = 0
    adv_i = 0  # PyTorch names the position among the index tensors, not the tensor's dim
    for i, k in enumerate(items):
        if k is _E:
            pos = sub.ndim - sum(_contrib1(x) for x in items[i + 1:])
            continue
        if k.__class__ is _ndarray and k.ndim:
            if k.dtype.kind == "b":
                for j, m in enumerate(k.shape):
                    if pos + j >= sub.ndim or sub.shape[pos + j] != m:
                        return IndexError(
                            f"The shape of the mask {list(k.shape)} at index {j} does not match the "
                            f"shape of the indexed tensor {list(sub.shape)} at index {pos + j}")
                adv_i += k.ndim
            else:
                n = sub.shape[pos]
                bad = k[(k < -n) | (k >= n)]
                if bad.size:
                    return IndexError(f"index {int(bad.reshape(-1)[0])} is out of bounds for "
                                      f"dimension {adv_i} with size {n}")
                adv_i += 1
        elif k.__class__ is _ndarray:
            adv_i += 1
        pos += _contrib1(k)
    if "shape mismatch" in msg:
        shapes = [list(k.shape) for k in items if k.__class__ is _ndarray and k.ndim]
        return IndexError("shape mismatch: indexing tensors could not be broadcast together with "
                          "shapes " + ", ".join(str(s) for s in shapes))
    return IndexError(msg.replace("for axis", "for dimension"))


def _record(x):
    return x._requires_grad and _grad_state[0]


# ---- x[key] ---------------------------------------------------------------------------------------
def getitem(self, key):
    """x[key] with PyTorch's semantics: basic keys give views, tensor/list indices copies."""
    a = self._data
    c = key.__class__
    if c is int and a.ndim:  # the hot paths: x[i] and x[a:b]
        k = (key, _E)
        try:
            out = a[k]
        except IndexError:
            n = a.shape[0]
            raise IndexError(f"index {key} is out of bounds for dimension 0 with size {n}") from None
        return _finish(SelectIndex, self, out, k)
    if c is slice and a.ndim:
        if key.step is not None:
            _check_step(key)
        # a bare slice is always a SliceBackward0 in PyTorch (in a tuple, a full one is skipped)
        return _finish(BasicIndex, self, a[key], (key, _E))
    items = _items(key)
    key1, key2 = _translate(items, a.ndim)
    try:
        v = a[key1] if key1 is not None else a
        if key2 is None:
            return _finish(_basic_class(items, a) if _record(self) else BasicIndex, self, v, key1)
        out = v[key2]
    except IndexError as exc:
        raise _index_error(items, a, key1, exc) from None
    return _finish_copy(AdvancedIndex, self, out, key1, key2)


# ---- x[key] = value --------------------------------------------------------------------------------
def _write(a, v, key1, key2, accumulate=False):
    dst = a[key1] if key1 is not None else a
    if key2 is None:
        dst[...] = v
    elif accumulate:
        xp.add.at(dst, key2, v)
    else:
        dst[key2] = v


def _setitem_error(exc, a, v, key1, key2):
    if "read-only" in str(exc):
        return RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation.")
    dst = a[key1] if key1 is not None else a
    target = dst[key2].shape if key2 is not None else dst.shape
    vshape = xp.shape(v)
    if key2 is not None:
        return RuntimeError(f"shape mismatch: value tensor of shape {list(vshape)} cannot be "
                            f"broadcast to indexing result of shape {list(target)}")
    while len(vshape) > len(target) and vshape[0] == 1:
        vshape = vshape[1:]
    try:
        _expand_shape(xp.empty(vshape, xp.asarray(v).dtype), target)
    except RuntimeError as e:
        return e
    return RuntimeError(str(exc))


class CopySlices(Function):
    """x[key] = value recorded in the graph (x's new history; PyTorch's CopySlices)."""

    _node_name = "CopySlices"

    @staticmethod
    def forward(ctx, a, v, key1, key2, accumulate=False):
        ctx.keys = key1, key2, accumulate
        ctx.vshape = xp.shape(v)
        try:
            _write(a, v, key1, key2, accumulate)
        except ValueError as exc:
            raise _setitem_error(exc, a, v, key1, key2) from None
        return a  # written in place: the output is self's own array

    @staticmethod
    def backward(ctx, grad):
        key1, key2, acc = ctx.keys
        gs = gv = None
        if ctx.needs_input_grad[0]:
            if acc:
                gs = grad
            elif isinstance(grad, Tensor):
                mask = xp.ones(grad.shape, grad._data.dtype)
                _write(mask, 0, key1, key2)
                gs = grad * mask
            else:
                gs = grad.copy()
                _write(gs, 0, key1, key2)
        if ctx.needs_input_grad[1]:
            gv = index_with_keys(grad, key1, key2)
            vshape = ctx.vshape
            if len(gv.shape) < len(vshape):  # value had extra leading 1s
                gv = gv.reshape(vshape)
        return gs, gv


IndexPut = _renamed(CopySlices, "IndexPutBackward0")


def _value_arg(self, value):
    if isinstance(value, Tensor):
        return value._data, value._requires_grad
    if isinstance(value, (int, float, bool)):
        return value, False
    if isinstance(value, (xp.generic, _ndarray)):
        return value, False
    raise TypeError(f"can't assign a {type(value).__name__} to a {self.type()}")


def _put(self, key1, key2, value, accumulate=False):
    """Write value into self[key1][key2] in place (recording the graph when needed)."""
    v, v_grad = _value_arg(self, value)
    base = self._base
    if _grad_state[0] and (self._requires_grad or v_grad
                           or (base is not None and base._requires_grad)):
        fn = self._grad_fn
        if fn is not None and fn.__class__ in _MULTI_VIEW:
            raise RuntimeError(
                f"Output {self._output_nr} of {fn.name()} is a view and is being modified inplace. "
                "This view is the output of a function that returns multiple views. Such functions "
                "do not allow the output views to be modified inplace. You should replace the "
                "inplace operation by an out-of-place one.")
        if base is not None and base._requires_grad and base._grad_fn is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation.")
        if self._requires_grad and self._grad_fn is None:
            what = "a view of a leaf Variable" if key2 is None else "a leaf Variable"
            raise RuntimeError(f"{what} that requires grad is being used in an in-place operation.")
        res = (CopySlices if key2 is None else IndexPut).apply(self, value, key1, key2, accumulate)
        if res._grad_fn is not None:
            self._grad_fn, self._output_nr, self._requires_grad = res._grad_fn, 0, True
        if base is not None:
            rebase_view_base(self, value, key1, key2, accumulate)
    else:
        a = self._data
        try:
            _write(a, v, key1, key2, accumulate)
        except ValueError as exc:
            raise _setitem_error(exc, a, v, key1, key2) from None
    self._vc[0] += 1


def _positions(root, view):
    """Flat indices into C-contiguous ``root`` of each element of ``view`` (None if the view's
    memory can't be located in root's)."""
    if (view.dtype != root.dtype or not root.flags.c_contiguous or not root.size
            or not xp.may_share_memory(root, view)):  # e.g. a base that was replaced or copied
        return None
    item = root.itemsize
    off, rem = divmod(view.__array_interface__["data"][0] - root.__array_interface__["data"][0], item)
    if rem or off < 0:
        return None
    pos = xp.arange(root.size)
    if not view.size:
        return xp.zeros(view.shape, _intp)
    strides = []
    last = off
    for n, st in zip(view.shape, view.strides):
        q, r = divmod(st, item)
        if r or q < 0:
            return None
        strides.append(q * pos.itemsize)
        last += (n - 1) * q
    if last >= root.size:
        return None
    return xp.lib.stride_tricks.as_strided(pos[off:], view.shape, tuple(strides))


class BaseCopySlices(Function):
    """A write through a view, recorded in the history of the view's base (its memory owner)."""

    _node_name = "CopySlices"

    @staticmethod
    def forward(ctx, b, v, idx, accumulate):
        ctx.idx, ctx.acc, ctx.vshape = idx, accumulate, xp.shape(v)
        return b  # the data was written through the view already

    @staticmethod
    def backward(ctx, grad):
        idx = ctx.idx
        gb = gv = None
        if ctx.needs_input_grad[0]:
            if ctx.acc:
                gb = grad
            elif isinstance(grad, Tensor):
                mask = xp.ones(grad.shape, grad._data.dtype)
                mask.reshape(-1)[idx] = 0
                gb = grad * mask
            else:
                gb = xp.array(grad, order="C")
                gb.reshape(-1)[idx] = 0
        if ctx.needs_input_grad[1]:
            gv = (grad.reshape(-1) if isinstance(grad, Tensor) else
                  xp.ascontiguousarray(grad).reshape(-1))[idx]
            if len(gv.shape) < len(ctx.vshape):
                gv = gv.reshape(ctx.vshape)
        return gb, gv


def rebase_view_base(view, value, key1=None, key2=None, accumulate=False):
    """After ``value`` was written into ``view[key1][key2]`` (the whole view when no key), make
    the write part of the history of the view's base, as PyTorch's CopySlices does.

    elementwise's in-place ops can call ``rebase_view_base(self, res)`` after rebasing a view.
    """
    base = view._base
    if base is None or not _grad_state[0]:
        return
    if not (base._requires_grad or (isinstance(value, Tensor) and value._requires_grad)):
        return
    pos = _positions(base._data, view._data)
    if pos is None:
        return
    idx = pos[key1] if key1 is not None else pos
    idx = xp.array(idx[key2] if key2 is not None else idx)
    res = BaseCopySlices.apply(base, value, idx, accumulate)
    if res._grad_fn is not None:
        base._grad_fn, base._output_nr, base._requires_grad = res._grad_fn, 0, True


def setitem(self, key, value):
    """x[key] = value, in place (the tensor object and its storage are kept)."""
    a = self._data
    c = key.__class__
    if c is int and a.ndim and not (_grad_state[0] and (self._requires_grad or (
            isinstance(value, Tensor) and value._requires_grad))):
        k = (key, _E)
        v = value._data if isinstance(value, Tensor) else _value_arg(self, value)[0]
        try:
            a[k] = v
        except IndexError:
            raise IndexError(f"index {key} is out of bounds for dimension 0 with size "
                             f"{a.shape[0]}") from None
        except ValueError as exc:
            raise _setitem_error(exc, a, v, k, None) from None
        self._vc[0] += 1
        return
    items = _items(key)
    key1, key2 = _translate(items, a.ndim)
    try:
        _put(self, key1, key2, value)
    except IndexError as exc:
        raise _index_error(items, a, key1, exc) from None


def index_put_(self, indices, values, accumulate=False):
    """self[indices] = values (or += with accumulate=True, repeated indices adding up)."""
    items = _items(tuple(indices))
    key1, key2 = _translate(items, self._data.ndim)
    if key2 is None:  # accumulate needs the advanced form
        key2, key1 = tuple(xp.asarray([k]) if k.__class__ is int else k
                           for k in key1 if k is not _E), None
    try:
        _put(self, key1, key2, values, accumulate)
    except IndexError as exc:
        raise _index_error(items, self._data, key1, exc) from None
    return self


def index_put(input, indices, values, accumulate=False):
    """Out-of-place index_put_."""
    return index_put_(clone(input), indices, values, accumulate)


# ---- gather / scatter ---------------------------------------------------------------------------------
def _check_index(index, op):
    idx = index._data if isinstance(index, Tensor) else xp.asarray(index)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index")
    return idx


def _along(idx, d):
    """Open-grid index tuple selecting a[..., idx[...], ...] along dim d (take_along_axis)."""
    nd = idx.ndim
    out = []
    for i, n in enumerate(idx.shape):
        if i == d:
            out.append(idx)
        else:
            out.append(xp.arange(n).reshape((1,) * i + (n,) + (1,) * (nd - i - 1)))
    return tuple(out)


def _check_along(a, idx, d, op, src=None):
    if idx.ndim != a.ndim and not (a.ndim <= 1 and idx.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as "
                           + ("input tensor" if op == "gather" else "self tensor"))
    for i in range(idx.ndim):
        if i != d and idx.shape[i] > (a.shape[i] if a.ndim else 1):
            raise RuntimeError(
                f"Size does not match at dimension {i} expected index {list(idx.shape)} to be no "
                f"larger than self {list(a.shape)} apart from dimension {d}")
        if src is not None and idx.shape[i] > (src.shape[i] if src.ndim else 1):
            raise RuntimeError(
                f"Expected index {list(idx.shape)} to be no larger than self {list(a.shape)} apart "
                f"from dimension {d} and to be no larger size than src {list(src.shape)}")
    n = a.shape[d] if a.ndim else 1
    if idx.size:
        lo, hi = idx.min(), idx.max()
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise RuntimeError(f"index {bad} is out of bounds for dimension {d} with size {n}")


class _AddAtZeros(Function):
    """Zeros of the input's shape with grad added where a selection along d read (at
    ``_key(idx, d)``): the backward of gather and of index_select, itself differentiable (its
    backward is the selection, ``_op``, again). Made by _renamed below gather and index_select."""

    @staticmethod
    def forward(ctx, grad, d, idx, meta):
        ctx.d, ctx.idx = d, idx
        return _add_at_zeros(grad, ctx._key(idx, d), meta)

    @staticmethod
    def backward(ctx, gg):
        return ctx.select(gg, ctx.d, ctx.idx)

    @classmethod
    def of(cls, grad, d, idx, meta):
        """For an array grad, or a Tensor one under create_graph (then recorded)."""
        if isinstance(grad, Tensor):
            return cls.apply(grad, d, idx, meta)
        return _add_at_zeros(grad, cls._key(idx, d), meta)

    @classmethod
    def select(cls, x, d, idx):
        """The selection again, of an array, or of a Tensor under create_graph (recorded)."""
        if isinstance(x, Tensor):
            return cls._op(x, d, _make(idx, False, None, 0))
        return x[cls._key(idx, d)] if x.ndim else x.copy()


def _add_at_zeros(grad, key, meta):
    g = xp.zeros(meta[0], grad.dtype)
    if g.ndim == 0:
        g[...] = grad.sum()
        return g
    xp.add.at(g, key, grad)  # indices may repeat: their grads add up
    return g


class _Selection(_Pre):
    """The node of a selection along d (gather, index_select): its backward is ``_zeros``."""

    @staticmethod
    def backward(ctx, grad):
        d, idx = ctx.meta
        return ctx._zeros.of(grad, d, idx, ctx.in_meta)


def gather(input, dim, index, *, sparse_grad=False, axis=None):
    """out[i][j] = input[i][index[i][j]] (for dim=1): values picked along a dim."""
    if axis is not None:
        dim = axis
    a = input._data
    idx = _check_index(index, "gather")
    d = _dim(dim, a.ndim)
    _check_along(a, idx, d, "gather")
    if a.ndim == 0:
        out = a.reshape(idx.shape) if idx.ndim else a.copy()
    else:
        out = a[_along(idx, d)]
    return _finish_copy(Gather, input, out, d, idx)


ScatterAddZeros = _renamed(_AddAtZeros, "ScatterAddBackward0", _key=staticmethod(_along),
                           _op=staticmethod(gather))
Gather = _renamed(_Selection, "GatherBackward0", _zeros=ScatterAddZeros)


def take_along_dim(input, indices, dim=None):
    """Like gather, but input and indices broadcast against each other (NumPy's take_along_axis)."""
    if dim is None:
        return gather(reshape(input, (-1,)), 0, reshape(indices, (-1,)))
    a = input._data
    idx = indices._data
    d = _dim(dim, a.ndim)
    s_in = list(a.shape)
    s_in[d] = idx.shape[d]
    shape = list(broadcast_shape(tuple(s_in), idx.shape))
    ind = expand(indices, tuple(shape))
    shape[d] = a.shape[d]
    return gather(expand(input, tuple(shape)), d, ind)


class _Pre2(_Pre):
    """Like _Pre, for ops with a second differentiable input (src, source, value)."""

    @staticmethod
    def forward(ctx, a, out, b, *meta):
        ctx.meta = meta
        ctx.in_meta = (a.shape, a.dtype)
        return out


class _IntoSelection(_Pre2):
    """A source written into the input where a selection reads (``_zeros``: ScatterAddZeros for
    scatter and scatter_add, IndexAddZeros for index_copy and index_add), over it (``_copies``)
    or added: the input's grad is grad, zero where overwritten; the source's is grad read back
    at the selection (times index_add's alpha), in the source's shape: zero-padded where
    scatter's index is smaller than src (``_pads``), else reshaped."""

    _copies = True
    _pads = True

    @staticmethod
    def backward(ctx, grad):
        d, idx, src_shape, *alpha = ctx.meta
        need = ctx.needs_input_grad
        gi = gs = None
        if need[0]:
            gi = _zero_at(grad, ctx._zeros._key(idx, d)) if ctx._copies else grad
        if len(need) > 2 and need[2]:  # scatter(value=) has no source
            gs = ctx._zeros.select(grad, d, idx)
            if alpha and alpha[0] != 1:
                gs = gs * alpha[0]
            gs = _pad_to(gs, src_shape) if ctx._pads else gs.reshape(src_shape)
        return gi, None, gs


Scatter = _renamed(_IntoSelection, "ScatterBackward0", _zeros=ScatterAddZeros)
ScatterValue = _renamed(Scatter, "ScatterBackward1", forward=_Pre.forward)
ScatterAdd = _renamed(_IntoSelection, "ScatterAddBackward0", _zeros=ScatterAddZeros,
                      _copies=False)


def _pad_to(g, shape):
    """Grads for src where index is smaller than src: zeros outside index's extent."""
    if tuple(g.shape) == tuple(shape):
        return g
    if isinstance(g, Tensor):
        out = _creation.zeros(tuple(shape), dtype=g.dtype)
        out[tuple(slice(0, n) for n in g.shape)] = g
        return out
    out = xp.zeros(shape, g.dtype)
    out[tuple(slice(0, n) for n in g.shape)] = g
    return out


_REDUCE_UFUNCS = {"add": xp.add, "multiply": xp.multiply}


def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    """out = input with ``src`` (or ``value``) written at ``index`` along ``dim``."""
    a = input._data
    idx = _check_index(index, "scatter")
    d = _dim(dim, a.ndim)
    if src is not None and not isinstance(src, Tensor):
        src, value = None, src
    _check_along(a, idx, d, "scatter", src._data if src is not None else None)
    out = a.copy()
    key = _along(idx, d) if a.ndim else ()
    if src is not None:
        s = src._data
        v = s[tuple(slice(0, n) for n in idx.shape)] if s.ndim else s
    else:
        v = value._data if isinstance(value, Tensor) else value
    if reduce is not None:
        if reduce not in _REDUCE_UFUNCS:
            raise RuntimeError(f"reduce argument must be either add or multiply. Got {reduce}")
        _REDUCE_UFUNCS[reduce].at(out, key, xp.broadcast_to(xp.asarray(v, a.dtype), idx.shape))
        return _make(out, False, None, 0)
    out[key] = v
    if src is not None:
        if _grad_state[0] and (input._requires_grad or src._requires_grad):
            return Scatter.apply(input, out, src, d, idx, src._data.shape)
        return _make(out, False, None, 0)
    return _finish_copy(ScatterValue, input, out, d, idx, ())


def scatter_add(input, dim, index, src):
    """out = input with ``src`` added at ``index`` along ``dim`` (repeats accumulate)."""
    a = input._data
    idx = _check_index(index, "scatter_add")
    d = _dim(dim, a.ndim)
    s = src._data
    _check_along(a, idx, d, "scatter_add", s)
    out = a.copy()
    if a.ndim:
        xp.add.at(out, _along(idx, d), s[tuple(slice(0, n) for n in idx.shape)].astype(a.dtype, copy=False))
    else:
        out += s.sum()
    if _grad_state[0] and (input._requires_grad or src._requires_grad):
        return ScatterAdd.apply(input, out, src, d, idx, s.shape)
    return _make(out, False, None, 0)


# ---- index_select / index_add / index_copy / index_fill ----------------------------------------------
def _check_vector_index(index, op):
    idx = index._data if isinstance(index, Tensor) else xp.asarray(index)
    if idx.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector")
    if idx.dtype.kind not in "iu":
        # PyTorch: a RuntimeError, except index_fill's IndexError
        exc = IndexError if op.startswith("index_fill") else RuntimeError
        raise exc(f"{op}(): Expected dtype int32 or int64 for index")
    return idx.reshape(-1)


def _check_range(idx, n):
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError("index out of range in self")


def index_select(input, dim, index, *, axis=None):
    """The slices ``index`` of ``dim`` (a copy)."""
    if axis is not None:
        dim = axis
    a = input._data
    d = _dim(dim, a.ndim)
    idx = _check_vector_index(index, "index_select")
    n = a.shape[d] if a.ndim else 1
    _check_range(idx, n)
    if a.ndim == 0:
        out = a.copy()
    else:
        out = xp.take(a, idx, axis=d)
    return _finish_copy(IndexSelect, input, out, d, idx)


def _at_dim(idx, d):
    """The index tuple selecting a[..., idx, ...] at dim d (index_select)."""
    return (slice(None),) * d + (idx,)


IndexAddZeros = _renamed(_AddAtZeros, "IndexAddBackward0", _key=staticmethod(_at_dim),
                         _op=staticmethod(index_select))
IndexSelect = _renamed(_Selection, "IndexSelectBackward0", _zeros=IndexAddZeros)


def _check_source(a, s, d, op):
    if s.dtype != a.dtype:
        raise RuntimeError(f"{op}_(): self ({_dname(a)}) and source ({_dname(s)}) must have the "
                           "same scalar type")
    if a.ndim and s.ndim and (s.shape[:d] + s.shape[d + 1:] != a.shape[:d] + a.shape[d + 1:]):
        raise RuntimeError("source tensor shape must match self tensor shape, excluding the "
                           f"specified dimension. Got self.shape = {list(a.shape)} source.shape = "
                           f"{list(s.shape)}")


def _dname(a):
    return _tname(a.dtype)


IndexAdd = _renamed(_IntoSelection, "IndexAddBackward0", _zeros=IndexAddZeros, _copies=False,
                    _pads=False)
IndexCopy = _renamed(_IntoSelection, "IndexCopyBackward0", _zeros=IndexAddZeros, _pads=False)


def _zero_at(grad, key):
    """grad with zeros at key (where a copy overwrote the input), recorded for a Tensor grad."""
    if isinstance(grad, Tensor):
        mask = xp.ones(grad.shape, grad._data.dtype)
        mask[key] = 0
        return grad * mask
    g = grad.copy()
    g[key] = 0
    return g


def _index_prep(input, dim, index, op):
    a = input._data
    d = _dim(dim, a.ndim)
    idx = _check_vector_index(index, op)
    _check_range(idx, a.shape[d] if a.ndim else 1)
    key = _at_dim(idx, d) if a.ndim else ()
    return a, d, idx, key


def index_add(input, dim, index, source, *, alpha=1):
    """out = input with ``alpha * source`` slices added at ``index`` of ``dim``."""
    a, d, idx, key = _index_prep(input, dim, index, "index_add")
    s = source._data
    _check_source(a, s, d, "index_add")
    out = a.copy()
    src = s if alpha == 1 else s * alpha
    if a.ndim:
        xp.add.at(out, key, src.reshape(xp.take(a, idx, axis=d).shape).astype(a.dtype, copy=False))
    else:
        out += src.sum()
    if _grad_state[0] and (input._requires_grad or source._requires_grad):
        return IndexAdd.apply(input, out, source, d, idx, s.shape, alpha)
    return _make(out, False, None, 0)


def index_copy(input, dim, index, source):
    """out = input with the slices ``index`` of ``dim`` replaced by source's."""
    a, d, idx, key = _index_prep(input, dim, index, "index_copy")
    s = source._data
    _check_source(a, s, d, "index_copy")
    out = a.copy()
    out[key] = s.reshape(xp.take(a, idx, axis=d).shape) if a.ndim else s
    if _grad_state[0] and (input._requires_grad or source._requires_grad):
        return IndexCopy.apply(input, out, source, d, idx, s.shape)
    return _make(out, False, None, 0)


class IndexFill(_Pre):
    _node_name = "IndexFillBackward0"

    @staticmethod
    def backward(ctx, grad):
        (key,) = ctx.meta
        return _zero_at(grad, key)


def index_fill(input, dim, index, value):
    """out = input with the slices ``index`` of ``dim`` set to ``value``."""
    a, _, _, key = _index_prep(input, dim, index, "index_fill")
    out = a.copy()
    out[key] = value._data if isinstance(value, Tensor) else value
    return _finish_copy(IndexFill, input, out, key)


# ---- masked ops -------------------------------------------------------------------------------------------
_C_NAMES = {"int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
            "uint8": "unsigned char", "float32": "float", "float64": "double", "float16": "c10::Half",
            "bool": "bool"}


def _check_mask(mask, op):
    m = mask._data if isinstance(mask, Tensor) else xp.asarray(mask)
    if m.dtype != xp.bool_:
        raise RuntimeError(f"{op} only supports boolean masks, but got mask with dtype "
                           f"{_C_NAMES.get(m.dtype.name, m.dtype.name)}")
    return m


class MaskedFill(_Pre):
    _node_name = "MaskedFillBackward0"

    @staticmethod
    def backward(ctx, grad):
        (m,) = ctx.meta
        gi = None
        if ctx.needs_input_grad[0]:  # zero where masked (fill_where: where(), cheaper)
            gi = fill_where(grad, m, 0) if grad.__class__ is _ndarray else xp.where(m, 0, grad)
        gv = None
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            gv = xp.where(m, grad, 0).sum()
        return gi, None, gv


class MaskedFillTensor(MaskedFill):
    _node_name = "MaskedFillBackward1"
    forward = _Pre2.forward


def _contiguous(arr):
    """PyTorch allocates these results contiguous; NumPy's follow the input's layout."""
    return arr if arr.flags.c_contiguous else xp.ascontiguousarray(arr)


def masked_fill(input, mask, value):
    """out = input with ``value`` where mask is True (mask broadcasts)."""
    a = input._data
    m = _check_mask(mask, "masked_fill_")
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value._data.ndim} dimension(s).")
        v = value._data.astype(a.dtype)
    else:
        v = xp.asarray(value).astype(a.dtype)
    try:
        if m.ndim <= a.ndim and all(k in (1, n) for k, n in zip(m.shape[::-1], a.shape[::-1])):
            out = fill_where(a, m, v)  # the mask fits a: as where() below, cheaper
        else:
            out = _contiguous(xp.where(m, v, a))
    except ValueError:
        raise broadcast_error_for(a.shape, m.shape) from None
    if isinstance(value, Tensor):
        if _grad_state[0] and (input._requires_grad or value._requires_grad):
            return MaskedFillTensor.apply(input, out, value, m)
        return _make(out, False, None, 0)
    return _finish_copy(MaskedFill, input, out, m)


def broadcast_error_for(a, b):
    return broadcast_error(a, b)


MaskedSelect = _renamed(AdvancedIndex, "MaskedSelectBackward0")


def masked_select(input, mask):
    """The elements where mask is True, as a 1-D tensor (input and mask broadcast)."""
    m = _check_mask(mask, "masked_select:")
    a = input._data
    shape = broadcast_shape(m.shape, a.shape)
    x = input if a.shape == shape else expand(input, shape)
    if m.shape != shape:
        m = xp.broadcast_to(m, shape)
    return _finish_copy(MaskedSelect, x, x._data[m], None, (m,))


class MaskedScatter(_Pre2):
    _node_name = "MaskedScatterBackward0"

    @staticmethod
    def backward(ctx, grad):
        m, s_shape = ctx.meta
        gi = xp.where(m, 0, grad) if ctx.needs_input_grad[0] else None
        gs = None
        if ctx.needs_input_grad[2]:
            picked = xp.broadcast_to(grad, m.shape)[m]
            gs = xp.zeros(int(xp.prod(s_shape)), picked.dtype)
            gs[:picked.size] = picked
            gs = gs.reshape(s_shape)
        return gi, None, gs


def masked_scatter(input, mask, source):
    """out = input with source's elements (in order) written where mask is True."""
    m = _check_mask(mask, "masked_scatter_")
    a = input._data
    shape = broadcast_shape(a.shape, m.shape)
    m = xp.broadcast_to(m, shape)
    out = xp.array(xp.broadcast_to(a, shape))
    count = int(m.sum())
    s = source._data.reshape(-1)
    if s.size < count:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    out[m] = s[:count]
    if _grad_state[0] and (input._requires_grad or source._requires_grad):
        return MaskedScatter.apply(input, out, source, m, source._data.shape)
    return _make(out, False, None, 0)


# ---- take, nonzero --------------------------------------------------------------------------------------------
Take = _renamed(AdvancedIndex, "TakeBackward0")


def take(input, index):
    """input treated as 1-D, indexed by ``index`` (result has index's shape)."""
    idx = index._data
    if idx.dtype.kind not in "iu":
        raise RuntimeError("take(): Expected a long tensor for index, but got "
                           f"{index.dtype}")
    flat = reshape(input, (-1,))
    n = flat._data.shape[0]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx.min() if idx.min() < -n else idx.max()
        raise IndexError(f"out of range: tried to access index {int(bad)} on a tensor of {n} elements.")
    return _finish_copy(Take, flat, flat._data[idx], None, (idx,))


def nonzero(input, *, as_tuple=False):
    """Indices of the non-zero elements: an (n, ndim) tensor, or a tuple of 1-D ones."""
    a = input._data
    if as_tuple:
        return tuple(_make(i, False, None, 0) for i in xp.nonzero(a if a.ndim else a.reshape(1)))
    return _make(xp.argwhere(a), False, None, 0)


def argwhere(input):
    """The indices of the non-zero elements, one row per element."""
    return nonzero(input)


# ---- tril / triu ----------------------------------------------------------------------------------------------
class Tril(_Pre):
    """tril's node: its grad is masked by the same triangle (Triu: the upper one)."""

    _node_name = "TrilBackward0"
    _mask = staticmethod(xp.tril)

    @staticmethod
    def backward(ctx, grad):
        return ctx._mask(grad, ctx.meta[0])


Triu = _renamed(Tril, "TriuBackward0", _mask=staticmethod(xp.triu))


def _triangle(op, node, input, diagonal, out):
    a = input._data
    if a.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions")
    res = _finish_copy(node, input, _contiguous(node._mask(a, diagonal)), diagonal)
    return _copy_out(res, out)


def tril(input, diagonal=0, *, out=None):
    """The lower triangle of the last two dims (elements above ``diagonal`` zeroed)."""
    return _triangle("tril", Tril, input, diagonal, out)


def triu(input, diagonal=0, *, out=None):
    """The upper triangle of the last two dims (elements below ``diagonal`` zeroed)."""
    return _triangle("triu", Triu, input, diagonal, out)




# ---- sorting ----------------------------------------------------------------------------------------------------
def _argsort(a, d, descending):
    """Stable argsort along d; descending keeps equal elements in their original order and
    puts NaN first (PyTorch's order: NaN is the largest value)."""
    if not descending:
        return xp.argsort(a, axis=d, kind="stable")
    n = a.shape[d]
    idx = xp.argsort(xp.flip(a, d), axis=d, kind="stable")
    return (n - 1) - xp.flip(idx, d)


# sort's and topk's values are a gather along d by the returned indices
SortBackward = _renamed(Gather, "SortBackward0")
TopkBackward = _renamed(Gather, "TopkBackward0")


def _sort_values(input, idx, d, cls):
    a = input._data
    vals = xp.take_along_axis(a, idx, d)
    v = _finish_copy(cls, input, vals, d, idx)
    return v, _make(idx.astype(xp.int64, copy=False), False, None, 0)


def sort(input, dim=-1, descending=False, stable=False, *, axis=None):
    """(values, indices) sorted along ``dim``; the sort is always stable."""
    if axis is not None:
        dim = axis
    a = input._data
    if a.ndim == 0:
        v = _finish_copy(SortBackward, input, a.copy(), 0, xp.zeros((), xp.int64))
        return _return_type("sort")(v, _make(xp.zeros((), xp.int64), False, None, 0))
    d = _dim(dim, a.ndim)
    return _return_type("sort")(*_sort_values(input, _argsort(a, d, descending), d, SortBackward))


def argsort(input, dim=-1, descending=False, stable=False, *, axis=None):
    """The indices that sort ``input`` along ``dim`` (stable)."""
    if axis is not None:
        dim = axis
    a = input._data
    if a.ndim == 0:
        return _make(xp.zeros((), xp.int64), False, None, 0)
    return _make(_argsort(a, _dim(dim, a.ndim), descending).astype(xp.int64, copy=False),
                 False, None, 0)


def msort(input):
    """Sorted along dim 0 (the values only)."""
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The k largest (or smallest) elements along ``dim`` and their indices, sorted."""
    a = input._data
    k = int(k)
    if a.ndim == 0:
        if k > 1 or k < 0:
            raise RuntimeError("selected index k out of range")
        v = _finish_copy(TopkBackward, input, a.copy(), 0, xp.zeros((), xp.int64))
        return _return_type("topk")(v, _make(xp.zeros((), xp.int64), False, None, 0))
    d = _dim(dim, a.ndim)
    n = a.shape[d]
    if not 0 <= k <= n:
        raise RuntimeError("selected index k out of range")
    if 4 * k < n:  # partition first: O(n) instead of a full sort
        part = xp.argpartition(a, n - k if largest else k - 1, axis=d)
        sl = [slice(None)] * a.ndim
        sl[d] = slice(n - k, None) if largest else slice(0, k)
        cand = part[tuple(sl)]
        # order the candidates; ties broken by the original index
        cand = xp.sort(cand, axis=d)
        order = _argsort(xp.take_along_axis(a, cand, d), d, largest)
        idx = xp.take_along_axis(cand, order, d)
    else:
        sl = [slice(None)] * a.ndim
        sl[d] = slice(0, k)
        idx = _argsort(a, d, largest)[tuple(sl)]
    return _return_type("topk")(*_sort_values(input, idx, d, TopkBackward))


# ---- unique ----------------------------------------------------------------------------------------------------------
def _long(a):
    return _make(xp.asarray(a).astype(xp.int64, copy=False), False, None, 0)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements (or slices along ``dim``), sorted; optionally inverse and counts."""
    a = input._data
    if dim is None:
        # PyTorch keeps every NaN as its own element; NumPy merges them unless told not to
        res = xp.unique(a.reshape(-1), return_inverse=True, return_counts=True, equal_nan=False)
        vals, inv, counts = res
        inv = inv.reshape(a.shape)
    else:
        d = _dim(dim, a.ndim)
        vals, inv, counts = xp.unique(a, return_inverse=True, return_counts=True, axis=d)
        inv = inv.reshape(-1)
    out = [_make(vals, False, None, 0)]
    if return_inverse:
        out.append(_long(inv))
    if return_counts:
        out.append(_long(counts))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Collapses runs of equal consecutive elements (or slices along ``dim``)."""
    a = input._data
    if dim is None:
        flat = a.reshape(-1)
        change = xp.empty(flat.shape[0], bool)
        if flat.size:
            change[0] = True
            xp.not_equal(flat[1:], flat[:-1], out=change[1:])
        vals = flat[change]
        inv_shape = a.shape
    else:
        d = _dim(dim, a.ndim)
        moved = xp.moveaxis(a, d, 0)
        change = xp.ones(moved.shape[0], bool)
        if moved.shape[0] > 1:
            change[1:] = (moved[1:] != moved[:-1]).reshape(moved.shape[0] - 1, -1).any(1)
        vals = xp.moveaxis(moved[change], 0, d)
        inv_shape = (moved.shape[0],)
    out = [_make(xp.ascontiguousarray(vals), False, None, 0)]
    if return_inverse:
        out.append(_long((xp.cumsum(change) - 1).reshape(inv_shape)))
    if return_counts:
        starts = xp.flatnonzero(change)
        out.append(_long(xp.diff(xp.append(starts, change.shape[0]))))
    return out[0] if len(out) == 1 else tuple(out)


# ---- searchsorted / bucketize ------------------------------------------------------------------------------------
def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None,
                 out=None):
    """Indices where ``input`` would be inserted into the last dim of ``sorted_sequence``."""
    seq = sorted_sequence._data
    scalar = not isinstance(input, Tensor)
    v = xp.asarray(input) if scalar else input._data
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got "
                               "side of left while right was True")
        right = side == "right"
    if sorter is not None:
        seq = xp.take_along_axis(seq, sorter._data, -1)
    sd = "right" if right else "left"
    if seq.ndim <= 1:
        res = xp.searchsorted(seq.reshape(-1), v, side=sd)
    else:
        if v.shape[:-1] != seq.shape[:-1]:
            raise RuntimeError(
                "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                "dimensions of boundaries tensor and input value tensor must match, but we got "
                f"boundaries tensor {list(seq.shape)} and input value tensor {list(v.shape)}")
        # count, per row, the boundaries below each value (vectorised over rows)
        cmp = xp.less_equal if right else xp.less
        res = cmp(seq[..., None, :], v[..., :, None]).sum(-1)
    res = xp.asarray(res).astype(xp.int32 if out_int32 else xp.int64, copy=False)
    return _copy_out(_make(res, False, None, 0), out)


def _isin_signature_error(elements, test_elements):
    return TypeError(
        "isin() received an invalid combination of arguments - got "
        f"({type(elements).__name__}, {type(test_elements).__name__}), but expected one of:\n"
        " * (Tensor elements, Tensor test_elements, *, bool assume_unique = False, bool invert = "
        "False, Tensor out = None)\n"
        " * (Number element, Tensor test_elements, *, bool assume_unique = False, bool invert = "
        "False, Tensor out = None)\n"
        " * (Tensor elements, Number test_element, *, bool assume_unique = False, bool invert = "
        "False, Tensor out = None)\n")


def isin(elements, test_elements, *, assume_unique=False, invert=False, out=None):
    """Whether each element of ``elements`` is in ``test_elements`` (compared after promotion)."""
    is_t, is_tt = isinstance(elements, Tensor), isinstance(test_elements, Tensor)
    numbers = (int, float, xp.number)
    if not ((is_t or isinstance(elements, numbers)) and (is_tt or isinstance(test_elements, numbers))
            and (is_t or is_tt)) or isinstance(elements, bool) or isinstance(test_elements, bool):
        raise _isin_signature_error(elements, test_elements)
    for x in (elements, test_elements):
        if isinstance(x, Tensor) and x.dtype is _dtype.bool_:
            raise RuntimeError("Unsupported input type encountered for isin(): Bool")
    # PyTorch compares in the promoted dtype: uint8 2 is in [1.5, 2.0]
    common = _dtype.result_type(elements, test_elements).np
    a = elements._data if is_t else xp.asarray(elements)
    b = test_elements._data if is_tt else xp.asarray(test_elements)
    with xp.errstate(over="ignore", invalid="ignore"):
        a = a.astype(common, copy=False) if is_t else xp.array(elements).astype(common)
        b = b.astype(common, copy=False) if is_tt else xp.array(test_elements).astype(common)
    res = xp.isin(a, b, assume_unique=bool(assume_unique), invert=bool(invert))
    return _copy_out(_make(xp.asarray(res, dtype=xp.bool_), False, None, 0), out)


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    """The bucket of each element given 1-D ``boundaries`` (right=False: b[i-1] < x <= b[i])."""
    b = boundaries._data
    if b.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({b.ndim})")
    v = input._data if isinstance(input, Tensor) else xp.asarray(input)
    res = xp.searchsorted(b, v, side="right" if right else "left")
    res = xp.asarray(res).astype(xp.int32 if out_int32 else xp.int64, copy=False)
    return _copy_out(_make(res, False, None, 0), out)


# ---- in-place forms -----------------------------------------------------------------------------------------------
def _inplace(op):
    def method(self, *args, **kwargs):
        self._check_inplace()
        return _rebase(self, op(self, *args, **kwargs))

    method.__name__ = op.__name__ + "_"
    return method


def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
    self._check_inplace()
    res = scatter(self, dim, index, src, value, reduce=reduce)
    return _rebase(self, res)


# ---- binding ---------------------------------------------------------------------------------------------------------
register_methods(
    __getitem__=getitem, __setitem__=setitem, index_put_=index_put_, index_put=index_put,
    gather=gather, take_along_dim=take_along_dim, scatter=scatter, scatter_=scatter_,
    scatter_add=scatter_add, scatter_add_=_inplace(scatter_add), index_select=index_select,
    index_add=index_add, index_add_=_inplace(index_add), index_copy=index_copy,
    index_copy_=_inplace(index_copy), index_fill=index_fill, index_fill_=_inplace(index_fill),
    masked_fill=masked_fill, masked_fill_=_inplace(masked_fill), masked_select=masked_select,
    masked_scatter=masked_scatter, masked_scatter_=_inplace(masked_scatter), take=take,
    nonzero=nonzero, argwhere=argwhere, tril=tril, triu=triu, tril_=_inplace(tril),
    triu_=_inplace(triu), sort=sort, argsort=argsort, msort=msort, topk=topk, unique=unique,
    unique_consecutive=unique_consecutive,
)


def _np_take_along_axis(arr, indices, axis):
    return take_along_dim(arr, indices if isinstance(indices, Tensor) else _make(xp.asarray(indices), False, None, 0), axis)


def _np_sort(a, axis=-1, kind=None, order=None, **kw):
    if axis is None:
        return sort(reshape(a, (-1,)), 0).values
    return sort(a, axis).values


def _np_argsort(a, axis=-1, kind=None, order=None, **kw):
    if axis is None:
        return argsort(reshape(a, (-1,)), 0)
    return argsort(a, axis)


ARRAY_FUNCTIONS.update({
    xp.tril: lambda m, k=0: tril(m, k), xp.triu: lambda m, k=0: triu(m, k),
    xp.take_along_axis: _np_take_along_axis, xp.sort: _np_sort, xp.argsort: _np_argsort,
    xp.nonzero: lambda a: nonzero(a, as_tuple=True), xp.argwhere: argwhere,
})

__all__ = [
    "gather", "take_along_dim", "scatter", "scatter_add", "index_select", "index_add",
    "index_copy", "index_fill", "index_put", "masked_fill", "masked_select", "masked_scatter",
    "take", "nonzero", "argwhere", "tril", "triu", "sort", "argsort", "msort", "topk", "unique",
    "unique_consecutive", "searchsorted", "bucketize", "isin",
]


# ---- scatter_reduce, the *_scatter family, tril/triu_indices, bincount, unravel_index ----------


class ScatterReduce(_Pre2):
    """amax/amin/prod: ties share the gradient evenly, as in PyTorch."""

    _node_name = "ScatterReduceBackward0"

    @staticmethod
    def backward(ctx, grad):
        d, idx, src_shape, reduce, include_self, a, s, r = ctx.meta
        g = grad._data if isinstance(grad, Tensor) else grad
        key = _along(idx, d)
        hit = xp.zeros(a.shape, bool)
        hit[key] = True
        own = xp.ones(a.shape, bool) if include_self else ~hit
        if reduce == "prod":
            # d r / d x = the product of the others: r / x without zeros, else the product of
            # the nonzero factors for the one zero (and 0 when there are two or more)
            zeros = (own & (a == 0)).astype(xp.int64)
            xp.add.at(zeros, key, s == 0)
            nz = xp.where(own & (a != 0), a, 1)
            xp.multiply.at(nz, key, xp.where(s == 0, 1, s))

            def others(x, z, p, res):
                with xp.errstate(divide="ignore", invalid="ignore"):
                    return xp.where(x == 0, xp.where(z == 1, p, 0), xp.where(z == 0, res / x, 0))

            gi = xp.where(own, g * others(a, zeros, nz, r), 0)
            gs = g[key] * others(s, zeros[key], nz[key], r[key])
        else:
            m_self = own & (a == r)
            m_src = s == r[key]
            count = m_self.astype(a.dtype)
            xp.add.at(count, key, m_src)
            gc = g / xp.maximum(count, 1)
            gi = gc * m_self
            gs = gc[key] * m_src
        return gi, None, _pad_to(gs.astype(a.dtype, copy=False), src_shape)


_SCATTER_REDUCE = {"sum": xp.add, "prod": xp.multiply, "mean": xp.add, "amax": xp.maximum,
                   "amin": xp.minimum}


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """``src`` reduced into ``input`` at ``index`` along ``dim`` (sum, prod, mean, amax, amin)."""
    if reduce not in _SCATTER_REDUCE:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    a = input._data
    idx = _check_index(index, "scatter_reduce")
    d = _dim(dim, a.ndim)
    _check_along(a, idx, d, "scatter_reduce", src._data)
    if input.dtype != src.dtype:
        raise RuntimeError("scatter_reduce(): Expected self.dtype to be equal to src.dtype")
    key = _along(idx, d) if a.ndim else ()
    hit = xp.zeros(a.shape, bool)
    hit[key] = True
    if reduce in ("sum", "mean"):  # composed: the gradient comes from masked_fill/scatter_add
        base = input if include_self else masked_fill(input, _make(hit, False, None, 0), 0)
        res = scatter_add(base, d, index, src)
        if reduce == "sum":
            return res
        count = xp.full(a.shape, 1 if include_self else 0, xp.int64)
        xp.add.at(count, key, 1)
        count = _make(xp.maximum(count, 1).astype(a.dtype), False, None, 0)
        if input.is_floating_point():
            return res / count
        return res.div(count, rounding_mode="floor")
    s = src._data[tuple(slice(0, n) for n in idx.shape)]
    out = a.copy()
    if not include_self:  # the reduction's identity where src lands
        out[hit] = {"prod": 1, "amax": -xp.inf, "amin": xp.inf}[reduce] if a.dtype.kind == "f" \
            else {"prod": 1, "amax": xp.iinfo(a.dtype).min if a.dtype.kind in "iu" else False,
                  "amin": xp.iinfo(a.dtype).max if a.dtype.kind in "iu" else True}[reduce]
    _SCATTER_REDUCE[reduce].at(out, key, s)
    if _grad_state[0] and (input._requires_grad or src._requires_grad):
        return ScatterReduce.apply(input, out, src, d, idx, src._data.shape, reduce, include_self,
                                   a, s, out)
    return _make(out, False, None, 0)


def _scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
    return self.copy_(scatter_reduce(self, dim, index, src, reduce, include_self=include_self))


def _embed(input, src, key):
    """A copy of ``input`` with ``src`` written at ``key``; the gradient flows to both."""
    out = input.clone()
    out[key] = src
    return out


def select_scatter(input, src, dim: int, index: int):
    """A copy of ``input`` with ``src`` written over ``input.select(dim, index)``."""
    d = _dim(dim, input.ndim)
    return _embed(input, src, _at_dim(index, d))


def slice_scatter(input, src, dim: int = 0, start=None, end=None, step: int = 1):
    """A copy of ``input`` with ``src`` written over the slice ``start:end:step`` of ``dim``."""
    d = _dim(dim, input.ndim)
    return _embed(input, src, (slice(None),) * d + (slice(start, end, step),))


def diagonal_scatter(input, src, offset: int = 0, dim1: int = 0, dim2: int = 1):
    """A copy of ``input`` with ``src`` written over ``input.diagonal(offset, dim1, dim2)``."""
    out = input.clone()
    out.diagonal(offset, dim1, dim2).copy_(src)
    return out


def _tri_indices(np_fn, row, col, offset, dtype):
    if row < 0 or col < 0:
        raise RuntimeError(f"row must be non-negative, got{row}" if row < 0
                           else f"col must be non-negative, got{col}")
    r, c = np_fn(row, offset, col)
    return _creation.tensor(xp.stack([r, c]).astype(xp.int64),
                            dtype=_dtype.int64 if dtype is None else dtype)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None):
    """The 2 x N (row, column) coordinates of the lower triangle of a row x col matrix."""
    return _tri_indices(xp.tril_indices, row, col, offset, dtype)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None):
    """The 2 x N (row, column) coordinates of the upper triangle of a row x col matrix."""
    return _tri_indices(xp.triu_indices, row, col, offset, dtype)


def bincount(input, weights=None, minlength: int = 0):
    """Counts of each non-negative integer (sums of ``weights`` when given)."""
    a = input._data
    if a.dtype.kind not in "iub":
        raise NotImplementedError(f'"bincount_cpu" not implemented for \'{_dname(a)}\'')
    if a.ndim != 1 or a.dtype.kind not in "iu" or (a.size and a.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if weights is None:
        return _make(xp.bincount(a, minlength=minlength).astype(xp.int64), False, None, 0)
    w = weights._data
    if w.ndim != 1 or w.shape[0] != a.shape[0]:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    # PyTorch keeps float32 weights' dtype and sums every other dtype in float64
    dt = xp.float32 if w.dtype == xp.float32 else xp.float64
    return _make(xp.bincount(a, weights=w, minlength=minlength).astype(dt), False, None, 0)


def unravel_index(indices, shape):
    """The coordinates (a tuple of int64 tensors) of flat ``indices`` in a tensor of ``shape``."""
    idx = indices._data if isinstance(indices, Tensor) else xp.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"expected 'indices' to be integer dtype, but got "
                        f"{_dtype.from_numpy_dtype(idx.dtype)}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    n = int(xp.prod(shape))
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise RuntimeError("'indices' must be in range [-" f"{n}, {n - 1}]")
    coords = xp.unravel_index(xp.where(idx < 0, idx + n, idx), shape)
    return tuple(_make(xp.asarray(c, dtype=xp.int64), False, None, 0) for c in coords)


def combinations(input, r: int = 2, with_replacement: bool = False):
    """The length-``r`` combinations of a 1-D tensor's elements, one per row."""
    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return input.new_empty((0,))
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = xp.array(list(pick(range(input.shape[0]), r)), dtype=xp.int64).reshape(-1, r)
    return input[_make(rows, False, None, 0)]


register_methods(scatter_reduce=scatter_reduce, scatter_reduce_=_scatter_reduce_,
                 select_scatter=select_scatter, slice_scatter=slice_scatter,
                 diagonal_scatter=diagonal_scatter, bincount=bincount)
__all__ += ["scatter_reduce", "select_scatter", "slice_scatter", "diagonal_scatter",
            "tril_indices", "triu_indices", "bincount", "unravel_index", "combinations"]
_from_indexing.update(nonzero=nonzero, rebase_view_base=rebase_view_base)
