"""Losses (functional and modules) against torch: values, grads, reductions, errors, warnings."""
import warnings

import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
import ember.nn.functional as F
from ember import nn

if torch is not None:
    import torch.nn.functional as TF

RNG = np.random.default_rng(0)
N, C = 4, 5


def _data():
    """Inputs per loss: (float inputs that get grads, other args), built once per dtype."""
    r = np.random.default_rng(3)
    x = r.standard_normal((N, C))
    y = r.standard_normal((N, C))
    p = r.uniform(0.05, 0.95, (N, C))
    t01 = r.uniform(0, 1, (N, C))
    sign = np.where(r.random(N) > 0.5, 1.0, -1.0)
    sign2 = np.where(r.random((N, C)) > 0.5, 1.0, -1.0)
    cls = r.integers(0, C, N)
    ml = np.array([[3, 0, -1, 1, 2], [1, 2, 3, -1, 0], [4, -1, 0, 0, 0], [0, 1, 2, 3, 4]])
    return dict(x=x, y=y, p=p, t01=t01, sign=sign, sign2=sign2, cls=cls, ml=ml,
                v=r.uniform(0.5, 2.0, (N, C)), w=r.uniform(0.5, 2.0, C), x1=r.standard_normal(N),
                x2=r.standard_normal(N), pos=r.uniform(0.5, 3, C), lpos=r.uniform(-1, 1, (N, C)))


D = _data()
_DTYPE = [np.float64]


def _c(m, key, scale=1):
    """A constant (no-grad) input of the current test dtype; class indices stay int64."""
    a = D[key] * scale
    return m.tensor(a if a.dtype.kind == "i" else a.astype(_DTYPE[0]))

# name, fn(lib_F, lib, *float_inputs), float input keys, kwargs per reduction supported
LOSSES = [
    ("l1", lambda f, m, a, b, r: f.l1_loss(a, b, reduction=r), ["x", "y"]),
    ("mse", lambda f, m, a, b, r: f.mse_loss(a, b, reduction=r), ["x", "y"]),
    ("smooth_l1", lambda f, m, a, b, r: f.smooth_l1_loss(a, b, reduction=r, beta=0.7), ["x", "y"]),
    ("huber", lambda f, m, a, b, r: f.huber_loss(a, b, reduction=r, delta=0.7), ["x", "y"]),
    ("soft_margin", lambda f, m, a, r: f.soft_margin_loss(a, _c(m, "sign2"), reduction=r), ["x"]),
    ("bce", lambda f, m, a, b, r: f.binary_cross_entropy(a, b, reduction=r), ["p", "t01"]),
    ("bce_weight", lambda f, m, a, r: f.binary_cross_entropy(
        a, _c(m, "t01"), weight=_c(m, "w"), reduction=r), ["p"]),
    ("bce_logits", lambda f, m, a, b, r: f.binary_cross_entropy_with_logits(a, b, reduction=r),
     ["x", "t01"]),
    ("bce_logits_pw", lambda f, m, a, b, r: f.binary_cross_entropy_with_logits(
        a, b, weight=_c(m, "w"), pos_weight=_c(m, "pos"), reduction=r), ["x", "t01"]),
    ("kl_div", lambda f, m, a, b, r: f.kl_div(a, b, reduction=r), ["x", "t01"]),
    ("kl_div_log", lambda f, m, a, b, r: f.kl_div(a, b, reduction=r, log_target=True), ["x", "lpos"]),
    ("poisson", lambda f, m, a, r: f.poisson_nll_loss(a, _c(m, "v"), reduction=r), ["x"]),
    ("poisson_full", lambda f, m, a, r: f.poisson_nll_loss(
        a, _c(m, "v", 2), log_input=False, full=True, reduction=r), ["v"]),
    ("gaussian", lambda f, m, a, b, v, r: f.gaussian_nll_loss(a, b, v, reduction=r), ["x", "y", "v"]),
    ("gaussian_full", lambda f, m, a, b, v, r: f.gaussian_nll_loss(a, b, v[:, :1], full=True,
                                                                    reduction=r), ["x", "y", "v"]),
    ("margin_ranking", lambda f, m, a, b, r: f.margin_ranking_loss(
        a, b, _c(m, "sign"), margin=0.3, reduction=r), ["x1", "x2"]),
    ("hinge_embedding", lambda f, m, a, r: f.hinge_embedding_loss(
        a, _c(m, "sign2"), margin=0.8, reduction=r), ["x"]),
    ("multilabel_margin", lambda f, m, a, r: f.multilabel_margin_loss(
        a, _c(m, "ml"), reduction=r), ["x"]),
    ("multilabel_soft_margin", lambda f, m, a, r: f.multilabel_soft_margin_loss(
        a, _c(m, "t01"), weight=_c(m, "w"), reduction=r), ["x"]),
    ("multi_margin", lambda f, m, a, r: f.multi_margin_loss(a, _c(m, "cls"), reduction=r),
     ["x"]),
    ("multi_margin_p2w", lambda f, m, a, r: f.multi_margin_loss(
        a, _c(m, "cls"), p=2, margin=0.7, weight=_c(m, "w"), reduction=r), ["x"]),
    ("cosine_embedding", lambda f, m, a, b, r: f.cosine_embedding_loss(
        a, b, _c(m, "sign"), margin=0.1, reduction=r), ["x", "y"]),
    ("triplet", lambda f, m, a, b, c, r: f.triplet_margin_loss(a, b, c, margin=2.0, reduction=r),
     ["x", "y", "lpos"]),
    ("triplet_swap_p1", lambda f, m, a, b, c, r: f.triplet_margin_loss(
        a, b, c, margin=2.0, p=1, swap=True, reduction=r), ["x", "y", "lpos"]),
    ("cross_entropy", lambda f, m, a, r: f.cross_entropy(a, _c(m, "cls"), reduction=r), ["x"]),
    ("nll", lambda f, m, a, r: f.nll_loss(a, _c(m, "cls"), reduction=r), ["x"]),
]
IDS = [c[0] for c in LOSSES]


