"""Datasets, samplers, collation and the single-process DataLoader against torch.utils.data."""
import collections

import numpy as np
import pytest

import ember
from ember.utils import data as ed
from tests.helpers import needs_torch, torch

if torch is not None:
    from torch.utils import data as td


def np_data(n=5):
    return np.arange(n * 3, dtype=np.float32).reshape(n, 3), np.arange(n, dtype=np.int64)


class Pairs:
    """A plain dataset both libraries can index."""

    def __init__(self, n=5):
        self.x, self.y = np_data(n)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def as_np(obj):
    if isinstance(obj, (list, tuple)):
        return [as_np(o) for o in obj]
    if isinstance(obj, dict):
        return {k: as_np(v) for k, v in obj.items()}
    if hasattr(obj, "numpy"):
        return obj.numpy()
    return obj


def same(a, b):
    a, b = as_np(a), as_np(b)
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


# ---- datasets ----------------------------------------------------------------------------------

def test_tensor_dataset_and_size_mismatch():
    x, y = np_data()
    ds = ed.TensorDataset(ember.tensor(x), ember.tensor(y))
    assert len(ds) == 5
    xi, yi = ds[2]
    assert xi.shape == (3,) and yi.shape == () and yi.dtype == ember.int64
    np.testing.assert_array_equal(ds[1:3][0].numpy(), x[1:3])
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        ed.TensorDataset(ember.zeros(3), ember.zeros(4))


def test_concat_subset_stack_chain():
    a, b = Pairs(3), Pairs(4)
    cat = ed.ConcatDataset([a, b])
    assert len(cat) == 7 and cat.cumulative_sizes == [3, 7]
    assert cat[3][1] == 0 and cat[-1][1] == 3
    with pytest.raises(ValueError, match="absolute value of index"):
        cat[-8]
    class D(ed.Dataset, Pairs):
        pass

    assert isinstance(D(2) + D(3), ed.ConcatDataset) and len(D(2) + D(3)) == 5
    sub = ed.Subset(b, [3, 1])
    assert len(sub) == 2 and sub[0][1] == 3 and [s[1] for s in sub.__getitems__([1, 0])] == [1, 3]
    st = ed.StackDataset(a, a)
    assert st[1][0][1] == 1 and len(st) == 3
    assert ed.StackDataset(x=a, y=a).__getitems__([0, 2])[1]["y"][1] == 2
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        ed.StackDataset(a, b)

    class It(ed.IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n

    chain = It(2) + It(3)
    assert isinstance(chain, ed.ChainDataset) and list(chain) == [0, 1, 0, 1, 2] and len(chain) == 5
    with pytest.raises(AssertionError, match="does not support IterableDataset"):
        ed.ConcatDataset([It(2)])


@needs_torch
def test_random_split_lengths_match_torch():
    for n, fracs in [(10, [0.3, 0.7]), (30, [0.3, 0.3, 0.4]), (7, [0.5, 0.5]), (11, [0.1] * 10)]:
        got = [len(s) for s in ed.random_split(range(n), fracs, generator=ember.Generator().manual_seed(1))]
        want = [len(s) for s in td.random_split(range(n), fracs, generator=torch.Generator().manual_seed(1))]
        assert got == want
    parts = ed.random_split(range(10), [3, 7], generator=ember.Generator().manual_seed(42))
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    again = ed.random_split(range(10), [3, 7], generator=ember.Generator().manual_seed(42))
    assert parts[0].indices == again[0].indices
    with pytest.raises(ValueError, match="Sum of input lengths"):
        ed.random_split(range(10), [3, 3])


@needs_torch
def test_random_split_same_split_as_torch():
    got = ed.random_split(range(30), [0.3, 0.3, 0.4], generator=ember.Generator().manual_seed(42))
    want = td.random_split(range(30), [0.3, 0.3, 0.4], generator=torch.Generator().manual_seed(42))
    assert [list(s.indices) for s in got] == [list(s.indices) for s in want]


# ---- samplers ----------------------------------------------------------------------------------

@needs_torch
def test_sequential_and_batch_sampler_match_torch():
    for n, bs, drop in [(10, 3, False), (10, 3, True), (4, 5, False), (4, 5, True), (6, 2, True)]:
        e = ed.BatchSampler(ed.SequentialSampler(range(n)), bs, drop)
        t = td.BatchSampler(td.SequentialSampler(range(n)), bs, drop)
        assert list(e) == list(t) and len(e) == len(t)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        ed.BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        ed.BatchSampler(range(3), 1, 0)


def test_random_sampler_invariants():
    ds = range(50)
    order = list(ed.RandomSampler(ds, generator=ember.Generator().manual_seed(3)))
    assert sorted(order) == list(range(50)) and order != list(range(50))
    assert order == list(ed.RandomSampler(ds, generator=ember.Generator().manual_seed(3)))
    ember.manual_seed(5)
    a = list(ed.RandomSampler(ds))
    ember.manual_seed(5)
    assert a == list(ed.RandomSampler(ds)) and sorted(a) == list(range(50))
    rep = list(ed.RandomSampler(ds, replacement=True, num_samples=70,
                                generator=ember.Generator().manual_seed(0)))
    assert len(rep) == 70 and all(0 <= i < 50 for i in rep)
    over = list(ed.RandomSampler(range(4), num_samples=10, generator=ember.Generator().manual_seed(0)))
    assert len(over) == 10 and sorted(over[:4]) == [0, 1, 2, 3] and sorted(over[4:8]) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        ed.RandomSampler(ds, num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        ed.RandomSampler(ds, replacement=1)
    sub = list(ed.SubsetRandomSampler([10, 20, 30], generator=ember.Generator().manual_seed(0)))
    assert sorted(sub) == [10, 20, 30]
    w = list(ed.WeightedRandomSampler([0.0, 0.0, 1.0], 5))
    assert w == [2] * 5
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        ed.WeightedRandomSampler([[1.0]], 2)


@needs_torch
def test_random_sampler_same_order_as_torch():
    assert list(ed.RandomSampler(range(20), generator=ember.Generator().manual_seed(7))) == \
        list(td.RandomSampler(range(20), generator=torch.Generator().manual_seed(7)))
    ember.manual_seed(777)
    torch.manual_seed(777)
    e = [b[1].tolist() for b in ed.DataLoader(Pairs(10), batch_size=4, shuffle=True)]
    t = [b[1].tolist() for b in td.DataLoader(Pairs(10), batch_size=4, shuffle=True)]
    assert e == t


@needs_torch
def test_distributed_sampler_matches_torch_unshuffled():
    for n, reps, drop in [(10, 3, False), (10, 3, True), (2, 4, False), (12, 4, True)]:
        for rank in range(reps):
            e = ed.DistributedSampler(range(n), num_replicas=reps, rank=rank, shuffle=False, drop_last=drop)
            t = td.DistributedSampler(range(n), num_replicas=reps, rank=rank, shuffle=False, drop_last=drop)
            assert list(e) == list(t) and len(e) == len(t)
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        ed.DistributedSampler(range(5), num_replicas=3, rank=3)


def test_distributed_sampler_shards_and_epochs():
    shards = [list(ed.DistributedSampler(range(11), num_replicas=3, rank=r, seed=1)) for r in range(3)]
    flat = sum(shards, [])
    assert len(flat) == 12 and set(flat) == set(range(11))  # padded by one repeat
    s = ed.DistributedSampler(range(11), num_replicas=3, rank=0, seed=1)
    first = list(s)
    assert list(s) == first
    s.set_epoch(1)
    assert list(s) != first


# ---- collate -----------------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize("batch", [
    [0, 1, 2],
    [0.5, 1.5],
    [True, False],
    [1, 2.5],
    ["a", "b"],
    [np.float32(1), np.float32(2)],
    [np.int32(1), np.int32(2)],
    [np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32)],
    [np.arange(3), np.arange(3)],
    [(1, 2.0), (3, 4.0)],
    [[1, 2], [3, 4]],
    [{"a": 1, "b": np.float64(2)}, {"a": 3, "b": np.float64(4)}],
    [(np.ones(2, np.float32), {"k": [1, 2]}), (np.zeros(2, np.float32), {"k": [3, 4]})],
])
def test_default_collate_matches_torch(batch):
    same(ed.default_collate(batch), td.default_collate(batch))


