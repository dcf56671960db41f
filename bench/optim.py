"""Optimizer step() time, ember vs PyTorch, on the seeds' 784-256-256-10 MLP parameters.

Both run in one process with the same thread count; the two libraries alternate step by step
(so drift in machine load hits both alike) and medians are compared. A second table gives the
fixed cost of step() and zero_grad() on one 2-element parameter (seed S2's loop, W2): CPU time
per call over blocks of calls, the libraries alternating block by block.

    python bench/optim.py [--steps 300] [--threads N] [--small-calls 2000] [--cpu-time]

``--cpu-time`` times the MLP table's steps in this process's CPU time (robust to other load at
one thread) instead of wall time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ember  # noqa: E402

try:
    import torch
except ImportError:  # ember alone still reports its times
    torch = None

SHAPES = [(256, 784), (256,), (256, 256), (256,), (10, 256), (10,)]  # Linear weights and biases

CONFIGS = [
    ("Adam", dict(lr=1e-3)),
    ("SGD", dict(lr=1e-2, momentum=0.9)),
    ("SGD", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-3)),
    ("RMSprop", dict(lr=1e-3)),
    ("Adagrad", dict(lr=1e-2)),
]


def _make(lib, name, kwargs, arrays, grads):
    params = [lib.tensor(a.copy(), requires_grad=True) for a in arrays]
    for p, g in zip(params, grads):
        p.grad = lib.tensor(g.copy())
    opt = getattr(lib.optim, name)(params, **kwargs)
    for _ in range(3):  # warm up (and create the lazy state)
        opt.step()
    return opt


def bench(name, kwargs, steps, torch, clock=time.perf_counter):
    rng = np.random.default_rng(0)
    arrays = [(rng.standard_normal(s) * 0.05).astype(np.float32) for s in SHAPES]
    grads = [(rng.standard_normal(s) * 0.01).astype(np.float32) for s in SHAPES]
    e_opt = _make(ember, name, kwargs, arrays, grads)
    t_opt = _make(torch, name, kwargs, arrays, grads) if torch else None
    e_times, t_times = [], []
    for _ in range(steps):
        t0 = clock()
        e_opt.step()
        e_times.append(clock() - t0)
        if t_opt is not None:
            t0 = clock()
            t_opt.step()
            t_times.append(clock() - t0)
    e_med = float(np.median(e_times)) * 1e6
    t_med = float(np.median(t_times)) * 1e6 if t_times else float("nan")
    return e_med, t_med


SMALL = [
    ("SGD", dict(lr=1e-2), "step"),
    ("SGD", dict(lr=1e-2), "zero_grad"),
    ("SGD", dict(lr=1e-2), "zero_grad(set_to_none=False)"),
    ("SGD", dict(lr=1e-2, momentum=0.9), "step"),
    ("Adam", dict(lr=1e-3), "step"),
]


def _small_call(lib, name, kwargs, what):
    """A no-argument callable doing ``what`` on an optimizer of one 2-element parameter."""
    p = lib.tensor([1.0, 0.0], requires_grad=True)
    g = lib.tensor([0.1, 0.2])
    p.grad = g
    opt = getattr(lib.optim, name)([p], **kwargs)
    opt.step()
    if what == "step":
        return opt.step
    if what == "zero_grad":
        def zero_grad():  # as in the loop: the grad is there again after backward()
            opt.zero_grad()
            p.grad = g
        return zero_grad
    return lambda: opt.zero_grad(set_to_none=False)


def bench_small(name, kwargs, what, calls, torch):
    fns = {"ember": _small_call(ember, name, kwargs, what)}
    if torch is not None:
        fns["torch"] = _small_call(torch, name, kwargs, what)
    times = {k: [] for k in fns}
    clock = time.process_time
    for _ in range(15):
        for k, fn in fns.items():
            t0 = clock()
            for _ in range(calls):
                fn()
            times[k].append((clock() - t0) / calls)
    med = {k: float(np.median(v)) * 1e6 for k, v in times.items()}
    return med["ember"], med.get("torch", float("nan"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--small-calls", type=int, default=2000,
                    help="calls per timed block in the 2-element table (0: skip it)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time the MLP table in process CPU time, not wall time")
    args = ap.parse_args()
    threads = args.threads or ember.get_num_threads()
    ember.set_num_threads(threads)  # (ember's elementwise math is single-threaded NumPy)
    if torch is not None:
        torch.set_num_threads(threads)
    n = sum(int(np.prod(s)) for s in SHAPES)
    print(f"optimizer step() on the 784-256-256-10 MLP ({n:,} float32 parameters in "
          f"{len(SHAPES)} tensors), {threads} thread(s), median of {args.steps} steps"
          + (", CPU time" if args.cpu_time else ""))
    print(f"{'optimizer':34s} {'ember us':>10s} {'torch us':>10s} {'ember/torch':>12s}")
    for name, kwargs in CONFIGS:
        e, t = bench(name, kwargs, args.steps, torch,
                     time.process_time if args.cpu_time else time.perf_counter)
        label = name + "(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
        print(f"{label:34s} {e:10.1f} {t:10.1f} {e / t:12.2f}")
    if not args.small_calls:
        return
    print(f"\none 2-element parameter (seed S2's loop): CPU us per call, median of 15 blocks of "
          f"{args.small_calls} calls")
    print(f"{'call':48s} {'ember us':>10s} {'torch us':>10s} {'ember/torch':>12s}")
    for name, kwargs, what in SMALL:
        e, t = bench_small(name, kwargs, what, args.small_calls, torch)
        label = name + "(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")." + what
        print(f"{label:48s} {e:10.2f} {t:10.2f} {e / t:12.2f}")


if __name__ == "__main__":
    main()
