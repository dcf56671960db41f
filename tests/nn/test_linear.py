"""Linear, Bilinear, LazyLinear, Identity, Flatten/Unflatten, and the seeds' models."""
import copy

import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
import ember.nn.functional as F
from ember import nn


def _copy_params(em, tm):
    """Load ember's parameters into the torch module (through NumPy)."""
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in em.state_dict().items()})


@needs_torch
@pytest.mark.parametrize("shape", [(5, 4), (4,), (2, 3, 4), (0, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape, bias):
    em, tm = nn.Linear(4, 3, bias=bias), torch.nn.Linear(4, 3, bias=bias)
    _copy_params(em, tm)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = em(xe), tm(xt)
    assert ye.shape == tuple(yt.shape) and ye.dtype == ember.float32
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert ye.grad_fn.name() == yt.grad_fn.name()
    g = np.random.default_rng(1).standard_normal(yt.shape).astype(np.float32)
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(em.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
    if bias:
        np.testing.assert_allclose(em.bias.grad.numpy(), tm.bias.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_linear_gradcheck():
    check_grad(lambda x, w, b: F.linear(x, w, b), (5, 4), (3, 4), (3,))
    check_grad(lambda x, w: F.linear(x, w), (2, 3, 4), (3, 4))
    check_grad(lambda x, w, b: F.linear(x, w, b), (4,), (3, 4), (3,))
    check_grad(lambda x, w, b: F.linear(x, w, b), (0, 4), (3, 4), (3,))


def test_linear_skips_unneeded_grads():
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(5, 4)
    F.linear(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == (3, 4)


@needs_torch
def test_linear_errors_match_torch():
    w_e, w_t = ember.randn(5, 3), torch.randn(5, 3)
    for shape in [(2, 4), (4,), (2, 2, 4)]:
        with pytest.raises(RuntimeError) as te:
            torch.nn.functional.linear(torch.randn(*shape), w_t)
        with pytest.raises(RuntimeError) as ee:
            F.linear(ember.randn(*shape), w_e)
        assert str(ee.value) == str(te.value)
    with pytest.raises(RuntimeError) as te:
        torch.nn.functional.linear(torch.randn(2, 3).double(), w_t)
    with pytest.raises(RuntimeError) as ee:
        F.linear(ember.randn(2, 3).double(), w_e)
    assert str(ee.value) == str(te.value)
    with pytest.raises(RuntimeError) as te:
        torch.nn.functional.linear(torch.randn(2, 3), w_t, torch.randn(4))
    with pytest.raises(RuntimeError) as ee:
        F.linear(ember.randn(2, 3), w_e, ember.randn(4))
    assert str(ee.value) == str(te.value)


@needs_torch
def test_linear_init_is_bit_exact_with_torch_after_manual_seed():
    for seed, (i, o) in [(0, (5, 3)), (777, (784, 256)), (3, (1, 1))]:
        ember.manual_seed(seed)
        torch.manual_seed(seed)
        em, tm = nn.Linear(i, o), torch.nn.Linear(i, o)
        np.testing.assert_array_equal(em.weight.detach().numpy(), tm.weight.detach().numpy())
        np.testing.assert_array_equal(em.bias.detach().numpy(), tm.bias.detach().numpy())
    ember.manual_seed(1)
    torch.manual_seed(1)
    eb, tb = nn.Bilinear(3, 4, 2), torch.nn.Bilinear(3, 4, 2)
    np.testing.assert_array_equal(eb.weight.detach().numpy(), tb.weight.detach().numpy())
    np.testing.assert_array_equal(eb.bias.detach().numpy(), tb.bias.detach().numpy())


def test_linear_default_init_statistics():
    ember.manual_seed(0)
    m = nn.Linear(400, 300)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    bound = 1 / np.sqrt(400)  # kaiming_uniform(a=sqrt 5) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.mean()) < 0.01 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01 * bound
    assert np.abs(b).max() <= bound and b.std() > 0.4 * bound
    assert m.weight.dtype == ember.float32 and m.weight.shape == (300, 400)
    assert nn.Linear(2, 2, dtype=ember.float64).weight.dtype == ember.float64


@needs_torch
def test_linear_state_dict_and_repr():
    em, tm = nn.Linear(13, 10), torch.nn.Linear(13, 10)
    assert repr(em) == repr(tm)
    assert repr(nn.Linear(2, 3, bias=False)) == repr(torch.nn.Linear(2, 3, bias=False))
    assert list(em.state_dict()) == ["weight", "bias"]
    assert nn.Linear(2, 3, bias=False).bias is None
    assert repr(nn.Identity(3, foo=1)) == "Identity()"
    x = ember.randn(2)
    assert nn.Identity()(x) is x


@needs_torch
def test_bilinear_matches_torch():
    em, tm = nn.Bilinear(3, 4, 2), torch.nn.Bilinear(3, 4, 2)
    _copy_params(em, tm)
    assert repr(em) == repr(tm)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 4)).astype(np.float32)
    ae, be = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ye, yt = em(ae, be), tm(at, bt)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    ye.sum().backward()
    yt.sum().backward()
    for e, t in [(ae.grad, at.grad), (be.grad, bt.grad), (em.weight.grad, tm.weight.grad),
                 (em.bias.grad, tm.bias.grad)]:
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-5, atol=1e-5)
    check_grad(lambda x1, x2, w, bb: F.bilinear(x1, x2, w, bb), (2, 3), (2, 4), (2, 3, 4), (2,))
    check_grad(lambda x1, x2, w: F.bilinear(x1, x2, w), (2, 2, 3), (2, 2, 4), (2, 3, 4))
    with pytest.raises(RuntimeError, match="bilinear\\(\\): input2 size does not match weight size: got 4 but expected 3"):
        F.bilinear(ember.randn(2, 3), ember.randn(2, 4), ember.randn(5, 3, 3))


@needs_torch
def test_lazy_linear_materialises_at_first_call():
    ember.manual_seed(0)
    torch.manual_seed(0)
    em, tm = nn.LazyLinear(10), torch.nn.LazyLinear(10)
    assert repr(em) == repr(tm) == "LazyLinear(in_features=0, out_features=10, bias=True)"
    assert repr(em.weight) == "<UninitializedParameter>"
    assert nn.parameter.is_lazy(em.weight)
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter"):
        em.weight.shape
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    ye, yt = em(ember.tensor(x)), tm(torch.tensor(x))
    assert type(em) is nn.Linear and repr(em) == repr(tm)
    assert type(em.weight) is nn.Parameter and em.weight.shape == (10, 5)
    # the same RNG calls as PyTorch: identical initial weights
    np.testing.assert_array_equal(em.weight.detach().numpy(), tm.weight.detach().numpy())
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert em._forward_pre_hooks == {}
    assert [n for n, _ in em.named_parameters()] == ["weight", "bias"]


def test_lazy_linear_load_state_dict_and_deepcopy():
    src = nn.Linear(6, 4)
    lazy = nn.LazyLinear(4)
    lazy.load_state_dict(src.state_dict())
    np.testing.assert_array_equal(lazy.weight.detach().numpy(), src.weight.detach().numpy())
    lazy(ember.randn(3, 6))
    assert type(lazy) is nn.Linear
    c = copy.deepcopy(nn.Sequential(nn.LazyLinear(3)))
    assert c(ember.randn(2, 7)).shape == (2, 3)


@needs_torch
def test_flatten_unflatten():
    x = ember.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 20))(ember.randn(2, 60)).shape == (2, 3, 20)
    assert repr(nn.Flatten()) == repr(torch.nn.Flatten())
    assert repr(nn.Unflatten(1, (2, 5))) == repr(torch.nn.Unflatten(1, (2, 5)))
    with pytest.raises(TypeError, match="unflattened_size must be tuple of ints"):
        nn.Unflatten(1, (2, 5.0))
    xg = ember.randn(2, 3, 4, requires_grad=True)
    nn.Flatten()(xg).sum().backward()
    np.testing.assert_array_equal(xg.grad.numpy(), np.ones((2, 3, 4), np.float32))


