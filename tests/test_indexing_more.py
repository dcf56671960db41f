"""More index forms (range, numpy arrays and scalars, 0-d tensors, bad key types) and
torch.isin, compared with PyTorch."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
from tests.helpers import check_grad, needs_torch, torch


def _keys(m):
    """Index expressions written against module m (ember or torch)."""
    return [
        range(2), range(0, 3, 2), range(0), (range(3), range(3), 0), (range(3), m.tensor([0, 1, 2])),
        (slice(None), range(1, 4)), ([0, 2], [1, 3]), ((0, 2), (1, 3)), [[0, 1], [2, 0]],
        np.array([0, 2]), np.array([0, 2], dtype=np.int32), np.array([True, False, True]),
        np.ones((3, 4), bool), np.int64(1), np.array(1), m.tensor(1), m.tensor(True),
        m.tensor(False), (Ellipsis, None), (None, Ellipsis, 1), (None, Ellipsis, m.tensor([0, 1])),
        (1, None, slice(None), None), [True, False, True], (m.tensor([0, 1]), [1, 2]),
        ([0, 1], slice(None), [0, 1]), slice(np.int64(1), np.int64(3)), (),
        (m.tensor([[0, 1]]), 0),
    ]


def _base(m, dtype):
    return m.arange(60, dtype=dtype).reshape(3, 4, 5) / 7


@needs_torch
@pytest.mark.parametrize("i", range(len(_keys(ember))))
def test_getitem_setitem_and_grads_match_torch(i):
    warnings.simplefilter("ignore")  # the deprecated list-as-tuple form warns on both sides
    results = []
    for m in (ember, torch):
        key = _keys(m)[i]
        x = _base(m, m.float64).requires_grad_()
        r = x[key]
        w = m.arange(r.numel(), dtype=m.float64).reshape(r.shape)
        (r * w).sum().backward()
        y = _base(m, m.float64).requires_grad_() * 1
        v = m.ones(r.shape, dtype=m.float64, requires_grad=True)
        y[key] = v * 2
        (y * m.arange(60, dtype=m.float64).reshape(3, 4, 5)).sum().backward()
        results.append((tuple(r.shape), r.tolist(), x.grad.tolist(), y.tolist(), v.grad.tolist()))
    assert results[0] == results[1]


def test_range_index_gradcheck():
    check_grad(lambda x: x[range(3), [2, 0, 1]], (3, 4))
    check_grad(lambda x: x[1:, range(0, 4, 2)], (3, 4))


def test_range_index_is_nn_tutorial_nll():
    # nn_tutorial: -input[range(target.shape[0]), target].mean()
    x = ember.tensor([[0.1, 0.9], [0.7, 0.3], [0.4, 0.6]])
    t = ember.tensor([1, 0, 1])
    assert ember.equal(x[range(t.shape[0]), t], ember.tensor([0.9, 0.7, 0.6]))


def test_range_setitem_writes_like_a_tensor_index():
    x = ember.zeros(3, 3)
    x[range(3), range(3)] = 1.0
    assert ember.equal(x, ember.eye(3))


def test_bad_key_types():
    x = ember.zeros(3)
    with pytest.raises(TypeError, match="new\\(\\): invalid data type 'str'"):
        x["a"]
    with pytest.raises(TypeError, match="invalid data type 'str'"):
        x["a"] = 1.0
    with pytest.raises(IndexError, match="only integers, slices"):
        x[1.5]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        x[::0]


# ---- torch.isin ---------------------------------------------------------------------------------
def _isin_cases(m):
    t = m.tensor
    nan = float("nan")
    return [
        ((t([1, 2, 3]), t([2.0, 3.5])), {}),
        ((t([1.0, 2, 3]), 2), {}),
        ((2, t([1.0, 2, 3])), {}),
        ((t([[1, 2], [3, 4]]), t([[4], [1]])), {"invert": True}),
        ((t([[1, 2], [3, 4]]), t([4, 1])), {"assume_unique": True}),
        ((t([1, 2]), t([], dtype=m.long)), {}),
        ((t([nan, 1.0]), t([nan])), {}),
        ((t([1, 2], dtype=m.uint8), t([1.5, 2.0])), {}),
        ((t(3), t([3])), {}),
        ((t([1.0, 3.0]), 3.5), {}),
        ((t([1, 3]), 3.0), {}),
        ((t([1.0, 3.0], dtype=m.float16), t([1.0], dtype=m.float64)), {}),
        ((t([5, 1, 5, 2]), t([5, 5])), {"invert": True}),
    ]


@needs_torch
@pytest.mark.parametrize("i", range(len(_isin_cases(ember))))
def test_isin_matches_torch(i):
    (a, b), kw = _isin_cases(ember)[i]
    (ta, tb), _ = _isin_cases(torch)[i]
    got, want = ember.isin(a, b, **kw), torch.isin(ta, tb, **kw)
    assert got.dtype == ember.bool and tuple(got.shape) == tuple(want.shape)
    assert got.tolist() == want.tolist()


def test_isin_errors():
    with pytest.raises(TypeError, match=r"isin\(\) received an invalid combination of arguments "
                                        r"- got \(int, int\)"):
        ember.isin(2, 3)
    with pytest.raises(TypeError, match=r"got \(list, Tensor\)"):
        ember.isin([1, 2], ember.tensor([1]))
    with pytest.raises(RuntimeError, match="Unsupported input type encountered for isin\\(\\): Bool"):
        ember.isin(ember.tensor([True, False]), ember.tensor([True]))


def test_isin_out_and_no_grad():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    r = ember.isin(x, ember.tensor([1.0]))
    assert not r.requires_grad and r.tolist() == [True, False]
    out = ember.empty(2, dtype=ember.bool)
    ember.isin(x, 2.0, out=out)
    assert out.tolist() == [False, True]
