"""W2: seed S2's temperature fit with optim.SGD, microseconds per iteration.

    python bench/w2_temperature.py [--runs 3] [--iters 5000] [--threads N] [--quick]

The seed's ``training_loop_opt`` body with ``optim.SGD([params], lr=1e-2)`` on the normalised
input ``t_un = 0.1 * t_u`` (11 points): ``model(t_u, *params)`` unpacks the 2-element
``params`` tensor (so indexing/unbind is part of the loop), then ``loss_fn``,
``zero_grad``, ``backward``, ``step``. Pure per-op overhead: every tensor has 1 to 11 elements.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

TARGET = 0.33
T_C = [0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0]
T_U = [35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4]


def model(t_u, w, b):
    return w * t_u + b


def loss_fn(t_p, t_c):
    squared_diffs = (t_p - t_c) ** 2
    return squared_diffs.mean()


def training_loop_opt(n_epochs, optimizer, params, t_u, t_c):
    for epoch in range(1, n_epochs + 1):
        t_p = model(t_u, *params)
        loss = loss_fn(t_p, t_c)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return params


def worker(args):
    torch = common.import_framework(args.framework)
    torch.set_num_threads(args.threads)
    t_c = torch.tensor(T_C)
    t_u = torch.tensor(T_U)
    t_un = 0.1 * t_u
    params = torch.tensor([1.0, 0.0], requires_grad=True)
    optimizer = torch.optim.SGD([params], lr=1e-2)
    training_loop_opt(200, optimizer, params, t_un, t_c)  # warm-up
    for block in range(args.blocks):
        with common.Clock() as c:
            training_loop_opt(args.iters, optimizer, params, t_un, t_c)
        common.emit(block=block, us_per_iter=c.wall / args.iters * 1e6,
                    cpu_us_per_iter=c.cpu / args.iters * 1e6, iters=args.iters,
                    final_loss=float(loss_fn(model(t_un, *params), t_c)))


def collect(args):
    runs = common.default_runs(args, normal=3, quick=1)
    iters = args.iters or (1000 if args.quick else 5000)
    blocks = 2 if args.quick else 3
    res = common.alternate(__file__, common.frameworks(args.frameworks), runs,
                           ["--iters", iters, "--blocks", blocks], args.threads)
    return [common.compare_row("W2 temperature loop (SGD)", res,
                               common.metric(args, "us_per_iter"), " µs", target=TARGET)], res


def parser():
    """The command line (run_all.py builds its arguments with it too)."""
    ap = common.base_parser(__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=0, help="iterations per timed block")
    ap.add_argument("--blocks", type=int, default=3, help="timed blocks per process")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if args.worker:
        args.iters = args.iters or 5000
        return worker(args)
    rows, res = collect(args)
    common.print_table(rows, f"W2 (threads={args.threads})")
    common.save_json(args.json, {"rows": rows, "results": res})


if __name__ == "__main__":
    main()
