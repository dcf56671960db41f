"""ember.multiprocessing: shared tensors across real processes, and spawn."""
import importlib.util
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ember
import ember.multiprocessing as mp
from ember import nn

HAS_MPI = importlib.util.find_spec("mpi4py") is not None


def _shm_names():
    return {n for n in os.listdir("/dev/shm") if "ember" in n} if os.path.isdir("/dev/shm") else set()


@pytest.fixture(autouse=True)
def no_shm_leaks():
    before = _shm_names()
    yield
    assert _shm_names() <= before


# ---- children (module level: spawn children import them) ------------------------------------

def _add_one(t):
    t.add_(1)


def _from_queue(q, done):
    x = q.get()
    x.mul_(10)
    done.put(x.is_shared())


def _ok(rank, t):
    t[rank] += rank + 1


def _raises(rank, pid_dir):
    with open(os.path.join(pid_dir, str(rank)), "w") as f:
        f.write(str(os.getpid()))
    if rank == 1:
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(pid_dir, "0")) and time.monotonic() < deadline:
            time.sleep(0.01)  # rank 0 is running (and has said its pid) before this one fails
        raise ValueError("boom from rank 1")
    time.sleep(60)  # must be ended by the parent


def _exits(rank):
    if rank == 0:
        sys.exit(3)


def _killed(rank):
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # must be ended by the parent


# ---- share_memory_ -----------------------------------------------------------------------------

def test_share_memory_keeps_tensor_dtype_shape_strides():
    base = ember.arange(12, dtype=ember.float64).reshape(3, 4)
    t = base.t()  # strides (1, 4)
    assert not t.is_shared()
    out = t.share_memory_()
    assert out is t and t.is_shared() and t.dtype == ember.float64
    assert t.shape == (4, 3) and t.stride() == (1, 4)
    np.testing.assert_array_equal(t.numpy(), base.numpy().T)
    assert t[1:].is_shared()  # views of shared memory are shared
    assert t.share_memory_() is t  # already shared: nothing moves
    e = ember.zeros(0, 3).share_memory_()
    assert e.is_shared() and e.shape == (0, 3)


def test_module_share_memory_shares_parameters_buffers_grads():
    m = nn.BatchNorm1d(3)
    m.weight.grad = ember.ones(3)
    w = m.weight
    assert m.share_memory() is m
    assert m.weight is w and w.is_shared() and w.grad.is_shared()
    assert m.running_mean.is_shared() and m.num_batches_tracked.is_shared()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_segments_are_released():
    import gc

    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    ts = [ember.ones(1000).share_memory_() for _ in range(5)]
    views = [t[::2] for t in ts]
    assert len(os.listdir("/proc/self/fd")) > before  # each segment holds descriptors
    del ts
    assert all(v.is_shared() for v in views)  # a view keeps its segment
    del views
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_child_inplace_update_seen_by_parent(method):
    ctx = mp.get_context(method)
    t = ember.zeros(2, 3).share_memory_()
    plain = ember.zeros(2)
    p = ctx.Process(target=_add_one, args=(t,))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    np.testing.assert_array_equal(t.numpy(), np.ones((2, 3), np.float32))
    if method == "fork":  # (one spawned process is enough for a slow, shared test machine)
        q = ctx.Process(target=_add_one, args=(plain,))  # not shared: the child has a copy
        q.start()
        q.join(60)
        assert q.exitcode == 0 and plain.sum().item() == 0


def test_queue_passes_shared_tensor():
    ctx = mp.get_context("fork")
    q, done = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_from_queue, args=(q, done))
    p.start()
    x = ember.ones(4).share_memory_()
    q.put(x)
    assert done.get(timeout=60) is True
    p.join(60)
    assert x.tolist() == [10.0] * 4


HOGWILD_SCRIPT = """
import torch
import torch.multiprocessing as mp
import torch.nn as nn


def train(rank, model, steps):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        sum(p.sum() for p in model.parameters()).backward()  # every gradient is 1
        opt.step()


if __name__ == "__main__":
    mp.set_start_method("spawn", force=True)
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    model.share_memory()
    start = [p.detach().clone() for p in model.parameters()]
    processes = []
    for rank in range(2):
        p = mp.Process(target=train, args=(rank, model, 5))
        p.start()
        processes.append(p)
    for p in processes:
        p.join()
    drops = torch.cat([(s - p.detach()).flatten() for s, p in zip(start, model.parameters())])
    print("exitcodes", [p.exitcode for p in processes], "drops", drops.min().item(),
          drops.max().item())
"""


