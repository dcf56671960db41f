"""TransformerEncoder/Decoder(Layer) and Transformer against PyTorch: init, keys, values, grads."""
import warnings

import numpy as np
import pytest
from helpers import assert_close, needs_torch, torch

import ember
import ember.nn.functional as F
from ember import nn

D, H, FF = 8, 2, 16
pytestmark = [pytest.mark.filterwarnings("ignore:Support for mismatched"),
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
              pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")]


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _build(lib, kind, seed=0, **kw):
    """The same small model built by ember or torch (``lib`` is the nn package)."""
    lib_root = ember if lib is nn else torch
    lib_root.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # enable_nested_tensor notices
        if kind == "enc_layer":
            return lib.TransformerEncoderLayer(D, H, FF, **kw)
        if kind == "dec_layer":
            return lib.TransformerDecoderLayer(D, H, FF, **kw)
        if kind == "encoder":
            return lib.TransformerEncoder(lib.TransformerEncoderLayer(D, H, FF, **kw), 2,
                                          lib.LayerNorm(D))
        if kind == "decoder":
            return lib.TransformerDecoder(lib.TransformerDecoderLayer(D, H, FF, **kw), 2,
                                          lib.LayerNorm(D))
        return lib.Transformer(D, H, 2, 1, FF, **kw)


KINDS = ["enc_layer", "dec_layer", "encoder", "decoder", "transformer"]


@needs_torch
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("kw", [{}, {"bias": False, "norm_first": True, "activation": "gelu"}])
def test_seeded_init_keys_and_repr_match_torch(kind, kw):
    em, tm = _build(nn, kind, 5, **kw), _build(torch.nn, kind, 5, **kw)
    es, ts = em.state_dict(), tm.state_dict()
    assert list(es) == list(ts)
    for name in ts:
        np.testing.assert_array_equal(es[name].numpy(), ts[name].numpy(), err_msg=name)
    assert repr(em) == repr(tm)


def test_encoder_layers_start_equal():
    enc = _build(nn, "encoder")
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert a is not b
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def _load(em, tm):
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def _inputs(kind, batch_first, batched=True):
    S, T, N = 5, 4, 2

    def shape(n):
        if not batched:
            return (n, D)
        return (N, n, D) if batch_first else (n, N, D)
    src, tgt = _rand(*shape(S), seed=1), _rand(*shape(T), seed=2)
    if kind in ("enc_layer", "encoder"):
        return [src]
    return [tgt, src] if kind in ("dec_layer", "decoder") else [src, tgt]


def _masks(kind, batched=True):
    """Masks of every kind each module takes, as NumPy arrays."""
    S, T = 5, 4
    pad_s = np.zeros((2, S), bool)
    pad_s[1, 3:] = True
    pad_t = np.zeros((2, T), bool)
    pad_t[0, 3] = True
    if not batched:
        pad_s, pad_t = pad_s[1], pad_t[0]
    causal = np.triu(np.full((T, T), -np.inf, np.float32), 1)
    mem = np.random.default_rng(3).standard_normal((T, S)).astype(np.float32)
    if kind == "enc_layer":
        return {"src_mask": np.triu(np.ones((S, S), bool), 1), "src_key_padding_mask": pad_s}
    if kind == "encoder":
        return {"mask": np.triu(np.full((S, S), -np.inf, np.float32), 1),
                "src_key_padding_mask": pad_s.astype(np.float32) * -1e9}
    if kind in ("dec_layer", "decoder"):
        return {"tgt_mask": causal, "memory_mask": mem, "tgt_key_padding_mask": pad_t,
                "memory_key_padding_mask": pad_s}
    return {"tgt_mask": causal, "src_key_padding_mask": pad_s, "tgt_key_padding_mask": pad_t,
            "memory_key_padding_mask": pad_s}


def _run(em, tm, kind, batch_first, masks, batched=True, atol=1e-5):
    xs = _inputs(kind, batch_first, batched)
    ein = [ember.tensor(x, requires_grad=True) for x in xs]
    tin = [torch.tensor(x, requires_grad=True) for x in xs]
    oe = em(*ein, **{k: ember.tensor(v) for k, v in masks.items()})
    ot = tm(*tin, **{k: torch.tensor(v) for k, v in masks.items()})
    assert_close(oe, ot, atol=atol)
    g = _rand(*ot.shape, seed=8)
    oe.backward(ember.tensor(g))
    ot.backward(torch.tensor(g))
    for a, b in zip(ein, tin):
        assert_close(a.grad, b.grad, atol=atol)
    tp = dict(tm.named_parameters())
    for name, p in em.named_parameters():
        assert_close(p.grad, tp[name].grad, atol=1e-4, rtol=1e-4)


@needs_torch
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_masks", [False, True])
@pytest.mark.parametrize("kw", [{}, {"norm_first": True, "activation": "gelu"},
                                {"bias": False, "layer_norm_eps": 1e-3}])
def test_loaded_state_dict_gives_torch_values_and_grads(kind, batch_first, with_masks, kw):
    em = _build(nn, kind, batch_first=batch_first, **kw).eval()
    tm = _build(torch.nn, kind, batch_first=batch_first, **kw).eval()
    em2 = _build(nn, kind, seed=1, batch_first=batch_first, **kw)
    _load(em2, tm)  # a torch checkpoint into a differently seeded ember model
    _load(em, tm)
    _run(em, tm, kind, batch_first, _masks(kind) if with_masks else {})


@needs_torch
@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_matches_torch(kind):
    em, tm = _build(nn, kind).eval(), _build(torch.nn, kind).eval()
    _load(em, tm)
    _run(em, tm, kind, False, _masks(kind, batched=False), batched=False)


@needs_torch
def test_callable_activation_and_causal_flags():
    kw = {"activation": torch.nn.functional.silu}
    tm = _build(torch.nn, "transformer", batch_first=True, **kw).eval()
    em = _build(nn, "transformer", batch_first=True, activation=F.silu).eval()
    _load(em, tm)
    src, tgt = _inputs("transformer", True)
    mask = np.triu(np.full((4, 4), -np.inf, np.float32), 1)
    oe = em(ember.tensor(src), ember.tensor(tgt), tgt_mask=ember.tensor(mask), tgt_is_causal=True)
    ot = tm(torch.tensor(src), torch.tensor(tgt), tgt_mask=torch.tensor(mask), tgt_is_causal=True)
    assert_close(oe, ot, atol=1e-5)


@needs_torch
@pytest.mark.parametrize("kind", KINDS)
def test_inference_fast_paths_match_torch(kind):
    # eval + no_grad + batch_first: PyTorch takes its fused kernels (and nested tensors in the
    # encoder, which leave padded positions 0 before the final norm)
    em = _build(nn, kind, batch_first=True).eval()
    tm = _build(torch.nn, kind, batch_first=True).eval()
    _load(em, tm)
    masks = _masks(kind)
    if kind == "encoder":
        masks = {"src_key_padding_mask": masks["src_key_padding_mask"] != 0}
    xs = _inputs(kind, True)
    with ember.no_grad():
        oe = em(*map(ember.tensor, xs), **{k: ember.tensor(v) for k, v in masks.items()})
    with torch.no_grad():
        ot = tm(*map(torch.tensor, xs), **{k: torch.tensor(v) for k, v in masks.items()})
    assert_close(oe, ot, atol=1e-5)


@needs_torch
def test_training_steps_match_torch():
    def parts(lib):
        layer = lib.TransformerEncoderLayer(D, H, FF, dropout=0.0, batch_first=True)
        return (lib.Embedding(11, D), lib.TransformerEncoder(layer, 2, enable_nested_tensor=False),
                lib.Linear(D, 11))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.enc, self.head = parts(torch.nn)

        def forward(self, x, mask):
            return self.head(self.enc(self.emb(x), mask=mask, is_causal=True))

    class EModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.enc, self.head = parts(nn)

        forward = Model.forward

    torch.manual_seed(0)
    tm = Model()
    em = EModel()
    _load(em, tm)
    topt = torch.optim.AdamW(tm.parameters(), lr=1e-2)
    eopt = ember.optim.AdamW(em.parameters(), lr=1e-2)
    x = np.random.default_rng(0).integers(0, 11, (4, 6))
    y = np.random.default_rng(1).integers(0, 11, (4, 6))
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(6)
    emask = nn.Transformer.generate_square_subsequent_mask(6)
    losses = []
    for _ in range(4):
        lt = torch.nn.functional.cross_entropy(tm(torch.tensor(x), tmask).reshape(-1, 11),
                                               torch.tensor(y).reshape(-1))
        le = F.cross_entropy(em(ember.tensor(x), emask).reshape(-1, 11),
                             ember.tensor(y).reshape(-1))
        for opt, loss in ((topt, lt), (eopt, le)):
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses.append((le.item(), lt.item()))
    e, t = np.array(losses).T
    np.testing.assert_allclose(e, t, rtol=1e-5)
    assert e[-1] < e[0]


@needs_torch
def test_generate_square_subsequent_mask():
    for dtype in (None, "float64"):
        e = nn.Transformer.generate_square_subsequent_mask(
            4, dtype=None if dtype is None else ember.float64)
        t = torch.nn.Transformer.generate_square_subsequent_mask(
            4, dtype=None if dtype is None else torch.float64)
        assert_close(e, t)


@needs_torch
def test_nested_tensor_warning_matches_torch():
    with pytest.warns(UserWarning) as rec:
        nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF), 1)
    with pytest.warns(UserWarning) as trec:
        torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, H, FF), 1)
    assert str(rec[0].message) == str(trec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF, batch_first=True), 1)
        assert enc.use_nested_tensor
        nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF), 1, enable_nested_tensor=False)


def test_errors():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(D, H, activation="tanh")
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.TransformerDecoderLayer(D, 3)
    m = nn.Transformer(D, H, 1, 1, FF)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        m(ember.randn(5, 2, D), ember.randn(4, 3, D))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to "
                                           "d_model"):
        m(ember.randn(5, 2, D), ember.randn(4, 2, D + 1))
    layer = nn.TransformerEncoderLayer(D, H, FF)
    with pytest.raises(RuntimeError, match="The shape of the 2D attn_mask"):
        layer(ember.randn(5, 2, D), src_mask=ember.zeros(4, 4))


def test_custom_encoder_decoder():
    class Enc(nn.Module):
        def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
            return src * 2

    enc, dec = Enc(), nn.TransformerDecoder(nn.TransformerDecoderLayer(D, H, FF), 1)
    m = nn.Transformer(D, H, custom_encoder=enc, custom_decoder=dec)
    assert m.encoder is enc and m.decoder is dec
    assert m(ember.randn(5, 2, D), ember.randn(4, 2, D)).shape == (4, 2, D)
