"""Activations: nn.functional and the modules, against torch (values, grads, dtypes, reprs)."""
import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
import ember.nn.functional as F
from ember import nn

if torch is not None:
    import torch.nn.functional as TF


def _away_from_kinks(shape, seed=0, kinks=(0.0,), scale=3.0):
    """N(0, scale) values, nudged at least 0.05 away from every kink."""
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    for k in kinks:
        near = np.abs(x - k) < 0.05
        x[near] = k + 0.1 * np.sign(x[near] - k + 1e-12)
    return x


# name, ember fn, torch fn name + kwargs, kinks to avoid
ACTIVATIONS = [
    ("relu", lambda x: F.relu(x), ("relu", {}), (0,)),
    ("relu6", lambda x: F.relu6(x), ("relu6", {}), (0, 6)),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), ("leaky_relu", {"negative_slope": 0.2}), (0,)),
    ("elu", lambda x: F.elu(x, 1.5), ("elu", {"alpha": 1.5}), (0,)),
    ("selu", lambda x: F.selu(x), ("selu", {}), (0,)),
    ("celu", lambda x: F.celu(x, 0.7), ("celu", {"alpha": 0.7}), (0,)),
    ("gelu", lambda x: F.gelu(x), ("gelu", {}), ()),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), ("gelu", {"approximate": "tanh"}), ()),
    ("silu", lambda x: F.silu(x), ("silu", {}), ()),
    ("mish", lambda x: F.mish(x), ("mish", {}), ()),
    ("sigmoid", lambda x: F.sigmoid(x), ("sigmoid", {}), ()),
    ("tanh", lambda x: F.tanh(x), ("tanh", {}), ()),
    ("hardtanh", lambda x: F.hardtanh(x, -2.0, 1.5), ("hardtanh", {"min_val": -2.0, "max_val": 1.5}), (-2, 1.5)),
    ("hardsigmoid", lambda x: F.hardsigmoid(x), ("hardsigmoid", {}), (-3, 3)),
    ("hardswish", lambda x: F.hardswish(x), ("hardswish", {}), (-3, 3)),
    ("softplus", lambda x: F.softplus(x, 2.0, 5.0), ("softplus", {"beta": 2.0, "threshold": 5.0}), (2.5,)),
    ("softsign", lambda x: F.softsign(x), ("softsign", {}), (0,)),
    ("logsigmoid", lambda x: F.logsigmoid(x), ("logsigmoid", {}), ()),
    ("tanhshrink", lambda x: F.tanhshrink(x), ("tanhshrink", {}), ()),
    ("softshrink", lambda x: F.softshrink(x, 0.4), ("softshrink", {"lambd": 0.4}), (-0.4, 0.4)),
    ("hardshrink", lambda x: F.hardshrink(x, 0.4), ("hardshrink", {"lambd": 0.4}), (-0.4, 0.4)),
    ("threshold", lambda x: F.threshold(x, 0.3, -2.0), ("threshold", {"threshold": 0.3, "value": -2.0}), (0.3,)),
    ("glu", lambda x: F.glu(x, 1), ("glu", {"dim": 1}), ()),
    ("softmin", lambda x: F.softmin(x, 1), ("softmin", {"dim": 1}), ()),
    ("softmax", lambda x: F.softmax(x, 1), ("softmax", {"dim": 1}), ()),
    ("log_softmax", lambda x: F.log_softmax(x, 1), ("log_softmax", {"dim": 1}), ()),
]
IDS = [a[0] for a in ACTIVATIONS]


@needs_torch
@pytest.mark.parametrize("name,fn,tfn,kinks", ACTIVATIONS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_matches_torch(name, fn, tfn, kinks, dtype):
    x = _away_from_kinks((4, 6), kinks=kinks).astype(dtype)
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ye = fn(xe)
    yt = getattr(TF, tfn[0])(xt, **tfn[1])
    assert ye.dtype == getattr(ember, str(yt.dtype).split(".")[1])
    assert ye.shape == tuple(yt.shape)
    # float64: torch rounds some constants (1/6 in hardsigmoid, 1/alpha in celu) to float32
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-6, 1e-9)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    w = np.random.default_rng(1).standard_normal(yt.shape).astype(dtype)
    ye.backward(ember.tensor(w))
    yt.backward(torch.tensor(w))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)
    assert xe.grad.dtype == xe.dtype
    # the graph node carries PyTorch's name
    assert ye.grad_fn.name() == yt.grad_fn.name()


