"""InstanceNorm*, EmbeddingBag / F.embedding_bag, PixelShuffle / PixelUnshuffle, ChannelShuffle."""
import itertools

import numpy as np
import pytest
from helpers import assert_close, check_grad, needs_torch, torch

import ember
import ember.nn as nn
import ember.nn.functional as F

rng = np.random.default_rng(5)


# ---- instance norm -------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (2, 3, 5)), ("InstanceNorm1d", (3, 5)),
                                       ("InstanceNorm2d", (2, 3, 4, 5)),
                                       ("InstanceNorm3d", (2, 3, 2, 3, 4))])
def test_instance_norm_modules_match_torch(cls, shape):
    for affine, track in itertools.product([False, True], [False, True]):
        em = getattr(nn, cls)(3, affine=affine, track_running_stats=track, momentum=0.3)
        tm = getattr(torch.nn, cls)(3, affine=affine, track_running_stats=track, momentum=0.3)
        assert repr(em) == repr(tm)
        assert list(em.state_dict()) == list(tm.state_dict())
        if affine:
            w, b = rng.standard_normal((2, 3)).astype(np.float32)
            em.weight.data, em.bias.data = ember.tensor(w), ember.tensor(b)
            tm.weight.data, tm.bias.data = torch.tensor(w), torch.tensor(b)
        for mode in ("train", "eval", "train"):
            getattr(em, mode)()
            getattr(tm, mode)()
            x = rng.standard_normal(shape).astype(np.float32)
            xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            ye, yt = em(xe), tm(xt)
            assert_close(ye, yt, atol=1e-5)
            g = rng.standard_normal(shape).astype(np.float32)
            (ye * ember.tensor(g)).sum().backward()
            (yt * torch.tensor(g)).sum().backward()
            assert_close(xe.grad, xt.grad, atol=1e-4)
        for k, v in tm.state_dict().items():
            assert_close(em.state_dict()[k], v, atol=1e-6)


def test_instance_norm_errors_and_lazy():
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.InstanceNorm2d(3)(ember.zeros(2, 3))
    with pytest.raises(ValueError, match=r"expected input's size at dim=1 to match num_features "
                                         r"\(4\), but got: 3\."):
        nn.InstanceNorm1d(4, affine=True)(ember.zeros(2, 3, 5))
    with pytest.warns(UserWarning, match="input's size at dim=1 does not match num_features"):
        nn.InstanceNorm1d(4)(ember.randn(2, 3, 5))
    lazy = nn.LazyInstanceNorm2d()
    lazy(ember.randn(2, 3, 4, 4))
    assert type(lazy) is nn.InstanceNorm2d and lazy.weight.shape == (3,)
    assert repr(lazy) == ("InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                          "track_running_stats=True)")


# ---- embedding bag ------------------------------------------------------------------------------
@needs_torch
def test_embedding_bag_matches_torch():
    w = rng.standard_normal((10, 3))
    inp = np.array([1, 2, 4, 5, 4, 3, 2, 9, 2])
    cases = itertools.product(["sum", "mean", "max"], [None, 2, -1], [False, True],
                              [False, True], [[0, 4, 4, 6], [0, 0, 3]])
    for mode, pad, last, psw, offs in cases:
        if psw and mode != "sum":
            continue
        if last:  # torch reads past the input when the last offset leaves rows out
            offs = offs + [inp.size]
        wt, we = torch.tensor(w, requires_grad=True), ember.tensor(w, requires_grad=True)
        p = rng.standard_normal(inp.size)
        kw = dict(mode=mode, padding_idx=pad, include_last_offset=last)
        yt = torch.nn.functional.embedding_bag(torch.tensor(inp), wt, torch.tensor(offs),
                                               per_sample_weights=torch.tensor(p) if psw else None,
                                               **kw)
        ye = F.embedding_bag(ember.tensor(inp), we, ember.tensor(offs),
                             per_sample_weights=ember.tensor(p) if psw else None, **kw)
        assert_close(ye, yt, atol=1e-12)
        g = rng.standard_normal(tuple(yt.shape))
        (yt * torch.tensor(g)).sum().backward()
        (ye * ember.tensor(g)).sum().backward()
        assert_close(we.grad, wt.grad, atol=1e-12)


