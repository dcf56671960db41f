"""ember.distributions against torch.distributions: samples under the same seed, scores,
moments, gradients, shapes, KL pairs, validation errors and reprs."""
from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import ember
import ember.distributions as ed
from tests.helpers import assert_close, needs_torch, torch

pytestmark = needs_torch
td = torch.distributions if torch is not None else None

RNG = np.random.default_rng(0)
POS = np.array([[0.4, 1.3, 2.5], [0.9, 3.0, 12.0]])  # positive parameters, batch (2, 3)
REAL = np.array([[-1.2, 0.3, 0.8], [2.0, -0.5, 0.1]])
PROB = np.array([[0.2, 0.5, 0.9], [0.05, 0.7, 0.35]])
SIMPLEX = np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.4, 0.1]])
SPD = np.array([[[2.0, 0.3, 0.1], [0.3, 1.5, -0.2], [0.1, -0.2, 1.0]],
                [[1.0, 0.0, 0.0], [0.0, 2.0, 0.5], [0.0, 0.5, 3.0]]])


def _tensor(lib, a, dtype, grad):
    t = lib.tensor(np.array(a, dtype=dtype))
    return t.requires_grad_() if grad else t


# name -> (constructor taking the library and its parameter tensors, parameters, values)
CASES = {
    "Normal": (lambda D, a, b: D.Normal(a, b), [REAL, POS], REAL + 0.3),
    "Bernoulli": (lambda D, p: D.Bernoulli(probs=p), [PROB], np.round(PROB)),
    "BernoulliLogits": (lambda D, lg: D.Bernoulli(logits=lg), [REAL], np.round(PROB)),
    "Categorical": (lambda D, p: D.Categorical(probs=p), [SIMPLEX], np.array([3.0, 1.0])),
    "CategoricalLogits": (lambda D, lg: D.Categorical(logits=lg), [np.log(SIMPLEX) + 1],
                          np.array([[0.0, 2.0], [1.0, 3.0]])),
    "OneHotCategorical": (lambda D, p: D.OneHotCategorical(probs=p), [SIMPLEX],
                          np.eye(4)[[2, 0]]),
    "OneHotCategoricalST": (lambda D, lg: D.OneHotCategoricalStraightThrough(logits=lg),
                            [np.log(SIMPLEX)], np.eye(4)[[1, 3]]),
    "Multinomial": (lambda D, p: D.Multinomial(5, probs=p), [SIMPLEX],
                    np.array([[1.0, 1.0, 3.0, 0.0], [0.0, 2.0, 2.0, 1.0]])),
    "Binomial": (lambda D, p: D.Binomial(6, probs=p), [PROB], np.array([[0.0, 3, 6],
                                                                        [1, 2, 5]])),
    "Uniform": (lambda D, a, b: D.Uniform(a, a + b), [REAL, POS], REAL + 0.3),
    "Exponential": (lambda D, r: D.Exponential(r), [POS], POS / 2),
    "Poisson": (lambda D, r: D.Poisson(r), [POS], np.array([[0.0, 1, 2], [3, 4, 11]])),
    "Laplace": (lambda D, a, b: D.Laplace(a, b), [REAL, POS], REAL + 0.3),
    "LogNormal": (lambda D, a, b: D.LogNormal(a, b), [REAL, POS], POS),
    "Gamma": (lambda D, a, b: D.Gamma(a, b), [POS, POS[::-1]], POS / 3),
    "Beta": (lambda D, a, b: D.Beta(a, b), [POS, POS[::-1]], PROB),
    "Dirichlet": (lambda D, c: D.Dirichlet(c), [SIMPLEX * 8], SIMPLEX[::-1]),
    "MVNCov": (lambda D, m, c: D.MultivariateNormal(m, covariance_matrix=c), [REAL, SPD],
               REAL[::-1]),
    "MVNPrec": (lambda D, m, c: D.MultivariateNormal(m, precision_matrix=c), [REAL, SPD],
                REAL[::-1]),
    "MVNTril": (lambda D, m, c: D.MultivariateNormal(m, scale_tril=c),
                [REAL, np.linalg.cholesky(SPD)], REAL[::-1]),
    "Independent": (lambda D, a, b: D.Independent(D.Normal(a, b), 1), [REAL, POS], REAL),
    "Chi2": (lambda D, k: D.Chi2(k), [POS * 2], POS),
    "StudentT": (lambda D, k, a, b: D.StudentT(k, a, b), [POS * 2, REAL, POS], REAL[::-1]),
    "HalfNormal": (lambda D, b: D.HalfNormal(b), [POS], POS[::-1]),
    "Geometric": (lambda D, p: D.Geometric(p), [PROB], np.array([[0.0, 1, 2], [5, 0, 3]])),
    "NegativeBinomial": (lambda D, k, p: D.NegativeBinomial(k, probs=p), [POS * 3, PROB],
                         np.array([[0.0, 1, 7], [2, 0, 3]])),
    "Gumbel": (lambda D, a, b: D.Gumbel(a, b), [REAL, POS], REAL[::-1]),
    "Pareto": (lambda D, b, a: D.Pareto(b, a), [POS, POS[::-1] + 2], POS * 1.5),
    "Weibull": (lambda D, b, k: D.Weibull(b, k), [POS, POS[::-1]], POS[:, ::-1]),
}
INEXACT = {"Laplace", "LogNormal", "StudentT", "Geometric", "Gumbel", "Pareto", "Weibull",
           "MVNCov", "MVNPrec", "MVNTril"}
