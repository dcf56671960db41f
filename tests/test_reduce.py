"""Reductions against PyTorch: values, dtypes, namedtuples, errors, grads (ties, zeros), and
NumPy's axis=/keepdims= spellings."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
from tests.helpers import check_grad, needs_torch, torch
from tests.test_op_registry import assert_parity, assert_same_error

pytestmark = needs_torch

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
X3 = RNG.standard_normal((2, 3, 4))
XI = RNG.integers(-5, 6, (3, 4))
B = RNG.integers(0, 2, (3, 4)).astype(bool)
E = np.zeros((0, 3))
S = np.float64(1.5) * np.ones(())

# name, fn(T, *tensors), arrays — the same lambda runs on ember and on torch
CASES = [
    ("sum", lambda T, x: x.sum(), [X]),
    ("sum_dim", lambda T, x: T.sum(x, 1), [X]),
    ("sum_neg_dim_keep", lambda T, x: x.sum(-1, keepdim=True), [X3]),
    ("sum_dims_list", lambda T, x: x.sum([0, 2]), [X3]),
    ("sum_empty_list", lambda T, x: x.sum([]), [X]),
    ("sum_dtype", lambda T, x: x.sum(dtype=T.float64), [X.astype(np.float32)]),
    ("sum_scalar_dim0", lambda T, x: x.sum(0), [S]),
    ("sum_empty", lambda T, x: x.sum(), [E]),
    ("sum_empty_dim", lambda T, x: x.sum(0), [E]),
    ("sum_int", lambda T, x: x.sum(), [XI]),
    ("sum_int32_dim", lambda T, x: x.sum(1), [XI.astype(np.int32)]),
    ("sum_bool", lambda T, x: x.sum(0), [B]),
    ("sum_uint8", lambda T, x: x.sum(), [XI.astype(np.uint8)]),
    ("sum_int_to_float", lambda T, x: x.sum(dtype=T.float64), [XI]),
    ("mean", lambda T, x: x.mean(), [X]),
    ("mean_dims_keep", lambda T, x: T.mean(x, (0, 2), True), [X3]),
    ("mean_int_dtype", lambda T, x: x.mean(dtype=T.float32), [XI]),
    ("mean_empty", lambda T, x: x.mean(), [E]),
    ("mean_empty_dim", lambda T, x: x.mean(0), [E]),
    ("nansum_nan", lambda T, x: T.nansum(x, 0), [np.array([[1.0, np.nan], [2.0, 3.0]])]),
    ("nanmean_nan", lambda T, x: T.nanmean(x, 1), [np.array([[1.0, np.nan], [2.0, 3.0]])]),
    ("nanmean_all", lambda T, x: x.nanmean(), [np.array([[1.0, np.nan], [2.0, 3.0]])]),
    ("nansum_int", lambda T, x: T.nansum(x), [XI.astype(np.int32)]),
    ("prod", lambda T, x: x.prod(), [X]),
    ("prod_dim", lambda T, x: x.prod(1), [X]),
    ("prod_int32", lambda T, x: x.prod(0), [XI.astype(np.int32)]),
    ("prod_bool", lambda T, x: x.prod(), [B]),
    ("prod_dtype", lambda T, x: T.prod(x, 1, dtype=T.float64), [XI.astype(np.int32)]),
    ("prod_empty", lambda T, x: x.prod(), [E]),
    ("max", lambda T, x: x.max(), [X]),
    ("max_dim", lambda T, x: x.max(1), [X]),
    ("max_dim_keep", lambda T, x: T.max(x, dim=0, keepdim=True), [X3]),
    ("max_dim_neg", lambda T, x: x.max(-1), [X]),
    ("max_scalar_dim", lambda T, x: x.max(0), [S]),
    ("max_other_empty", lambda T, x: x.max(1), [E]),
    ("max_int", lambda T, x: x.max(), [XI]),
    ("max_bool_dim", lambda T, x: x.max(1), [B]),
    ("max_nan", lambda T, x: x.max(0), [np.array([1.0, np.nan, 3.0])]),
    ("min", lambda T, x: x.min(), [X]),
    ("min_dim", lambda T, x: T.min(x, 0), [X]),
    ("max_binary", lambda T, x, y: T.max(x, y), [X, X.T.copy().reshape(3, 4)]),
    ("max_binary_0d_int", lambda T, x, y: T.max(x, y), [np.array(0), X]),
    ("min_binary_method", lambda T, x, y: x.min(y), [X, np.array(0.1)]),
    ("amax", lambda T, x: x.amax(), [X]),
    ("amax_dims", lambda T, x: T.amax(x, (0, 2), keepdim=True), [X3]),
    ("amin_dim", lambda T, x: x.amin(1), [X]),
    ("amax_int", lambda T, x: x.amax(0), [XI]),
    ("amax_other_empty", lambda T, x: x.amax(1), [E]),
    ("aminmax", lambda T, x: T.aminmax(x), [X]),
    ("aminmax_dim", lambda T, x: T.aminmax(x, dim=1, keepdim=True), [X]),
    ("argmax", lambda T, x: x.argmax(), [X]),
    ("argmax_dim", lambda T, x: T.argmax(x, 1), [X]),
    ("argmax_keep", lambda T, x: x.argmax(keepdim=True), [X]),
    ("argmin_dim_keep", lambda T, x: x.argmin(0, keepdim=True), [X3]),
    ("argmax_int", lambda T, x: x.argmax(1), [XI]),
    ("argmax_scalar", lambda T, x: x.argmax(), [S]),
    ("argmax_ties_first", lambda T, x: x.argmax(1), [np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])]),
    ("argmax_other_empty", lambda T, x: x.argmax(1), [E]),
    ("var", lambda T, x: x.var(), [X]),
    ("var_dim", lambda T, x: x.var(1), [X]),
    ("var_unbiased_false", lambda T, x: x.var(unbiased=False), [X]),
    ("var_positional", lambda T, x: x.var(1, False, True), [X]),
    ("var_bool_positional", lambda T, x: T.var(x, False), [X]),
    ("var_correction", lambda T, x: x.var(dim=(0, 2), correction=2), [X3]),
    ("std", lambda T, x: x.std(), [X]),
    ("std_dim_keep", lambda T, x: T.std(x, 0, keepdim=True), [X]),
    ("std_correction0", lambda T, x: x.std(correction=0), [X]),
    ("std_mean", lambda T, x: T.std_mean(x, 1), [X]),
    ("var_mean", lambda T, x: T.var_mean(x, dim=0, correction=0), [X]),
    ("norm", lambda T, x: x.norm(), [X]),
    ("norm_ones", lambda T, x: T.norm(x), [np.ones((4, 9), np.float32)]),
    ("norm_dim", lambda T, x: x.norm(dim=1), [X]),
    ("norm_p1", lambda T, x: x.norm(1), [X]),
    ("norm_inf", lambda T, x: x.norm(float("inf")), [X]),
    ("norm_neg_inf", lambda T, x: x.norm(float("-inf"), 1), [X]),
    ("norm_p0", lambda T, x: x.norm(0), [X]),
    ("norm_p3_keep", lambda T, x: x.norm(3, 1, True), [X]),
    ("norm_p_half", lambda T, x: x.norm(0.5), [X]),
    ("norm_fro_dims", lambda T, x: T.norm(x, "fro", (1, 2)), [X3]),
    ("norm_dtype", lambda T, x: x.norm(dtype=T.float64), [X.astype(np.float32)]),
    ("norm_empty", lambda T, x: x.norm(), [E]),
    ("norm_nuc", lambda T, x: T.norm(x, "nuc"), [X]),
    ("logsumexp", lambda T, x: T.logsumexp(x, 1), [X]),
    ("logsumexp_dims_keep", lambda T, x: x.logsumexp((0, 1), keepdim=True), [X3]),
    ("logsumexp_big", lambda T, x: x.logsumexp(0), [np.array([1000.0, 1000.0, -1000.0])]),
    ("logsumexp_neg_inf", lambda T, x: x.logsumexp(0),
     [np.array([[-np.inf, 1.0], [-np.inf, 2.0]])]),
    ("logsumexp_int", lambda T, x: x.logsumexp(1), [XI]),
    ("logsumexp_empty", lambda T, x: x.logsumexp(0), [E]),
    ("logsumexp_scalar", lambda T, x: x.logsumexp(0), [S]),
    ("cumsum", lambda T, x: x.cumsum(1), [X]),
    ("cumsum_fn_dim0", lambda T, x: T.cumsum(x, dim=0), [X3]),
    ("cumsum_int32", lambda T, x: x.cumsum(0), [XI.astype(np.int32)]),
    ("cumsum_bool", lambda T, x: x.cumsum(1), [B]),
    ("cumsum_dtype", lambda T, x: x.cumsum(0, dtype=T.float64), [X.astype(np.float32)]),
    ("cumsum_scalar", lambda T, x: x.cumsum(0), [S]),
    ("cumprod", lambda T, x: x.cumprod(1), [X]),
    ("cumprod_int", lambda T, x: x.cumprod(1), [XI]),
    ("cummax", lambda T, x: x.cummax(1), [X]),
    ("cummin_ties", lambda T, x: T.cummin(x, 0), [np.array([1.0, 1, 2, 1, 0])]),
    ("cummax_ties", lambda T, x: T.cummax(x, 0), [np.array([1.0, 1, 0, 1])]),
    ("all", lambda T, x: x.all(), [B]),
    ("all_dim", lambda T, x: x.all(1), [B]),
    ("any_dim_keep", lambda T, x: T.any(x, 0, keepdim=True), [B]),
    ("all_float", lambda T, x: x.all(1), [np.array([[1.0, 0.0], [2.0, 3.0]])]),
    ("any_uint8", lambda T, x: x.any(), [XI.astype(np.uint8)]),
    ("all_empty", lambda T, x: x.all(), [E]),
    ("any_dims", lambda T, x: x.any(dim=(0, 1)), [B]),
    ("median", lambda T, x: x.median(), [X]),
    ("median_even", lambda T, x: x.median(), [np.array([4.0, 1.0, 3.0, 2.0])]),
    ("median_int", lambda T, x: x.median(), [np.array([4, 1, 3, 2])]),
    ("median_nan", lambda T, x: x.median(), [np.array([4.0, np.nan, 3.0])]),
    ("median_dim", lambda T, x: x.median(1), [X]),
    ("median_dim_keep", lambda T, x: T.median(x, 0, keepdim=True), [X3]),
    ("median_dim_nan", lambda T, x: x.median(0), [np.array([4.0, np.nan, 3.0])]),
    ("median_other_empty", lambda T, x: x.median(1), [E]),
    ("mode", lambda T, x: x.mode(1), [np.array([[1.0, 2, 2, 1, 3], [3, 3, 1, 1, 2]])]),
    ("mode_default_dim", lambda T, x: T.mode(x), [np.array([1.0, 2, 2, 1, 3])]),
    ("mode_int_dim0", lambda T, x: x.mode(0), [np.array([[1, 2], [3, 2], [1, 5]])]),
    ("count_nonzero", lambda T, x: T.count_nonzero(x), [np.array([[1.0, 0.0], [2.0, 0.0]])]),
    ("count_nonzero_dims", lambda T, x: x.count_nonzero((0, 1)), [XI]),
    ("count_nonzero_dim", lambda T, x: x.count_nonzero(1), [XI]),
]


@pytest.mark.parametrize("name,fn,arrays", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(name, fn, arrays):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the dof warnings are tested below
        assert_parity(fn, *arrays)


ERRORS = [
    ("mean_int", lambda T, x: x.mean(), [XI]),
    ("mean_bool", lambda T, x: x.mean(1), [B]),
    ("mean_int_dtype_int", lambda T, x: x.mean(dtype=T.int64), [X]),
    ("nanmean_int", lambda T, x: T.nanmean(x), [XI.astype(np.int32)]),
    ("sum_bad_dim", lambda T, x: x.sum(2), [X]),
    ("sum_dup_dims", lambda T, x: x.sum((1, -1)), [X]),
    ("max_empty", lambda T, x: x.max(), [E]),
    ("min_empty", lambda T, x: x.min(), [E]),
    ("max_empty_dim", lambda T, x: x.max(0), [E]),
    ("max_bad_dim", lambda T, x: x.max(3), [X]),
    ("amax_empty", lambda T, x: x.amax(), [E]),
    ("amin_empty_dim", lambda T, x: x.amin(0), [E]),
    ("argmax_empty", lambda T, x: x.argmax(), [E]),
    ("argmax_empty_dim", lambda T, x: x.argmax(0), [E]),
    ("argmax_bool", lambda T, x: x.argmax(), [B]),
    ("aminmax_empty", lambda T, x: T.aminmax(x), [np.zeros(0)]),
    ("var_int", lambda T, x: x.var(), [XI]),
    ("std_int", lambda T, x: x.std(1), [XI]),
    ("norm_int", lambda T, x: x.norm(), [XI]),
    ("norm_inf_empty", lambda T, x: x.norm(float("inf")), [E]),
    ("norm_inf_empty_dim", lambda T, x: x.norm(float("inf"), dim=0), [E]),
    ("norm_bad_str", lambda T, x: x.norm("abc"), [X]),
    ("norm_fro_3dims", lambda T, x: x.norm("fro", (0, 1, 2)), [X3]),
    ("logsumexp_no_dim", lambda T, x: T.logsumexp(x), [X]),
    ("cumsum_no_dim", lambda T, x: T.cumsum(x), [X]),
    ("cumsum_bad_dim", lambda T, x: x.cumsum(2), [X]),
    ("median_empty_dim", lambda T, x: x.median(0), [E]),
    ("mode_empty_dim", lambda T, x: x.mode(0), [E]),
]


@pytest.mark.parametrize("name,fn,arrays", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors_match_torch(name, fn, arrays):
    assert_same_error(fn, *arrays)


# ---- NumPy spellings (d2l uses them): ember's axis=/keepdims= against torch's dim=/keepdim= ------
ALIASES = [
    (lambda x: x.sum(axis=0), lambda x: x.sum(dim=0)),
    (lambda x: x.sum(axis=1, keepdims=True), lambda x: x.sum(dim=1, keepdim=True)),
    (lambda x: x.sum(0, keepdims=True), lambda x: x.sum(0, keepdim=True)),
    (lambda x: x.sum(axis=[0, 1]), lambda x: x.sum(dim=[0, 1])),
    (lambda x: ember.sum(x, axis=-1), lambda x: torch.sum(x, dim=-1)),
    (lambda x: x.mean(axis=0), lambda x: x.mean(dim=0)),
    (lambda x: x.mean(axis=1, keepdims=True), lambda x: x.mean(dim=1, keepdim=True)),
    (lambda x: x.cumsum(axis=0), lambda x: x.cumsum(dim=0)),
    (lambda x: x.argmax(axis=1), lambda x: x.argmax(dim=1)),
    (lambda x: ember.argmax(x, 1), lambda x: torch.argmax(x, 1)),
    (lambda x: x.max(axis=1).values, lambda x: x.max(dim=1).values),
    (lambda x: x.amax(axis=0, keepdims=True), lambda x: x.amax(dim=0, keepdim=True)),
    (lambda x: x.std(axis=0), lambda x: x.std(dim=0)),
    (lambda x: x.var(axis=1, keepdims=True), lambda x: x.var(dim=1, keepdim=True)),
    (lambda x: x.prod(axis=1), lambda x: x.prod(dim=1)),
    (lambda x: x.logsumexp(axis=1), lambda x: x.logsumexp(dim=1)),
    (lambda x: x.any(axis=1), lambda x: x.any(dim=1)),
    (lambda x: x.all(axis=0, keepdims=True), lambda x: x.all(dim=0, keepdim=True)),
]


@pytest.mark.parametrize("i", range(len(ALIASES)))
def test_numpy_axis_keepdims_aliases(i):
    e_fn, t_fn = ALIASES[i]
    x = X.astype(np.float32)
    e, t = e_fn(ember.tensor(x)), t_fn(torch.tensor(x))
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype) == str(t.dtype).replace("torch", "ember")
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-5)


def test_axis_and_dim_together_is_an_error():
    with pytest.raises(TypeError):
        ember.tensor(X).sum(dim=0, axis=0)


# ---- grads where the conventions matter: ties, zeros, degenerate groups --------------------------
GRAD_CASES = [
    ("max_ties_split_evenly", lambda T, x: x.max(), np.array([[1.0, 3.0, 3.0], [3.0, 0.0, 2.0]])),
    ("amax_ties_split_evenly", lambda T, x: x.amax(1),
     np.array([[1.0, 3.0, 3.0], [3.0, 0.0, 2.0]])),
    ("amin_ties", lambda T, x: T.amin(x, (0, 1)), np.array([[0.0, 3.0, 0.0], [3.0, 0.0, 2.0]])),
    ("max_dim_ties_one_index", lambda T, x: x.max(1).values,
     np.array([[1.0, 3.0, 3.0], [3.0, 3.0, 2.0]])),
    ("median_all_ties", lambda T, x: x.median(), np.array([2.0, 1.0, 2.0, 5.0])),
    ("norm_inf_ties", lambda T, x: x.norm(float("inf")), np.array([1.0, -3.0, 3.0])),
    ("norm_at_zero", lambda T, x: x.norm(), np.zeros((2, 3))),
    ("norm_dim_at_zero_row", lambda T, x: x.norm(dim=1), np.array([[0.0, 0.0], [3.0, 4.0]])),
    ("norm_p3_at_zero", lambda T, x: x.norm(3), np.array([0.0, 1.0, -2.0])),
    ("std_at_constant", lambda T, x: x.std(1), np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])),
    ("prod_one_zero", lambda T, x: x.prod(1), np.array([[2.0, 0.0, 3.0], [1.0, 2.0, 4.0]])),
    ("prod_two_zeros", lambda T, x: x.prod(), np.array([[2.0, 0.0, 3.0], [0.0, 2.0, 4.0]])),
    ("prod_zero_dim0", lambda T, x: x.prod(0), np.array([[2.0, 0.0, 3.0], [0.0, 2.0, 4.0]])),
    ("cumprod_zeros", lambda T, x: x.cumprod(1),
     np.array([[2.0, 0.0, 3.0, 0.5], [0.0, 2.0, 0.0, 4.0], [1.0, 2.0, 3.0, 0.0]])),
    ("cumprod_zero_dim0", lambda T, x: x.cumprod(0),
     np.array([[2.0, 0.0], [0.0, 3.0], [4.0, 5.0]])),
    ("logsumexp_neg_inf_group", lambda T, x: x.logsumexp(1),
     np.array([[-np.inf, 0.0], [1.0, 2.0]])),
    ("cummax_ties_grad", lambda T, x: x.cummax(0).values, np.array([1.0, 1.0, 0.0, 2.0, 2.0])),
]


@pytest.mark.parametrize("name,fn,x", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_grad_conventions_match_torch(name, fn, x):
    assert_parity(fn, x)


@pytest.mark.parametrize("fn", [
    lambda x: x.sum(), lambda x: x.sum(1), lambda x: x.mean(0, keepdim=True),
    lambda x: x.var(1), lambda x: x.std(), lambda x: x.norm(dim=0), lambda x: x.norm(3),
    lambda x: x.logsumexp(1), lambda x: x.amax(1), lambda x: x.prod(1), lambda x: x.cumsum(1),
    lambda x: x.cumprod(1), lambda x: x.max(1).values, lambda x: x.median(0).values,
])
def test_double_backward_matches_torch(fn):
    """create_graph=True: the backward formulas run on Tensors and are differentiable."""
    x = RNG.standard_normal((2, 3)) + 0.1
    res = []
    for T in (ember, torch):
        t = T.tensor(x, requires_grad=True)
        (g,) = T.autograd.grad((fn(t) ** 2).sum(), t, create_graph=True)
        (gg,) = T.autograd.grad((g * T.tensor(X[:2, :3])).sum(), t)
        res.append((g.detach().numpy(), gg.numpy()))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("fn,x", [
    (lambda x: x.prod(1), np.array([[2.0, -1.5, 3.0], [1.0, 2.0, 0.5]])),
    (lambda x: x.cumprod(1), np.array([[2.0, -1.5, 3.0], [1.0, 2.0, 0.5]])),
    (lambda x: x.std(0), X),
    (lambda x: x.var((0, 1)), X3),
    (lambda x: x.logsumexp((0, 2)), X3),
    (lambda x: ember.norm(x, 0.7, 1), np.abs(X) + 0.1),
    (lambda x: x.median(1).values, X),
    (lambda x: x.mode(0).values, X),
    (lambda x: ember.cummin(x, 1).values, X),
    (lambda x: ember.nansum(x), X),
    (lambda x: ember.nanmean(x, 0), X),
])
def test_gradcheck(fn, x):
    check_grad(fn, x)


# ---- result types, dtypes, warnings, dispatch ----------------------------------------------------
def test_namedtuple_fields_and_repr():
    x = ember.tensor([[1.0, 5.0], [7.0, 2.0]])
    r = x.max(1)
    values, indices = r
    assert r.values is values and r.indices is indices and r[0] is values
    assert indices.dtype == ember.int64 and indices.tolist() == [1, 0]
    assert repr(r).startswith("ember.return_types.max(\nvalues=tensor([5., 7.])")
    assert repr(r).endswith(",\nindices=tensor([1, 0]))")
    assert type(ember.aminmax(x)).__name__ == "aminmax" and ember.aminmax(x).max.item() == 7.0
    assert type(x.median(0)).__name__ == "median" and type(x.cummax(0)).__name__ == "cummax"


def test_full_reductions_return_0d_tensors_usable_in_conditions():
    b = ember.tensor([3.0, 4.0])
    assert isinstance(b.norm(), ember.Tensor) and b.norm().shape == ()
    assert bool(b.norm() < 1000) and bool(b.sum() > 0)
    assert b.norm().item() == 5.0


def test_float32_is_kept_and_ints_promote_as_torch():
    x = ember.ones(4, 9)
    assert x.sum().dtype == ember.float32 and x.norm().dtype == ember.float32
    assert ember.norm(x).item() == 6.0
    assert ember.tensor([1, 2], dtype=ember.int32).sum().dtype == ember.int64
    assert ember.tensor([True, True]).sum().item() == 2
    assert ember.tensor([1, 2]).logsumexp(0).dtype == ember.float32


@pytest.mark.parametrize("op", ["var", "std"])
def test_degrees_of_freedom_warning(op):
    x = ember.tensor([1.5])
    with pytest.warns(UserWarning, match=rf"{op}\(\): degrees of freedom is <= 0"):
        r = getattr(x, op)()
    assert np.isnan(r.item())


def test_numpy_functions_dispatch_to_ember():
    x = ember.tensor(X, requires_grad=True)
    s = np.sum(x, axis=0)
    assert isinstance(s, ember.Tensor) and s.grad_fn.name() == "SumBackward1"
    assert isinstance(np.mean(x), ember.Tensor)
    np.testing.assert_allclose(np.max(x, axis=1).detach().numpy(), X.max(1))
    np.testing.assert_allclose(np.var(x).detach().numpy(), X.var())  # NumPy's ddof=0
    (s.sum() + np.std(x, axis=1, ddof=1).sum()).backward()
    assert x.grad.shape == (3, 4)


def test_out_argument():
    out = ember.empty(3)
    r = ember.sum(ember.tensor(X, dtype=ember.float32), 1, out=out)
    assert r is out
    np.testing.assert_allclose(out.numpy(), X.sum(1), rtol=1e-6)


def test_sum_backward_broadcasts_without_copying():
    x = ember.tensor(X, requires_grad=True)
    y = x.sum(1)
    (g,) = ember.autograd.grad(y, x, ember.ones(3))
    assert g.shape == (3, 4) and np.all(g.numpy() == 1)


def test_nanmean_of_an_all_nan_row_is_silent():
    x = ember.tensor([[np.nan, np.nan], [1.0, 2.0]], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = ember.nanmean(x, 1)
        r.sum().backward()
    assert np.isnan(r[0].item())
