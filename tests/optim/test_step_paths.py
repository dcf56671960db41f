"""The quick paths of step() and zero_grad() (issue #7): Adam/AdamW's regrouped update, SGD's
plain update, the step wrapper's silent overflow and the scratch arrays. Each variant against
PyTorch over many steps, in float32 and float64, and against the formulas it replaces."""
from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest
from helpers import needs_torch, torch

import ember
import ember.optim as optim
from ember.optim import _functional as F

from .test_optimizers import _grad, _ids, _problem, assert_state_close, run_pair

# every branch of adam.py's _adam_param / _adam_scalars and of SGD's quick path
CONFIGS = [
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, betas=(0.6, 0.9), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.995, 0.999))),  # 1 - beta1 < 0.01: PyTorch's lerp
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9))),  # 1 - beta1 >= 0.5: lerp's second formula
    ("Adam", dict(lr=0.01, betas=(0.0, 0.99))),  # lerp weight 1: m = g exactly
    ("Adam", dict(lr=0.01, betas=(0.99, 0.5))),  # 1 - beta1 = 0.01: the regrouped m
    ("Adam", dict(lr=0.01, eps=0.0)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=1)),  # an int lr takes the quick path too
    ("SGD", dict(lr=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, maximize=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
]
TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_matches_torch_over_40_steps(cfg, dtype):
    name, kwargs = cfg
    ep, eo, tp, to = run_pair(name, kwargs, steps=40, seed=5, dtype=dtype)
    for p, q in zip(ep, tp):
        assert p.dtype.name == str(q.dtype).split(".")[-1]
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), **TOL[dtype])
        assert_state_close(eo.state[p], to.state[q], **TOL[dtype])


@needs_torch
@pytest.mark.parametrize("name", ["Adam", "AdamW", "SGD"])
def test_tensor_hyperparameters_match_torch(name):
    kw = dict(lr=torch.tensor(0.01))
    ekw = dict(lr=ember.tensor(0.01))
    if name != "SGD":
        kw["betas"] = (torch.tensor(0.8), torch.tensor(0.99))
        ekw["betas"] = (ember.tensor(0.8), ember.tensor(0.99))
    ep, eo, tp, to = run_pair(name, ekw, [(3,), (2, 4)], 20, 2, torch_kwargs=kw)
    for p, q in zip(ep, tp):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=2e-5, atol=1e-6)


@needs_torch
@pytest.mark.parametrize("name,kwargs", [("Adam", dict(lr=0.01)),
                                         ("Adam", dict(lr=0.02, amsgrad=True)),
                                         ("SGD", dict(lr=0.1))])
def test_groups_of_mixed_dtypes_sizes_and_options_match_torch(name, kwargs):
    # the scratch buffer is per dtype and grows to the largest param; the scalars are per
    # (step, dtype): params that join late have other step counts than their group's others
    rng = np.random.default_rng(4)
    shapes32, shapes64 = [(3,), (40, 50), ()], [(7,), (), (30, 30)]
    a32 = [rng.standard_normal(s).astype(np.float32) for s in shapes32]
    a64 = [rng.standard_normal(s) for s in shapes64]
    runs = []
    for lib, mod in ((ember, optim), (torch, torch.optim)):
        p32 = [lib.tensor(a.copy(), requires_grad=True) for a in a32]
        p64 = [lib.tensor(a.copy(), requires_grad=True) for a in a64]
        mixed = [p32[0], p64[0], p32[1], p64[1]]  # one group, both dtypes
        o = getattr(mod, name)([{"params": mixed}, {"params": [p32[2]], "lr": 0.05},
                                {"params": [p64[2]], "maximize": True}], **kwargs)
        runs.append((p32 + p64, o))
    grng = np.random.default_rng(9)
    for t in range(25):
        grads = [grng.standard_normal(a.shape).astype(a.dtype) for a in a32 + a64]
        for k, g in enumerate(grads):
            if t < 5 and k in (1, 4):  # these two get no grad at first: later first steps
                g = None
            for (params, _), lib in zip(runs, (ember, torch)):
                params[k].grad = None if g is None else lib.tensor(g.copy())
        for _, o in runs:
            o.step()
    (ep, eo), (tp, to) = runs
    for p, q in zip(ep, tp):
        tol = TOL[np.float64] if p.dtype == ember.float64 else TOL[np.float32]
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), **tol)
        assert_state_close(eo.state[p], to.state[q], **tol)


