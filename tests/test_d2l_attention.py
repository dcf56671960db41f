"""ember.d2l, chapter 11: masked softmax, attention scorers, multi-head attention, the Transformer.

Expected numbers are the ones d2l 1.0.3 on PyTorch 2.13 prints for the same calls; the
multi-head attention is also checked against PyTorch's own nn.MultiheadAttention.
"""
import math
import os

import numpy as np
import pytest

import ember as torch
from ember import d2l, nn

DATA = os.environ.get("EMBER_DATA", "/work/shared/data")
needs_fra_eng = pytest.mark.skipif(not os.path.isfile(os.path.join(DATA, "d2l", "fra-eng.zip")),
                                   reason="needs $EMBER_DATA/d2l/fra-eng.zip")

SCORES = [[[1., 2, 3, 4], [4, 3, 2, 1]], [[0., 0, 0, 0], [1, 1, 2, 2]]]


# ---- masked softmax ------------------------------------------------------------------------------
def test_masked_softmax_one_length_per_example():
    out = d2l.masked_softmax(torch.tensor(SCORES), torch.tensor([2, 3]))
    np.testing.assert_allclose(out.numpy(), [
        [[0.2689414322376251, 0.7310585975646973, 0, 0],
         [0.7310585975646973, 0.2689414322376251, 0, 0]],
        [[1 / 3, 1 / 3, 1 / 3, 0], [0.21194155514240265, 0.21194155514240265, 0.5761168599128723,
                                    0]]], rtol=1e-6, atol=0)


def test_masked_softmax_one_length_per_query():
    out = d2l.masked_softmax(torch.tensor(SCORES), torch.tensor([[1, 3], [2, 4]]))
    np.testing.assert_allclose(out.numpy(), [
        [[1, 0, 0, 0], [0.6652409434318542, 0.2447284758090973, 0.09003057330846786, 0]],
        [[0.5, 0.5, 0, 0], [0.13447071611881256, 0.13447071611881256, 0.36552929878234863,
                            0.36552929878234863]]], rtol=1e-6, atol=0)


def test_masked_softmax_edge_cases_and_errors():
    X = torch.rand(2, 2, 4)
    assert torch.allclose(d2l.masked_softmax(X, None), nn.functional.softmax(X, dim=-1))
    # no valid key: uniform weights (a -1e6 score everywhere), as in d2l -- not NaN
    uniform = d2l.masked_softmax(torch.tensor([[[1., 2, 3]]]), torch.tensor([0]))
    np.testing.assert_allclose(uniform.numpy(), np.full((1, 1, 3), 1 / 3), rtol=1e-6)
    # float lengths work too; the input is left untouched
    before = X.clone()
    out = d2l.masked_softmax(X, torch.tensor([1.0, 4.0]))
    assert torch.equal(X, before) and (out[0, :, 1:] == 0).all()
    with pytest.raises(ValueError, match=r"valid_lens of shape \(3,\) does not fit"):
        d2l.masked_softmax(X, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="does not fit"):
        d2l.masked_softmax(X, torch.tensor([[1, 2, 3], [1, 2, 3]]))


def test_masked_softmax_gradient_skips_masked_scores():
    X = torch.randn(2, 3, 5, requires_grad=True)
    (d2l.masked_softmax(X, torch.tensor([2, 4])) * torch.randn(2, 3, 5)).sum().backward()
    assert (X.grad[0, :, 2:] == 0).all() and (X.grad[1, :, 4:] == 0).all()
    assert (X.grad[0, :, :2] != 0).any()


# ---- attention scoring functions -----------------------------------------------------------------
def test_dot_product_attention_shapes_and_weights():
    torch.manual_seed(0)
    queries = torch.normal(0, 1, (2, 1, 2))
    keys = torch.normal(0, 1, (2, 10, 2))
    values = torch.normal(0, 1, (2, 10, 4))
    valid_lens = torch.tensor([2, 6])
    attention = d2l.DotProductAttention(dropout=0.5)
    attention.eval()
    out = attention(queries, keys, values, valid_lens)
    d2l.check_shape(out, (2, 1, 4))
    w = attention.attention_weights
    d2l.check_shape(w, (2, 1, 10))
    assert (w[0, :, 2:] == 0).all() and (w[1, :, 6:] == 0).all()
    expected = nn.functional.softmax(queries @ keys.transpose(1, 2) / math.sqrt(2), dim=-1)
    assert torch.allclose(w[1, :, :6] * expected[1, :, :6].sum(), expected[1, :, :6], atol=1e-6)
    assert torch.allclose(out, w @ values, atol=1e-6)


