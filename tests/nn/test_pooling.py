"""Pooling (max, avg, adaptive, unpool, lp) and the pooling/upsampling/padding modules."""
import itertools

import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
import ember.nn as nn
from ember._ops import nn_ops as K

if torch is not None:
    import torch.nn.functional as TF

rng = np.random.default_rng(2)


def _parity(fe, ft, x, atol=1e-5):
    xe = ember.tensor(x, requires_grad=x.dtype.kind == "f")
    xt = torch.tensor(x, requires_grad=x.dtype.kind == "f")
    ye, yt = fe(xe), ft(xt)
    ie = it = None
    if isinstance(ye, tuple):
        (ye, ie), (yt, it) = ye, yt
    assert tuple(ye.shape) == tuple(yt.shape)
    assert str(ye.dtype).split(".")[-1] == str(yt.dtype).split(".")[-1]
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), atol=atol)
    if ie is not None:
        assert ie.dtype == ember.int64
        np.testing.assert_array_equal(ie.numpy(), it.numpy())
    if xt.requires_grad:
        assert ye.grad_fn.name() == yt.grad_fn.name()
        g = rng.standard_normal(tuple(yt.shape)).astype(x.dtype)
        ye.backward(ember.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=atol)


MAX_GRID = list(itertools.product([1, 2, 3], [None, 1, 2, 3], [0, 1], [1, 2], [False, True]))


@needs_torch
@pytest.mark.parametrize("k,s,p,d,ceil", MAX_GRID)
def test_max_pool_grid(k, s, p, d, ceil):
    x = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    try:
        TF.max_pool2d(torch.tensor(x), k, s, p, d, ceil)
    except RuntimeError:
        pytest.skip("torch rejects this combination")
    _parity(lambda a: K.max_pool2d(a, k, s, p, d, ceil, True),
            lambda a: TF.max_pool2d(a, k, s, p, d, ceil, True), x)
    _parity(lambda a: K.max_pool1d(a, k, s, p, d, ceil, True),
            lambda a: TF.max_pool1d(a, k, s, p, d, ceil, True), x[:, :, 0])


@needs_torch
def test_max_pool_ties_inf_nan_and_ints():
    # ties (relu outputs): the first maximum in window order takes the gradient
    x = np.maximum(rng.standard_normal((2, 2, 6, 6)), 0).astype(np.float32)
    x[0, 0, :2, :2] = 1.0
    _parity(lambda a: K.max_pool2d(a, 3, 1, 1, return_indices=True),
            lambda a: TF.max_pool2d(a, 3, 1, 1, return_indices=True), x)
    y = np.full((1, 1, 4, 4), -np.inf, np.float32)
    y[0, 0, 3, 3] = 1.0
    _parity(lambda a: K.max_pool2d(a, 2, 2, 1, return_indices=True),
            lambda a: TF.max_pool2d(a, 2, 2, 1, return_indices=True), y)
    z = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    z[0, 0, 0, 1] = z[0, 0, 1, 0] = np.nan
    ve, ie = K.max_pool2d(ember.tensor(z), 2, return_indices=True)
    vt, it = TF.max_pool2d(torch.tensor(z), 2, return_indices=True)
    np.testing.assert_array_equal(ie.numpy(), it.numpy())
    np.testing.assert_array_equal(np.isnan(ve.numpy()), np.isnan(vt.numpy()))
    xi = rng.integers(-9, 9, (2, 3, 6, 6))
    np.testing.assert_array_equal(K.max_pool2d(ember.tensor(xi), 2).numpy(),
                                  TF.max_pool2d(torch.tensor(xi), 2).numpy())


AVG_GRID = list(itertools.product([1, 2, 3], [None, 1, 2], [0, 1], [False, True], [False, True],
                                  [None, 3]))


