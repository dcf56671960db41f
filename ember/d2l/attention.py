"""Chapter 11 of d2l: attention mechanisms and the Transformer encoder.

The book's final versions (d2l-en 1.0.3) of ``show_heatmaps``, ``masked_softmax``, the dot-product
and additive attention scorers, ``AttentionDecoder``, ``MultiHeadAttention``,
``PositionalEncoding`` and the Transformer encoder's blocks. The decoders that the chapter
builds in its notebooks (``Seq2SeqAttentionDecoder``, ``TransformerDecoder``) are not in d2l's
``torch.py`` and so not here either.
"""
from __future__ import annotations

import math
import warnings

import ember as torch
from ember import nn

from . import Module, _as_numpy, _fresh_figure, _pyplot, _show, use_svg_display
from .seq2seq import Decoder, Encoder

__all__ = [
    "show_heatmaps", "masked_softmax", "DotProductAttention", "AdditiveAttention",
    "AttentionDecoder", "MultiHeadAttention", "PositionalEncoding", "PositionWiseFFN",
    "AddNorm", "TransformerEncoderBlock", "TransformerEncoder",
]


def show_heatmaps(matrices, xlabel, ylabel, titles=None, figsize=(2.5, 2.5), cmap="Reds"):
    """Show heatmaps of matrices."""
    if len(matrices.shape) != 4:
        raise ValueError("show_heatmaps expects matrices of shape (rows, columns, height, width), "
                         f"got shape {tuple(matrices.shape)}")
    plt = _pyplot()
    if plt is None:
        warnings.warn("show_heatmaps needs matplotlib (pip install 'ember[plot]')", stacklevel=2)
        return
    use_svg_display()
    num_rows, num_cols, _, _ = matrices.shape
    _fresh_figure(plt)
    fig, axes = plt.subplots(num_rows, num_cols, figsize=figsize, sharex=True, sharey=True,
                             squeeze=False)
    for i, (row_axes, row_matrices) in enumerate(zip(axes, matrices)):
        for j, (ax, matrix) in enumerate(zip(row_axes, row_matrices)):
            pcm = ax.imshow(_as_numpy(matrix), cmap=cmap)
            if i == num_rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles:
                ax.set_title(titles[j])
    fig.colorbar(pcm, ax=axes, shrink=0.6)
    _show(fig, "heatmaps")


def masked_softmax(X, valid_lens):
    """Perform softmax operation by masking elements on the last axis."""
    # X: (batch_size, no. of queries, no. of keys); valid_lens: (batch_size,) -- one length per
    # example -- or (batch_size, no. of queries) -- one per query.
    if valid_lens is None:
        return nn.functional.softmax(X, dim=-1)
    lead = tuple(X.shape[:-1])
    if valid_lens.dim() not in (1, 2) or tuple(valid_lens.shape) != lead[:valid_lens.dim()]:
        raise ValueError(f"masked_softmax: valid_lens of shape {tuple(valid_lens.shape)} does "
                         f"not fit scores of shape {tuple(X.shape)}: expected ({lead[0]},) or "
                         f"{lead[:2]}")
    lens = valid_lens.reshape(tuple(valid_lens.shape) + (1,) * (X.dim() - valid_lens.dim()))
    keep = torch.arange(X.shape[-1], dtype=torch.float32, device=X.device) < lens
    # Masked scores become a very large negative value, whose exponential is 0 (as in d2l, a
    # row with no valid key gets uniform weights rather than NaN).
    return nn.functional.softmax(torch.where(keep, X, -1e6), dim=-1)


