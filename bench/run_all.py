"""Every workload of issue #7 in one table: ember against PyTorch, ratios, targets, met or not.

    python bench/run_all.py [--quick] [--threads N] [--runs N] [--only w1 w2 ...]
                            [--frameworks ember torch] [--scaling] [--others] [--json FILE]

Rows: W1 (DataLoader and index slicing), W2, W3 (slicing and DataLoader), inference,
import time, peak RSS, and issue #14's training steps (cnn: LeNet-5, small ResNet;
transformer: char GPT in three spellings; their GEMM floors are in the scripts' own output). ``--quick`` is a smoke run (one process per framework, shortened
epochs: the ratios are indicative only). ``--scaling`` adds bench/scaling.py's grid;
``--others`` also runs the colleagues' scripts (overhead, conv, optim, dataloader, mlp) and
passes their output through. Exit status 0 whether or not targets are met (benchmarks, not
tests); 1 if a worker failed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cnn
import common
import import_time
import inference
import memory
import scaling
import transformer
import w1_mlp
import w2_temperature
import w3_softmax

SUITES = {  # name -> module; order = table order
    "w1": w1_mlp,
    "w2": w2_temperature,
    "w3": w3_softmax,
    "inference": inference,
    "import": import_time,
    "memory": memory,
    "cnn": cnn,
    "transformer": transformer,
}
OTHERS = ("overhead.py", "conv.py", "optim.py", "dataloader.py", "mlp.py")


def shared_argv(args) -> list:
    argv = ["--threads", str(args.threads)]
    if args.quick:
        argv.append("--quick")
    if args.runs:
        argv += ["--runs", str(args.runs)]
    if args.frameworks:
        argv += ["--frameworks", *args.frameworks]
    if args.wait_quiet:
        argv += ["--wait-quiet", str(args.wait_quiet)]
    if args.cpu_time:
        argv.append("--cpu-time")
    if args.tune_malloc:
        argv.append("--tune-malloc")
    if args.keep_blas_env:
        argv.append("--keep-blas-env")
    return argv


def machine_line() -> str:
    import platform

    import numpy as np

    return (f"{platform.machine()}, {common.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, NumPy {np.__version__}, load "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer, shorter repeats")
    ap.add_argument("--threads", type=int, default=common.cpu_count())
    ap.add_argument("--runs", type=int, default=None, help="processes per framework per suite")
    ap.add_argument("--frameworks", nargs="*", choices=common.FRAMEWORKS, default=None)
    ap.add_argument("--only", nargs="*", choices=list(SUITES), default=None)
    ap.add_argument("--scaling", action="store_true", help="add the scaling grid")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="before each worker, wait up to SECONDS for idle CPUs")
    ap.add_argument("--cpu-time", action="store_true",
                    help="compare CPU time instead of wall time (use with --threads 1)")
    ap.add_argument("--tune-malloc", action="store_true",
                    help="prototype: fixed glibc malloc thresholds in ember's workers")
    ap.add_argument("--keep-blas-env", action="store_true",
                    help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the workers (default: "
                         "dropped; see common.thread_env)")
    ap.add_argument("--others", action="store_true", help="also run the colleagues' scripts")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    common.KEEP_BLAS_ENV["on"] = args.keep_blas_env

    t0 = time.perf_counter()
    rows, raw, failed = [], {}, False
    for name in args.only or SUITES:
        mod = SUITES[name]
        sub = mod.parser().parse_args(shared_argv(args))
        print(f"[run_all] {name} ...", file=sys.stderr, flush=True)
        try:
            r, res = mod.collect(sub)
        except Exception as e:  # noqa: BLE001 - a broken suite must not hide the others' rows
            print(f"[run_all] {name} failed: {e!r}", file=sys.stderr)
            failed = True
            continue
        failed |= bool(res.get("_errors")) if isinstance(res, dict) else False
        rows += r
        raw[name] = res

    print(f"\n{machine_line()}; threads={args.threads}"
          f"{'; QUICK smoke run: ratios indicative only' if args.quick else ''}"
          f"{'; ember workers with tuned malloc (prototype)' if args.tune_malloc else ''}"
          f"{'; CPU time' if args.cpu_time else ''}")
    common.print_table(rows, "ember vs PyTorch (issue #7 workloads)")
    missed = [r["workload"] for r in rows if r["met"] is False]
    print(f"\ntargets met: {sum(r['met'] is True for r in rows)}/"
          f"{sum(r['met'] is not None for r in rows)}"
          + (f"; missed: {', '.join(missed)}" if missed else ""))

    if args.scaling:
        sub = scaling.parser().parse_args(shared_argv(args))
        srows, sraw, samples = scaling.collect(sub)
        scaling.print_scaling(srows, samples, cpu=args.cpu_time)
        raw["scaling"] = {"rows": srows, "results": sraw}

    if args.others:
        for script in OTHERS:
            path = os.path.join(common.BENCH_DIR, script)
            if not os.path.exists(path):
                continue
            print(f"\n### bench/{script}\n", flush=True)
            p = subprocess.run([sys.executable, path], check=False, cwd=common.REPO,
                               env=common.thread_env(args.threads), capture_output=True,
                               text=True)
            print(p.stdout.rstrip())
            if p.returncode:
                print(f"(exit {p.returncode}) {p.stderr.strip().splitlines()[-1:]}")

    print(f"\n(total {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    common.save_json(args.json, {"machine": machine_line(), "threads": args.threads,
                                 "quick": args.quick, "rows": rows, "results": raw})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