@needs_torch
@pytest.mark.parametrize("k,s,p,ceil,cip,dov", AVG_GRID)
def test_avg_pool_grid(k, s, p, ceil, cip, dov):
    x = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    try:
        TF.avg_pool2d(torch.tensor(x), k, s, p, ceil, cip, dov)
    except RuntimeError:
        pytest.skip("torch rejects this combination")
    _parity(lambda a: K.avg_pool2d(a, k, s, p, ceil, cip, dov),
            lambda a: TF.avg_pool2d(a, k, s, p, ceil, cip, dov), x)
    if dov is None:
        _parity(lambda a: K.avg_pool1d(a, k, s, p, ceil, cip),
                lambda a: TF.avg_pool1d(a, k, s, p, ceil, cip), x[:, :, 0])


@needs_torch
@pytest.mark.parametrize("out", [1, 2, 3, 5, 7, (3, None), (2, 5)])
def test_adaptive_pools(out):
    x = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    _parity(lambda a: K.adaptive_avg_pool2d(a, out), lambda a: TF.adaptive_avg_pool2d(a, out), x)
    _parity(lambda a: K.adaptive_max_pool2d(a, out, True),
            lambda a: TF.adaptive_max_pool2d(a, out, True), x)
    if not isinstance(out, tuple):
        _parity(lambda a: K.adaptive_avg_pool1d(a, out),
                lambda a: TF.adaptive_avg_pool1d(a, out), x[:, :, 0])
        _parity(lambda a: K.adaptive_max_pool1d(a, out, True),
                lambda a: TF.adaptive_max_pool1d(a, out, True), x[:, :, 0])


@needs_torch
def test_unbatched_3d_and_unpool():
    x = rng.standard_normal((3, 7, 8)).astype(np.float32)
    _parity(lambda a: K.max_pool2d(a, 2, return_indices=True),
            lambda a: TF.max_pool2d(a, 2, return_indices=True), x)
    _parity(lambda a: K.avg_pool2d(a, 3, 2, 1), lambda a: TF.avg_pool2d(a, 3, 2, 1), x)
    _parity(lambda a: K.adaptive_max_pool2d(a, 3), lambda a: TF.adaptive_max_pool2d(a, 3), x)
    _parity(lambda a: K.adaptive_avg_pool2d(a, 3), lambda a: TF.adaptive_avg_pool2d(a, 3), x)
    x5 = rng.standard_normal((1, 2, 4, 6, 5)).astype(np.float32)
    _parity(lambda a: K.max_pool3d(a, 2, return_indices=True),
            lambda a: TF.max_pool3d(a, 2, return_indices=True), x5)
    _parity(lambda a: K.avg_pool3d(a, 2, ceil_mode=True),
            lambda a: TF.avg_pool3d(a, 2, ceil_mode=True), x5)
    _parity(lambda a: K.adaptive_avg_pool3d(a, (2, 3, 2)),
            lambda a: TF.adaptive_avg_pool3d(a, (2, 3, 2)), x5)
    x4 = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    _parity(lambda a: K.max_unpool2d(*K.max_pool2d(a, 2, return_indices=True), 2),
            lambda a: TF.max_unpool2d(*TF.max_pool2d(a, 2, return_indices=True), 2), x4)
    _parity(lambda a: K.max_unpool2d(*K.max_pool2d(a, 3, 2, return_indices=True), 3, 2,
                                     output_size=(8, 8)),
            lambda a: TF.max_unpool2d(*TF.max_pool2d(a, 3, 2, return_indices=True), 3, 2,
                                      output_size=(8, 8)), x4)
    _parity(lambda a: K.lp_pool2d(a, 2, 2), lambda a: TF.lp_pool2d(a, 2, 2), np.abs(x4) + 0.1)


@pytest.mark.parametrize("fn", [
    lambda x: K.max_pool2d(x, 2),
    lambda x: K.max_pool2d(x, 3, 1, 1, 2, True),
    lambda x: K.max_pool1d(x[:, 0], 2, 1, 1),
    lambda x: K.avg_pool2d(x, 3, 2, 1, True, False),
    lambda x: K.avg_pool2d(x, 2, divisor_override=3),
    lambda x: K.avg_pool1d(x[:, 0], 3, 2, 1),
    lambda x: K.adaptive_avg_pool2d(x, (3, 2)),
    lambda x: K.adaptive_max_pool2d(x, (3, 2)),
    lambda x: K.adaptive_avg_pool2d(x, 1),
    lambda x: K.max_unpool2d(*K.max_pool2d(x, 2, return_indices=True), 2),
])
def test_pool_check_grad(fn):
    check_grad(fn, (2, 5, 4))