@pytest.mark.parametrize("name,fn,tfn,kinks", ACTIVATIONS, ids=IDS)
def test_activation_gradcheck(name, fn, tfn, kinks):
    check_grad(fn, _away_from_kinks((3, 4), seed=2, kinks=kinks))


@pytest.mark.parametrize("name,fn,tfn,kinks", [a for a in ACTIVATIONS if a[0] not in
                                                ("glu", "softmin", "softmax", "log_softmax")],
                         ids=[i for i in IDS if i not in ("glu", "softmin", "softmax", "log_softmax")])
def test_activation_scalar_and_empty(name, fn, tfn, kinks):
    check_grad(fn, np.array(1.3))
    out = fn(ember.zeros(0, 3, requires_grad=True))
    assert out.shape == (0, 3)


@needs_torch
def test_extreme_inputs_stay_finite():
    x = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], np.float32)
    for fn, tfn in [(F.softplus, TF.softplus), (F.logsigmoid, TF.logsigmoid), (F.silu, TF.silu),
                    (F.mish, TF.mish), (F.sigmoid, torch.sigmoid), (F.elu, TF.elu),
                    (F.gelu, TF.gelu)]:
        xe = ember.tensor(x, requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        ye, yt = fn(xe), tfn(xt)
        np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
        ye.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


@needs_torch
def test_prelu_matches_torch_per_channel():
    x = _away_from_kinks((2, 3, 4, 5))
    w = np.array([0.1, -0.3, 0.25])
    xe, we = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ye, yt = F.prelu(xe, we), TF.prelu(xt, wt)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(we.grad.numpy(), wt.grad.numpy(), rtol=1e-12)
    assert ye.grad_fn.name() == yt.grad_fn.name()
    check_grad(lambda a, b: F.prelu(a, b), _away_from_kinks((2, 3, 4)), w)
    check_grad(lambda a, b: F.prelu(a, b), _away_from_kinks((2, 3)), np.array([0.2]))
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel size"):
        F.prelu(ember.randn(4, 3), ember.ones(2))
    with pytest.raises(RuntimeError, match="prelu: Type promoting not supported. Got Double and Float"):
        F.prelu(ember.randn(4, 3).double(), ember.ones(1))


@needs_torch
def test_activation_errors_match_torch():
    cases = [
        (lambda m: m.glu(m_tensor(m, (3, 3))), RuntimeError),
        (lambda m: m.softshrink(m_tensor(m, (3,)), -1.0), RuntimeError),
        (lambda m: m.hardtanh(m_tensor(m, (3,)), 2.0, 1.0), ValueError),
        (lambda m: m.gelu(m_tensor(m, (3,)), approximate="foo"), RuntimeError),
    ]
    for fn, exc in cases:
        with pytest.raises(exc) as te:
            fn(TF)
        with pytest.raises(exc) as ee:
            fn(F)
        assert str(ee.value) == str(te.value)


def m_tensor(mod, shape):
    return ember.randn(*shape) if mod is F else torch.randn(*shape)


@needs_torch
def test_inplace_forms():
    for name in ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "silu", "mish",
                 "hardtanh", "hardsigmoid", "hardswish", "threshold"]:
        args = (0.1, 5.0) if name == "threshold" else ()
        x = np.linspace(-4, 4, 9)
        xe, xt = ember.tensor(x), torch.tensor(x)
        ye = getattr(F, name)(xe, *args, inplace=True)
        getattr(TF, name)(xt, *args, inplace=True)
        assert ye is xe
        np.testing.assert_allclose(xe.numpy(), xt.numpy(), rtol=1e-12)
    # in place on a non-leaf keeps the graph
    a = ember.tensor([-1.0, 2.0], requires_grad=True)
    b = a * 2
    F.leaky_relu(b, 0.5, inplace=True)
    b.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [1.0, 2.0])