Point = collections.namedtuple("Point", ["x", "y"])


@needs_torch
def test_default_collate_tensors_namedtuple_and_convert():
    xs = [np.full((2, 3), i, np.float32) for i in range(4)]
    got = ed.default_collate([ember.tensor(x) for x in xs])
    want = td.default_collate([torch.tensor(x) for x in xs])
    same(got, want)
    got = ed.default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(got, Point)
    same(list(got), list(td.default_collate([Point(1, 2.0), Point(3, 4.0)])))
    for data in [np.arange(3), (np.ones(2), 1), {"a": np.zeros(1, np.float32)}, "s", 3]:
        same(ed.default_convert(data), td.default_convert(data))
    assert isinstance(ed.default_convert(Point(np.array(0), 1)), Point)


@needs_torch
def test_default_collate_errors_match_torch():
    bad = [np.zeros(3, np.float32), np.zeros(4, np.float32)]
    with pytest.raises(RuntimeError) as te:
        td.default_collate(bad)
    with pytest.raises(RuntimeError) as ee:
        ed.default_collate(bad)
    assert str(ee.value) == str(te.value)
    for b in ([object(), object()], [np.array(["a"]), np.array(["b"])], [None]):
        with pytest.raises(TypeError) as te:
            td.default_collate(b)
        with pytest.raises(TypeError) as ee:
            ed.default_collate(b)
        assert str(ee.value).split("found")[0] == str(te.value).split("found")[0]
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        ed.default_collate([[1, 2], [3]])


# ---- DataLoader (single process) ---------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize("n,bs,drop", [(5, 2, False), (5, 2, True), (4, 2, False), (1, 3, False),
                                       (1, 3, True), (7, 1, False)])
