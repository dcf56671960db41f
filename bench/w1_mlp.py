"""W1: seed S1's MNIST MLP (784-256-256-10, ReLU, CrossEntropyLoss, Adam lr 1e-3, batch 100).

    python bench/w1_mlp.py [--runs 5] [--threads N] [--epochs 1] [--quick] [--wait-quiet S]
    python bench/w1_mlp.py --phases [--threads 1 --cpu-time]   # µs/step of each phase
    python bench/w1_mlp.py --denormals                          # set_flush_denormal off/on
    python bench/w1_mlp.py --check-dtypes                       # float64 leaks (ember)

Seconds per training epoch over the real MNIST training set, ember against PyTorch in
separate processes (A B A B), two rows: batches from
``DataLoader(TensorDataset(X, Y), batch_size=100, shuffle=True)`` as the seed does, and by
plain index slicing ``X[i:i + 100]`` (no loader, no shuffle: the compute alone).
Both frameworks start from the same initial weights (drawn here with NumPy, PyTorch's
Linear init distribution) and see identical float32 arrays. Each record also carries the
CPU time, the page faults of the epoch and the number of subnormal Adam-state entries.

Worker options used by scaling.py / memory.py: ``--limit`` (samples per epoch), ``--batch``,
``--hidden``, ``--loader``, ``--flush-denormal``.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

TARGET = 0.8


def init_arrays(hidden: int, seed: int = 777):
    """Initial (weight, bias) NumPy arrays for the three Linear layers: U(±1/sqrt(fan_in))."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dims = [(784, hidden), (hidden, hidden), (hidden, 10)]
    out = []
    for fan_in, fan_out in dims:
        bound = 1 / np.sqrt(fan_in)
        out.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        out.append(rng.uniform(-bound, bound, (fan_out,)).astype(np.float32))
    return out


def build_model(fw, hidden: int):
    """The seed's model, same instance of ReLU twice, with the shared initial weights."""
    nn = fw.nn
    linear1 = nn.Linear(784, hidden, bias=True)
    linear2 = nn.Linear(hidden, hidden, bias=True)
    linear3 = nn.Linear(hidden, 10, bias=True)
    relu = nn.ReLU()
    model = nn.Sequential(linear1, relu, linear2, relu, linear3)
    with fw.no_grad():
        for p, a in zip(model.parameters(), init_arrays(hidden)):
            p.copy_(fw.from_numpy(a))
    return model


def train_epoch(fw, model, criterion, optimizer, batches, total_batch):
    """The seed's inner loop; returns the last batch's cost as a float."""
    cost = None
    for X, Y in batches:
        X = X.view(-1, 28 * 28)
        optimizer.zero_grad()
        hypothesis = model(X)
        cost = criterion(hypothesis, Y)
        cost.backward()
        optimizer.step()
    avg_cost = cost / total_batch  # the seed's (mis-indented) epoch statistic
    return cost.item(), avg_cost.item()


def slices(X, Y, batch):
    n = len(X)
    for i in range(0, n, batch):
        yield X[i:i + batch], Y[i:i + batch]


def worker(args):
    import numpy as np

    fw = common.import_framework(args.framework)
    fw.set_num_threads(args.threads)
    if args.flush_denormal != "default":
        ok = fw.set_flush_denormal(args.flush_denormal == "on")
        if not ok:
            common.emit(warning="set_flush_denormal not supported")
    fw.manual_seed(777)
    x, y = common.to_tensor_arrays("MNIST", train=True)
    if args.limit:
        x, y = np.ascontiguousarray(x[:args.limit]), np.ascontiguousarray(y[:args.limit])
    X, Y = fw.from_numpy(x), fw.from_numpy(y)

    model = build_model(fw, args.hidden)
    criterion = fw.nn.CrossEntropyLoss()
    optimizer = fw.optim.Adam(model.parameters(), lr=1e-3)
    data = fw.utils.data
    loader = data.DataLoader(data.TensorDataset(X, Y), batch_size=args.batch, shuffle=True)
    total_batch = len(loader)

    if args.check_dtypes:
        return check_dtypes(fw, model, criterion, optimizer, X, Y, args.batch)
    if args.phases:
        return phases(fw, model, criterion, optimizer, loader, X, Y, args.batch, args.cpu_time)

    rss_before = common.current_rss_mb()
    peak_before = common.maxrss_mb()
    # Warm-up: a few steps so that lazy imports and first-call costs are not timed.
    train_epoch(fw, model, criterion, optimizer, slices(X[:5 * args.batch], Y[:5 * args.batch],
                                                        args.batch), total_batch)
    loaders = ["dataloader", "slice"] if args.loader == "both" else [args.loader]
    for epoch in range(args.epochs):
        for name in loaders:
            batches = loader if name == "dataloader" else slices(X, Y, args.batch)
            with common.Clock() as c:
                last, _ = train_epoch(fw, model, criterion, optimizer, batches, total_batch)
            common.emit(loader=name, epoch=epoch, seconds=c.wall, cpu_seconds=c.cpu,
                        minflt=c.minflt, samples=len(X),
                        batch=args.batch, hidden=args.hidden, last_cost=last,
                        rss_before_mb=rss_before, peak_before_mb=peak_before,
                        rss_after_mb=common.current_rss_mb(), maxrss_mb=common.maxrss_mb(),
                        flush_denormal=args.flush_denormal, subnormal_state=count_subnormal(
                            fw, optimizer))


