"""Shared runner for the workload benchmarks: spawn, alternate frameworks, collect, tabulate.

Every workload script has two modes. Without ``--worker`` it is the *driver*: it starts one
child process per run (``python bench/<script>.py --worker --framework ember|torch ...``),
alternating the frameworks A B A B so that both see the same machine state, collects the
JSON lines each child prints, and prints medians, min-max ranges and the ratio ember/torch.
With ``--worker`` it is the *child*: it imports exactly one framework (ember never sees
torch in its process), measures, and prints its results as ``@@BENCH {json}`` lines.

Both frameworks get the same data (the real MNIST / Fashion-MNIST IDX files read here with
plain NumPy), the same hyper-parameters and the same thread count: the driver sets
``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` in the child's
environment (default: the number of CPUs this process may run on).
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
MARK = "@@BENCH "
FRAMEWORKS = ("ember", "torch")


# ----------------------------------------------------------------------------- environment

def cpu_count() -> int:
    """CPUs this process may run on (the default thread count for both frameworks)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_env(threads: int) -> dict:
    """A copy of the environment that pins every BLAS/OpenMP pool to `threads` threads."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(threads)
    # what `import ember` sets when it comes before NumPy (ember/__init__.py): the worker
    # scripts import NumPy first. PyTorch's GEMMs don't use OpenBLAS, so torch is unaffected.
    env.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
    # Some machines of this workplace set OPENBLAS_CORETYPE (with OPENBLAS_L2_SIZE) to force
    # an older kernel, for old OpenBLAS builds that fail on their processors; NumPy's current
    # OpenBLAS picks its kernel from CPUID, as on a learner's machine. Forced to Haswell on
    # this AVX-512 VM, every float32 GEMM ran at half speed (2048x128x512: 109 against 190
    # GFLOP/s on one thread; docs/performance.md, sixth session) while PyTorch's
    # oneDNN/MKL GEMMs ignore both variables. The workers drop both together, as the
    # workplace's notes advise for benchmarks; --keep-blas-env keeps them. Tests and CI
    # never touch them.
    if not KEEP_BLAS_ENV["on"]:
        for var in BLAS_ENV:
            env.pop(var, None)
    # This environment sets PYTHONDONTWRITEBYTECODE, so every `import ember` would recompile
    # ember from source while torch loads the .pyc files pip wrote: cache bytecode outside
    # the repository instead, as an installed package would have it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(),
                                                       f"ember-bench-pycache-{os.getuid()}"))
    # ember must be importable from the repository, whatever the caller's cwd.
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
KEEP_BLAS_ENV = {"on": False}  # set by parsing --keep-blas-env


def blas_line(threads: int = 1) -> str:
    """Which OpenBLAS kernel NumPy runs in the workers, and what the environment forced."""
    code = ("import numpy, threadpoolctl; print(' '.join(i.get('architecture') or '?' for i in "
            "threadpoolctl.threadpool_info() if i.get('internal_api') == 'openblas'))")
    try:
        kernel = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=False,
                                env=thread_env(threads), timeout=60).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        kernel = "?"
    forced = [f"{v}={os.environ[v]}" for v in BLAS_ENV if v in os.environ]
    how = ("" if not forced else f" ({' '.join(forced)} from the environment "
           + ("kept: --keep-blas-env)" if KEEP_BLAS_ENV["on"] else "dropped for the workers)"))
    return f"NumPy's OpenBLAS kernel: {kernel}{how}"


def available(framework: str) -> bool:
    """Whether `framework` can be imported here (without importing it)."""
    if framework == "ember":
        return os.path.isdir(os.path.join(REPO, "ember"))
    return importlib.util.find_spec(framework) is not None


def frameworks(requested=None) -> list:
    """The frameworks to compare: the requested ones that are installed, ember first."""
    names = requested or FRAMEWORKS
    return [f for f in FRAMEWORKS if f in names and available(f)]


def cpu_busy(interval: float = 0.5):
    """Fraction of all CPUs busy over `interval` seconds (from /proc/stat); None off Linux."""
    def snap():
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
        return vals[3] + vals[4], sum(vals)  # idle + iowait, total

    try:
        i0, t0 = snap()
        time.sleep(interval)
        i1, t1 = snap()
    except OSError:
        return None
    return 1 - (i1 - i0) / max(t1 - t0, 1)


def wait_quiet(max_wait: float, threshold: float = 0.25):
    """Wait (at most `max_wait` s) until other processes leave the CPUs mostly idle.

    Returns the last busy fraction seen. Timings on a machine shared with test runs are
    otherwise dominated by whoever else is running (OpenMP pools suffer most).
    """
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy is not None and busy > threshold and time.monotonic() < deadline:
        busy = cpu_busy(1.0)
    return busy


# ----------------------------------------------------------------------------- data

def data_root() -> str:
    """$EMBER_DATA, or ../shared/data relative to the repository root."""
    return os.environ.get("EMBER_DATA") or os.path.normpath(os.path.join(REPO, "..", "shared",
                                                                          "data"))


def _read_idx(path: str, offset: int):
    import numpy as np

    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_idx(name: str = "MNIST", train: bool = True):
    """(images uint8 (N, 28, 28), labels uint8 (N,)) from <root>/<name>/raw/*.gz, plain NumPy."""
    prefix = "train" if train else "t10k"
    raw = os.path.join(data_root(), name, "raw")
    images = _read_idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte.gz"), 16)
    labels = _read_idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte.gz"), 8)
    return images.reshape(-1, 28, 28), labels


def to_tensor_arrays(name: str = "MNIST", train: bool = True):
    """`ToTensor()`'s output stacked: float32 (N, 1, 28, 28) in [0, 1]; int64 labels."""
    import numpy as np

    images, labels = load_idx(name, train)
    x = images.reshape(-1, 1, 28, 28).astype(np.float32)
    x *= np.float32(1 / 255)
    return x, labels.astype(np.int64)


# ----------------------------------------------------------------------------- worker side

def import_framework(name: str):
    """Import `name` ('ember' or 'torch') in a worker; never both in one process."""
    if name == "ember":
        if os.environ.get("EMBER_BENCH_TUNE_MALLOC") == "1":
            tune_malloc()
        if REPO not in sys.path:
            sys.path.insert(0, REPO)
        import ember

        return ember
    import torch

    return torch


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Prototype of a proposed ember change: keep large freed blocks in glibc's heap.

    By default glibc serves blocks above a (dynamic) threshold with mmap and returns freed
    heap tops to the OS, so a training loop that frees and reallocates ~1 MB arrays every
    step (grads after zero_grad(set_to_none=True), Adam's temporaries) can page-fault on every
    first touch. Fixing both thresholds keeps that memory for reuse. Returns False where
    there is no glibc.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own libc: no find_library (~10 ms)
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    return bool(mallopt(m_mmap_threshold, mmap_threshold)) and bool(
        mallopt(m_trim_threshold, trim_threshold))


def emit(**record) -> None:
    """Print one result line for the driver."""
    record.setdefault("load1", os.getloadavg()[0])  # machine load: other processes skew timings
    print(MARK + json.dumps(record), flush=True)


def maxrss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def current_rss_mb() -> float:
    """Current resident set size in MiB (from /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return maxrss_mb()


def timer():
    return time.perf_counter()


class Clock:
    """`with Clock() as c:` ... then c.wall and c.cpu (this process's CPU seconds, all threads).

    CPU time is the load-robust twin of wall time: other processes on the machine stretch
    wall time but hardly this process's CPU time (except for OpenMP spin-waiting, which
    counts as CPU time, so compare CPU times at --threads 1).
    """

    def __enter__(self):
        self._f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c
        # page faults: fresh memory from the OS on every allocation shows up here
        self.minflt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - self._f


def trace_float_leaks(fw, fn) -> dict:
    """Run fn() under sys.setprofile; {(file, line, function, dtype): shape} of every Python
    function that returned a floating array (or Tensor) that is not float32."""
    import numpy as np

    seen = {}
    tensor_type = fw.Tensor

    def check(value, frame):
        arr = value
        if isinstance(value, tensor_type):
            arr = value.detach().numpy()
        if isinstance(arr, np.ndarray) and arr.dtype.kind == "f" and arr.dtype != np.float32:
            code = frame.f_code
            key = (code.co_filename, code.co_firstlineno, code.co_name, str(arr.dtype))
            seen.setdefault(key, tuple(arr.shape))
        elif isinstance(value, tuple):
            for v in value:
                check(v, frame)

    def prof(frame, event, arg):
        if event == "return" and arg is not None:
            check(arg, frame)

    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return seen


def emit_leaks(seen: dict) -> None:
    for (fn, line, name, dt), shape in sorted(seen.items()):
        where = os.path.relpath(fn, REPO) if os.path.isabs(fn) else fn
        emit(float64_leak=f"{where}:{line} {name}", dtype=dt, shape=list(shape))
    emit(dtype_check="done", leaks=len(seen))


# ----------------------------------------------------------------------------- driver side

def base_parser(description: str) -> argparse.ArgumentParser:
    """The options every workload script shares."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--worker", action="store_true", help="child mode: measure one framework")
    ap.add_argument("--framework", choices=FRAMEWORKS, default="ember")
    ap.add_argument("--frameworks", nargs="*", choices=FRAMEWORKS, default=None,
                    help="frameworks to compare (default: ember and torch when installed)")
    ap.add_argument("--runs", type=int, default=None, help="processes per framework")
    ap.add_argument("--threads", type=int, default=cpu_count(),
                    help="BLAS/OpenMP threads for both frameworks (default: CPU count)")
    ap.add_argument("--quick", action="store_true", help="fewer repeats: a smoke run")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--wait-quiet", type=_set_quiet, default=0.0, metavar="SECONDS",
                    help="before each worker, wait up to SECONDS for the CPUs to be idle")
    ap.add_argument("--cpu-time", action="store_true",
                    help="compare CPU time instead of wall time (robust to a loaded machine; "
                         "use with --threads 1)")
    ap.add_argument("--tune-malloc", action=_TuneMalloc, nargs=0, default=False,
                    help="prototype of a proposed ember change: fix glibc's mmap/trim "
                         "thresholds in ember's workers (see tune_malloc)")
    ap.add_argument("--keep-blas-env", action=_KeepBlasEnv, nargs=0, default=False,
                    help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the workers' "
                         "environment (default: dropped, see thread_env)")
    return ap


def metric(args, name: str) -> str:
    """The record key for `name` under --cpu-time: seconds -> cpu_seconds, ms -> cpu_ms ..."""
    return f"cpu_{name}" if getattr(args, "cpu_time", False) else name


def spawn(script: str, framework: str, worker_args, threads: int, timeout: float = 1800):
    """Run one worker process; return its result records (raises with its stderr on failure)."""
    cmd = [sys.executable, script, "--worker", "--framework", framework,
           "--threads", str(threads), *map(str, worker_args)]
    env = thread_env(threads)
    if TUNE_MALLOC["on"] and framework == "ember":  # a proposed ember change: ember only
        env["EMBER_BENCH_TUNE_MALLOC"] = "1"
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=timeout)
    records = [json.loads(line[len(MARK):]) for line in proc.stdout.splitlines()
               if line.startswith(MARK)]
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise WorkerError(f"{framework} worker failed (exit {proc.returncode}):\n{tail}", records)
    return records


class WorkerError(RuntimeError):
    """A worker exited non-zero; `records` holds what it printed before failing."""

    def __init__(self, message, records=()):
        super().__init__(message)
        self.records = list(records)


QUIET = {"max_wait": 0.0}  # set by parsing --wait-quiet
TUNE_MALLOC = {"on": False}  # set by parsing --tune-malloc


class _KeepBlasEnv(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        KEEP_BLAS_ENV["on"] = True
        setattr(namespace, self.dest, True)


class _TuneMalloc(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        TUNE_MALLOC["on"] = True
        setattr(namespace, self.dest, True)


def _set_quiet(text: str) -> float:
    QUIET["max_wait"] = float(text)
    return QUIET["max_wait"]


def alternate(script: str, fws, runs: int, worker_args=(), threads: int = 1,
              timeout: float = 1800, verbose: bool = True):
    """Run `runs` workers per framework in the order A B A B ...; {framework: [records...]}.

    A framework whose worker fails is dropped from later rounds and reported as an error
    (`{framework: [...], "_errors": {framework: message}}`), so one broken framework does not
    hide the other's numbers.
    """
    out = {f: [] for f in fws}
    errors = {}
    for r in range(runs):
        for f in fws:
            if f in errors:
                continue
            busy = wait_quiet(QUIET["max_wait"]) if QUIET["max_wait"] else None
            try:
                recs = spawn(script, f, worker_args, threads, timeout)
                for rec in recs:
                    rec["busy_before"] = busy
            except (WorkerError, subprocess.TimeoutExpired) as e:
                errors[f] = str(e)
                out[f].extend(getattr(e, "records", []))
                if verbose:
                    print(f"  [{os.path.basename(script)}] {f}: {e}", file=sys.stderr)
                continue
            out[f].extend(recs)
            if verbose:
                print(f"  [{os.path.basename(script)}] run {r + 1}/{runs} {f}: "
                      + _short(recs), file=sys.stderr, flush=True)
    if errors:
        out["_errors"] = errors
    return out


_HEADLINE = ("seconds", "us_per_iter", "ms", "maxrss_mb")


def _short(recs) -> str:
    """One line per worker: the median of its headline metric, per loader where there is one."""
    groups = {}
    for r in recs:
        key = next((k for k in _HEADLINE if k in r), None)
        if key is not None:
            groups.setdefault((r.get("loader", ""), key), []).append(r[key])
    return ", ".join(f"{loader + ' ' if loader else ''}{key}={statistics.median(v):.4g}"
                     f"{f' (n={len(v)})' if len(v) > 1 else ''}"
                     for (loader, key), v in groups.items())


def values(records, metric: str, **where):
    """The `metric` values of the records matching every key=value in `where`."""
    return [r[metric] for r in records
            if metric in r and all(r.get(k) == v for k, v in where.items())]


def stats(xs):
    """{'median', 'min', 'max', 'n'} of a list of numbers (None entries when empty)."""
    if not xs:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def ratio(a, b):
    """a / b, or None when either is missing."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(x, unit: str = "", digits: int = 3) -> str:
    """A number with `digits` significant digits and its unit; '—' for None."""
    if x is None:
        return "—"
    return f"{x:.{digits}g}{unit}"


def fmt_range(s: dict, unit: str = "", digits: int = 3) -> str:
    if s["n"] == 0:
        return "—"
    lo, hi = fmt(s["min"], "", digits), fmt(s["max"], "", digits)
    return f"{fmt(s['median'], unit, digits)} [{lo}–{hi}]"


def compare_row(name: str, results: dict, metric: str, unit: str = "", scale: float = 1.0,
                target=None, digits: int = 3, **where) -> dict:
    """One table row: ember and torch stats of `metric` (times `scale`), ratio, target, met."""
    row = {"workload": name, "unit": unit, "target": target}
    for f in FRAMEWORKS:
        row[f] = stats([v * scale for v in values(results.get(f, []), metric, **where)])
    row["ratio"] = ratio(row["ember"]["median"], row["torch"]["median"])
    row["met"] = None if row["ratio"] is None or target is None else row["ratio"] <= target
    errors = results.get("_errors", {})
    row["errors"] = {f: errors[f].splitlines()[-1] for f in errors}
    row["digits"] = digits
    return row


def print_table(rows, title: str = "", file=None) -> None:
    """Markdown table: workload | ember median [min–max] | torch ... | ratio | target | met."""
    file = file or sys.stdout
    if title:
        print(f"\n### {title}\n\n{blas_line()}\n", file=file)
    head = ["workload", "ember median [min–max]", "PyTorch median [min–max]", "ember/PyTorch",
            "target", "met"]
    lines = []
    for r in rows:
        d = r.get("digits", 3)
        met = {None: "—", True: "yes", False: "NO"}[r["met"]]
        ember = fmt_range(r["ember"], r["unit"], d) if r["ember"]["n"] else (
            "error: " + r["errors"].get("ember", "")[:60] if "ember" in r["errors"] else "—")
        torch = fmt_range(r["torch"], r["unit"], d) if r["torch"]["n"] else (
            "error: " + r["errors"].get("torch", "")[:60] if "torch" in r["errors"] else "—")
        target = "—" if r["target"] is None else f"≤ {r['target']:g}×"
        rat = "—" if r["ratio"] is None else f"{r['ratio']:.2f}×"
        lines.append([r["workload"], ember, torch, rat, target, met])
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h)
              for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |", file=file)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|", file=file)
    for l in lines:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(l, widths)) + " |", file=file)
    file.flush()


def save_json(path, payload) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(payload, f, indent=1, default=str)


def default_runs(args, normal: int, quick: int) -> int:
    if args.runs is not None:
        return args.runs
    return quick if args.quick else normal


# ---- training-step benchmarks with a GEMM floor (cnn.py, transformer.py) ---------------------------
def step_parser(description: str, models, what: str = "model") -> argparse.ArgumentParser:
    """base_parser plus --steps/--only/--floor/--profile, for the training-step benchmarks."""
    ap = base_parser(description)
    ap.add_argument("--steps", type=int, default=20, help=f"timed steps per {what} per process")
    ap.add_argument("--only", nargs="*", choices=models, default=list(models))
    ap.add_argument("--floor", action="store_true", help="worker: time the GEMMs alone")
    ap.add_argument("--profile", choices=models, default=None,
                    help=f"cProfile ember's training step of this {what} (top 25, tottime)")
    ap.add_argument("--ops", choices=models, default=None,
                    help=f"ember's training step of this {what}: wall time per step of every "
                         "op's forward and backward")
    return ap


def collect_with_floor(script: str, args, labels: dict, target: float):
    """Driver: alternate the frameworks, then one ember process for the GEMM floor."""
    runs = default_runs(args, normal=3, quick=1)
    if args.quick:
        args.steps = min(args.steps, 8)
    wargs = ["--steps", args.steps, "--only", *args.only]
    res = alternate(script, frameworks(args.frameworks), runs, wargs, args.threads)
    res["floor"] = spawn(script, "ember", wargs + ["--floor"], args.threads)
    key = metric(args, "ms")
    rows = [compare_row(labels[m], res, key, " ms", target=target, model=m) for m in args.only]
    return rows, res


def time_floor(run, steps: int):
    """Median wall and CPU ms of ``run()`` (the step's GEMMs alone), after one warm-up call."""
    run()
    ms, cpu = [], []
    for _ in range(steps):
        with Clock() as c:
            run()
        ms.append(c.wall * 1e3)
        cpu.append(c.cpu * 1e3)
    return statistics.median(ms), statistics.median(cpu)


def print_floor(res, models, key, labels: dict) -> None:
    """ember and PyTorch against the GEMM floor, one row per model."""
    fl = res["floor"]
    print("\n| model | GEMM floor (NumPy BLAS) | GFLOP/step | ember / floor | PyTorch / floor |")
    print("|---|---|---|---|---|")
    for name in models:
        f = stats(values(fl, key.replace("ms", "floor_ms"), model=name))["median"]
        g = values(fl, "gflop", model=name)
        e = stats(values(res.get("ember", []), key, model=name))["median"]
        t = stats(values(res.get("torch", []), key, model=name))["median"]
        print(f"| {labels[name]} | {fmt(f, ' ms')} | {fmt(g[0] if g else None)} |"
              f" {fmt(ratio(e, f), '×')} | {fmt(ratio(t, f), '×')} |")


def step_main(args, title: str, labels: dict, worker, profile, collect):
    """main() of a training-step benchmark: a worker, a profile, or the table and its floor."""
    if args.worker:
        return worker(args)
    if args.profile or args.ops:
        if os.environ.get("EMBER_BENCH_CHILD") != "1":  # in a worker's environment (thread_env)
            env = dict(thread_env(args.threads), EMBER_BENCH_CHILD="1")
            return subprocess.run([sys.executable, os.path.abspath(sys.argv[0]), *sys.argv[1:]],
                                  env=env, cwd=REPO, check=False).returncode or None
        return profile(args)
    rows, res = collect(args)
    print_table(rows, f"{title} (threads={args.threads})")
    print_floor(res, args.only, metric(args, "ms"), labels)
    save_json(args.json, {"rows": rows, "results": res})
    return None


def profile_steps(step, data, warmup: int = 3, ops: bool = False) -> None:
    """cProfile ``step(X, Y)`` over ``data`` after ``warmup`` calls; print the top 25 by tottime.
    With ``ops``, time every autograd Function's forward and backward instead (op_times)."""
    import cProfile
    import pstats

    for X, Y in data[:warmup]:
        step(X, Y)
    if ops:
        return op_times(step, data[warmup:])
    pr = cProfile.Profile()
    pr.enable()
    for X, Y in data[warmup:]:
        step(X, Y)
    pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(25)


def timed(f, spent, key, calls=None):
    """f, adding the wall seconds of each call to spent[key] (and 1 to calls[key])."""
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - t
            if calls is not None:
                calls[key] += 1
    return wrapper


def op_times(step, data, top: int = 30) -> None:
    """Wall ms per step spent in each ember op's forward and backward during ``step(X, Y)``
    over ``data``: every autograd Function subclass loaded by now gets timed wrappers around
    its static forward and backward (restored afterwards). Work on ember's other threads is
    inside its op's time; the engine, the optimizer and module calls are the difference
    between the step and the ops' sum."""
    import collections

    from ember.autograd.function import Function

    def subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from subclasses(s)

    spent, calls, saved = collections.Counter(), collections.Counter(), []
    for cls in set(subclasses(Function)):
        for name in ("forward", "backward"):
            f = cls.__dict__.get(name)
            if isinstance(f, staticmethod):
                saved.append((cls, name, f))
                setattr(cls, name, staticmethod(timed(f.__func__, spent, f"{cls.__name__}.{name}",
                                                      calls)))
    try:
        t = time.perf_counter()
        for X, Y in data:
            step(X, Y)
        total = time.perf_counter() - t
    finally:
        for cls, name, f in saved:
            setattr(cls, name, f)
    n = len(data)
    print(f"step {total / n * 1e3:.2f} ms, of which ops {sum(spent.values()) / n * 1e3:.2f} ms "
          f"({n} steps, one process)\n")
    print("| op | ms per step | calls per step |\n|---|---|---|")
    for key, v in spent.most_common(top):
        print(f"| {key} | {v / n * 1e3:.2f} | {calls[key] // n} |")
