"""Linear algebra: matmul and its cases (mm, mv, dot, bmm), the addmm family, einsum,
tensordot, outer, kron, trace, and det / inverse / solve.

matmul's forward is a single xp.matmul (one BLAS call for 2-D float tensors, batches of
matrices against a matrix folded into one call too); backward saves only the operand the
other one's gradient needs.
"""
from __future__ import annotations

import math
import string
import warnings
from collections import Counter

from .. import _dtype
from .._backend import xp
from .._tensor import ARRAY_FUNCTIONS, UFUNCS, Tensor, _make, register_methods
from ..autograd import grad_mode
from ..autograd.function import Function
from ._parallel import grain, parallel_for
from ._shape import broadcast_error
from .elementwise import _out as _copy_out
from .elementwise import _tname
from .elementwise import where as _where
from .indexing import _return_type
from .movement import _renamed, cat
from .reduce import _others_product, vector_norm

__all__ = [
    "addbmm", "addmm", "addmv", "baddbmm", "bmm", "det", "dot", "einsum", "ger", "inner",
    "inverse", "kron", "logdet", "matmul", "mm", "mv", "outer", "slogdet", "tensordot", "trace",
    "vdot",
]


_grad_state = grad_mode._state


class LinAlgError(RuntimeError):
    """Raised for singular inputs (torch.linalg.LinAlgError)."""


# C++ type names that mm's dtype error prints, and the short names other errors print
_C_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
            "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
            "bool": "bool"}


def _cname(np_dtype) -> str:
    return _C_NAMES[np_dtype.name]


def _mT(x):
    """Swap the last two dims of an array (or of a Tensor, under create_graph)."""
    if isinstance(x, Tensor):
        return x.transpose(-2, -1)
    return x.swapaxes(-1, -2)


def _mm_any(a, b):
    """a @ b for arrays or Tensors; (..., n, k) @ (k, m) folded into one GEMM."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return matmul(_as_tensor(a), _as_tensor(b))
    if a.ndim > 2 and b.ndim == 2:
        return (a.reshape(-1, a.shape[-1]) @ b).reshape(a.shape[:-1] + (b.shape[-1],))
    if a.ndim > 2 and a.shape[:-2] == b.shape[:-2] and a.dtype == b.dtype:
        return _batched_mm(a, b)
    return a @ b


# Multiply-adds per thread, at least, for a batched matmul split over ember's threads: OpenBLAS
# runs each small product of a batch (attention's (64, 32) @ (32, 64)) on one thread anyway.
_BMM_WORK = 1 << 22


def _batched_mm(a, b):
    """a @ b for the same batch dims, the batch split over ember's threads (first axis)."""
    m = b.shape[-1]
    per_item = a.size // max(a.shape[0], 1) * m  # multiply-adds per first-axis item
    if a.shape[0] < 2 or per_item * a.shape[0] < 2 * _BMM_WORK:
        return a @ b
    out = xp.empty(a.shape[:-1] + (m,), xp.result_type(a, b))
    parallel_for(lambda lo, hi: xp.matmul(a[lo:hi], b[lo:hi], out=out[lo:hi]), a.shape[0],
                 grain(per_item, _BMM_WORK))
    return out


def _as_tensor(x):
    if isinstance(x, Tensor):
        return x
    return _make(xp.asarray(x), False, None, 0)


def _out(result, out):
    return result if out is None else _copy_out(result, out)


# ---- matmul and its special cases ----------------------------------------------------------------
class Mm(Function):
    @staticmethod
    def forward(ctx, a, b):
        need = ctx.needs_input_grad
        if need:  # each grad needs only the other operand
            ctx.save_for_backward(b if need[0] else None, a if need[1] else None)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        b, a = ctx.saved_tensors
        gb = None
        if a is not None:
            # an inner dimension of one: an outer product, a broadcast multiply being ~5x
            # faster than NumPy's matmul for (n, 1) @ (1, m)
            gb = a.T * grad if a.shape[0] == 1 else a.T @ grad
        return (None if b is None else grad @ b.T), gb


class Matmul(Function):
    """The general matmul: 1-D operands promoted to matrices, batch dims broadcast."""

    _node_name = "UnsafeViewBackward0"

    @staticmethod
    def forward(ctx, a, b):
        need = ctx.needs_input_grad
        if need:
            ctx.save_for_backward(b if need[0] else None, a if need[1] else None)
            ctx.nda, ctx.ndb, ctx.a_shape = a.ndim, b.ndim, a.shape
        return _mm_any(a, b)

    @staticmethod
    def backward(ctx, grad):
        b, a = ctx.saved_tensors
        nda, ndb = ctx.nda, ctx.ndb
        if nda > 2 and ndb == 2:
            # (..., n, k) @ (k, m): fold the batch into the rows, so each grad is one GEMM
            # (the incoming grad, often a broadcast view, is made contiguous only once)
            m = grad.shape[-1]
            g2 = grad.reshape(-1, m)
            ga = None if b is None else (g2 @ b.T).reshape(ctx.a_shape)
            gb = None if a is None else a.reshape(-1, a.shape[-1]).T @ g2
            return ga, gb
        # put back the unit dims matmul removed for 1-D operands; then one formula fits all
        if nda == 1:
            s = grad.shape
            grad = grad.reshape(tuple(s[:-1]) + (1,) + tuple(s[-1:]))
        if ndb == 1:
            grad = grad.reshape(tuple(grad.shape) + (1,))
        ga = gb = None
        if b is not None:
            ga = _mm_any(grad, _mT(b.reshape(-1, 1)) if ndb == 1 else _mT(b))
            if nda == 1:
                s = ga.shape
                ga = ga.reshape(tuple(s[:-2]) + tuple(s[-1:]))
        if a is not None:
            gb = _mm_any(a.reshape(-1, 1) if nda == 1 else _mT(a), grad)
            if ndb == 1:
                gb = gb.reshape(tuple(gb.shape[:-1]))
        return ga, gb  # batch dims that were broadcast are summed by the engine