@needs_torch
@pytest.mark.parametrize("name,fn,keys", LOSSES, ids=IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_matches_torch(name, fn, keys, reduction):
    for dtype, tol in [(np.float32, 1e-5), (np.float64, 1e-10)]:
        _DTYPE[0] = dtype
        arrays = [D[k].astype(dtype) for k in keys]
        es = [ember.tensor(a, requires_grad=True) for a in arrays]
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ye = fn(F, ember, *es, reduction)
            yt = fn(TF, torch, *ts, reduction)
        assert ye.shape == tuple(yt.shape), name
        assert ye.dtype == getattr(ember, str(yt.dtype).split(".")[1])
        np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
        w = np.random.default_rng(1).standard_normal(yt.shape).astype(dtype)
        ye.backward(ember.tensor(w))
        yt.backward(torch.tensor(w))
        for e, t in zip(es, ts):
            if t.grad is None:
                assert e.grad is None or not e.grad.numpy().any()
                continue
            np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol,
                                       err_msg=name)
        if dtype == np.float64 and yt.grad_fn is not None and yt.grad_fn.name() not in OTHERS:
            assert ye.grad_fn.name() == yt.grad_fn.name()


# nodes made by ops outside nn (reported to their owner): ember's clamp_min is ClampBackward0
OTHERS = {"ClampMinBackward0"}


@pytest.mark.parametrize("name,fn,keys", [c for c in LOSSES if c[0] not in ("cross_entropy", "nll")],
                         ids=[i for i in IDS if i not in ("cross_entropy", "nll")])
def test_loss_gradcheck(name, fn, keys):
    _DTYPE[0] = np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for reduction in ("mean", "none"):
            check_grad(lambda *xs, r=reduction: fn(F, ember, *xs, r), *[D[k] for k in keys])


def test_losses_broadcast_and_scalar_inputs():
    check_grad(lambda a, b: F.mse_loss(a, b, reduction="sum"), np.array(1.5), np.array(-0.5))
    check_grad(lambda a, b: F.smooth_l1_loss(a, b), np.array(0.3), np.array(-0.1))
    with pytest.warns(UserWarning, match="Using a target size"):
        check_grad(lambda a, b: F.mse_loss(a, b), (3, 1), (3,))
    assert F.mse_loss(ember.zeros(0), ember.zeros(0), reduction="sum").item() == 0.0


