"""ember.distributed and DistributedDataParallel on two real MPI ranks.

Each multi-rank test writes a small script into tmp_path and runs it under ``mpiexec -n 2``
(about a second per launch); the ranks check their results against NumPy or against one
process training on the global batch, and write them to JSON files that the test reads.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import ember
import ember.distributed as dist
from ember.utils.data.distributed import DistributedSampler

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")
needs_mpi = pytest.mark.skipif(
    not dist.is_available() or not os.path.exists(MPIEXEC),
    reason="needs mpi4py and mpiexec: pip install 'ember[distributed]'")


def _env():
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "PMI_RANK", "PMI_SIZE"):
        env.pop(k, None)
    return env


def _script(tmp_path, body, name="job.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def _mpirun(tmp_path, body, n=2, timeout=60, args=()):
    script = _script(tmp_path, body)
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, "-m", "ember", "run", script,
                           str(tmp_path), *args], check=False, capture_output=True, text=True,
                          timeout=timeout, env=_env(), cwd=str(tmp_path))


def _results(tmp_path, proc, n=2):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(n)]


# ---------------------------------------------------------------------------------------------
# collectives, each against NumPy
# ---------------------------------------------------------------------------------------------

COLLECTIVES = """
import json, os, sys
import numpy as np
import torch
import torch.distributed as dist

