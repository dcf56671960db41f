"""Each scheduler's lr sequence against torch.optim.lr_scheduler: exactly the same floats."""
from __future__ import annotations

import warnings

import pytest
from helpers import needs_torch, torch

import ember
import ember.optim as optim

pytestmark = needs_torch

STEPS = 50


def _setup(mod, lib, opt_name="SGD", groups=1, **opt_kw):
    ps = [lib.zeros(2, requires_grad=True) for _ in range(groups)]
    if groups == 1:
        return getattr(mod, opt_name)(ps, **opt_kw)
    return getattr(mod, opt_name)([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(ps)],
                                  **opt_kw)


class _Scale:
    """A callable object: its __dict__ goes into state_dict (lambdas cannot)."""

    def __init__(self, r):
        self.r = r

    def __call__(self, x):
        return self.r**x


SCHEDULERS = {
    "LambdaLR": (dict(lr=0.1), lambda S, o: S.LambdaLR(o, lambda e: 0.95**e)),
    "LambdaLR-groups": (dict(lr=0.1, groups=2),
                        lambda S, o: S.LambdaLR(o, [lambda e: 0.9**e, lambda e: 1 / (e + 1)])),
    "LambdaLR-object": (dict(lr=0.1), lambda S, o: S.LambdaLR(o, _Scale(0.97))),
    "MultiplicativeLR": (dict(lr=0.1), lambda S, o: S.MultiplicativeLR(o, lambda e: 0.9)),
    "StepLR": (dict(lr=0.1), lambda S, o: S.StepLR(o, step_size=7, gamma=0.5)),
    "MultiStepLR": (dict(lr=0.1), lambda S, o: S.MultiStepLR(o, [5, 12, 12, 30], gamma=0.3)),
    "ConstantLR": (dict(lr=0.1), lambda S, o: S.ConstantLR(o, factor=0.5, total_iters=10)),
    "ConstantLR-default": (dict(lr=0.05), lambda S, o: S.ConstantLR(o)),
    "LinearLR": (dict(lr=0.1), lambda S, o: S.LinearLR(o, 0.2, 0.9, total_iters=15)),
    "LinearLR-default": (dict(lr=0.1), lambda S, o: S.LinearLR(o)),
    "ExponentialLR": (dict(lr=0.1, groups=2), lambda S, o: S.ExponentialLR(o, gamma=0.93)),
    "PolynomialLR": (dict(lr=0.1), lambda S, o: S.PolynomialLR(o, total_iters=20, power=2.0)),
    "CosineAnnealingLR": (dict(lr=0.1), lambda S, o: S.CosineAnnealingLR(o, T_max=10,
                                                                       eta_min=0.001)),
    "CosineAnnealingLR-long": (dict(lr=0.05), lambda S, o: S.CosineAnnealingLR(o, T_max=37)),
    "CosineAnnealingWarmRestarts": (
        dict(lr=0.1), lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2,
                                                                 eta_min=1e-4)),
    "CosineAnnealingWarmRestarts-1": (
        dict(lr=0.1), lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=7)),
    "CyclicLR-triangular": (dict(lr=0.1, momentum=0.9),
                            lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=5)),
    "CyclicLR-triangular2": (dict(lr=0.1, momentum=0.9),
                             lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=4,
                                                     step_size_down=6, mode="triangular2")),
    "CyclicLR-exp_range": (dict(lr=0.1, momentum=0.9),
                           lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=5,
                                                   mode="exp_range", gamma=0.95)),
    "CyclicLR-adam-betas": (dict(opt_name="Adam", lr=0.1),
                            lambda S, o: S.CyclicLR(o, 0.001, 0.01, step_size_up=6)),
    "CyclicLR-no-momentum": (dict(opt_name="Adagrad", lr=0.1),
                             lambda S, o: S.CyclicLR(o, [0.01], [0.1], step_size_up=3,
                                                     cycle_momentum=False)),
    "CyclicLR-scale_fn": (dict(lr=0.1, momentum=0.9),
                          lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=5,
                                                  scale_fn=_Scale(0.9),
                                                  scale_mode="iterations")),
    "OneCycleLR-cos": (dict(lr=0.1, momentum=0.9),
                       lambda S, o: S.OneCycleLR(o, max_lr=0.1, total_steps=STEPS + 1)),
    "OneCycleLR-linear-3phase": (
        dict(lr=0.1, momentum=0.9),
        lambda S, o: S.OneCycleLR(o, max_lr=0.2, epochs=17, steps_per_epoch=3,
                                  anneal_strategy="linear", three_phase=True, pct_start=0.25)),
    "OneCycleLR-adam": (dict(opt_name="Adam", lr=0.1, groups=2),
                        lambda S, o: S.OneCycleLR(o, max_lr=[0.01, 0.02], total_steps=STEPS + 1,
                                                  div_factor=10.0, final_div_factor=100.0)),
    "SequentialLR": (dict(lr=0.1), lambda S, o: S.SequentialLR(
        o, [S.LinearLR(o, 0.1, total_iters=5), S.ExponentialLR(o, 0.9)], milestones=[5])),
    "SequentialLR-3": (dict(lr=0.1), lambda S, o: S.SequentialLR(
        o, [S.ConstantLR(o, 0.5, 3), S.StepLR(o, 4, 0.5), S.CosineAnnealingLR(o, 10)],
        milestones=[6, 20])),
    "ChainedScheduler": (dict(lr=0.1), lambda S, o: S.ChainedScheduler(
        [S.ConstantLR(o, 0.1, total_iters=4), S.ExponentialLR(o, gamma=0.9)])),
}


