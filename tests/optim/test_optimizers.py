"""Every optimizer against torch.optim: 30 steps from the same start, same gradients."""
from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import needs_torch, torch

import ember
import ember.optim as optim

pytestmark = needs_torch

SHAPES = [(), (7,), (4, 5), (2, 3, 4)]

# (optimizer, kwargs): every option of every optimizer appears at least once
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict()),  # PyTorch 2.x default lr=1e-3
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, maximize=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.01, foreach=False, fused=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, maximize=True, betas=(0.6, 0.9), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.01, foreach=True, capturable=False)),
    ("Adam", dict(lr=0.01, fused=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1, maximize=True, betas=(0.7, 0.99))),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, momentum_decay=0.01)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, betas=(0.8, 0.9))),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1,
                     eps=1e-8, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1, alpha=0.9)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, maximize=True, eps=1e-6)),
    ("Rprop", dict(lr=0.01)),
    ("Rprop", dict(lr=0.01, etas=(0.3, 1.5), step_sizes=(1e-3, 1), maximize=True)),
    ("ASGD", dict(lr=0.01)),
    ("ASGD", dict(lr=0.01, t0=5, lambd=0.01, alpha=0.5, weight_decay=0.1, maximize=True)),
    ("Adafactor", dict()),
    ("Adafactor", dict(lr=0.05, weight_decay=0.1, beta2_decay=-0.5, d=1.5, eps=(1e-3, 1e-3),
                       maximize=True)),
]


def _ids(cfg):
    name, kw = cfg
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def _problem(shapes, steps, seed, dtype):
    rng = np.random.default_rng(seed)
    inits = [rng.standard_normal(s).astype(dtype) for s in shapes]
    centres = [rng.standard_normal(s).astype(dtype) for s in shapes]
    noise = [[(rng.standard_normal(s) * 0.1).astype(dtype) for s in shapes] for _ in range(steps)]
    return inits, centres, noise


def _grad(p: np.ndarray, c: np.ndarray, n: np.ndarray) -> np.ndarray:
    # the gradient of a noisy quadratic bowl, so errors feed back into the trajectory
    return (p.dtype.type(0.5) * (p - c) + n).astype(p.dtype)


def run_pair(name, kwargs, shapes=SHAPES, steps=30, seed=0, dtype=np.float32, *,
             torch_kwargs=None, before_step=None):
    """Run ember's and torch's optimizer side by side; return (ember params, opt, torch ...).

    ``torch_kwargs``: torch's options where they differ (tensor hyper-parameters);
    ``before_step(t, ember_params, ember_opt, torch_params, torch_opt)`` runs before step t.
    """
    inits, centres, noise = _problem(shapes, steps, seed, dtype)
    ep = [ember.tensor(a.copy(), requires_grad=True) for a in inits]
    tp = [torch.tensor(a.copy(), requires_grad=True) for a in inits]
    eo = getattr(optim, name)(ep, **kwargs)
    to = getattr(torch.optim, name)(tp, **(kwargs if torch_kwargs is None else torch_kwargs))
    for t in range(steps):
        if before_step is not None:
            before_step(t, ep, eo, tp, to)
        for p, q, c, n in zip(ep, tp, centres, noise[t]):
            p.grad = ember.tensor(_grad(p.detach().numpy(), c, n))
            q.grad = torch.tensor(_grad(q.detach().numpy(), c, n))
        eo.step()
        to.step()
    return ep, eo, tp, to


def assert_state_close(es: dict, ts: dict, rtol=2e-5, atol=1e-6):
    assert list(es.keys()) == list(ts.keys())
    for k in ts:
        e, t = es[k], ts[k]
        if isinstance(t, torch.Tensor):
            assert isinstance(e, ember.Tensor), k
            assert e.shape == tuple(t.shape), k
            assert e.dtype.name == str(t.dtype).split(".")[-1], (k, e.dtype, t.dtype)
            np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=rtol, atol=atol, err_msg=k)
        else:
            assert type(e) is type(t) and e == t, (k, e, t)


