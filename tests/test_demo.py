"""python -m ember demo: the main job, end to end."""
import os
import pathlib
import subprocess
import sys

import pytest

import ember

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = os.path.abspath(os.environ.get("EMBER_DATA", str(ROOT.parent / "shared" / "data")))


def _demo(args, env_extra, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "EMBER_DATA"}
    env.update(env_extra)
    env["HOME"] = str(tmp_path / "home")  # no ~/.cache/ember/data from the machine
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    res = subprocess.run([sys.executable, "-m", "ember", "demo", *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout


def _accuracy(out):
    line = next(l for l in out.splitlines() if l.startswith("Accuracy:"))
    return float(line.split()[1])


@pytest.mark.skipif(not os.path.exists(os.path.join(DATA, "MNIST", "raw")),
                    reason="needs the MNIST raw files (EMBER_DATA)")
def test_demo_one_epoch_on_mnist(tmp_path):
    out = _demo(["--epochs", "1", "--out", "run"], {"EMBER_DATA": DATA}, tmp_path)
    assert "data: MNIST from" in out
    assert _accuracy(out) > 0.9
    assert any(l.startswith("Epoch: 0001 cost = ") for l in out.splitlines())
    assert "Label:" in out and "Prediction:" in out
    state = ember.load(tmp_path / "run" / "mlp.ember")
    assert sorted(state) == ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"]
    assert state["0.weight"].shape == (256, 784)
    assert (tmp_path / "run" / "learning_curves.png").stat().st_size > 1000


def test_demo_offline_without_data_falls_back_to_sklearn_digits(tmp_path):
    pytest.importorskip("sklearn")
    out = _demo(["--epochs", "2", "--out", "run"], {"EMBER_OFFLINE": "1"}, tmp_path)
    # the default root, ~/.cache/ember/data: the failed download leaves no empty dirs there
    assert not (tmp_path / "home" / ".cache" / "ember").exists()
    first = out.splitlines()[0]
    assert first.startswith("MNIST is not under") and "scikit-learn" in first
    assert "data: scikit-learn digits (8x8)" in out
    assert _accuracy(out) > 0.5
    model = ember.nn.Sequential(ember.nn.Linear(64, 256), ember.nn.ReLU(),
                                ember.nn.Linear(256, 256), ember.nn.ReLU(),
                                ember.nn.Linear(256, 10))
    model.load_state_dict(ember.load(tmp_path / "run" / "mlp.ember"))
