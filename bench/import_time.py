"""Import time: wall time of ``python -c "import ember"`` against ``python -c "import torch"``.

    python bench/import_time.py [--runs 15] [--breakdown]

Each run is a fresh interpreter (alternating ember, torch), timed from outside, so the
number includes interpreter start-up (also shown alone: ``python -c "pass"``). Two rows:
with a bytecode cache (what an installed package has), and as this environment runs Python
by default (``PYTHONDONTWRITEBYTECODE=1``: ember's checkout is compiled at every import).
``--breakdown`` adds ember's slowest modules from one ``python -X importtime`` run (a
diagnostic only: the headline numbers never use -X importtime).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

TARGET = 0.15


def wall(code: str, env) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=common.REPO,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def collect(args):
    runs = common.default_runs(args, normal=15, quick=5)
    cached = common.thread_env(args.threads)
    # As this environment runs Python by default: PYTHONDONTWRITEBYTECODE=1 and no cache, so
    # ember (an editable checkout) is compiled from source at every import, while torch reads
    # the .pyc files pip wrote at install time.
    plain = dict(cached)
    plain.pop("PYTHONPYCACHEPREFIX", None)
    plain["PYTHONDONTWRITEBYTECODE"] = "1"
    fws = common.frameworks(args.frameworks)
    res = {f: [] for f in fws}
    res["python"] = []
    for f in fws:  # warm the bytecode cache (see common.thread_env)
        wall(f"import {f}", cached)
    for _ in range(runs):
        for f in fws:
            if common.QUIET["max_wait"]:
                common.wait_quiet(common.QUIET["max_wait"])
            res[f].append({"seconds": wall(f"import {f}", cached), "mode": "cached"})
            res[f].append({"seconds": wall(f"import {f}", plain), "mode": "plain"})
        res["python"].append({"seconds": wall("pass", cached)})
    rows = [common.compare_row('import (python -c "import X"), bytecode cached', res, "seconds",
                               " s", target=TARGET, mode="cached"),
            common.compare_row("import, no bytecode cache (PYTHONDONTWRITEBYTECODE=1)", res,
                               "seconds", " s", target=TARGET, mode="plain")]
    py = common.stats(common.values(res["python"], "seconds"))
    rows[0]["note"] = f"bare interpreter {py['median']:.3f} s"
    return rows, res


def breakdown(top: int = 15, cold: bool = False):
    """ember's slowest imports (self time, cumulative) from -X importtime."""
    env = common.thread_env(common.cpu_count())
    if cold:
        env.pop("PYTHONPYCACHEPREFIX", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", "import ember"], check=False,
                       capture_output=True, text=True, cwd=common.REPO, env=env)
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:"):].split("|")
        rows.append((int(parts[1]), int(parts[0]), parts[2].rstrip()))
    rows.sort(reverse=True)
    print(f"\nember's slowest imports (cumulative µs, self µs), one run of -X importtime"
          f"{', no bytecode cache' if cold else ''}:")
    for cum, self_, name in rows[:top]:
        print(f"  {cum:>9} {self_:>9}  {name}")
    return rows


def parser():
    """The command line (run_all.py builds its arguments with it too)."""
    ap = common.base_parser(__doc__.splitlines()[0])
    ap.add_argument("--breakdown", action="store_true")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    rows, res = collect(args)
    common.print_table(rows, "Import time")
    print(rows[0]["note"])
    if args.breakdown:
        breakdown()
        breakdown(cold=True)
    common.save_json(args.json, {"rows": rows, "results": res})


if __name__ == "__main__":
    main()