out = {}
env_before = {k: os.environ.get(k) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
dist.init_process_group("gloo")
r, n = dist.get_rank(), dist.get_world_size()
out["env"] = env_before
out["meta"] = [r, n, dist.get_backend(), dist.is_initialized()]
base = np.arange(6, dtype=np.float32).reshape(2, 3)
mine = lambda k: base * (k + 1) + k            # what rank k holds
every = [mine(k) for k in range(n)]

def close(name, got, want):
    out[name] = bool(np.allclose(np.asarray(got), want, rtol=1e-6, atol=1e-6))

t = torch.tensor(mine(r)); dist.all_reduce(t); close("all_reduce_sum", t, sum(every))
for op, f in (("PRODUCT", np.prod), ("MIN", np.min), ("MAX", np.max)):
    t = torch.tensor(mine(r)); dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
    close("all_reduce_" + op, t, f(np.stack(every), axis=0))
t = torch.tensor(mine(r)); dist.all_reduce(t, op=dist.ReduceOp.AVG)
close("all_reduce_avg", t, sum(every) / n)
bits = [np.array([5, 3, 12]) + k for k in range(n)]
for op, f in (("BAND", np.bitwise_and), ("BOR", np.bitwise_or), ("BXOR", np.bitwise_xor)):
    t = torch.tensor(bits[r]); dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
    close("all_reduce_" + op, t, f.reduce(np.stack(bits)))
t = torch.tensor(mine(r)).double(); dist.all_reduce(t)
out["f64"] = [str(t.dtype), bool(np.allclose(t.numpy(), sum(every)))]
t = torch.tensor(mine(r)).half(); dist.all_reduce(t); close("f16", t.float(), sum(every))
t = torch.tensor(r + 1.0); dist.all_reduce(t); close("scalar", t, sum(range(1, n + 1)))
t = torch.tensor(mine(r)).t(); dist.all_reduce(t); close("non_contiguous", t, sum(every).T)
w = dist.all_reduce(t := torch.tensor(mine(r)), async_op=True)
out["async"] = [w.wait(), w.is_completed()]; close("async_value", t, sum(every))
t = torch.tensor(mine(r)); dist.broadcast(t, src=1); close("broadcast", t, every[1])
t = torch.tensor(mine(r)); dist.reduce(t, dst=1)
close("reduce", t, sum(every) if r == 1 else every[r])
lst = [torch.zeros(2, 3) for _ in range(n)]; dist.all_gather(lst, torch.tensor(mine(r)))
close("all_gather", np.stack([x.numpy() for x in lst]), np.stack(every))
o = torch.zeros(2 * n, 3); dist.all_gather_into_tensor(o, torch.tensor(mine(r)))
close("all_gather_into_tensor", o, np.concatenate(every))
big = [np.arange(2 * n * 3, dtype=np.float32).reshape(2 * n, 3) * (k + 1) for k in range(n)]
o = torch.zeros(2, 3); dist.reduce_scatter_tensor(o, torch.tensor(big[r]))
close("reduce_scatter_tensor", o, sum(big)[2 * r:2 * r + 2])
g = [torch.zeros(2, 3) for _ in range(n)] if r == 0 else None
dist.gather(torch.tensor(mine(r)), g, dst=0)
if r == 0:
    close("gather", np.stack([x.numpy() for x in g]), np.stack(every))
s = torch.zeros(2, 3)
dist.scatter(s, [torch.tensor(e) for e in every] if r == 1 else None, src=1)
close("scatter", s, every[r])
if r == 0:
    dist.send(torch.tensor(mine(0)), dst=1)
    x = torch.zeros(2, 3); out["recv_src"] = dist.recv(x, src=1); close("recv", x, every[1])
else:
    x = torch.zeros(2, 3); out["recv_src"] = dist.recv(x); close("recv", x, every[0])
    dist.send(torch.tensor(mine(1)), dst=0)
peer = 1 - r
x = torch.zeros(2, 3)
works = [dist.isend(torch.tensor(mine(r)), dst=peer), dist.irecv(x, src=peer)]
for w in works:
    w.wait()
close("isend_irecv", x, every[peer])
objs = [None] * n; dist.all_gather_object(objs, {"rank": r, "s": "x" * r})
out["all_gather_object"] = objs
lst = [r, "mine"]; dist.broadcast_object_list(lst, src=1); out["broadcast_object_list"] = lst
sub = dist.new_group([1])
out["sub"] = [dist.get_rank(sub), dist.get_world_size(sub)]
errs = {}
for name, f in (("shape", lambda: dist.all_reduce(torch.ones(2 + r))),
                ("dtype", lambda: dist.all_reduce(torch.ones(2, dtype=torch.float64 if r else
                                                          torch.float32))),
                ("avg_int", lambda: dist.all_reduce(torch.ones(2, dtype=torch.int64),
                                                    op=dist.ReduceOp.AVG)),
                ("bor_float", lambda: dist.all_reduce(torch.ones(2), op=dist.ReduceOp.BOR)),
                ("bad_src", lambda: dist.broadcast(torch.ones(2), src=5)),
                ("gather_list", lambda: dist.all_gather([torch.ones(2)], torch.ones(2))),
                ("twice", lambda: dist.init_process_group("gloo"))):
    try:
        f()
        errs[name] = None
    except (RuntimeError, ValueError) as e:
        errs[name] = type(e).__name__ + ": " + str(e)
out["errors"] = errs
from torch.utils.data import DistributedSampler
smp = DistributedSampler(list(range(11)), shuffle=True, seed=3)
smp.set_epoch(2)
out["sampler"] = [smp.num_replicas, smp.rank, list(smp)]
dist.barrier()
dist.destroy_process_group()
out["after_destroy"] = [dist.is_initialized()]
json.dump(out, open(os.path.join(sys.argv[1], f"rank{r}.json"), "w"))
"""


@needs_mpi
def test_collectives_match_numpy(tmp_path):
    res = _results(tmp_path, _mpirun(tmp_path, COLLECTIVES))
    for r, out in enumerate(res):
        assert out["env"] == {"RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2"}
        assert out["meta"] == [r, 2, "gloo", True]
        checked = {k: v for k, v in out.items() if isinstance(v, bool)}
        assert all(checked.values()), checked
        assert len(checked) >= 20
        assert out["f64"] == ["torch.float64", True]
        assert out["async"] == [True, True]
        assert out["recv_src"] == 1 - r
        assert out["all_gather_object"] == [{"rank": 0, "s": ""}, {"rank": 1, "s": "x"}]
        assert out["broadcast_object_list"] == [1, "mine"]
        assert out["sub"] == ([-1, -1] if r == 0 else [0, 1])
        errs = out["errors"]
        assert "different arguments" in errs["shape"] and "(2,)" in errs["shape"]
        assert "(3,)" in errs["shape"] and "float64" in errs["dtype"]
        assert errs["avg_int"].startswith("RuntimeError") and "AVG" in errs["avg_int"]
        assert errs["bor_float"].startswith("RuntimeError")
        assert errs["bad_src"].startswith("ValueError")
        assert errs["gather_list"].startswith("ValueError")
        assert "twice" in errs["twice"]
        assert out["after_destroy"] == [False]
    # the sampler took rank and size from the group and shards one permutation
    s0, s1 = res[0]["sampler"], res[1]["sampler"]
    assert s0[:2] == [2, 0] and s1[:2] == [2, 1]
    assert sorted(set(s0[2] + s1[2])) == list(range(11))
    ref = DistributedSampler(range(11), 2, 0, seed=3)
    ref.set_epoch(2)
    assert s0[2] == list(ref)


# ---------------------------------------------------------------------------------------------
# DDP: every rank ends with the parameters of one process training on the global batch
# ---------------------------------------------------------------------------------------------

DDP = """
import contextlib, json, os, sys
import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("gloo")
r, n = dist.get_rank(), dist.get_world_size()

class Net(nn.Module):
    def __init__(self, kind):
        super().__init__()
        if kind == "mlp":
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(),
                                      nn.Linear(32, 10))
        else:
            self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 10))
        self.unused = nn.Linear(3, 3)  # in no forward: find_unused_parameters' business

    def forward(self, x):
        return self.body(x)

