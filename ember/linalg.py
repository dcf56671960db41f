"""torch.linalg: vector and matrix norms, inverse, solve, determinants, and matmul."""
from __future__ import annotations

import math

from ._backend import xp
from ._creation import zeros
from ._dtype import int32
from ._ops.indexing import _return_type
from ._ops.linalg import LinAlgError, Slogdet, _check_square, inverse, matmul, svdvals
from ._ops.linalg import det as _det
from ._ops.linalg import solve as _solve
from ._ops.movement import broadcast_tensors, stack
from ._ops.reduce import amax, amin, vector_norm
from ._tensor import Tensor, _wrap_dim
from .autograd.function import Function

__all__ = [
    "LinAlgError", "cross", "det", "inv", "inv_ex", "matmul", "matrix_norm", "multi_dot", "norm",
    "slogdet", "solve", "svd", "svdvals", "vecdot", "vector_norm",
]

_slogdet_t = _return_type("linalg_slogdet", ("sign", "logabsdet"))
_inv_ex_t = _return_type("linalg_inv_ex", ("inverse", "info"))
_svd_t = _return_type("linalg_svd", ("U", "S", "Vh"))


def inv(A: Tensor, *, out=None) -> Tensor:
    """Inverse of a square matrix (batched); LinAlgError if singular."""
    return inverse(A, out=out)


def inv_ex(A: Tensor, *, check_errors: bool = False):
    """(inverse, info); ember raises on singular input instead of reporting it in ``info``."""
    res = inverse(A)
    return _inv_ex_t(res, zeros(A.shape[:-2], dtype=int32))


def solve(A: Tensor, B: Tensor, *, left: bool = True, out=None) -> Tensor:
    """The solution X of A X = B (X A = B with left=False)."""
    return _solve(A, B, left=left, out=out)


def det(A: Tensor, *, out=None) -> Tensor:
    """Determinant (batched)."""
    res = _det(A)
    return res if out is None else out.copy_(res)


def slogdet(A: Tensor, *, out=None):
    """(sign, log|det|), computed without overflow."""
    _check_square(A._data, "slogdet")
    return _slogdet_t(*Slogdet.apply(A))


def _unsqueeze_dims(t, dims):
    for d in sorted(dims):
        t = t.unsqueeze(d)
    return t


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None,
                out=None) -> Tensor:
    """Frobenius, nuclear, 1, -1, 2, -2, inf and -inf norms of (batches of) matrices."""
    nd = A.ndim
    if nd < 2:
        raise RuntimeError(
            "linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    dim = [dim] if isinstance(dim, int) else list(dim)
    if len(dim) != 2:
        raise RuntimeError(
            f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dim))}")
    d0, d1 = (_wrap_dim(d, nd) for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if dtype is not None:
        A = A.to(dtype)
    if isinstance(ord, str):
        if ord == "fro":
            res = vector_norm(A, 2, (d0, d1), keepdim)
        elif ord == "nuc":
            res = svdvals(A, (d0, d1)).sum(-1)
            res = _unsqueeze_dims(res, (d0, d1)) if keepdim else res
        else:
            raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    elif abs(ord) == 2:
        s = svdvals(A, (d0, d1))
        res = amax(s, -1) if ord > 0 else amin(s, -1)
        res = _unsqueeze_dims(res, (d0, d1)) if keepdim else res
    elif abs(ord) in (1, math.inf):
        if abs(ord) == math.inf:  # max row sum: sum over columns first
            d0, d1 = d1, d0
        if not keepdim and d0 < d1:
            d1 -= 1
        col = A.abs().sum(d0, keepdim)
        res = amax(col, d1, keepdim) if ord > 0 else amin(col, d1, keepdim)
    else:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord:g} not supported.")
    return res if out is None else out.copy_(res)


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, out=None, dtype=None) -> Tensor:
    """A vector norm or a matrix norm, chosen by ``ord`` and ``dim`` as torch.linalg.norm does."""
    if dim is not None:
        dim = [dim] if isinstance(dim, int) else list(dim)
        if len(dim) not in (1, 2):
            raise RuntimeError(
                f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {dim}")
    elif ord is not None and A.ndim not in (1, 2):
        raise RuntimeError("linalg.norm: If dim is not specified but ord is, the input must be 1D "
                           f"or 2D. Got {A.ndim}D.")
    if isinstance(ord, str) or (ord is not None and (len(dim) == 2 if dim is not None
                                                     else A.ndim == 2)):
        return matrix_norm(A, ord, (-2, -1) if dim is None else dim, keepdim, dtype=dtype, out=out)
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype, out=out)


def multi_dot(tensors) -> Tensor:
    """matmul of a chain of matrices (the first and last may be vectors), left to right."""
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    res = tensors[0]
    for t in tensors[1:]:
        res = matmul(res, t)
    return res


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """Dot products of vectors along ``dim`` (broadcasting)."""
    return (x * y).sum(dim)


def cross(input: Tensor, other: Tensor, *, dim: int = -1, out=None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the inputs broadcast)."""
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{input.shape[dim]} and {other.shape[dim]}")
    a, b = broadcast_tensors(input, other)
    d = _wrap_dim(dim, a.ndim)
    a0, a1, a2 = a.unbind(d)
    b0, b1, b2 = b.unbind(d)
    res = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)
    if out is not None:
        out.copy_(res)
        return out
    return res


class _Svd(Function):
    _node_name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, a, full_matrices):
        u, s, vh = xp.linalg.svd(a, full_matrices=full_matrices)
        return u, s, vh

    @staticmethod
    def backward(ctx, gu, gs, gvh):
        raise NotImplementedError("ember: the derivative of linalg.svd is not implemented "
                                  "(linalg.svdvals has one)")


def svd(A: Tensor, full_matrices: bool = True, *, driver=None, out=None):
    """(U, S, Vh) with A = U diag(S) Vh, S descending (LAPACK's gesdd, as PyTorch on the CPU)."""
    if A.ndim < 2:
        raise RuntimeError("linalg.svd: The input tensor A must have at least 2 dimensions.")
    if A._data.dtype.kind != "f":
        svdvals(A)  # PyTorch's dtype error
    return _svd_t(*_Svd.apply(A, bool(full_matrices)))