MatmulClone = _renamed(Matmul, "CloneBackward0")
Mv = _renamed(Matmul, "MvBackward0")
Vm = _renamed(Matmul, "SqueezeBackward4")
Dot = _renamed(Matmul, "DotBackward0")
Vdot = _renamed(Matmul, "VdotBackward0")
Bmm = _renamed(Matmul, "BmmBackward0")


def _mm_error(sa, sb):
    return RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa[0]}x{sa[1]} and "
                        f"{sb[0]}x{sb[1]})")


def _check_mm(a, b, sa=None, sb=None):
    """mm's checks, for operands a, b (or the folded shapes sa, sb that PyTorch multiplies)."""
    if a.dtype != b.dtype:
        raise RuntimeError("expected m1 and m2 to have the same dtype, but got: "
                           f"{_cname(a.dtype)} != {_cname(b.dtype)}")
    sa = a.shape if sa is None else sa
    sb = b.shape if sb is None else sb
    if sa[1] != sb[0]:
        raise _mm_error(sa, sb)
    if a.dtype == xp.bool_:
        raise NotImplementedError("\"addmm_impl_cpu_\" not implemented for 'Bool'")


def _check_mv(mat, vec, n=None, k=None):
    """mv's checks; PyTorch may fold a batch into the rows (n) of the matrix."""
    n = mat.shape[0] if n is None else n
    k = mat.shape[-1] if k is None else k
    if k != vec.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({n}), mat ({n}x{k}), vec ({vec.shape[0]})")
    if mat.dtype != vec.dtype:
        v, m = _tname(vec.dtype), _tname(mat.dtype)
        raise RuntimeError(
            f"addmv input tensors must have the same dtype, but got {v}, {m}, and {v}")
    if mat.dtype == xp.bool_:
        raise NotImplementedError("\"addmv_impl_cpu\" not implemented for 'Bool'")


def _check_dot(a, b):
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.dtype != b.dtype:
        raise RuntimeError("dot : expected both vectors to have same dtype, but found "
                           f"{_tname(a.dtype)} and {_tname(b.dtype)}")
    if a.shape[0] != b.shape[0]:
        n, m = a.shape[0], b.shape[0]
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same "
            f"number of elements, but got {n} and {m} elements respectively")
    if a.dtype == xp.bool_:
        raise NotImplementedError("\"dot\" not implemented for 'Bool'")


def _check_bmm_dtype(a, b):
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected scalar type {_tname(a.dtype)} but found {_tname(b.dtype)}")
    if a.dtype == xp.bool_:
        raise NotImplementedError("\"bmm\" not implemented for 'Bool'")


def _route(a, b, rga, rgb):
    """Check a @ b as PyTorch's matmul does and return the node class of the case.

    PyTorch picks dot/mv/mm, folds a batch into a matrix (one mm or mv), or broadcasts
    and calls bmm; which one (and so the errors and the grad_fn name) depends on the dims and
    on which operand requires grad. The arithmetic is the same xp.matmul in every case.
    """
    da, db = a.ndim, b.ndim
    if db == 1:
        if da == 1:
            _check_dot(a, b)
            return Dot
        _check_mv(a, b, math.prod(a.shape[:-1]))
        return Mv if da == 2 else Matmul
    if db == 2:
        if da == 1:
            _check_mm(a, b, (1, a.shape[0]))
            return Vm
        _check_mm(a, b, (math.prod(a.shape[:-1]), a.shape[-1]))
        return Matmul
    if da <= 2 and rga:  # folded as (b^T @ a^T)^T: b's batch goes into the rows
        rows = math.prod(b.shape[:-2]) * b.shape[-1]
        if da == 2:
            _check_mm(b, a, (rows, b.shape[-2]), (a.shape[1], a.shape[0]))
            return MatmulClone  # the transposed result is made contiguous: a clone
        _check_mv(b, a, rows, b.shape[-2])
        return Matmul
    if da == 3 and db == 3 and a.shape[0] != b.shape[0]:  # PyTorch squeezes a unit batch
        if a.shape[0] == 1 and rga:
            return _route(a[0], b, rga, rgb)
        if b.shape[0] == 1 and rgb:
            return _route(a, b[0], rga, rgb)
    ba, bb = a.shape[:-2], b.shape[:-2]
    try:
        bsz = math.prod(xp.broadcast_shapes(ba, bb))
    except ValueError:
        raise broadcast_error(ba, bb) from None
    k = a.shape[-1]
    if b.shape[-2] != k:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{bsz}, {k}] but got: [{bsz}, {b.shape[-2]}].")
    _check_bmm_dtype(a, b)
    return Matmul


