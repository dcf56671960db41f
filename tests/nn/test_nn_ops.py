"""Fused nn kernels: softmax family, nll/cross-entropy, interpolate, pad, unfold/fold.

Parity with torch for values, grads, dtypes and grad_fn names; float64 finite-difference
checks of every kernel; PyTorch's error types and messages.
"""
import itertools
import warnings

import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
from ember._ops import nn_ops as K

if torch is not None:
    import torch.nn.functional as TF

rng = np.random.default_rng(0)


def _parity(fe, ft, *arrays, atol=1e-5, rtol=1e-5, name=True, grad=True):
    """Run fe on ember and ft on torch with the same inputs; compare value, dtype, grads."""
    te = [ember.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    tt = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    ye, yt = fe(*te), ft(*tt)
    if isinstance(ye, tuple):
        ye, yt = ye[0], yt[0]
    assert tuple(ye.shape) == tuple(yt.shape)
    assert str(ye.dtype).split(".")[-1] == str(yt.dtype).split(".")[-1]
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), atol=atol, rtol=rtol)
    if name and yt.grad_fn is not None:
        assert ye.grad_fn.name() == yt.grad_fn.name()
    if grad and yt.requires_grad:
        g = rng.standard_normal(tuple(yt.shape)).astype(yt.detach().numpy().dtype)
        ye.backward(ember.tensor(g))
        yt.backward(torch.tensor(g))
        for a, b in zip(te, tt):
            if b.grad is not None:
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=atol, rtol=rtol)
    return ye


def _raises(exc, msg, fn):
    with pytest.raises(exc) as info:
        fn()
    assert str(info.value) == msg, str(info.value)


# ---- softmax family ---------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("shape,dim", [((4, 5), 1), ((4, 5), 0), ((2, 3, 4), -1), ((2, 3, 4), 1),
                                       ((7,), 0), ((), 0), ((3, 0), 1), ((0, 3), 1)])
def test_softmax_log_softmax_parity(shape, dim):
    x = rng.standard_normal(shape).astype(np.float32)
    _parity(lambda t: K.softmax(t, dim), lambda t: TF.softmax(t, dim), x)
    _parity(lambda t: K.log_softmax(t, dim), lambda t: TF.log_softmax(t, dim), x)
    _parity(lambda t: t.softmax(dim), lambda t: t.softmax(dim), x)
    _parity(lambda t: t.log_softmax(dim), lambda t: t.log_softmax(dim), x)


@needs_torch
def test_softmax_dtype_and_implicit_dim():
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    y = _parity(lambda t: K.softmax(t, 1, dtype=ember.float64),
                lambda t: TF.softmax(t, 1, dtype=torch.float64), x)
    assert y.dtype == ember.float64
    for nd in (1, 2, 3, 4):
        xe = ember.tensor(rng.standard_normal((2,) * nd))
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
            ye = K.softmax(xe)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yt = TF.softmax(torch.tensor(xe.numpy()))
        np.testing.assert_allclose(ye.numpy(), yt.numpy(), atol=1e-12)
    assert K.softmax(ember.tensor([1, 2]), 0, dtype=ember.float32).dtype == ember.float32
    _raises(NotImplementedError, "\"softmax_kernel_impl\" not implemented for 'Long'",
            lambda: K.softmax(ember.tensor([1, 2]), 0))
    _raises(NotImplementedError, "\"log_softmax_kernel_impl\" not implemented for 'Long'",
            lambda: K.log_softmax(ember.tensor([1, 2]), 0))
    _raises(IndexError, "Dimension out of range (expected to be in range of [-2, 1], but got 2)",
            lambda: K.softmax(ember.zeros(2, 2), 2))


