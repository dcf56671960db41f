"""The plumbing the optimizers share (ember/optim/optimizer.py): argument checks, the options an
older checkpoint's param groups get, the state a param starts with, hook registration, and the
fused kernels of ember/optim/_fused.py against the formulas they stand for."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
from helpers import needs_torch, torch

import ember
import ember.optim as optim
from ember.optim import _fused
from ember.utils.hooks import RemovableHandle

from .test_optimizers import run_pair

NAMES = ["Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "ASGD", "NAdam", "RAdam", "RMSprop",
         "Rprop", "SGD"]

BAD_ARGS = [
    dict(lr=-1.0), dict(lr=float("nan")), dict(eps=-1.0), dict(weight_decay=-0.5),
    dict(betas=(1.0, 0.9)), dict(betas=(0.9, -0.1)), dict(momentum=-0.1), dict(alpha=-1.0),
    dict(rho=1.5), dict(lr_decay=-1.0), dict(initial_accumulator_value=-1.0),
    dict(momentum_decay=-1.0), dict(etas=(1.5, 1.2)), dict(lr=-1.0, eps=-1.0),
    dict(differentiable=True, fused=True),
]


def _outcome(make):
    try:
        make()
    except Exception as e:  # noqa: BLE001  (the type and message are what is compared)
        return type(e).__name__, str(e)
    return None


# each optimizer with the bad arguments it takes (differentiable=True: refused on its own, below)
ARG_CASES = [(name, kw) for name in NAMES for kw in BAD_ARGS
             if set(kw) <= set(inspect.signature(getattr(optim, name)).parameters)
             and not kw.get("differentiable")]


@needs_torch
@pytest.mark.parametrize(("name", "kwargs"), ARG_CASES,
                         ids=[f"{n}-" + ",".join(map(str, kw.items())) for n, kw in ARG_CASES])
def test_argument_errors_are_pytorchs(name, kwargs):
    assert set(kwargs) <= set(inspect.signature(getattr(torch.optim, name)).parameters)
    want = _outcome(lambda: getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)],
                                                       **kwargs))
    got = _outcome(lambda: getattr(optim, name)([ember.zeros(2, requires_grad=True)], **kwargs))
    assert got == want


@pytest.mark.parametrize("name", NAMES)
def test_differentiable_is_refused(name):
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(optim, name)([ember.zeros(2, requires_grad=True)], differentiable=True)


@needs_torch
@pytest.mark.parametrize("name", NAMES)
def test_an_older_checkpoints_groups_get_pytorchs_option_defaults(name):
    # PyTorch added foreach, maximize, capturable, differentiable, fused, ... over its versions;
    # loading a state_dict that lacks them gives each group PyTorch's value for each
    newer = {"foreach", "maximize", "capturable", "differentiable", "fused", "amsgrad",
             "decoupled_weight_decay", "nesterov", "centered"}
    groups = []
    for lib, mod in ((ember, optim), (torch, torch.optim)):
        p = lib.zeros(3, requires_grad=True)
        o = getattr(mod, name)([p], lr=0.1)
        sd = o.state_dict()
        for g in sd["param_groups"]:
            for key in newer:
                g.pop(key, None)
        o.load_state_dict(sd)
        groups.append({k: v for k, v in o.param_groups[0].items() if k != "params"})
    assert groups[0] == groups[1]


@needs_torch
@pytest.mark.parametrize("name,kwargs", [
    ("Adam", dict(amsgrad=True)), ("NAdam", {}), ("ASGD", {}), ("Rprop", {}),
    ("RMSprop", dict(momentum=0.5, centered=True)), ("Adagrad", dict(initial_accumulator_value=1)),
    ("Adadelta", {}), ("Adamax", {}), ("RAdam", {})])
def test_first_state_has_pytorchs_keys_order_and_dtypes(name, kwargs):
    _, eo, _, to = run_pair(name, dict(lr=0.01, **kwargs), [(3,)], 1, 0)
    (es,), (ts,) = eo.state.values(), to.state.values()
    assert list(es) == list(ts)
    for k, t in ts.items():
        assert es[k].dtype.name == str(t.dtype).split(".")[-1], k


def test_hook_registration_order_prepend_and_remove():
    p = ember.zeros(2, requires_grad=True)
    o = optim.SGD([p], lr=0.1)
    calls = []
    a = o.register_state_dict_pre_hook(lambda opt: calls.append("a"))
    o.register_state_dict_pre_hook(lambda opt: calls.append("b"), prepend=True)
    o.state_dict()
    assert calls == ["b", "a"]
    a.remove()
    calls.clear()
    o.state_dict()
    assert calls == ["b"]
    for kind in ("state_dict_pre", "state_dict_post", "load_state_dict_pre",
                 "load_state_dict_post"):
        method = getattr(optim.Optimizer, f"register_{kind}_hook")
        assert method.__name__ == f"register_{kind}_hook" and method.__doc__


def test_global_step_hooks_use_the_one_removable_handle():
    seen = []
    h = optim.optimizer.register_optimizer_step_post_hook(lambda *a: seen.append(1))
    assert isinstance(h, RemovableHandle)
    p = ember.zeros(2, requires_grad=True)
    p.grad = ember.ones(2)
    o = optim.SGD([p], lr=0.1)
    with h:
        o.step()
    o.step()
    assert seen == [1]


# ---- the fused kernels against the formulas they replace ----------------------------------------
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_adam_stays_within_an_ulp_or_two_of_the_formula(dtype, amsgrad, monkeypatch):
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((7, 5)).astype(dtype)
    grads = [rng.standard_normal((7, 5)).astype(dtype) for _ in range(30)]
    out = []
    for fused in (True, False):
        if not fused:
            monkeypatch.setattr(_fused, "adam_applies", lambda dtype, beta1: False)
        p = ember.tensor(p0.copy(), requires_grad=True)
        o = optim.Adam([p], lr=0.01, amsgrad=amsgrad, weight_decay=0.01)
        for g in grads:
            p.grad = ember.tensor(g)
            o.step()
        out.append(p.detach().numpy())
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(out[0], out[1], **tol)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_adam_applies_only_where_the_regrouping_cannot_overflow(dtype):
    assert _fused.adam_applies(np.dtype(dtype), 0.9) == (dtype == np.float32)
    assert not _fused.adam_applies(np.dtype(np.float32), 0.995)  # 1 - beta1 < 0.01
    assert not _fused.adam_applies(np.dtype(np.float32), 0.3)  # 1 - beta1 >= 0.5