def phases(fw, model, criterion, optimizer, loader, X, Y, batch, cpu=False):
    """µs per step of each phase of the seed's loop (slicing), and the loader's µs/batch.

    Wall time, or with `cpu` this process's CPU time (load-robust at --threads 1)."""
    import time

    pc = time.process_time if cpu else time.perf_counter
    names = ("slice+view", "zero_grad", "forward", "loss", "backward", "step")
    acc = dict.fromkeys(names, 0.0)
    n = len(X)
    import resource

    for epoch in range(2):  # the first pass warms up; the second is measured
        for k in acc:
            acc[k] = 0.0
        steps = 0
        flt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for i in range(0, n, batch):
            t0 = pc()
            Xb = X[i:i + batch].view(-1, 28 * 28)
            Yb = Y[i:i + batch]
            t1 = pc()
            optimizer.zero_grad()
            t2 = pc()
            hypothesis = model(Xb)
            t3 = pc()
            cost = criterion(hypothesis, Yb)
            t4 = pc()
            cost.backward()
            t5 = pc()
            optimizer.step()
            t6 = pc()
            for k, d in zip(names, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
                acc[k] += d
            steps += 1
    flt = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - flt) / steps
    t0 = pc()
    nb = 0
    for _ in loader:
        nb += 1
    loader_us = (pc() - t0) / nb * 1e6
    common.emit(phases={k: v / steps * 1e6 for k, v in acc.items()}, loader_us=loader_us,
                steps=steps, minflt_per_step=flt)


def count_subnormal(fw, optimizer) -> int:
    """How many float32 entries of Adam's state are subnormal (nonzero and < 2**-126)."""
    import numpy as np

    n = 0
    for st in optimizer.state.values():
        for v in st.values():
            if hasattr(v, "numpy") and getattr(v, "ndim", 0) > 0:
                a = np.abs(v.detach().numpy())
                n += int(np.count_nonzero((a > 0) & (a < np.finfo(np.float32).tiny)))
    return n


def check_dtypes(fw, model, criterion, optimizer, X, Y, batch):
    """Trace a few steps; report every function that returns a non-float32 float array."""
    train_epoch(fw, model, criterion, optimizer, slices(X[:batch], Y[:batch], batch), 1)
    seen = common.trace_float_leaks(fw, lambda: train_epoch(
        fw, model, criterion, optimizer, slices(X[:3 * batch], Y[:3 * batch], batch), 1))
    for p in model.parameters():
        if p.dtype != fw.float32 or (p.grad is not None and p.grad.dtype != p.dtype):
            seen[("<parameter>", 0, "param/grad", str(p.dtype))] = tuple(p.shape)
    for st in optimizer.state.values():
        for k, v in st.items():
            if hasattr(v, "dtype") and getattr(v, "ndim", 0) > 0 and v.dtype != fw.float32:
                seen[("<adam state>", 0, k, str(v.dtype))] = tuple(v.shape)
    common.emit_leaks(seen)


def add_worker_options(ap):
    ap.add_argument("--epochs", type=int, default=1, help="timed epochs per loader per process")
    ap.add_argument("--loader", choices=["dataloader", "slice", "both"], default="both")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N samples")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--flush-denormal", choices=["default", "on", "off"], default="default")
    ap.add_argument("--check-dtypes", action="store_true")
    ap.add_argument("--denormals", action="store_true",
                    help="compare set_flush_denormal(False/True) over several epochs, and exit")
    ap.add_argument("--phases", action="store_true",
                    help="per-phase µs/step of the seed's loop (both frameworks) and exit")


