"""Linear algebra against PyTorch: every matmul case (values, grads, grad_fn names, errors),
the addmm family, einsum, tensordot, det/inverse/solve, ember.linalg norms, and erf."""
from __future__ import annotations

import math

import numpy as np
import pytest

import ember
from ember._ops import _special
from tests.helpers import check_grad, needs_torch, torch
from tests.test_op_registry import assert_parity, assert_same_error

RNG = np.random.default_rng(0)


def r(*shape):
    return RNG.standard_normal(shape)


def spd(n, *batch):
    return np.eye(n) * n + 0.5 * RNG.standard_normal(batch + (n, n))


MATMUL_SHAPES = [
    ((2, 3), (3, 4)),         # mm
    ((3,), (3,)),             # dot
    ((2, 3), (3,)),           # mv
    ((3,), (3, 4)),           # vector @ matrix
    ((5, 2, 3), (5, 3, 4)),   # bmm
    ((5, 2, 3), (3, 4)),      # batch @ matrix (folded into one GEMM)
    ((2, 3), (5, 3, 4)),      # matrix @ batch
    ((5, 2, 3), (3,)),        # batch @ vector
    ((3,), (5, 3, 4)),        # vector @ batch
    ((2, 1, 2, 3), (5, 3, 4)),  # broadcast batch dims
    ((1, 2, 3), (4, 3, 2)),   # broadcast a size-1 batch
    ((0, 3), (3, 2)), ((2, 0), (0, 3)), ((0,), (0,)), ((2, 0, 3), (3, 4)),
]


@needs_torch
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_matches_torch(sa, sb):
    assert_parity(lambda T, a, b: a @ b, r(*sa), r(*sb))
    assert_parity(lambda T, a, b: T.matmul(a, b), r(*sa), r(*sb))


DIFF_SHAPES = MATMUL_SHAPES[:11]


@pytest.mark.parametrize("sa,sb", DIFF_SHAPES, ids=[f"{a}@{b}" for a, b in DIFF_SHAPES])
def test_matmul_gradcheck(sa, sb):
    check_grad(lambda a, b: a @ b, r(*sa), r(*sb))


@needs_torch
@pytest.mark.parametrize("dt", [np.int64, np.int32, np.float32])
def test_integer_and_float32_matmul_keep_dtype(dt):
    a, b = RNG.integers(-4, 5, (2, 3)).astype(dt), RNG.integers(-4, 5, (3, 4)).astype(dt)
    for sa, sb in [((2, 3), (3, 4)), ((3,), (3,)), ((2, 3), (3,)), ((2, 2, 3), (3, 4))]:
        x = np.resize(a, sa).astype(dt)
        y = np.resize(b, sb).astype(dt)
        assert_parity(lambda T, p, q: p @ q, x, y, grad=False, rtol=1e-6)


@needs_torch
@pytest.mark.parametrize("name,fn", [
    ("mm", lambda T, a, b: T.mm(a, b)), ("bmm", lambda T, a, b: T.bmm(a, b)),
    ("mv", lambda T, a, b: T.mv(a, b)), ("dot", lambda T, a, b: T.dot(a, b)),
    ("vdot", lambda T, a, b: T.vdot(a, b)), ("method_mm", lambda T, a, b: a.mm(b)),
])
def test_named_products(name, fn):
    shapes = {"mm": ((2, 3), (3, 4)), "bmm": ((2, 2, 3), (2, 3, 4)), "mv": ((2, 3), (3,)),
              "dot": ((3,), (3,)), "vdot": ((3,), (3,)), "method_mm": ((2, 3), (3, 4))}[name]
    assert_parity(fn, *(r(*s) for s in shapes))