def matmul(input, other, *, out=None):
    """Matrix product with NumPy/PyTorch broadcasting (1-D operands are vectors)."""
    a, b = input._data, other._data
    if a.ndim == 2 and b.ndim == 2:
        _check_mm(a, b)
        if out is None and not (_grad_state[0] and (input._requires_grad or other._requires_grad)):
            return _make(a @ b, False, None, 0)  # no graph to record: skip Function.apply
        return _out(Mm.apply(input, other), out)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError("both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    cls = _route(a, b, input._requires_grad, other._requires_grad)
    return _out(cls.apply(input, other), out)


def mm(input, mat2, *, out=None):
    """Product of two matrices."""
    a, b = input._data, mat2._data
    if a.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if b.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    _check_mm(a, b)
    return _out(Mm.apply(input, mat2), out)


def bmm(input, mat2, *, out=None):
    """Batched product of (b, n, k) and (b, k, m) tensors."""
    a, b = input._data, mat2._data
    if a.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    _check_batch3(a, b, "bmm")
    _check_bmm_dtype(a, b)
    return _out(Bmm.apply(input, mat2), out)


def mv(input, vec, *, out=None):
    """Matrix-vector product."""
    a, v = input._data, vec._data
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {a.ndim}, {v.ndim}")
    _check_mv(a, v)
    return _out(Mv.apply(input, vec), out)


def dot(input, tensor, *, out=None):
    """Inner product of two 1-D tensors."""
    _check_dot(input._data, tensor._data)
    return _out(Dot.apply(input, tensor), out)


def vdot(input, other, *, out=None):
    """Inner product of two 1-D tensors (conjugating the first; ember has no complex)."""
    _check_dot(input._data, other._data)
    return _out(Vdot.apply(input, other), out)


def _np_matmul(a, b):
    return matmul(_as_tensor(a), _as_tensor(b))


# ---- the addmm family ----------------------------------------------------------------------------
def _scale(x, s):
    return x if s == 1 else x * s


class _AddProduct(Function):
    """beta * input + alpha * m1 @ m2, for matrices or batches of them (addmm, baddbmm); Addmv
    and Addbmm override the product and its grads."""

    @staticmethod
    def forward(ctx, inp, m1, m2, beta, alpha):
        need = ctx.needs_input_grad
        if need:
            ctx.save_for_backward(m2 if need[1] else None, m1 if need[2] else None)
            ctx.beta, ctx.alpha = beta, alpha
        prod = ctx._product(m1, m2)
        if alpha != 1:
            prod = xp.multiply(prod, alpha, out=prod, casting="unsafe")
        if beta == 0:  # input is ignored, NaNs included, as in PyTorch
            return prod
        if beta != 1:
            inp = inp * beta
        return xp.add(prod, inp, out=prod, casting="unsafe")

    @staticmethod
    def backward(ctx, grad):
        m2, m1 = ctx.saved_tensors
        alpha = ctx.alpha
        gi = _scale(grad, ctx.beta) if ctx.needs_input_grad[0] else None
        g1 = None if m2 is None else _scale(ctx._grad1(grad, m2), alpha)
        g2 = None if m1 is None else _scale(ctx._grad2(grad, m1), alpha)
        return gi, g1, g2, None, None

    @staticmethod
    def _product(m1, m2):
        return m1 @ m2

    @staticmethod
    def _grad1(grad, m2):
        return _mm_any(grad, _mT(m2))

    @staticmethod
    def _grad2(grad, m1):
        return _mm_any(_mT(m1), grad)


class Addmm(_AddProduct):
    """addmm's node: beta * input + alpha * (matrix @ matrix)."""


class Baddbmm(_AddProduct):
    """baddbmm's node: beta * input + alpha * (batch of matrices @ batch of matrices)."""


class Addmv(_AddProduct):
    @staticmethod
    def _product(m, v):
        return m @ v

    @staticmethod
    def _grad1(grad, v):
        return grad.reshape(-1, 1) * v

    @staticmethod
    def _grad2(grad, m):
        return m.T @ grad


class Addbmm(Baddbmm):
    @staticmethod
    def _product(b1, b2):
        # sum_b b1[b] @ b2[b] is one GEMM of (n, B*k) by (B*k, m)
        bsz, n, k = b1.shape
        return b1.transpose(1, 0, 2).reshape(n, bsz * k) @ b2.reshape(bsz * k, -1)


def _expand_check(inp, target):
    """PyTorch's expand() errors, for an ``input`` that must broadcast to ``target``."""
    inp_shape = inp.shape
    if len(inp_shape) > len(target):
        raise RuntimeError(
            f"expand(torch.{_tname(inp.dtype)}Tensor{{{list(inp_shape)}}}, size={list(target)}): "
            f"the number of sizes provided ({len(target)}) must be greater or equal to the number "
            f"of dimensions in the tensor ({len(inp_shape)})")
    off = len(target) - len(inp_shape)
    for i in range(len(inp_shape) - 1, -1, -1):
        if inp_shape[i] != 1 and inp_shape[i] != target[i + off]:
            raise RuntimeError(
                f"The expanded size of the tensor ({target[i + off]}) must match the existing size "
                f"({inp_shape[i]}) at non-singleton dimension {i + off}.  Target sizes: "
                f"{list(target)}.  Tensor sizes: {list(inp_shape)}")


def _check_same_dtype(inp, m1, m2):
    if inp.dtype != m2.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got {_tname(inp.dtype)} "
                           f"and {_tname(m2.dtype)}")
    if m1.dtype != m2.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {_tname(m1.dtype)} "
                           f"and {_tname(m2.dtype)}")


