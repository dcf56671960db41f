"""torch.histogram and torch.histc (makemore part 3 plots activation histograms), against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.helpers import needs_torch, torch


def _cases(m):
    t = m.tensor
    return [
        lambda: m.histogram(t([1.0, 1.0, 1.0]), bins=4),
        lambda: m.histogram(t([]), bins=2),
        lambda: m.histogram(t([1.0, 2, 3, 4]), bins=3, range=(2.0, 3.0)),
        lambda: m.histogram(t([1.0, 2, 3, 4]), bins=t([0.0, 1.5, 5.0]), density=True),
        lambda: m.histogram(t([1.0, 2, 3, 4, 5]), 2, weight=t([1.0, 2, 3, 4, 5])),
        lambda: t([0.5, -1.0, 2.0, 0.25]).double().histogram(bins=3),
        lambda: m.histc(t([1.0, 2, 1]), bins=4, min=0, max=3),
        lambda: m.histc(t([1.0, 1.0]), bins=4),
        lambda: m.histc(t([]), bins=2),
        lambda: t([3.0, -2.0, 0.1]).histc(bins=5, min=-1, max=1),
    ]


def _np(r):
    if isinstance(r, tuple):
        return [_np(x) for x in r]
    return (str(r.dtype).split(".")[-1], r.numpy().tolist())


@needs_torch
@pytest.mark.parametrize("i", range(len(_cases(ember))))
def test_histograms_match_torch(i):
    assert _np(_cases(ember)[i]()) == _np(_cases(torch)[i]())


@needs_torch
def test_histogram_of_random_data_is_bit_equal():
    x = np.random.default_rng(0).standard_normal((1000, 10)).astype(np.float32)
    e = ember.histogram(ember.tanh(ember.tensor(x)), density=True)
    t = torch.histogram(torch.tanh(torch.tensor(x)), density=True)
    assert e.hist.numpy().tolist() == t.hist.numpy().tolist()
    assert e.bin_edges.numpy().tolist() == t.bin_edges.numpy().tolist()
    assert ember.histc(ember.tensor(x), bins=13).tolist() == torch.histc(torch.tensor(x), bins=13).tolist()


def test_histogram_fields_and_errors():
    hy, hx = ember.histogram(ember.tensor([0.0, 1.0, 1.0]), bins=2)
    assert hy.tolist() == [1.0, 2.0] and hx.tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(NotImplementedError, match="\"histogramdd\" not implemented for 'Long'"):
        ember.histogram(ember.tensor([1, 2]), bins=2)
    with pytest.raises(NotImplementedError, match="\"histogram_cpu\" not implemented for 'Long'"):
        ember.histc(ember.tensor([1, 2]))
