"""RNN / LSTM / GRU (functions, modules, cells) against torch: values, grads, names, errors."""
import itertools
import math

import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
import ember.nn as nn
from ember._ops import nn_ops as K

rng = np.random.default_rng(3)
TORCH_CLS = {"RNN_TANH": "RNN", "RNN_RELU": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
FUNCS = {"RNN_TANH": K.rnn_tanh, "RNN_RELU": K.rnn_relu, "LSTM": K.lstm, "GRU": K.gru}


def _torch_module(mode, *args, **kw):
    if mode == "RNN_RELU":
        kw["nonlinearity"] = "relu"
    return getattr(torch.nn, TORCH_CLS[mode])(*args, **kw).double()


@needs_torch
@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
@pytest.mark.parametrize("layers,bidir", [(1, False), (2, False), (1, True), (2, True)])
def test_functional_rnn_matches_torch(mode, layers, bidir):
    I, H, T, B = 3, 4, 5, 2
    D = 2 if bidir else 1
    for bias, batch_first, unbatched, with_h0 in itertools.product(
            [True, False], [False, True], [False, True], [False, True]):
        if unbatched and batch_first:
            continue
        tm = _torch_module(mode, I, H, layers, bias=bias, batch_first=batch_first,
                           bidirectional=bidir)
        xs = (T, I) if unbatched else ((B, T, I) if batch_first else (T, B, I))
        hs = (layers * D, H) if unbatched else (layers * D, B, H)
        x, h0, c0 = rng.standard_normal(xs), rng.standard_normal(hs), rng.standard_normal(hs)
        xt = torch.tensor(x, requires_grad=True)
        h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
        if with_h0:
            out_t, hid_t = tm(xt, (h0t, c0t) if mode == "LSTM" else h0t)
        else:
            out_t, hid_t = tm(xt)
        hn_t, cn_t = hid_t if mode == "LSTM" else (hid_t, None)

        xe = ember.tensor(x, requires_grad=True)
        h0e = ember.tensor(h0 if with_h0 else np.zeros(hs), requires_grad=with_h0)
        c0e = ember.tensor(c0 if with_h0 else np.zeros(hs), requires_grad=with_h0)
        pe = [ember.tensor(p.detach().numpy().copy(), requires_grad=True)
              for p in tm._flat_weights]
        res = FUNCS[mode](xe, (h0e, c0e) if mode == "LSTM" else h0e, pe, bias, layers, 0.0,
                          False, bidir, batch_first)
        out_e, hn_e = res[0], res[1]
        cn_e = res[2] if mode == "LSTM" else None
        np.testing.assert_allclose(out_e.detach().numpy(), out_t.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(hn_e.detach().numpy(), hn_t.detach().numpy(), atol=1e-12)

        g1 = rng.standard_normal(tuple(out_t.shape))
        g2, g3 = rng.standard_normal((2,) + tuple(hn_t.shape))
        lt = (out_t * torch.tensor(g1)).sum() + (hn_t * torch.tensor(g2)).sum()
        le = (out_e * ember.tensor(g1)).sum() + (hn_e * ember.tensor(g2)).sum()
        if cn_t is not None:
            np.testing.assert_allclose(cn_e.detach().numpy(), cn_t.detach().numpy(), atol=1e-12)
            lt = lt + (cn_t * torch.tensor(g3)).sum()
            le = le + (cn_e * ember.tensor(g3)).sum()
        lt.backward()
        le.backward()
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-11)
        for a, p in zip(pe, tm._flat_weights):
            np.testing.assert_allclose(a.grad.numpy(), p.grad.numpy(), atol=1e-11)
        if with_h0:
            np.testing.assert_allclose(h0e.grad.numpy(), h0t.grad.numpy(), atol=1e-11)
            if mode == "LSTM":
                np.testing.assert_allclose(c0e.grad.numpy(), c0t.grad.numpy(), atol=1e-11)


def _copy(me, mt):
    for (ne, pe), (nt, pt) in zip(me.named_parameters(), mt.named_parameters()):
        assert ne == nt
        pe.data = ember.tensor(pt.detach().numpy().copy())


@needs_torch
@pytest.mark.parametrize("cls,kw", [
    ("RNN", {}), ("RNN", dict(nonlinearity="relu", num_layers=2, batch_first=True)),
    ("LSTM", dict(num_layers=2, bidirectional=True)), ("LSTM", dict(bias=False)),
    ("GRU", dict(batch_first=True, bidirectional=True)), ("GRU", dict(num_layers=3)),
])
def test_modules_match_torch(cls, kw):
    me, mt = getattr(nn, cls)(3, 5, **kw), getattr(torch.nn, cls)(3, 5, **kw)
    assert repr(me) == repr(mt)
    _copy(me, mt)
    shape = (2, 4, 3) if kw.get("batch_first") else (4, 2, 3)
    for x in (rng.standard_normal(shape).astype(np.float32),
              rng.standard_normal((4, 3)).astype(np.float32)):
        xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        oe, he = me(xe)
        ot, ht = mt(xt)
        assert oe.dtype == ember.float32 and tuple(oe.shape) == tuple(ot.shape)
        np.testing.assert_allclose(oe.detach().numpy(), ot.detach().numpy(), atol=1e-5)
        if cls == "LSTM":
            he, ht = he[1], ht[1]
        assert tuple(he.shape) == tuple(ht.shape)
        np.testing.assert_allclose(he.detach().numpy(), ht.detach().numpy(), atol=1e-5)
        (oe.sum() + he.sum()).backward()
        (ot.sum() + ht.sum()).backward()
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-5)
        for (n, pe), pt in zip(me.named_parameters(), mt.parameters()):
            np.testing.assert_allclose(pe.grad.numpy(), pt.grad.numpy(), atol=1e-4, err_msg=n)
            assert pe.grad.dtype == ember.float32
        me.zero_grad()
        mt.zero_grad()