def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):
    """beta * input + alpha * (mat1 @ mat2), input broadcast to the product's shape."""
    i, a, b = _as_tensor(input)._data, mat1._data, mat2._data
    for name, m in (("mat1", a), ("mat2", b)):
        if m.ndim != 2:
            raise RuntimeError(f"{name} must be a matrix, got {m.ndim}-D tensor")
    _check_same_dtype(i, a, b)
    if a.shape[1] != b.shape[0]:
        raise _mm_error(a.shape, b.shape)
    _expand_check(i, (a.shape[0], b.shape[1]))
    return _out(Addmm.apply(input, mat1, mat2, beta, alpha), out)


def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):
    """beta * input + alpha * (mat @ vec)."""
    i, m, v = _as_tensor(input)._data, mat._data, vec._data
    if m.ndim != 2 or v.ndim != 1 or i.ndim > 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {i.ndim}, {m.ndim}, {v.ndim}")
    if m.shape[1] != v.shape[0] or (i.ndim == 1 and i.shape[0] not in (1, m.shape[0])):
        n = i.shape[0] if i.ndim else 1
        raise RuntimeError(f"size mismatch, got input ({n}), mat ({m.shape[0]}x{m.shape[1]}), "
                           f"vec ({v.shape[0]})")
    if not (i.dtype == m.dtype == v.dtype):
        raise RuntimeError("addmv input tensors must have the same dtype, but got "
                           f"{_tname(i.dtype)}, {_tname(m.dtype)}, and {_tname(v.dtype)}")
    return _out(Addmv.apply(input, mat, vec, beta, alpha), out)


def _check_batch3(b1, b2, op):
    if b1.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if b1.shape[0] != b2.shape[0] or b1.shape[2] != b2.shape[1]:
        if op == "addbmm":
            raise RuntimeError(f"Incompatible matrix sizes for bmm ({b1.shape[1]}x{b1.shape[2]} "
                               f"and {b2.shape[1]}x{b2.shape[2]})")
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{b1.shape[0]}, {b1.shape[2]}] but got: [{b2.shape[0]}, {b2.shape[1]}].")


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    """beta * input + alpha * bmm(batch1, batch2)."""
    i, a, b = _as_tensor(input)._data, batch1._data, batch2._data
    _check_batch3(a, b, "baddbmm")
    _check_bmm_dtype(a, b)
    _expand_check(i, (a.shape[0], a.shape[1], b.shape[2]))
    return _out(Baddbmm.apply(input, batch1, batch2, beta, alpha), out)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    """beta * input + alpha * sum over the batch of batch1[b] @ batch2[b]."""
    i, a, b = _as_tensor(input)._data, batch1._data, batch2._data
    if a.ndim >= 2 and b.ndim >= 3:  # PyTorch expands input before it checks the batches
        _expand_check(i, (a.shape[1], b.shape[2]))
    _check_batch3(a, b, "addbmm")
    _check_bmm_dtype(a, b)
    return _out(Addbmm.apply(input, batch1, batch2, beta, alpha), out)


# ---- einsum, tensordot, inner, outer, kron -------------------------------------------------------
class Einsum(Function):
    """xp.einsum forward; the grad of each operand is an einsum of the grad and the others."""

    _node_name = "ViewBackward0"

    @staticmethod
    def forward(ctx, spec, *ops):
        ins, out, name = spec
        if name is not None:
            ctx._node_name = name  # PyTorch's top node depends on how it decomposes the einsum
        ctx.spec = (ins, out)
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(*ops)
        return _np_einsum(",".join(ins) + "->" + out, ops)

    @staticmethod
    def backward(ctx, grad):
        ops = ctx.saved_tensors
        ins, out = ctx.spec
        sizes = {}
        for sub, op in zip(ins, ops):
            for c, n in zip(sub, op.shape):
                sizes[c] = max(sizes.get(c, 1), n)
        grads = [None]
        for i, sub in enumerate(ins):
            if not ctx.needs_input_grad[i + 1]:
                grads.append(None)
                continue
            grads.append(_einsum_grad(grad, out, ins, ops, i, sizes))
        return tuple(grads)


def _np_einsum(eq, ops):
    if any(isinstance(o, Tensor) for o in ops):
        return einsum(eq, *[_as_tensor(o) for o in ops])
    return xp.einsum(eq, *ops, optimize=len(ops) > 1)


