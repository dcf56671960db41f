"""scaled_dot_product_attention, multi_head_attention_forward, MultiheadAttention, RMSNorm."""
import warnings

import numpy as np
import pytest
from helpers import assert_close, check_grad, needs_torch, torch

import ember
import ember.nn.functional as F
from ember import nn


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _pair(a, requires_grad=False):
    """The same values as an ember and a torch tensor."""
    return (ember.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def _load(em, tm):
    """torch's parameters into the ember module: PyTorch checkpoints load key for key."""
    sd = {k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()}
    assert list(sd) == list(em.state_dict())
    em.load_state_dict(sd)


# ---- scaled_dot_product_attention ------------------------------------------------------------


def _masks(L, S):
    keep = np.random.default_rng(5).random((L, S)) > 0.3
    keep[1] = False  # a fully masked row: PyTorch gives 0 there, not NaN
    return {"none": None, "bool": keep, "float": _rand(2, 1, L, S, seed=6),
            "bool_4d": np.broadcast_to(keep, (2, 4, L, S)).copy()}


@needs_torch
@pytest.mark.parametrize("mask", ["none", "bool", "float", "bool_4d"])
@pytest.mark.parametrize("kw", [{}, {"scale": 0.3}, {"is_causal": True}])
@pytest.mark.parametrize("shape", [(3, 5), (4, 3, 5), (2, 4, 3, 5)])
def test_sdpa_matches_torch(mask, kw, shape):
    L, S = 3, 5
    lead = shape[:-2]
    m = _masks(L, S)[mask]
    if m is not None and m.ndim > len(lead) + 2:
        pytest.skip("mask of more dims than the inputs")
    if kw.get("is_causal") and m is not None and len(lead) != 2:
        pytest.skip("PyTorch's math path refuses a mask with is_causal (tested below)")
    qe, qt = _pair(_rand(*lead, L, 8, seed=1), True)
    ke, kt = _pair(_rand(*lead, S, 8, seed=2), True)
    ve, vt = _pair(_rand(*lead, S, 6 if not kw.get("is_causal") else 8, seed=3), True)
    me, mt = (None, None) if m is None else _pair(m)
    oe = F.scaled_dot_product_attention(qe, ke, ve, attn_mask=me, **kw)
    ot = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt, **kw)
    assert_close(oe, ot, atol=1e-5)
    g = _rand(*ot.shape, seed=4)
    oe.backward(ember.tensor(g))
    ot.backward(torch.tensor(g))
    for a, b in ((qe, qt), (ke, kt), (ve, vt)):
        assert_close(a.grad, b.grad, atol=1e-5)


@needs_torch
def test_sdpa_gqa_and_float_mask_grad():
    qe, qt = _pair(_rand(2, 4, 3, 8, seed=1), True)
    ke, kt = _pair(_rand(2, 2, 5, 8, seed=2), True)
    ve, vt = _pair(_rand(2, 1, 5, 8, seed=3), True)
    me, mt = _pair(_rand(3, 5, seed=4), True)
    oe = F.scaled_dot_product_attention(qe, ke, ve, attn_mask=me, enable_gqa=True)
    ot = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=mt,
                                                          enable_gqa=True)
    assert_close(oe, ot, atol=1e-5)
    oe.sum().backward()
    ot.sum().backward()
    for a, b in ((qe, qt), (ke, kt), (ve, vt), (me, mt)):
        assert_close(a.grad, b.grad, atol=1e-5)


@needs_torch
def test_sdpa_mask_and_causal_as_torch():
    # PyTorch's CPU kernel for 4-D inputs applies both; its math path (3-D, dropout) refuses
    keep = _masks(3, 5)["bool"]
    q, k = _rand(2, 4, 3, 8, seed=1), _rand(2, 4, 5, 8, seed=2)
    oe = F.scaled_dot_product_attention(*_pair(q)[:1], ember.tensor(k), ember.tensor(k),
                                        attn_mask=ember.tensor(keep), is_causal=True)
    ot = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(k), attn_mask=torch.tensor(keep),
        is_causal=True)
    assert_close(oe, ot, atol=1e-5)
    msg = "Explicit attn_mask should not be set when is_causal=True"
    with pytest.raises(RuntimeError, match=msg):
        F.scaled_dot_product_attention(ember.tensor(q[0]), ember.tensor(k[0]), ember.tensor(k[0]),
                                       attn_mask=ember.tensor(keep), is_causal=True)
    with pytest.raises(RuntimeError, match=msg):
        F.scaled_dot_product_attention(ember.tensor(q), ember.tensor(k), ember.tensor(k),
                                       attn_mask=ember.tensor(keep), is_causal=True, dropout_p=0.5)