F = np.ones((2, 3), np.float32)
MATMUL_ERRORS = [
    ("2d", lambda T, a, b: a @ b, [r(2, 3), r(4, 5)]),
    ("mv", lambda T, a, b: a @ b, [r(2, 3), r(4)]),
    ("vm", lambda T, a, b: a @ b, [r(3), r(4, 5)]),
    ("dot", lambda T, a, b: a @ b, [r(3), r(4)]),
    ("bmm", lambda T, a, b: a @ b, [r(5, 2, 3), r(5, 4, 5)]),
    ("batch_bcast", lambda T, a, b: a @ b, [r(5, 2, 3), r(6, 3, 5)]),
    ("batch_bcast_4d", lambda T, a, b: a @ b, [r(2, 3, 4), r(2, 5, 4, 3)]),
    ("3d@2d", lambda T, a, b: a @ b, [r(5, 2, 3), r(4, 5)]),
    ("3d@1d", lambda T, a, b: a @ b, [r(5, 2, 3), r(4)]),
    ("1d@3d", lambda T, a, b: a @ b, [r(4), r(5, 2, 3)]),
    ("2d@3d", lambda T, a, b: a @ b, [r(2, 3), r(2, 4, 5)]),
    ("0d", lambda T, a, b: T.matmul(a, b), [np.array(1.0), r(3)]),
    ("dtype_mm", lambda T, a, b: a @ b, [F, np.ones((3, 4), np.int64)]),
    ("dtype_mm_double", lambda T, a, b: a @ b, [np.ones((2, 3)), np.ones((3, 4), np.float32)]),
    ("dtype_mm_int32", lambda T, a, b: a @ b,
     [np.ones((2, 3), np.int32), np.ones((3, 4), np.uint8)]),
    ("dtype_mv", lambda T, a, b: a @ b, [F, np.ones(3, np.int64)]),
    ("dtype_dot", lambda T, a, b: a @ b, [np.ones(3, np.float32), np.ones(3, np.int64)]),
    ("dtype_bmm", lambda T, a, b: a @ b, [np.ones((2, 2, 3), np.float32), np.ones((2, 3, 4))]),
    ("bool_mm", lambda T, a, b: a @ b, [np.ones((2, 3), bool), np.ones((3, 2), bool)]),
    ("bool_dot", lambda T, a, b: a @ b, [np.ones(3, bool), np.ones(3, bool)]),
    ("bool_mv", lambda T, a, b: a @ b, [np.ones((2, 3), bool), np.ones(3, bool)]),
    ("bool_bmm", lambda T, a, b: a @ b, [np.ones((2, 3, 4), bool), np.ones((2, 4, 3), bool)]),
    ("mm_1d", lambda T, a, b: T.mm(a, b), [r(3), r(3, 5)]),
    ("mm_1d_other", lambda T, a, b: T.mm(a, b), [r(2, 3), r(3)]),
    ("mm_shapes", lambda T, a, b: T.mm(a, b), [r(2, 3), r(4, 5)]),
    ("bmm_2d", lambda T, a, b: T.bmm(a, b), [r(2, 3), r(3, 5)]),
    ("bmm_2d_other", lambda T, a, b: T.bmm(a, b), [r(2, 2, 3), r(3, 5)]),
    ("bmm_batch", lambda T, a, b: T.bmm(a, b), [r(5, 2, 3), r(6, 3, 5)]),
    ("bmm_inner", lambda T, a, b: T.bmm(a, b), [r(5, 2, 3), r(5, 4, 5)]),
    ("mv_1d", lambda T, a, b: T.mv(a, b), [r(3), r(3)]),
    ("mv_2d", lambda T, a, b: T.mv(a, b), [r(2, 3), r(3, 1)]),
    ("mv_size", lambda T, a, b: T.mv(a, b), [r(2, 3), r(4)]),
    ("mv_dtype", lambda T, a, b: T.mv(a, b), [np.ones((2, 3), np.int64), np.ones(3, np.float32)]),
    ("dot_2d", lambda T, a, b: T.dot(a, b), [r(2, 3), r(2, 3)]),
    ("dot_dtype", lambda T, a, b: T.dot(a, b), [np.ones(3, np.float32), np.ones(3, np.int64)]),
    ("dot_size", lambda T, a, b: T.dot(a, b), [r(3), r(4)]),
]


@needs_torch
@pytest.mark.parametrize("name,fn,arrays", MATMUL_ERRORS, ids=[c[0] for c in MATMUL_ERRORS])
def test_matmul_errors_match_torch(name, fn, arrays):
    assert_same_error(fn, *arrays)


ROUTES = [((2, 3), (5, 3, 4)), ((3,), (5, 3, 4)), ((2, 3), (2, 5, 3, 4)), ((1, 2, 3), (4, 3, 2)),
          ((5, 2, 3), (1, 3, 2)), ((1, 2, 3), (2, 1, 3, 2)), ((2, 2, 3), (3,)), ((2, 3), (1, 3, 2))]


