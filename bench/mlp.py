"""nn forward+backward of seed S1's MLP (784-256-256-10, ReLU, CrossEntropyLoss), batch 100.

    python bench/mlp.py [--runs 3] [--iters 300] [--threads N] [--quick]

The layers alone, without optimizer or data loading (W1 measures the whole training epoch):
``loss = criterion(model(x), y); loss.backward()`` on fixed random inputs, microseconds per
iteration, and the forward pass alone under ``no_grad``.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np

import common


def worker(args):
    torch = common.import_framework(args.framework)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.random((100, 784), dtype=np.float32))
    y = torch.tensor(rng.integers(0, 10, 100))
    relu = torch.nn.ReLU()
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), relu, torch.nn.Linear(256, 256), relu,
                                torch.nn.Linear(256, 10))
    criterion = torch.nn.CrossEntropyLoss()

    def step():
        model.zero_grad()
        criterion(model(x), y).backward()

    def forward():
        with torch.no_grad():
            model(x)

    for _ in range(30):  # warm-up
        step()
        forward()
    for block in range(args.blocks):
        with common.Clock() as c:
            for _ in range(args.iters):
                step()
        with common.Clock() as f:
            for _ in range(args.iters):
                forward()
        common.emit(block=block, us_per_iter=c.wall / args.iters * 1e6,
                    cpu_us_per_iter=c.cpu / args.iters * 1e6,
                    fwd_us=f.wall / args.iters * 1e6, cpu_fwd_us=f.cpu / args.iters * 1e6)


def collect(args):
    runs = common.default_runs(args, normal=3, quick=1)
    iters = args.iters or (100 if args.quick else 300)
    res = common.alternate(__file__, common.frameworks(args.frameworks), runs,
                           ["--iters", iters, "--blocks", 2 if args.quick else 3], args.threads)
    rows = [common.compare_row("MLP forward+backward, batch 100", res,
                               common.metric(args, "us_per_iter"), " µs"),
            common.compare_row("MLP forward (no_grad), batch 100", res,
                               "cpu_fwd_us" if getattr(args, "cpu_time", False) else "fwd_us",
                               " µs")]
    return rows, res


def parser():
    ap = common.base_parser(__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=0, help="iterations per timed block")
    ap.add_argument("--blocks", type=int, default=3, help="timed blocks per process")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if args.worker:
        args.iters = args.iters or 300
        return worker(args)
    rows, res = collect(args)
    common.print_table(rows, f"MLP layers (threads={args.threads})")
    common.save_json(args.json, {"rows": rows, "results": res})


if __name__ == "__main__":
    main()