@needs_torch
def test_grad_fn_names():
    x = ember.randn(5, 2, 3)
    assert nn.RNN(3, 4)(x)[0].grad_fn.name() == "StackBackward0"
    assert nn.GRU(3, 4, bidirectional=True)(x)[0].grad_fn.name() == "CatBackward0"
    assert nn.RNNCell(3, 4)(x[0]).grad_fn.name() == "TanhBackward0"
    assert nn.RNNCell(3, 4, nonlinearity="relu")(x[0]).grad_fn.name() == "ReluBackward0"
    assert nn.GRUCell(3, 4)(x[0]).grad_fn.name() == "AddBackward0"


@needs_torch
def test_parameter_names_shapes_and_init():
    me = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    mt = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert [(n, tuple(p.shape)) for n, p in me.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in mt.named_parameters()]
    bound = 1 / math.sqrt(4)
    for p in me.parameters():
        assert np.abs(p.detach().numpy()).max() <= bound
    assert len(me.all_weights) == 4 and len(me._flat_weights) == 16
    g = nn.GRU(3, 6, bias=False)
    assert [n for n, _ in g.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert g.weight_ih_l0.shape == (18, 3)


@needs_torch
@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch(cls, bias):
    me, mt = getattr(nn, cls)(3, 4, bias=bias), getattr(torch.nn, cls)(3, 4, bias=bias)
    assert repr(me) == repr(mt)
    _copy(me, mt)
    for shape in ((2, 3), (3,)):
        x = rng.standard_normal(shape).astype(np.float32)
        hs = shape[:-1] + (4,)
        h = rng.standard_normal(hs).astype(np.float32)
        c = rng.standard_normal(hs).astype(np.float32)
        for with_h in (False, True):
            xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            he, ht = ember.tensor(h, requires_grad=True), torch.tensor(h, requires_grad=True)
            ce, ct = ember.tensor(c, requires_grad=True), torch.tensor(c, requires_grad=True)
            if cls == "LSTMCell":
                re = me(xe, (he, ce) if with_h else None)
                rt = mt(xt, (ht, ct) if with_h else None)
                le, lt = re[0].sum() * 2 + re[1].sum(), rt[0].sum() * 2 + rt[1].sum()
                re, rt = re[1], rt[1]
            else:
                re = me(xe, he if with_h else None)
                rt = mt(xt, ht if with_h else None)
                le, lt = re.sum(), rt.sum()
            assert tuple(re.shape) == tuple(rt.shape)
            np.testing.assert_allclose(re.detach().numpy(), rt.detach().numpy(), atol=1e-6)
            le.backward()
            lt.backward()
            np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-5)
            if with_h:
                np.testing.assert_allclose(he.grad.numpy(), ht.grad.numpy(), atol=1e-5)
            for pe, pt in zip(me.parameters(), mt.parameters()):
                np.testing.assert_allclose(pe.grad.numpy(), pt.grad.numpy(), atol=1e-5)
            me.zero_grad()
            mt.zero_grad()


@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
def test_rnn_check_grad(mode):
    G = {"LSTM": 4, "GRU": 3}.get(mode, 1) * 3
    fn = FUNCS[mode]

    def run(x, h0, w_ih, w_hh, b_ih, b_hh, w_ih_r, w_hh_r, b_ih_r, b_hh_r):
        hx = (h0, h0 * 0.5) if mode == "LSTM" else h0
        res = fn(x, hx, [w_ih, w_hh, b_ih, b_hh, w_ih_r, w_hh_r, b_ih_r, b_hh_r], True, 1, 0.0,
                 False, True, False)
        return res[0].sum(2) + res[1].sum()

    check_grad(run, (3, 2, 2), (2, 2, 3), (G, 2), (G, 3), (G,), (G,), (G, 2), (G, 3), (G,), (G,))