@needs_torch
@pytest.mark.parametrize("sa,sb", ROUTES, ids=[f"{a}@{b}" for a, b in ROUTES])
@pytest.mark.parametrize("ra,rb", [(True, True), (True, False), (False, True)])
def test_matmul_grad_fn_name_depends_on_which_operand_requires_grad(sa, sb, ra, rb):
    a, b = r(*sa), r(*sb)
    e = ember.tensor(a, requires_grad=ra) @ ember.tensor(b, requires_grad=rb)
    t = torch.tensor(a, requires_grad=ra) @ torch.tensor(b, requires_grad=rb)
    assert e.grad_fn.name() == t.grad_fn.name()


@needs_torch
@pytest.mark.parametrize("sa,sb", [((2, 3), (2, 4, 5)), ((4,), (5, 2, 3)), ((1, 2, 3), (4, 4, 2))])
@pytest.mark.parametrize("ra", [True, False])
def test_matmul_error_depends_on_requires_grad_as_in_torch(sa, sb, ra):
    with pytest.raises(RuntimeError) as t_exc:
        torch.tensor(r(*sa), requires_grad=ra) @ torch.tensor(r(*sb))
    with pytest.raises(RuntimeError) as e_exc:
        ember.tensor(r(*sa), requires_grad=ra) @ ember.tensor(r(*sb))
    assert str(e_exc.value) == str(t_exc.value)


def test_mm_saves_only_what_backward_needs():
    a = ember.randn(2, 3, requires_grad=True)
    w = ember.randn(3, 4)
    y = a @ w
    saved = y.grad_fn._saved
    assert saved[1][0] is None and saved[0][0] is w._data  # a is not kept: only dL/da is needed
    with ember.no_grad():
        assert (a @ w).grad_fn is None


@needs_torch
def test_matmul_in_place_modification_is_detected():
    a = ember.randn(2, 3, requires_grad=True)
    w = ember.randn(3, 4)
    y = a @ w
    w.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_numpy_operands_and_dispatch():
    a = ember.tensor(r(2, 3), requires_grad=True)
    b = r(3, 4)
    for y in (a @ b, np.matmul(a, b), b.T @ a.T):
        assert isinstance(y, ember.Tensor) and y.requires_grad
    np.testing.assert_allclose((a @ b).detach().numpy(), a.detach().numpy() @ b)
    with pytest.raises(TypeError):
        a @ 2


@needs_torch
@pytest.mark.parametrize("fn,shapes", [
    (lambda T, a, b: a @ b, [(2, 3), (3, 4)]),
    (lambda T, a, b: a @ b, [(2, 2, 3), (3,)]),
    (lambda T, a, b: T.einsum("ij,jk->ik", a, b), [(2, 3), (3, 4)]),
    (lambda T, a, b: T.addmm(a[0], a, b, alpha=0.5), [(2, 3), (3, 3)]),
    (lambda T, a: T.det(a), [(3, 3)]),
    (lambda T, a: T.inverse(a), [(3, 3)]),
    (lambda T, a, b: T.linalg.solve(a, b), [(3, 3), (3, 2)]),
    (lambda T, a, b: T.linalg.solve(a, b, left=False), [(3, 3), (2, 3)]),
    (lambda T, a, b: T.einsum("ii,ij->j", a, b), [(3, 3), (3, 2)]),
    (lambda T, a, b: T.baddbmm(b[0, 0], a, b, beta=0.5), [(2, 2, 3), (2, 3, 4)]),
    (lambda T, a, b: T.outer(a, b), [(3,), (4,)]),
    (lambda T, a: T.linalg.vector_norm(a, 3, dtype=T.float64), [(2, 3)]),
])
def test_double_backward_matches_torch(fn, shapes):
    arrays = [spd(s[0]) if len(s) == 2 and s[0] == s[1] else r(*s) for s in shapes]
    res = []
    for T in (ember, torch):
        ts = [T.tensor(x, requires_grad=True) for x in arrays]
        gs = T.autograd.grad((fn(T, *ts) ** 2).sum(), ts, create_graph=True)
        ggs = T.autograd.grad(sum((g * g).sum() for g in gs), ts)
        res.append([g.detach().numpy() for g in gs] + [g.numpy() for g in ggs])
    for e, t in zip(*res):
        np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-9)


