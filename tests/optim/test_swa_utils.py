"""swa_utils against torch's: AveragedModel, the averaging functions, SWALR, update_bn."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import needs_torch, torch

import ember
import ember.optim as optim

pytestmark = needs_torch

nn = pytest.importorskip("ember.nn")


def _models(seed=0):
    rng = np.random.default_rng(seed)
    e = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    t = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    for (_, ep), (_, tp) in zip(e.named_parameters(), t.named_parameters()):
        a = rng.standard_normal(tuple(tp.shape)).astype(np.float32)
        ep.data = ember.tensor(a)
        with torch.no_grad():
            tp.copy_(torch.from_numpy(a))
    return e, t, rng


def _perturb(e, t, rng):
    """Move both models' parameters and BN buffers the same way (as training would)."""
    for ep, tp in zip(e.parameters(), t.parameters()):
        d = rng.standard_normal(tuple(tp.shape)).astype(np.float32)
        ep.data = ember.tensor(ep.detach().numpy() + d)
        with torch.no_grad():
            tp.add_(torch.from_numpy(d))
    x = rng.standard_normal((6, 3)).astype(np.float32)
    e.train()
    t.train()
    e(ember.tensor(x))
    t(torch.from_numpy(x))


def _compare(ea, ta, rtol=1e-6):
    esd, tsd = ea.state_dict(), ta.state_dict()
    assert list(esd) == list(tsd)
    for k in tsd:
        np.testing.assert_allclose(esd[k].detach().numpy(), tsd[k].detach().numpy(), rtol=rtol,
                                   atol=1e-6, err_msg=k)
        assert esd[k].dtype.name == str(tsd[k].dtype).split(".")[-1], k


@pytest.mark.parametrize("variant", ["swa", "ema-multi", "ema", "swa-multi", "swa-buffers",
                                     "ema-buffers"])
