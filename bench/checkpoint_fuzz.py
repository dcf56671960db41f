"""Checkpoint robustness and memory: the long forms of tests/test_checkpoints_fuzz.py.

    python bench/checkpoint_fuzz.py                 # 5000 fuzz cases per format, 20 kills each
    python bench/checkpoint_fuzz.py --cases 200 --kills 3 --mem-mb 0
    python bench/checkpoint_fuzz.py --mem-mb 400    # peak memory of loading a 400 MB checkpoint

The fuzz flips 1-4 bytes (and sometimes truncates) a model+optimizer checkpoint: each case must
load equal data or raise an error naming the file. The kill loop kills a process in the middle
of ``ember.save`` (at a pause inside the archive, then at random times): the checkpoint must
always load whole, and the next save must leave no temporary file. The memory check loads a
large checkpoint in a fresh process and reports its peak RSS over the file size.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# ru_maxrss survives exec (it would include the parent's peak), so read Linux's VmHWM after
# resetting it through /proc/self/clear_refs
_MEM_CHILD = """
import sys, time, ember
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
path, mmap = sys.argv[1], sys.argv[2] == "1"
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = hwm()
t0 = time.perf_counter()
sd = ember.load(path, mmap=mmap)
dt = time.perf_counter() - t0
total = sum(v.numpy().sum(dtype="float64") for v in sd.values())  # touch every page
print(base, hwm(), dt)
"""


def memory(mb: int, workdir: str) -> None:
    import ember

    n = mb * 2**20 // 4 // 8
    sd = {f"layer{i}.weight": ember.ones(n) for i in range(8)}
    for fmt in ("torch", "ember"):
        path = os.path.join(workdir, f"big-{fmt}.pt")
        t0 = time.perf_counter()
        ember.save(sd, path, _use_ember_format=fmt == "ember")
        save_s = time.perf_counter() - t0
        size = os.path.getsize(path)
        for mmap in ((False, True) if fmt == "torch" else (False,)):
            out = subprocess.run([sys.executable, "-c", _MEM_CHILD, path, "1" if mmap else "0"],
                                 capture_output=True, text=True, check=True,
                                 env=dict(os.environ, PYTHONPATH=REPO))
            base, peak, load_s = out.stdout.split()
            extra = (int(peak) - int(base)) / size
            print(f"{fmt:5s} format, {size / 2**20:6.0f} MiB, mmap={mmap!s:5s}: save {save_s:5.2f}"
                  f" s, load {float(load_s):5.2f} s, peak RSS above import = {extra:.2f}x the "
                  "file")
        os.unlink(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mem-mb", type=int, default=400)
    args = ap.parse_args()
    from tests.test_checkpoints_fuzz import fuzz, kill_loop

    with tempfile.TemporaryDirectory() as d:
        for fmt in ("torch", "ember", "pytorch"):
            if args.cases:
                t0 = time.perf_counter()
                c = fuzz(args.cases, args.seed, fmt, d)
                print(f"fuzz {fmt:5s}: {args.cases} cases, {c['equal']} loaded equal data, "
                      f"{c['refused']} refused with the file named, 0 wrong "
                      f"({time.perf_counter() - t0:.1f} s)")
        for fmt in ("torch", "ember"):
            for pause in (True, False):
                if not args.kills:
                    continue
                sub = os.path.join(d, f"kill-{fmt}-{pause}")
                os.mkdir(sub)
                torn = kill_loop(sub, args.kills, fmt, pause=pause, seed=args.seed)
                how = "mid-archive" if pause else "at random times"
                print(f"kill {fmt:5s} ({how}): {args.kills} kills, {torn} left a temp file; "
                      "checkpoint whole every time, no temp file after the next save")
        if args.mem_mb:
            memory(args.mem_mb, d)


if __name__ == "__main__":
    main()