@needs_torch
def test_embedding_bag_module_2d_input_and_repr():
    for kw in ({}, {"mode": "max", "padding_idx": 1, "max_norm": 1.0}, {"mode": "sum"}):
        ember.manual_seed(0)
        em = nn.EmbeddingBag(10, 3, **kw)
        torch.manual_seed(0)
        tm = torch.nn.EmbeddingBag(10, 3, **kw)
        assert repr(em) == repr(tm)
        assert list(em.state_dict()) == list(tm.state_dict())
        assert_close(em.weight, tm.weight)  # seeded N(0, 1) init
        x = rng.integers(0, 10, (4, 5))
        assert_close(em(ember.tensor(x)), tm(torch.tensor(x)), atol=1e-6)
    frozen = nn.EmbeddingBag.from_pretrained(ember.ones(4, 2))
    assert not frozen.weight.requires_grad


def test_embedding_bag_gradcheck():
    idx = ember.tensor([3, 1, 0, 3, 2, 1])
    offs = ember.tensor([0, 2, 2])
    check_grad(lambda w: F.embedding_bag(idx, w, offs, mode="mean"), (4, 3))
    check_grad(lambda w, p: F.embedding_bag(idx, w, offs, mode="sum", per_sample_weights=p),
               (4, 3), (6,))
    check_grad(lambda w: F.embedding_bag(idx, w, offs, mode="max"), (4, 3))


def test_embedding_bag_errors():
    w = ember.randn(10, 3)
    idx = ember.tensor([1, 2, 4, 5])
    with pytest.raises(RuntimeError, match="offsets\\[0\\] has to be 0"):
        F.embedding_bag(idx, w, ember.tensor([1, 3]))
    with pytest.raises(RuntimeError, match="offsets\\[-1\\] can not be greater than input's "
                                           "length 4 but got offsets\\[-1\\] of 9"):
        F.embedding_bag(idx, w, ember.tensor([0, 9]))
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for "
                                                  "mode='sum' \\(got mode='mean'\\)"):
        F.embedding_bag(idx, w, ember.tensor([0]), per_sample_weights=ember.ones(4))
    with pytest.raises(RuntimeError, match="Index 1 of input takes value 12 which is not in the "
                                           "valid range \\[0, 10\\)"):
        F.embedding_bag(ember.tensor([1, 12]), w, ember.tensor([0]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(idx, w)
    with pytest.raises(ValueError, match="if input is 2D, then offsets has to be None"):
        F.embedding_bag(idx.view(2, 2), w, ember.tensor([0]))
    with pytest.raises(ValueError, match="mode has to be one of sum, mean or max"):
        F.embedding_bag(idx, w, ember.tensor([0]), mode="avg")
    with pytest.raises(ValueError, match="max mode does not support scaling the gradient"):
        F.embedding_bag(idx, w, ember.tensor([0]), mode="max", scale_grad_by_freq=True)


# ---- pixel / channel shuffle --------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("name,arg,shape", [("pixel_shuffle", 2, (2, 8, 3, 4)),
                                            ("pixel_shuffle", 3, (9, 2, 2)),
                                            ("pixel_shuffle", 2, (3, 2, 8, 2, 2)),
                                            ("pixel_unshuffle", 2, (2, 3, 4, 6)),
                                            ("pixel_unshuffle", 3, (1, 2, 3, 6, 9)),
                                            ("channel_shuffle", 2, (2, 6, 3)),
                                            ("channel_shuffle", 3, (2, 6, 2, 2))])