def test_softmax_stable_at_huge_logits():
    x = ember.tensor([[1e4, 0.0, -1e4], [5e4, 5e4, 5e4]], requires_grad=True)
    p = K.softmax(x, 1)
    lp = K.log_softmax(x, 1)
    assert np.isfinite(p.detach().numpy()).all() and np.isfinite(lp.detach().numpy()).all()
    np.testing.assert_allclose(p.detach().numpy()[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(lp.detach().numpy()[0], [0.0, -1e4, -2e4])
    (p.sum() + lp.sum()).backward()
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("fn", [lambda x: K.softmax(x, 1), lambda x: K.log_softmax(x, 0),
                                lambda x: K.softmax(x, -1, dtype=ember.float64)])
def test_softmax_check_grad(fn):
    check_grad(fn, (3, 4))
    check_grad(lambda x: K.log_softmax(x, 0), ())


def test_softmax_double_backward():
    x = ember.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    (g,) = ember.autograd.grad(K.log_softmax(x, 1)[:, 0].sum(), x, create_graph=True)
    g.pow(2).sum().backward()
    xt = torch.tensor(x.detach().numpy(), requires_grad=True) if torch is not None else None
    if xt is not None:
        (gt,) = torch.autograd.grad(TF.log_softmax(xt, 1)[:, 0].sum(), xt, create_graph=True)
        gt.pow(2).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=1e-12)


# ---- cross_entropy / nll_loss -------------------------------------------------------------------
CE_CASES = list(itertools.product(
    ["mean", "sum", "none"], [None, "w"], [-100, 1], [0.0, 0.2]))


@needs_torch
@pytest.mark.parametrize("reduction,weight,ignore,smooth", CE_CASES)
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5), (2, 4, 3, 2), (4,)])
def test_cross_entropy_parity(shape, reduction, weight, ignore, smooth):
    x = rng.standard_normal(shape).astype(np.float32)
    C = shape[1] if len(shape) > 1 else shape[0]
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    t = rng.integers(0, C, tshape)
    w = np.linspace(0.5, 2.0, C).astype(np.float32) if weight else None
    kw = dict(reduction=reduction, ignore_index=ignore, label_smoothing=smooth)
    te, tt = ember.tensor(t), torch.tensor(t)
    we = ember.tensor(w) if w is not None else None
    wt = torch.tensor(w) if w is not None else None
    _parity(lambda a: K.cross_entropy(a, te, we, **kw), lambda a: TF.cross_entropy(a, tt, wt, **kw),
            x)
    lx = np.log(np.abs(x) + 0.1).astype(np.float32)
    kw.pop("label_smoothing")
    _parity(lambda a: K.nll_loss(a, te, we, **kw), lambda a: TF.nll_loss(a, tt, wt, **kw), lx)


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smooth", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4), (3,)])
def test_cross_entropy_probability_targets(shape, reduction, smooth):
    x = rng.standard_normal(shape)
    q = np.abs(rng.standard_normal(shape))
    q /= q.sum(1 if len(shape) > 1 else 0, keepdims=True)
    w = np.linspace(0.5, 2.0, shape[1] if len(shape) > 1 else shape[0])
    for weight in (None, w):
        te_w = ember.tensor(weight) if weight is not None else None
        tt_w = torch.tensor(weight) if weight is not None else None
        _parity(lambda a, b: K.cross_entropy(a, b, te_w, reduction=reduction,
                                             label_smoothing=smooth),
                lambda a, b: TF.cross_entropy(a, b, tt_w, reduction=reduction,
                                              label_smoothing=smooth), x, q, atol=1e-10)


