"""DistributedDataParallel scaling: training throughput with 1 and 2 MPI ranks, 1 thread each.

    python bench/distributed.py [--steps 40] [--ranks 1 2] [--repeats 3]

Two models on the real MNIST (EMBER_DATA, else random images of its shape): seed S1's MLP
(784-256-256-10, Adam) and a small CNN (two 3x3 convolutions, 8 and 16 channels, max-pooling,
a linear layer; SGD). Each rank trains on its own batch of 100 (S1's batch size), so 2 ranks
process 200 images per step (weak scaling, as data parallelism is used). Reported: images per
second over all ranks, the speed-up over 1 rank, the share of rank 0's step spent in DDP's
gradient sync (flattening the buckets, starting their all-reduces, waiting for them and writing
the averages back; this includes waiting for a slower rank), and the time of one step's
bucket all-reduces alone, started together after a barrier (the cost of the communication
itself). Each configuration runs ``--repeats`` times under its own ``mpiexec``; the best run
is kept (the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 100


def _images(n):
    import numpy as np

    root = os.environ.get("EMBER_DATA", "")
    path = os.path.join(root, "MNIST", "raw", "train-images-idx3-ubyte")
    for p in (path, path + ".gz"):
        if root and os.path.exists(p):
            import gzip

            with (gzip.open(p) if p.endswith(".gz") else open(p, "rb")) as f:
                raw = np.frombuffer(f.read(), np.uint8, offset=16)
            x = raw[:n * 784].reshape(n, 1, 28, 28).astype(np.float32) / 255
            lab = p.replace("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
            with (gzip.open(lab) if lab.endswith(".gz") else open(lab, "rb")) as f:
                y = np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype(np.int64)
            return x, y, "MNIST"
    rng = np.random.default_rng(0)
    return (rng.random((n, 1, 28, 28), np.float32), rng.integers(0, 10, n), "random images")


def worker(model_name, steps):
    import numpy as np

    import ember as torch
    import ember.distributed as dist
    from ember import nn
    from ember.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y, source = _images(BATCH * world * 10)
    torch.manual_seed(0)
    if model_name == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256),
                              nn.ReLU(), nn.Linear(256, 10))
        opt_cls, lr = torch.optim.Adam, 1e-3
    else:
        model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3),
                              nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 10))
        opt_cls, lr = torch.optim.SGD, 0.05
    ddp = DDP(model)
    opt = opt_cls(ddp.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    comm = [0.0]

    def timed(f):
        def g(*a):
            t = time.perf_counter()
            f(*a)
            comm[0] += time.perf_counter() - t
        return g

    ddp._launch, ddp._finish = timed(ddp._launch), timed(ddp._finish)
    batches = [(torch.tensor(x[i:i + BATCH]), torch.tensor(y[i:i + BATCH]))
               for i in range(rank * BATCH, len(x), world * BATCH)]
    for step in range(steps + 5):
        if step == 5:  # after warm-up
            dist.barrier()
            comm[0] = 0.0
            start = time.perf_counter()
        xb, yb = batches[step % len(batches)]
        opt.zero_grad()
        loss_fn(ddp(xb), yb).backward()
        opt.step()
    dist.barrier()
    took = time.perf_counter() - start
    # the all-reduce of one step's buckets alone, each round started together (after a
    # barrier): the cost of communication without the waiting for a slower rank
    from ember.distributed import distributed_c10d as c10d

    pg = ddp.process_group
    bufs = [np.ones(sum(ddp._ddp_params[i].numel() for i in b.params), np.float32)
            for b in ddp._ddp_buckets]
    pure = []
    for _ in range(20):
        dist.barrier()
        t = time.perf_counter()
        c10d._wait(pg, [pg.comm.Iallreduce(c10d._MPI.IN_PLACE, b) for b in bufs], "bench")
        pure.append(time.perf_counter() - t)
    pure_s = sorted(pure)[len(pure) // 2]
    if rank == 0:
        print("@@BENCH " + json.dumps({"model": model_name, "ranks": world, "seconds": took,
                                       "images_per_s": steps * BATCH * world / took,
                                       "comm_share": comm[0] / took, "data": source,
                                       "allreduce_ms": 1e3 * pure_s,
                                       "allreduce_share": pure_s * steps / took,
                                       "grad_mb": sum(b.nbytes for b in bufs) / 2**20,
                                       "loss": float(np.asarray(loss_fn(ddp(xb), yb).item()))}),
              flush=True)
    dist.destroy_process_group()


def run(model, ranks, steps):
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=REPO)
    out = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, os.path.abspath(__file__),
                          "--worker", model, "--steps", str(steps)], capture_output=True,
                         text=True, env=env, check=True)
    for line in out.stdout.splitlines():
        if line.startswith("@@BENCH "):
            return json.loads(line[8:])
    raise RuntimeError(out.stdout + out.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker", default=None)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.steps)
        return
    print("| model | ranks | images/s (all ranks) | speed-up | time in DDP's gradient sync | "
          "all-reduce alone |\n|---|---|---|---|---|---|")
    for model in ("mlp", "cnn"):
        base = None
        for ranks in args.ranks:
            best = max((run(model, ranks, args.steps) for _ in range(args.repeats)),
                       key=lambda r: r["images_per_s"])
            base = base or best["images_per_s"]
            name = "S1 MLP 784-256-256-10" if model == "mlp" else "small CNN"
            print(f"| {name} | {ranks} | {best['images_per_s']:.0f} | "
                  f"{best['images_per_s'] / base:.2f}x | {100 * best['comm_share']:.1f}% | "
                  f"{best['allreduce_ms']:.2f} ms for {best['grad_mb']:.2f} MiB "
                  f"({100 * best['allreduce_share']:.1f}% of a step) |",
                  flush=True)
    print(f"\n(batch {BATCH} per rank, {args.steps} steps after 5 warm-up, 1 thread per rank, "
          f"data: {best['data']}, best of {args.repeats})")


if __name__ == "__main__":
    main()
