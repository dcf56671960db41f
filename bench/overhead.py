"""Per-call overhead of small-tensor ops, ember against PyTorch, side by side.

Run: ``python bench/overhead.py [--rounds N] [--only NAME ...] [--wall]``. Each case is
timed for both libraries in alternation in one process (``rounds`` rounds of ``number`` calls
each), so both see the same machine state; the table shows the median microseconds per call
and the ratio ember/torch (target: <= 1.5). Both run single-threaded, and the clock is the
process's CPU time by default (other jobs on a shared machine then barely disturb the
ratios; ``--wall`` uses wall time). Cases whose ops a library lacks are reported as missing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _cases(lib):
    """name -> (setup() -> state, fn(state)) for one library (ember or torch)."""
    t = lib

    def leaf(shape, grad=False):
        rng = np.random.default_rng(0)
        return t.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=grad)

    def chain10(s):
        w, b = s
        y = w * b + w
        y = y.exp() * 0.5 - b
        y = (y * y).tanh() + w
        y = y.sigmoid() * b - 1.0
        return y

    cases = {
        "add (3,)": (lambda: (leaf(3), leaf(3)), lambda s: s[0] + s[1]),
        "mul (64,64)": (lambda: (leaf((64, 64)), leaf((64, 64))), lambda s: s[0] * s[1]),
        "add scalar": (lambda: leaf(3), lambda s: s + 1.0),
        "exp (3,)": (lambda: leaf(3), lambda s: s.exp()),
        "mul grad (3,)": (lambda: (leaf(3, True), leaf(3, True)), lambda s: s[0] * s[1]),
        "matmul 64x64": (lambda: (leaf((64, 64)), leaf((64, 64))), lambda s: s[0] @ s[1]),
        "sum (64,64)": (lambda: leaf((64, 64)), lambda s: s.sum()),
        "(w*b+w).exp().backward": (
            lambda: (leaf(3, True), leaf(3, True), t.ones(3)),
            lambda s: (s[0] * s[1] + s[0]).exp().backward(s[2]),
        ),
        "10-op graph fwd+bwd": (
            lambda: (leaf(3, True), leaf(3, True), t.ones(3)),
            lambda s: chain10(s[:2]).backward(s[2]),
        ),
        "10-op graph fwd only": (
            lambda: (leaf(3, True), leaf(3, True)),
            lambda s: chain10(s),
        ),
        "mlp step (32x64)": (
            lambda: (leaf((32, 64)), leaf((64, 64), True), leaf(64, True), leaf((64, 1), True)),
            lambda s: ((s[0] @ s[1] + s[2]).relu() @ s[3]).sum().backward(),
        ),
        # views and indexing of a small tensor (these were timing asserts in the tests, with
        # limits of 5-15 us; a test must not assert a duration)
        "x.reshape(5, 4)": (lambda: leaf((4, 5)), lambda s: s.reshape(5, 4)),
        "x.view(-1)": (lambda: leaf((4, 5)), lambda s: s.view(-1)),
        "x.t()": (lambda: leaf((4, 5)), lambda s: s.t()),
        "w.reshape(5, 4) grad": (lambda: leaf((4, 5), True), lambda s: s.reshape(5, 4)),
        "x[1]": (lambda: leaf((4, 5)), lambda s: s[1]),
        "x[1:3]": (lambda: leaf((4, 5)), lambda s: s[1:3]),
        "x[1, 2]": (lambda: leaf((4, 5)), lambda s: s[1, 2]),
        "w[1] grad": (lambda: leaf((4, 5), True), lambda s: s[1]),
        # larger calls that once had a time limit in the tests
        "randperm(60000)": (lambda: None, lambda s: t.randperm(60000)),
        "repr of zeros(10**7)": (lambda: t.zeros(10_000_000), repr),
    }
    return cases


_CLOCK = [time.process_time]


def _time(fn, state, number):
    clock = _CLOCK[0]
    t0 = clock()
    for _ in range(number):
        fn(state)
    return (clock() - t0) / number * 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--number", type=int, default=0, help="calls per round (default: auto)")
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--wall", action="store_true", help="wall-clock time instead of CPU time")
    args = ap.parse_args(argv)
    if args.wall:
        _CLOCK[0] = time.perf_counter

    import ember

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    ember.set_num_threads(1)

    libs = {"ember": ember}
    if torch is not None:
        libs["torch"] = torch
    all_cases = {name: _cases(lib) for name, lib in libs.items()}
    names = list(all_cases["ember"])
    if args.only:
        names = [n for n in names if any(o in n for o in args.only)]

    print(f"{'case':28s} {'ember us':>10s} {'torch us':>10s} {'ratio':>7s}")
    for name in names:
        prepared, results = {}, {}
        for lib, cases in all_cases.items():
            setup, fn = cases[name]
            try:
                state = setup()
                fn(state)  # warm up, and find out whether the library has the op
            except Exception as exc:  # noqa: BLE001 - report and go on
                results[lib] = f"missing ({type(exc).__name__})"
                continue
            prepared[lib] = (fn, state)
            results[lib] = []
        if not prepared:
            continue
        # calibrate: about 50 ms per round for the slower library
        number = args.number
        if not number:
            per = max(_time(fn, st, 50) for fn, st in prepared.values())
            number = max(20, int(50000 / max(per, 1e-3)))
        for _ in range(args.rounds):
            for lib, (fn, state) in prepared.items():
                results[lib].append(_time(fn, state, number))
        med = {lib: statistics.median(v) if isinstance(v, list) else v for lib, v in results.items()}
        e, tt = med.get("ember"), med.get("torch")
        fmt = lambda v: f"{v:10.2f}" if isinstance(v, float) else f"{v!s:>10s}"
        ratio = f"{e / tt:7.2f}" if isinstance(e, float) and isinstance(tt, float) else f"{'-':>7s}"
        print(f"{name:28s} {fmt(e)} {fmt(tt)} {ratio}", flush=True)


if __name__ == "__main__":
    main()