def _group_values(opt):
    out = []
    for g in opt.param_groups:
        out.append((g["lr"], g.get("momentum"), g.get("betas"), g.get("initial_lr")))
    return out


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_lr_sequence_matches_torch_exactly(name):
    opt_kw, make = SCHEDULERS[name]
    opt_kw = dict(opt_kw)
    seqs = []
    for lib, mod in ((ember, optim), (torch, torch.optim)):
        o = _setup(mod, lib, **opt_kw)
        s = make(mod.lr_scheduler, o)
        seq = [(list(s.get_last_lr()), _group_values(o))]
        for _ in range(STEPS):
            o.step()
            s.step()
            seq.append((list(s.get_last_lr()), _group_values(o)))
        seqs.append(seq)
    assert seqs[0] == seqs[1]  # == on floats: the same expressions in the same order


def test_reduce_lr_on_plateau_matches_torch():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.5, 0.5, 0.51, 0.52, 0.53, 0.54, 0.55] * 4
    configs = [dict(), dict(mode="max", factor=0.5, patience=2),
               dict(patience=1, threshold=0.05, threshold_mode="abs", cooldown=2, min_lr=0.02),
               dict(mode="max", threshold_mode="abs", patience=0, min_lr=[0.05, 0.001],
                    eps=1e-3)]
    for kw in configs:
        seqs = []
        for lib, mod in ((ember, optim), (torch, torch.optim)):
            o = _setup(mod, lib, groups=2, lr=0.1)
            s = mod.lr_scheduler.ReduceLROnPlateau(o, **kw)
            seq = []
            for m in metrics:
                o.step()
                s.step(lib.tensor(m))
                seq.append((s.get_last_lr(), s.num_bad_epochs, s.cooldown_counter, s.best,
                            s.last_epoch))
            seqs.append(seq)
        assert seqs[0] == seqs[1], kw


@pytest.mark.parametrize("kw", [dict(factor=1.0), dict(mode="middle"),
                                dict(threshold_mode="both"), dict(min_lr=[0.1, 0.2])])
def test_reduce_lr_on_plateau_errors(kw):
    with pytest.raises(ValueError) as t_exc:
        torch.optim.lr_scheduler.ReduceLROnPlateau(_setup(torch.optim, torch), **kw)
    with pytest.raises(ValueError) as e_exc:
        optim.lr_scheduler.ReduceLROnPlateau(_setup(optim, ember), **kw)
    assert str(e_exc.value) == str(t_exc.value)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                                  "LinearLR", "ConstantLR", "PolynomialLR",
                                  "CosineAnnealingWarmRestarts"])
def test_step_with_epoch_uses_the_closed_form_like_torch(name):
    opt_kw, make = SCHEDULERS[name]
    seqs = []
    for lib, mod in ((ember, optim), (torch, torch.optim)):
        o = _setup(mod, lib, **opt_kw)
        s = make(mod.lr_scheduler, o)
        seq = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in [3, 1, 10, 17, 4, 25, 9]:
                o.step()
                s.step(epoch)
                seq.append(list(s.get_last_lr()))
        seqs.append(seq)
    assert seqs[0] == seqs[1]


def test_warning_when_scheduler_steps_before_optimizer():
    msgs = []
    for lib, mod in ((ember, optim), (torch, torch.optim)):
        o = _setup(mod, lib, lr=0.1)
        s = mod.lr_scheduler.StepLR(o, 3)
        with pytest.warns(UserWarning) as rec:
            s.step()
        msgs.append([str(w.message) for w in rec])
    assert msgs[0] == msgs[1]
    assert msgs[0][0].startswith("Detected call of `lr_scheduler.step()` before "
                                 "`optimizer.step()`.")


