"""Multi-process DataLoader: order, errors, dead workers, shutdown, seeding (small and quick)."""
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ember
from ember.utils import data as ed


class Squares(ed.Dataset):
    def __init__(self, n=20, fail_at=None, delay=0.0):
        self.n, self.fail_at, self.delay = n, fail_at, delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.delay:
            time.sleep(self.delay)
        if i == self.fail_at:
            raise ValueError(f"bad sample {i}")
        return np.full((2, 3), i * i, np.float32), i


class NumpyRandom(ed.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = ed.get_worker_info()
        return np.random.randint(0, 2**31, size=4), info.id, info.seed, ember.rand(1).item()


class Range(ed.IterableDataset):
    def __init__(self, start, end):
        self.start, self.end = start, end

    def __iter__(self):
        info = ed.get_worker_info()
        if info is None:
            return iter(range(self.start, self.end))
        per = int(math.ceil((self.end - self.start) / info.num_workers))
        lo = self.start + info.id * per
        return iter(range(lo, min(lo + per, self.end)))


def batches(loader):
    return [(x.numpy().copy(), y.tolist()) for x, y in loader]


def assert_no_children(timeout=5.0):
    deadline = time.time() + timeout
    while multiprocessing.active_children() and time.time() < deadline:
        time.sleep(0.05)
    assert multiprocessing.active_children() == []


def test_two_workers_same_batches_in_sampler_order():
    ds = Squares(21)
    ref = batches(ed.DataLoader(ds, batch_size=4))
    got = batches(ed.DataLoader(ds, batch_size=4, num_workers=2))
    assert [y for _, y in got] == [y for _, y in ref]
    for (a, _), (b, _) in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    g = ember.Generator().manual_seed(3)
    shuffled = batches(ed.DataLoader(ds, batch_size=4, shuffle=True, generator=g))
    g.manual_seed(3)
    assert [y for _, y in batches(ed.DataLoader(ds, batch_size=4, shuffle=True, generator=g,
                                                num_workers=2))] == [y for _, y in shuffled]
    assert_no_children()


def test_tensor_dataset_with_workers_and_spawn():
    x = ember.tensor(np.arange(60, dtype=np.float32).reshape(20, 3))
    y = ember.tensor(np.arange(20))
    ds = ed.TensorDataset(x, y)
    ref = batches(ed.DataLoader(ds, batch_size=6))
    for ctx in ("fork", "spawn"):
        got = batches(ed.DataLoader(ds, batch_size=6, num_workers=2, multiprocessing_context=ctx))
        assert [b for _, b in got] == [b for _, b in ref]
        np.testing.assert_array_equal(np.concatenate([a for a, _ in got]), x.numpy())
    assert_no_children()


def test_large_batches_and_shm_transport(monkeypatch):
    from ember.utils.data import _worker

    class Big(ed.Dataset):
        def __len__(self):
            return 12

        def __getitem__(self, i):
            return np.full((3, 64, 64), i, np.float32)

    ref = [b.numpy().copy() for b in ed.DataLoader(Big(), batch_size=4)]
    for transport in ("pickle", "shm"):
        monkeypatch.setattr(_worker, "TRANSPORT", transport)
        got = list(ed.DataLoader(Big(), batch_size=4, num_workers=2))
        for a, b in zip(got, ref):
            np.testing.assert_array_equal(a.numpy(), b)
            assert a.numpy().flags.writeable
    assert_no_children()


def test_in_order_false_yields_everything():
    ds = Squares(16)
    got = [y for _, y in batches(ed.DataLoader(ds, batch_size=2, num_workers=2, in_order=False))]
    assert sorted(sum(got, [])) == list(range(16))


def test_worker_exception_carries_traceback():
    loader = ed.DataLoader(Squares(12, fail_at=5), batch_size=2, num_workers=2)
    with pytest.raises(ValueError) as e:
        list(loader)
    msg = str(e.value)
    assert msg.startswith("Caught ValueError in DataLoader worker process 0.\nOriginal Traceback")
    assert "bad sample 5" in msg and "__getitem__" in msg
    del e  # its traceback holds the iterator, as in PyTorch
    assert_no_children()


def test_killed_worker_raises_quickly():
    # quickly: from the worker's death, not from the loader's timeout (a guard against a hang)
    loader = ed.DataLoader(Squares(40, delay=0.05), batch_size=2, num_workers=2, timeout=60)
    it = iter(loader)
    next(it)
    victim = it._workers[1]
    os.kill(victim.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match=rf"DataLoader worker \(pid\(s\) {victim.pid}\) exited unexpectedly"):
        for _ in it:
            pass
    del it
    assert_no_children()


def test_timeout():
    loader = ed.DataLoader(Squares(4, delay=2.0), batch_size=1, num_workers=1, timeout=0.3)
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.3 seconds"):
        next(iter(loader))
    assert_no_children()


def test_break_and_gc_shut_workers_down():
    fds_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(3):
        for i, _batch in enumerate(ed.DataLoader(Squares(40), batch_size=2, num_workers=2)):
            if i == 2:
                break
    assert_no_children()
    it = iter(ed.DataLoader(Squares(40), batch_size=2, num_workers=2))
    next(it)
    assert len(multiprocessing.active_children()) == 2
    del it
    assert_no_children()
    if fds_before is not None:
        assert len(os.listdir("/proc/self/fd")) <= fds_before


def test_ctrl_c_leaves_no_processes(tmp_path):
    script = tmp_path / "interrupt.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.getcwd()!r})
        import numpy as np
        from ember.utils.data import DataLoader, Dataset

        class Slow(Dataset):
            def __len__(self):
                return 1000

            def __getitem__(self, i):
                time.sleep(0.01)
                return np.zeros(3)

        if __name__ == "__main__":
            it = iter(DataLoader(Slow(), batch_size=2, num_workers=2))
            next(it)
            try:
                print(" ".join(str(w.pid) for w in it._workers), flush=True)
                for _ in it:
                    pass
            except KeyboardInterrupt:
                print("interrupted", flush=True)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    out, _ = proc.communicate(timeout=15)
    assert "interrupted" in out
    deadline = time.time() + 5
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)


