"""Numerics and error types a fuzzing probe found different from PyTorch (issue #15)."""
import math

import pytest

import ember
from helpers import needs_torch, torch

NAN_ROWS = [[1.0, math.nan, 3.0, -1.0], [1.0, math.nan, 3.0, math.nan, -1.0],
            [math.nan, 2.0, 2.0], [2.0, 2.0, 1.0, 3.0]]


@pytest.mark.parametrize("op", ["cummax", "cummin"])
@pytest.mark.parametrize("row", NAN_ROWS)
def test_cummax_cummin_with_nan(op, row):
    values, indices = getattr(ember, op)(ember.tensor(row), 0)
    nan_seen = [any(math.isnan(v) for v in row[:i + 1]) for i in range(len(row))]
    assert [math.isnan(v) for v in values.tolist()] == nan_seen
    if torch is not None:
        t_values, t_indices = getattr(torch, op)(torch.tensor(row), 0)
        assert indices.tolist() == t_indices.tolist()
        assert str(values.tolist()) == str(t_values.tolist())


def test_cummax_nan_index_is_the_latest_nan():
    assert ember.cummax(ember.tensor([1.0, math.nan, 3.0, -1.0]), 0).indices.tolist() == [0, 1, 1, 1]
    x = ember.tensor([[0.0, math.nan], [math.nan, 5.0], [1.0, math.nan]])
    assert ember.cummin(x, 0).indices.tolist() == [[0, 0], [1, 0], [1, 2]]


def test_unique_keeps_each_nan():
    vals, counts = ember.unique(ember.tensor([math.nan, 1.0, math.nan]), return_counts=True)
    assert str(vals.tolist()) == "[1.0, nan, nan]" and counts.tolist() == [1, 1, 1]


@needs_torch
def test_unique_nan_matches_torch():
    data = [math.nan, 2.0, math.nan, 1.0, 2.0]
    e = ember.unique(ember.tensor(data), return_inverse=True, return_counts=True)
    t = torch.unique(torch.tensor(data), return_inverse=True, return_counts=True)
    for a, b in zip(e, t):
        assert str(a.tolist()) == str(b.tolist())


def test_float_index_is_a_runtime_error():
    x = ember.arange(3.0)
    with pytest.raises(RuntimeError, match="Expected dtype int32 or int64 for index"):
        ember.index_select(x, 0, ember.tensor([0.0]))
    with pytest.raises(RuntimeError, match="Expected dtype int32 or int64 for index"):
        x.index_add(0, ember.tensor([0.0]), ember.ones(1))
    with pytest.raises(IndexError):  # index_fill's is an IndexError in PyTorch
        x.index_fill(0, ember.tensor([0.0]), 1.0)


def test_strings_in_a_list_are_a_value_error():
    for data in (["a", "b"], ["a", 1], [["a"]]):
        with pytest.raises(ValueError, match="too many dimensions 'str'"):
            ember.tensor(data)
    for data in ([1, "a"], [[1], ["a"]]):  # met after the first element: PyTorch's TypeError
        with pytest.raises(TypeError, match="invalid data type 'str'"):
            ember.tensor(data)
    with pytest.raises(TypeError, match="invalid data type 'str'"):
        ember.tensor("a")
