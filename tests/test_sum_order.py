"""float sums add in PyTorch's order (ember/_ops/_sumorder.py): results equal PyTorch's bit for bit.

Also: the named tuples of ``max(dim)``, ``sort``... pickle (ember/return_types.py).
"""
from __future__ import annotations

import contextlib
import itertools
import pickle
import subprocess
import sys

import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
from ember._ops._sumorder import torch_sum_f32

F32, F64 = np.float32, np.float64
T_C = [0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0]
T_U = [35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4]


def _values(rng, shape, dtype):
    """Signs and magnitudes over six decades, so that the order of additions shows."""
    return (rng.standard_normal(shape) * 10 ** rng.uniform(-3, 3, shape)).astype(dtype)


def _large_values(rng, n, dtype):
    """As _values, with the magnitudes' 10**u in float32 (in float64 it took most of the time of
    the tests on 10^7 elements); the normal draw keeps float64's full mantissas."""
    mag = np.exp(rng.uniform(-3, 3, n).astype(np.float32) * np.float32(np.log(10)))
    return (rng.standard_normal(n, dtype=dtype) * mag).astype(dtype)


def _bits(x):
    a = x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)
    return a.shape, a.dtype.str, np.ascontiguousarray(a).tobytes()


def _differ(e, t):
    """True if the ember and torch results differ in shape, dtype or any bit."""
    return _bits(e) != _bits(t)


@contextlib.contextmanager
def _threads(n):
    """Run torch and ember with ``n`` intra-op threads (large full sums split by thread)."""
    before = torch.get_num_threads(), ember.get_num_threads()
    torch.set_num_threads(n)
    ember.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        ember.set_num_threads(before[1])


# ---- full sums ---------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", [F32, F64])
def test_full_sum_matches_torch_for_every_length_up_to_2100(dtype):
    rng = np.random.default_rng(0)
    lengths = [*range(2101), *range(2101, 9000, 97), 4095, 4096, 4097, 8191, 8192, 8193]
    bad = []
    for n in lengths:
        a = _values(rng, n, dtype)
        if _differ(ember.tensor(a).sum(), torch.from_numpy(a).sum()):
            bad.append(n)
        elif dtype is F32 and n % 7 == 0 and _differ(torch_sum_f32(a), torch.from_numpy(a).sum()):
            bad.append(("torch_sum_f32", n))
    assert bad == []


@needs_torch
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_full_sum_of_large_arrays_matches_torch(threads):
    rng = np.random.default_rng(threads)
    sizes = [32767, 32768, 40001, 65536, 123457, 1 << 20, 3_000_017]
    if threads == 2:
        sizes += [10**7, (1 << 19) * 32 + 5]  # the cascade's level step grows to 32 here
    bad = []
    with _threads(threads):
        for dtype in (F32, F64):
            for n in sizes:
                a = _large_values(rng, n, dtype)
                if _differ(ember.tensor(a).sum(), torch.from_numpy(a).sum()):
                    bad.append((dtype.__name__, n))
    assert bad == []


@needs_torch
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [F32, F64])
def test_special_values_sum_as_in_torch(dtype):
    rng = np.random.default_rng(1)
    big = np.finfo(dtype).max / 2
    bad = []
    for n in (1, 3, 7, 11, 31, 33, 100, 1000, 40000):
        for special in ([np.inf], [-np.inf], [np.nan], [np.inf, -np.inf], [-0.0], [big] * 3):
            a = _values(rng, n, dtype)
            a[rng.integers(0, n, len(special))] = special
            cases = [a, np.full(n, -0.0, dtype)]  # a sum of -0.0s is +0.0 in PyTorch
            for c in cases:
                e, t = ember.tensor(c).sum(), torch.from_numpy(c).sum()
                ev, tv = e.numpy(), t.numpy()
                if not np.array_equal(ev, tv, equal_nan=True) or (
                        tv == 0 and np.signbit(ev) != np.signbit(tv)):
                    bad.append((n, special))
    assert bad == []


