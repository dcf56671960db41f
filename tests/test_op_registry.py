"""The op registry: one row per op drives a value test against PyTorch and a float64 gradcheck.

A row is ``Op(name, fn, cases)``: ``fn(T, *tensors)`` is written once and run with ``T = ember``
and ``T = torch``; each case is a tuple of input specs, a shape (N(0, 1) values) or a
generator from the domain helpers below, which keep inputs away from kinks and singularities
(no 0 for abs/relu, positive for log/sqrt, no ties for max). Every row should have a scalar
``()`` case, a broadcasting case and an empty-dim case where the op allows them.

To cover a new family, append rows to ``OPS`` (one line per op). A bug found in a file this
test does not own is recorded on its row with ``bug=`` (values/grads) or ``name_bug=`` (the
grad_fn name): an xfail(strict=True) naming it, which fails again once the bug is fixed.
``assert_parity`` and ``assert_same_error`` are shared with the per-family test files.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import ember
from tests.helpers import check_grad, needs_torch, torch

# var/std over empty dims warn (on both sides), as they should
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0")

# ---- input domains -------------------------------------------------------------------------------


def R(*shape):
    """Real N(0, 1) values."""
    return lambda rng: rng.standard_normal(shape)


def POS(*shape):
    """Positive, away from 0: |N(0,1)| + 0.5 (log, sqrt, reciprocal's friends)."""
    return lambda rng: np.abs(rng.standard_normal(shape)) + 0.5


def NZ(*shape):
    """Real but at least 0.3 away from 0 (abs, relu, sign-like kinks; divisors)."""
    def gen(rng):
        x = rng.standard_normal(shape)
        return np.where(x < 0, x - 0.3, x + 0.3)
    return gen


def UNIT(*shape):
    """Inside (-0.8, 0.8) (tan, inverse functions)."""
    return lambda rng: 0.8 * np.tanh(rng.standard_normal(shape))


def SPD(n, *batch):
    """Well-conditioned square matrices: I*n + N(0, 1)/2 (det, inverse, solve)."""
    return lambda rng: np.eye(n) * n + 0.5 * rng.standard_normal(batch + (n, n))


def MOD(*shape):
    """Dividends whose quotient by MODB's divisors stays 0.2 away from an integer (fmod kinks)."""
    return lambda rng: (rng.integers(-3, 4, shape) + 0.5 + 0.3 * rng.uniform(-1, 1, shape)) * 2.0


def MODB(*shape):
    return lambda rng: np.full(shape, 2.0)


def _spec(s):
    return R(*s) if isinstance(s, tuple) else s


@dataclass
class Op:
    name: str
    fn: object           # fn(T, *tensors) with T = ember or torch
    cases: list          # each a tuple of input specs
    grad: bool = True    # run the float64 gradcheck and compare grads with torch
    bug: str = ""        # a known bug elsewhere: value/grad tests xfail(strict=True) with this
    name_bug: str = ""   # a known wrong grad_fn name elsewhere: the name test xfails with this
    rtol: float = 1e-6


def unary(name, fn, dom=R, cases=None, **kw):
    cs = cases or [(dom(),), (dom(2, 3),), (dom(0, 3),)]
    return Op(name, fn, cs, **kw)


def binary(name, fn, da=R, db=R, **kw):
    cases = [(da(), db()), (da(3, 1), db(1, 4)), (da(2, 3), db()), (da(0, 3), db(3))]
    return Op(name, fn, cases, **kw)


# ---- the registry --------------------------------------------------------------------------------
OPS = [
    # elementwise (ember/_ops/elementwise.py)
    binary("add", lambda T, x, y: T.add(x, y)),
    binary("add_alpha", lambda T, x, y: T.add(x, y, alpha=0.5)),
    binary("sub", lambda T, x, y: x - y),
    binary("mul", lambda T, x, y: x * y),
    binary("div", lambda T, x, y: x / y, db=NZ),
    binary("pow", lambda T, x, y: T.pow(x, y), da=POS),
    unary("pow_scalar", lambda T, x: x ** 3),
    unary("rpow_scalar", lambda T, x: 2.0 ** x),
    unary("neg", lambda T, x: -x),
    unary("abs", lambda T, x: T.abs(x), NZ),
    unary("exp", lambda T, x: T.exp(x)),
    unary("exp2", lambda T, x: T.exp2(x)),
    unary("expm1", lambda T, x: T.expm1(x)),
    unary("log", lambda T, x: T.log(x), POS),
    unary("log2", lambda T, x: T.log2(x), POS),
    unary("log10", lambda T, x: T.log10(x), POS),
    unary("log1p", lambda T, x: T.log1p(x), POS),
    unary("sqrt", lambda T, x: T.sqrt(x), POS),
    unary("rsqrt", lambda T, x: T.rsqrt(x), POS),
    unary("sin", lambda T, x: T.sin(x)),
    unary("cos", lambda T, x: T.cos(x)),
    unary("tan", lambda T, x: T.tan(x), UNIT),
    unary("tanh", lambda T, x: T.tanh(x)),
    unary("sigmoid", lambda T, x: T.sigmoid(x)),
    unary("relu", lambda T, x: T.relu(x), NZ),
    unary("erf", lambda T, x: T.erf(x)),
    unary("erfc", lambda T, x: T.erfc(x)),
    unary("erfinv", lambda T, x: T.erfinv(x), UNIT),
    unary("reciprocal", lambda T, x: T.reciprocal(x), NZ),
    unary("square", lambda T, x: T.square(x)),
    unary("clamp", lambda T, x: T.clamp(x, -0.5, 0.7), NZ),
    unary("clamp_min", lambda T, x: x.clamp(min=0.1), NZ),
    binary("maximum", lambda T, x, y: T.maximum(x, y)),
    binary("minimum", lambda T, x, y: T.minimum(x, y)),
    binary("fmod", lambda T, x, y: T.fmod(x, y), da=MOD, db=MODB),
    binary("remainder", lambda T, x, y: T.remainder(x, y), da=MOD, db=MODB),
    binary("where", lambda T, x, y: T.where(x > y, x, y)),
    binary("clamp_tensor_bounds", lambda T, x, y: T.clamp(x, min=y)),
    Op("lerp", lambda T, x, y, w: T.lerp(x, y, w),
       [(R(), R(), R()), (R(3, 1), R(1, 4), R(4)), (R(0, 3), R(3), R(3))]),
    unary("lerp_scalar", lambda T, x: T.lerp(x, T.ones_like(x), 0.3)),

    # reductions (ember/_ops/reduce.py)
    unary("sum", lambda T, x: x.sum()),
    unary("sum_dim", lambda T, x: x.sum(-1), cases=[(R(),), (R(2, 3),), (R(0, 3),)]),
    unary("sum_dims_keep", lambda T, x: T.sum(x, (0, 1), keepdim=True),
          cases=[(R(2, 3),), (R(0, 3),), (R(2, 3, 4),)]),
    unary("mean", lambda T, x: x.mean()),
    unary("mean_dim", lambda T, x: x.mean(0, keepdim=True), cases=[(R(),), (R(2, 3),), (R(0, 3),)]),
    unary("nansum", lambda T, x: T.nansum(x, 1), cases=[(R(2, 3),), (R(0, 3),)]),
    unary("nanmean", lambda T, x: T.nanmean(x, 1), cases=[(R(2, 3),), (R(3, 0),)]),
    unary("prod", lambda T, x: x.prod(), NZ),
    unary("prod_dim", lambda T, x: T.prod(x, 1, keepdim=True), cases=[(NZ(2, 3),), (NZ(0, 3),)]),
    unary("max", lambda T, x: x.max(), cases=[(R(),), (R(2, 3),)]),
    unary("max_dim", lambda T, x: x.max(1)[0], cases=[(R(2, 3),), (R(0, 3),)]),
    unary("min_dim_keep", lambda T, x: x.min(0, keepdim=True).values, cases=[(R(2, 3),)]),
    unary("amax", lambda T, x: T.amax(x, (0, 1)), cases=[(R(2, 3),), (R(2, 3, 2),)]),
    unary("amin", lambda T, x: x.amin(1), cases=[(R(2, 3),), (R(0, 3),)]),
    unary("argmax", lambda T, x: x.argmax(1), cases=[(R(2, 3),)], grad=False),
    unary("var", lambda T, x: x.var(), cases=[(R(2, 3),), (R(5),)]),
    unary("var_dim", lambda T, x: T.var(x, 1, keepdim=True), cases=[(R(2, 3),), (R(0, 3),)]),
    unary("std", lambda T, x: x.std(), cases=[(R(2, 3),), (R(5),)]),
    unary("std_dim_c0", lambda T, x: T.std(x, 0, correction=0), cases=[(R(2, 3),), (R(3, 0),)]),
    unary("norm", lambda T, x: x.norm()),
    unary("norm_p1_dim", lambda T, x: x.norm(p=1, dim=1), cases=[(NZ(2, 3),), (NZ(0, 3),)]),
    unary("norm_inf", lambda T, x: x.norm(float("inf")), cases=[(R(2, 3),)]),
    unary("norm_p3_keep", lambda T, x: T.norm(x, 3, 0, keepdim=True),
          cases=[(NZ(2, 3),), (NZ(0, 3),)]),
    unary("logsumexp", lambda T, x: T.logsumexp(x, 1), cases=[(R(2, 3),), (R(0, 3),), (R(3, 0),)]),
    unary("logsumexp_all", lambda T, x: x.logsumexp((0, 1), keepdim=True), cases=[(R(2, 3),)]),
    unary("cumsum", lambda T, x: x.cumsum(0), cases=[(R(),), (R(2, 3),), (R(0, 3),)]),
    unary("cumprod", lambda T, x: T.cumprod(x, -1), cases=[(NZ(),), (NZ(2, 3),), (NZ(0, 3),)]),
    unary("cummax", lambda T, x: T.cummax(x, 1).values, cases=[(R(2, 4),), (R(0, 3),)]),
    unary("median", lambda T, x: x.median(), cases=[(R(),), (R(2, 3),)]),
    unary("median_dim", lambda T, x: x.median(1).values, cases=[(R(2, 3),), (R(0, 3),)]),
    unary("mode", lambda T, x: x.mode(1).values, cases=[(R(2, 3),)]),
    unary("all", lambda T, x: x.all(1), cases=[(R(2, 3),), (R(0, 3),)], grad=False),
    unary("count_nonzero", lambda T, x: T.count_nonzero(x, 0), cases=[(R(2, 3),)], grad=False),

    # linear algebra (ember/_ops/linalg.py, ember/linalg.py)
    Op("matmul", lambda T, x, y: x @ y,
       [(R(2, 3), R(3, 4)), (R(3), R(3)), (R(2, 3), R(3)), (R(3), R(3, 4)),
        (R(2, 1, 2, 3), R(5, 3, 4)), (R(2, 2, 3), R(3, 4)), (R(2, 3), R(2, 3, 4)),
        (R(2, 2, 3), R(3)), (R(3), R(2, 3, 4)), (R(0, 3), R(3, 4)), (R(2, 0), R(0, 4))]),
    Op("mm", lambda T, x, y: T.mm(x, y), [(R(2, 3), R(3, 4)), (R(0, 3), R(3, 2))]),
    Op("mv", lambda T, x, y: T.mv(x, y), [(R(2, 3), R(3)), (R(2, 0), R(0))]),
    Op("dot", lambda T, x, y: T.dot(x, y), [(R(3), R(3)), (R(0), R(0))]),
    Op("bmm", lambda T, x, y: T.bmm(x, y), [(R(2, 2, 3), R(2, 3, 4)), (R(0, 2, 3), R(0, 3, 1))]),
    Op("addmm", lambda T, b, x, y: T.addmm(b, x, y, beta=0.5, alpha=2.0),
       [(R(4), R(2, 3), R(3, 4)), (R(), R(2, 3), R(3, 4)), (R(2, 1), R(2, 0), R(0, 4))]),
    Op("addmv", lambda T, b, x, y: T.addmv(b, x, y, alpha=-1.5),
       [(R(2), R(2, 3), R(3)), (R(1), R(2, 3), R(3))]),
    Op("baddbmm", lambda T, b, x, y: T.baddbmm(b, x, y, beta=2.0),
       [(R(4), R(2, 2, 3), R(2, 3, 4)), (R(2, 1, 4), R(2, 2, 3), R(2, 3, 4))]),
    Op("addbmm", lambda T, b, x, y: T.addbmm(b, x, y), [(R(2, 4), R(3, 2, 3), R(3, 3, 4))]),
    Op("outer", lambda T, x, y: T.outer(x, y), [(R(3), R(4)), (R(0), R(2))]),
    Op("inner", lambda T, x, y: T.inner(x, y), [(R(2, 3), R(4, 3)), (R(), R(2)), (R(3), R(3))]),
    Op("einsum_mm", lambda T, x, y: T.einsum("ij,jk->ik", x, y), [(R(2, 3), R(3, 4))]),
    Op("einsum_batch_ellipsis", lambda T, x, y: T.einsum("...ij,...jk", x, y),
       [(R(5, 2, 3), R(3, 4)), (R(0, 2, 3), R(3, 4))]),
    Op("einsum_diag_sum", lambda T, x: T.einsum("ii->", x), [(R(3, 3),)]),
    Op("einsum_diag", lambda T, x: T.einsum("ii->i", x), [(R(3, 3),)]),
    Op("einsum_outer_bcast", lambda T, x, y: T.einsum("bi,bj->bij", x, y), [(R(1, 2), R(3, 4))]),
    Op("einsum_three", lambda T, x, y, z: T.einsum("ij,jk,kl->il", x, y, z),
       [(R(2, 3), R(3, 4), R(4, 2))]),
    Op("einsum_sum_out", lambda T, x, y: T.einsum("ij,k->i", x, y), [(R(2, 3), R(4))]),
    Op("tensordot", lambda T, x, y: T.tensordot(x, y, dims=([1, 2], [1, 0])),
       [(R(2, 3, 4), R(4, 3, 5))]),
    Op("tensordot_int", lambda T, x, y: T.tensordot(x, y, 1), [(R(2, 3), R(3, 4)), (R(3), R(3))]),
    Op("kron", lambda T, x, y: T.kron(x, y), [(R(2, 3), R(3, 2)), (R(2, 3), R(2))]),
    Op("trace", lambda T, x: T.trace(x), [(R(3, 3),), (R(2, 4),), (R(0, 0),)]),
    Op("det", lambda T, x: T.det(x), [(SPD(3),), (SPD(2, 4),), (SPD(1),)]),
    Op("inverse", lambda T, x: T.inverse(x), [(SPD(3),), (SPD(2, 2),)]),
    Op("linalg_solve", lambda T, a, b: T.linalg.solve(a, b),
       [(SPD(3), R(3)), (SPD(3), R(3, 2)), (SPD(3, 2), R(3)), (SPD(3, 2), R(2, 3))]),
    Op("linalg_slogdet", lambda T, x: T.linalg.slogdet(x).logabsdet, [(SPD(3),), (SPD(2, 2),)]),
    Op("linalg_norm", lambda T, x: T.linalg.norm(x), [(R(2, 3),), (R(3),), (R(0, 3),)]),
    Op("linalg_norm_ord1", lambda T, x: T.linalg.norm(x, 1), [(R(2, 3),), (NZ(3),)]),
    Op("linalg_norm_inf", lambda T, x: T.linalg.norm(x, float("inf"), dim=(0, 1)), [(R(2, 3),)]),
    Op("linalg_matrix_norm_2", lambda T, x: T.linalg.matrix_norm(x, 2),
       [(R(2, 3),), (R(2, 3, 3),)]),
    Op("linalg_matrix_norm_nuc", lambda T, x: T.linalg.matrix_norm(x, "nuc"),
       [(R(3, 2),), (R(2, 3, 3),)]),
    Op("linalg_vector_norm", lambda T, x: T.linalg.vector_norm(x, 0.5, dim=0), [(NZ(3, 2),)]),
]


def _params(bug_attr):
    for op in OPS:
        for i, case in enumerate(op.cases):
            bug = getattr(op, bug_attr)
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            yield pytest.param(op, case, id=f"{op.name}-{i}", marks=marks)


PARAMS = list(_params("bug"))
NAME_PARAMS = [p for p in _params("name_bug") if p.values[0].grad]


def _inputs(case, seed=0):
    rng = np.random.default_rng(seed)
    return [np.asarray(_spec(s)(rng), dtype=np.float64) for s in case]


# ---- the shared PyTorch parity check -------------------------------------------------------------
def _outs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _dtype_name(d):
    return str(d).split(".")[-1]


def assert_parity(fn, *arrays, grad=True, name=True, rtol=1e-6, atol=1e-10, seed=1):
    """Run fn(T, *tensors) on ember and torch: compare values, shapes, dtypes, grad_fn names
    and (for float inputs, with ``grad``) the grads of a random weighting of the outputs."""
    def run(T):
        ts = [T.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
        return ts, fn(T, *ts)

    e_in, e_out = run(ember)
    t_in, t_out = run(torch)
    if type(t_out).__module__ == "torch.return_types":
        assert type(e_out).__name__ == type(t_out).__name__
    e_outs, t_outs = _outs(e_out), _outs(t_out)
    assert len(e_outs) == len(t_outs)
    for e, t in zip(e_outs, t_outs):
        if not isinstance(t, torch.Tensor):
            assert e == t
            continue
        assert tuple(e.shape) == tuple(t.shape), (tuple(e.shape), tuple(t.shape))
        assert _dtype_name(e.dtype) == _dtype_name(t.dtype)
        np.testing.assert_allclose(_np(e), _np(t), rtol=rtol, atol=atol)
        if grad and name and t.grad_fn is not None:
            assert e.grad_fn is not None and e.grad_fn.name() == t.grad_fn.name()
    if not grad or not any(t.requires_grad for t in t_outs if isinstance(t, torch.Tensor)):
        return e_outs
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(tuple(t.shape)) for t in t_outs]
    t_loss = sum((t * torch.tensor(w)).sum() for t, w in zip(t_outs, ws) if t.requires_grad)
    e_loss = sum((e * ember.tensor(w)).sum() for e, t, w in zip(e_outs, t_outs, ws)
                 if t.requires_grad)
    t_loss.backward()
    e_loss.backward()
    for e, t in zip(e_in, t_in):
        if t.grad is None:
            assert e.grad is None or not np.any(_np(e.grad))
        else:
            assert e.grad is not None
            np.testing.assert_allclose(_np(e.grad), t.grad.numpy(), rtol=rtol, atol=atol)
    return e_outs


def assert_same_error(fn, *arrays):
    """fn raises on both: the same exception type (or a subclass) and the same message."""
    with pytest.raises(Exception) as t_exc:
        fn(torch, *[torch.tensor(a) for a in arrays])
    with pytest.raises(Exception) as e_exc:
        fn(ember, *[ember.tensor(a) for a in arrays])
    t_type = t_exc.type
    while t_type.__module__ not in ("builtins",):  # torch's own subclasses -> their builtin base
        t_type = t_type.__base__
    assert isinstance(e_exc.value, t_type), (e_exc.type, t_exc.type)
    assert str(e_exc.value) == str(t_exc.value)


# ---- the tests -----------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("op,case", PARAMS)
def test_values_and_grads_match_torch(op, case):
    assert_parity(op.fn, *_inputs(case), grad=op.grad, name=False, rtol=op.rtol)


@needs_torch
@pytest.mark.parametrize("op,case", NAME_PARAMS)
def test_grad_fn_name_matches_torch(op, case):
    arrays = _inputs(case)
    e = op.fn(ember, *[ember.tensor(a, requires_grad=True) for a in arrays])
    t = op.fn(torch, *[torch.tensor(a, requires_grad=True) for a in arrays])
    assert (e.grad_fn and e.grad_fn.name()) == (t.grad_fn and t.grad_fn.name())


@needs_torch
@pytest.mark.parametrize("op,case", PARAMS)
def test_float32_stays_float32(op, case):
    arrays = [a.astype(np.float32) for a in _inputs(case)]
    assert_parity(op.fn, *arrays, grad=False, rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize("op,case", [p for p in PARAMS if p.values[0].grad])
def test_gradcheck_float64(op, case):
    check_grad(lambda *xs: op.fn(ember, *xs), *_inputs(case))


def test_registry_rows_are_unique_and_have_cases():
    names = [op.name for op in OPS]
    assert len(names) == len(set(names))
    for op in OPS:
        assert op.cases, op.name