def _einsum_grad(grad, out, ins, ops, i, sizes):
    """d(sum grad * einsum(ops)) / d ops[i], in the broadcast shape of that operand."""
    target = ins[i]
    used = set("".join(ins)) | set(out)
    fresh = iter(c for c in string.ascii_letters if c not in used)
    subs, arrays = [out], [grad]
    for j, (s, op) in enumerate(zip(ins, ops)):
        if j != i:
            subs.append(s)
            arrays.append(op)
    # a repeated label (a diagonal) gets a fresh label joined to it by an identity matrix
    seen, wanted = set(), []
    for c in target:
        if c in seen:
            c2 = next(fresh)
            subs.append(c + c2)
            arrays.append(xp.eye(sizes[c], dtype=_dtype_of(grad)))
            wanted.append(c2)
        else:
            seen.add(c)
            wanted.append(c)
    have = set("".join(subs))
    # labels summed out of this operand alone do not reach the grad: broadcast along them
    produce = "".join(c for c in wanted if c in have)
    r = _np_einsum(",".join(subs) + "->" + produce, arrays)
    if len(produce) == len(wanted):
        return r
    shape = tuple(sizes[c] if c in have else 1 for c in wanted)
    r = r.reshape(shape)
    full = tuple(sizes[c] for c in wanted)
    return r.expand(full) if isinstance(r, Tensor) else xp.broadcast_to(r, full)


def _dtype_of(x):
    return x._data.dtype if isinstance(x, Tensor) else x.dtype


def _parse_einsum(eq, shapes):
    """Normalise an equation: explicit output, '...' spelled out as letters."""
    eq = eq.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) > len(shapes):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(ins) < len(shapes):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    used = set(eq)
    free = [c for c in string.ascii_letters if c not in used]
    ell_nd = 0
    for sub, shape in zip(ins, shapes):
        if "..." in sub:
            ell_nd = max(ell_nd, len(shape) - (len(sub) - 3))
    ell = "".join(free[:ell_nd])
    new_ins = []
    for k, (sub, shape) in enumerate(zip(ins, shapes)):
        if "..." in sub:
            n = len(shape) - (len(sub) - 3)
            sub = sub.replace("...", ell[ell_nd - n:])
        elif len(sub) != len(shape):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(sub)}) does not match "
                f"the number of dimensions ({len(shape)}) for operand {k} and no ellipsis was "
                "given")
        new_ins.append(sub)
    if arrow:
        out = out.replace("...", ell)
        for c in out:
            if c not in "".join(new_ins):
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   "equation for any input operand")
    else:  # implicit output: the ellipsis, then labels seen once, in alphabetical order
        counts = Counter(c for sub in ins for c in sub if c != ".")
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    # every label's size must agree (or be 1, which broadcasts)
    sizes = {}
    for k, (sub, shape) in enumerate(zip(new_ins, shapes)):
        local = {}
        for c, n in zip(sub, shape):
            if c in local and local[c] != n:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {k} but the "
                                   f"sizes don't match, {n} != {local[c]}")
            local[c] = n
            prev = sizes.get(c)
            if prev is not None and n != prev and n != 1 and prev != 1:
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {k} which "
                                   f"does not broadcast with previously seen size {prev}")
            sizes[c] = n if prev is None or prev == 1 else prev
    return new_ins, out


def _einsum_node_name(ins, out):
    contracted = set("".join(ins)) - set(out)
    if len(ins) == 1:
        return "SumBackward1" if contracted else "PermuteBackward0"
    return "ViewBackward0" if contracted else "MulBackward0"


def einsum(equation, *operands):
    """Einstein summation: ``einsum("ij,jk->ik", a, b)``, also with '...' and implicit output."""
    if not isinstance(equation, str):  # sublist form: einsum(a, [0, 1], b, [1, 2], [0, 2])
        args = (equation,) + operands
        ops = args[0::2][: len(args) // 2]
        subs = ["".join(string.ascii_letters[i] for i in s) for s in args[1::2]]
        eq = ",".join(subs)
        if len(args) % 2:
            eq += "->" + "".join(string.ascii_letters[i] for i in args[-1])
        equation, operands = eq, tuple(ops)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = tuple(_as_tensor(o) for o in operands)
    ins, out = _parse_einsum(equation, [o._data.shape for o in operands])
    dt = operands[0]._data.dtype
    for o in operands[1:]:
        if o._data.dtype != dt:
            raise RuntimeError(f"expected scalar type {_tname(dt)} but found "
                               f"{_tname(o._data.dtype)}")
    return Einsum.apply((tuple(ins), out, _einsum_node_name(ins, out)), *operands)


def tensordot(a, b, dims=2, out=None):
    """Contract ``dims`` (an int, or two lists of dims) of ``a`` with those of ``b``."""
    na, nb = a._data.ndim, b._data.ndim
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(-dims, 0)), list(range(dims))
    else:
        if len(dims) != 2:
            raise RuntimeError("tensordot expects dims to be a pair of lists of dimensions")
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(da) != len(db):
        raise RuntimeError("both dimension lists should have same length")
    la = list(string.ascii_letters[:na])
    lb = list(string.ascii_letters[na: na + nb])
    sa, sb = a._data.shape, b._data.shape
    for x, y in zip(da, db):
        if sa[x] != sb[y]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {sa[x]} "
                               f"in dim {x} and second has size {sb[y]} in dim {y}")
        lb[y % nb] = la[x % na]
    contracted = {la[x % na] for x in da}
    res_sub = "".join(c for c in la if c not in contracted) + "".join(
        c for c in lb if c not in contracted)
    if a._data.dtype != b._data.dtype:
        raise RuntimeError("both inputs should have same dtype")
    res = Einsum.apply((("".join(la), "".join(lb)), res_sub, "ViewBackward0"), a, b)
    return _out(res, out)