rng = np.random.default_rng(0)
X = torch.tensor(rng.standard_normal((5, 16, 1, 8, 8)).astype(np.float32))  # 5 global batches
Y = torch.tensor(rng.integers(0, 10, (5, 16)))
half = slice(8 * r, 8 * r + 8)

def make(kind, seed, sync_bn=False):
    torch.manual_seed(seed)
    m = Net(kind)
    return nn.SyncBatchNorm.convert_sync_batchnorm(m) if sync_bn else m

def train(model, params, steps, accumulate, local):
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    for s in range(steps):
        opt.zero_grad()
        if accumulate:  # two micro-batches, the first without synchronisation
            # micro-batch j of the global batch is every rank's micro-batch j (SyncBatchNorm
            # sees their union)
            parts = [[slice(8 * q + 4 * j, 8 * q + 4 * j + 4) for q in range(n)] for j in (0, 1)]
            for j in (0, 1):
                idx = [parts[j][r]] if local else parts[j]
                xs = torch.cat([X[s][i] for i in idx])
                ys = torch.cat([Y[s][i] for i in idx])
                ctx = model.no_sync() if local and j == 0 else contextlib.nullcontext()
                with ctx:
                    (F.cross_entropy(model(xs), ys) / 2).backward()
        else:
            xs, ys = (X[s][half], Y[s][half]) if local else (X[s], Y[s])
            F.cross_entropy(model(xs), ys).backward()
        opt.step()

def state(m):
    return {k: v.double().numpy() for k, v in m.state_dict().items()}

out = {}
for kind, accumulate, sync_bn, cap in (("mlp", False, False, None), ("mlp", True, False, 0.001),
                                       ("cnn", False, True, 0.0005), ("cnn", True, True, None)):
    name = f"{kind}_{'acc' if accumulate else 'plain'}"
    ddp = DDP(make(kind, seed=r + 10, sync_bn=sync_bn), bucket_cap_mb=cap,
              find_unused_parameters=True)  # rank 1 starts from other weights: DDP copies rank 0's
    train(ddp, ddp.parameters(), 4, accumulate, local=True)
    ref = make(kind, seed=10)
    train(ref, ref.parameters(), 4, accumulate, local=False)
    got, want = state(ddp.module), state(ref)
    out[name] = {"keys": list(ddp.state_dict())[:2], "buckets": len(ddp._ddp_buckets),
                 "diff": max(float(np.abs(got[k] - want[k]).max()) for k in want),
                 "unused_grad": ddp.module.unused.weight.grad is None,
                 "digest": __import__("hashlib").md5(b"".join(got[k].tobytes()
                                                             for k in sorted(got))).hexdigest()}

# without find_unused_parameters an unused parameter stops the next iteration, as PyTorch's
ddp = DDP(make("mlp", 1))
F.cross_entropy(ddp(X[0][half]), Y[0][half]).backward()
try:
    ddp(X[0][half])
except RuntimeError as e:
    out["unfinished"] = str(e)

# buckets start during backward: when it reaches the first layer's output (a tensor hook), the
# bucket of the last layer is already on its way, the first layer's not yet
ddp = DDP(make("mlp", 1), bucket_cap_mb=0.001, find_unused_parameters=True)
launched, seen = [], []
launch = ddp._launch
ddp._launch = lambda b: launched.append(b.index) or launch(b)
ddp.module.body[1].register_forward_hook(
    lambda m, i, o: o.register_hook(lambda g: seen.append(list(launched))) and None)
F.cross_entropy(ddp(X[0][half]), Y[0][half]).backward()
out["overlap"] = {"seen": seen, "launched": launched, "buckets": len(ddp._ddp_buckets),
                  "averaged": not ddp._ddp["armed"]}
