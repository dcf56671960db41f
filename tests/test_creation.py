"""Tensor creation against PyTorch: the forms the seeds use, dtype inference, memory sharing,
errors, and arange/linspace/logspace values bit for bit."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
from tests.helpers import needs_torch, torch

pytestmark = needs_torch


def dt(t):
    return str(t.dtype).split(".")[1]


def same(e, t):
    assert dt(e) == dt(t) and tuple(e.shape) == tuple(t.shape)
    assert np.array_equal(e.detach().numpy(), t.detach().numpy(), equal_nan=True)
    assert e.requires_grad == t.requires_grad


SEED_FORMS = [
    lambda T: T.zeros((2, 3, 4)), lambda T: T.zeros(5), lambda T: T.zeros(1, requires_grad=True),
    lambda T: T.zeros(()), lambda T: T.ones((2, 3, 4)), lambda T: T.ones(3, dtype=T.float64),
    lambda T: T.ones(3, 4), lambda T: T.ones(()), lambda T: T.zeros(size=(2, 3)),
    lambda T: T.zeros([2, 3]), lambda T: T.ones(T.Size([2, 3])), lambda T: T.zeros(T.tensor(3)),
    lambda T: T.arange(12), lambda T: T.arange(12, dtype=T.float32), lambda T: T.arange(4.0),
    lambda T: T.arange(-8.0, 8.0, 0.1, requires_grad=True), lambda T: T.arange(3, 9, 2),
    lambda T: T.arange(5, 0, -1.5), lambda T: T.arange(0, 5.5, 1, dtype=T.int64),
    lambda T: T.arange(0, 5.5, 1, dtype=T.int32), lambda T: T.arange(T.tensor(3)),
    lambda T: T.arange(5, 5), lambda T: T.linspace(0, 1, 5), lambda T: T.linspace(-1, 1, 0),
    lambda T: T.linspace(0, 10, 5, dtype=T.int64), lambda T: T.linspace(3, 3, 1),
    lambda T: T.linspace(T.tensor(0.0), T.tensor(1.0), 3), lambda T: T.logspace(0, 2, 3),
    lambda T: T.logspace(0, 2, 3, base=2), lambda T: T.logspace(0, 2, 3, dtype=T.int64),
    lambda T: T.full((2, 3), 1.5), lambda T: T.full((2,), True), lambda T: T.full((2,), 3),
    lambda T: T.full([], 2.5), lambda T: T.full((2,), 2.5, dtype=T.int64),
    lambda T: T.eye(3), lambda T: T.eye(2, 3), lambda T: T.eye(3, dtype=T.int64),
    lambda T: T.zeros_like(T.ones(2, 3, dtype=T.int32)),
    lambda T: T.ones_like(T.ones(2), dtype=T.int64),
    lambda T: T.full_like(T.ones(2, dtype=T.int64), 2.7),
    lambda T: T.zeros_like(T.ones(2), requires_grad=True), lambda T: T.scalar_tensor(3),
    lambda T: T.empty(2, 3).fill_(1), lambda T: T.empty((2, 3), dtype=T.int8).zero_(),
    lambda T: T.ones(2).new_zeros(3), lambda T: T.ones(2, dtype=T.int32).new_tensor([1.5]),
    lambda T: T.ones(2, dtype=T.int32).new_full((2,), 7),
    lambda T: T.ones(2).new_ones((2, 3), dtype=T.int64), lambda T: T.ones(2).new_empty(2, 0),
]


@pytest.mark.parametrize("i", range(len(SEED_FORMS)))
def test_creation_forms_match_torch(i):
    same(SEED_FORMS[i](ember), SEED_FORMS[i](torch))


TENSOR_DATA = [
    [1.0, 2, 4, 8], [2, 2, 2, 2], [True, False], [1, True], [True, 2.5], [[1, 2], [3, 4]],
    ((1, 2), (3, 4)), 3, 3.5, True, [], [[]], range(3), [np.float32(1), 2.5], [np.float16(1)],
    np.float64(1), np.float32(3.0), np.int32(3), np.array([1.0, 2.0]), np.array([1, 2]),
    np.array([[1, 2]], dtype=np.int16), np.array(True), [1e40], [-2 ** 63],
    [np.array(1.0), np.array(2.0)], [[1.5, 2], [3, 4]],
]


@pytest.mark.parametrize("i", range(len(TENSOR_DATA)))
def test_tensor_dtype_inference_matches_torch(i):
    data = TENSOR_DATA[i]
    calls = [lambda T: T.tensor(data), lambda T: T.as_tensor(data)]
    calls += [lambda T, d=d: T.tensor(data, dtype=getattr(T, d))
              for d in ("float64", "int32", "float16")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in calls:
            try:
                t = call(torch)
            except (TypeError, ValueError, RuntimeError):
                continue  # PyTorch cannot convert this (ember may be more lenient)
            same(call(ember), t)


def test_tensor_of_tensors():
    e = ember.tensor([ember.tensor(1.0), ember.tensor(2.0)])
    assert e.dtype == ember.float32 and e.tolist() == [1.0, 2.0]
    with pytest.warns(UserWarning, match="To copy construct from a tensor"):
        c = ember.tensor(ember.ones(2))
    c += 1
    assert c.tolist() == [2.0, 2.0]


def test_creation_errors_match_torch():
    cases = [
        lambda T: T.tensor([[1, 2], [3, 4, 5]]), lambda T: T.tensor([[[1, 2], [3, 4]], [[1, 2], [3]]]),
        lambda T: T.tensor([[1, 2], 3]), lambda T: T.tensor([1, [2]]), lambda T: T.tensor([1, "a"]),
        lambda T: T.tensor("a"), lambda T: T.tensor([None]), lambda T: T.tensor(None),
        lambda T: T.tensor([2 ** 63]), lambda T: T.tensor([1], requires_grad=True),
        lambda T: T.zeros(3, dtype=T.int32, requires_grad=True), lambda T: T.ones(-1),
        lambda T: T.empty(2, -3), lambda T: T.arange(0, 1, 0), lambda T: T.arange(1, 0, 1),
        lambda T: T.arange(float("inf")), lambda T: T.arange(0, 3, dtype=T.bool),
        lambda T: T.linspace(0, 10, -1), lambda T: T.eye(-1), lambda T: T.full(2, 3),
        lambda T: T.zeros_like([1, 2]), lambda T: T.from_numpy([1, 2]),
        lambda T: T.zeros(2, 3.0), lambda T: T.linspace(0, 1, 5.0),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(Exception) as te:
            case(torch)
        with pytest.raises(type(te.value)) as ee:
            case(ember)
        if i < 22:
            assert str(ee.value) == str(te.value), i


def test_memory_sharing():
    a = np.array([1.0, 2.0])
    t = ember.from_numpy(a)
    a[0] = 10
    assert t[0].item() == 10.0 if hasattr(t, "__getitem__") else t.tolist()[0] == 10.0
    t += 1
    assert a.tolist() == [11.0, 3.0]
    assert ember.as_tensor(a).numpy() is a  # no copy when nothing needs converting
    assert not np.shares_memory(ember.as_tensor(a, dtype=ember.float32).numpy(), a)
    assert not np.shares_memory(ember.tensor(a).numpy(), a)  # tensor() always copies
    x = ember.ones(2)
    assert ember.as_tensor(x) is x
    assert ember.asarray(x) is x and ember.asarray(x, copy=True) is not x
    with pytest.raises(ValueError):
        ember.asarray([1, 2], copy=False)
    ro = np.ones(2)
    ro.flags.writeable = False
    with pytest.warns(UserWarning, match="not writable"):
        ember.from_numpy(ro)


def test_legacy_constructors():
    f = ember.FloatTensor([1, 2])
    assert f.dtype == ember.float32 and f.tolist() == [1.0, 2.0]
    assert ember.FloatTensor(np.array([1, 2.5])).dtype == ember.float32  # casts (S0, S1)
    assert ember.LongTensor([1.7, 2]).tolist() == [1, 2]
    assert ember.BoolTensor([1, 0]).tolist() == [True, False]
    assert ember.FloatTensor(2, 3).shape == (2, 3)
    assert ember.Tensor(ember.Size([2, 3])).shape == (2, 3)
    assert ember.Tensor([[1, 2]]).dtype == ember.float32 and ember.Tensor().shape == (0,)
    assert ember.FloatTensor([1, 2], device="cpu").dtype == ember.float32
    assert ember.FloatTensor.dtype is ember.float32 and ember.LongTensor.dtype is ember.int64
    assert isinstance(ember.ones(2), ember.FloatTensor)
    assert not isinstance(ember.ones(2), ember.LongTensor)
    assert isinstance(ember.FloatTensor([1]), ember.Tensor)
    with pytest.raises(AssertionError):
        ember.FloatTensor([1], device="cuda")


def test_range_is_deprecated_and_inclusive():
    with pytest.warns(UserWarning, match="torch.range is deprecated"):
        e = ember.range(0, 1, 0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(e, torch.range(0, 1, 0.25))


# ---- ranges: PyTorch's exact values ------------------------------------------------------------------
def _range_cases():
    rng = np.random.default_rng(0)
    cases = [(0, 1, 0.1), (-8.0, 8.0, 0.1), (0, 10, 0.3), (1.5, 100.2, 0.77), (-3, 3, 0.01),
             (0.1, 0.9, 0.05), (0, 1e4, 0.7), (5, -5, -0.3), (0, 12, 1.0), (0.0, 4.0, 1.0)]
    for _ in range(15):
        s = rng.uniform(-100, 100)
        st = rng.uniform(0.001, 3) * rng.choice([-1, 1])
        n = int(rng.integers(1, 300))
        cases.append((s, s + st * n - st * 0.5, st))
    return cases


def test_arange_values_bitwise_equal_to_torch():
    for s, e, st in _range_cases():
        for d in ("float32", "float64", "float16"):
            if d == "float16" and max(abs(s), abs(e)) > 1000:
                continue
            a = torch.arange(s, e, st, dtype=getattr(torch, d)).numpy()
            b = ember.arange(s, e, st, dtype=getattr(ember, d)).numpy()
            assert a.shape == b.shape and np.array_equal(a, b), (s, e, st, d)


def test_long_arange_split_like_torch_threads():
    old_t, old_e = torch.get_num_threads(), ember.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            ember.set_num_threads(n)
            a = torch.arange(0, 1e5, 0.999).numpy()
            b = ember.arange(0, 1e5, 0.999).numpy()
            assert np.array_equal(a, b)
    finally:
        torch.set_num_threads(old_t)
        ember.set_num_threads(old_e)


def test_linspace_logspace_values_bitwise_equal_to_torch():
    rng = np.random.default_rng(1)
    cases = [(0, 1, 11), (-8, 8, 100), (0, 10, 7), (1.5, 100.2, 1000), (-3, 3, 2), (5, -5, 10),
             (0, 1e4, 12345)]
    cases += [(rng.uniform(-100, 100), rng.uniform(-100, 100), int(rng.integers(2, 400)))
              for _ in range(10)]
    for s, e, n in cases:
        for d in ("float32", "float64", "float16", "int64", "int32"):
            a = torch.linspace(s, e, n, dtype=getattr(torch, d)).numpy()
            b = ember.linspace(s, e, n, dtype=getattr(ember, d)).numpy()
            assert np.array_equal(a, b), (s, e, n, d)
        for base in (10.0, 2.0):
            a = torch.logspace(s / 50, e / 50, n, base=base).numpy()
            b = ember.logspace(s / 50, e / 50, n, base=base).numpy()
            assert np.array_equal(a, b), (s, e, n, base)
            a = torch.logspace(s / 50, e / 50, n, base=base, dtype=torch.float64).numpy()
            b = ember.logspace(s / 50, e / 50, n, base=base, dtype=ember.float64).numpy()
            np.testing.assert_allclose(a, b, rtol=5e-16)  # pow may differ in the last bit


def test_out_argument_of_creation_functions():
    out = ember.empty(1)
    r = ember.zeros(2, 3, out=out)
    assert r is out and out.shape == (2, 3) and out.tolist() == [[0.0] * 3] * 2
    r = ember.arange(3, out=out)
    assert r is out and out.tolist() == [0.0, 1.0, 2.0] and out.dtype == ember.float32


@pytest.mark.parametrize("data, dt", [
    ([300], "uint8"), ([-300], "uint8"), ([-1], "uint8"), ([-3, 0, 5], "uint8"), (-1, "uint8"),
    ([[1, -2], [3, 4]], "uint8"), ([255], "uint8"), ([256], "uint8"), ([-200], "int8"),
    ([200], "int8"), ([-129], "int8"), ([40000], "int16"), ([2**31], "int32"),
    ([1.5e3], "uint8"), ([-1.0], "uint8"), ([1e20], "int64"), ([1e20], "int32"),
    ([2**64], "int64"), ([2**63], None), ([2**64], "uint8"), ([2**63], "uint8"),
    ([-2**63], "int64"), ([-2**63 - 1], "int64"),
])
def test_integer_overflow_on_creation_matches_torch(data, dt):
    # PyTorch's checked conversion: small negatives wrap into unsigned types (-1 -> 255),
    # anything else out of range raises; Python ints beyond int64 fail while unpacking
    def make(T):
        try:
            return T.tensor(data, dtype=getattr(T, dt) if dt else None).tolist()
        except Exception as exc:  # noqa: BLE001 - the type and text are what is compared
            return type(exc).__name__, str(exc)

    assert make(ember) == make(torch)