@needs_torch
def test_sgd_lr_changed_between_steps_matches_torch():
    # schedulers write group["lr"]; the cached 0-d lr must follow (0.0 included)
    lrs = [0.1, 0.1, 0.05, 0.0, 0.0, 1e-3, 0.1, 1 / 3, 2, 0.1]
    def same_then_set_lr(t, ep, eo, tp, to):  # the previous step agreed; then the new lr
        _assert_params_close(ep, tp)
        eo.param_groups[0]["lr"] = to.param_groups[0]["lr"] = lrs[t]

    ep, _, tp, _ = run_pair("SGD", dict(lr=0.1), [(5,), (2, 3)], len(lrs), 8,
                            before_step=same_then_set_lr)
    _assert_params_close(ep, tp)


def _assert_params_close(ep, tp):
    for p, q in zip(ep, tp):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("lr", [0.1, 1e-2, 1 / 3, 3, 0.0])
def test_sgd_quick_path_rounds_like_the_general_formula(lr, dtype):
    # p -= lr * g with lr rounded to the param's dtype (NumPy's rule for a Python float
    # operand), bit for bit what sgd() computes; float16 has no PyTorch check, so this is it
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(257).astype(dtype)
    g = rng.standard_normal(257).astype(dtype)
    p = ember.tensor(p0.copy(), requires_grad=True)
    p.grad = ember.tensor(g.copy())
    optim.SGD([p], lr=lr).step()
    want = p0.copy()
    want -= np.multiply(g, lr)
    np.testing.assert_array_equal(p.detach().numpy(), want)
    assert p.dtype.name == np.dtype(dtype).name
    q = ember.tensor(p0.copy(), requires_grad=True)  # the functional form, same numbers
    F.sgd([q], [ember.tensor(g.copy())], [], weight_decay=0.0, momentum=0.0, lr=lr,
          dampening=0.0, nesterov=False, maximize=False)
    np.testing.assert_array_equal(q.detach().numpy(), want)


def test_sgd_quick_path_after_the_param_changes_shape_and_dtype():
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    o = optim.SGD([p], lr=0.5)
    p.grad = ember.tensor([1.0, 1.0])
    o.step()
    assert p.tolist() == [0.5, 1.5]
    with ember.no_grad():
        p.data = ember.arange(6.0, dtype=ember.float64).reshape(2, 3)
    p.grad = ember.ones(2, 3, dtype=ember.float64)
    o.step()
    assert p.dtype == ember.float64
    assert p.tolist() == [[-0.5, 0.5, 1.5], [2.5, 3.5, 4.5]]


@needs_torch
def test_adam_after_a_larger_param_joins():
    # the shared scratch buffer is reallocated; earlier params get views of the new one
    small = ember.tensor([1.0, -1.0], requires_grad=True)
    tsmall = torch.tensor([1.0, -1.0], requires_grad=True)
    eo, to = optim.Adam([small], lr=0.1), torch.optim.Adam([tsmall], lr=0.1)
    big0 = np.linspace(-1, 1, 1000, dtype=np.float32).reshape(10, 100)
    big, tbig = ember.tensor(big0, requires_grad=True), torch.tensor(big0, requires_grad=True)
    for t in range(6):
        if t == 2:
            eo.add_param_group({"params": [big]})
            to.add_param_group({"params": [tbig]})
        for p, q in ((small, tsmall), (big, tbig)):
            g = np.cos(np.arange(p.numel(), dtype=np.float32) + t).reshape(p.shape)
            p.grad, q.grad = ember.tensor(g), torch.tensor(g)
        eo.step()
        to.step()
    for p, q in ((small, tsmall), (big, tbig)):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=2e-5, atol=1e-6)
    (base,) = eo._scratch().bases.values()
    assert base.size == 1000  # as large as the largest param, not one per param


# ---- the functional forms: the same kernels as the classes --------------------------------------
@pytest.mark.parametrize("name,kwargs", [
    ("adam", dict(amsgrad=True, weight_decay=0.1, maximize=True)),
    ("adamw", dict(amsgrad=False, weight_decay=0.05, maximize=False))])
