"""Convolution: conv1d/2d/3d, conv_transpose and the Conv modules, against torch."""
import itertools
import math
import re

import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
import ember.nn as nn
from ember._ops import nn_ops as K

if torch is not None:
    import torch.nn.functional as TF

rng = np.random.default_rng(1)


def _parity(fe, ft, *arrays, atol=1e-4, rtol=1e-4):
    te = [ember.tensor(a, requires_grad=True) for a in arrays]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ye, yt = fe(*te), ft(*tt)
    assert tuple(ye.shape) == tuple(yt.shape)
    assert ye.dtype == ember.float32 if arrays[0].dtype == np.float32 else True
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), atol=atol, rtol=rtol)
    assert ye.grad_fn.name() == yt.grad_fn.name()
    g = rng.standard_normal(tuple(yt.shape)).astype(arrays[0].dtype)
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    for a, b in zip(te, tt):
        assert a.grad.dtype == a.dtype
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=atol, rtol=rtol)


CONV_GRID = [c for c in itertools.product([1, 2], [0, 1, "same", "valid"], [1, 2], [1, 2],
                                          [False, True]) if not (c[1] == "same" and c[0] > 1)]


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("stride,padding,dilation,groups,bias", CONV_GRID)
def test_conv2d_and_conv1d_grid(stride, padding, dilation, groups, bias):
    x = rng.standard_normal((2, 4, 7, 6)).astype(np.float32)
    w = rng.standard_normal((6, 4 // groups, 3, 2)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    args = (x, w, b) if bias else (x, w)

    def call(f):
        return lambda *a: f(a[0], a[1], a[2] if bias else None, stride, padding, dilation, groups)

    _parity(call(K.conv2d), call(TF.conv2d), *args)
    args1 = (x[:, :, 0], w[:, :, 0], b) if bias else (x[:, :, 0], w[:, :, 0])
    _parity(call(K.conv1d), call(TF.conv1d), *args1)


@needs_torch
def test_conv_unbatched_3d_and_float64():
    x = rng.standard_normal((3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    _parity(lambda a, b: K.conv2d(a, b, padding=1), lambda a, b: TF.conv2d(a, b, padding=1), x, w,
            atol=1e-10)
    x3 = rng.standard_normal((2, 2, 4, 5, 3)).astype(np.float32)
    w3 = rng.standard_normal((3, 2, 2, 3, 1)).astype(np.float32)
    _parity(lambda a, b: K.conv3d(a, b, stride=(1, 2, 1), padding=1),
            lambda a, b: TF.conv3d(a, b, stride=(1, 2, 1), padding=1), x3, w3)
    e = K.conv2d(ember.zeros(0, 3, 5, 5), ember.zeros(4, 3, 3, 3))
    assert e.shape == (0, 4, 3, 3)


TRANSPOSE_GRID = [c for c in itertools.product([1, 2, 3], [0, 1, 2], [0, 1], [1, 2], [1, 2])
                  if not (c[2] >= c[0] and c[2] >= c[3])]


@needs_torch
@pytest.mark.parametrize("stride,padding,output_padding,dilation,groups", TRANSPOSE_GRID)
def test_conv_transpose_grid(stride, padding, output_padding, dilation, groups):
    x = rng.standard_normal((2, 4, 5, 4)).astype(np.float32)
    w = rng.standard_normal((4, 6 // groups, 3, 2)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    try:
        TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), None, stride, padding,
                            output_padding, groups, dilation)
    except RuntimeError:
        pytest.skip("torch rejects this combination")

    def call(f):
        return lambda a, c, d: f(a, c, d, stride, padding, output_padding, groups, dilation)

    _parity(call(K.conv_transpose2d), call(TF.conv_transpose2d), x, w, b)
    _parity(call(K.conv_transpose1d), call(TF.conv_transpose1d), x[:, :, 0], w[:, :, 0], b)


@needs_torch
def test_conv_transpose_unbatched_and_3d():
    x = rng.standard_normal((3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    _parity(lambda a, b: K.conv_transpose2d(a, b, stride=2),
            lambda a, b: TF.conv_transpose2d(a, b, stride=2), x, w)
    x3 = rng.standard_normal((1, 2, 3, 3, 2)).astype(np.float32)
    w3 = rng.standard_normal((2, 2, 2, 2, 2)).astype(np.float32)
    _parity(lambda a, b: K.conv_transpose3d(a, b, stride=2, padding=1, output_padding=1),
            lambda a, b: TF.conv_transpose3d(a, b, stride=2, padding=1, output_padding=1), x3, w3)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(dilation=2, padding=2),
                                dict(groups=2, padding="same")])
def test_conv2d_check_grad(kw):
    check_grad(lambda x, w, b: K.conv2d(x, w, b, **kw), (2, 2, 5, 5),
               (2, 2 // kw.get("groups", 1), 3, 3), (2,))


def test_conv1d_and_transpose_check_grad():
    check_grad(lambda x, w, b: K.conv1d(x, w, b, stride=2, padding=1), (2, 3, 7), (2, 3, 3), (2,))
    check_grad(lambda x, w, b: K.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
               (1, 2, 3, 3), (2, 3, 3, 3), (3,))
    check_grad(lambda x, w: K.conv_transpose1d(x, w, groups=2, dilation=2), (1, 4, 5), (4, 1, 3))
    check_grad(lambda x, w: K.conv2d(x, w, padding=1), (2, 4, 4), (3, 2, 3, 3))  # unbatched


def test_conv_keeps_float32():
    x = ember.randn(2, 3, 8, 8, requires_grad=True)
    w = ember.randn(4, 3, 3, 3, requires_grad=True)
    y = K.conv2d(x, w, padding=1)
    assert y.dtype == ember.float32 and y.is_contiguous()
    y.sum().backward()
    assert x.grad.dtype == ember.float32 and w.grad.dtype == ember.float32


@needs_torch
def test_conv_errors_match_torch():
    cases = [
        lambda m, F: F.conv2d(m.randn(5, 5), m.randn(4, 3, 3, 3)),
        lambda m, F: F.conv2d(m.randn(1, 2, 3, 5, 5), m.randn(4, 3, 3, 3)),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 2, 3, 3)),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 7, 7)),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3), groups=2),
        lambda m, F: F.conv2d(m.randn(2, 4, 5, 5), m.randn(3, 2, 3, 3), groups=2),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3), padding="same", stride=2),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3), padding="foo"),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5).double(), m.randn(4, 3, 3, 3)),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3).double()),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3), m.zeros(4).double()),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3), m.zeros(3)),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3), padding=-1),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3), stride=0),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3), dilation=0),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3), groups=0),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3), stride=[1, 2, 3]),
        lambda m, F: F.conv2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3)),
        lambda m, F: F.conv1d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3)),
        lambda m, F: F.conv_transpose2d(m.randn(2, 3, 5, 5), m.randn(4, 3, 3, 3)),
        lambda m, F: F.conv_transpose2d(m.randn(5, 5), m.randn(3, 3, 3, 3)),
        lambda m, F: F.conv_transpose2d(m.randn(2, 3, 5, 5), m.randn(3, 4, 3, 3),
                                        output_padding=1),
        lambda m, F: F.conv_transpose1d(m.randn(2, 3, 5), m.randn(3, 4, 3), output_padding=1),
        lambda m, F: F.conv_transpose2d(m.randn(2, 3, 5, 5), m.randn(3, 4, 3, 3),
                                        bias=m.randn(3)),
        lambda m, F: F.conv_transpose2d(m.randn(2, 3, 5, 5), m.randn(3, 4, 3, 3), groups=2),
        lambda m, F: F.conv_transpose2d(m.randn(2, 3, 5, 5), m.randn(3, 4, 3, 3), padding="same"),
    ]
    for case in cases:
        with pytest.raises(Exception) as te:
            case(torch, TF)
        with pytest.raises(type(te.value)) as ee:
            case(ember, K)
        assert str(ee.value) == str(te.value)