# ---- the addmm family, products, einsum ----------------------------------------------------------
CASES = [
    ("addmm", lambda T, i, a, b: T.addmm(i, a, b), [r(4), r(2, 3), r(3, 4)]),
    ("addmm_beta_alpha", lambda T, i, a, b: T.addmm(i, a, b, beta=0.5, alpha=2),
     [r(2, 4), r(2, 3), r(3, 4)]),
    ("addmm_beta0_nan", lambda T, i, a, b: T.addmm(i, a, b, beta=0),
     [np.full(4, np.nan), r(2, 3), r(3, 4)]),
    ("addmm_method", lambda T, i, a, b: i.addmm(a, b, alpha=-1), [r(2, 1), r(2, 3), r(3, 4)]),
    ("addmm_int", lambda T, i, a, b: T.addmm(i, a, b, beta=2, alpha=3),
     [np.ones(4, np.int64), np.ones((2, 3), np.int64), np.ones((3, 4), np.int64)]),
    ("addmv", lambda T, i, a, b: T.addmv(i, a, b, beta=0.5), [r(2), r(2, 3), r(3)]),
    ("addmv_bcast", lambda T, i, a, b: T.addmv(i, a, b), [r(1), r(2, 3), r(3)]),
    ("baddbmm", lambda T, i, a, b: T.baddbmm(i, a, b, alpha=2),
     [r(3, 1, 4), r(3, 2, 3), r(3, 3, 4)]),
    ("addbmm", lambda T, i, a, b: T.addbmm(i, a, b, beta=-1), [r(2, 4), r(3, 2, 3), r(3, 3, 4)]),
    ("outer", lambda T, a, b: T.outer(a, b), [r(3), r(4)]),
    ("ger", lambda T, a, b: T.ger(a, b), [r(3), r(4)]),
    ("outer_promote", lambda T, a, b: T.outer(a, b), [r(3), np.arange(4)]),
    ("inner", lambda T, a, b: T.inner(a, b), [r(2, 3), r(4, 3)]),
    ("inner_1d", lambda T, a, b: T.inner(a, b), [r(3), r(3)]),
    ("inner_scalar", lambda T, a, b: T.inner(a, b), [r(2, 3), np.array(2.0)]),
    ("tensordot_default", lambda T, a, b: T.tensordot(a, b), [r(2, 3, 4), r(3, 4, 5)]),
    ("tensordot_lists", lambda T, a, b: T.tensordot(a, b, dims=([1, 2],
     [1, 0])), [r(2, 3, 4), r(4, 3, 5)]),
    ("tensordot_zero", lambda T, a, b: T.tensordot(a, b, dims=0), [r(2, 3), r(4)]),
    ("kron", lambda T, a, b: T.kron(a, b), [r(2, 3), r(3, 2)]),
    ("kron_ndim", lambda T, a, b: T.kron(a, b), [r(2, 3), r(3)]),
    ("trace", lambda T, a: T.trace(a), [r(3, 4)]),
    ("trace_int", lambda T, a: a.trace(), [np.arange(9).reshape(3, 3)]),
    ("einsum_implicit", lambda T, a, b: T.einsum("ij,jk", a, b), [r(2, 3), r(3, 4)]),
    ("einsum_implicit_t", lambda T, a: T.einsum("ji", a), [r(2, 3)]),
    ("einsum_trace_implicit", lambda T, a: T.einsum("ii", a), [r(3, 3)]),
    ("einsum_dot", lambda T, a, b: T.einsum("i,i->", a, b), [r(3), r(3)]),
    ("einsum_outer", lambda T, a, b: T.einsum("i,j->ij", a, b), [r(2), r(4)]),
    ("einsum_sum", lambda T, a: T.einsum("ij->i", a), [r(2, 3)]),
    ("einsum_bmm", lambda T, a, b: T.einsum("bij,bjk->bik", a, b), [r(2, 3, 3), r(2, 3, 4)]),
    ("einsum_ellipsis", lambda T, a, b: T.einsum("...i,...i", a, b), [r(3, 2), r(2)]),
    ("einsum_ellipsis_out", lambda T, a, b: T.einsum("...ij,...jk->...ik", a, b),
     [r(5, 2, 3), r(3, 4)]),
    ("einsum_bcast_label", lambda T, a, b: T.einsum("ij,ij->ij", a, b), [r(1, 3), r(2, 3)]),
    ("einsum_list", lambda T, a, b: T.einsum("ij,j->i", [a, b]), [r(2, 3), r(3)]),
    ("einsum_sublist", lambda T, a, b: T.einsum(a, [0, 1], b, [1, 2], [0, 2]), [r(2, 3), r(3, 4)]),
    ("einsum_spaces", lambda T, a, b: T.einsum("i j , j k -> i k", a, b), [r(2, 3), r(3, 4)]),
    ("einsum_diag_mul", lambda T, a, b: T.einsum("ii,i->i", a, b), [r(3, 3), r(3)]),
    ("einsum_uppercase", lambda T, a, b: T.einsum("Ab,bc->Ac", a, b), [r(2, 3), r(3, 4)]),
]