def test_hogwild_script_through_ember_run(tmp_path):
    # pytorch/examples' mnist_hogwild: spawn children of `python -m ember run` import the script
    # (and its `import torch`) again, and train the parent's shared parameters
    script = tmp_path / "hogwild.py"
    script.write_text(HOGWILD_SCRIPT)
    r = subprocess.run([sys.executable, "-m", "ember", "run", str(script)], capture_output=True,
                       check=False, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    words = r.stdout.split()
    assert words[:3] == ["exitcodes", "[0,", "0]"], r.stdout
    low, high = float(words[4]), float(words[5])
    # each process takes 5 steps of 0.1: at least one's updates landed (Hogwild updates may
    # race), at most both
    assert low > 0.5 - 1e-5 and high < 1.0 + 1e-5


def test_sharing_strategies():
    assert mp.get_sharing_strategy() == "file_descriptor"
    assert mp.get_all_sharing_strategies() == {"file_descriptor", "file_system"}
    mp.set_sharing_strategy("file_system")
    assert mp.get_sharing_strategy() == "file_system"
    mp.set_sharing_strategy("file_descriptor")
    with pytest.raises(AssertionError, match="invalid sharing strategy"):
        mp.set_sharing_strategy("nope")
    assert mp.Process is __import__("multiprocessing").Process and mp.cpu_count() >= 1


# ---- spawn ---------------------------------------------------------------------------------------

@pytest.fixture(params=["mpi", "plain"])
def spawn_mode(request, monkeypatch):
    if request.param == "mpi" and not HAS_MPI:
        pytest.skip("mpi4py is not installed")
    monkeypatch.setenv("EMBER_SPAWN_MPI", "1" if request.param == "mpi" else "0")
    return request.param


def test_spawn_returns_normally(spawn_mode):
    t = ember.zeros(2).share_memory_()
    if spawn_mode == "mpi":
        assert mp.spawn(_ok, args=(t,), nprocs=2) is None
    else:  # plain spawned processes are tested by the next test; fork is quicker
        assert mp.start_processes(_ok, args=(t,), nprocs=2, start_method="fork") is None
    assert t.tolist() == [1.0, 2.0]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_spawn_raising_child_ends_the_others(spawn_mode, tmp_path):
    with pytest.raises(mp.ProcessRaisedException) as info:
        mp.spawn(_raises, args=(str(tmp_path),), nprocs=2)
    msg = str(info.value)
    assert msg.startswith("\n\n-- Process 1 terminated with the following error:\nTraceback")
    assert msg.endswith("ValueError: boom from rank 1\n") and info.value.error_index == 1
    pids = [int((tmp_path / str(r)).read_text()) for r in range(2)]
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)  # no orphan left sleeping


def test_spawn_exit_code(monkeypatch):
    monkeypatch.setenv("EMBER_SPAWN_MPI", "1")  # plain processes when mpi4py is missing
    with pytest.raises(mp.ProcessExitedException, match="process 0 terminated with exit code 3"):
        mp.spawn(_exits, nprocs=2)


def test_spawn_killed_child_without_join(monkeypatch):
    monkeypatch.setenv("EMBER_SPAWN_MPI", "1")
    context = mp.spawn(_killed, nprocs=2, join=False)
    assert len(context.pids()) == 2
    with pytest.raises(mp.ProcessExitedException,
                       match="process 1 terminated with signal SIGKILL") as info:
        while not context.join(timeout=30):
            pass
    assert info.value.exit_code == -signal.SIGKILL and info.value.signal_name == "SIGKILL"


def test_spawn_bad_arguments():
    with pytest.raises(ValueError, match="nprocs"):
        mp.spawn(_ok, nprocs=0)
    with pytest.raises(TypeError, match="args must be a tuple"):
        mp.spawn(_ok, args=[1], nprocs=1)


DDP_SCRIPT = """
import importlib.util
import os
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP


def demo_basic(rank, world_size):
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    torch.manual_seed(rank)  # different weights: DDP starts from rank 0's
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    ddp_model = DDP(model)
    optimizer = torch.optim.SGD(ddp_model.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        nn.MSELoss()(ddp_model(torch.randn(5, 4)), torch.randn(5, 2)).backward()
        optimizer.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    print(f"rank {rank} sum {t.item()} params {flat.sum().item()!r},{flat.abs().sum().item()!r}",
          flush=True)  # mpiexec may interleave the ranks' writes (the newline is one)
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ["MASTER_ADDR"] = "localhost"
    os.environ["MASTER_PORT"] = "12355"
    mp.spawn(demo_basic, args=(2,), nprocs=2, join=True)
    print("parent done")
"""


@pytest.mark.skipif(not HAS_MPI, reason="mpi4py is not installed")
def test_ddp_tutorial_script_through_ember_run(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    env = dict(os.environ, EMBER_SPAWN_MPI="1")
    r = subprocess.run([sys.executable, "-m", "ember", "run", str(script)], capture_output=True,
                       check=False, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    found = sorted(re.findall(r"rank (\d) sum ([0-9.]+) params ([-0-9.e]+,[-0-9.e]+)", r.stdout))
    assert [(rank, total) for rank, total, _ in found] == [("0", "3.0"), ("1", "3.0")], r.stdout
    assert found[0][2] == found[1][2]  # identical replicas
    assert r.stdout.rstrip().endswith("parent done")