@needs_torch
def test_size_mismatch_warnings_and_errors_match_torch():
    with pytest.warns(UserWarning) as we:
        F.mse_loss(ember.randn(10, 1), ember.randn(10))
    with pytest.warns(UserWarning) as wt:
        TF.mse_loss(torch.randn(10, 1), torch.randn(10))
    assert str(we[0].message) == str(wt[0].message).replace("torch.Size", "ember.Size")
    assert str(we[0].message).startswith("Using a target size (ember.Size([10])) that is different "
                                         "to the input size (ember.Size([10, 1]))")
    for name in ["l1_loss", "smooth_l1_loss", "huber_loss"]:
        with pytest.warns(UserWarning, match="Using a target size"):
            getattr(F, name)(ember.randn(3, 1), ember.randn(3))
    pairs = [
        (lambda f, m: f.binary_cross_entropy(m.rand(3), m.rand(3, 1)), ValueError),
        (lambda f, m: f.binary_cross_entropy_with_logits(m.rand(3), m.rand(3, 1)), ValueError),
        (lambda f, m: f.binary_cross_entropy(m.tensor([1.5]), m.tensor([1.0])), RuntimeError),
        (lambda f, m: f.mse_loss(m.rand(3), m.rand(3), reduction="avg"), ValueError),
        (lambda f, m: f.triplet_margin_loss(m.rand(3), m.rand(3), m.rand(3), margin=0), ValueError),
        (lambda f, m: f.multi_margin_loss(m.rand(3, 2), m.tensor([0, 1, 1]), p=3), ValueError),
        (lambda f, m: f.gaussian_nll_loss(m.rand(3, 2), m.rand(3, 2), m.rand(4)), ValueError),
        (lambda f, m: f.gaussian_nll_loss(m.rand(3), m.rand(3), -m.rand(3) - 1), ValueError),
        (lambda f, m: f.margin_ranking_loss(m.rand(3), m.rand(3, 1), m.rand(3)), RuntimeError),
    ]
    for fn, exc in pairs:
        with pytest.raises(exc) as te:
            fn(TF, torch)
        with pytest.raises(exc) as ee:
            fn(F, ember)
        assert str(ee.value) == str(te.value).replace("torch.Size", "ember.Size")


@needs_torch
def test_legacy_size_average_and_reduce():
    a, b = np.random.default_rng(0).standard_normal((2, 3, 4))
    for sa, rd in [(False, None), (None, False), (True, True), (False, True)]:
        with pytest.warns(UserWarning) as we:
            ye = F.mse_loss(ember.tensor(a), ember.tensor(b), size_average=sa, reduce=rd)
        with pytest.warns(UserWarning) as wt:
            yt = TF.mse_loss(torch.tensor(a), torch.tensor(b), size_average=sa, reduce=rd)
        assert str(we[0].message) == str(wt[0].message)
        np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-12)
        with pytest.warns(UserWarning):
            assert nn.L1Loss(size_average=sa, reduce=rd).reduction == \
                torch.nn.L1Loss(size_average=sa, reduce=rd).reduction


@needs_torch
def test_kl_div_reductions_and_warning():
    x = np.log(np.random.default_rng(0).dirichlet(np.ones(5), 4))
    t = np.random.default_rng(1).dirichlet(np.ones(5), 4)
    with pytest.warns(UserWarning, match="reduction: 'mean' divides the total loss by both"):
        F.kl_div(ember.tensor(x), ember.tensor(t))
    ye = F.kl_div(ember.tensor(x), ember.tensor(t), reduction="batchmean")
    yt = TF.kl_div(torch.tensor(x), torch.tensor(t), reduction="batchmean")
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-12)
    # zero targets contribute nothing (0 log 0 = 0)
    t0 = t.copy()
    t0[0, 0] = 0
    ye = F.kl_div(ember.tensor(x), ember.tensor(t0), reduction="sum")
    yt = TF.kl_div(torch.tensor(x), torch.tensor(t0), reduction="sum")
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-12)


@needs_torch
def test_bce_clamps_log_at_minus_100():
    x = np.array([0.0, 1.0, 0.5, 1e-50], np.float32)
    t = np.array([1.0, 0.0, 1.0, 1.0], np.float32)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye = F.binary_cross_entropy(xe, ember.tensor(t), reduction="none")
    yt = TF.binary_cross_entropy(xt, torch.tensor(t), reduction="none")
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-6)
    assert np.isfinite(ye.detach().numpy()).all()
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5)