@pytest.mark.parametrize("fn,chunks", [(K.rnn_tanh_cell, 1), (K.lstm_cell, 4), (K.gru_cell, 3)])
def test_cell_check_grad(fn, chunks):
    def run(x, h, w_ih, w_hh, b_ih, b_hh):
        hx = (h, h * h) if fn is K.lstm_cell else h
        out = fn(x, hx, w_ih, w_hh, b_ih, b_hh)
        return out[0] + 2 * out[1] if isinstance(out, tuple) else out

    G = 3 * chunks
    check_grad(run, (2, 2), (2, 3), (G, 2), (G, 3), (G,), (G,))


def test_dropout_between_layers_and_eval():
    ember.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = ember.randn(6, 2, 3)
    m.train()
    o1, _ = m(x)
    o2, _ = m(x)
    assert not np.allclose(o1.detach().numpy(), o2.detach().numpy())
    (o1.sum()).backward()
    assert m.weight_ih_l0.grad is not None
    m.eval()
    e1, _ = m(x)
    e2, _ = m(x)
    np.testing.assert_array_equal(e1.detach().numpy(), e2.detach().numpy())
    with pytest.warns(UserWarning, match="dropout option adds dropout after all but last"):
        nn.GRU(3, 4, dropout=0.2)


@needs_torch
def test_errors_match_torch():
    cases = [
        lambda n, m: n.LSTM(3, 4)(m.randn(5, 2, 4)),
        lambda n, m: n.GRU(3, 4)(m.randn(5, 2, 3), m.randn(1, 3, 4)),
        lambda n, m: n.LSTM(3, 4)(m.randn(5, 2, 3), (m.randn(1, 2, 4), m.randn(1, 2, 5))),
        lambda n, m: n.LSTM(3, 4)(m.randn(5, 2, 3), (m.randn(1, 3, 4), m.randn(1, 2, 4))),
        lambda n, m: n.RNN(3, 4)(m.randn(2, 5, 2, 3)),
        lambda n, m: n.LSTM(3, 4)(m.randn(2, 5, 2, 3)),
        lambda n, m: n.RNN(3, 4)(m.randn(5, 3), m.randn(1, 1, 4)),
        lambda n, m: n.RNN(3, 4)(m.randn(5, 2, 3), m.randn(2, 4)),
        lambda n, m: n.LSTM(3, 4)(m.randn(5, 2, 3), (m.randn(2, 4), m.randn(2, 4))),
        lambda n, m: n.RNN(3, 4)(m.randn(5, 2, 3).double()),
        lambda n, m: n.RNN(3, 4, nonlinearity="sigmoid"),
        lambda n, m: n.RNN(3, 0),
        lambda n, m: n.RNN(3, 4, num_layers=0),
        lambda n, m: n.RNN(3, 4, dropout=1.5),
        lambda n, m: n.GRU(3, 4, proj_size=2),
        lambda n, m: n.LSTM(3, 4, proj_size=4),
        lambda n, m: n.RNNCell(3, 4)(m.randn(2, 5)),
        lambda n, m: n.RNNCell(3, 4)(m.randn(2, 3), m.randn(3, 4)),
        lambda n, m: n.GRUCell(3, 4)(m.randn(2, 3), m.randn(2, 5)),
        lambda n, m: n.LSTMCell(3, 4)(m.randn(2, 2, 3)),
        lambda n, m: n.LSTMCell(3, 4)(m.randn(2, 3), (m.randn(2, 4), m.randn(2, 2, 4))),
        lambda n, m: n.GRUCell(3, 4)(m.randn(1, 2, 3)),
    ]
    for case in cases:
        with pytest.raises(Exception) as te:
            case(torch.nn, torch)
        with pytest.raises(type(te.value)) as ee:
            case(nn, ember)
        assert str(ee.value).replace("ember.", "torch.") == str(te.value)


def test_seq_model_trains():
    """An LSTM learns to output the running sum sign; the loss drops with SGD."""
    ember.manual_seed(0)
    lstm, head = nn.LSTM(1, 8, batch_first=True), nn.Linear(8, 2)
    x = ember.randn(16, 6, 1)
    y = (x.sum(1)[:, 0] > 0).long()
    params = list(lstm.parameters()) + list(head.parameters())
    losses = []
    for _ in range(40):
        out, (h, _) = lstm(x)
        loss = K.cross_entropy(head(h[0]), y)
        for p in params:
            p.grad = None
        loss.backward()
        with ember.no_grad():
            for p in params:
                p -= 0.5 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]