def test_no_warning_in_the_right_order():
    o = _setup(optim, ember, lr=0.1)
    s = optim.lr_scheduler.StepLR(o, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        o.step()
        s.step()


def test_epoch_argument_is_deprecated_like_torch():
    texts = []
    for lib, mod in ((ember, optim), (torch, torch.optim)):
        o = _setup(mod, lib, lr=0.1)
        s = mod.lr_scheduler.StepLR(o, 3)
        o.step()
        with pytest.warns(UserWarning) as rec:
            s.step(2)
        texts.append([str(w.message) for w in rec])
    assert texts[0] == texts[1]


def test_get_lr_outside_step_warns():
    o = _setup(optim, ember, lr=0.1)
    s = optim.lr_scheduler.StepLR(o, 3)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        s.get_lr()


def test_initial_lr_and_last_epoch():
    o = _setup(optim, ember, lr=0.1)
    s = optim.lr_scheduler.ExponentialLR(o, 0.5)
    assert o.param_groups[0]["initial_lr"] == 0.1 and s.last_epoch == 0 and s.base_lrs == [0.1]
    o.step()
    s.step()
    assert s.last_epoch == 1 and o.param_groups[0]["lr"] == 0.05
    o2 = _setup(optim, ember, lr=0.1)
    with pytest.raises(KeyError, match="'initial_lr' is not specified in param_groups\\[0\\]"):
        optim.lr_scheduler.StepLR(o2, 3, last_epoch=4)


def test_lr_scheduler_alias_and_type_errors():
    assert issubclass(optim.lr_scheduler._LRScheduler, optim.lr_scheduler.LRScheduler)
    with pytest.raises(TypeError, match="int is not an Optimizer"):
        optim.lr_scheduler.StepLR(3, 1)


@pytest.mark.parametrize("name", ["StepLR", "LambdaLR-object", "CyclicLR-scale_fn",
                                  "OneCycleLR-cos", "SequentialLR", "ChainedScheduler",
                                  "CosineAnnealingWarmRestarts", "MultiStepLR"])
def test_state_dict_roundtrip_continues_the_sequence(name, tmp_path):
    opt_kw, make = SCHEDULERS[name]
    o = _setup(optim, ember, **opt_kw)
    s = make(optim.lr_scheduler, o)
    for _ in range(12):
        o.step()
        s.step()
    sd = s.state_dict()
    assert "optimizer" not in sd
    o_sd = o.state_dict()
    ember.save({"sched": sd, "opt": o_sd}, tmp_path / "s.pt")
    loaded = ember.load(tmp_path / "s.pt")
    rest = []
    for _ in range(10):
        o.step()
        s.step()
        rest.append(s.get_last_lr())
    o2 = _setup(optim, ember, **opt_kw)
    s2 = make(optim.lr_scheduler, o2)
    o2.load_state_dict(loaded["opt"])
    s2.load_state_dict(loaded["sched"])
    rest2 = []
    for _ in range(10):
        o2.step()
        s2.step()
        rest2.append(s2.get_last_lr())
    assert rest == rest2


def test_state_dict_keys_match_torch():
    for name in ["StepLR", "CyclicLR-triangular", "OneCycleLR-cos", "SequentialLR",
                 "LambdaLR-object", "CosineAnnealingLR"]:
        opt_kw, make = SCHEDULERS[name]
        keys = []
        for lib, mod in ((ember, optim), (torch, torch.optim)):
            s = make(mod.lr_scheduler, _setup(mod, lib, **opt_kw))
            keys.append(sorted(s.state_dict()))
        assert keys[0] == keys[1], name


@pytest.mark.parametrize("make", [
    lambda S, o: S.ConstantLR(o, factor=2.0),
    lambda S, o: S.LinearLR(o, start_factor=0),
    lambda S, o: S.LinearLR(o, end_factor=1.5),
    lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=0),
    lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0),
    lambda S, o: S.CyclicLR(o, 0.1, 1.0, mode="square"),
    lambda S, o: S.OneCycleLR(o, 0.1),
    lambda S, o: S.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.5),
    lambda S, o: S.OneCycleLR(o, 0.1, total_steps=10, anneal_strategy="exp"),
    lambda S, o: S.OneCycleLR(o, [0.1, 0.2], total_steps=10),
    lambda S, o: S.SequentialLR(o, [S.StepLR(o, 2)], milestones=[3]),
    lambda S, o: S.LambdaLR(o, [lambda e: 1, lambda e: 1]),
])
def test_scheduler_validation_like_torch(make):
    with pytest.raises(Exception) as t_exc:
        make(torch.optim.lr_scheduler, _setup(torch.optim, torch, lr=0.1, momentum=0.9))
    with pytest.raises(type(t_exc.value)) as e_exc:
        make(optim.lr_scheduler, _setup(optim, ember, lr=0.1, momentum=0.9))
    assert str(e_exc.value) == str(t_exc.value)


def test_one_cycle_too_many_steps():
    o = _setup(optim, ember, lr=0.1, momentum=0.9)
    s = optim.lr_scheduler.OneCycleLR(o, 0.1, total_steps=3)
    for _ in range(3):
        o.step()
        s.step()
    with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of total "
                                         "steps is 3"):
        o.step()
        s.step()


def test_cycle_momentum_needs_momentum():
    o = _setup(optim, ember, opt_name="Adagrad", lr=0.1)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        optim.lr_scheduler.CyclicLR(o, 0.01, 0.1)


def test_tensor_lr_is_updated_in_place():
    p = ember.zeros(2, requires_grad=True)
    lr = ember.tensor(0.1)
    o = optim.SGD([p], lr=lr)
    s = optim.lr_scheduler.ExponentialLR(o, 0.5)
    o.step()
    s.step()
    assert o.param_groups[0]["lr"] is lr and abs(float(lr) - 0.05) < 1e-8
