"""Peak RSS while training W1 (one DataLoader epoch), ember against PyTorch.

    python bench/memory.py [--runs 2] [--threads N] [--quick]

Each worker (w1_mlp.py's) reports ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after one
epoch (the headline: the whole process, library and data included), plus the resident size
just before training and just after it, whose difference shows what training itself keeps
(graphs, optimizer state, loader buffers, leaks).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import w1_mlp

TARGET = 1.0
W1 = w1_mlp.__file__


def collect(args):
    runs = common.default_runs(args, normal=2, quick=1)
    limit = args.limit or (6000 if args.quick else 0)
    res = common.alternate(W1, common.frameworks(args.frameworks), runs,
                           ["--loader", "dataloader", "--epochs", 1, "--limit", limit],
                           args.threads)
    for f in common.FRAMEWORKS:
        for r in res.get(f, []):
            r["growth_mb"] = r["rss_after_mb"] - r["rss_before_mb"]
            r["peak_growth_mb"] = r["maxrss_mb"] - r["peak_before_mb"]
    suffix = f" ({limit} samples)" if limit else ""
    rows = [common.compare_row(f"peak RSS, W1 DataLoader epoch{suffix}", res, "maxrss_mb",
                               " MiB", target=TARGET),
            common.compare_row("  RSS growth during the epoch", res, "growth_mb", " MiB"),
            common.compare_row("  RSS before training (library + data)", res, "rss_before_mb",
                               " MiB")]
    return rows, res


def parser():
    """The command line (run_all.py builds its arguments with it too)."""
    ap = common.base_parser(__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="use only the first N samples")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    rows, res = collect(args)
    common.print_table(rows, f"Memory (threads={args.threads})")
    common.save_json(args.json, {"rows": rows, "results": res})


if __name__ == "__main__":
    main()
