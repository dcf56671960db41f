"""Scaling: W1's epoch time against batch size and hidden width, ember and PyTorch.

    python bench/scaling.py [--samples 6000] [--runs 1] [--threads N] [--quick]

Two sweeps of W1 (index slicing, Adam, CrossEntropyLoss) over a fixed number of samples per
"epoch" so that the grid finishes in minutes: batch size 1, 10, 100, 1000 at width 256, and
hidden width 64, 256, 1024, 4096 at batch 100. Small batches measure per-step overhead
(Python, dispatch, optimizer), wide layers measure BLAS throughput.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import w1_mlp

BATCHES = (1, 10, 100, 1000)
WIDTHS = (64, 256, 1024, 4096)


def collect(args):
    runs = common.default_runs(args, normal=1, quick=1)
    samples = args.samples or (1000 if args.quick else 6000)
    batches = (10, 100) if args.quick else BATCHES
    widths = (64, 256) if args.quick else WIDTHS
    grid = [(b, 256) for b in batches] + [(100, w) for w in widths if w != 256]
    fws = common.frameworks(args.frameworks)
    rows = []
    raw = {}
    for batch, hidden in grid:
        res = common.alternate(w1_mlp.__file__, fws, runs,
                               ["--loader", "slice", "--limit", samples, "--batch", batch,
                                "--hidden", hidden], args.threads)
        raw[f"{batch}x{hidden}"] = res
        row = common.compare_row(f"batch {batch:>4}, hidden {hidden:>4}", res,
                                 common.metric(args, "seconds"),
                                 " s")
        steps = -(-samples // batch)
        for f in common.FRAMEWORKS:
            med = row[f]["median"]
            row[f"{f}_us_per_step"] = None if med is None else med / steps * 1e6
        rows.append(row)
    return rows, raw, samples


def print_scaling(rows, samples, file=None, cpu=False):
    file = file or sys.stdout
    what = "CPU time" if cpu else "wall time"
    print(f"\n### W1 scaling ({samples} samples per epoch, index slicing, {what})\n", file=file)
    print("| batch | hidden | ember s | PyTorch s | ember µs/step | PyTorch µs/step | "
          "ember/PyTorch |", file=file)
    print("|---|---|---|---|---|---|---|", file=file)
    for r in rows:
        b, h = r["workload"].replace("batch", "").replace("hidden", "").split(",")
        print(f"| {b.strip()} | {h.strip()} | {common.fmt(r['ember']['median'])} | "
              f"{common.fmt(r['torch']['median'])} | {common.fmt(r['ember_us_per_step'])} | "
              f"{common.fmt(r['torch_us_per_step'])} | "
              f"{'—' if r['ratio'] is None else format(r['ratio'], '.2f') + '×'} |", file=file)


def parser():
    """The command line (run_all.py builds its arguments with it too)."""
    ap = common.base_parser(__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=0, help="samples per epoch (default 6000)")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    rows, raw, samples = collect(args)
    print_scaling(rows, samples, cpu=args.cpu_time)
    common.save_json(args.json, {"rows": rows, "results": raw})


if __name__ == "__main__":
    main()
