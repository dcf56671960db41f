"""ember.d2l, chapter 12: 2-D traces, the airfoil data, train_ch11 and train_concise_ch11."""
import os
import re

import pytest

import ember as torch
from ember import d2l

SHARED = os.environ.get("EMBER_DATA", "/work/shared/data")
needs_airfoil = pytest.mark.skipif(
    not os.path.isfile(os.path.join(SHARED, "d2l", "airfoil_self_noise.dat")),
    reason="needs $EMBER_DATA/d2l/airfoil_self_noise.dat")


@pytest.fixture
def figures(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("EMBER_DATA", SHARED)
    monkeypatch.setenv("EMBER_FIGURES", str(tmp_path / "figures"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "figures"


def f_2d(x1, x2):
    return x1 ** 2 + 2 * x2 ** 2


def gd_2d(x1, x2, s1, s2):
    eta = 0.1
    return (x1 - eta * 2 * x1, x2 - eta * 4 * x2, 0, 0)


def test_train_2d_prints_the_books_line_and_show_trace_saves_a_figure(figures, capsys):
    results = d2l.train_2d(gd_2d)
    assert capsys.readouterr().out == "epoch 20, x1: -0.057646, x2: -0.000073\n"
    assert len(results) == 21 and results[0] == (-5, -2)
    d2l.show_trace_2d(f_2d, results)
    assert [f for f in os.listdir(figures) if f.endswith("-trace.png")]


def test_benchmark_prints_the_elapsed_time(capsys):
    with d2l.Benchmark("numpy"):
        pass
    assert re.fullmatch(r"numpy: \d+\.\d{4} sec\n", capsys.readouterr().out)


@needs_airfoil
def test_get_data_ch11_standardizes_the_airfoil_data(figures):
    data_iter, feature_dim = d2l.get_data_ch11(batch_size=10)
    assert feature_dim == 5 and len(data_iter) == 150
    X = torch.cat([X for X, _ in d2l.get_data_ch11(1500)[0]])
    assert X.shape == (1500, 5)
    # standardized over all 1503 rows, so the first 1500 have mean ~0 and std ~1
    assert float(X.mean(0).abs().max()) < 0.05
    assert float((X.std(0) - 1).abs().max()) < 0.05


@needs_airfoil
def test_train_ch11_loss_falls(figures, capsys):
    def sgd(params, states, hyperparams):
        for p in params:
            p.data.sub_(hyperparams["lr"] * p.grad)
            p.grad.data.zero_()

    torch.manual_seed(0)
    data_iter, feature_dim = d2l.get_data_ch11(batch_size=10)
    times, losses = d2l.train_ch11(sgd, None, {"lr": 0.05}, data_iter, feature_dim, 1)
    assert len(times) == len(losses) == 7  # a point every 200 examples
    assert losses[-1] < losses[0]
    assert losses[-1] < 0.3
    assert re.fullmatch(r"loss: 0\.\d{3}, \d+\.\d{3} sec/epoch\n", capsys.readouterr().out)
    assert [f for f in os.listdir(figures) if f.endswith("-animator.png")]


@needs_airfoil
def test_train_concise_ch11_prints_the_loss(figures, capsys):
    torch.manual_seed(0)
    data_iter, _ = d2l.get_data_ch11(batch_size=10)
    d2l.train_concise_ch11(torch.optim.SGD, {"lr": 0.01}, data_iter, num_epochs=1)
    out = capsys.readouterr().out
    loss = float(re.fullmatch(r"loss: (0\.\d{3}), \d+\.\d{3} sec/epoch\n", out).group(1))
    assert loss < 0.3


@needs_airfoil
def test_train_ch11_records_a_point_even_with_large_batches(figures, capsys):
    def sgd(params, states, hyperparams):
        for p in params:
            p.data.sub_(hyperparams["lr"] * p.grad)
            p.grad.data.zero_()

    data_iter, feature_dim = d2l.get_data_ch11(batch_size=1500)
    _, losses = d2l.train_ch11(sgd, None, {"lr": 1}, data_iter, feature_dim, 1)
    assert len(losses) == 1  # d2l itself fails here: no multiple of 200 examples was reached
