"""BatchNorm, LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm, instance_norm against torch."""
import copy

import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
import ember.nn.functional as F
from ember import nn

if torch is not None:
    import torch.nn.functional as TF


def _copy_params(em, tm):
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in em.state_dict().items()})


def _rand_affine(m, seed=0):
    r = np.random.default_rng(seed)
    with ember.no_grad():
        for p in m.parameters():
            p.copy_(ember.tensor(r.uniform(0.5, 1.5, p.shape).astype(p.detach().numpy().dtype)))


@needs_torch
@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                       ("BatchNorm2d", (4, 3, 5, 2)), ("BatchNorm3d", (2, 3, 2, 2, 2))])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_train_and_eval_match_torch(cls, shape, momentum, affine):
    em = getattr(nn, cls)(3, momentum=momentum, affine=affine)
    tm = getattr(torch.nn, cls)(3, momentum=momentum, affine=affine)
    _rand_affine(em)
    _copy_params(em, tm)
    assert repr(em) == repr(tm)
    rng = np.random.default_rng(1)
    for step in range(3):  # running statistics over several batches
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ye, yt = em(xe), tm(xt)
        np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
        g = rng.standard_normal(shape).astype(np.float32)
        ye.backward(ember.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
        if affine:
            np.testing.assert_allclose(em.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(em.bias.grad.numpy(), tm.bias.grad.numpy(), rtol=1e-4, atol=1e-4)
    assert ye.grad_fn.name() == yt.grad_fn.name() == "NativeBatchNormBackward0"
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(em, name).numpy(), getattr(tm, name).numpy(), rtol=1e-5, atol=1e-6)
    assert em.num_batches_tracked.item() == 3 and em.num_batches_tracked.dtype == ember.int64
    assert list(em.state_dict()) == list(tm.state_dict())
    em.eval()
    tm.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = em(xe), tm(xt)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert em.num_batches_tracked.item() == 3  # frozen in eval


@needs_torch
def test_batchnorm_without_running_stats_and_errors():
    em = nn.BatchNorm1d(3, track_running_stats=False)
    tm = torch.nn.BatchNorm1d(3, track_running_stats=False)
    assert repr(em) == repr(tm) and list(em.state_dict()) == list(tm.state_dict())
    em.eval()
    tm.eval()
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(em(ember.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    for fn, exc in [
        (lambda m, lib: m.BatchNorm1d(3)(lib.randn(1, 3)), ValueError),
        (lambda m, lib: m.BatchNorm2d(3)(lib.randn(2, 3)), ValueError),
        (lambda m, lib: m.BatchNorm1d(3)(lib.randn(2, 4)), RuntimeError),
    ]:
        with pytest.raises(exc) as te:
            fn(torch.nn, torch)
        with pytest.raises(exc) as ee:
            fn(nn, ember)
        assert str(ee.value) == str(te.value).replace("torch.Size", "ember.Size")


def test_batchnorm_gradcheck():
    w, b = np.array([0.5, 1.5, 1.0]), np.array([0.1, -0.2, 0.3])
    check_grad(lambda x, ww, bb: F.batch_norm(x, None, None, ww, bb, training=True), (4, 3, 2), w, b)
    rm, rv = ember.tensor([0.1, 0.2, -0.3], dtype=ember.float64), ember.tensor([1.5, 0.5, 2.0], dtype=ember.float64)
    check_grad(lambda x, ww, bb: F.batch_norm(x, rm, rv, ww, bb, training=False), (4, 3), w, b)
    check_grad(lambda x: F.batch_norm(x, None, None, training=True), (5, 3))


def test_batchnorm_momentum_none_is_a_cumulative_average():
    m = nn.BatchNorm1d(2, momentum=None)
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((8, 2)).astype(np.float32) + i for i in range(4)]
    for b in batches:
        m(ember.tensor(b))
    np.testing.assert_allclose(m.running_mean.numpy(), np.mean([b.mean(0) for b in batches], 0), rtol=1e-5)
    np.testing.assert_allclose(m.running_var.numpy(), np.mean([b.var(0, ddof=1) for b in batches], 0), rtol=1e-5)


def test_batchnorm_old_checkpoint_without_num_batches_tracked_loads():
    m = nn.BatchNorm1d(3)
    sd = m.state_dict()
    del sd["num_batches_tracked"]
    sd._metadata[""]["version"] = 1
    assert m.load_state_dict(sd).missing_keys == []
    sd2 = nn.BatchNorm1d(3).state_dict()
    del sd2["num_batches_tracked"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "num_batches_tracked"'):
        m.load_state_dict(sd2)
    c = copy.deepcopy(m)
    assert c.running_var is not m.running_var


@needs_torch
def test_lazy_batchnorm():
    em, tm = nn.LazyBatchNorm2d(), torch.nn.LazyBatchNorm2d()
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(em(ember.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    assert type(em) is nn.BatchNorm2d and repr(em) == repr(tm)
    np.testing.assert_allclose(em.running_var.numpy(), tm.running_var.numpy(), rtol=1e-5)


@needs_torch
@pytest.mark.parametrize("ns,shape", [((5,), (3, 5)), ((2, 5), (4, 2, 5)), ((5,), (5,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(ns, shape, affine):
    em, tm = nn.LayerNorm(ns, elementwise_affine=affine), torch.nn.LayerNorm(ns, elementwise_affine=affine)
    _rand_affine(em)
    _copy_params(em, tm)
    assert repr(em) == repr(tm)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 3
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = em(xe), tm(xt)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    for p, tp in zip(em.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert ye.grad_fn.name() == yt.grad_fn.name()


def test_layer_norm_gradcheck_and_errors():
    check_grad(lambda x, w, b: F.layer_norm(x, (4,), w, b), (3, 4), (4,), (4,))
    check_grad(lambda x: F.layer_norm(x, (2, 3)), (2, 2, 3))
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[3\], expected input with shape \[\*, 3\], but got input of size\[4, 2\]"):
        F.layer_norm(ember.randn(4, 2), (3,))
    with pytest.raises(RuntimeError, match="Expected weight to be of same shape as normalized_shape"):
        F.layer_norm(ember.randn(4, 2), (2,), ember.ones(3))


@needs_torch
@pytest.mark.parametrize("shape", [(2, 6), (2, 6, 3), (3, 6, 2, 2)])
def test_group_norm_matches_torch(shape):
    em, tm = nn.GroupNorm(3, 6), torch.nn.GroupNorm(3, 6)
    _rand_affine(em)
    _copy_params(em, tm)
    assert repr(em) == repr(tm)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = em(xe), tm(xt)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(em.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert ye.grad_fn.name() == yt.grad_fn.name()


def test_group_norm_gradcheck_and_errors():
    check_grad(lambda x, w, b: F.group_norm(x, 2, w, b), (2, 4, 3), (4,), (4,))
    with pytest.raises(RuntimeError, match="Expected number of channels in input to be divisible by num_groups"):
        F.group_norm(ember.randn(2, 3, 4), 2)
    with pytest.raises(ValueError, match=r"num_channels \(5\) must be divisible by num_groups \(2\)"):
        nn.GroupNorm(2, 5)


@needs_torch
def test_rms_norm_local_response_norm_instance_norm():
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 3))
    em, tm = nn.RMSNorm([5, 3]), torch.nn.RMSNorm([5, 3])
    assert repr(em) == repr(tm)
    np.testing.assert_allclose(em.double()(ember.tensor(x)).detach().numpy(),
                               tm.double()(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    em, tm = nn.LocalResponseNorm(3), torch.nn.LocalResponseNorm(3)
    assert repr(em) == repr(tm)
    np.testing.assert_allclose(em(ember.tensor(x)).numpy(), tm(torch.tensor(x)).numpy(), rtol=1e-10)
    np.testing.assert_allclose(F.local_response_norm(ember.tensor(x[:, :, 0]), 2).numpy(),
                               TF.local_response_norm(torch.tensor(x[:, :, 0]), 2).numpy(), rtol=1e-10)
    np.testing.assert_allclose(F.instance_norm(ember.tensor(x)).numpy(),
                               TF.instance_norm(torch.tensor(x)).numpy(), rtol=1e-8, atol=1e-10)
    check_grad(lambda a: F.rms_norm(a, (3,)), (2, 3))