@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_trajectory_matches_torch(cfg):
    name, kwargs = cfg
    ep, eo, tp, to = run_pair(name, kwargs)
    for p, q in zip(ep, tp):
        assert p.dtype == ember.float32
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=2e-5, atol=1e-6)
    for p, q in zip(ep, tp):
        assert_state_close(eo.state[p], to.state[q])


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("NAdam", dict(lr=0.01)), ("Adafactor", dict())])
def test_float64_trajectory(name, kwargs):
    ep, eo, tp, to = run_pair(name, kwargs, dtype=np.float64)
    for p, q in zip(ep, tp):
        assert p.dtype == ember.float64
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-14)
    for p, q in zip(ep, tp):
        assert_state_close(eo.state[p], to.state[q], rtol=1e-12, atol=1e-14)


def test_default_dtype_float64_makes_float64_steps():
    prev = ember.get_default_dtype()
    ember.set_default_dtype(ember.float64)
    torch.set_default_dtype(torch.float64)
    try:
        ep, eo, tp, to = run_pair("Adam", dict(lr=0.01), steps=2, dtype=np.float64)
        assert eo.state[ep[0]]["step"].dtype == ember.float64
        assert to.state[tp[0]]["step"].dtype == torch.float64
    finally:
        ember.set_default_dtype(prev)
        torch.set_default_dtype(torch.float32)


def test_params_without_grad_are_skipped():
    a = ember.ones(3, requires_grad=True)
    b = ember.ones(3, requires_grad=True)
    o = optim.Adam([a, b], lr=0.1)
    a.grad = ember.ones(3)
    o.step()
    assert b.tolist() == [1.0, 1.0, 1.0] and len(o.state) == 1 and b not in o.state
    assert a.tolist() != [1.0, 1.0, 1.0]


# ---- param groups, names, zero_grad, closure, hooks -------------------------------------------
def test_param_groups_with_per_group_options_match_torch():
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(3,), (2, 2), ()]]
    ep = [ember.tensor(a, requires_grad=True) for a in arrays]
    tp = [torch.tensor(a, requires_grad=True) for a in arrays]
    eo = optim.SGD([{"params": ep[:2]}, {"params": ep[2:], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    to = torch.optim.SGD([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.5, "momentum": 0.9}],
                         lr=0.1)
    assert repr(eo) == repr(to)
    for _ in range(5):
        for p, q in zip(ep, tp):
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad, q.grad = ember.tensor(g), torch.tensor(g)
        eo.step()
        to.step()
    for p, q in zip(ep, tp):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)
    esd, tsd = eo.state_dict(), to.state_dict()
    assert esd["param_groups"] == tsd["param_groups"]
    assert list(esd["state"]) == list(tsd["state"]) == [2]


def test_named_parameters_are_recorded():
    w = ember.zeros(2, requires_grad=True)
    b = ember.zeros(1, requires_grad=True)
    o = optim.Adam([("w", w), ("b", b)])
    assert o.param_groups[0]["params"] == [w, b]
    assert o.param_groups[0]["param_names"] == ["w", "b"]
    assert o.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
    tw, tb = torch.zeros(2, requires_grad=True), torch.zeros(1, requires_grad=True)
    ts = torch.optim.Adam([("w", tw), ("b", tb)]).state_dict()
    assert o.state_dict()["param_groups"] == ts["param_groups"]
    with pytest.raises(ValueError, match="Some param names are missing"):
        optim.Adam([("w", w), b])
    with pytest.raises(ValueError, match="cannot add param group without names"):
        o.add_param_group({"params": [ember.zeros(1, requires_grad=True)]})


def test_zero_grad():
    p = ember.ones(3, requires_grad=True)
    o = optim.SGD([p], lr=0.1)
    p.grad = ember.ones(3)
    g = p.grad
    o.zero_grad(set_to_none=False)
    assert p.grad is g and p.grad.tolist() == [0.0, 0.0, 0.0]
    o.zero_grad()
    assert p.grad is None


def test_step_runs_closure_with_grad_and_returns_its_loss():
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    o = optim.SGD([p], lr=0.1)
    seen = []

    def closure():
        o.zero_grad()
        seen.append(ember.is_grad_enabled())
        loss = (p * p).sum()
        loss.backward()
        return loss

    with ember.no_grad():
        loss = o.step(closure)
    assert seen == [True]
    assert float(loss) == 5.0
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)