def test_worker_seeds_numpy_python_and_ember():
    assert ed.get_worker_info() is None

    def draw():
        out = {}
        for r, wid, seed, e in ed.DataLoader(NumpyRandom(), batch_size=None, num_workers=2):
            out.setdefault(int(wid), []).append((tuple(r.tolist()), int(seed), e))
        return out

    ember.manual_seed(123)
    a = draw()
    ember.manual_seed(123)
    b = draw()
    assert a == b  # reproducible under ember.manual_seed
    assert a[0][0][0] != a[1][0][0]  # workers draw different NumPy numbers
    assert a[1][0][1] == a[0][0][1] + 1  # seed = base_seed + worker_id
    assert a[0][0][2] != a[1][0][2]
    ember.manual_seed(124)
    assert draw() != a


def test_numpy_seed_matches_torch_algorithm():
    torch_worker = pytest.importorskip("torch.utils.data._utils.worker")
    from ember.utils.data._worker import _generate_state

    for base in (0, 1, 2**40 + 12345, 2**63 - 1):
        for wid in range(4):
            assert _generate_state(base, wid) == torch_worker._generate_state(base, wid)


def test_iterable_dataset_sharded_with_worker_info():
    got = [int(b) for b in ed.DataLoader(Range(3, 11), batch_size=None, num_workers=2)]
    assert sorted(got) == list(range(3, 11))
    got = sum((b.tolist() for b in ed.DataLoader(Range(0, 9), batch_size=2, num_workers=2)), [])
    assert sorted(got) == list(range(9))
    assert_no_children()


def init_fn(worker_id):
    ed.get_worker_info().dataset.tag = worker_id + 100


class Tagged(ed.Dataset):
    tag = None

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return self.tag


def test_worker_init_fn_and_persistent_workers():
    loader = ed.DataLoader(Tagged(), batch_size=None, num_workers=2, worker_init_fn=init_fn,
                           persistent_workers=True)
    first = [int(t) for t in loader]
    assert first == [100, 101, 100, 101]
    pids = [w.pid for w in loader._iterator._workers]
    assert [int(t) for t in loader] == first
    assert [w.pid for w in loader._iterator._workers] == pids  # the same processes, reused
    loader._iterator._shutdown_workers()
    assert_no_children()
