"""The cost of ember.doctor on seed S1's MNIST epoch (784-256-256-10 ReLU, Adam 1e-3, batch 100).

    python bench/doctor.py [--runs 5] [--threads 1] [--limit N]

One process per run, alternating without and with ``ember.doctor.watch(model, optimizer)``
(A B A B), each timing one epoch of the seed's loop over ``DataLoader(TensorDataset(X, Y),
batch_size=100, shuffle=True, drop_last=True)`` with ``avg_cost += cost.item() / total_batch``.
Prints the medians, the ranges and the ratio with/without (the doctor's budget: <= 1.05).
Each worker also prints a checksum of the final weights: the doctor must not change them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

MARK = "@@DOCTOR "


def worker(doctor: bool, limit: int, own: bool = False) -> None:
    import numpy as np

    import ember
    from ember import nn
    from ember.utils.data import DataLoader, TensorDataset

    x, y = common.to_tensor_arrays("MNIST", True)
    X = ember.from_numpy(x[:limit].reshape(-1, 784).copy())
    Y = ember.from_numpy(y[:limit].copy())
    ember.manual_seed(777)
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(784, 256), relu, nn.Linear(256, 256), relu,
                          nn.Linear(256, 10))
    criterion = nn.CrossEntropyLoss()
    optimizer = ember.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(X, Y), batch_size=100, shuffle=True, drop_last=True)
    total_batch = len(loader)
    own_s = [0.0]
    if own:  # time the doctor's hooks (not its cross_entropy check: ~1 us after 20 calls)
        D = ember.doctor.Doctor
        for name in ("_pre_forward", "_post_forward", "_on_backward", "_after_step"):
            setattr(D, name, common.timed(getattr(D, name), own_s, 0))
    doc = ember.doctor.watch(model, optimizer, stream=sys.stderr) if doctor else None
    start, cpu = time.perf_counter(), time.process_time()
    avg_cost = 0.0
    for X_b, Y_b in loader:
        optimizer.zero_grad()
        cost = criterion(model(X_b), Y_b)
        cost.backward()
        optimizer.step()
        avg_cost += cost.item() / total_batch
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if doc is not None:
        ember.doctor.stop()
    checksum = float(sum(np.abs(p.detach().numpy()).sum(dtype=np.float64)
                         for p in model.parameters()))
    print(MARK + json.dumps({"doctor": doctor, "seconds": seconds, "cpu": cpu, "own": own_s[0], "cost": avg_cost,
                             "checksum": checksum, "diagnoses": len(doc.diagnoses) if doc
                             else 0}), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs of each (without, with)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=60000, help="training images per epoch")
    p.add_argument("--worker", choices=("off", "on", "own"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker != "off", args.limit, own=args.worker == "own")
        return 0
    env = common.thread_env(args.threads)
    results = {"off": [], "on": [], "own": []}
    for i in range(args.runs):
        for mode in ("off", "on", "own"):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", mode,
                                  "--limit", str(args.limit)], capture_output=True, text=True,
                                 env=env, cwd=common.REPO, check=True)
            rec = next(json.loads(line[len(MARK):]) for line in out.stdout.splitlines()
                       if line.startswith(MARK))
            results[mode].append(rec)
            print(f"run {i + 1} doctor {mode:3}: {rec['seconds']:.3f} s (CPU {rec['cpu']:.3f} s,"
                  f" doctor's callbacks {rec['own']:.3f} s)"
                  f"  cost {rec['cost']:.6f}  checksum {rec['checksum']:.6f}"
                  f"  diagnoses {rec['diagnoses']}", flush=True)
    off = statistics.median(r["seconds"] for r in results["off"])
    on = statistics.median(r["seconds"] for r in results["on"])
    cpu_off = statistics.median(r["cpu"] for r in results["off"])
    cpu_on = statistics.median(r["cpu"] for r in results["on"])
    same = {r["checksum"] for r in results["off"]} == {r["checksum"] for r in results["on"]}
    own = statistics.median(r["own"] / r["seconds"] for r in results["own"])
    print(f"\nS1 MNIST epoch ({args.limit} images, {args.threads} thread(s)), median of "
          f"{args.runs}:\n  without doctor {off:.3f} s "
          f"[{min(r['seconds'] for r in results['off']):.3f}-"
          f"{max(r['seconds'] for r in results['off']):.3f}]\n  with doctor    {on:.3f} s "
          f"[{min(r['seconds'] for r in results['on']):.3f}-"
          f"{max(r['seconds'] for r in results['on']):.3f}]\n  ratio {on / off:.3f} "
          f"(budget 1.05); CPU time ratio {cpu_on / cpu_off:.3f}; final weights identical: {same}\n"
          f"  the doctor's own callbacks, timed in-process: {100 * own:.1f}% of the epoch "
          "(less sensitive to a busy machine than the ratio)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
