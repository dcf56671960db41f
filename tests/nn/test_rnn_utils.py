"""nn.utils.rnn (padding, packing) and RNN/LSTM/GRU on PackedSequence and LSTM proj_size."""
import itertools

import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
import ember.nn as nn
from ember.nn.utils import rnn as U

rng = np.random.default_rng(11)


def _copy(me, mt):
    for (ne, pe), (nt, pt) in zip(me.named_parameters(), mt.named_parameters()):
        assert ne == nt
        pe.data = ember.tensor(pt.detach().numpy().copy())


def test_pad_sequence_shapes_and_sides():
    a, b = ember.ones(2, 3), ember.full((4, 3), 2.0)
    assert U.pad_sequence([a, b]).shape == (4, 2, 3)
    out = U.pad_sequence([a, b], batch_first=True, padding_value=-1.0, padding_side="left")
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out.numpy()[0, :, 0], [-1, -1, 1, 1])
    assert out.dtype == ember.float32
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        U.pad_sequence([])
    with pytest.raises(RuntimeError, match="Expected padding_side to be one of left or right"):
        U.pad_sequence([a], padding_side="mid")


def test_pack_errors():
    x = ember.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match="`lengths` array must be sorted in decreasing order "
                                           "when `enforce_sorted` is True"):
        U.pack_padded_sequence(x, [2, 3, 1])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        U.pack_padded_sequence(x, [3, 2, 0])
    with pytest.raises(RuntimeError, match=r"Expected `len\(lengths\)` to be equal to batch_size"
                                           r", but got 2 \(batch_size=3\)"):
        U.pack_padded_sequence(x, [3, 2])
    p = U.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(ValueError, match="Expected total_length to be at least the length of the "
                                         "longest sequence in input, but got total_length=2 and "
                                         "max sequence length being 3"):
        U.pad_packed_sequence(p, total_length=2)


@needs_torch
@pytest.mark.parametrize("batch_first,enforce_sorted", [(False, True), (True, False),
                                                        (False, False)])
def test_pack_pad_roundtrip_matches_torch(batch_first, enforce_sorted):
    lens = [5, 4, 4, 2, 1] if enforce_sorted else [2, 5, 4, 1, 4]
    x = rng.standard_normal((5, 5, 3) if batch_first else (5, 5, 3))
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    pe = U.pack_padded_sequence(xe, ember.tensor(lens), batch_first, enforce_sorted)
    pt = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lens), batch_first,
                                                 enforce_sorted)
    np.testing.assert_array_equal(pe.data.detach().numpy(), pt.data.detach().numpy())
    np.testing.assert_array_equal(pe.batch_sizes.numpy(), pt.batch_sizes.numpy())
    assert pe.batch_sizes.dtype == ember.int64
    for a, b in ((pe.sorted_indices, pt.sorted_indices),
                 (pe.unsorted_indices, pt.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    ye, le = U.pad_packed_sequence(pe, batch_first, padding_value=-3.0, total_length=7)
    yt, lt = torch.nn.utils.rnn.pad_packed_sequence(pt, batch_first, padding_value=-3.0,
                                                    total_length=7)
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(le.numpy(), lt.numpy())
    g = rng.standard_normal(tuple(yt.shape))
    (ye * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())


@needs_torch
def test_pack_sequence_and_unpack():
    seqs = [rng.standard_normal((n, 2)) for n in (2, 4, 3)]
    pe = U.pack_sequence([ember.tensor(s) for s in seqs], enforce_sorted=False)
    pt = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    np.testing.assert_array_equal(pe.data.numpy(), pt.data.numpy())
    for s, u in zip(seqs, U.unpack_sequence(pe)):
        np.testing.assert_array_equal(u.numpy(), s)
    assert pe.double().data.dtype == ember.float64
    assert pe.float().data.dtype == ember.float32
    assert isinstance(pe, tuple) and len(pe) == 4
    padded = U.pad_sequence([ember.tensor(s) for s in seqs])
    assert [u.shape[0] for u in U.unpad_sequence(padded, ember.tensor([2, 4, 3]))] == [2, 4, 3]


def test_pad_packed_gradcheck():
    bs = ember.tensor([3, 2, 2, 1])

    def fn(data):
        p = U.PackedSequence(data, bs, ember.tensor([2, 0, 1]))
        return U.pad_packed_sequence(p, batch_first=True, total_length=5)[0] * 1.5

    check_grad(fn, (8, 2))


@needs_torch
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU", "LSTM-proj"])
def test_rnn_modules_on_packed_sequences_match_torch(mode):
    cls, kw = (mode, {}) if mode != "LSTM-proj" else ("LSTM", {"proj_size": 2})
    is_lstm = cls == "LSTM"
    for layers, bidir, with_h in itertools.product([1, 2], [False, True], [False, True]):
        tm = getattr(torch.nn, cls)(3, 4, layers, bidirectional=bidir, **kw).double()
        em = getattr(nn, cls)(3, 4, layers, bidirectional=bidir, **kw).double()
        _copy(em, tm)
        lens = [3, 5, 1, 5]
        x = rng.standard_normal((4, 5, 3))
        xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
        pt = torch.nn.utils.rnn.pack_padded_sequence(xt, lens, True, enforce_sorted=False)
        pe = U.pack_padded_sequence(xe, lens, True, enforce_sorted=False)
        D = 2 if bidir else 1
        hs = (layers * D, 4, kw.get("proj_size", 4))
        h, c = rng.standard_normal(hs), rng.standard_normal((layers * D, 4, 4))
        ht, ct = torch.tensor(h, requires_grad=True), torch.tensor(c, requires_grad=True)
        he, ce = ember.tensor(h, requires_grad=True), ember.tensor(c, requires_grad=True)
        hxt = ((ht, ct) if is_lstm else ht) if with_h else None
        hxe = ((he, ce) if is_lstm else he) if with_h else None
        ot, hnt = tm(pt, hxt)
        oe, hne = em(pe, hxe)
        assert isinstance(oe, U.PackedSequence)
        np.testing.assert_allclose(oe.data.detach().numpy(), ot.data.detach().numpy(),
                                   atol=1e-12)
        np.testing.assert_array_equal(oe.unsorted_indices.numpy(), ot.unsorted_indices.numpy())
        outs_t = list(hnt) if is_lstm else [hnt]
        outs_e = list(hne) if is_lstm else [hne]
        yt, _ = torch.nn.utils.rnn.pad_packed_sequence(ot, batch_first=True)
        ye, _ = U.pad_packed_sequence(oe, batch_first=True)
        lt, le = 0, 0
        for a, b in zip(outs_e + [ye], outs_t + [yt]):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-12)
            g = rng.standard_normal(tuple(b.shape))
            lt = lt + (b * torch.tensor(g)).sum()
            le = le + (a * ember.tensor(g)).sum()
        lt.backward()
        le.backward()
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-11)
        for a, b in zip(em.parameters(), tm.parameters()):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-11)
        if with_h:
            np.testing.assert_allclose(he.grad.numpy(), ht.grad.numpy(), atol=1e-11)
            if is_lstm:
                np.testing.assert_allclose(ce.grad.numpy(), ct.grad.numpy(), atol=1e-11)