@needs_torch
def test_pool_errors_match_torch():
    cases = [
        lambda m, F: F.max_pool2d(m.randn(5, 5), 2),
        lambda m, F: F.max_pool2d(m.randn(1, 2, 3, 5, 5), 2),
        lambda m, F: F.max_pool2d(m.randn(2, 3, 6, 6), 2, padding=2),
        lambda m, F: F.max_pool2d(m.randn(2, 3, 5, 5), 7),
        lambda m, F: F.max_pool2d(m.randn(2, 3, 6, 6), 0),
        lambda m, F: F.max_pool2d(m.randn(2, 3, 6, 6), 0, 1),
        lambda m, F: F.max_pool2d(m.randn(2, 3, 6, 6), 2, 0),
        lambda m, F: F.max_pool2d(m.randn(2, 3, 6, 6), 2, dilation=0),
        lambda m, F: F.max_pool2d(m.randn(2, 3, 6, 6), (2, 2, 2)),
        lambda m, F: F.max_pool2d(m.randn(2, 3, 6, 6), 2, (1, 1, 1)),
        lambda m, F: F.max_pool2d(m.randn(2, 3, 6, 6), 2, 2, (1, 1, 1)),
        lambda m, F: F.max_pool2d(m.randn(2, 3, 6, 6), 2, 2, 0, (1, 1, 1)),
        lambda m, F: F.max_pool2d(m.randn(2, 3, 6, 6), 2, 2, -1),
        lambda m, F: F.max_pool2d(m.randn(2, 0, 6, 6), 2),
        lambda m, F: F.max_pool1d(m.randn(2, 3, 6, 6), 2),
        lambda m, F: F.max_pool1d(m.randn(2, 3, 6), 7),
        lambda m, F: F.max_pool1d(m.randn(2, 3, 6), 2, padding=2),
        lambda m, F: F.max_pool1d(m.randn(2, 3, 6), 0, 1),
        lambda m, F: F.max_pool1d(m.randn(2, 3, 6), 2, 0),
        lambda m, F: F.max_pool1d(m.randn(2, 3, 6), 2, 1, 0, 0),
        lambda m, F: F.max_pool1d(m.randn(2, 3, 6), (2, 2)),
        lambda m, F: F.avg_pool2d(m.randn(1, 2, 3, 5, 5), 2),
        lambda m, F: F.avg_pool2d(m.randn(2, 3, 5, 5), 7),
        lambda m, F: F.avg_pool2d(m.randn(2, 3, 5, 5), 2, padding=2),
        lambda m, F: F.avg_pool2d(m.randn(2, 3, 5, 5), 2, divisor_override=0),
        lambda m, F: F.avg_pool2d(m.randn(2, 3, 5, 5), (2, 2, 2)),
        lambda m, F: F.avg_pool2d(m.randn(2, 3, 6, 6), 0, 1),
        lambda m, F: F.avg_pool1d(m.randn(2, 3, 5, 5), 2),
        lambda m, F: F.avg_pool1d(m.randn(2, 3, 5), 7),
        lambda m, F: F.avg_pool1d(m.randn(2, 3, 5), 0, 1),
        lambda m, F: F.avg_pool1d(m.randn(2, 3, 5), (2, 2)),
        lambda m, F: F.adaptive_avg_pool2d(m.randn(5, 5), 2),
        lambda m, F: F.adaptive_avg_pool2d(m.randn(2, 3, 5, 5), (2, 2, 2)),
        lambda m, F: F.adaptive_avg_pool2d(m.randn(2, 3, 5, 5), -1),
        lambda m, F: F.adaptive_avg_pool2d(m.randn(2, 3, 0, 5), 2),
        lambda m, F: F.adaptive_avg_pool1d(m.randn(2, 3, 5, 5), 2),
        lambda m, F: F.adaptive_avg_pool1d(m.randn(2, 3, 5), (2, 2)),
        lambda m, F: F.adaptive_max_pool2d(m.randn(1, 2, 3, 5, 5), 2),
        lambda m, F: F.adaptive_max_pool2d(m.ones(2, 3, 5, 5, dtype=m.int64), 2),
        lambda m, F: F.adaptive_max_pool1d(m.randn(2, 3, 5, 5), 2),
        lambda m, F: F.max_unpool2d(*F.max_pool2d(m.randn(1, 1, 4, 4), 2, return_indices=True),
                                    2, output_size=(9, 9)),
    ]
    for case in cases:
        with pytest.raises(Exception) as te:
            case(torch, TF)
        with pytest.raises(type(te.value)) as ee:
            case(ember, K)
        assert str(ee.value) == str(te.value)


