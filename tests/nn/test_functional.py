"""Dropout, embedding, one_hot, distances, normalize and the rest of nn.functional."""
import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
import ember.nn.functional as F
from ember import nn

if torch is not None:
    import torch.nn.functional as TF


# ---- dropout -----------------------------------------------------------------------------------


def test_dropout_statistics_scaling_and_grad():
    ember.manual_seed(0)
    x = ember.ones(200, 500, requires_grad=True)
    y = F.dropout(x, 0.3)
    kept = y.detach().numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.7, rtol=1e-6)
    assert y.dtype == ember.float32 and y.grad_fn.name() == "MulBackward0"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.detach().numpy(), rtol=1e-6)  # same mask


def test_dropout_modes_and_edge_probabilities():
    x = ember.randn(10, 10)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert not F.dropout(x, 1.0).numpy().any()
    m = nn.Dropout(0.5)
    assert m.eval()(x) is x
    assert repr(m) == "Dropout(p=0.5, inplace=False)"
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got -0.1"):
        nn.Dropout(-0.1)
    z = ember.ones(1000)
    out = F.dropout(z, 0.5, inplace=True)
    assert out is z and set(np.unique(z.numpy())) <= {0.0, 2.0}


def test_feature_dropout_drops_whole_channels():
    ember.manual_seed(1)
    x = ember.ones(8, 16, 5, 5)
    y = F.dropout2d(x, 0.5).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0.2 < (per_channel[..., 0] == 0).mean() < 0.8
    y1 = F.dropout1d(ember.ones(4, 6, 7), 0.5).numpy()
    assert np.all((y1 == 0).all(-1) | (y1 == 2.0).all(-1))
    assert F.dropout1d(ember.ones(6, 7), 0.5).shape == (6, 7)
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a 4D input"):
        F.dropout1d(ember.ones(1, 2, 3, 4))
    with pytest.warns(UserWarning, match="dropout2d: Received a 3D input to dropout2d"):
        F.dropout2d(ember.ones(2, 3, 4))
    xg = ember.ones(2, 3, 4, 4, requires_grad=True)
    F.dropout3d(xg, 0.5).sum().backward()
    assert xg.grad.shape == (2, 3, 4, 4)
    for cls in (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout):
        assert repr(cls(0.2)) == f"{cls.__name__}(p=0.2, inplace=False)"


def test_alpha_dropout_keeps_selu_statistics():
    ember.manual_seed(0)
    x = ember.randn(400, 500)
    y = F.alpha_dropout(x, 0.2, training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    assert F.alpha_dropout(x, 0.2) is x  # training defaults to False
    xs = ember.randn(64, 32, 3)
    ys = F.feature_alpha_dropout(xs, 0.5, training=True).numpy()
    # a dropped channel is constant (the SELU saturation value, scaled)
    flat = ys.reshape(64, 32, 3)
    const = np.isclose(flat, flat[..., :1]).all(-1)
    assert const.mean() > 0.3
    check_grad(lambda a: F.alpha_dropout(a, 0.0, training=True), (3, 4))


# ---- embedding ----------------------------------------------------------------------------------


@needs_torch
def test_embedding_matches_torch_and_padding_gets_no_grad():
    ember.manual_seed(0)
    em = nn.Embedding(10, 3, padding_idx=1)
    tm = torch.nn.Embedding(10, 3, padding_idx=1)
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in em.state_dict().items()})
    assert repr(em) == repr(tm)
    assert not em.weight.detach().numpy()[1].any()  # the padding row starts at zero
    idx = np.array([[1, 2, 4, 1], [4, 3, 2, 9]])
    ye, yt = em(ember.tensor(idx)), tm(torch.tensor(idx))
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    g = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(em.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-6)
    assert not em.weight.grad.numpy()[1].any()
    assert ye.grad_fn.name() == yt.grad_fn.name()
    # (the padding row's gradient is zero by design, so the finite-difference check omits it)
    check_grad(lambda w: F.embedding(ember.tensor(idx), w), (10, 3))
    # scale_grad_by_freq divides by the index counts (not a true gradient): against torch
    we, wt = ember.randn(10, 3, requires_grad=True), None
    wt = torch.tensor(we.detach().numpy(), requires_grad=True)
    F.embedding(ember.tensor(idx), we, scale_grad_by_freq=True).backward(ember.tensor(g))
    TF.embedding(torch.tensor(idx), wt, scale_grad_by_freq=True).backward(torch.tensor(g))
    np.testing.assert_allclose(we.grad.numpy(), wt.grad.numpy(), rtol=1e-6)
    assert em(ember.tensor(3)).shape == (3,)