def test_conv_same_padding_warns_for_even_kernels():
    with pytest.warns(UserWarning, match="padding='same' with even kernel lengths"):
        y = K.conv1d(ember.randn(2, 3, 5), ember.randn(4, 3, 4), padding="same")
    assert y.shape == (2, 4, 5)


def test_conv_no_double_backward():
    x = ember.randn(1, 1, 4, 4, requires_grad=True)
    w = ember.randn(1, 1, 3, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="double backward"):
        (g,) = ember.autograd.grad(K.conv2d(x, w).sum(), x, create_graph=True)
        g.sum().backward()


# ---- modules -----------------------------------------------------------------------------------
REPRS = [
    ("Conv2d", (3, 8, 3), {}),
    ("Conv2d", (3, 8, (3, 5)), dict(stride=2, padding=1, dilation=2, bias=False,
                                    padding_mode="reflect")),
    ("Conv1d", (4, 4, 3), dict(padding="same", groups=2)),
    ("Conv3d", (2, 2, 1), {}),
    ("ConvTranspose2d", (3, 6, 3), dict(stride=2, output_padding=1)),
    ("ConvTranspose1d", (3, 6, 3), dict(groups=3, bias=False)),
    ("LazyConv2d", (6, 5), dict(padding=2)),
]


@needs_torch
@pytest.mark.parametrize("name,args,kw", REPRS)
def test_module_reprs_and_parameters(name, args, kw):
    me, mt = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(me) == repr(mt)
    assert [n for n, _ in me.named_parameters()] == [n for n, _ in mt.named_parameters()]
    if not name.startswith("Lazy"):
        for pe, pt in zip(me.parameters(), mt.parameters()):
            assert tuple(pe.shape) == tuple(pt.shape) and pe.dtype == ember.float32