# ---- modules -----------------------------------------------------------------------------------
MODULES = [
    ("MaxPool2d", (2,), {}), ("MaxPool2d", (3, 2, 1), dict(ceil_mode=True, return_indices=True)),
    ("MaxPool1d", (3,), dict(dilation=2)), ("MaxPool3d", (2,), {}),
    ("AvgPool1d", (3, 2, 1), {}), ("AvgPool2d", ((2, 3),), dict(count_include_pad=False)),
    ("AvgPool3d", (2,), {}),
    ("AdaptiveAvgPool1d", (3,), {}), ("AdaptiveAvgPool2d", ((3, None),), {}),
    ("AdaptiveMaxPool2d", (2,), dict(return_indices=True)), ("AdaptiveMaxPool1d", (4,), {}),
    ("MaxUnpool2d", (2,), {}), ("LPPool2d", (2, 3), dict(stride=2)),
    ("Upsample", (), dict(scale_factor=2)), ("Upsample", (), dict(size=(3, 4), mode="bilinear")),
    ("UpsamplingNearest2d", (), dict(scale_factor=2)),
    ("UpsamplingBilinear2d", (), dict(size=5)),
    ("ZeroPad2d", ((1, 2, 0, 1),), {}), ("ConstantPad1d", (2, 3.5), {}),
    ("ReflectionPad2d", (1,), {}), ("ReplicationPad1d", ((1, 2),), {}),
    ("CircularPad2d", (1,), {}), ("Fold", ((4, 5), 2), {}), ("Unfold", (2,), dict(padding=1)),
]


@needs_torch
@pytest.mark.parametrize("name,args,kw", MODULES)
def test_module_reprs(name, args, kw):
    assert repr(getattr(nn, name)(*args, **kw)) == repr(getattr(torch.nn, name)(*args, **kw))


@needs_torch
@pytest.mark.parametrize("name,args,kw,shape", [
    ("MaxPool2d", (3, 2, 1), dict(ceil_mode=True), (2, 3, 7, 7)),
    ("MaxPool1d", (2,), {}, (2, 3, 7)),
    ("AvgPool2d", (2,), {}, (2, 3, 6, 6)),
    ("AvgPool1d", (3, 2, 1), {}, (2, 3, 7)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 5, 5)),
    ("AdaptiveMaxPool2d", ((2, 3),), {}, (2, 3, 5, 7)),
    ("Upsample", (), dict(scale_factor=2, mode="bilinear"), (1, 2, 3, 4)),
    ("Upsample", (), dict(size=(5, 3), mode="nearest"), (1, 2, 3, 4)),
    ("ReflectionPad2d", ((1, 2, 2, 1),), {}, (1, 2, 4, 4)),
    ("ZeroPad2d", (2,), {}, (1, 2, 4, 4)),
    ("ReplicationPad2d", (1,), {}, (2, 4, 4)),
    ("CircularPad1d", (2,), {}, (2, 3, 4)),
])
def test_module_forward(name, args, kw, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    _parity(getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw), x)


def test_maxpool_module_return_indices():
    out, idx = nn.MaxPool2d(2, return_indices=True)(ember.randn(1, 1, 4, 4))
    assert out.shape == idx.shape == (1, 1, 2, 2) and idx.dtype == ember.int64
    unpooled = nn.MaxUnpool2d(2)(out, idx)
    assert unpooled.shape == (1, 1, 4, 4)


def test_circular_pad_module_checks_dim():
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.CircularPad2d(1)(ember.randn(3, 3))
