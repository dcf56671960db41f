"""The seed listings in examples/seeds run on ember (and on PyTorch) and print what the seeds print."""
import os
import re
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEEDS = ROOT / "examples" / "seeds"
EXPECTED = SEEDS / "expected"


def _expected_lines(name):
    text = (EXPECTED / f"{name}.txt").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("# ")]


def _run(script, cwd, runner):
    env = dict(os.environ)
    env.setdefault("EMBER_DATA", str(ROOT.parent / "shared" / "data"))
    env["EMBER_DATA"] = os.path.abspath(env["EMBER_DATA"])
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = ([sys.executable, "-m", "ember", "run", str(script)] if runner == "ember"
           else [sys.executable, str(script)])
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, f"{script.name} failed on {runner}:\n{res.stderr[-4000:]}"
    return res.stdout


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
def test_seed_listing_on_ember(name, tmp_path, monkeypatch):
    if name in SLOW:
        monkeypatch.setenv("SEED_EPOCHS", "1")
    out = _run(SEEDS / f"{name}.py", tmp_path, "ember")
    _assert_in_order(out, _expected_lines(name), name)


# Scripts that need neither torchvision nor d2l and whose expected lines do not depend on
# random numbers (s0's model is randomly initialised, but its expected lines are not).
DETERMINISTIC = ["s0_autograd_boston", "s2_learning", "s3_2_1_data_manipulation",
                 "s3_2_2_data_preprocessing", "s3_2_3_linear_algebra", "s3_2_5_autograd"]


@pytest.mark.parametrize("name", [_param(n) for n in DETERMINISTIC])
def test_seed_listing_on_pytorch_prints_the_same(name, tmp_path):
    pytest.importorskip("torch")
    out = _run(SEEDS / f"{name}.py", tmp_path, "torch")
    _assert_in_order(out, _expected_lines(name), name)