@needs_torch
@pytest.mark.parametrize("name,fn,arrays", CASES, ids=[c[0] for c in CASES])
def test_products_match_torch(name, fn, arrays):
    assert_parity(fn, *arrays)


ERRORS = [
    ("addmm_1d", lambda T, i, a, b: T.addmm(i, a, b), [r(4), r(3), r(3, 4)]),
    ("addmm_1d_other", lambda T, i, a, b: T.addmm(i, a, b), [r(4), r(2, 3), r(3)]),
    ("addmm_shapes", lambda T, i, a, b: T.addmm(i, a, b), [r(4), r(2, 3), r(4, 4)]),
    ("addmm_bias", lambda T, i, a, b: T.addmm(i, a, b), [r(3), r(2, 3), r(3, 4)]),
    ("addmm_bias_ndim", lambda T, i, a, b: T.addmm(i, a, b), [r(2, 4, 2), r(2, 3), r(3, 4)]),
    ("addmm_dtype", lambda T, i, a, b: T.addmm(i, a, b),
     [r(4), r(2, 3), np.ones((3, 4), np.float32)]),
    ("addmm_dtype_self", lambda T, i, a, b: T.addmm(i, a, b),
     [r(4), np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)]),
    ("addmv_size", lambda T, i, a, b: T.addmv(i, a, b), [r(2), r(2, 3), r(4)]),
    ("addmv_input_size", lambda T, i, a, b: T.addmv(i, a, b), [r(3), r(2, 3), r(3)]),
    ("addmv_dims", lambda T, i, a, b: T.addmv(i, a, b), [r(2, 1), r(2, 3), r(3)]),
    ("baddbmm_bias", lambda T, i, a, b: T.baddbmm(i, a, b), [r(4), r(2, 2, 3), r(2, 3, 3)]),
    ("baddbmm_sizes", lambda T, i, a, b: T.baddbmm(i, a, b), [r(3), r(2, 2, 3), r(2, 4, 3)]),
    ("addbmm_sizes", lambda T, i, a, b: T.addbmm(i, a, b), [r(2, 3), r(2, 2, 3), r(2, 4, 3)]),
    ("addbmm_2d", lambda T, i, a, b: T.addbmm(i, a, b), [r(2, 3), r(2, 3), r(2, 4, 3)]),
    ("outer_2d", lambda T, a, b: T.outer(a, b), [r(2, 3), r(3)]),
    ("outer_2d_other", lambda T, a, b: T.outer(a, b), [r(3), r(2, 3)]),
    ("inner_size", lambda T, a, b: T.inner(a, b), [r(3), r(4)]),
    ("tensordot_size", lambda T, a, b: T.tensordot(a, b, dims=([1], [0])), [r(2, 3), r(4, 3)]),
    ("tensordot_dtype", lambda T, a, b: T.tensordot(a, b, 1),
     [r(2, 3), np.ones((3, 4), np.float32)]),
    ("trace_3d", lambda T, a: T.trace(a), [r(2, 3, 4)]),
    ("trace_bool", lambda T, a: T.trace(a), [np.ones((2, 2), bool)]),
    ("einsum_size", lambda T, a, b: T.einsum("ij,jk->ik", a, b), [r(2, 3), r(4, 4)]),
    ("einsum_fewer", lambda T, a: T.einsum("ij,jk->ik", a), [r(2, 3)]),
    ("einsum_more", lambda T, a, b, c: T.einsum("ij,jk->ik", a, b, c), [r(2, 3), r(3, 4), r(2)]),
    ("einsum_ndim", lambda T, a: T.einsum("ijk", a), [r(2, 3)]),
    ("einsum_out_label", lambda T, a: T.einsum("ij->k", a), [r(2, 3)]),
    ("einsum_repeat_size", lambda T, a: T.einsum("ii->i", a), [r(2, 3)]),
    ("einsum_dtype", lambda T, a, b: T.einsum("i,i", a, b), [np.ones(2, np.float32), r(2)]),
]


@needs_torch
@pytest.mark.parametrize("name,fn,arrays", ERRORS, ids=[c[0] for c in ERRORS])
def test_product_errors_match_torch(name, fn, arrays):
    assert_same_error(fn, *arrays)


