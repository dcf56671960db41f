"""Optimizer step() time, ember vs PyTorch, on the seeds' 784-256-256-10 MLP parameters.

Both run in one process with the same thread count; the two libraries alternate step by step
(so drift in machine load hits both alike) and medians are compared.

    python bench/optim.py [--steps 300] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import ember  # noqa: E402

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


def bench(name, kwargs, steps, torch):
    rng = np.random.default_rng(0)
    arrays = [(rng.standard_normal(s) * 0.05).astype(np.float32) for s in SHAPES]
    grads = [(rng.standard_normal(s) * 0.01).astype(np.float32) for s in SHAPES]
    e_opt = _make(ember, name, kwargs, arrays, grads)
    t_opt = _make(torch, name, kwargs, arrays, grads) if torch else None
    e_times, t_times = [], []
    clock = time.perf_counter
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:  # ember alone still reports its times
        torch = None
    threads = args.threads or ember.get_num_threads()
    ember.set_num_threads(threads)  # (ember's elementwise math is single-threaded NumPy)
    if torch is not None:
        torch.set_num_threads(threads)
    n = sum(int(np.prod(s)) for s in SHAPES)
    print(f"optimizer step() on the 784-256-256-10 MLP ({n:,} float32 parameters in "
          f"{len(SHAPES)} tensors), {threads} thread(s), median of {args.steps} steps")
    print(f"{'optimizer':34s} {'ember us':>10s} {'torch us':>10s} {'ember/torch':>12s}")
    for name, kwargs in CONFIGS:
        e, t = bench(name, kwargs, args.steps, torch)
        label = name + "(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
        print(f"{label:34s} {e:10.1f} {t:10.1f} {e / t:12.2f}")


if __name__ == "__main__":
    main()