def test_step_bumps_the_param_version():
    p = ember.ones(2, requires_grad=True)
    o = optim.SGD([p], lr=0.1)
    p.grad = ember.ones(2)
    v = p._version
    o.step()
    assert p._version > v


def test_step_hooks():
    p = ember.ones(2, requires_grad=True)
    p.grad = ember.ones(2)
    o = optim.SGD([p], lr=0.1)
    calls = []
    h1 = o.register_step_pre_hook(lambda opt, args, kwargs: calls.append(("pre", opt)))
    h2 = o.register_step_post_hook(lambda opt, args, kwargs: calls.append(("post", opt)))
    h3 = optim.optimizer.register_optimizer_step_pre_hook(lambda opt, a, k: calls.append("g"))
    o.step()
    assert calls == ["g", ("pre", o), ("post", o)]
    for h in (h1, h2, h3):
        h.remove()
    o.step()
    assert len(calls) == 3

    def bad(opt, args, kwargs):
        return 1

    o.register_step_pre_hook(bad)
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        o.step()


def test_state_dict_hooks():
    p = ember.ones(2, requires_grad=True)
    o = optim.SGD([p], lr=0.1)
    order = []
    o.register_state_dict_pre_hook(lambda opt: order.append("pre"))
    o.register_state_dict_post_hook(lambda opt, sd: {**sd, "extra": 1})
    o.register_load_state_dict_pre_hook(lambda opt, sd: order.append("lpre"))
    o.register_load_state_dict_post_hook(lambda opt: order.append("lpost"))
    sd = o.state_dict()
    assert sd["extra"] == 1 and order == ["pre"]
    o.load_state_dict(sd)
    assert order == ["pre", "lpre", "lpost"]


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adagrad",
                                  "Adadelta", "RMSprop", "Rprop", "ASGD", "Adafactor",
                                  "SparseAdam", "LBFGS"])
def test_repr_matches_torch(name):
    e = getattr(optim, name)([ember.zeros(2, requires_grad=True)])
    t = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)])
    assert repr(e) == repr(t)


def test_dir_matches_torch_for_the_seed_names():
    want = {n for n in dir(torch.optim) if not n.startswith("__")} - {
        "Muon", "_muon", "_stateless", "swap_in_optimizer_params_and_state"}
    assert want <= set(dir(optim))
    assert {"adam", "sgd", "optimizer"}.isdisjoint(dir(optim))
    assert optim.swa_utils.AveragedModel is not None


# ---- validation: PyTorch's exception types and messages ---------------------------------------
def _p(lib):
    return [lib.zeros(2, requires_grad=True)]