@pytest.mark.parametrize("eq,shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]), ("ij,k->ik", [(2, 3), (4,)]), ("bi,bj->bij", [(1, 2), (3, 4)]),
    ("...ij,...jk", [(2, 2, 3), (3, 4)]), ("iij->j", [(2, 2, 3)]),
])
def test_einsum_gradcheck(eq, shapes):
    check_grad(lambda *xs: ember.einsum(eq, *xs), *[r(*s) for s in shapes])


# ---- det, inverse, solve -------------------------------------------------------------------------
DECOMP = [
    ("det", lambda T, a: T.det(a), [spd(3)]),
    ("det_batch", lambda T, a: T.linalg.det(a), [spd(2, 4)]),
    ("det_empty", lambda T, a: T.det(a), [np.zeros((0, 0))]),
    ("inverse", lambda T, a: T.inverse(a), [spd(3)]),
    ("linalg_inv_batch", lambda T, a: T.linalg.inv(a), [spd(3, 2)]),
    ("solve_vec", lambda T, a, b: T.linalg.solve(a, b), [spd(3), r(3)]),
    ("solve_mat", lambda T, a, b: T.linalg.solve(a, b), [spd(3), r(3, 2)]),
    ("solve_batch_vec", lambda T, a, b: T.linalg.solve(a, b), [spd(3, 2), r(2, 3)]),
    ("solve_bcast_vec", lambda T, a, b: T.linalg.solve(a, b), [spd(3, 2), r(3)]),
    ("solve_left_false", lambda T, a, b: T.linalg.solve(a, b, left=False), [spd(3), r(2, 3)]),
    ("slogdet", lambda T, a: T.linalg.slogdet(a), [spd(3, 2) * -1]),
    ("slogdet_fn", lambda T, a: T.slogdet(a), [spd(3)]),
    ("logdet", lambda T, a: T.logdet(a), [spd(3)]),
]


@needs_torch
@pytest.mark.parametrize("name,fn,arrays", DECOMP, ids=[c[0] for c in DECOMP])
def test_decompositions_match_torch(name, fn, arrays):
    assert_parity(fn, *arrays, rtol=1e-6, atol=1e-9)


DECOMP_ERRORS = [
    ("det_nonsquare", lambda T, a: T.det(a), [r(2, 3)]),
    ("det_int", lambda T, a: T.det(a), [np.ones((3, 3), np.int64)]),
    ("det_1d", lambda T, a: T.linalg.det(a), [r(3)]),
    ("inv_singular", lambda T, a: T.linalg.inv(a), [np.ones((3, 3))]),
    ("inv_zeros", lambda T, a: T.linalg.inv(a), [np.zeros((3, 3))]),
    ("inv_singular2", lambda T, a: T.linalg.inv(a), [np.array([[1.0, 2.0], [2.0, 4.0]])]),
    ("inv_batch_singular", lambda T, a: T.linalg.inv(a), [np.stack([np.eye(3), np.zeros((3, 3))])]),
    ("inv_nonsquare", lambda T, a: T.linalg.inv(a), [r(2, 3)]),
    ("inv_int", lambda T, a: T.inverse(a), [np.ones((3, 3), np.int64)]),
    ("solve_singular", lambda T, a, b: T.linalg.solve(a, b), [np.ones((3, 3)), r(3)]),
    ("solve_shapes", lambda T, a, b: T.linalg.solve(a, b), [np.eye(3), r(4)]),
    ("solve_left_false_shapes", lambda T, a, b: T.linalg.solve(a, b, left=False),
     [np.eye(3), r(3, 2)]),
    ("solve_nonsquare", lambda T, a, b: T.linalg.solve(a, b), [r(3, 4), r(3)]),
    ("solve_dtype", lambda T, a, b: T.linalg.solve(a, b), [np.eye(3, dtype=np.float32), r(3)]),
]


@needs_torch
@pytest.mark.parametrize("name,fn,arrays", DECOMP_ERRORS, ids=[c[0] for c in DECOMP_ERRORS])
def test_decomposition_errors_match_torch(name, fn, arrays):
    assert_same_error(fn, *arrays)


SINGULAR = [np.array([[1.0, 2.0], [2.0, 4.0]]), np.zeros((2, 2)),
            np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])]


