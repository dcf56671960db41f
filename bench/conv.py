"""ember vs PyTorch, side by side: conv2d alone and a small CNN (forward + backward).

    python bench/conv.py [--threads N] [--repeats R] [--cpu-time]

Both libraries run with the same thread count; ember and torch runs alternate and each line
reports medians and the ratio ember / torch (lower is better for ember). --cpu-time measures
process CPU time instead of wall time: steadier on a machine shared with other jobs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ember  # noqa: E402
import ember.nn as enn  # noqa: E402
from ember._ops import nn_ops as K  # noqa: E402

_clock = time.perf_counter


def _timeit(fn, number):
    t0 = _clock()
    for _ in range(number):
        fn()
    return (_clock() - t0) / number


def compare(name, f_ember, f_torch, repeats, number):
    """Alternate ember and torch runs; print medians (ms) and the ratio."""
    f_ember()
    f_torch()  # warm-up
    te, tt = [], []
    for _ in range(repeats):
        te.append(_timeit(f_ember, number))
        tt.append(_timeit(f_torch, number))
    me, mt = statistics.median(te) * 1e3, statistics.median(tt) * 1e3
    print(f"{name:<44} ember {me:8.3f} ms   torch {mt:8.3f} ms   ratio {me / mt:5.2f}")
    return me / mt


def conv_cases(torch, repeats):
    rng = np.random.default_rng(0)
    cases = [("conv2d 64x1x28x28, 32 3x3 pad 1", (64, 1, 28, 28), (32, 1, 3, 3), 1, 1),
             ("conv2d 64x32x14x14, 64 3x3 pad 1", (64, 32, 14, 14), (64, 32, 3, 3), 1, 1),
             ("conv2d 64x16x28x28, 16 5x5 stride 2", (64, 16, 28, 28), (16, 16, 5, 5), 2, 2)]
    for name, xs, ws, stride, pad in cases:
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        xe, we = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
        xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)

        def fe():
            y = K.conv2d(xe, we, None, stride, pad)
            y.backward(ember.ones_like(y))

        def ft():
            y = torch.conv2d(xt, wt, None, stride, pad)
            y.backward(torch.ones_like(y))

        with ember.no_grad(), torch.no_grad():
            compare(name + " fwd", lambda: K.conv2d(xe, we, None, stride, pad),
                    lambda: torch.conv2d(xt, wt, None, stride, pad), repeats, 5)
        compare(name + " fwd+bwd", fe, ft, repeats, 3)


def cnn_case(torch, repeats):
    """Conv(1->16, 5) - ReLU - MaxPool(2) - Conv(16->32, 5) - ReLU - MaxPool(2) - Linear."""
    rng = np.random.default_rng(1)

    def build(nn):
        return nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 10))

    me, mt = build(enn), build(torch.nn)
    for pe, pt in zip(me.parameters(), mt.parameters()):
        pe.data = ember.tensor(pt.detach().numpy().copy())
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    xe, ye, xt, yt = ember.tensor(x), ember.tensor(y), torch.tensor(x), torch.tensor(y)

    def fe():
        for p in me.parameters():
            p.grad = None
        K.cross_entropy(me(xe), ye).backward()

    def ft():
        for p in mt.parameters():
            p.grad = None
        torch.nn.functional.cross_entropy(mt(xt), yt).backward()

    fe()
    ft()
    for pe, pt in zip(me.parameters(), mt.parameters()):  # the same numbers, not just the speed
        np.testing.assert_allclose(pe.grad.numpy(), pt.grad.numpy(), rtol=1e-3, atol=1e-4)
    with ember.no_grad(), torch.no_grad():
        compare("small CNN, batch 64, forward", lambda: me(xe), lambda: mt(xt), repeats, 3)
    return compare("small CNN, batch 64, forward+backward", fe, ft, repeats, 3)


def ce_case(torch, repeats):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((100, 10)).astype(np.float32)
    y = rng.integers(0, 10, 100)
    xe, ye = ember.tensor(x, requires_grad=True), ember.tensor(y)
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y)
    compare("cross_entropy 100x10, forward+backward",
            lambda: K.cross_entropy(xe, ye).backward(),
            lambda: torch.nn.functional.cross_entropy(xt, yt).backward(), repeats, 500)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both libraries (default: all cores)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cpu-time", action="store_true", help="time with process_time")
    args = parser.parse_args()
    if args.cpu_time:
        global _clock
        _clock = time.process_time
    n = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(n)
    ember.set_num_threads(n)
    print(f"threads: {n} (torch {torch.get_num_threads()}, ember {ember.get_num_threads()}), "
          f"numpy {np.__version__}, torch {torch.__version__}, "
          f"{'CPU' if args.cpu_time else 'wall'} time")
    conv_cases(torch, args.repeats)
    cnn_case(torch, args.repeats)
    ce_case(torch, args.repeats)


if __name__ == "__main__":
    main()