BAD = [
    ("SGD", dict(lr=-1)), ("SGD", dict(lr=0.1, momentum=-0.5)),
    ("SGD", dict(lr=0.1, weight_decay=-1)), ("SGD", dict(lr=0.1, nesterov=True)),
    ("SGD", dict(lr=0.1, nesterov=True, momentum=0.9, dampening=0.1)),
    ("SGD", dict(fused=True, foreach=True)),
    ("Adam", dict(lr=-1)), ("Adam", dict(eps=-1)), ("Adam", dict(betas=(1.0, 0.9))),
    ("Adam", dict(betas=(0.9, -0.1))), ("Adam", dict(weight_decay=-1)),
    ("Adam", dict(betas=(0, 0.99))), ("Adam", dict(fused=True, foreach=True)),
    ("AdamW", dict(lr=-0.5)), ("AdamW", dict(betas=(0.9, 1.0))),
    ("Adamax", dict(lr=-1)), ("Adamax", dict(eps=-1)), ("Adamax", dict(betas=(1.5, 0.9))),
    ("Adamax", dict(weight_decay=-1)),
    ("NAdam", dict(lr=-1)), ("NAdam", dict(momentum_decay=-1)), ("NAdam", dict(betas=(0.9, 2))),
    ("RAdam", dict(lr=-1)), ("RAdam", dict(eps=-1)), ("RAdam", dict(weight_decay=-1)),
    ("Adagrad", dict(lr=-1)), ("Adagrad", dict(lr_decay=-1)), ("Adagrad", dict(weight_decay=-1)),
    ("Adagrad", dict(initial_accumulator_value=-1)), ("Adagrad", dict(eps=-1)),
    ("Adadelta", dict(lr=-1)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(eps=-1)),
    ("Adadelta", dict(weight_decay=-1)),
    ("RMSprop", dict(lr=-1)), ("RMSprop", dict(eps=-1)), ("RMSprop", dict(momentum=-1)),
    ("RMSprop", dict(weight_decay=-1)), ("RMSprop", dict(alpha=-1)),
    ("Rprop", dict(lr=-1)), ("Rprop", dict(etas=(1.2, 0.5))),
    ("ASGD", dict(lr=-1)), ("ASGD", dict(weight_decay=-1)),
    ("SparseAdam", dict(lr=0)), ("SparseAdam", dict(eps=0)), ("SparseAdam", dict(betas=(1, 0.9))),
    ("LBFGS", dict(lr=-1)),
    ("Adafactor", dict(lr=-1)), ("Adafactor", dict(beta2_decay=0.5)),
    ("Adafactor", dict(eps=(-1, 1e-3))), ("Adafactor", dict(eps=(None, -1))),
    ("Adafactor", dict(d=0.5)), ("Adafactor", dict(weight_decay=-1)),
]


@pytest.mark.parametrize("name,kwargs", BAD, ids=[_ids(c) for c in BAD])
def test_invalid_hyperparameters_raise_like_torch(name, kwargs):
    with pytest.raises(Exception) as t_exc:
        getattr(torch.optim, name)(_p(torch), **kwargs)
    with pytest.raises(type(t_exc.value)) as e_exc:
        getattr(optim, name)(_p(ember), **kwargs)
    assert str(e_exc.value) == str(t_exc.value)


@pytest.mark.parametrize("params", [lambda lib: lib.zeros(2, requires_grad=True),
                                    lambda lib: [], lambda lib: 5,
                                    lambda lib: [lib.zeros(2, requires_grad=True), 3],
                                    lambda lib: {lib.zeros(2, requires_grad=True)},
                                    lambda lib: [{"params": {lib.zeros(2)}}]])
def test_bad_params_raise_like_torch(params):
    try:
        torch.optim.SGD(params(torch), lr=0.1)
    except Exception as t_exc:
        with pytest.raises(type(t_exc)) as e_exc:
            optim.SGD(params(ember), lr=0.1)
        assert str(e_exc.value).replace("ember.", "torch.") == str(t_exc)
    else:  # (a set of tensors as the whole params argument is accepted by both)
        optim.SGD(params(ember), lr=0.1)


def test_add_param_group_errors_like_torch():
    for lib, mod in ((torch, torch.optim), (ember, optim)):
        a = lib.zeros(2, requires_grad=True)
        o = mod.SGD([a], lr=0.1)
        with pytest.raises(ValueError, match="some parameters appear in more than one parameter "
                                             "group"):
            o.add_param_group({"params": [a]})
        with pytest.raises(TypeError, match="param_group must be a dict"):
            o.add_param_group([a])
        with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
            o.add_param_group({"params": [a * 2]})
        with pytest.warns(UserWarning, match="duplicate parameters"):
            mod.SGD([a, a], lr=0.1)
        b = lib.zeros(1, requires_grad=True)
        o.add_param_group({"params": b, "lr": 0.5})
        assert o.param_groups[1]["lr"] == 0.5 and o.param_groups[1]["momentum"] == 0