@pytest.mark.parametrize("a", SINGULAR, ids=["rank1", "zero", "rank2of3"])
def test_det_grad_of_singular_matrix_is_the_cofactor_matrix(a):
    """ember differs from PyTorch on purpose here: PyTorch returns 0 (its LU-based formula breaks
    down), ember the true derivative, the cofactor matrix (0 only where rank < n - 1)."""
    check_grad(lambda x: ember.det(x), a)
    if torch is not None:
        t = torch.tensor(a)
        e = ember.det(ember.tensor(a)).item()
        np.testing.assert_allclose(e, torch.det(t).item(), atol=1e-12)


def test_linalg_error_is_a_runtime_error():
    assert issubclass(ember.linalg.LinAlgError, RuntimeError)
    with pytest.raises(ember.linalg.LinAlgError):
        ember.linalg.inv(ember.zeros(2, 2))


# ---- ember.linalg norms --------------------------------------------------------------------------
A = r(3, 4)
A3 = r(2, 3, 4)
NORMS = [
    ("norm", lambda T, a: T.linalg.norm(a), [A]),
    ("norm_3d", lambda T, a: T.linalg.norm(a), [A3]),
    ("norm_vec_ord", lambda T, a: T.linalg.norm(a, 3), [r(5)]),
    ("norm_vec_inf", lambda T, a: T.linalg.norm(a, float("inf")), [r(5)]),
    ("norm_mat_fro", lambda T, a: T.linalg.norm(a, "fro"), [A]),
    ("norm_mat_nuc", lambda T, a: T.linalg.norm(a, "nuc"), [A]),
    ("norm_mat_1", lambda T, a: T.linalg.norm(a, 1), [A]),
    ("norm_mat_neg1", lambda T, a: T.linalg.norm(a, -1), [A]),
    ("norm_mat_inf", lambda T, a: T.linalg.norm(a, float("inf")), [A]),
    ("norm_mat_neginf", lambda T, a: T.linalg.norm(a, float("-inf")), [A]),
    ("norm_mat_2", lambda T, a: T.linalg.norm(a, 2), [A]),
    ("norm_mat_neg2", lambda T, a: T.linalg.norm(a, -2), [A]),
    ("norm_dim_int", lambda T, a: T.linalg.norm(a, dim=1), [A3]),
    ("norm_dim_pair_ord1", lambda T, a: T.linalg.norm(a, 1, dim=(0, 2), keepdim=True), [A3]),
    ("norm_dim_pair_inf", lambda T, a: T.linalg.norm(a, float("inf"), dim=(2, 0)), [A3]),
    ("norm_dim_pair_none", lambda T, a: T.linalg.norm(a, dim=(1, 2)), [A3]),
    ("norm_dtype", lambda T, a: T.linalg.norm(a, dtype=T.float64), [A.astype(np.float32)]),
    ("vector_norm", lambda T, a: T.linalg.vector_norm(a), [A3]),
    ("vector_norm_ord_dims", lambda T, a: T.linalg.vector_norm(a, 1.5, (0, 2), True), [A3]),
    ("vector_norm_neg", lambda T, a: T.linalg.vector_norm(a, -2, 1), [A]),
    ("vector_norm_zero", lambda T, a: T.linalg.vector_norm(a, 0, 1), [A]),
    ("matrix_norm", lambda T, a: T.linalg.matrix_norm(a), [A3]),
    ("matrix_norm_inf_keep", lambda T, a: T.linalg.matrix_norm(a, float("inf"), keepdim=True),
     [A3]),
    ("matrix_norm_1_dims", lambda T, a: T.linalg.matrix_norm(a, 1, dim=(0, 1)), [A3]),
    ("matrix_norm_neg1_dims", lambda T, a: T.linalg.matrix_norm(a, -1, dim=(2, 1)), [A3]),
    ("matrix_norm_2_batch", lambda T, a: T.linalg.matrix_norm(a, 2), [A3]),
    ("matrix_norm_nuc_dims", lambda T, a: T.linalg.matrix_norm(a, "nuc", dim=(0, 2)), [A3]),
    ("vecdot", lambda T, a, b: T.linalg.vecdot(a, b), [A, r(4)]),
    ("multi_dot", lambda T, a, b, c: T.linalg.multi_dot([a, b, c]), [r(3), A, r(4, 2)]),
    ("linalg_matmul", lambda T, a, b: T.linalg.matmul(a, b), [A, r(4, 2)]),
]


@needs_torch
@pytest.mark.parametrize("name,fn,arrays", NORMS, ids=[c[0] for c in NORMS])
def test_linalg_norms_match_torch(name, fn, arrays):
    assert_parity(fn, *arrays, name=False, rtol=1e-6, atol=1e-9)