def inner(input, other, *, out=None):
    """Inner product over the last dimension (a product when either is 0-d)."""
    a, b = input._data, _as_tensor(other)._data
    if a.ndim == 0 or b.ndim == 0:
        return _out(input * other, out)
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError("inner() the last dimension must match on both input tensors but got "
                           f"shapes {list(a.shape)} and {list(b.shape)}")
    return tensordot(input, other, ([-1], [-1]), out=out)


class Outer(Function):
    _node_name = "MulBackward0"

    @staticmethod
    def forward(ctx, a, b, dt):
        need = ctx.needs_input_grad
        if need:
            ctx.save_for_backward(b if need[0] else None, a if need[1] else None)
        return xp.multiply.outer(a.astype(dt, copy=False), b.astype(dt, copy=False))

    @staticmethod
    def backward(ctx, grad):
        b, a = ctx.saved_tensors  # multiplied, not matmul'ed: an integer operand promotes
        ga = None if b is None else (grad * b).sum(-1)
        gb = None if a is None else (grad * a.reshape(-1, 1)).sum(0)
        return ga, gb, None


def outer(input, vec2, *, out=None):
    """Outer product of two 1-D tensors (dtypes promote)."""
    for name, t in (("self", input), ("vec2", vec2)):
        if t._data.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t._data.ndim}-D")
    dt = _dtype.result_type(input, vec2).np
    return _out(Outer.apply(input, vec2, dt), out)


ger = outer


class Kron(Function):
    _node_name = "UnsafeViewBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp.kron(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        nd = max(a.ndim, b.ndim)
        a = a.reshape((1,) * (nd - a.ndim) + tuple(a.shape))
        b = b.reshape((1,) * (nd - b.ndim) + tuple(b.shape))
        la, lb = string.ascii_letters[:nd], string.ascii_letters[nd: 2 * nd]
        # out[i*B + j] = a[i] b[j]: split each dim of the grad into (i, j)
        g = grad.reshape(tuple(n for pair in zip(a.shape, b.shape) for n in pair))
        gsub = "".join(x + y for x, y in zip(la, lb))
        ga = _np_einsum(f"{gsub},{lb}->{la}", (g, b))
        gb = _np_einsum(f"{gsub},{la}->{lb}", (g, a))
        return ga, gb  # the engine drops the leading unit dims added above


def kron(input, other, *, out=None):
    """Kronecker product."""
    if input._data.dtype != other._data.dtype:
        dt = _dtype.result_type(input, other)
        input, other = input.to(dt), other.to(dt)
    return _out(Kron.apply(input, other), out)


class Trace(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.shape = a.shape
        dt = xp.int64 if a.dtype.kind in "biu" else a.dtype
        return xp.asarray(xp.trace(a, dtype=dt))

    @staticmethod
    def backward(ctx, grad):
        return grad * xp.eye(*ctx.shape, dtype=_dtype_of(grad))


def trace(input):
    """Sum of the main diagonal of a matrix."""
    if input._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input._data.ndim}")
    if input._data.dtype == xp.bool_:
        raise NotImplementedError("\"trace\" not implemented for 'Bool'")
    return Trace.apply(input)


# ---- det, inverse, solve -------------------------------------------------------------------------
def _check_square(a, op):
    if a.ndim < 2:
        raise RuntimeError(f"linalg.{op}: The input tensor A must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"linalg.{op}: A must be batches of square matrices, but they are "
                           f"{a.shape[-2]} by {a.shape[-1]} matrices")
    if a.dtype.kind != "f":
        raise RuntimeError(f"linalg.{op}: Expected a floating point or complex tensor as input. "
                           f"Got {_tname(a.dtype)}")


def _singular_pivot(m):
    """1-based index of the first zero pivot of LU with partial pivoting (for the error text)."""
    m = xp.array(m, dtype=xp.float64)
    n = m.shape[0]
    tol = xp.finfo(xp.float64).eps * max(n, 1) * max(xp.abs(m).max(), 1e-300)
    for j in range(n):  # n column steps on the error path only
        p = j + int(xp.argmax(xp.abs(m[j:, j])))
        if abs(m[p, j]) <= tol:
            return j + 1
        m[[j, p]] = m[[p, j]]
        m[j + 1:] -= xp.outer(m[j + 1:, j] / m[j, j], m[j])
    return n


def _inv_error(a):
    mats = a.reshape((-1,) + a.shape[-2:])
    for k, m in enumerate(mats):
        try:
            xp.linalg.inv(m)
        except xp.linalg.LinAlgError:
            where = f"(Batch element {k}): " if a.ndim > 2 else ""
            return LinAlgError(
                f"linalg.inv: {where}The diagonal element {_singular_pivot(m)} is zero, the "
                "inversion could not be completed because the input matrix is singular.")
    return LinAlgError("linalg.inv: the input matrix is singular.")


class Inverse(Function):
    _node_name = "LinalgInvExBackward0"

    @staticmethod
    def forward(ctx, a):
        try:
            out = xp.linalg.inv(a)
        except xp.linalg.LinAlgError:
            raise _inv_error(a) from None
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (inv,) = ctx.saved_tensors
        inv_t = _mT(inv)
        return -_mm_any(_mm_any(inv_t, grad), inv_t)