def test_required_parameter():
    class Opt(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": optim.optimizer.required})

    with pytest.raises(ValueError, match="parameter group didn't specify a value of required "
                                         "optimization parameter lr"):
        Opt([ember.zeros(1, requires_grad=True)])


def test_differentiable_is_refused_clearly():
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        optim.Adam([ember.zeros(1, requires_grad=True)], differentiable=True)


def test_tensor_lr():
    p = ember.ones(3, requires_grad=True)
    o = optim.SGD([p], lr=ember.tensor(0.5))
    p.grad = ember.ones(3)
    o.step()
    assert p.tolist() == [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        optim.SGD([p], lr=ember.tensor([0.1, 0.2]))


# ---- LBFGS -------------------------------------------------------------------------------------
def _rosen(x0, x1):
    return (1 - x0) ** 2 + 100 * (x1 - x0**2) ** 2


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_rosenbrock_matches_torch(line_search_fn):
    kw = dict(lr=1 if line_search_fn else 0.05, max_iter=20, history_size=10,
              line_search_fn=line_search_fn)
    runs = []
    for lib, mod in ((ember, optim), (torch, torch.optim)):
        x0 = lib.tensor(-1.5, dtype=lib.float64, requires_grad=True)
        x1 = lib.tensor(2.0, dtype=lib.float64, requires_grad=True)
        o = mod.LBFGS([x0, x1], **kw)

        def closure():
            o.zero_grad()
            loss = _rosen(x0, x1)
            loss.backward()
            return loss

        traj = []
        for _ in range(6):
            loss = o.step(closure)
            traj.append((float(loss.detach()), float(x0.detach()), float(x1.detach())))
        runs.append((traj, o, x0))
    (etraj, eo, ex), (ttraj, to, tx) = runs
    np.testing.assert_allclose(etraj, ttraj, rtol=1e-6, atol=1e-9)
    es, ts = eo.state[ex], to.state[tx]
    assert set(es) == set(ts)
    assert es["func_evals"] == ts["func_evals"] and es["n_iter"] == ts["n_iter"]
    np.testing.assert_allclose(es["d"].numpy(), ts["d"].numpy(), rtol=1e-5, atol=1e-9)
    assert len(es["old_dirs"]) == len(ts["old_dirs"])
    if line_search_fn:
        assert etraj[-1][0] < 1e-6  # converged to the minimum at (1, 1)
        assert abs(etraj[-1][1] - 1) < 1e-3


def test_lbfgs_float32_and_state_types():
    x = ember.tensor([-1.5, 2.0], requires_grad=True)
    o = optim.LBFGS([x], line_search_fn="strong_wolfe")
    xt = torch.tensor([-1.5, 2.0], requires_grad=True)
    ot = torch.optim.LBFGS([xt], line_search_fn="strong_wolfe")
    for xx, oo in ((x, o), (xt, ot)):
        def closure(xx=xx, oo=oo):
            oo.zero_grad()
            loss = ((1 - xx[0]) ** 2 + 100 * (xx[1] - xx[0] ** 2) ** 2)
            loss.backward()
            return loss
        for _ in range(2):  # (float32 line searches drift apart near the minimum)
            oo.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), xt.detach().numpy(), rtol=1e-3, atol=1e-3)
    es, ts = o.state[x], ot.state[xt]
    assert list(es) == list(ts)
    for k in ts:
        if isinstance(ts[k], torch.Tensor):
            assert isinstance(es[k], ember.Tensor) and es[k].dtype == ember.float32, k
        elif isinstance(ts[k], list):
            assert [type(v).__name__ for v in es[k]] == [type(v).__name__ for v in ts[k]], k
        else:
            assert type(es[k]) is type(ts[k]), k


def test_lbfgs_needs_one_group():
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        optim.LBFGS([{"params": [ember.zeros(1, requires_grad=True)]},
                     {"params": [ember.zeros(1, requires_grad=True)]}])


def test_lbfgs_unknown_line_search():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    o = optim.LBFGS([x], line_search_fn="armijo")

    def closure():
        o.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        o.step(closure)