def test_additive_attention_shapes_and_scores():
    torch.manual_seed(0)
    queries = torch.normal(0, 1, (2, 1, 20))
    keys = torch.normal(0, 1, (2, 10, 2))
    values = torch.normal(0, 1, (2, 10, 4))
    attention = d2l.AdditiveAttention(num_hiddens=8, dropout=0.1)
    attention.eval()
    d2l.check_shape(attention(queries, keys, values, torch.tensor([2, 6])), (2, 1, 4))
    # the score of query i and key j is w_v . tanh(W_q q_i + W_k k_j)
    q, k = attention.W_q(queries), attention.W_k(keys)
    scores = torch.tanh(q[:, :, None, :] + k[:, None, :, :]) @ attention.w_v.weight.t()
    expected = d2l.masked_softmax(scores.squeeze(-1), torch.tensor([2, 6]))
    assert torch.allclose(attention.attention_weights, expected, atol=1e-6)
    assert tuple(attention.W_q.weight.shape) == (8, 20) and attention.W_q.bias is None


def test_attention_decoder_interface():
    assert issubclass(d2l.AttentionDecoder, d2l.Decoder)
    with pytest.raises(NotImplementedError):
        d2l.AttentionDecoder().attention_weights


def test_show_heatmaps(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_FIGURES", str(tmp_path))
    weights = torch.eye(10).reshape((1, 1, 10, 10))
    d2l.show_heatmaps(weights, xlabel="Keys", ylabel="Queries")
    fig = d2l.plt.gcf()
    assert len(fig.axes) == 2  # one heatmap and its colour bar
    assert fig.axes[0].get_xlabel() == "Keys" and fig.axes[0].get_ylabel() == "Queries"
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), np.eye(10))
    d2l.show_heatmaps(torch.rand(2, 3, 4, 5), "k", "q", titles=["a", "b", "c"])
    axes = d2l.plt.gcf().axes
    assert [ax.get_title() for ax in axes[:3]] == ["a", "b", "c"]
    assert axes[0].get_ylabel() == "q" and axes[1].get_ylabel() == ""
    assert axes[0].get_xlabel() == "" and axes[3].get_xlabel() == "k"
    assert len([f for f in os.listdir(tmp_path) if f.endswith("heatmaps.png")]) == 2
    with pytest.raises(ValueError, match=r"\(rows, columns, height, width\)"):
        d2l.show_heatmaps(torch.rand(3, 4, 5), "k", "q")
    d2l.plt.close("all")


# ---- multi-head attention ------------------------------------------------------------------------
def test_multihead_attention_shapes_and_transposes():
    num_hiddens, num_heads = 100, 5
    attention = d2l.MultiHeadAttention(num_hiddens, num_heads, 0.5)
    assert isinstance(attention, d2l.Module)
    batch_size, num_queries, num_kvpairs = 2, 4, 6
    X = torch.ones((batch_size, num_queries, num_hiddens))
    Y = torch.ones((batch_size, num_kvpairs, num_hiddens))
    d2l.check_shape(attention(X, Y, Y, torch.tensor([3, 2])),
                    (batch_size, num_queries, num_hiddens))
    Z = torch.randn(2, 6, 100)
    heads = attention.transpose_qkv(Z)
    d2l.check_shape(heads, (10, 6, 20))
    # row b * num_heads + h holds head h of example b: features h*20 .. h*20+19
    assert torch.equal(heads[1 * 5 + 3], Z[1, :, 60:80])
    assert torch.equal(attention.transpose_output(heads), Z)
    with pytest.raises(ValueError, match="divisible"):
        d2l.MultiHeadAttention(10, 3, 0.0)