@needs_torch
@pytest.mark.parametrize("fn", [
    lambda T, a: T.linalg.norm(a), lambda T, a: T.linalg.norm(a, 1),
    lambda T, a: T.linalg.norm(a, 2), lambda T, a: T.linalg.norm(a, "nuc"),
    lambda T, a: T.linalg.norm(a, float("inf")), lambda T, a: T.linalg.vector_norm(a, 3),
])
def test_linalg_norm_grad_fn_names(fn):
    e = fn(ember, ember.tensor(A, requires_grad=True))
    t = fn(torch, torch.tensor(A, requires_grad=True))
    assert e.grad_fn.name() == t.grad_fn.name()


NORM_ERRORS = [
    ("ord_3d", lambda T, a: T.linalg.norm(a, 1), [A3]),
    ("dim_len3", lambda T, a: T.linalg.norm(a, 2, dim=(0, 1, 1)), [A3]),
    ("matrix_ord3", lambda T, a: T.linalg.norm(a, 3), [A]),
    ("fro_1d", lambda T, a: T.linalg.norm(a, "fro"), [r(3)]),
    ("fro_dim_int", lambda T, a: T.linalg.norm(a, "fro", dim=1), [A]),
    ("int", lambda T, a: T.linalg.norm(a), [np.ones(3, np.int64)]),
    ("vector_str", lambda T, a: T.linalg.vector_norm(a, "fro"), [A]),
    ("matrix_1d", lambda T, a: T.linalg.matrix_norm(a), [r(3)]),
    ("matrix_same_dims", lambda T, a: T.linalg.matrix_norm(a, dim=(0, 0)), [A]),
    ("matrix_bad_str", lambda T, a: T.linalg.matrix_norm(a, "abc"), [A]),
]


@needs_torch
@pytest.mark.parametrize("name,fn,arrays", NORM_ERRORS, ids=[c[0] for c in NORM_ERRORS])
def test_linalg_norm_errors_match_torch(name, fn, arrays):
    assert_same_error(fn, *arrays)


@pytest.mark.parametrize("fn", [
    lambda a: ember.linalg.matrix_norm(a, 1), lambda a: ember.linalg.matrix_norm(a, float("inf")),
    lambda a: ember.linalg.matrix_norm(a, 2), lambda a: ember.linalg.matrix_norm(a, "nuc"),
    lambda a: ember.linalg.norm(a, -2), lambda a: ember.det(a[:3, :3]),
    lambda a: ember.inverse(a[:3, :3]), lambda a: ember.linalg.slogdet(a[:3, :3]).logabsdet,
])
def test_matrix_function_gradcheck(fn):
    check_grad(fn, spd(4)[:, :] + 0.3 * r(4, 4))


# ---- erf (ember/_ops/_special.py) ----------------------------------------------------------------
def test_erf_is_float64_accurate():
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, -0.0, 0.46875, -0.46875, 4.0, -4.0,
                                                     1e-300, 5e-324, 27.0, -40.0]])
    ref = np.array([math.erf(v) for v in x])
    ulps = np.abs(_special.erf(x) - ref) / np.spacing(np.abs(ref))
    assert ulps.max() <= 4  # libm's erf is itself ~1 ulp
    refc = np.array([math.erfc(v) for v in x])
    ulps = np.abs(_special.erfc(x) - refc) / np.spacing(np.abs(refc))
    assert ulps.max() <= 8


def test_erf_special_values_and_dtypes():
    v = _special.erf(np.array([np.inf, -np.inf, np.nan]))
    assert v[0] == 1.0 and v[1] == -1.0 and np.isnan(v[2])
    assert _special.erf(np.float32([0.5])).dtype == np.float32
    assert _special.erf(np.array(0.5)).shape == ()
    assert _special.erf(np.zeros((0, 3))).shape == (0, 3)
    c = _special.erfc(np.array([np.inf, -np.inf, np.nan]))
    assert c[0] == 0.0 and c[1] == 2.0 and np.isnan(c[2])


@needs_torch
def test_erfinv_matches_torch():
    edges = [1 - 1e-12, -1 + 1e-15, 1e-300, 1.5, -2.0, np.nan]
    y = np.concatenate([np.linspace(-1, 1, 4001), edges])
    got = _special.erfinv(y)
    want = torch.erfinv(torch.tensor(y)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300)
    inner = y[1:4000]
    np.testing.assert_allclose(_special.erf(_special.erfinv(inner)), inner, rtol=1e-15, atol=2e-16)