def test_shuffles_match_torch(name, arg, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    assert_close(getattr(F, name)(ember.tensor(x), arg),
                 getattr(torch.nn.functional, name)(torch.tensor(x), arg), atol=0)
    cls = {"pixel_shuffle": "PixelShuffle", "pixel_unshuffle": "PixelUnshuffle",
           "channel_shuffle": "ChannelShuffle"}[name]
    em, tm = getattr(nn, cls)(arg), getattr(torch.nn, cls)(arg)
    assert repr(em) == repr(tm)
    assert_close(em(ember.tensor(x)), tm(torch.tensor(x)), atol=0)
    check_grad(lambda t: getattr(F, name)(t, arg), shape)


def test_shuffle_errors():
    with pytest.raises(RuntimeError, match="pixel_shuffle expects its input's 'channel' "
                                           "dimension to be divisible by the square of "
                                           "upscale_factor, but input.size\\(-3\\)=5 is not "
                                           "divisible by 4"):
        F.pixel_shuffle(ember.zeros(2, 5, 3, 3), 2)
    with pytest.raises(RuntimeError, match="pixel_unshuffle expects height to be divisible"):
        F.pixel_unshuffle(ember.zeros(2, 4, 3, 4), 2)
    with pytest.raises(RuntimeError, match="pixel_shuffle expects input to have at least 3 "
                                           "dimensions, but got input with 2 dimension\\(s\\)"):
        F.pixel_shuffle(ember.zeros(5, 3), 2)
    with pytest.raises(RuntimeError, match="Number of channels must be divisible by groups. Got "
                                           "5 channels and 2 groups."):
        F.channel_shuffle(ember.zeros(2, 5, 3), 2)
    with pytest.raises(RuntimeError, match="channel_shuffle expects input with > 2 dims, but got "
                                           "input with sizes \\[2, 4\\]"):
        F.channel_shuffle(ember.zeros(2, 4), 2)


# ---- 3-D pooling additions ----------------------------------------------------------------------
@needs_torch
def test_lppool3d_maxunpool3d_and_with_indices_match_torch():
    x = rng.standard_normal((2, 3, 4, 6, 6)).astype(np.float32)
    for args in ((2, 2), (1.5, (2, 3, 2), 1)):
        em, tm = nn.LPPool3d(*args), torch.nn.LPPool3d(*args)
        assert repr(em) == repr(tm)
        xp = np.abs(x) + 0.1  # fractional powers of negative sums are nan in both
        assert_close(em(ember.tensor(xp)), tm(torch.tensor(xp)), atol=1e-5)
    ye, ie = F.max_pool3d_with_indices(ember.tensor(x), 2)
    yt, it = torch.nn.functional.max_pool3d_with_indices(torch.tensor(x), 2)
    assert_close(ie, it, atol=0)
    em, tm = nn.MaxUnpool3d(2), torch.nn.MaxUnpool3d(2)
    assert repr(em) == repr(tm)
    assert_close(em(ye, ie), tm(yt, it), atol=0)
    ye, ie = F.adaptive_max_pool3d_with_indices(ember.tensor(x), (2, 3, 2))
    yt, it = torch.nn.functional.adaptive_max_pool3d_with_indices(torch.tensor(x), (2, 3, 2))
    assert_close(ye, yt, atol=0)
    assert_close(ie, it, atol=0)
    check_grad(lambda t: F.lp_pool3d(t * t + 0.5, 2, 2), (1, 1, 2, 4, 2))


# ---- adaptive log-softmax -----------------------------------------------------------------------
@needs_torch
def test_adaptive_log_softmax_matches_torch():
    ember.manual_seed(0)
    em = nn.AdaptiveLogSoftmaxWithLoss(16, 20, [4, 10], div_value=2.0).double()
    torch.manual_seed(0)
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [4, 10], div_value=2.0).double()
    assert repr(em) == repr(tm)
    assert list(em.state_dict()) == list(tm.state_dict())
    for a, b in zip(em.parameters(), tm.parameters()):  # seeded init
        assert_close(a, b, atol=0)
    x = rng.standard_normal((7, 16))
    y = np.array([0, 5, 19, 3, 11, 4, 2])
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    oe, ot = em(xe, ember.tensor(y)), tm(xt, torch.tensor(y))
    assert_close(oe.output, ot.output, atol=1e-12)
    assert_close(oe.loss, ot.loss, atol=1e-12)
    oe.loss.backward()
    ot.loss.backward()
    assert_close(xe.grad, xt.grad, atol=1e-12)
    for a, b in zip(em.parameters(), tm.parameters()):
        assert_close(a.grad, b.grad, atol=1e-12)
    assert_close(em.log_prob(ember.tensor(x)), tm.log_prob(torch.tensor(x)), atol=1e-12)
    with ember.no_grad(), torch.no_grad():  # push some rows' argmax into the clusters
        em.head.weight[4:] += 0.6
        tm.head.weight[4:] += 0.6
    assert_close(em.predict(ember.tensor(x)), tm.predict(torch.tensor(x)), atol=0)
    one = em(ember.tensor(x[0]), ember.tensor(5))
    assert one.output.shape == ()
    with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 19\]"):
        em(ember.tensor(x), ember.tensor(np.array([0, 1, 2, 3, 4, 5, 20])))
    with pytest.raises(ValueError, match="cutoffs should be a sequence of unique, positive"):
        nn.AdaptiveLogSoftmaxWithLoss(16, 20, [10, 4])