def test_packed_input_errors():
    m = nn.GRU(3, 4)
    p = U.pack_sequence([ember.zeros(3, 3), ember.zeros(2, 3)])
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]"):
        m(p, ember.zeros(1, 3, 4))
    bad = U.pack_sequence([ember.zeros(3, 5), ember.zeros(2, 5)])
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size"):
        m(bad)


@needs_torch
@pytest.mark.parametrize("bidir,batch_first", [(False, False), (True, True)])
def test_lstm_proj_size_matches_torch(bidir, batch_first):
    ember.manual_seed(0)
    em = nn.LSTM(3, 5, 2, bidirectional=bidir, proj_size=2, batch_first=batch_first)
    torch.manual_seed(0)
    tm = torch.nn.LSTM(3, 5, 2, bidirectional=bidir, proj_size=2, batch_first=batch_first)
    assert list(em.state_dict()) == list(tm.state_dict())
    assert repr(em) == repr(tm)
    for a, b in zip(em.parameters(), tm.parameters()):  # seeded init, same order
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    em, tm = em.double(), tm.double()
    x = rng.standard_normal((4, 6, 3))
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    ot, (ht, ct) = tm(xt)
    oe, (he, ce) = em(xe)
    assert tuple(he.shape) == tuple(ht.shape) and tuple(ce.shape) == tuple(ct.shape)
    for a, b in ((oe, ot), (he, ht), (ce, ct)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-12)
    (ot.sum() + 2 * ht.sum() + 3 * ct.sum()).backward()
    (oe.sum() + 2 * he.sum() + 3 * ce.sum()).backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), atol=1e-12)
    for a, b in zip(em.parameters(), tm.parameters()):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-11)


def test_lstm_proj_and_packed_gradcheck():
    from ember._ops import nn_ops as K

    ws = [rng.standard_normal(s) * 0.5 for s in ((12, 2), (12, 2), (12,), (12,), (2, 3))]

    def fn(x, h0, w_hr):
        params = [ember.tensor(w) for w in ws[:4]] + [w_hr]
        c0 = ember.zeros(1, 3, 3, dtype=ember.float64)
        out, hn, cn = K.lstm(x, (h0, c0), params, True, 1, 0.0, False, False, False,
                             batch_sizes=np.array([3, 2, 1]))
        return out.sum(-1) + hn.sum() + cn.sum()

    check_grad(fn, (3, 3, 2), (1, 3, 2), ws[4])
