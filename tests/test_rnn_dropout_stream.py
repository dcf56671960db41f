"""Recurrent layers' inter-layer dropout draws PyTorch's random stream (as F.dropout does), so a
seeded multi-layer LSTM/GRU/RNN with dropout trains as on PyTorch (word_language_model)."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.helpers import needs_torch, torch


def _run(m, cls_name, kw):
    m.manual_seed(1)
    layer = getattr(m.nn, cls_name)(4, 3, dropout=0.3, **kw)
    x = m.randn(5, 2, 4)
    out, _ = layer(x)
    out.sum().backward()
    unbatched, _ = layer(x[:, 0])
    return (out.detach().numpy().tolist(), layer.weight_ih_l0.grad.numpy().tolist(),
            unbatched.detach().numpy().tolist(), m.rand(1).item())


@needs_torch
@pytest.mark.parametrize("cls_name, kw", [
    ("LSTM", {"num_layers": 2}),
    ("GRU", {"num_layers": 3}),
    ("RNN", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"num_layers": 2, "batch_first": True, "bidirectional": True}),
])
def test_rnn_dropout_matches_torch_stream(cls_name, kw):
    e, t = _run(ember, cls_name, kw), _run(torch, cls_name, kw)
    assert e[3] == t[3]  # the generator is left in the same state
    for a, b in zip(e[:3], t[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_rnn_dropout_keeps_or_scales():
    ember.manual_seed(0)
    layer = ember.nn.GRU(3, 4, num_layers=2, dropout=0.5)
    out, _ = layer(ember.randn(6, 2, 3))
    assert out.shape == (6, 2, 4)
    layer.eval()  # no dropout in eval: two calls agree
    x = ember.randn(6, 2, 3)
    assert ember.equal(layer(x)[0], layer(x)[0])