json.dump(out, open(os.path.join(sys.argv[1], f"rank{r}.json"), "w"))
dist.destroy_process_group()
"""


@needs_mpi
def test_ddp_matches_single_process_on_global_batch(tmp_path):
    res = _results(tmp_path, _mpirun(tmp_path, DDP, timeout=120))
    for out in res:
        for name in ("mlp_plain", "mlp_acc", "cnn_plain", "cnn_acc"):
            assert out[name]["diff"] < 2e-5, (name, out[name])
            assert out[name]["keys"] == ["module.body.1.weight", "module.body.1.bias"] or \
                out[name]["keys"] == ["module.body.0.weight", "module.body.0.bias"]
            assert out[name]["unused_grad"] is True  # used by no rank: .grad stays None
        assert out["mlp_acc"]["buckets"] > 1 and out["cnn_plain"]["buckets"] > 1
        assert "Expected to have finished reduction" in out["unfinished"]
        assert "find_unused_parameters=True" in out["unfinished"]
        assert out["overlap"] == {"seen": [[0]], "launched": [0, 1], "buckets": 2,
                                  "averaged": True}
    for name in ("mlp_plain", "mlp_acc", "cnn_plain", "cnn_acc"):
        assert res[0][name] == res[1][name]  # every rank ends with the same parameters


# ---------------------------------------------------------------------------------------------
# faults: a rank that raises or dies ends the job quickly
# ---------------------------------------------------------------------------------------------

FAULT = """
import datetime, os, signal, sys, time
import torch
import torch.distributed as dist
mode = sys.argv[-1]
dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=2 if mode == "hang" else 30))
if dist.get_rank() == 1:
    time.sleep(0.2)
    if mode == "hang":
        time.sleep(60)
    if mode in ("raise", "launcher"):
        raise ValueError("rank one is broken")
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "exit":
        sys.exit(0)
t = torch.ones(3)
dist.all_reduce(t)
time.sleep(60)
"""


@needs_mpi
@pytest.mark.parametrize("mode", ["raise", "kill", "exit", "hang", "launcher"])
def test_failing_rank_ends_the_job(tmp_path, mode):
    if mode == "launcher":
        proc = subprocess.run([sys.executable, "-m", "ember.distributed.run", "--nproc-per-node",
                               "2", _script(tmp_path, FAULT), mode], check=False,
                              capture_output=True, text=True, timeout=30, env=_env())
    else:
        proc = _mpirun(tmp_path, FAULT, timeout=30, args=(mode,))
    assert proc.returncode != 0
    # ended by the fault, not by a timeout (the survivor sleeps 60 s: past the 30-s guard)
    if mode != "hang":
        assert "timed out" not in proc.stderr, proc.stderr
    if mode in ("raise", "launcher"):
        assert "rank one is broken" in proc.stderr
        assert "rank 1 raised ValueError; aborting the job" in proc.stderr
    if mode == "launcher":
        assert "ember.distributed.run: the job failed" in proc.stderr
    if mode == "hang":  # the group's timeout
        assert "all_reduce: timed out after 2 s" in proc.stderr
    if mode == "exit":
        assert "rank 1 exited while rank 0 waited for it" in proc.stderr


# ---------------------------------------------------------------------------------------------
# the torchrun-style launcher, running a DDP script of the tutorials' shape (our own code)
# ---------------------------------------------------------------------------------------------

TUTORIAL = """
import os
import sys

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.optim as optim
from torch.nn.parallel import DistributedDataParallel as DDP


def main():
    env = {k: os.environ[k] for k in ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK",
                                       "WORLD_SIZE", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID")}
    rank = int(env["RANK"])
    dist.init_process_group(backend="gloo")
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    ddp_model = DDP(model)
    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(ddp_model.parameters(), lr=0.001)
    optimizer.zero_grad()
    outputs = ddp_model(torch.randn(12, 6))
    labels = torch.randn(12, 3)
    loss_fn(outputs, labels).backward()
    optimizer.step()
    w = [torch.zeros_like(model[0].weight) for _ in range(dist.get_world_size())]
    dist.all_gather(w, model[0].weight.detach())
    line = (f"rank {rank} env {sorted(env.items())} argv {sys.argv[1:]} "
            f"same {bool(torch.equal(w[0], w[1]))} launched {dist.is_torchelastic_launched()}")
    # one file per rank: mpiexec may interleave two ranks' long lines on a shared stdout
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), f"rank{rank}.txt"), "w") as f:
        f.write(line)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