def test_loader_len_and_batches_match_torch(n, bs, drop):
    e = ed.DataLoader(Pairs(n), batch_size=bs, drop_last=drop)
    t = td.DataLoader(Pairs(n), batch_size=bs, drop_last=drop)
    assert len(e) == len(t)
    el, tl = list(e), list(t)
    assert len(el) == len(tl)
    for a, b in zip(el, tl):
        same(a, b)


def test_seed_s1_len_loader_is_3_for_5_samples():
    x, y = np_data(5)
    loader = ed.DataLoader(ed.TensorDataset(ember.tensor(x), ember.tensor(y)), batch_size=2, shuffle=True)
    assert len(loader) == 3
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [2, 2, 1]
    assert sorted(sum((b[1].tolist() for b in batches), [])) == [0, 1, 2, 3, 4]
    xb, yb = next(iter(loader))
    assert xb.dtype == ember.float32 and yb.dtype == ember.int64


@needs_torch
def test_batch_size_none_and_batch_sampler():
    e = list(ed.DataLoader(Pairs(3), batch_size=None))
    t = list(td.DataLoader(Pairs(3), batch_size=None))
    for a, b in zip(e, t):
        same(a, b)
    bsamp = [[0, 2], [1]]
    e = list(ed.DataLoader(Pairs(3), batch_sampler=bsamp))
    t = list(td.DataLoader(Pairs(3), batch_sampler=bsamp))
    for a, b in zip(e, t):
        same(a, b)


@needs_torch
def test_loader_argument_errors_match_torch():
    cases = [
        dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2),
        dict(persistent_workers=True), dict(sampler=[0, 1], shuffle=True),
        dict(batch_sampler=[[0]], batch_size=2), dict(batch_sampler=[[0]], drop_last=True),
        dict(batch_size=None, drop_last=True), dict(multiprocessing_context="fork"),
        dict(num_workers=1, multiprocessing_context="nope"),
    ]
    for kw in cases:
        with pytest.raises(Exception) as te:
            td.DataLoader(Pairs(3), **kw)
        with pytest.raises(Exception) as ee:
            ed.DataLoader(Pairs(3), **kw)
        assert type(ee.value) is type(te.value), kw
        assert str(ee.value) == str(te.value), kw
    loader = ed.DataLoader(Pairs(3))
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 3


def test_iterable_dataset_single_process():
    class It(ed.IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.tolist() for b in ed.DataLoader(It(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in ed.DataLoader(It(), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        ed.DataLoader(It(), shuffle=True)


def test_pin_memory_warns_and_changes_nothing():
    x, y = np_data(4)
    loader = ed.DataLoader(ed.TensorDataset(ember.tensor(x), ember.tensor(y)), batch_size=2, pin_memory=True)
    with pytest.warns(UserWarning, match="'pin_memory' argument is set as true but no accelerator is found"):
        batches = list(loader)
    np.testing.assert_array_equal(batches[0][0].numpy(), x[:2])


def test_worker_number_warning_text():
    n = len(__import__("os").sched_getaffinity(0)) + 2
    with pytest.warns(UserWarning) as rec:
        ed.DataLoader(Pairs(3), num_workers=n)
    assert str(rec[0].message) == (
        f"This DataLoader will create {n} worker processes in total. Our suggested max number of "
        f"worker in current system is {n - 2}, which is smaller than what this DataLoader is going "
        "to create. Please be aware that excessive worker creation might get DataLoader running "
        "slow or even freeze, lower the worker number to avoid potential slowness/freeze if "
        "necessary.")


def test_tensor_dataset_fast_path_equals_per_sample_collate():
    rng = np.random.default_rng(0)
    x = ember.tensor(rng.random((23, 2, 3), dtype=np.float32))
    y = ember.tensor(rng.integers(0, 9, 23))
    ds = ed.TensorDataset(x, y)
    sub = ed.random_split(ds, [0.6, 0.4], generator=ember.Generator().manual_seed(0))[0]
    for d in (ds, sub):
        fast = list(ed.DataLoader(d, batch_size=5, shuffle=True, generator=ember.Generator().manual_seed(1)))
        slow = list(ed.DataLoader(d, batch_size=5, shuffle=True, generator=ember.Generator().manual_seed(1),
                                  collate_fn=lambda b: ed.default_collate(b)))
        assert len(fast) == len(slow)
        for a, b in zip(fast, slow):
            assert isinstance(a, list)
            same(a, b)


def test_pandas_dataframe_columns():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "b": ["x", "y", "x", None], "t": [1, 2, 3, 4]})
    inputs = pd.get_dummies(df[["a", "b"]], dummy_na=True)
    inputs = inputs.fillna(inputs.mean())
    X = ember.tensor(inputs.to_numpy(dtype=float))
    y = ember.tensor(df["t"].to_numpy(dtype=float))
    assert X.dtype == ember.float64 and y.dtype == ember.float64 and X.shape == (4, 4)
    xb, yb = next(iter(ed.DataLoader(ed.TensorDataset(X, y), batch_size=3)))
    assert xb.shape == (3, 4) and yb.tolist() == [1.0, 2.0, 3.0]