# ---- sums and means over dims ------------------------------------------------------------------
_SHAPES = [(1, 9), (3, 1), (2, 3), (5, 8), (7, 9), (4, 31), (3, 33), (17, 65), (64, 10),
           (40, 300), (300, 7), (2, 3, 4), (5, 6, 70), (6, 17, 2, 40), (3, 1, 5, 2, 9),
           (32, 4, 7, 7), (2, 0, 3)]


@needs_torch
@pytest.mark.parametrize("dtype", [F32, F64])
def test_sum_and_mean_over_every_dim_set_match_torch(dtype):
    rng = np.random.default_rng(2)
    bad = []
    for shape in _SHAPES:
        a = _values(rng, shape, dtype)
        e, t = ember.tensor(a), torch.from_numpy(a)
        nd = len(shape)
        for k in range(1, nd + 1):
            for dims in itertools.combinations(range(nd), k):
                for op in ("sum", "mean"):
                    for keep in (False, True):
                        if 0 in shape and op == "mean":
                            continue
                        r = getattr(e, op)(dims, keepdim=keep)
                        if _differ(r, getattr(t, op)(dims, keepdim=keep)):
                            bad.append((shape, dims, op, keep))
    assert bad == []


@needs_torch
def test_large_dim_sums_match_torch_with_threads():
    rng = np.random.default_rng(3)
    bad = []
    with _threads(2):
        for shape, dims in [((200, 200, 3), (1,)), ((3, 5000, 20), (0, 2)), ((40, 20000), (1,)),
                            ((20000, 40), (0,)), ((1, 70000), (1,)), ((32, 16, 28, 28), (0, 2, 3))]:
            a = _values(rng, shape, F32)
            if _differ(ember.tensor(a).sum(dims), torch.from_numpy(a).sum(dims)):
                bad.append((shape, dims))
    assert bad == []


@needs_torch
def test_permuted_inputs_match_torch():
    # exact for full sums and where the kept dims lie in memory in their logical order (PyTorch
    # then loops as over the contiguous base); NumPy's order, so only close, elsewhere
    rng = np.random.default_rng(4)
    bad = []
    for shape in [(40, 33), (5, 6, 70), (3, 4, 5, 9)]:
        base = _values(rng, shape, F32)
        for perm in itertools.permutations(range(len(shape))):
            e, t = ember.tensor(base).permute(perm), torch.from_numpy(base).permute(perm)
            assert e._data.strides == tuple(4 * s for s in t.stride())
            if _differ(e.sum(), t.sum()) or _differ(e.mean(), t.mean()):
                bad.append((shape, perm))
            for d in range(len(shape)):
                kept = [s for i, s in enumerate(t.stride()) if i != d]
                if kept == sorted(kept, reverse=True):
                    if _differ(e.sum(d), t.sum(d)):
                        bad.append((shape, perm, d))
                else:
                    np.testing.assert_allclose(e.sum(d).numpy(), t.sum(d).numpy(), rtol=1e-4,
                                               atol=1e-3)
    assert bad == []


@needs_torch
def test_mean_and_sum_with_dtype_and_half():
    rng = np.random.default_rng(5)
    bad = []
    for n in (11, 300, 4097, 40000):
        a = _values(rng, n, F32)
        e, t = ember.tensor(a), torch.from_numpy(a)
        for op in ("sum", "mean"):
            got = getattr(e, op)(dtype=ember.float64)
            if _differ(got, getattr(t, op)(dtype=torch.float64)):
                bad.append((op, "float64", n))
        h = (a / 1000).astype(np.float16)  # PyTorch: float32 sum, divide, cast back
        if _differ(ember.tensor(h).mean(), torch.from_numpy(h).mean()):
            bad.append(("half mean", n))
        i = rng.integers(-1000, 1000, n)
        if _differ(ember.tensor(i).sum(dtype=ember.float32),
                   torch.from_numpy(i).sum(dtype=torch.float32)):
            bad.append(("int as float32", n))
        if _differ(ember.tensor(i).sum(), torch.from_numpy(i).sum()):
            bad.append(("int", n))
    assert bad == []