DISCRETE_INDEX = {"Categorical", "CategoricalLogits"}  # values are class indices
NO_ENTROPY = {"Poisson", "NegativeBinomial"}  # PyTorch has no entropy for them
RSAMPLE_GRAD = {"Gumbel", "Pareto", "Weibull", "Chi2", "StudentT", "HalfNormal",
                "OneHotCategoricalST", "Normal", "Uniform", "Exponential", "Laplace",
                "LogNormal", "MVNCov", "MVNPrec", "MVNTril", "Independent", "Gamma", "Beta",
                "Dirichlet"}


def _build(name, dtype, grad=False):
    ctor, params, value = CASES[name]
    ep = [_tensor(ember, p, dtype, grad) for p in params]
    tp = [_tensor(torch, p, dtype, grad) for p in params]
    vdt = np.int64 if name in DISCRETE_INDEX else dtype
    return (ctor(ed, *ep), ctor(td, *tp), ep, tp, ember.tensor(np.array(value, vdt)),
            torch.tensor(np.array(value, vdt)))


def _tol(dtype):
    return dict(atol=1e-5, rtol=1e-5) if dtype == "float32" else dict(atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_scores_and_moments(name, dtype):
    e, t, _, _, ev, tv = _build(name, dtype)
    assert tuple(e.batch_shape) == tuple(t.batch_shape)
    assert tuple(e.event_shape) == tuple(t.event_shape)
    tol = _tol(dtype)
    assert_close(e.log_prob(ev), t.log_prob(tv), **tol)
    for attr in ("mean", "variance", "stddev"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tm = getattr(t, attr)
        assert_close(getattr(e, attr), tm, **tol)
    try:
        tmode = t.mode
    except NotImplementedError:
        tmode = None
    if tmode is not None:
        assert_close(e.mode, tmode, **tol)
    if name not in NO_ENTROPY:
        assert_close(e.entropy(), t.entropy(), **tol)
        assert_close(e.perplexity(), t.perplexity(), **tol)
    assert_close(e.log_prob(ev).exp(), t.log_prob(tv).exp(), **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["Normal", "Uniform", "Exponential", "Laplace", "LogNormal",
                                  "Gamma", "HalfNormal", "Gumbel", "Pareto", "Weibull"])
def test_cdf_icdf(name, dtype):
    e, t, _, _, ev, tv = _build(name, dtype)
    tol = dict(atol=1e-5, rtol=1e-5) if dtype == "float32" else dict(atol=1e-9, rtol=1e-8)
    assert_close(e.cdf(ev), t.cdf(tv), **tol)
    if name != "Gamma":
        q = np.array(PROB, dtype)
        assert_close(e.icdf(ember.tensor(q)), t.icdf(torch.tensor(q)), **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_samples_equal_torch_under_seed(name, dtype):
    e, t, _, _, _, _ = _build(name, dtype)
    for shape in [(), (5,), (4, 2)]:
        ember.manual_seed(7)
        torch.manual_seed(7)
        es, ts = e.sample(shape), t.sample(shape)
        # samples transformed by libm functions or matmul may differ in the last bit
        exact = name not in INEXACT or dtype == "float32" and name in ("Laplace", "LogNormal")
        assert_close(es, ts, **(dict(atol=0, rtol=0) if exact else _tol(dtype)))
        assert tuple(es.shape) == tuple(t._extended_shape(shape))
        if t.has_rsample:
            assert e.has_rsample
            ember.manual_seed(8)
            torch.manual_seed(8)
            tol = dict(atol=1e-6, rtol=1e-6) if dtype == "float32" else dict(atol=1e-13,
                                                                              rtol=1e-12)
            assert_close(e.rsample(shape), t.rsample(shape), **tol)
    # the generator continues in step: a following draw agrees too
    assert_close(ember.rand(3), torch.rand(3), atol=0, rtol=0)


def test_large_normal_and_uniform_sample_streams():
    # >= 16 elements take PyTorch's vectorised normal_fill path
    e, t = ed.Normal(ember.zeros(3), ember.ones(3)), td.Normal(torch.zeros(3), torch.ones(3))
    ember.manual_seed(1)
    torch.manual_seed(1)
    assert_close(e.sample((40,)), t.sample((40,)), atol=0, rtol=0)
    assert_close(e.rsample((40,)), t.rsample((40,)), atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_log_prob_grads(name):
    dtype = "float64"
    e, t, ep, tp, ev, tv = _build(name, dtype, grad=True)
    e.log_prob(ev).sum().backward()
    t.log_prob(tv).sum().backward()
    for a, b in zip(ep, tp):
        assert_close(a.grad, b.grad, atol=1e-9, rtol=1e-8)


@pytest.mark.parametrize("name", sorted(RSAMPLE_GRAD))
def test_rsample_grads(name):
    dtype = "float64"
    e, t, ep, tp, _, _ = _build(name, dtype, grad=True)
    ember.manual_seed(3)
    torch.manual_seed(3)
    w = RNG.standard_normal(tuple(t._extended_shape((4,))))
    (e.rsample((4,)) * ember.tensor(w)).sum().backward()
    (t.rsample((4,)) * torch.tensor(w)).sum().backward()
    for a, b in zip(ep, tp):
        assert_close(a.grad, b.grad, atol=1e-8, rtol=1e-7)


def test_rsample_grads_float32_and_many_regimes():
    # concentrations spanning the implicit gradient's approximation regimes
    conc = np.array([[0.05, 0.3, 2.0], [7.0, 9.0, 0.8], [30.0, 40.0, 50.0]], np.float32)
    ce, ct = ember.tensor(conc, requires_grad=True), torch.tensor(conc, requires_grad=True)
    ember.manual_seed(5)
    torch.manual_seed(5)
    xe, xt = ed.Dirichlet(ce).rsample((6,)), td.Dirichlet(ct).rsample((6,))
    assert_close(xe, xt, atol=0, rtol=0)
    w = RNG.standard_normal(xt.shape).astype(np.float32)
    (xe * ember.tensor(w)).sum().backward()
    (xt * torch.tensor(w)).sum().backward()
    assert_close(ce.grad, ct.grad, atol=1e-4, rtol=1e-4)
    ge, gt = ember.tensor(conc, requires_grad=True), torch.tensor(conc, requires_grad=True)
    ye, yt = ed.Gamma(ge, 2.0).rsample((6,)), td.Gamma(gt, 2.0).rsample((6,))
    assert_close(ye, yt, atol=0, rtol=0)
    ye.sum().backward()
    yt.sum().backward()
    assert_close(ge.grad, gt.grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["Normal", "Gamma", "Dirichlet", "Beta"])
def test_entropy_grads(name):
    e, t, ep, tp, _, _ = _build(name, "float64", grad=True)
    e.entropy().sum().backward()
    t.entropy().sum().backward()
    for a, b in zip(ep, tp):
        if b.grad is None:
            assert a.grad is None or not a.grad.numpy().any()
        else:
            assert_close(a.grad, b.grad, atol=1e-8, rtol=1e-7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_expand(name):
    e, t, _, _, _, _ = _build(name, "float64")
    new = (3,) + tuple(e.batch_shape)
    ee, te = e.expand(new), t.expand(new)
    assert type(ee) is type(e)
    assert tuple(ee.batch_shape) == tuple(te.batch_shape) == new
    assert tuple(ee.event_shape) == tuple(te.event_shape)
    ember.manual_seed(2)
    torch.manual_seed(2)
    es, ts = ee.sample((2,)), te.sample((2,))
    assert_close(es, ts, **(_tol("float64") if name in INEXACT else dict(atol=0, rtol=0)))
    assert_close(ee.log_prob(ember.tensor(ts.numpy())), te.log_prob(ts), atol=1e-10,
                 rtol=1e-9)


def test_broadcasting_and_scalar_parameters():
    e = ed.Normal(ember.zeros(3, 1), ember.tensor([1.0, 2.0]))
    t = td.Normal(torch.zeros(3, 1), torch.tensor([1.0, 2.0]))
    assert tuple(e.batch_shape) == tuple(t.batch_shape) == (3, 2)
    assert tuple(ed.Normal(0.0, 1.0).batch_shape) == ()
    assert ed.Normal(0.0, 1.0).loc.dtype == ember.float32
    assert ed.Normal(ember.tensor(0.0, dtype=ember.float64), 1.0).scale.dtype == ember.float64
    v = ember.tensor([[0.5], [1.0], [-1.0]])
    assert_close(e.log_prob(v), t.log_prob(torch.tensor([[0.5], [1.0], [-1.0]])))
    assert tuple(ed.Exponential(2.0).sample((4,)).shape) == (4,)
    g = ed.Gamma(ember.tensor([1.0, 2.0]), 3.0)
    assert tuple(g.batch_shape) == (2,) and g.rate.dtype == ember.float32


def test_enumerate_support():
    for name in ["Bernoulli", "Categorical", "OneHotCategorical", "Binomial"]:
        e, t, *_ = _build(name, "float32")
        for expand in (True, False):
            assert_close(e.enumerate_support(expand), t.enumerate_support(expand), atol=0)
        assert e.has_enumerate_support


def test_categorical_normalises_and_lazy_params():
    p = np.array([[1.0, 2.0, 1.0], [3.0, 0.5, 0.5]], np.float32)
    e, t = ed.Categorical(probs=ember.tensor(p)), td.Categorical(probs=torch.tensor(p))
    assert_close(e.probs, t.probs)
    assert_close(e.logits, t.logits)
    lg = np.log(p)
    e, t = ed.Categorical(logits=ember.tensor(lg)), td.Categorical(logits=torch.tensor(lg))
    assert_close(e.logits, t.logits)
    assert_close(e.probs, t.probs)
    assert e.param_shape == (2, 3)
    assert_close(e.mean, t.mean, atol=0)  # NaN-filled, as PyTorch
    be, bt = ed.Bernoulli(logits=ember.tensor(0.3)), td.Bernoulli(logits=torch.tensor(0.3))
    assert_close(be.probs, bt.probs)


def test_sample_n_and_d2l_multinomial():
    fair = np.ones(6, np.float32) / 6
    ember.manual_seed(0)
    torch.manual_seed(0)
    e = ed.multinomial.Multinomial(1, ember.tensor(fair)).sample((10,))
    t = td.multinomial.Multinomial(1, torch.tensor(fair)).sample((10,))
    assert_close(e, t, atol=0)
    e = ed.Multinomial(10, ember.tensor(fair)).sample()
    t = td.Multinomial(10, torch.tensor(fair)).sample()
    assert_close(e, t, atol=0)
    with pytest.warns(FutureWarning):
        assert tuple(ed.Normal(0.0, 1.0).sample_n(3).shape) == (3,)


def test_submodules_mirror_torch():
    from ember.distributions.bernoulli import Bernoulli  # noqa: F401
    from ember.distributions.multinomial import Multinomial  # noqa: F401
    from ember.distributions.normal import Normal

    assert Normal is ed.normal.Normal is ed.Normal
    for mod in ["beta", "categorical", "dirichlet", "exponential", "gamma", "independent",
                "kl", "laplace", "log_normal", "multivariate_normal", "one_hot_categorical",
                "poisson", "uniform", "constraints", "transforms", "distribution",
                "exp_family", "binomial", "utils", "transformed_distribution"]:
        assert hasattr(ed, mod) or __import__(f"ember.distributions.{mod}")


def test_run_script_with_torch_distributions(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent("""
        import torch
        from torch.distributions import multinomial
        from torch.distributions.normal import Normal
        fair_probs = torch.ones([6]) / 6
        torch.manual_seed(0)
        counts = multinomial.Multinomial(1000, fair_probs).sample()
        print(counts.sum().item(), type(Normal(0.0, 1.0)).__module__)
        print(torch.distributions.kl_divergence(Normal(0.0, 1.0), Normal(1.0, 2.0)))
    """))
    res = subprocess.run([sys.executable, "-m", "ember", "run", str(script)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "1000.0 ember.distributions.normal"
    assert lines[1] == str(td.kl_divergence(td.Normal(0.0, 1.0), td.Normal(1.0, 2.0)))


# ---- KL -----------------------------------------------------------------------------------
KL_PAIRS = [
    ("Bernoulli", "Bernoulli"), ("Beta", "Beta"), ("Categorical", "Categorical"),
    ("Dirichlet", "Dirichlet"), ("Exponential", "Exponential"), ("Gamma", "Gamma"),
    ("Laplace", "Laplace"), ("MVNCov", "MVNTril"), ("MVNPrec", "MVNCov"),
    ("Normal", "Normal"), ("OneHotCategorical", "OneHotCategorical"), ("Poisson", "Poisson"),
    ("Uniform", "Uniform"), ("Bernoulli", "Poisson"), ("Beta", "Exponential"),
    ("Beta", "Gamma"), ("Beta", "Normal"), ("Beta", "Uniform"), ("Exponential", "Beta"),
    ("Exponential", "Uniform"), ("Exponential", "Gamma"), ("Exponential", "Normal"),
    ("Gamma", "Beta"), ("Gamma", "Uniform"), ("Gamma", "Exponential"), ("Gamma", "Normal"),
    ("Laplace", "Beta"), ("Laplace", "Exponential"), ("Laplace", "Gamma"),
    ("Laplace", "Uniform"), ("Laplace", "Normal"), ("Normal", "Beta"),
    ("Normal", "Exponential"), ("Normal", "Gamma"), ("Normal", "Uniform"),
    ("Normal", "Laplace"), ("Poisson", "Bernoulli"), ("Uniform", "Beta"),
    ("Uniform", "Exponential"), ("Uniform", "Gamma"), ("Uniform", "Normal"),
    ("Independent", "Independent"), ("LogNormal", "LogNormal"), ("Geometric", "Geometric"),
    ("HalfNormal", "HalfNormal"), ("Binomial", "Binomial"), ("Poisson", "Binomial"),
    ("Gumbel", "Gumbel"), ("Pareto", "Pareto"), ("Beta", "Pareto"), ("Exponential", "Pareto"),
    ("Exponential", "Gumbel"), ("Gamma", "Pareto"), ("Gamma", "Gumbel"), ("Gumbel", "Beta"),
    ("Gumbel", "Exponential"), ("Gumbel", "Gamma"), ("Gumbel", "Pareto"), ("Gumbel", "Uniform"),
    ("Gumbel", "Normal"), ("Laplace", "Pareto"), ("Normal", "Pareto"), ("Normal", "Gumbel"),
    ("Pareto", "Beta"), ("Pareto", "Uniform"), ("Pareto", "Exponential"), ("Pareto", "Gamma"),
    ("Pareto", "Normal"), ("Uniform", "Gumbel"), ("Uniform", "Pareto"),
]
KL_SECOND = {  # q's parameters differ from p's
    "Normal": [REAL[::-1], POS[:, ::-1]], "Laplace": [REAL[::-1], POS[:, ::-1]],
    "Gamma": [POS[:, ::-1], POS], "Beta": [POS[:, ::-1], POS], "Exponential": [POS[::-1]],
    "Poisson": [POS[::-1]], "Bernoulli": [PROB[::-1]], "Categorical": [SIMPLEX[::-1]],
    "OneHotCategorical": [SIMPLEX[::-1]], "Dirichlet": [SIMPLEX[::-1] * 3],
    "Uniform": [REAL - 1, POS + 2], "Independent": [REAL[::-1], POS[:, ::-1]],
    "LogNormal": [REAL[::-1], POS[:, ::-1]], "Geometric": [PROB[:, ::-1]],
    "HalfNormal": [POS[::-1]], "Binomial": [PROB[:, ::-1]], "Gumbel": [REAL[::-1], POS[::-1]],
    "Pareto": [POS[:, ::-1] * 0.5, POS + 2],
    "MVNCov": [REAL[::-1], SPD[::-1]], "MVNTril": [REAL[::-1], np.linalg.cholesky(SPD[::-1])],
}


def _pair(name, params, dtype="float64", grad=False):
    ctor = CASES[name][0]
    ep = [_tensor(ember, p, dtype, grad) for p in params]
    tp = [_tensor(torch, p, dtype, grad) for p in params]
    return ctor(ed, *ep), ctor(td, *tp), ep, tp


@pytest.mark.parametrize("pq", KL_PAIRS, ids=lambda pq: f"{pq[0]}-{pq[1]}")
def test_kl_pairs(pq):
    pn, qn = pq
    pe, pt, pep, ptp = _pair(pn, CASES[pn][1], grad=True)
    qe, qt, _, _ = _pair(qn, KL_SECOND.get(qn, CASES[qn][1]))
    if pn == "Uniform" and qn in ("Beta", "Gamma", "Exponential"):  # inside q's support too
        pe, pt, pep, ptp = _pair(pn, [PROB * 0.5, PROB * 0.4], grad=True)
    ke, kt = ed.kl_divergence(pe, qe), td.kl_divergence(pt, qt)
    assert_close(ke, kt, atol=1e-9, rtol=1e-8)
    if kt.requires_grad and bool(torch.isfinite(kt).all()):
        ke.sum().backward()
        kt.sum().backward()
        for a, b in zip(pep, ptp):
            if b.grad is not None:
                assert_close(a.grad, b.grad, atol=1e-8, rtol=1e-7)


def test_kl_binomial_counts():
    p = ed.Binomial(ember.tensor([5.0, 7.0]), ember.tensor([0.3, 0.6]))
    q = ed.Binomial(ember.tensor([5.0, 6.0]), ember.tensor([0.5, 0.5]))
    tp = td.Binomial(torch.tensor([5.0, 7.0]), torch.tensor([0.3, 0.6]))
    tq = td.Binomial(torch.tensor([5.0, 6.0]), torch.tensor([0.5, 0.5]))
    assert_close(ed.kl_divergence(p, q), td.kl_divergence(tp, tq))
    _same_error(lambda: ed.kl_divergence(q, p), lambda: td.kl_divergence(tq, tp),
                NotImplementedError)


def test_kl_unregistered_and_register():
    _same_error(lambda: ed.kl_divergence(ed.Laplace(0.0, 1.0), ed.Poisson(1.0)),
                lambda: td.kl_divergence(td.Laplace(0.0, 1.0), td.Poisson(1.0)),
                NotImplementedError)
    _same_error(lambda: ed.kl_divergence(ed.MultivariateNormal(ember.zeros(2), ember.eye(2)),
                                         ed.MultivariateNormal(ember.zeros(3), ember.eye(3))),
                lambda: td.kl_divergence(td.MultivariateNormal(torch.zeros(2), torch.eye(2)),
                                         td.MultivariateNormal(torch.zeros(3), torch.eye(3))),
                ValueError)
    _same_error(lambda: ed.kl_divergence(ed.Poisson(1.0), ed.Normal(0.0, 1.0)),
                lambda: td.kl_divergence(td.Poisson(1.0), td.Normal(0.0, 1.0)),
                NotImplementedError)

    class MyNormal(ed.Normal):
        pass

    @ed.register_kl(MyNormal, ed.Normal)
    def _kl(p, q):
        return ember.tensor(42.0)

    assert float(ed.kl_divergence(MyNormal(0.0, 1.0), ed.Normal(0.0, 1.0))) == 42.0
    # the subclass falls back to its parent's pair the other way round
    assert_close(ed.kl_divergence(ed.Normal(0.0, 1.0), MyNormal(1.0, 1.0)),
                 td.kl_divergence(td.Normal(0.0, 1.0), td.Normal(1.0, 1.0)))


# ---- validation, errors and reprs ---------------------------------------------------------
def _same_error(fe, ft, exc):
    with pytest.raises(exc) as te:
        ft()
    with pytest.raises(exc) as ee:
        fe()
    assert str(ee.value).replace("ember.", "torch.") == str(te.value)


def test_parameter_validation_messages():
    _same_error(lambda: ed.Normal(ember.tensor([0.0, 1.0]), ember.tensor([1.0, -1.0])),
                lambda: td.Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, -1.0])),
                ValueError)
    _same_error(lambda: ed.Normal(0.0, -1.0), lambda: td.Normal(0.0, -1.0), ValueError)
    _same_error(lambda: ed.Bernoulli(probs=ember.tensor([1.5])),
                lambda: td.Bernoulli(probs=torch.tensor([1.5])), ValueError)
    _same_error(lambda: ed.Bernoulli(), lambda: td.Bernoulli(), ValueError)
    _same_error(lambda: ed.Categorical(probs=ember.tensor(0.5)),
                lambda: td.Categorical(probs=torch.tensor(0.5)), ValueError)
    _same_error(lambda: ed.Uniform(ember.tensor([2.0]), ember.tensor([1.0])),
                lambda: td.Uniform(torch.tensor([2.0]), torch.tensor([1.0])), ValueError)
    _same_error(lambda: ed.Dirichlet(ember.tensor([1.0, -2.0])),
                lambda: td.Dirichlet(torch.tensor([1.0, -2.0])), ValueError)
    _same_error(lambda: ed.MultivariateNormal(ember.zeros(2)),
                lambda: td.MultivariateNormal(torch.zeros(2)), ValueError)
    _same_error(lambda: ed.Gamma(ember.tensor([1.0]), ember.tensor([0.0])),
                lambda: td.Gamma(torch.tensor([1.0]), torch.tensor([0.0])), ValueError)
    _same_error(lambda: ed.MultivariateNormal(ember.zeros(2), ember.tensor([[1.0, 2.0],
                                                                           [2.0, 1.0]])),
                lambda: td.MultivariateNormal(torch.zeros(2), torch.tensor([[1.0, 2.0],
                                                                            [2.0, 1.0]])),
                ValueError)
    _same_error(lambda: ed.Multinomial(2.5, ember.ones(3)),
                lambda: td.Multinomial(2.5, torch.ones(3)), NotImplementedError)
    _same_error(lambda: ed.Geometric(ember.tensor([0.5, 0.0])),
                lambda: td.Geometric(torch.tensor([0.5, 0.0])), ValueError)
    _same_error(lambda: ed.StudentT(ember.tensor([-1.0])),
                lambda: td.StudentT(torch.tensor([-1.0])), ValueError)
    _same_error(lambda: ed.Independent(ed.Normal(0.0, 1.0), 1),
                lambda: td.Independent(td.Normal(0.0, 1.0), 1), ValueError)


def test_value_validation_messages():
    _same_error(lambda: ed.Exponential(ember.tensor([1.0])).log_prob(ember.tensor([-1.0])),
                lambda: td.Exponential(torch.tensor([1.0])).log_prob(torch.tensor([-1.0])),
                ValueError)
    _same_error(lambda: ed.Bernoulli(0.3).log_prob(ember.tensor(0.5)),
                lambda: td.Bernoulli(0.3).log_prob(torch.tensor(0.5)), ValueError)
    _same_error(lambda: ed.Normal(0.0, 1.0).log_prob(0.5),
                lambda: td.Normal(0.0, 1.0).log_prob(0.5), ValueError)
    _same_error(lambda: ed.Normal(ember.zeros(3), 1.0).log_prob(ember.zeros(2)),
                lambda: td.Normal(torch.zeros(3), 1.0).log_prob(torch.zeros(2)), ValueError)
    _same_error(lambda: ed.Dirichlet(ember.ones(3)).log_prob(ember.ones(2)),
                lambda: td.Dirichlet(torch.ones(3)).log_prob(torch.ones(2)), ValueError)
    _same_error(lambda: ed.Categorical(ember.ones(3)).log_prob(ember.tensor(3)),
                lambda: td.Categorical(torch.ones(3)).log_prob(torch.tensor(3)), ValueError)


def test_validate_args_switches():
    ed.Normal(0.0, -1.0, validate_args=False)  # no check
    assert ed.Normal(0.0, 1.0, validate_args=False).log_prob(ember.tensor(0.0)) is not None
    try:
        ed.Distribution.set_default_validate_args(False)
        ed.Normal(0.0, -1.0)
    finally:
        ed.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        ed.Distribution.set_default_validate_args(2)
    with pytest.raises(ValueError):
        ed.Normal(0.0, -1.0)


def test_reprs():
    pairs = [
        (ed.Normal(0.0, 1.0), td.Normal(0.0, 1.0)),
        (ed.Normal(ember.zeros(2), ember.ones(2)), td.Normal(torch.zeros(2), torch.ones(2))),
        (ed.Bernoulli(logits=ember.tensor([0.3])), td.Bernoulli(logits=torch.tensor([0.3]))),
        (ed.Categorical(ember.ones(3)), td.Categorical(torch.ones(3))),
        (ed.Gamma(2.0, 3.0), td.Gamma(2.0, 3.0)),
        (ed.Beta(2.0, 3.0), td.Beta(2.0, 3.0)),
        (ed.Uniform(0.0, 2.0), td.Uniform(0.0, 2.0)),
        (ed.Independent(ed.Normal(ember.zeros(2), 1.0), 1),
         td.Independent(td.Normal(torch.zeros(2), 1.0), 1)),
        (ed.MultivariateNormal(ember.zeros(2), ember.eye(2)),
         td.MultivariateNormal(torch.zeros(2), torch.eye(2))),
        (ed.LogNormal(0.0, 1.0), td.LogNormal(0.0, 1.0)),
    ]
    for e, t in pairs:
        assert repr(e).replace("ember.", "torch.") == repr(t)
    cons = [("positive", "positive"), ("real", "real"), ("unit_interval", "unit_interval"),
            ("simplex", "simplex"), ("real_vector", "real_vector"), ("boolean", "boolean"),
            ("nonnegative_integer", "nonnegative_integer"), ("lower_cholesky", "lower_cholesky"),
            ("positive_definite", "positive_definite"), ("one_hot", "one_hot")]
    for a, b in cons:
        assert repr(getattr(ed.constraints, a)) == repr(getattr(td.constraints, b))
    assert repr(ed.constraints.interval(0.0, 2.0)) == repr(td.constraints.interval(0.0, 2.0))
    assert repr(ed.Categorical(ember.ones(3)).support) == repr(td.Categorical(
        torch.ones(3)).support)


def test_support_and_arg_constraints():
    for name in sorted(CASES):
        e, t, *_ = _build(name, "float32")
        assert sorted(e.arg_constraints) == sorted(t.arg_constraints)
        assert type(e.support).__name__ == type(t.support).__name__, name
        assert e.support.event_dim == t.support.event_dim
        assert e.support.is_discrete == t.support.is_discrete


def test_gamma_family_moments_statistically():
    # the samplers are PyTorch's; this checks the distribution itself, independent of torch
    ember.manual_seed(0)
    x = ed.Gamma(ember.tensor([0.5, 4.0], dtype=ember.float64), 2.0).sample((3000,)).numpy()
    np.testing.assert_allclose(x.mean(0), [0.25, 2.0], rtol=0.08)
    np.testing.assert_allclose(x.var(0), [0.125, 1.0], rtol=0.15)
    k = ed.Poisson(ember.tensor([3.0, 20.0])).sample((3000,)).numpy()
    np.testing.assert_allclose(k.mean(0), [3.0, 20.0], rtol=0.05)
    np.testing.assert_allclose(k.var(0), [3.0, 20.0], rtol=0.15)
    assert math.isfinite(float(ed.Dirichlet(ember.ones(3)).sample().sum()))


@pytest.mark.parametrize("name", ["Normal", "Exponential", "Gamma", "Beta", "Dirichlet",
                                  "Bernoulli"])
def test_exponential_family_bregman_forms(name):
    e, t, *_ = _build(name, "float64")
    if name in ("Beta", "Dirichlet"):  # no carrier measure, in PyTorch too
        for d in (e, t):
            with pytest.raises(NotImplementedError):
                type(d).__mro__[-3].entropy(d)
    else:
        assert_close(ed.ExponentialFamily.entropy(e), td.ExponentialFamily.entropy(t),
                     atol=1e-9, rtol=1e-8)
        assert_close(ed.ExponentialFamily.entropy(e), e.entropy(), atol=1e-9, rtol=1e-8,
                     check_dtype=False)
    qe, qt, _, _ = _pair(name, KL_SECOND.get(name, CASES[name][1]))
    assert_close(ed.kl._kl_expfamily_expfamily(e, qe), td.kl._kl_expfamily_expfamily(t, qt),
                 atol=1e-9, rtol=1e-8)


def test_not_positive_definite_without_validation():
    bad = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]])
    _same_error(lambda: ed.MultivariateNormal(ember.zeros(2), ember.tensor(bad[1]),
                                              validate_args=False),
                lambda: td.MultivariateNormal(torch.zeros(2), torch.tensor(bad[1]),
                                              validate_args=False), RuntimeError)
    with pytest.raises(ember.linalg.LinAlgError, match="Batch element 1.*order 2"):
        ed.MultivariateNormal(ember.zeros(2), ember.tensor(bad), validate_args=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binomial_large_counts_stream(dtype):
    # count * min(p, 1 - p) >= 10 takes PyTorch's BTRS rejection sampler
    c = np.array([[40.0, 200.0, 1000.0], [15.0, 0.0, 300.0]], dtype)
    p = np.array([[0.5, 0.1, 0.93], [0.8, 0.5, 0.999]], dtype)
    ember.manual_seed(11)
    torch.manual_seed(11)
    e = ed.Binomial(ember.tensor(c), ember.tensor(p)).sample((50,))
    t = td.Binomial(torch.tensor(c), torch.tensor(p)).sample((50,))
    assert_close(e, t, atol=0, rtol=0)


def test_policy_gradient_flow():
    # pytorch/examples' REINFORCE: sample an action, score it, backprop into the policy
    w = RNG.standard_normal((4, 2))
    state = RNG.standard_normal((1, 4))
    grads = []
    for lib, D in ((ember, ed), (torch, td)):
        lib.manual_seed(0)
        wt = lib.tensor(w, requires_grad=True)
        probs = lib.softmax(lib.tensor(state) @ wt, dim=1)
        m = D.Categorical(probs)
        actions = [m.sample() for _ in range(5)]
        loss = -sum(m.log_prob(a) * r for a, r in zip(actions, [1.0, -0.5, 2.0, 0.3, 1.2]))
        loss.sum().backward()
        grads.append((np.array([int(a) for a in actions]), wt.grad.numpy()))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_allclose(grads[0][1], grads[1][1], atol=1e-12)


@pytest.mark.parametrize("multivariate", [False, True])
def test_mixture_same_family(multivariate):
    w = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    pairs = []
    for lib, D in ((ember, ed), (torch, td)):
        mix = D.Categorical(lib.tensor(w))
        if multivariate:
            comp = D.Independent(D.Normal(lib.tensor(np.stack([REAL, REAL[::-1]], -1)),
                                          lib.tensor(np.stack([POS, POS[::-1]], -1))), 1)
        else:
            comp = D.Normal(lib.tensor(REAL), lib.tensor(POS))
        pairs.append(D.MixtureSameFamily(mix, comp))
    e, t = pairs
    assert tuple(e.batch_shape) == tuple(t.batch_shape)
    assert tuple(e.event_shape) == tuple(t.event_shape)
    assert repr(e).replace("ember.", "torch.") == repr(t)
    assert_close(e.mean, t.mean, atol=1e-12)
    assert_close(e.variance, t.variance, atol=1e-12)
    ember.manual_seed(4)
    torch.manual_seed(4)
    es, ts = e.sample((5,)), t.sample((5,))
    assert_close(es, ts, atol=0, rtol=0)
    assert_close(e.log_prob(ember.tensor(ts.numpy())), t.log_prob(ts), atol=1e-12)
    if not multivariate:
        assert_close(e.cdf(ember.tensor(ts.numpy())), t.cdf(ts), atol=1e-12)
    ee, te = e.expand((4, 2)), t.expand((4, 2))
    assert tuple(ee.batch_shape) == tuple(te.batch_shape)
    assert repr(e.support) == repr(t.support)