def test_functional_adam_and_adamw_equal_the_classes(name, kwargs):
    inits, centres, noise = _problem([(4,), (3, 3)], 8, 3, np.float32)
    cls = optim.Adam if name == "adam" else optim.AdamW
    a = [ember.tensor(x.copy(), requires_grad=True) for x in inits]
    o = cls(a, lr=0.01, **kwargs)
    b = [ember.tensor(x.copy(), requires_grad=True) for x in inits]
    m = [ember.zeros_like(x) for x in b]
    v = [ember.zeros_like(x) for x in b]
    vmax = [ember.zeros_like(x) for x in b] if kwargs["amsgrad"] else []
    steps = [ember.tensor(0.0) for _ in b]
    for t in range(8):
        grads = [ember.tensor(_grad(p.detach().numpy(), c, n))
                 for p, c, n in zip(a, centres, noise[t])]
        for p, g in zip(a, grads):
            p.grad = g
        o.step()
        getattr(F, name)(b, grads, m, v, vmax, steps, lr=0.01, beta1=0.9, beta2=0.999,
                         eps=1e-8, **kwargs)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    for p, mm, vv in zip(a, m, v):
        np.testing.assert_array_equal(o.state[p]["exp_avg"].numpy(), mm.numpy())
        np.testing.assert_array_equal(o.state[p]["exp_avg_sq"].numpy(), vv.numpy())
    assert [float(s) for s in steps] == [8.0, 8.0]


# ---- the scratch arrays stay out of the state ----------------------------------------------------
def _stepped(name="Adam", n=3):
    inits, centres, noise = _problem([(4,), (2, 5)], n, 6, np.float32)
    params = [ember.tensor(x.copy(), requires_grad=True) for x in inits]
    o = getattr(optim, name)(params, lr=0.01)
    for t in range(n):
        for p, c, k in zip(params, centres, noise[t]):
            p.grad = ember.tensor(_grad(p.detach().numpy(), c, k))
        o.step()
    return params, o


def test_scratch_is_not_in_state_dict_pickle_or_deepcopy():
    _, o = _stepped()
    assert "_scratch_arrays" in o.__dict__
    sd = o.state_dict()
    assert list(sd) == ["state", "param_groups"]
    assert all(list(st) == ["step", "exp_avg", "exp_avg_sq"] for st in sd["state"].values())
    assert "_scratch_arrays" not in pickle.loads(pickle.dumps(o)).__dict__
    o2 = copy.deepcopy(o)
    assert "_scratch_arrays" not in o2.__dict__
    o.load_state_dict(sd)
    assert "_scratch_arrays" not in o.__dict__


def test_deepcopied_optimizer_continues_like_the_original():
    params, o = _stepped()
    params2, o2 = copy.deepcopy((params, o))
    for t in range(4):
        for p, q in zip(params, params2):
            g = np.sin(np.arange(p.numel(), dtype=np.float32) * (t + 1)).reshape(p.shape)
            p.grad, q.grad = ember.tensor(g), ember.tensor(g.copy())
        o.step()
        o2.step()
    for p, q in zip(params, params2):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_scratch_views_share_one_buffer_per_dtype():
    s = optim.optimizer._Scratch()
    a, b = ember.zeros(3, 4), ember.zeros(5)
    c = ember.zeros(2, dtype=ember.float64)
    va, vb, vc = s.get(a, a._data), s.get(b, b._data), s.get(c, c._data)
    assert va.shape == (3, 4) and vb.shape == (5,) and vc.dtype == np.float64
    assert np.shares_memory(va, vb) and not np.shares_memory(va, vc)
    assert s.get(a, a._data) is va  # cached
    d = ember.zeros(100)
    assert s.get(d, d._data).shape == (100,)
    assert s.bases[np.dtype(np.float32)].size == 100
    assert np.shares_memory(s.get(a, a._data), s.get(d, d._data))  # a's view was renewed
    e = ember.tensor(1.0)
    assert s.get(e, e._data).shape == ()


# ---- steps bump versions; hooks run around the quick paths ---------------------------------------
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_each_step_bumps_each_param_version_once(name):
    p = ember.ones(3, requires_grad=True)
    q = ember.ones(2, requires_grad=True)  # no grad: not stepped, not bumped
    o = getattr(optim, name)([p, q], lr=0.1)
    y = (p * p).sum()  # saves p
    p.grad = ember.ones(3)
    v0, w0 = p._version, q._version
    o.step()
    o.step()
    assert p._version == v0 + 2 and q._version == w0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_pre_hook_may_replace_the_arguments_and_post_hook_sees_them():
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    o = optim.SGD([p], lr=0.1)
    seen = []

    def closure():
        o.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    o.register_step_pre_hook(lambda opt, args, kwargs: ((closure,), {}))
    o.register_step_post_hook(lambda opt, args, kwargs: seen.append(args))
    loss = o.step()
    assert float(loss) == 5.0 and seen == [(closure,)]
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)