@needs_torch
def test_bce_with_logits_is_stable_at_large_logits():
    x = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], np.float32)
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0], np.float32)
    pw = np.array([2.0], np.float32)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye = F.binary_cross_entropy_with_logits(xe, ember.tensor(t), pos_weight=ember.tensor(pw),
                                            reduction="none")
    yt = TF.binary_cross_entropy_with_logits(xt, torch.tensor(t), pos_weight=torch.tensor(pw),
                                             reduction="none")
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-30)
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


@needs_torch
def test_cross_entropy_and_log_softmax_do_not_overflow():
    x = np.array([[1e4, 0.0, -1e4], [3.0, 1e4, 2.0]], np.float32)
    y = np.array([1, 1])
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    le = F.cross_entropy(xe, ember.tensor(y))
    lt = TF.cross_entropy(xt, torch.tensor(y))
    assert np.isfinite(le.item())
    np.testing.assert_allclose(le.item(), lt.item(), rtol=1e-6)
    le.backward()
    lt.backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-6)
    np.testing.assert_allclose(F.log_softmax(ember.tensor(x), 1).numpy(),
                               TF.log_softmax(torch.tensor(x), 1).numpy(), rtol=1e-6)


def test_seed_s3_scratch_cross_entropy():
    y = ember.tensor([0, 2])
    y_hat = ember.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])

    def cross_entropy(y_hat, y):
        return -ember.log(y_hat[list(range(len(y_hat))), y]).mean()

    assert f"{cross_entropy(y_hat, y).item():.4f}" == "1.4979"
    assert f"{F.nll_loss(ember.log(y_hat), y).item():.4f}" == "1.4979"


@needs_torch
def test_loss_modules_repr_buffers_and_forward():
    w = np.array([1.0, 2.0, 0.5, 1.0, 1.0], np.float32)
    pairs = [
        (nn.L1Loss(), torch.nn.L1Loss()), (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum")),
        (nn.CrossEntropyLoss(weight=ember.tensor(w), label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1)),
        (nn.NLLLoss(), torch.nn.NLLLoss()), (nn.BCELoss(), torch.nn.BCELoss()),
        (nn.BCEWithLogitsLoss(pos_weight=ember.tensor(w)), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w))),
        (nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean")),
        (nn.PoissonNLLLoss(), torch.nn.PoissonNLLLoss()), (nn.GaussianNLLLoss(), torch.nn.GaussianNLLLoss()),
        (nn.HuberLoss(delta=0.5), torch.nn.HuberLoss(delta=0.5)), (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5)),
        (nn.SoftMarginLoss(), torch.nn.SoftMarginLoss()), (nn.MultiLabelMarginLoss(), torch.nn.MultiLabelMarginLoss()),
        (nn.MultiLabelSoftMarginLoss(), torch.nn.MultiLabelSoftMarginLoss()),
        (nn.MultiMarginLoss(), torch.nn.MultiMarginLoss()), (nn.HingeEmbeddingLoss(), torch.nn.HingeEmbeddingLoss()),
        (nn.CosineEmbeddingLoss(), torch.nn.CosineEmbeddingLoss()), (nn.MarginRankingLoss(), torch.nn.MarginRankingLoss()),
        (nn.TripletMarginLoss(), torch.nn.TripletMarginLoss()), (nn.CTCLoss(), torch.nn.CTCLoss()),
        (nn.TripletMarginWithDistanceLoss(), torch.nn.TripletMarginWithDistanceLoss()),
    ]
    for e, t in pairs:
        assert repr(e) == repr(t)
        assert list(e.state_dict()) == list(t.state_dict())
        assert e.reduction == t.reduction
    x = D["x"].astype(np.float32)
    ye = nn.CrossEntropyLoss(weight=ember.tensor(w), label_smoothing=0.1)(ember.tensor(x), ember.tensor(D["cls"]))
    yt = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1)(torch.tensor(x), torch.tensor(D["cls"]))
    np.testing.assert_allclose(ye.item(), yt.item(), rtol=1e-5)
    ye = nn.BCEWithLogitsLoss(pos_weight=ember.tensor(w))(ember.tensor(x), ember.tensor(D["t01"].astype(np.float32)))
    yt = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w))(torch.tensor(x), torch.tensor(D["t01"].astype(np.float32)))
    np.testing.assert_allclose(ye.item(), yt.item(), rtol=1e-5)


# ---- CTC ---------------------------------------------------------------------------------------------