def test_multihead_attention_matches_pytorch():
    pt = pytest.importorskip("torch")
    num_hiddens, num_heads = 12, 3
    mine = d2l.MultiHeadAttention(num_hiddens, num_heads, 0.0)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 4, num_hiddens)).astype(np.float32)
    kv = rng.standard_normal((2, 5, num_hiddens)).astype(np.float32)
    valid_lens = [3, 5]
    out = mine(torch.tensor(q), torch.tensor(kv), torch.tensor(kv), torch.tensor(valid_lens))

    ref = pt.nn.MultiheadAttention(num_hiddens, num_heads, bias=False, batch_first=True)
    with pt.no_grad():
        ref.in_proj_weight.copy_(pt.cat([pt.from_numpy(w.weight.detach().numpy().copy())
                                         for w in (mine.W_q, mine.W_k, mine.W_v)]))
        ref.out_proj.weight.copy_(pt.from_numpy(mine.W_o.weight.detach().numpy().copy()))
    padding = pt.arange(5)[None, :] >= pt.tensor(valid_lens)[:, None]
    expected, weights = ref(pt.from_numpy(q), pt.from_numpy(kv), pt.from_numpy(kv),
                            key_padding_mask=padding, average_attn_weights=False)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(mine.attention.attention_weights.detach().numpy(),
                               weights.detach().numpy().reshape(6, 4, 5), atol=1e-6)


def test_self_attention_shape():
    num_hiddens, num_heads = 100, 5
    attention = d2l.MultiHeadAttention(num_hiddens, num_heads, 0.5)
    X = torch.ones((2, 4, num_hiddens))
    d2l.check_shape(attention(X, X, X, torch.tensor([3, 2])), (2, 4, num_hiddens))


# ---- positional encoding and the Transformer encoder ---------------------------------------------
def test_positional_encoding_values():
    pos = d2l.PositionalEncoding(6, 0)
    np.testing.assert_allclose(pos.P[0, :3].numpy(), [
        [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        [0.8414709568023682, 0.5403023362159729, 0.04639922082424164, 0.9989229440689087,
         0.0021544327028095722, 0.9999976754188538],
        [0.9092974066734314, -0.416146844625473, 0.09269849210977554, 0.9956942200660706,
         0.004308855161070824, 0.999990701675415]], rtol=1e-6, atol=1e-7)
    encoding_dim, num_steps = 32, 60
    pos = d2l.PositionalEncoding(encoding_dim, 0.5)
    pos.eval()
    X = pos(torch.zeros((1, num_steps, encoding_dim)))
    assert torch.equal(X, pos.P[:, :num_steps, :])
    assert tuple(pos.P.shape) == (1, 1000, 32)
    with pytest.raises(ValueError, match="1001 positions but max_len is 1000"):
        pos(torch.zeros(1, 1001, 32))


def test_ffn_and_addnorm():
    ffn = d2l.PositionWiseFFN(4, 8)
    ffn.eval()
    d2l.check_shape(ffn(torch.ones((2, 3, 4)))[0], (3, 8))
    add_norm = d2l.AddNorm(4, 0.5)
    add_norm.eval()
    out = add_norm(torch.ones((2, 3, 4)), torch.arange(24.0).reshape(2, 3, 4))
    d2l.check_shape(out, (2, 3, 4))
    assert torch.allclose(out.mean(-1), torch.zeros(2, 3), atol=1e-6)


def test_transformer_encoder_shapes_and_attention_weights():
    X = torch.ones((2, 100, 24))
    valid_lens = torch.tensor([3, 2])
    encoder_blk = d2l.TransformerEncoderBlock(24, 48, 8, 0.5)
    encoder_blk.eval()
    d2l.check_shape(encoder_blk(X, valid_lens), X.shape)
    encoder = d2l.TransformerEncoder(200, 24, 48, 8, 2, 0.5)
    d2l.check_shape(encoder(torch.ones((2, 100), dtype=torch.long), valid_lens), (2, 100, 24))
    assert [name for name, _ in encoder.blks.named_children()] == ["block0", "block1"]
    assert len(encoder.attention_weights) == 2
    w = encoder.attention_weights[1]
    d2l.check_shape(w, (16, 100, 100))
    assert (w[:8, :, 3:] == 0).all() and (w[8:, :, 2:] == 0).all()


# ---- training a Transformer ----------------------------------------------------------------------
class _DecoderBlock(nn.Module):
    """Masked self-attention, attention over the encoder's outputs, and the FFN (for tests)."""

    def __init__(self, num_hiddens, ffn_num_hiddens, num_heads, dropout):
        super().__init__()
        self.self_attention = d2l.MultiHeadAttention(num_hiddens, num_heads, dropout)
        self.norm1 = d2l.AddNorm(num_hiddens, dropout)
        self.cross_attention = d2l.MultiHeadAttention(num_hiddens, num_heads, dropout)
        self.norm2 = d2l.AddNorm(num_hiddens, dropout)
        self.ffn = d2l.PositionWiseFFN(ffn_num_hiddens, num_hiddens)
        self.norm3 = d2l.AddNorm(num_hiddens, dropout)

    def forward(self, X, enc_outputs, enc_valid_lens, past):
        # past: the inputs of earlier decoding steps (None while training on whole sequences)
        keys = X if past is None else torch.cat([past, X], dim=1)
        causal = None
        if self.training:  # position t may look at positions 1..t only
            causal = torch.arange(1, X.shape[1] + 1).expand(X.shape[0], -1)
        Y = self.norm1(X, self.self_attention(X, keys, keys, causal))
        Z = self.norm2(Y, self.cross_attention(Y, enc_outputs, enc_outputs, enc_valid_lens))
        return self.norm3(Z, self.ffn(Z)), keys


class _TransformerDecoder(d2l.AttentionDecoder):
    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout):
        super().__init__()
        self.num_hiddens = num_hiddens
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = d2l.PositionalEncoding(num_hiddens, dropout)
        self.blocks = nn.ModuleList(_DecoderBlock(num_hiddens, ffn_num_hiddens, num_heads,
                                                  dropout) for _ in range(num_blks))
        self.dense = nn.LazyLinear(vocab_size)

    def init_state(self, enc_outputs, enc_valid_lens):
        return enc_outputs, enc_valid_lens, [None] * len(self.blocks)

    def forward(self, X, state):
        enc_outputs, enc_valid_lens, pasts = state
        offset = 0 if pasts[0] is None else pasts[0].shape[1]
        X = self.embedding(X) * math.sqrt(self.num_hiddens) + self.pos_encoding.P[
            :, offset:offset + X.shape[1]]
        X = self.pos_encoding.dropout(X)
        new_pasts, self._weights = [], []
        for block, past in zip(self.blocks, pasts):
            X, keys = block(X, enc_outputs, enc_valid_lens, past)
            new_pasts.append(None if self.training else keys)
            self._weights.append(block.cross_attention.attention.attention_weights)
        return self.dense(X), (enc_outputs, enc_valid_lens, new_pasts)

    @property
    def attention_weights(self):
        return self._weights