def test_cross_entropy_no_overflow_at_1e4():
    x = ember.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [3e4, 3e4, 3e4]], requires_grad=True)
    t = ember.tensor([1, 2, 0])
    loss = K.cross_entropy(x, t)
    np.testing.assert_allclose(loss.item(), (2e4 + 0.0 + np.log(3)) / 3, rtol=1e-6)
    loss.backward()
    g = x.grad.numpy()
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g[0], [1 / 3, -1 / 3, 0], atol=1e-7)
    # rows far below the global max still get their own shift
    y = ember.tensor([[0.0, 1.0], [-5e4, -5e4 + 1.0]], requires_grad=True)
    out = K.cross_entropy(y, ember.tensor([0, 0]), reduction="none")
    np.testing.assert_allclose(out.detach().numpy(), [np.log1p(np.e)] * 2, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(y.grad.numpy()[0], y.grad.numpy()[1], rtol=1e-6)
    nl = K.nll_loss(K.log_softmax(x.detach(), 1), t)
    np.testing.assert_allclose(nl.item(), loss.item(), rtol=1e-6)


def test_cross_entropy_keeps_float32_and_names():
    x = ember.randn(8, 10, requires_grad=True)
    t = ember.randint(0, 10, (8,))
    loss = K.cross_entropy(x, t)
    assert loss.dtype == ember.float32 and loss.shape == ()
    assert loss.grad_fn.name() == "NllLossBackward0"
    loss.backward()
    assert x.grad.dtype == ember.float32
    assert K.cross_entropy(x, t, label_smoothing=0.1).grad_fn.name() == "AddBackward0"
    assert K.cross_entropy(x, K.softmax(x.detach(), 1)).grad_fn.name() == "DivBackward1"
    assert K.cross_entropy(ember.randn(2, 3, 4, 4), ember.zeros(2, 4, 4, dtype=ember.int64)
                           ).grad_fn is None
    xr = ember.randn(2, 3, 4, requires_grad=True)
    assert K.cross_entropy(xr, ember.zeros(2, 4, dtype=ember.int64)).grad_fn.name() == \
        "NllLoss2DBackward0"


def test_cross_entropy_weighted_mean_and_all_ignored():
    x = ember.tensor(rng.standard_normal((4, 3)))
    t = ember.tensor([0, 1, 2, 1])
    w = ember.tensor([1.0, 2.0, 3.0])
    per = K.cross_entropy(x, t, w, reduction="none").numpy()
    mean = K.cross_entropy(x, t, w).item()
    np.testing.assert_allclose(mean, per.sum() / (1 + 2 + 3 + 2))
    ignored = K.cross_entropy(x, t, w, ignore_index=1).item()
    np.testing.assert_allclose(ignored, (per[0] + per[2]) / 4)
    assert np.isnan(K.cross_entropy(x, ember.tensor([5, 5, 5, 5]), ignore_index=5).item())
    assert np.isnan(K.cross_entropy(ember.zeros(0, 3), ember.zeros(0, dtype=ember.int64)).item())


def test_cross_entropy_check_grad():
    t = ember.tensor([2, 0, 1, 2])
    w = ember.tensor([0.5, 1.0, 2.0], dtype=ember.float64)
    check_grad(lambda x: K.cross_entropy(x, t), (4, 3))
    check_grad(lambda x: K.cross_entropy(x, t, w, ignore_index=0, label_smoothing=0.3), (4, 3))
    check_grad(lambda x: K.cross_entropy(x, t, reduction="none", label_smoothing=0.1), (4, 3))
    check_grad(lambda x: K.cross_entropy(x, ember.tensor(1)), (3,))
    t2 = ember.tensor([[0, 2], [1, 1]])
    check_grad(lambda x: K.cross_entropy(x, t2, w, reduction="sum"), (2, 3, 2))
    check_grad(lambda x: K.nll_loss(x, t, w), (4, 3))
    check_grad(lambda x, q: K.cross_entropy(x, q, w, label_smoothing=0.2), (4, 3), (4, 3))
    check_grad(lambda x, q: K.cross_entropy(x, q, reduction="none"), (2, 3, 2), (2, 3, 2))


@needs_torch
def test_cross_entropy_errors_match_torch():
    x = ember.randn(4, 5)
    cases = [
        (lambda m, F: F.cross_entropy(m.randn(4, 5), m.tensor([1, 0, 10, 2]))),
        (lambda m, F: F.cross_entropy(m.randn(4, 5), m.tensor([1, 0, -3, 2]))),
        (lambda m, F: F.cross_entropy(m.randn(4, 5), m.tensor([1, 0, 2]))),
        (lambda m, F: F.cross_entropy(m.randn(4, 5), m.tensor([1.0, 0, 2, 1]))),
        (lambda m, F: F.cross_entropy(m.randn(4, 5), m.tensor([1, 0, 2, 1], dtype=m.int32))),
        (lambda m, F: F.cross_entropy(m.randn(4, 5), m.tensor([1, 0, 2, 1]), reduction="foo")),
        (lambda m, F: F.cross_entropy(m.randn(4, 5), m.tensor([1, 0, 2, 1]), m.ones(3))),
        (lambda m, F: F.cross_entropy(m.randn(4, 5), m.tensor([1, 0, 2, 1]),
                                      label_smoothing=1.5)),
        (lambda m, F: F.cross_entropy(m.randn(4, 5), m.randn(4, 5), ignore_index=1)),
        (lambda m, F: F.cross_entropy(m.randn(4, 5), m.ones(4, 5, dtype=m.int64))),
        (lambda m, F: F.cross_entropy(m.randn(2, 3, 4), m.zeros(2, 5, dtype=m.int64))),
        (lambda m, F: F.nll_loss(m.randn(4, 5), m.zeros(4, 2, dtype=m.int64))),
        (lambda m, F: F.nll_loss(m.randn(()), m.zeros((), dtype=m.int64))),
        (lambda m, F: F.cross_entropy(m.randn(3, 4), np.array([1, 2, 3]))),
        (lambda m, F: F.cross_entropy(np.zeros((3, 4)), m.tensor([1, 2, 3]))),
        (lambda m, F: F.nll_loss(m.randn(3, 4), [1, 2, 3])),
        (lambda m, F: F.max_pool2d(np.zeros((1, 1, 4, 4)), 2)),
    ]
    for case in cases:
        with pytest.raises(Exception) as te:
            case(torch, TF)
        with pytest.raises(type(te.value)) as ee:
            case(ember, K)
        assert str(ee.value) == str(te.value)
    del x


@needs_torch
def test_cross_entropy_legacy_args_warn():
    x, t = ember.randn(3, 4), ember.tensor([0, 1, 2])
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        s = K.cross_entropy(x, t, size_average=False)
    np.testing.assert_allclose(s.item(), K.cross_entropy(x, t, reduction="sum").item())


# ---- interpolate ---------------------------------------------------------------------------
INTERP = [
    ("nearest", (10, 14), None, None), ("nearest", None, 0.5, None),
    ("nearest", None, (1.7, 2.3), None),
    ("nearest-exact", (3, 4), None, None), ("nearest-exact", None, 2.5, None),
    ("bilinear", (10, 14), None, False), ("bilinear", (3, 4), None, True),
    ("bilinear", None, 1.7, False), ("bicubic", (9, 4), None, False),
    ("bicubic", None, 2, True), ("area", (3, 5), None, None), ("area", None, 0.5, None),
]


@needs_torch
@pytest.mark.parametrize("mode,size,sf,ac", INTERP)
def test_interpolate_2d_parity(mode, size, sf, ac):
    x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    kw = dict(size=size, scale_factor=sf, mode=mode, align_corners=ac)
    _parity(lambda a: K.interpolate(a, **kw), lambda a: TF.interpolate(a, **kw), x, atol=2e-5)
    if sf is not None:
        kw["recompute_scale_factor"] = True
        _parity(lambda a: K.interpolate(a, **kw), lambda a: TF.interpolate(a, **kw), x, atol=2e-5)


@needs_torch
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(2, 3), (3, 11)])
def test_interpolate_antialias(mode, size):
    x = rng.standard_normal((1, 2, 9, 7)).astype(np.float32)
    for ac in (False, True):
        kw = dict(size=size, mode=mode, align_corners=ac, antialias=True)
        _parity(lambda a: K.interpolate(a, **kw), lambda a: TF.interpolate(a, **kw), x, atol=2e-5)