def _ctc_case(seed=0, T=12, Nb=3, Cc=5, S=4):
    r = np.random.default_rng(seed)
    logits = r.standard_normal((T, Nb, Cc))
    targets = r.integers(1, Cc, (Nb, S))
    targets[0, 1] = targets[0, 0]  # a repeated label needs a blank between them
    il = np.array([T, T - 2, T - 5])[:Nb]
    tl = np.array([S, S - 1, 2])[:Nb]
    return logits, targets, il, tl


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("concat_targets", [False, True])
def test_ctc_loss_matches_torch(reduction, concat_targets):
    logits, targets, il, tl = _ctc_case()
    if concat_targets:
        targets = np.concatenate([targets[i, :tl[i]] for i in range(len(tl))])
    for dtype, tol in [(np.float32, 1e-4), (np.float64, 1e-9)]:
        le = ember.tensor(logits.astype(dtype), requires_grad=True)
        lt = torch.tensor(logits.astype(dtype), requires_grad=True)
        ye = F.ctc_loss(F.log_softmax(le, 2), ember.tensor(targets), ember.tensor(il),
                        ember.tensor(tl), reduction=reduction)
        yt = TF.ctc_loss(TF.log_softmax(lt, 2), torch.tensor(targets), torch.tensor(il),
                         torch.tensor(tl), reduction=reduction)
        assert ye.dtype == getattr(ember, str(yt.dtype).split(".")[1])
        np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
        ye.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(le.grad.numpy(), lt.grad.numpy(), rtol=tol, atol=tol)
    # the raw gradient w.r.t. log_probs is PyTorch's too
    lpe = ember.tensor(F.log_softmax(ember.tensor(logits), 2).numpy(), requires_grad=True)
    lpt = torch.tensor(lpe.detach().numpy(), requires_grad=True)
    F.ctc_loss(lpe, ember.tensor(targets), tuple(il), tuple(tl), reduction=reduction).sum().backward()
    TF.ctc_loss(lpt, torch.tensor(targets), tuple(il), tuple(tl), reduction=reduction).sum().backward()
    np.testing.assert_allclose(lpe.grad.numpy(), lpt.grad.numpy(), rtol=1e-9, atol=1e-9)


def test_ctc_loss_gradcheck_through_log_softmax():
    logits, targets, il, tl = _ctc_case(1, T=6, Nb=2, Cc=4, S=2)
    check_grad(lambda x: F.ctc_loss(F.log_softmax(x, 2), ember.tensor(targets), ember.tensor(il[:2] - 3),
                                    ember.tensor(tl[:2]), reduction="none"), logits)


@needs_torch
def test_ctc_loss_unbatched_impossible_and_zero_infinity():
    logits, targets, il, tl = _ctc_case()
    lp = np.log(np.exp(logits) / np.exp(logits).sum(2, keepdims=True))
    ye = F.ctc_loss(ember.tensor(lp[:, 0]), ember.tensor(targets[0]), ember.tensor(il[0]),
                    ember.tensor(tl[0]))
    yt = TF.ctc_loss(torch.tensor(lp[:, 0]), torch.tensor(targets[0]), torch.tensor(il[0]),
                     torch.tensor(tl[0]))
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-9)
    # a target longer than the input can align to: infinite loss, or 0 with zero_infinity
    short = np.array([3, 3, 3])
    for zi in (False, True):
        le = ember.tensor(lp, requires_grad=True)
        lt = torch.tensor(lp, requires_grad=True)
        ye = F.ctc_loss(le, ember.tensor(targets), ember.tensor(short), ember.tensor(tl),
                        reduction="none", zero_infinity=zi)
        yt = TF.ctc_loss(lt, torch.tensor(targets), torch.tensor(short), torch.tensor(tl),
                         reduction="none", zero_infinity=zi)
        np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-9)
        if zi:
            ye.sum().backward()
            yt.sum().backward()
            np.testing.assert_allclose(le.grad.numpy(), lt.grad.numpy(), atol=1e-9)
    with pytest.raises(RuntimeError) as te:
        TF.ctc_loss(torch.tensor(lp), torch.tensor(targets), torch.tensor(il + 1), torch.tensor(tl))
    with pytest.raises(RuntimeError) as ee:
        F.ctc_loss(ember.tensor(lp), ember.tensor(targets), ember.tensor(il + 1), ember.tensor(tl))
    assert str(ee.value) == str(te.value)