def test_a_step_that_raises_leaves_the_optimizer_usable():
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    o = optim.SGD([p], lr=0.1)
    err = np.geterr()

    def bad():
        raise KeyError("boom")

    with pytest.raises(KeyError):
        o.step(bad)
    assert np.geterr() == err
    calls = []
    o.register_step_post_hook(lambda *a: calls.append(1))
    p.grad = ember.ones(2)
    o.step()
    assert calls == [1]  # not mistaken for a nested step


# ---- overflow is silent, whatever the warning filters or NumPy's error state say --------------
@needs_torch
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_overflow_is_silent_under_error_filters_and_seterr_raise(name):
    p = ember.tensor([3e38, 1.0, -3e38], requires_grad=True)
    o = getattr(optim, name)([p], lr=10.0)
    tp = torch.tensor([3e38, 1.0, -3e38], requires_grad=True)
    to = getattr(torch.optim, name)([tp], lr=10.0)
    g = np.array([-3e38, 0.5, 3e38], np.float32)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        before = np.geterr()
        for _ in range(2):
            p.grad, tp.grad = ember.tensor(g), torch.tensor(g)
            o.step()
            to.step()
        assert np.geterr() == before
    np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=2e-5)
    if name == "SGD":  # 3e38 + 10 * 3e38 is inf, as in PyTorch
        assert p.detach().numpy().tolist() == [np.inf, 1.0 - 2 * 10 * 0.5, -np.inf]
    else:  # v = g * g overflows to inf, so the update m / sqrt(v) is 0, as in PyTorch
        assert np.isinf(o.state[p]["exp_avg_sq"].numpy()[[0, 2]]).all()


class _Probe(optim.Optimizer):
    """Records NumPy's floating-point state as its step sees it."""

    def __init__(self, params):
        super().__init__(params, {})
        self.seen = []

    def step(self, closure=None):
        self.seen.append((np.geterr(), np.getbufsize()))


def test_step_ignores_fp_errors_and_keeps_the_callers_buffer_size():
    o = _Probe([ember.zeros(1, requires_grad=True)])
    ignore = dict.fromkeys(("divide", "over", "under", "invalid"), "ignore")
    outer = np.geterr()
    o.step()
    with np.errstate(over="raise", divide="warn"):
        old = np.getbufsize()
        np.setbufsize(16384)
        try:
            inner = np.geterr()
            o.step()
            assert np.geterr() == inner and np.getbufsize() == 16384
        finally:
            np.setbufsize(old)
    o.step()
    o.register_step_pre_hook(lambda *a: None)  # the hooked path too
    o.step()
    assert np.geterr() == outer
    assert [e for e, _ in o.seen] == [ignore] * 4
    assert o.seen[1][1] == 16384 and o.seen[0][1] == o.seen[2][1] == np.getbufsize()


# ---- zero_grad -------------------------------------------------------------------------------------
def test_zero_grad_over_groups():
    a, b, c = (ember.ones(2, requires_grad=True) for _ in range(3))
    o = optim.SGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1)
    a.grad, c.grad = ember.ones(2), ember.ones(2)
    ga = a.grad
    o.zero_grad(set_to_none=False)
    assert a.grad is ga and a.grad.tolist() == [0.0, 0.0] and b.grad is None
    assert c.grad.tolist() == [0.0, 0.0]
    o.zero_grad()
    assert a.grad is None and b.grad is None and c.grad is None


@needs_torch
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_float16_keeps_pytorchs_order_where_the_regrouping_would_overflow(name):
    # |g| = 300: g**2 = 9e4 overflows float16, (1 - beta2) * g * g = 90 does not; g = 8000
    # drives m towards 8000, and m * beta1 / (1 - beta1) = 72000 would overflow too
    g0 = np.array([300.0, -300.0, 8000.0, 1.5], np.float16)
    p0 = np.array([1.0, -1.0, 0.5, 0.25], np.float16)
    p, q = ember.tensor(p0, requires_grad=True), torch.tensor(p0, requires_grad=True)
    eo, to = getattr(optim, name)([p], lr=0.01), getattr(torch.optim, name)([q], lr=0.01)
    for _ in range(20):
        p.grad, q.grad = ember.tensor(g0), torch.tensor(g0)
        eo.step()
        to.step()
    for e, t in ((p.detach(), q.detach()), *((eo.state[p][k], to.state[q][k])
                                             for k in ("exp_avg", "exp_avg_sq"))):
        assert e.dtype == ember.float16
        np.testing.assert_allclose(e.numpy().astype(np.float32), t.numpy().astype(np.float32),
                                   rtol=2e-3, atol=1e-3)
    assert np.isfinite(eo.state[p]["exp_avg"].numpy()).all()