@needs_torch
def test_sync_batch_norm_single_process():
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm2d(4)))
    conv = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    assert isinstance(conv[1], nn.SyncBatchNorm) and isinstance(conv[2][0], nn.SyncBatchNorm)
    assert conv[1].weight is net[1].weight
    assert repr(nn.SyncBatchNorm(4)) == repr(torch.nn.SyncBatchNorm(4))
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    em, tm = nn.SyncBatchNorm(4), torch.nn.SyncBatchNorm(4)
    assert_close(em(ember.tensor(x)), tm(torch.tensor(x)), atol=1e-5)
    assert_close(em.running_var, tm.running_var, atol=1e-6)
    with pytest.raises(ValueError, match=r"expected at least 2D input \(got 1D input\)"):
        em(ember.zeros(3))


# ---- fractional max pooling ---------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("shape,k,kw", [((2, 3, 7, 9), 2, {"output_size": (4, 5)}),
                                        ((2, 3, 7, 9), (3, 2), {"output_ratio": (0.5, 0.5)}),
                                        ((3, 8, 8), 3, {"output_size": 4}),
                                        ((2, 2, 5, 6, 7), 2, {"output_size": (3, 4, 5)})])
def test_fractional_max_pool_matches_torch(shape, k, kw):
    nd = 3 if len(shape) == 5 else 2
    name = f"fractional_max_pool{nd}d"
    x = rng.standard_normal(shape)
    samples = rng.uniform(size=(1 if len(shape) == nd + 1 else shape[0], shape[-nd - 1], nd))
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    yt, it = getattr(torch.nn.functional, name)(xt, k, return_indices=True,
                                                _random_samples=torch.tensor(samples), **kw)
    ye, ie = getattr(F, name)(xe, k, return_indices=True, _random_samples=ember.tensor(samples),
                              **kw)
    assert_close(ye, yt, atol=0)
    assert_close(ie, it, atol=0)
    g = rng.standard_normal(tuple(yt.shape))
    (yt * torch.tensor(g)).sum().backward()
    (ye * ember.tensor(g)).sum().backward()
    assert_close(xe.grad, xt.grad, atol=0)


@needs_torch
def test_fractional_max_pool_module_seeded_and_errors():
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    ember.manual_seed(0)
    torch.manual_seed(0)
    em = nn.FractionalMaxPool2d(2, output_ratio=0.5)
    tm = torch.nn.FractionalMaxPool2d(2, output_ratio=0.5)
    assert repr(em) == repr(tm) and list(em.state_dict()) == list(tm.state_dict())
    assert_close(em(ember.tensor(x)), tm(torch.tensor(x)), atol=0)  # the samples are drawn alike
    with pytest.raises(ValueError, match="FractionalMaxPool2d requires specifying either an "
                                         "output size, or a pooling ratio"):
        nn.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="output_ratio must be between 0 and 1 \\(got 1.5\\)"):
        nn.FractionalMaxPool3d(2, output_ratio=1.5)
    with pytest.raises(RuntimeError, match="pool width 3 too large relative to input width 5"):
        F.fractional_max_pool2d(ember.zeros(1, 1, 5, 5), 3, output_size=(2, 4))