@needs_torch
@pytest.mark.parametrize("mode,ac", [("nearest", None), ("linear", False), ("linear", True),
                                     ("nearest-exact", None), ("area", None)])
def test_interpolate_1d_and_3d(mode, ac):
    x = rng.standard_normal((2, 3, 6)).astype(np.float32)
    for size, sf in ((13, None), (4, None), (None, 1.5)):
        kw = dict(size=size, scale_factor=sf, mode=mode, align_corners=ac)
        _parity(lambda a: K.interpolate(a, **kw), lambda a: TF.interpolate(a, **kw), x)
    x5 = rng.standard_normal((1, 2, 3, 4, 2)).astype(np.float32)
    for m in ("nearest", "trilinear"):
        _parity(lambda a: K.interpolate(a, scale_factor=2, mode=m),
                lambda a: TF.interpolate(a, scale_factor=2, mode=m), x5)


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic", "nearest-exact", "area"])
def test_interpolate_check_grad(mode):
    check_grad(lambda x: K.interpolate(x, size=(5, 3), mode=mode), (1, 2, 3, 4))
    if mode == "bilinear":
        check_grad(lambda x: K.interpolate(x, scale_factor=0.5, mode=mode, antialias=True),
                   (1, 1, 6, 5))


@needs_torch
def test_interpolate_errors_match_torch():
    cases = [
        lambda m, F: F.interpolate(m.randn(1, 1, 4, 4), size=3, scale_factor=2),
        lambda m, F: F.interpolate(m.randn(1, 1, 4, 4)),
        lambda m, F: F.interpolate(m.randn(1, 1, 4, 4), size=3, mode="foo"),
        lambda m, F: F.interpolate(m.randn(1, 1, 4, 4), size=3, mode="linear"),
        lambda m, F: F.interpolate(m.randn(1, 1, 4), size=3, mode="bilinear"),
        lambda m, F: F.interpolate(m.randn(1, 1, 4, 4), size=3, align_corners=True),
        lambda m, F: F.interpolate(m.randn(1, 1, 4, 4), size=(3, 3, 3)),
        lambda m, F: F.interpolate(m.randn(1, 1, 4, 4), scale_factor=(2, 2, 2)),
        lambda m, F: F.interpolate(m.randn(1, 1, 4), size=3, mode="linear", antialias=True),
        lambda m, F: F.interpolate(m.randn(1, 1, 4, 4), size=3, recompute_scale_factor=True),
        lambda m, F: F.interpolate(m.randn(4, 4), size=3),
    ]
    for case in cases:
        with pytest.raises(Exception) as te:
            case(torch, TF)
        with pytest.raises(type(te.value)) as ee:
            case(ember, K)
        assert str(ee.value) == str(te.value)