def inverse(input, *, out=None):
    """Matrix inverse (batched)."""
    _check_square(input._data, "inv")
    return _out(Inverse.apply(input), out)


def _cofactor(a):
    """The cofactor matrix det(A) A^-T, also for singular A (via the SVD)."""
    u, s, vh = xp.linalg.svd(a)
    # adj(A) = det(U) det(V) V diag(prod_{j!=i} s_j) U^T; cofactor = adj(A)^T
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    adj_s = _others_product(s, (s.ndim - 1,))
    return (sign[..., None, None] * u) @ (adj_s[..., :, None] * vh)


class Det(Function):
    _node_name = "LinalgDetBackward0"

    @staticmethod
    def forward(ctx, a):
        out = xp.asarray(xp.linalg.det(a))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, det = ctx.saved_tensors
        g = grad.reshape(tuple(grad.shape) + (1, 1))
        raw_det = det._data if isinstance(det, Tensor) else det
        if xp.all(raw_det != 0):
            d = det.reshape(tuple(det.shape) + (1, 1))
            return g * d * _mT(inverse(a) if isinstance(a, Tensor) else xp.linalg.inv(a))
        raw = a._data if isinstance(a, Tensor) else a
        return g * _cofactor(raw)


def det(input):
    """Determinant (batched)."""
    _check_square(input._data, "det")
    return Det.apply(input)


class Slogdet(Function):
    _node_name = "LinalgSlogdetBackward0"

    @staticmethod
    def forward(ctx, a):
        sign, logabs = xp.linalg.slogdet(a)  # no overflow, unlike log(|det|)
        sign, logabs = xp.asarray(sign), xp.asarray(logabs)
        ctx.save_for_backward(a)  # the sign's grad is zero almost everywhere: ignored
        return sign, logabs

    @staticmethod
    def backward(ctx, _grad_sign, grad):
        (a,) = ctx.saved_tensors
        g = grad.reshape(tuple(grad.shape) + (1, 1))
        return g * _mT(inverse(a) if isinstance(a, Tensor) else xp.linalg.inv(a))


def slogdet(input):
    """(sign, log|det|) of a square matrix (batched)."""
    _check_square(input._data, "slogdet")
    return _slogdet_t(*Slogdet.apply(input))


_slogdet_t = _return_type("slogdet", ("sign", "logabsdet"))


def logdet(input):
    """log(det(A)): log|det| where det > 0, nan where it is negative (as PyTorch)."""
    sign, logabs = slogdet(input)
    return _where(sign._data < 0, math.nan, logabs)


class SvdVals(Function):
    """Singular values of the matrices spanned by dims (d0, d1), in a trailing dim."""

    _node_name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, a, d0, d1):
        m = xp.moveaxis(a, (d0, d1), (-2, -1))
        u, s, vh = xp.linalg.svd(m, full_matrices=False)
        ctx.uvh, ctx.dims = (u, vh), (d0, d1)
        return s

    @staticmethod
    def backward(ctx, grad):
        u, vh = ctx.uvh
        g = grad._data if isinstance(grad, Tensor) else grad  # no double backward through SVD
        gm = u @ (g[..., :, None] * vh)  # d s_i = u_i^T dA v_i (distinct singular values)
        return xp.moveaxis(gm, (-2, -1), ctx.dims)


def svdvals(A, dims=(-2, -1)):
    """Singular values (batched), in descending order."""
    a = A._data
    if a.dtype.kind != "f":
        raise RuntimeError(f"linalg.svd: Expected a floating point or complex tensor as input. "
                           f"Got {_tname(a.dtype)}")
    d0, d1 = (d % a.ndim for d in dims)
    return SvdVals.apply(A, d0, d1)


class Solve(Function):
    _node_name = "LinalgSolveExBackward0"

    @staticmethod
    def forward(ctx, a, b, vector, left):
        a_sys, b_sys = (a, b) if left else (a.swapaxes(-1, -2), b.swapaxes(-1, -2))  # XA=B: A'X'=B'
        try:
            x = xp.linalg.solve(a_sys, b_sys[..., None] if vector else b_sys)
        except xp.linalg.LinAlgError:
            raise LinAlgError("torch.linalg.solve: The solver failed because the input matrix is "
                              "singular.") from None
        out = x[..., 0] if vector else x if left else x.swapaxes(-1, -2)
        ctx.vector, ctx.left = vector, left
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        # in terms of the system a x = g actually solved: gb = a^-T g, ga = -gb x^T
        if ctx.vector:
            grad, x = grad.reshape(tuple(grad.shape) + (1,)), out.reshape(tuple(out.shape) + (1,))
        elif ctx.left:
            x = out
        else:
            grad, x, a = _mT(grad), _mT(out), _mT(a)
        if isinstance(a, Tensor):  # create_graph
            gb = solve(_mT(a), grad)
        else:
            gb = xp.linalg.solve(_mT(a), grad)
        ga = -_mm_any(gb, _mT(x))
        if ctx.vector:
            gb = gb.reshape(tuple(gb.shape[:-1]))
        elif not ctx.left:
            ga, gb = _mT(ga), _mT(gb)
        return ga, gb, None, None