class DotProductAttention(nn.Module):
    """Scaled dot product attention."""

    def __init__(self, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        # queries: (batch_size, no. of queries, d); keys: (batch_size, no. of key-value pairs, d);
        # values: (batch_size, no. of key-value pairs, value dimension)
        d = queries.shape[-1]
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


class AdditiveAttention(nn.Module):
    """Additive attention."""

    def __init__(self, num_hiddens, dropout, **kwargs):
        super().__init__(**kwargs)
        self.W_k = nn.LazyLinear(num_hiddens, bias=False)
        self.W_q = nn.LazyLinear(num_hiddens, bias=False)
        self.w_v = nn.LazyLinear(1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens):
        queries, keys = self.W_q(queries), self.W_k(keys)
        # (batch_size, no. of queries, 1, num_hiddens) + (batch_size, 1, no. of keys, num_hiddens)
        features = torch.tanh(queries.unsqueeze(2) + keys.unsqueeze(1))
        scores = self.w_v(features).squeeze(-1)  # (batch_size, no. of queries, no. of keys)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


class AttentionDecoder(Decoder):
    """The base attention-based decoder interface."""

    @property
    def attention_weights(self):
        raise NotImplementedError


class MultiHeadAttention(Module):
    """Multi-head attention."""

    def __init__(self, num_hiddens, num_heads, dropout, bias=False, **kwargs):
        super().__init__()
        if num_hiddens % num_heads:
            raise ValueError(f"MultiHeadAttention: num_hiddens ({num_hiddens}) must be divisible "
                             f"by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.attention = DotProductAttention(dropout)
        self.W_q = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_k = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_v = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_o = nn.LazyLinear(num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens):
        # In: (batch_size, no. of queries or key-value pairs, num_hiddens); the heads are run as
        # one batch of batch_size * num_heads, each head on num_hiddens / num_heads features.
        queries = self.transpose_qkv(self.W_q(queries))
        keys = self.transpose_qkv(self.W_k(keys))
        values = self.transpose_qkv(self.W_v(values))
        if valid_lens is not None:
            # each example's lengths serve all of its heads (rows b*num_heads .. b*num_heads+h-1)
            valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
        output = self.attention(queries, keys, values, valid_lens)
        return self.W_o(self.transpose_output(output))  # (batch_size, no. of queries, num_hiddens)

    def transpose_qkv(self, X):
        """Transposition for parallel computation of multiple attention heads."""
        # (b, n, num_hiddens) -> (b, n, h, num_hiddens/h) -> (b, h, n, .) -> (b*h, n, .)
        X = X.reshape(X.shape[0], X.shape[1], self.num_heads, -1)
        X = X.permute(0, 2, 1, 3)
        return X.reshape(-1, X.shape[2], X.shape[3])

    def transpose_output(self, X):
        """Reverse the operation of transpose_qkv."""
        X = X.reshape(-1, self.num_heads, X.shape[1], X.shape[2])
        X = X.permute(0, 2, 1, 3)
        return X.reshape(X.shape[0], X.shape[1], -1)


class PositionalEncoding(nn.Module):
    """Positional encoding."""

    def __init__(self, num_hiddens, dropout, max_len=1000):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        # P[0, i, 2j] = sin(i / 10000^(2j/d)), P[0, i, 2j+1] = cos(i / 10000^(2j/d))
        self.P = torch.zeros((1, max_len, num_hiddens))
        X = torch.arange(max_len, dtype=torch.float32).reshape(-1, 1) / torch.pow(
            10000, torch.arange(0, num_hiddens, 2, dtype=torch.float32) / num_hiddens)
        self.P[:, :, 0::2] = torch.sin(X)
        self.P[:, :, 1::2] = torch.cos(X[:, :num_hiddens // 2])

    def forward(self, X):
        if X.shape[1] > self.P.shape[1]:
            raise ValueError(f"PositionalEncoding: {X.shape[1]} positions but max_len is "
                             f"{self.P.shape[1]}")
        X = X + self.P[:, :X.shape[1], :].to(X.device)
        return self.dropout(X)


class PositionWiseFFN(nn.Module):
    """The positionwise feed-forward network."""

    def __init__(self, ffn_num_hiddens, ffn_num_outputs):
        super().__init__()
        self.dense1 = nn.LazyLinear(ffn_num_hiddens)
        self.relu = nn.ReLU()
        self.dense2 = nn.LazyLinear(ffn_num_outputs)

    def forward(self, X):
        return self.dense2(self.relu(self.dense1(X)))


class AddNorm(nn.Module):
    """The residual connection followed by layer normalization."""

    def __init__(self, norm_shape, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.ln = nn.LayerNorm(norm_shape)

    def forward(self, X, Y):
        return self.ln(self.dropout(Y) + X)


class TransformerEncoderBlock(nn.Module):
    """The Transformer encoder block."""

    def __init__(self, num_hiddens, ffn_num_hiddens, num_heads, dropout, use_bias=False):
        super().__init__()
        self.attention = MultiHeadAttention(num_hiddens, num_heads, dropout, use_bias)
        self.addnorm1 = AddNorm(num_hiddens, dropout)
        self.ffn = PositionWiseFFN(ffn_num_hiddens, num_hiddens)
        self.addnorm2 = AddNorm(num_hiddens, dropout)

    def forward(self, X, valid_lens):
        Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))
        return self.addnorm2(Y, self.ffn(Y))


class TransformerEncoder(Encoder):
    """The Transformer encoder."""

    def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout,
                 use_bias=False):
        super().__init__()
        self.num_hiddens = num_hiddens
        self.embedding = nn.Embedding(vocab_size, num_hiddens)
        self.pos_encoding = PositionalEncoding(num_hiddens, dropout)
        self.blks = nn.Sequential()
        for i in range(num_blks):
            self.blks.add_module("block" + str(i), TransformerEncoderBlock(
                num_hiddens, ffn_num_hiddens, num_heads, dropout, use_bias))

    def forward(self, X, valid_lens):
        # The positional encoding lies in [-1, 1]: scale the embeddings up by sqrt(d) first so
        # that they are not drowned by it.
        X = self.pos_encoding(self.embedding(X) * math.sqrt(self.num_hiddens))
        self.attention_weights = [None] * len(self.blks)
        for i, blk in enumerate(self.blks):
            X = blk(X, valid_lens)
            self.attention_weights[i] = blk.attention.attention.attention_weights
        return X