# ---- pad --------------------------------------------------------------------------------------
PADS = [(1, 2), (2, 1, 0, 3), (-1, 2, 1, -2), (0, 0, 1, 1)]


@needs_torch
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_parity(mode):
    x4 = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    for p in PADS:
        if mode != "constant" and len(p) != 4:
            continue
        _parity(lambda a: K.pad(a, p, mode), lambda a: TF.pad(a, p, mode), x4)
    x3 = x4[:, :, 0]
    _parity(lambda a: K.pad(a, (2, 3), mode), lambda a: TF.pad(a, (2, 3), mode), x3)
    _parity(lambda a: K.pad(a, (1, 2), mode), lambda a: TF.pad(a, (1, 2), mode), x3[0])
    x5 = rng.standard_normal((1, 2, 3, 4, 5)).astype(np.float32)
    p6 = (1, 2, 1, 1, 2, 0)
    _parity(lambda a: K.pad(a, p6, mode), lambda a: TF.pad(a, p6, mode), x5)


@needs_torch
def test_pad_constant_value_and_int():
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    _parity(lambda a: K.pad(a, (1, 2, 3, 4, 1, 1), value=2.5),
            lambda a: TF.pad(a, (1, 2, 3, 4, 1, 1), value=2.5), x)
    xi = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(K.pad(ember.tensor(xi), (1, 1), value=2.5).numpy(),
                                  TF.pad(torch.tensor(xi), (1, 1), value=2.5).numpy())


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_check_grad(mode):
    check_grad(lambda x: K.pad(x, (2, 1, 1, 2), mode), (1, 2, 3, 4))
    check_grad(lambda x: K.pad(x, (-1, 2), mode), (2, 4))