@needs_torch
def test_sdpa_dropout_uses_torch_stream():
    q, k, v = _rand(2, 2, 4, 8, seed=1), _rand(2, 2, 6, 8, seed=2), _rand(2, 2, 6, 8, seed=3)
    torch.manual_seed(7)
    ot = torch.nn.functional.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)),
                                                          dropout_p=0.4, is_causal=True)
    ember.manual_seed(7)
    oe = F.scaled_dot_product_attention(*map(ember.tensor, (q, k, v)), dropout_p=0.4,
                                        is_causal=True)
    assert_close(oe, ot, atol=1e-5)


def test_sdpa_fully_masked_rows_are_zero_with_zero_grad():
    q = ember.tensor(_rand(1, 3, 4), requires_grad=True)
    k = ember.tensor(_rand(1, 5, 4, seed=1))
    keep = np.ones((3, 5), bool)
    keep[0] = False
    out = F.scaled_dot_product_attention(q, k, k, attn_mask=ember.tensor(keep))
    assert np.all(out.detach().numpy()[0, 0] == 0)
    out.sum().backward()
    assert np.all(q.grad.numpy()[0, 0] == 0) and np.isfinite(q.grad.numpy()).all()


@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_gradcheck(causal):
    mask = np.random.default_rng(1).standard_normal((3, 4))
    check_grad(lambda q, k, v, m: F.scaled_dot_product_attention(
        q, k, v, attn_mask=None if causal else m, is_causal=causal),
        (2, 3, 5), (2, 4, 5), (2, 4, 3), mask)


def test_sdpa_keeps_float32():
    q = ember.randn(2, 3, 4)
    out = F.scaled_dot_product_attention(q, q, q, attn_mask=ember.ones(3, 3, dtype=ember.bool))
    assert out.dtype == ember.float32


def test_sdpa_errors():
    q = ember.randn(2, 4, 3, 8)
    with pytest.raises(RuntimeError, match="at least 2 dimensional"):
        F.scaled_dot_product_attention(q[0, 0, 0], q[0, 0, 0], q[0, 0, 0])
    with pytest.raises(RuntimeError, match="same dtype"):
        F.scaled_dot_product_attention(q, q.double(), q)
    with pytest.raises(RuntimeError, match="Expected attn_mask dtype to be bool or float"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ember.ones(3, 3, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="must match the size"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ember.ones(3, 4, dtype=ember.bool))
    with pytest.raises(RuntimeError, match="Number of heads in key and value must divide"):
        F.scaled_dot_product_attention(q, q[:, :3], q[:, :3], enable_gqa=True)
    with pytest.raises(RuntimeError):  # 4 query heads against 2 key heads without enable_gqa
        F.scaled_dot_product_attention(q, q[:, :2], q[:, :2])
    with pytest.raises(RuntimeError, match="dropout probability has to be between 0 and 1"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Long"):
        F.scaled_dot_product_attention(q.long(), q.long(), q.long())


# ---- MultiheadAttention -----------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"add_bias_kv": True},
                                {"add_zero_attn": True}, {"kdim": 5, "vdim": 3}])
def test_mha_seeded_init_and_repr_match_torch(kw):
    torch.manual_seed(3)
    tm = torch.nn.MultiheadAttention(8, 2, **kw)
    ember.manual_seed(3)
    em = nn.MultiheadAttention(8, 2, **kw)
    ts, es = tm.state_dict(), em.state_dict()
    assert list(ts) == list(es)
    for name in ts:
        np.testing.assert_array_equal(es[name].numpy(), ts[name].numpy(), err_msg=name)
    assert repr(em) == repr(tm)
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]


def _mha_case(kw, batch_first, batched=True, kv_same=False, self_attn=False):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first, **kw)
    em = nn.MultiheadAttention(8, 2, batch_first=batch_first, **kw)
    _load(em, tm)
    L, S, N = 3, 4, 2
    lead = (lambda n: (N, n) if batch_first else (n, N)) if batched else (lambda n: (n,))
    q = _rand(*lead(L), 8, seed=1)
    k = _rand(*lead(S), kw.get("kdim", 8), seed=2)
    v = _rand(*lead(S), kw.get("vdim", 8), seed=3)
    qe, qt = _pair(q, True)
    if self_attn:
        return em, tm, (qe, qe, qe), (qt, qt, qt)
    ke, kt = _pair(k, True)
    if kv_same:
        return em, tm, (qe, ke, ke), (qt, kt, kt)
    ve, vt = _pair(v, True)
    return em, tm, (qe, ke, ve), (qt, kt, vt)