def worker_args(args):
    return ["--epochs", args.epochs, "--loader", args.loader, "--limit", args.limit,
            "--batch", args.batch, "--hidden", args.hidden,
            "--flush-denormal", args.flush_denormal]


def collect(args):
    """Driver: alternate the frameworks; return (rows, raw results)."""
    runs = common.default_runs(args, normal=5, quick=1)
    wargs = worker_args(args)
    if args.quick and not args.limit:
        wargs[wargs.index("--limit") + 1] = 6000
    fws = common.frameworks(args.frameworks)
    res = common.alternate(__file__, fws, runs, wargs, args.threads)
    suffix = f" ({args.limit or (6000 if args.quick else 60000)} samples)" if (
        args.limit or args.quick) else ""
    key = common.metric(args, "seconds")
    rows = [common.compare_row(f"W1 MLP epoch, DataLoader{suffix}", res, key, " s",
                               target=TARGET, loader="dataloader"),
            common.compare_row(f"W1 MLP epoch, index slicing{suffix}", res, key, " s",
                               target=TARGET, loader="slice")]
    rows = [r for r in rows if args.loader in ("both", "dataloader" if "DataLoader" in
                                                r["workload"] else "slice")]
    return rows, res


def parser():
    """The command line (run_all.py builds its arguments with it too)."""
    ap = common.base_parser(__doc__.splitlines()[0])
    add_worker_options(ap)
    return ap


def denormals(args):
    """W1 over several epochs with set_flush_denormal False/True, alternated, per framework."""
    import statistics

    runs = common.default_runs(args, normal=3, quick=1)
    epochs = max(args.epochs, 4)
    res = {}
    for _ in range(runs):
        for f in common.frameworks(args.frameworks):
            for mode in ("off", "on"):
                wargs = worker_args(args)
                wargs[wargs.index("--epochs") + 1] = epochs
                wargs[wargs.index("--loader") + 1] = "slice"
                wargs[wargs.index("--flush-denormal") + 1] = mode
                if common.QUIET["max_wait"]:
                    common.wait_quiet(common.QUIET["max_wait"])
                res.setdefault((f, mode), []).extend(
                    common.spawn(__file__, f, wargs, args.threads))
    print(f"\n### W1 with set_flush_denormal (threads={args.threads}, index slicing, "
          f"median s/epoch over {runs} processes; subnormal Adam-state entries at epoch end)\n")
    print("| framework | flush | " + " | ".join(f"epoch {e}" for e in range(epochs)) + " |")
    print("|---|---|" + "---|" * epochs)
    for (f, mode), recs in res.items():
        cells = []
        for e in range(epochs):
            sec = [r["seconds"] for r in recs if r.get("epoch") == e]
            sub = [r["subnormal_state"] for r in recs if r.get("epoch") == e]
            cells.append(f"{statistics.median(sec):.3f} s ({statistics.median(sub):.0f})")
        print(f"| {f} | {mode} | " + " | ".join(cells) + " |")
    common.save_json(args.json, {f"{f}/{m}": v for (f, m), v in res.items()})


def main(argv=None):
    args = parser().parse_args(argv)
    if args.worker:
        return worker(args)
    if args.denormals:
        return denormals(args)
    if args.phases:
        for f in common.frameworks(args.frameworks):
            extra = ["--phases"] + (["--cpu-time"] if args.cpu_time else [])
            for r in common.spawn(__file__, f, worker_args(args) + extra, args.threads):
                print(f, {k: round(v, 1) for k, v in r["phases"].items()},
                      f"total {sum(r['phases'].values()):.0f} µs/step, "
                      f"DataLoader {r['loader_us']:.0f} µs/batch, "
                      f"{r['minflt_per_step']:.0f} page faults/step", flush=True)
        return
    if args.check_dtypes:
        for r in common.spawn(__file__, "ember", worker_args(args) + ["--check-dtypes"],
                              args.threads):
            print(r)
        return
    rows, res = collect(args)
    common.print_table(rows, f"W1 (threads={args.threads})")
    common.save_json(args.json, {"rows": rows, "results": res})


if __name__ == "__main__":
    main()
