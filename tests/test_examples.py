"""The seed listings in examples/seeds run on ember (and on PyTorch) and print what the seeds print."""
import json
import os
import pathlib
import re
import select
import signal
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEEDS = ROOT / "examples" / "seeds"
EXPECTED = SEEDS / "expected"


def _expected_lines(name):
    text = (EXPECTED / f"{name}.txt").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("# ")]


def _env():
    env = dict(os.environ)
    env.setdefault("EMBER_DATA", str(ROOT.parent / "shared" / "data"))
    env["EMBER_DATA"] = os.path.abspath(env["EMBER_DATA"])
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


# Each script runs in a process of its own, as `python -m ember run script.py` (or `python
# script.py` on PyTorch) would run it, but forked from one that has imported the libraries
# already: importing torch, ember, matplotlib and pandas anew took most of the time of the short
# scripts. The child sets the script's cwd and environment, runs it, and exits as python does.
_FORKER = r"""
import json, os, runpy, sys
import numpy, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
try:
    import pandas
except ImportError:
    pass
if sys.argv[1] == "torch":
    import torch
else:
    import ember, ember.d2l, ember.nn, ember.optim, ember.vision.datasets, ember.vision.transforms
    from ember.__main__ import main
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        for fd, name in ((1, "out"), (2, "err")):
            os.dup2(os.open(job[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.stdin = open(os.devnull)
        script = job["script"]
        if sys.argv[1] == "torch":
            sys.argv = [script]
            sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
            runpy.run_path(script, run_name="__main__")
            sys.exit(0)
        sys.exit(main(["run", script]))
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


@pytest.fixture(scope="module")
def forkers():
    procs = {}

    def get(runner):
        if runner not in procs:
            procs[runner] = subprocess.Popen(
                [sys.executable, "-c", _FORKER, runner], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, env=_env(), text=True, start_new_session=True)
        return procs[runner]

    yield get
    for proc in procs.values():
        proc.stdin.close()
        proc.wait(timeout=60)


def _run(script, cwd, runner, forkers):
    proc = forkers(runner)
    out, err = pathlib.Path(f"{cwd}.stdout"), pathlib.Path(f"{cwd}.stderr")  # not in its cwd
    job = {"script": str(script), "cwd": str(cwd), "env": _env(), "out": str(out),
           "err": str(err)}
    proc.stdin.write(json.dumps(job) + "\n")
    proc.stdin.flush()
    if not select.select([proc.stdout], [], [], 900)[0]:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"{script.name} on {runner}: no end after 900 s")
    returncode = int(proc.stdout.readline())
    stderr = err.read_text()
    assert returncode == 0, f"{script.name} failed on {runner}:\n{stderr[-4000:]}"
    return out.read_text()


_NUMBER = re.compile(r"-?\d+\.?\d*(?:e[+-]\d+)?|nan|-?inf")


def _same(got: str, want: str) -> bool:
    """Equal text, with numbers equal up to the last printed digit (float32 rounding)."""
    if got == want:
        return True
    if _NUMBER.sub("#", got) != _NUMBER.sub("#", want):
        return False
    for g, w in zip(_NUMBER.findall(got), _NUMBER.findall(want)):
        if g == w:
            continue
        if "nan" in (g, w) or "inf" in g or "inf" in w:
            return False
        digits = len(w.split(".")[1].split("e")[0]) if "." in w else 0
        ulp = 10.0 ** -digits * (10.0 ** int(w.split("e")[1]) if "e" in w else 1.0)
        if abs(float(g) - float(w)) > 1.01 * ulp + 1e-6 * abs(float(w)):
            return False
    return True


def _assert_in_order(output, expected, name):
    lines = output.splitlines()
    pos = 0
    for want in expected:
        try:
            pos = next(i for i in range(pos, len(lines)) if _same(lines[i], want)) + 1
        except StopIteration:
            context = "\n".join(lines[max(0, pos - 3):pos + 5])
            pytest.fail(f"{name}: expected line not found (in order):\n  {want!r}\n"
                        f"output near line {pos}:\n{context}")


SCRIPTS = sorted(p.stem for p in EXPECTED.glob("*.txt"))

# Scripts that read a data set (a file under $EMBER_DATA, which _run defaults to
# ../shared/data): skipped where the file is not there.
NEEDS_DATA = {
    "s0_autograd_boston": "BostonHousing/BostonHousing.csv",
    "s1_7_mnist": "MNIST/raw/train-images-idx3-ubyte.gz",
    "s3_4_2_fashion_mnist": "FashionMNIST/raw/train-images-idx3-ubyte.gz",
    "s3_4_4_softmax_regression_scratch": "FashionMNIST/raw/train-images-idx3-ubyte.gz",
    "s3_5_2_mlp_implementation": "FashionMNIST/raw/train-images-idx3-ubyte.gz",
}
# Scripts whose training runs for minutes at the seed's epoch count (15 or 10): here they run
# one epoch (they read SEED_EPOCHS), which still runs every listing and prints every line.
SLOW = {"s1_7_mnist", "s3_4_4_softmax_regression_scratch", "s3_5_2_mlp_implementation"}


def _data_root():
    return os.path.abspath(os.environ.get("EMBER_DATA", str(ROOT.parent / "shared" / "data")))


def _param(name):
    if name not in NEEDS_DATA:
        return name
    path = os.path.join(_data_root(), NEEDS_DATA[name])
    return pytest.param(name, marks=pytest.mark.skipif(
        not os.path.exists(path), reason=f"{name} needs {path} (set EMBER_DATA)"))


@pytest.mark.parametrize("name", [_param(n) for n in SCRIPTS])
def test_seed_listing_on_ember(name, tmp_path, monkeypatch, forkers):
    if name in SLOW:
        monkeypatch.setenv("SEED_EPOCHS", "1")
    out = _run(SEEDS / f"{name}.py", tmp_path, "ember", forkers)
    _assert_in_order(out, _expected_lines(name), name)


# Scripts that need neither torchvision nor d2l and whose expected lines do not depend on
# random numbers (s0's model is randomly initialised, but its expected lines are not).
DETERMINISTIC = ["s0_autograd_boston", "s2_learning", "s3_2_1_data_manipulation",
                 "s3_2_2_data_preprocessing", "s3_2_3_linear_algebra", "s3_2_5_autograd"]


@pytest.mark.parametrize("name", [_param(n) for n in DETERMINISTIC])
def test_seed_listing_on_pytorch_prints_the_same(name, tmp_path, forkers):
    pytest.importorskip("torch")
    out = _run(SEEDS / f"{name}.py", tmp_path, "torch", forkers)
    _assert_in_order(out, _expected_lines(name), name)