def _compare_mha(em, tm, ein, tin, atol=1e-5, **fkw):
    fe = {k: (ember.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in fkw.items()}
    ft = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in fkw.items()}
    oe, we = em(*ein, **fe)
    ot, wt = tm(*tin, **ft)
    assert_close(oe, ot, atol=atol)
    if wt is None:
        assert we is None
    else:
        assert_close(we, wt, atol=atol)
    g = _rand(*ot.shape, seed=9)
    oe.backward(ember.tensor(g))
    ot.backward(torch.tensor(g))
    for a, b in zip(ein, tin):
        assert_close(a.grad, b.grad, atol=atol)
    tp = dict(tm.named_parameters())
    for name, p in em.named_parameters():
        assert_close(p.grad, tp[name].grad, atol=1e-4, rtol=1e-4)


@needs_torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kw", [{}, {"kdim": 5, "vdim": 3}, {"add_bias_kv": True},
                                {"add_zero_attn": True}, {"bias": False}])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_matches_torch(batch_first, kw, need_weights, average):
    em, tm, ein, tin = _mha_case(kw, batch_first)
    _compare_mha(em, tm, ein, tin, need_weights=need_weights, average_attn_weights=average)


@needs_torch
@pytest.mark.parametrize("which", ["self", "kv_same"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_shared_inputs_match_torch(which, batch_first):
    em, tm, ein, tin = _mha_case({}, batch_first, self_attn=which == "self",
                                 kv_same=which == "kv_same")
    _compare_mha(em, tm, ein, tin)


@needs_torch
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("mask_kind", ["bool", "float"])
def test_mha_masks_match_torch(need_weights, mask_kind):
    em, tm, ein, tin = _mha_case({}, True)
    rng = np.random.default_rng(4)
    pad = np.zeros((2, 4), bool)
    pad[0, 3] = pad[1, 2:] = True
    attn = rng.random((3, 4)) > 0.7
    attn[:, 0] = False  # every query keeps one key
    if mask_kind == "float":
        pad = np.where(pad, -np.inf, 0).astype(np.float32)
        attn = np.where(attn, -np.inf, rng.standard_normal((3, 4))).astype(np.float32)
    _compare_mha(em, tm, ein, tin, key_padding_mask=pad, attn_mask=attn,
                 need_weights=need_weights)
    attn3 = np.broadcast_to(attn, (4, 3, 4)).copy()  # (N * num_heads, L, S)
    em.zero_grad(), tm.zero_grad()
    for t in (*ein, *tin):
        t.grad = None
    _compare_mha(em, tm, ein, tin, attn_mask=attn3, need_weights=need_weights)


@needs_torch
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_causal_hint_matches_torch(need_weights):
    em, tm, ein, tin = _mha_case({}, False, self_attn=True)
    causal = np.triu(np.full((3, 3), -np.inf, np.float32), 1)
    _compare_mha(em, tm, ein, tin, attn_mask=causal, is_causal=True, need_weights=need_weights)


@needs_torch
@pytest.mark.parametrize("kw", [{}, {"add_bias_kv": True, "add_zero_attn": True}])
def test_mha_unbatched_matches_torch(kw):
    em, tm, ein, tin = _mha_case(kw, True, batched=False)
    pad = np.array([False, False, True, False])
    _compare_mha(em, tm, ein, tin, key_padding_mask=pad)


@needs_torch
def test_mha_dropout_matches_torch_in_training():
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, dropout=0.3)
    em = nn.MultiheadAttention(8, 2, dropout=0.3)
    _load(em, tm)
    x = _rand(3, 2, 8)
    for need_weights in (True, False):
        torch.manual_seed(11)
        ot, _ = tm(*[torch.tensor(x)] * 3, need_weights=need_weights)
        ember.manual_seed(11)
        oe, _ = em(*[ember.tensor(x)] * 3, need_weights=need_weights)
        assert_close(oe, ot, atol=1e-5)
    em.eval()
    xe = ember.tensor(x)
    np.testing.assert_array_equal(em(xe, xe, xe)[0].detach().numpy(),
                                  em(xe, xe, xe)[0].detach().numpy())


def test_mha_errors():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0"):
        nn.MultiheadAttention(0, 2)
    m = nn.MultiheadAttention(8, 2)
    x = ember.randn(3, 2, 8)
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is .*\[3, 4\]\), but "
                                           r"should be \(3, 3\)"):
        m(x, x, x, attn_mask=ember.zeros(3, 4))
    with pytest.raises(RuntimeError, match="The shape of the 3D attn_mask"):
        m(x, x, x, attn_mask=ember.zeros(2, 3, 3))
    with pytest.raises(AssertionError, match="expected `attn_mask` to be `None`, 2-D or 3-D"):
        m(x, x, x, attn_mask=ember.zeros(1, 4, 3, 3))
    with pytest.raises(AssertionError, match=r"Expected key_padded_mask.shape\[1\] to be 3"):
        m(x, x, x, key_padding_mask=ember.zeros(2, 4, dtype=ember.bool))
    with pytest.raises(AssertionError, match="expected `key` and `value` to be 3-D"):
        m(x, x[0], x[0])
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 8, but got 6"):
        m(x[..., :6], x[..., :6], x[..., :6])
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(AssertionError, match="only bool and floating types of attn_mask"):
        m(x, x, x, attn_mask=ember.zeros(3, 3, dtype=ember.int64))