# ---- SparseAdam ----------------------------------------------------------------------------------
def test_sparse_adam_matches_torch_embedding_sparse():
    rng = np.random.default_rng(7)
    rows, dim, steps = 12, 4, 30
    w0 = rng.standard_normal((rows, dim)).astype(np.float32)
    temb = torch.nn.Embedding(rows, dim, sparse=True)
    with torch.no_grad():
        temb.weight.copy_(torch.from_numpy(w0))
    tw = temb.weight
    ew = ember.tensor(w0.copy(), requires_grad=True)
    to = torch.optim.SparseAdam([tw], lr=0.05)
    eo = optim.SparseAdam([ew], lr=0.05)
    for _ in range(steps):
        idx = rng.integers(0, rows // 2, size=5)  # rows 6.. are never touched
        target = rng.standard_normal((5, dim)).astype(np.float32)
        to.zero_grad()
        (temb(torch.from_numpy(idx)) * torch.from_numpy(target)).sum().backward()
        to.step()
        # the dense gradient of the same lookup: each looked-up row gets its targets' sum
        g = np.zeros((rows, dim), np.float32)
        np.add.at(g, idx, target)
        ew.grad = ember.tensor(g)
        eo.step()
    np.testing.assert_allclose(ew.detach().numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ew.detach().numpy()[rows // 2:], w0[rows // 2:])
    es, ts = eo.state[ew], to.state[tw]
    assert list(es) == list(ts) and es["step"] == ts["step"] == steps
    np.testing.assert_allclose(es["exp_avg"].numpy(), ts["exp_avg"].to_dense().numpy(),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(es["exp_avg_sq"].numpy(), ts["exp_avg_sq"].to_dense().numpy(),
                               rtol=1e-5, atol=1e-8)


def test_sparse_adam_with_ember_embedding():
    nn = pytest.importorskip("ember.nn")
    if not hasattr(nn, "Embedding"):
        pytest.skip("nn.Embedding not available")
    emb = nn.Embedding(10, 3)
    before = emb.weight.detach().numpy().copy()
    o = optim.SparseAdam(list(emb.parameters()), lr=0.1)
    emb(ember.tensor([1, 4, 4])).sum().backward()
    o.step()
    after = emb.weight.detach().numpy()
    changed = np.flatnonzero((after != before).any(axis=1))
    assert changed.tolist() == [1, 4]


def test_sparse_adam_zero_dim_and_untouched():
    p = ember.tensor(1.0, requires_grad=True)
    o = optim.SparseAdam([p], lr=0.1)
    p.grad = ember.tensor(0.0)
    o.step()
    assert float(p.detach()) == 1.0 and o.state[p]["step"] == 1
    p.grad = ember.tensor(2.0)
    o.step()
    assert float(p.detach()) < 1.0


# ---- state_dict layout and round trips ----------------------------------------------------
ROUNDTRIP = [c for c in CONFIGS if c[0] != "SGD" or "momentum" in c[1]] + [
    ("SparseAdam", dict(lr=0.01))]


def _state_layout(sd, lib):
    def kind(v):
        if isinstance(v, lib.Tensor):
            return ("tensor", str(v.dtype).split(".")[-1], tuple(v.shape))
        return type(v).__name__

    return ({k: {kk: kind(vv) for kk, vv in v.items()} for k, v in sd["state"].items()},
            sd["param_groups"])


@pytest.mark.parametrize("cfg", ROUNDTRIP[:-1], ids=_ids)  # (SparseAdam: see its own test)
def test_state_dict_layout_matches_torch(cfg):
    name, kwargs = cfg
    ep, eo, tp, to = run_pair(name, kwargs, steps=3)
    e_state, e_groups = _state_layout(eo.state_dict(), ember)
    t_state, t_groups = _state_layout(to.state_dict(), torch)
    assert e_state == t_state
    assert e_groups == t_groups
    assert list(eo.state_dict()) == ["state", "param_groups"]


@pytest.mark.parametrize("cfg", ROUNDTRIP, ids=_ids)
def test_saved_state_dict_continues_bit_for_bit(cfg, tmp_path):
    name, kwargs = cfg
    inits, centres, noise = _problem(SHAPES, 20, 1, np.float32)
    a = [ember.tensor(x.copy(), requires_grad=True) for x in inits]
    oa = getattr(optim, name)(a, **kwargs)

    def step(params, opt, t):
        for p, c, n in zip(params, centres, noise[t]):
            p.grad = ember.tensor(_grad(p.detach().numpy(), c, n))
        opt.step()

    for t in range(10):
        step(a, oa, t)
    ember.save({"params": [p.detach() for p in a], "optim": oa.state_dict()}, tmp_path / "ck.pt")
    for t in range(10, 20):
        step(a, oa, t)

    ck = ember.load(tmp_path / "ck.pt")
    b = [p.requires_grad_(True) for p in ck["params"]]
    ob = getattr(optim, name)(b, **kwargs)
    ob.load_state_dict(ck["optim"])
    for t in range(10, 20):
        step(b, ob, t)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    for p, q in zip(a, b):
        for k, v in oa.state[p].items():
            w = ob.state[q][k]
            if isinstance(v, ember.Tensor):
                assert w.dtype == v.dtype
                np.testing.assert_array_equal(v.numpy(), w.numpy())
            else:
                assert v == w


def test_load_state_dict_casts_state_to_param_dtype_but_not_step():
    p = ember.ones(3, requires_grad=True)
    o = optim.Adam([p])
    p.grad = ember.ones(3)
    o.step()
    sd = o.state_dict()
    q = ember.ones(3, dtype=ember.float64, requires_grad=True)
    o2 = optim.Adam([q])
    o2.load_state_dict(sd)
    assert o2.state[q]["exp_avg"].dtype == ember.float64
    assert o2.state[q]["step"].dtype == ember.float32
    o3 = optim.Adam([ember.ones(3, dtype=ember.float64, requires_grad=True)], fused=True)
    sd["param_groups"][0]["fused"] = True
    o3.load_state_dict(sd)
    assert next(iter(o3.state.values()))["step"].dtype == ember.float32


def test_load_state_dict_errors_like_torch():
    for lib, mod in ((torch, torch.optim), (ember, optim)):
        a, b = lib.zeros(2, requires_grad=True), lib.zeros(2, requires_grad=True)
        sd = mod.SGD([a], lr=0.1).state_dict()
        with pytest.raises(ValueError, match="different number of parameter groups"):
            mod.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)
        with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
            mod.SGD([a, b], lr=0.1).load_state_dict(sd)


def test_load_state_dict_takes_hyperparameters_and_keeps_params():
    a = ember.zeros(2, requires_grad=True)
    o1 = optim.SGD([a], lr=0.5, momentum=0.9)
    b = ember.zeros(2, requires_grad=True)
    o2 = optim.SGD([b], lr=0.1)
    o2.load_state_dict(o1.state_dict())
    assert o2.param_groups[0]["lr"] == 0.5 and o2.param_groups[0]["params"][0] is b


def test_old_checkpoint_with_number_steps_is_upgraded():
    p = ember.ones(2, requires_grad=True)
    o = optim.Adam([p])
    p.grad = ember.ones(2)
    o.step()
    sd = o.state_dict()
    sd["state"][0]["step"] = 1  # what PyTorch < 1.12 wrote
    o2 = optim.Adam([p])
    o2.load_state_dict(sd)
    step = o2.state[p]["step"]
    assert isinstance(step, ember.Tensor) and step.dtype == ember.float32 and float(step) == 1


def test_deepcopy_and_pickle_of_an_optimizer():
    import copy
    import pickle

    p = ember.ones(2, requires_grad=True)
    o = optim.Adam([p], lr=0.1)
    p.grad = ember.ones(2)
    o.step()
    o2 = copy.deepcopy(o)
    assert o2.param_groups[0]["lr"] == 0.1 and len(o2.state) == 1
    o3 = pickle.loads(pickle.dumps(o))
    assert repr(o3) == repr(o)


def test_adagrad_creates_state_at_construction_like_torch():
    e = optim.Adagrad([ember.zeros(2, requires_grad=True)], initial_accumulator_value=0.5)
    t = torch.optim.Adagrad([torch.zeros(2, requires_grad=True)], initial_accumulator_value=0.5)
    assert _state_layout(e.state_dict(), ember) == _state_layout(t.state_dict(), torch)
    assert e.state_dict()["state"][0]["sum"].tolist() == [0.5, 0.5]


def test_functional_api_matches_class():
    from ember.optim import _functional as F

    p = ember.tensor([1.0, -2.0], requires_grad=True)
    m, v = ember.zeros(2), ember.zeros(2)
    step = ember.tensor(0.0)
    g = ember.tensor([0.5, 0.25])
    F.adam([p], [g], [m], [v], [], [step], amsgrad=False, beta1=0.9, beta2=0.999, lr=0.1,
           weight_decay=0.0, eps=1e-8, maximize=False)
    q = ember.tensor([1.0, -2.0], requires_grad=True)
    o = optim.Adam([q], lr=0.1)
    q.grad = g
    o.step()
    np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    assert float(step) == 1.0
    assert math.isclose(float(p.detach()[0]), 0.9, rel_tol=1e-6)


def test_tensor_betas_match_float_betas():
    a = ember.tensor([1.0, -2.0, 3.0], requires_grad=True)
    b = ember.tensor([1.0, -2.0, 3.0], requires_grad=True)
    oa = optim.Adam([a], lr=0.1, betas=(0.8, 0.99))
    ob = optim.Adam([b], lr=0.1, betas=(ember.tensor(0.8), ember.tensor([0.99])))
    assert ob.param_groups[0]["betas"][1].shape == ()
    for i in range(5):
        g = ember.tensor([0.5, -1.0, 0.25 * i])
        a.grad, b.grad = g, g
        oa.step()
        ob.step()
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="betas must be either both floats or both Tensors"):
        optim.Adam([a], betas=(0.9, ember.tensor(0.99)))


def test_lbfgs_state_dict_save_and_continue(tmp_path):
    def make(x0):
        x = ember.tensor(x0, dtype=ember.float64, requires_grad=True)
        o = optim.LBFGS([x], lr=0.5, max_iter=4, history_size=3, line_search_fn="strong_wolfe")

        def closure():
            o.zero_grad()
            loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
            loss.backward()
            return loss

        return x, o, closure

    x, o, closure = make([-1.2, 1.0])
    for _ in range(2):
        o.step(closure)
    ember.save({"x": x.detach(), "opt": o.state_dict()}, tmp_path / "lbfgs.pt")
    for _ in range(2):
        o.step(closure)
    ck = ember.load(tmp_path / "lbfgs.pt")
    y, o2, closure2 = make(ck["x"].tolist())
    o2.load_state_dict(ck["opt"])
    assert o2.state[y]["n_iter"] == 8 and len(o2.state[y]["old_dirs"]) == 3
    for _ in range(2):
        o2.step(closure2)
    np.testing.assert_array_equal(x.detach().numpy(), y.detach().numpy())


def test_subclass_calling_super_step_runs_hooks_once():
    class MyAdam(optim.Adam):
        def step(self, closure=None):
            return super().step(closure)

    p = ember.ones(2, requires_grad=True)
    p.grad = ember.ones(2)
    o = MyAdam([p])
    calls = []
    o.register_step_post_hook(lambda *a: calls.append(1))
    o.step()
    assert calls == [1]


def test_custom_optimizer_written_like_pytorch():
    class PlainSGD(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, dict(lr=lr))

        @ember.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p -= group["lr"] * p.grad

    p = ember.tensor([1.0, 2.0], requires_grad=True)
    o = PlainSGD([p])
    calls = []
    o.register_step_pre_hook(lambda *a: calls.append(1))
    (p * p).sum().backward()
    o.step()
    assert calls == [1]
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)