# ---- the seeds' models -----------------------------------------------------------------------------


@needs_torch
def test_seed_s0_boston_model():
    em = nn.Sequential(nn.Linear(13, 10), nn.ReLU(), nn.Linear(10, 1))
    tm = torch.nn.Sequential(torch.nn.Linear(13, 10), torch.nn.ReLU(), torch.nn.Linear(10, 1))
    assert str(em) == str(tm)
    _copy_params(em, tm)
    X = np.random.default_rng(0).standard_normal((20, 14))
    pe = em(ember.FloatTensor(X[0, :13]))  # unbatched 1-D input, as the seed evaluates it
    pt = tm(torch.FloatTensor(X[0, :13]))
    assert pe.shape == (1,) and pe.dtype == ember.float32
    np.testing.assert_allclose(pe.detach().numpy(), pt.detach().numpy(), rtol=1e-5, atol=1e-6)
    names = [n for n, _ in em.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for (n, p), (tn, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert str(p).replace("ember.", "torch.") == str(tp)  # print(name, param)
    x = ember.FloatTensor(X[:5, :13])
    y = ember.FloatTensor(X[:5, 13])
    loss = nn.MSELoss()(em(x), y.reshape(-1, 1))
    tloss = torch.nn.MSELoss()(tm(torch.FloatTensor(X[:5, :13])), torch.FloatTensor(X[:5, 13]).reshape(-1, 1))
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)


@needs_torch
def test_seed_s1_mlp_with_shared_relu():
    ember.manual_seed(777)
    torch.manual_seed(777)
    linear1, linear2, linear3 = (nn.Linear(784, 256, bias=True), nn.Linear(256, 256, bias=True),
                                 nn.Linear(256, 10, bias=True))
    relu = nn.ReLU()
    model = nn.Sequential(linear1, relu, linear2, relu, linear3).to("cpu")
    t1, t2, t3 = (torch.nn.Linear(784, 256), torch.nn.Linear(256, 256), torch.nn.Linear(256, 10))
    trelu = torch.nn.ReLU()
    tmodel = torch.nn.Sequential(t1, trelu, t2, trelu, t3)
    assert str(model) == str(tmodel)
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), tp.detach().numpy())
    x = np.random.default_rng(0).random((8, 784)).astype(np.float32)
    y = np.arange(8) % 10
    loss = nn.CrossEntropyLoss()(model(ember.tensor(x)), ember.tensor(y))
    tloss = torch.nn.CrossEntropyLoss()(tmodel(torch.tensor(x)), torch.tensor(y))
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    loss.backward()
    tloss.backward()
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-6)


@needs_torch
def test_seed_s3_lazy_mlp():
    class MLP(nn.Module):
        def __init__(self, num_outputs, num_hiddens, lr):
            super().__init__()
            self.lr = lr
            self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_hiddens), nn.ReLU(),
                                     nn.LazyLinear(num_outputs))

        def forward(self, X):
            return self.net(X)

    class TMLP(torch.nn.Module):
        def __init__(self, num_outputs, num_hiddens, lr):
            super().__init__()
            self.lr = lr
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(num_hiddens),
                                           torch.nn.ReLU(), torch.nn.LazyLinear(num_outputs))

    ember.manual_seed(0)
    torch.manual_seed(0)
    em, tm = MLP(10, 256, 0.1), TMLP(10, 256, 0.1)
    assert repr(em)[3:] == repr(tm)[4:]
    x = np.random.default_rng(0).random((4, 1, 28, 28)).astype(np.float32)
    ye, yt = em(ember.tensor(x)), tm.net(torch.tensor(x))
    assert repr(em)[3:] == repr(tm)[4:]
    assert "Linear(in_features=784, out_features=256, bias=True)" in repr(em)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