def test_mha_warns_on_mismatched_masks():
    m = nn.MultiheadAttention(8, 2)
    x = ember.randn(3, 2, 8)
    with pytest.warns(UserWarning, match="Support for mismatched key_padding_mask and attn_mask"):
        m(x, x, x, key_padding_mask=ember.zeros(2, 3, dtype=ember.bool),
          attn_mask=ember.zeros(3, 3))


def test_mha_functional_is_reachable():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = nn.MultiheadAttention(4, 1)
    x = ember.randn(2, 1, 4)
    out, w = F.multi_head_attention_forward(
        x, x, x, 4, 1, m.in_proj_weight, m.in_proj_bias, None, None, False, 0.0,
        m.out_proj.weight, m.out_proj.bias)
    assert out.shape == (2, 1, 4) and w.shape == (1, 2, 2)
    np.testing.assert_allclose(w.sum(-1).detach().numpy(), 1, rtol=1e-6)


# ---- RMSNorm ----------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("shape,normalized", [((3, 4), 4), ((2, 3, 4), (3, 4))])
@pytest.mark.parametrize("eps", [None, 1e-3])
@pytest.mark.parametrize("affine", [True, False])
def test_rmsnorm_matches_torch(shape, normalized, eps, affine):
    em = nn.RMSNorm(normalized, eps=eps, elementwise_affine=affine)
    tm = torch.nn.RMSNorm(normalized, eps=eps, elementwise_affine=affine)
    assert repr(em) == repr(tm)
    assert list(em.state_dict()) == list(tm.state_dict())
    if affine:
        w = _rand(*em.weight.shape, seed=3)
        em.load_state_dict({"weight": ember.tensor(w)})
        tm.load_state_dict({"weight": torch.tensor(w)})
    xe, xt = _pair(_rand(*shape), True)
    assert_close(em(xe), tm(xt), atol=1e-5)
    em(xe).sum().backward()
    tm(xt).sum().backward()
    assert_close(xe.grad, xt.grad, atol=1e-5)
    if affine:
        assert_close(em.weight.grad, tm.weight.grad, atol=1e-5)


def test_rms_norm_gradcheck_and_errors():
    check_grad(lambda x, w: F.rms_norm(x, (4,), w, 1e-5), (3, 4), (4,))
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[5\]"):
        F.rms_norm(ember.randn(3, 4), (5,))


@needs_torch
def test_mha_functional_static_kv_matches_torch():
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2)
    em = nn.MultiheadAttention(8, 2)
    _load(em, tm)
    q, sk, sv = _rand(3, 2, 8), _rand(4, 5, 4, seed=1), _rand(4, 5, 4, seed=2)

    def run(mod, lib, fn):
        p = dict(mod.named_parameters())
        return fn(lib.tensor(q), lib.tensor(q), lib.tensor(q), 8, 2, p["in_proj_weight"],
                  p["in_proj_bias"], None, None, False, 0.0, p["out_proj.weight"],
                  p["out_proj.bias"], static_k=lib.tensor(sk), static_v=lib.tensor(sv))
    oe, we = run(em, ember, F.multi_head_attention_forward)
    ot, wt = run(tm, torch, torch.nn.functional.multi_head_attention_forward)
    assert_close(oe, ot, atol=1e-5)
    assert_close(we, wt, atol=1e-5)


@needs_torch
def test_mha_float64_matches_torch():
    tm = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64, batch_first=True)
    em = nn.MultiheadAttention(8, 2, dtype=ember.float64, batch_first=True)
    _load(em, tm)
    x = np.random.default_rng(0).standard_normal((2, 3, 8))
    pad = np.array([[False, False, True], [False, False, False]])
    oe, we = em(*[ember.tensor(x)] * 3, key_padding_mask=ember.tensor(pad))
    ot, wt = tm(*[torch.tensor(x)] * 3, key_padding_mask=torch.tensor(pad))
    assert oe.dtype == ember.float64 and we.dtype == ember.float64
    assert_close(oe, ot, atol=1e-12)
    assert_close(we, wt, atol=1e-12)


def test_sdpa_scale_and_gqa_are_keyword_only():
    q = ember.randn(1, 2, 3, 4)
    with pytest.raises(TypeError):
        F.scaled_dot_product_attention(q, q, q, None, 0.0, False, 0.5)