@needs_fra_eng
def test_transformer_validation_loss_falls(monkeypatch):
    monkeypatch.setenv("EMBER_DATA", DATA)
    torch.manual_seed(0)
    data = d2l.MTFraEng(batch_size=32, num_train=96, num_val=32)
    num_hiddens, num_blks, dropout, ffn_num_hiddens, num_heads = 32, 2, 0.1, 64, 4
    encoder = d2l.TransformerEncoder(len(data.src_vocab), num_hiddens, ffn_num_hiddens,
                                     num_heads, num_blks, dropout)
    decoder = _TransformerDecoder(len(data.tgt_vocab), num_hiddens, ffn_num_hiddens, num_heads,
                                  num_blks, dropout)
    model = d2l.Seq2Seq(encoder, decoder, tgt_pad=data.tgt_vocab["<pad>"], lr=0.005)
    model.board.display = False
    val = next(iter(data.val_dataloader()))

    def val_loss():
        model.eval()
        with torch.no_grad():
            return float(model.loss(model(*val[:-1]), val[-1]))

    before = val_loss()
    d2l.Trainer(max_epochs=4, gradient_clip_val=1, quiet=True).fit(model, data)
    assert val_loss() < before - 1.0

    batch = data.build(["go .", "i'm home ."], ["va !", "je suis chez moi ."])
    preds, weights = model.predict_step(batch, d2l.cpu(), data.num_steps,
                                        save_attention_weights=True)
    d2l.check_shape(preds, (2, data.num_steps))
    assert len(weights) == data.num_steps and len(weights[0]) == num_blks
    d2l.check_shape(weights[0][0], (2 * num_heads, 1, data.num_steps))
    # the encoder's attention over the source stops at each sentence's length (3 and 4)
    enc_w = model.encoder.attention_weights[0]
    assert (enc_w[:num_heads, :, 3:] == 0).all() and (enc_w[num_heads:, :, 4:] == 0).all()