def solve(A, B, *, left=True, out=None):
    """Solve A X = B (or X A = B with left=False); B may be a (batch of) vector(s)."""
    a, b = A._data, B._data
    _check_square(a, "solve")
    if a.dtype != b.dtype:
        raise RuntimeError("linalg.solve: Expected A and B to have the same dtype, but found A of "
                           f"type {_tname(a.dtype)} and B of type {_tname(b.dtype)} instead")
    vector = left and (b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1]))
    rows = b.shape[-1] if vector or not left else b.shape[-2]
    if b.ndim < 1 or rows != a.shape[-1]:
        cols = 1 if vector else b.shape[-1] if left else b.shape[-2]
        shape_b = f"{rows}x{cols}" if left else f"{cols}x{rows}"
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({a.shape[-2]}x{a.shape[-1]} and "
                           f"{shape_b})")
    return _out(Solve.apply(A, B, vector, left), out)


# ---- binding -------------------------------------------------------------------------------------
def _rmatmul(self, other):
    return matmul(_as_tensor(other), self)


def _matmul_method(self, other):
    if not isinstance(other, Tensor):
        if isinstance(other, (xp.ndarray, list, tuple)):
            other = _as_tensor(xp.asarray(other))
        else:
            return NotImplemented
    return matmul(self, other)


register_methods(
    __matmul__=_matmul_method, __rmatmul__=_rmatmul, matmul=matmul, mm=mm, bmm=bmm, mv=mv,
    dot=dot, vdot=vdot, inner=inner, outer=outer, ger=ger, addmm=addmm, addmv=addmv,
    addbmm=addbmm, baddbmm=baddbmm, kron=kron, trace=trace, det=det, inverse=inverse,
    logdet=logdet, slogdet=slogdet,
)

UFUNCS[xp.matmul] = _np_matmul
ARRAY_FUNCTIONS.update({
    xp.einsum: lambda subscripts, *operands, **_: einsum(subscripts, *operands),
    xp.tensordot: lambda a, b, axes=2: tensordot(_as_tensor(a), _as_tensor(b), axes),
    xp.outer: lambda a, b, out=None: outer(_as_tensor(a), _as_tensor(b)),
    xp.inner: lambda a, b: inner(_as_tensor(a), _as_tensor(b)),
    xp.vdot: lambda a, b: vdot(_as_tensor(a), _as_tensor(b)),
    xp.kron: lambda a, b: kron(_as_tensor(a), _as_tensor(b)),
    xp.trace: lambda a, offset=0, axis1=0, axis2=1, dtype=None, out=None: trace(a),
    xp.linalg.det: det, xp.linalg.inv: inverse,
})


# ---- cdist, cross, chain_matmul, vander (composed) ------------------------------------------------


def cdist(x1, x2, p: float = 2.0, compute_mode=None):
    """The ``p``-norm distance between each row of ``x1`` and each row of ``x2`` (batched)."""
    if x1.ndim < 2 or x2.ndim < 2:
        bad, n = ("X1", x1.ndim) if x1.ndim < 2 else ("X2", x2.ndim)
        raise RuntimeError(f"cdist only supports at least 2D tensors, {bad} got: {n}D")
    for name, x in (("X1", x1), ("X2", x2)):
        if not x.is_floating_point():
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: "
                               f"{_tname(x._data.dtype)}")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} "
                           f"X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    return vector_norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, dim=-1)


def cross(input, other, dim=None, *, out=None):
    """The cross product along ``dim`` (by default, with PyTorch's warning, the first of size 3)."""
    from ..linalg import cross as _linalg_cross  # in here: ember.linalg imports this module

    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease "
                      "either pass the dim explicitly or simply use torch.linalg.cross.\nThe "
                      "default value of dim will change to agree with that of linalg.cross in a "
                      "future release.", UserWarning, stacklevel=2)
        shape = xp.broadcast_shapes(tuple(input.shape), tuple(other.shape))
        dim = next((i for i, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    return _linalg_cross(input, other, dim=dim, out=out)


_chain_noted = [False]


def chain_matmul(*matrices, out=None):
    """The product of the matrices in order (deprecated in PyTorch for linalg.multi_dot)."""
    if not _chain_noted[0]:
        _chain_noted[0] = True
        warnings.warn("torch.chain_matmul is deprecated and will be removed in a future PyTorch "
                      "release. Use torch.linalg.multi_dot instead, which accepts a list of two "
                      "or more tensors rather than multiple parameters.", UserWarning,
                      stacklevel=2)
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for i, m in enumerate(matrices):
        if m.ndim != 2:
            raise RuntimeError(f"Tensor dimension is {m.ndim}, expected 2 instead.")
    res = matrices[0].clone()
    for m in matrices[1:]:
        res = mm(res, m)
    return _copy_out(res, out) if out is not None else res


def vander(x, N=None, increasing: bool = False):
    """The Vandermonde matrix of a 1-D ``x`` (powers decreasing unless ``increasing``)."""
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if not x.is_floating_point():
        x = x.to(_dtype.int64)  # integer and bool inputs give int64, as in PyTorch
    ones = x.new_ones((x.shape[0], 1))
    if n <= 1:
        res = ones[:, :n]
    else:
        res = cat([ones, x.unsqueeze(1).expand(x.shape[0], n - 1)], 1).cumprod(1)
    return res if increasing else res.flip(1)


register_methods(cross=cross)
__all__ += ["cdist", "cross", "chain_matmul", "vander"]