"""


@needs_mpi
def test_launcher_sets_torchrun_environment(tmp_path):
    script = _script(tmp_path, TUTORIAL)
    proc = subprocess.run([sys.executable, "-m", "ember.distributed.run", "--nproc-per-node", "2",
                           "--master-port", "29555", script, "--flag", "x"],
                          check=False, capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [(pathlib.Path(script).parent / f"rank{r}.txt").read_text() for r in range(2)]
    for r, line in enumerate(lines):
        assert line.startswith(f"rank {r} ")
        assert f"('LOCAL_RANK', '{r}')" in line and "('WORLD_SIZE', '2')" in line
        assert "('LOCAL_WORLD_SIZE', '2')" in line and "('MASTER_PORT', '29555')" in line
        assert "('MASTER_ADDR', '127.0.0.1')" in line
        assert "argv ['--flag', 'x']" in line and "same True" in line and "launched True" in line


def test_launcher_command_line():
    from ember.distributed import run

    if not os.path.exists(MPIEXEC) and run.shutil.which("mpiexec") is None:
        pytest.skip("no mpiexec")
    args = run._parser().parse_args(["--nnodes", "2", "--nproc_per_node", "2", "--hosts", "a,b",
                                     "--node_rank", "0", "t.py", "--lr", "1"])
    cmd = run.build_command(args)
    segments = " ".join(cmd[1:]).split(" : ")
    assert len(segments) == 4
    assert "-host b -env RANK 3 -env LOCAL_RANK 1 -env WORLD_SIZE 4" in segments[3]
    assert segments[3].endswith("-m ember run t.py --lr 1")
    with pytest.raises(SystemExit, match="needs --hostfile"):
        run.build_command(run._parser().parse_args(["--nnodes", "2", "t.py"]))
    assert run.main(["--nnodes", "2", "--node-rank", "1", "t.py"]) == 0  # node 0 starts all


# ---------------------------------------------------------------------------------------------
# one process: errors, the single-rank group, the sampler
# ---------------------------------------------------------------------------------------------

def test_errors_without_a_group():
    assert dist.is_initialized() is False
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.all_reduce(ember.ones(2))
    with pytest.raises(RuntimeError, match="NCCL"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="Invalid backend"):
        dist.init_process_group("smoke-signals")
    from ember.nn.parallel import DistributedDataParallel

    with pytest.raises(ValueError, match="Default process group"):
        DistributedDataParallel(ember.nn.Linear(2, 2))
    if dist.is_available():
        with pytest.raises(ValueError, match="Default process group"):
            DistributedSampler(range(4))
    assert repr(dist.ReduceOp.SUM) == "<RedOpType.SUM: 0>"


SINGLE = """
import sys
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
try:
    dist.init_process_group("gloo", rank=0, world_size=2)
except RuntimeError as e:
    print("ERR", e)
dist.init_process_group("gloo", rank=0, world_size=1)
m = DDP(torch.nn.Linear(3, 2))
m(torch.ones(4, 3)).sum().backward()
t = torch.ones(2); dist.all_reduce(t)
print("OK", dist.get_world_size(), m.module.bias.grad.tolist(), t.tolist())
"""


@needs_mpi
def test_single_process_group(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ember", "run", _script(tmp_path, SINGLE)],
                          check=False, capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert "ERR init_process_group: world_size=2 but this process was not started by mpiexec" \
        in proc.stdout
    assert "OK 1 [4.0, 4.0] [1.0, 1.0]" in proc.stdout


def test_distributed_sampler_matches_pytorch_and_covers_once():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler

    for size, reps, drop, shuffle in ((10, 3, False, True), (10, 3, True, True),
                                      (7, 2, False, False), (101, 4, False, True)):
        for epoch in (0, 1, 5):
            ours, theirs = [], []
            for rank in range(reps):
                a = DistributedSampler(range(size), reps, rank, shuffle=shuffle, seed=7,
                                       drop_last=drop)
                b = TorchSampler(range(size), reps, rank, shuffle=shuffle, seed=7,
                                 drop_last=drop)
                a.set_epoch(epoch)
                b.set_epoch(epoch)
                ours.append(list(a))
                theirs.append(list(b))
                assert len(a) == len(b)
            assert ours == theirs
            flat = sorted(i for part in ours for i in part)
            if drop:
                assert len(set(flat)) == len(flat) == size // reps * reps
            else:  # every index once, plus PyTorch's padding from the start
                assert set(flat) == set(range(size)) and len(flat) - size < reps
    del torch