@needs_torch
def test_pad_errors_match_torch():
    cases = [
        lambda m, F: F.pad(m.randn(2, 3), (1,)),
        lambda m, F: F.pad(m.randn(2, 3), (1, 1) * 3),
        lambda m, F: F.pad(m.randn(2, 3, 5, 6), (1, 1), mode="reflect"),
        lambda m, F: F.pad(m.randn(2, 3, 5, 6), (6, 1, 1, 1), mode="reflect"),
        lambda m, F: F.pad(m.randn(2, 3, 5, 6), (1, 1, 5, 1), mode="reflect"),
        lambda m, F: F.pad(m.randn(2, 3, 5, 6), (7, 1, 1, 1), mode="circular"),
        lambda m, F: F.pad(m.randn(2, 3, 5, 6), (1, 1), mode="foo"),
        lambda m, F: F.pad(m.randn(2, 3, 5, 6), (1, 1, 1, 1), mode="reflect", value=1.0),
        lambda m, F: F.pad(m.randn(2, 0, 5, 6), (1, 1, 1, 1), mode="reflect"),
        lambda m, F: F.pad(m.randn(2, 3), (-2, -2)),
    ]
    for case in cases:
        with pytest.raises(Exception) as te:
            case(torch, TF)
        with pytest.raises(type(te.value)) as ee:
            case(ember, K)
        assert str(ee.value) == str(te.value)


@needs_torch
def test_pad_grad_fn_names():
    x = ember.randn(1, 2, 4, 4, requires_grad=True)
    assert K.pad(x, (1, 1)).grad_fn.name() == "ConstantPadNdBackward0"
    assert K.pad(x, (1, 1, 1, 1), "reflect").grad_fn.name() == "ReflectionPad2DBackward0"
    assert K.pad(x[0], (1, 1), "replicate").grad_fn.name() == "ReplicationPad1DBackward0"
    assert K.constant_pad_nd(x, (1, 1)).shape == (1, 2, 4, 6)


# ---- unfold / fold -----------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("k,p,s,d", [(2, 0, 1, 1), ((2, 3), 1, (2, 1), (1, 2)), (3, 1, 2, 1)])
def test_unfold_fold_parity(k, p, s, d):
    x = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    ye = _parity(lambda a: K.unfold(a, k, d, p, s), lambda a: TF.unfold(a, k, d, p, s), x)
    cols = rng.standard_normal(tuple(ye.shape)).astype(np.float32)
    _parity(lambda c: K.fold(c, (6, 7), k, d, p, s), lambda c: TF.fold(c, (6, 7), k, d, p, s),
            cols)
    _parity(lambda a: K.unfold(a, k, d, p, s), lambda a: TF.unfold(a, k, d, p, s), x[0])
    _parity(lambda c: K.fold(c, (6, 7), k, d, p, s), lambda c: TF.fold(c, (6, 7), k, d, p, s),
            cols[0])


def test_unfold_fold_check_grad():
    check_grad(lambda x: K.unfold(x, 2, padding=1, stride=2), (1, 2, 3, 4))
    check_grad(lambda c: K.fold(c, (3, 4), 2, padding=1, stride=2), (1, 8, 6))


@needs_torch
def test_unfold_fold_errors_match_torch():
    cases = [
        lambda m, F: F.unfold(m.randn(1, 2, 3, 5, 5), 2),
        lambda m, F: F.unfold(m.randn(2, 3, 5, 5), 7),
        lambda m, F: F.fold(m.randn(2, 12, 16), (5, 5), 3),
        lambda m, F: F.fold(m.randn(2, 12, 15), (5, 5), 2),
        lambda m, F: F.fold(m.randn(2, 3, 5, 5), (5, 5), 2),
    ]
    for case in cases:
        with pytest.raises(Exception) as te:
            case(torch, TF)
        with pytest.raises(type(te.value)) as ee:
            case(ember, K)
        assert str(ee.value) == str(te.value)


def test_top_level_names():
    for name in ("softmax", "log_softmax", "conv1d", "conv2d", "conv_transpose2d", "max_pool1d",
                 "max_pool2d", "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d",
                 "constant_pad_nd", "lstm", "gru", "rnn_tanh", "lstm_cell", "gru_cell"):
        assert getattr(ember, name) is getattr(K, name)
    x = ember.randn(2, 3)
    np.testing.assert_allclose(x.softmax(1).numpy(), K.softmax(x, 1).numpy())