def test_averaged_model_matches_torch(variant):
    e, t, rng = _models()
    su_e, su_t = optim.swa_utils, torch.optim.swa_utils
    if variant.startswith("ema-multi"):
        ke, kt = dict(multi_avg_fn=su_e.get_ema_multi_avg_fn(0.9)), \
            dict(multi_avg_fn=su_t.get_ema_multi_avg_fn(0.9))
    elif variant.startswith("ema"):
        ke, kt = dict(avg_fn=su_e.get_ema_avg_fn(0.8)), dict(avg_fn=su_t.get_ema_avg_fn(0.8))
    elif variant == "swa-multi":
        ke, kt = dict(multi_avg_fn=su_e.get_swa_multi_avg_fn()), \
            dict(multi_avg_fn=su_t.get_swa_multi_avg_fn())
    else:
        ke, kt = {}, {}
    if variant.endswith("buffers"):
        # the BN buffers are averaged too (num_batches_tracked is an int64 buffer)
        ke["use_buffers"] = kt["use_buffers"] = True
    ea = su_e.AveragedModel(e, **ke)
    ta = su_t.AveragedModel(t, **kt)
    for _ in range(5):
        _perturb(e, t, rng)
        ea.update_parameters(e)
        ta.update_parameters(t)
    _compare(ea, ta)
    assert int(ea.n_averaged) == int(ta.n_averaged) == 5
    x = rng.standard_normal((4, 3)).astype(np.float32)
    ea.eval()
    ta.eval()
    np.testing.assert_allclose(ea(ember.tensor(x)).detach().numpy(),
                               ta(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_averaged_model_is_a_copy():
    e, _, _ = _models()
    a = optim.swa_utils.AveragedModel(e)
    assert a.module is not e
    assert a.module[0].weight is not e[0].weight
    assert a.n_averaged.dtype == ember.int64 and int(a.n_averaged) == 0
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        optim.swa_utils.AveragedModel(e, avg_fn=optim.swa_utils.get_ema_avg_fn(),
                                      multi_avg_fn=optim.swa_utils.get_ema_multi_avg_fn())


def test_avg_fns_values():
    su = optim.swa_utils
    a, b = ember.tensor([1.0, 2.0]), ember.tensor([3.0, 6.0])
    np.testing.assert_allclose(su.get_ema_avg_fn(0.5)(a, b, 0).numpy(), [2.0, 4.0])
    np.testing.assert_allclose(su.get_swa_avg_fn()(a, b, ember.tensor(1)).numpy(), [2.0, 4.0])
    with pytest.raises(ValueError, match="Invalid decay value 1.5 provided"):
        su.get_ema_avg_fn(1.5)
    with pytest.raises(ValueError, match="Invalid decay value -1 provided"):
        su.get_ema_multi_avg_fn(-1)


@pytest.mark.parametrize("kw", [dict(swa_lr=0.05, anneal_epochs=5),
                                dict(swa_lr=0.05, anneal_epochs=5, anneal_strategy="linear"),
                                dict(swa_lr=0.2, anneal_epochs=0),
                                dict(swa_lr=[0.01, 0.02], anneal_epochs=3)])
def test_swalr_matches_torch(kw):
    seqs = []
    for lib, mod in ((ember, optim), (torch, torch.optim)):
        o = mod.SGD([{"params": [lib.zeros(2, requires_grad=True)]},
                     {"params": [lib.zeros(2, requires_grad=True)], "lr": 0.3}], lr=0.5)
        s = mod.swa_utils.SWALR(o, **kw)
        seq = [s.get_last_lr()]
        for _ in range(12):
            o.step()
            s.step()
            seq.append(s.get_last_lr())
        seqs.append(seq)
        keys = sorted(s.state_dict())
    assert seqs[0] == seqs[1]
    assert "anneal_func" not in keys


@pytest.mark.parametrize("kw", [dict(swa_lr=0.1, anneal_strategy="exp"),
                                dict(swa_lr=0.1, anneal_epochs=-1),
                                dict(swa_lr=[0.1, 0.2])])
def test_swalr_validation_like_torch(kw):
    with pytest.raises(ValueError) as t_exc:
        torch.optim.swa_utils.SWALR(torch.optim.SGD([torch.zeros(1, requires_grad=True)]), **kw)
    with pytest.raises(ValueError) as e_exc:
        optim.swa_utils.SWALR(optim.SGD([ember.zeros(1, requires_grad=True)]), **kw)
    assert str(e_exc.value) == str(t_exc.value)


def test_swalr_state_dict_roundtrip():
    o = optim.SGD([ember.zeros(1, requires_grad=True)], lr=0.5)
    s = optim.swa_utils.SWALR(o, swa_lr=0.05, anneal_epochs=4, anneal_strategy="linear")
    o.step()
    s.step()
    sd = s.state_dict()
    o2 = optim.SGD([ember.zeros(1, requires_grad=True)], lr=0.5)
    s2 = optim.swa_utils.SWALR(o2, swa_lr=0.05)
    s2.load_state_dict(sd)
    assert s2.anneal_func is s2._linear_anneal and s2.anneal_epochs == 4


def test_update_bn_matches_torch():
    e, t, rng = _models(1)
    batches = [rng.standard_normal((8, 3)).astype(np.float32) for _ in range(4)]
    e.eval()
    t.eval()
    optim.swa_utils.update_bn([(ember.tensor(b), 0) for b in batches], e)
    torch.optim.swa_utils.update_bn([(torch.from_numpy(b), 0) for b in batches], t)
    assert not e.training and not t.training
    _compare(e, t, rtol=1e-5)
    assert e[1].momentum == t[1].momentum == 0.1


def test_update_bn_without_batchnorm_is_a_no_op():
    m = nn.Linear(2, 2)
    optim.swa_utils.update_bn([ember.zeros(1, 2)], m)  # nothing to do, nothing called