@needs_torch
def test_embedding_max_norm_from_pretrained_and_errors():
    w = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32) * 3
    we, wt = ember.tensor(w.copy()), torch.tensor(w.copy())
    idx = [0, 2, 2, 5]
    ye = F.embedding(ember.tensor(idx), we, max_norm=1.0)
    yt = TF.embedding(torch.tensor(idx), wt, max_norm=1.0)
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-5)
    np.testing.assert_allclose(we.numpy(), wt.numpy(), rtol=1e-5)  # renormalised in place
    e = nn.Embedding.from_pretrained(ember.tensor(w))
    t = torch.nn.Embedding.from_pretrained(torch.tensor(w))
    assert repr(e) == repr(t) and not e.weight.requires_grad
    assert nn.Embedding.from_pretrained(ember.tensor(w), freeze=False).weight.requires_grad
    assert repr(nn.Embedding(10, 3, max_norm=1.0, norm_type=1, scale_grad_by_freq=True)) == \
        repr(torch.nn.Embedding(10, 3, max_norm=1.0, norm_type=1, scale_grad_by_freq=True))
    for fn, exc in [
        (lambda f, m: f.embedding(m.tensor([1.0, 2.0]), m.randn(3, 2)), RuntimeError),
        (lambda f, m: f.embedding(m.tensor([1, 5]), m.randn(3, 2)), IndexError),
        (lambda f, m: f.embedding(m.tensor([1, -1]), m.randn(3, 2)), IndexError),
    ]:
        with pytest.raises(exc) as te:
            fn(TF, torch)
        with pytest.raises(exc) as ee:
            fn(F, ember)
        assert str(ee.value) == str(te.value).replace("torch.", "ember.")
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(3, 2, padding_idx=3)
    init_stats = nn.Embedding(1000, 50).weight.detach().numpy()
    assert abs(init_stats.mean()) < 0.02 and abs(init_stats.std() - 1) < 0.02  # N(0, 1)


# ---- one_hot, distances, normalize --------------------------------------------------------------


@needs_torch
def test_one_hot_matches_torch():
    for args in [([2, 0, 1],), ([[1, 3], [0, 0]], 5), ([], 3)]:
        e = F.one_hot(ember.tensor(args[0], dtype=ember.int64), *args[1:])
        t = TF.one_hot(torch.tensor(args[0], dtype=torch.int64), *args[1:])
        assert e.dtype == ember.int64 and e.shape == tuple(t.shape)
        np.testing.assert_array_equal(e.numpy(), t.numpy())
    for fn in [lambda f, m: f.one_hot(m.tensor([1.0, 2.0])),
               lambda f, m: f.one_hot(m.tensor([1, -2])),
               lambda f, m: f.one_hot(m.tensor([1, 5]), 3),
               lambda f, m: f.one_hot(m.tensor([], dtype=m.long))]:
        with pytest.raises(RuntimeError) as te:
            fn(TF, torch)
        with pytest.raises(RuntimeError) as ee:
            fn(F, ember)
        assert str(ee.value) == str(te.value)


@needs_torch
@pytest.mark.parametrize("name,args,kwargs", [
    ("cosine_similarity", [(4, 5), (4, 5)], {}),
    ("cosine_similarity", [(4, 5), (1, 5)], {"dim": 1, "eps": 1e-6}),
    ("cosine_similarity", [(3, 4, 2), (3, 4, 2)], {"dim": -1}),
    ("pairwise_distance", [(4, 5), (4, 5)], {}),
    ("pairwise_distance", [(4, 5), (4, 5)], {"p": 1.0, "keepdim": True}),
    ("pairwise_distance", [(5,), (5,)], {"p": 3.0}),
    ("normalize", [(4, 5)], {}),
    ("normalize", [(4, 5)], {"p": 1.0, "dim": 0}),
    ("pdist", [(5, 3)], {}),
])
def test_distances_match_torch(name, args, kwargs):
    r = np.random.default_rng(0)
    arrays = [r.standard_normal(s) for s in args]
    es = [ember.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ye, yt = getattr(F, name)(*es, **kwargs), getattr(TF, name)(*ts, **kwargs)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-10)
    ye.sum().backward()
    yt.sum().backward()
    for e, t in zip(es, ts):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-10)
    check_grad(lambda *xs: getattr(F, name)(*xs, **kwargs), *arrays)


@needs_torch
def test_cosine_similarity_eps_clamps_small_norms():
    a = np.array([[1e-10, 0.0], [3.0, 4.0]])
    b = np.array([[1.0, 0.0], [4.0, 3.0]])
    ye = F.cosine_similarity(ember.tensor(a), ember.tensor(b))
    yt = TF.cosine_similarity(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-12)
    assert repr(nn.CosineSimilarity()) == repr(torch.nn.CosineSimilarity())
    assert repr(nn.PairwiseDistance()) == repr(torch.nn.PairwiseDistance())


def test_functional_namespace_has_the_kernels():
    for name in ["log_softmax", "softmax", "cross_entropy", "nll_loss", "conv1d", "conv2d",
                 "conv_transpose2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
                 "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
                 "interpolate", "pad", "unfold", "fold", "linear", "bilinear", "relu", "gelu",
                 "dropout", "embedding", "one_hot", "batch_norm", "layer_norm", "group_norm",
                 "mse_loss", "ctc_loss", "normalize"]:
        assert callable(getattr(F, name)), name


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_dropout_masks_equal_torch_after_same_seed(p):
    torch = pytest.importorskip("torch")
    import ember

    got, want = [], []
    for mod, out in ((ember, got), (torch, want)):
        mod.manual_seed(3)
        out.append(mod.nn.functional.dropout(mod.ones(4, 6), p).numpy())
        out.append(mod.nn.functional.dropout2d(mod.ones(2, 3, 4, 4), p).numpy())
        out.append(mod.nn.Dropout(p)(mod.ones(50)).numpy())
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