def test_default_init_bounds():
    m = nn.Conv2d(3, 16, 5)
    fan_in = 3 * 25
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) gives the same bound
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(b).max() <= bound
    mt = nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert mt.weight.shape == (4, 3, 3, 3)
    assert np.abs(mt.bias.detach().numpy()).max() <= 1 / math.sqrt(3 * 9)


@needs_torch
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv2d_module_padding_modes(mode):
    me = nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode=mode)
    mt = torch.nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode=mode)
    with torch.no_grad():
        mt.weight.copy_(torch.tensor(me.weight.detach().numpy()))
        mt.bias.copy_(torch.tensor(me.bias.detach().numpy()))
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = me(xe), mt(xt)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), atol=1e-5)
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(me.weight.grad.numpy(), mt.weight.grad.numpy(), atol=1e-4)


@needs_torch
def test_conv_transpose_module_output_size():
    me = nn.ConvTranspose2d(3, 4, 3, stride=2)
    x = ember.randn(2, 3, 8, 8)
    assert me(x, output_size=(18, 18)).shape == (2, 4, 18, 18)
    assert me(x, output_size=[2, 4, 17, 17]).shape == (2, 4, 17, 17)
    mt = torch.nn.ConvTranspose2d(3, 4, 3, stride=2)
    with pytest.raises(ValueError) as te:
        mt(torch.randn(2, 3, 8, 8), output_size=(20, 20))
    with pytest.raises(ValueError) as ee:
        me(x, output_size=(20, 20))
    assert str(ee.value).replace("ember", "torch") == str(te.value)
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported'):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")


@needs_torch
def test_module_constructor_errors_match_torch():
    cases = [
        lambda n: n.Conv2d(3, 4, 3, groups=0),
        lambda n: n.Conv2d(3, 4, 3, groups=2),
        lambda n: n.Conv2d(4, 3, 3, groups=2),
        lambda n: n.Conv2d(3, 4, 3, padding="foo"),
        lambda n: n.Conv2d(3, 4, 3, padding="same", stride=2),
        lambda n: n.Conv2d(3, 4, 3, padding_mode="foo"),
    ]
    def norm(msg):  # a set's iteration order depends on the process's string hashes
        return re.sub(r"\{[^}]*\}", lambda m: str(sorted(m.group(0)[1:-1].split(", "))), msg)

    for case in cases:
        with pytest.raises(ValueError) as te:
            case(torch.nn)
        with pytest.raises(ValueError) as ee:
            case(nn)
        assert norm(str(ee.value)) == norm(str(te.value))


def test_lazy_conv_becomes_conv():
    m = nn.LazyConv2d(6, 5, padding=2)
    y = m(ember.randn(2, 1, 28, 28))
    assert type(m) is nn.Conv2d and m.in_channels == 1
    assert m.weight.shape == (6, 1, 5, 5) and y.shape == (2, 6, 28, 28)
    assert repr(m) == "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))"
    t = nn.LazyConvTranspose2d(4, 3, stride=2)
    assert t(ember.randn(3, 5, 5)).shape == (4, 11, 11)
    assert type(t) is nn.ConvTranspose2d and t.weight.shape == (3, 4, 3, 3)


def test_small_cnn_trains():
    """A LeNet-style CNN on a tiny batch: the loss goes down with plain SGD."""
    ember.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, 3))
    x = ember.randn(12, 1, 8, 8)
    y = ember.tensor([0, 1, 2] * 4)
    losses = []
    for _ in range(30):
        loss = K.cross_entropy(net(x), y)
        for p in net.parameters():
            p.grad = None
        loss.backward()
        with ember.no_grad():
            for p in net.parameters():
                p -= 0.5 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_conv_on_an_empty_batch_with_padding():
    # padding splits the batch over threads; an empty batch has no first sample to size it by
    conv = ember.nn.Conv2d(3, 4, 3, padding=1)
    x = ember.randn(0, 3, 8, 8, requires_grad=True)
    y = conv(x)
    assert tuple(y.shape) == (0, 4, 8, 8)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 8, 8)