@needs_torch
def test_modules_repr_and_forward():
    pairs = [
        (nn.ReLU(), torch.nn.ReLU()), (nn.ReLU(inplace=True), torch.nn.ReLU(inplace=True)),
        (nn.ReLU6(), torch.nn.ReLU6()), (nn.LeakyReLU(), torch.nn.LeakyReLU()),
        (nn.LeakyReLU(0.1, True), torch.nn.LeakyReLU(0.1, True)), (nn.PReLU(), torch.nn.PReLU()),
        (nn.PReLU(3, 0.1), torch.nn.PReLU(3, 0.1)), (nn.ELU(), torch.nn.ELU()),
        (nn.ELU(0.5, True), torch.nn.ELU(0.5, True)), (nn.SELU(), torch.nn.SELU()),
        (nn.CELU(2.0), torch.nn.CELU(2.0)), (nn.GELU(), torch.nn.GELU()),
        (nn.GELU("tanh"), torch.nn.GELU("tanh")), (nn.SiLU(), torch.nn.SiLU()),
        (nn.Mish(), torch.nn.Mish()), (nn.Sigmoid(), torch.nn.Sigmoid()),
        (nn.Tanh(), torch.nn.Tanh()), (nn.Hardtanh(), torch.nn.Hardtanh()),
        (nn.Hardtanh(-2, 3, True), torch.nn.Hardtanh(-2, 3, True)),
        (nn.Hardsigmoid(), torch.nn.Hardsigmoid()), (nn.Hardswish(), torch.nn.Hardswish()),
        (nn.Softplus(), torch.nn.Softplus()), (nn.Softplus(2, 10), torch.nn.Softplus(2, 10)),
        (nn.Softsign(), torch.nn.Softsign()), (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
        (nn.LogSoftmax(1), torch.nn.LogSoftmax(1)), (nn.Softmin(1), torch.nn.Softmin(1)),
        (nn.Softmax2d(), torch.nn.Softmax2d()),
        (nn.Threshold(0.1, 20), torch.nn.Threshold(0.1, 20)), (nn.LogSigmoid(), torch.nn.LogSigmoid()),
        (nn.GLU(), torch.nn.GLU()), (nn.Tanhshrink(), torch.nn.Tanhshrink()),
        (nn.Softshrink(), torch.nn.Softshrink()), (nn.Hardshrink(0.3), torch.nn.Hardshrink(0.3)),
        (nn.RReLU(), torch.nn.RReLU()),
    ]
    x = _away_from_kinks((2, 4, 3, 2)).astype(np.float32)
    for em, tm in pairs:
        assert repr(em) == repr(tm)
        if isinstance(em, nn.RReLU):
            em.eval()
            tm.eval()
        if isinstance(em, nn.PReLU) and em.num_parameters == 3:
            xx = x[:, :3]
        else:
            xx = x
        ye = em(ember.tensor(xx.copy()))
        yt = tm(torch.tensor(xx.copy()))
        np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_rrelu_training_slopes_in_range():
    ember.manual_seed(0)
    x = -ember.rand(1000) - 0.1
    y = F.rrelu(x, 0.1, 0.3, training=True)
    slope = (y / x).numpy()
    assert slope.min() >= 0.1 and slope.max() <= 0.3 and slope.std() > 0.03
    pos = ember.rand(10) + 0.1
    np.testing.assert_array_equal(F.rrelu(pos, training=True).numpy(), pos.numpy())


@needs_torch
def test_maxout_is_max_of_affine_pieces():
    ember.manual_seed(0)
    m = nn.Maxout(5, 3, pieces=2)
    assert "ember extension" in nn.Maxout.__doc__
    assert repr(m) == ("Maxout(\n  in_features=5, out_features=3, pieces=2\n"
                       "  (linear): Linear(in_features=5, out_features=6, bias=True)\n)")
    x = ember.randn(4, 5)
    w = m.linear.weight.detach().numpy().reshape(3, 2, 5)
    b = m.linear.bias.detach().numpy().reshape(3, 2)
    z1 = x.numpy() @ w[:, 0].T + b[:, 0]
    z2 = x.numpy() @ w[:, 1].T + b[:, 1]
    np.testing.assert_allclose(m(x).detach().numpy(), np.maximum(z1, z2), rtol=1e-5, atol=1e-6)
    assert m(ember.randn(5)).shape == (3,)
    assert m(ember.randn(2, 7, 5)).shape == (2, 7, 3)
    # the gradient flows to the winning piece only
    m.double()
    check_grad(lambda xx: m(xx), (3, 5))
    assert [n for n, _ in m.named_parameters()] == ["linear.weight", "linear.bias"]


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("size", [6, 1 << 20])  # small, and large enough to split over threads
def test_relu_backward_of_nan_outputs_and_inf_grads_matches_torch(dtype, size):
    # threshold_backward: 0 where the output is <= 0 (even for an inf or NaN grad), the grad
    # wherever it is not (a NaN output passes its grad)
    xs = np.resize(np.array([np.nan, -1.0, 2.0, 0.0, -0.0, np.inf]), size).astype(dtype)
    gs = np.resize(np.array([1.0, np.inf, 3.0, np.inf, np.nan, -2.0]), size).astype(dtype)
    grads = []
    for fw in (ember, torch):
        x = fw.tensor(xs, requires_grad=True)
        fw.relu(x).backward(fw.tensor(gs))
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    assert not np.signbit(grads[0][1::6]).any()  # +0.0 where dropped