@needs_torch
def test_nansum_and_nanmean_match_torch():
    rng = np.random.default_rng(6)
    a = _values(rng, (7, 50), F32)
    a[rng.random(a.shape) < 0.2] = np.nan
    a[3] = np.nan
    e, t = ember.tensor(a), torch.from_numpy(a)
    for op in ("nansum", "nanmean"):
        for args in ((), (0,), (1,), ((0, 1),)):
            assert not _differ(getattr(e, op)(*args), getattr(t, op)(*args)), (op, args)


@needs_torch
def test_recording_a_graph_gives_the_same_values_and_grads():
    rng = np.random.default_rng(7)
    a = _values(rng, (6, 37), F32)
    for op, args in [("sum", ()), ("mean", ()), ("sum", (1,)), ("mean", (0,)), ("mean", (1, True))]:
        x, tx = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        y, ty = getattr(x, op)(*args), getattr(tx, op)(*args)
        assert not _differ(y, ty), (op, args)
        assert y.grad_fn.name() == ty.grad_fn.name()
        (y * y).sum().backward()
        (ty * ty).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


def test_grads_of_sum_and_mean():
    check_grad(lambda x: x.mean(), (11,))
    check_grad(lambda x: x.sum((0, 2)), (3, 4, 9))
    check_grad(lambda x: x.mean(1, keepdim=True), (4, 40))
    check_grad(lambda x: x.sum(), ())


def test_layouts_without_replay_still_sum_correctly():
    rng = np.random.default_rng(8)
    a = _values(rng, (30, 40), F32)
    x = ember.tensor(a)[:, ::3]  # a strided view: NumPy's order
    np.testing.assert_allclose(x.sum().item(), a[:, ::3].astype(F64).sum(), rtol=1e-5)
    np.testing.assert_allclose(x.mean(0).numpy(), a[:, ::3].mean(0), rtol=1e-5)
    assert ember.tensor([1.0, 2.0]).expand(3, 2).sum().item() == 9.0
    h = ember.tensor(np.ones(3000, np.float16))
    assert h.sum().dtype == ember.float16 and h.sum().item() == 3000.0


# ---- the course's seed S2 ----------------------------------------------------------------------
def test_seed_s2_first_loss_prints_as_in_the_seed():
    t_c, t_u = ember.tensor(T_C), ember.tensor(T_U)
    w, b = ember.tensor([1.0, 0.0], requires_grad=True)
    loss = ((w * t_u + b - t_c) ** 2).mean()
    assert f"{float(loss):f}" == "1763.884766"  # "Epoch 1, Loss 1763.884766"; NumPy: ...644
    assert f"{float(((w * t_u + b - t_c) ** 2).sum()):f}" == "19402.732422"


# ---- pickling torch.return_types ---------------------------------------------------------------
def test_return_types_pickle_round_trip():
    x = ember.tensor([[1.0, 5.0, 2.0], [3.0, 2.0, 4.0]])
    results = [x.max(1), x.min(dim=0), ember.sort(x, 1), ember.topk(x, 2), ember.aminmax(x, dim=1),
               x.median(1), x.cummax(1)]
    for r in results:
        back = pickle.loads(pickle.dumps(r))
        assert type(back) is type(r) and back._fields == r._fields
        assert repr(back) == repr(r)
        assert type(r).__module__ == "ember.return_types"
    import ember.return_types as rt

    assert rt.max is type(x.max(1)) and rt.sort is type(ember.sort(x, 1))
    with pytest.raises(AttributeError):
        rt.no_such_type  # noqa: B018


def test_return_types_unpickle_in_a_fresh_interpreter():
    x = ember.tensor([[1.0, 5.0], [3.0, 2.0]])
    blob = pickle.dumps([ember.sort(x, 1), x.max(1), ember.topk(x, 1)])
    code = ("import pickle, sys; r = pickle.loads(sys.stdin.buffer.read()); "
            "print(type(r[0]).__name__, r[1].indices.tolist(), r[2].values.tolist())")
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True)
    assert out.stdout.decode().split("\n")[0] == "sort [1, 0] [[5.0], [3.0]]"
