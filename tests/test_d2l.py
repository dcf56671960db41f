"""ember.d2l: the d2l training layer of seed S3."""
import math
import os
import warnings

import numpy as np
import pytest

import ember
from ember import d2l


def test_save_hyperparameters_honours_ignore():
    class B(d2l.HyperParameters):
        def __init__(self, a, b, c):
            self.save_hyperparameters(ignore=["c"])

    b = B(a=1, b=2, c=3)
    assert (b.a, b.b) == (1, 2)
    assert not hasattr(b, "c")
    assert b.hparams == {"a": 1, "b": 2}


def test_add_to_class():
    class A:
        def __init__(self):
            self.b = 1

    a = A()

    @d2l.add_to_class(A)
    def do(self):
        return self.b

    assert a.do() == 1


def test_misspelled_hook_warns_with_the_intended_name():
    with pytest.warns(UserWarning, match="validation_dtep.*'validation_step'"):
        class Classifier(d2l.Module):
            def validation_dtep(self, batch):
                pass

    with pytest.warns(UserWarning, match="trainig_step.*'training_step'"):
        @d2l.add_to_class(d2l.Module)
        def trainig_step(self, batch):
            pass
    del d2l.Module.trainig_step


def test_correct_hooks_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class M(d2l.Module):
            def training_step(self, batch):
                pass

            def validation_step(self, batch):
                pass

            def my_helper(self):
                pass


def test_progress_board_averages_every_n(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_FIGURES", str(tmp_path))
    board = d2l.ProgressBoard("x", display=False)
    for i in range(10):
        board.draw(i, i * 2.0, "sin", every_n=2)
    xs = [p.x for p in board.data["sin"]]
    ys = [p.y for p in board.data["sin"]]
    assert xs == [0.5, 2.5, 4.5, 6.5, 8.5]
    assert ys == [1.0, 5.0, 9.0, 13.0, 17.0]


def test_progress_board_renders_png_with_legend(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from PIL import Image

    monkeypatch.setenv("EMBER_FIGURES", str(tmp_path))
    board = d2l.ProgressBoard("x")
    for x in np.arange(0, 2 * math.pi, 0.1):
        board.draw(x, np.sin(x), "sin", every_n=2)
        board.draw(x, np.cos(x), "cos", every_n=10)
    board.flush()
    path = board.path
    assert os.path.dirname(path) == str(tmp_path) and path.endswith("-progress.png")
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.size[0] > 100 and img.size[1] > 100
    legend = board.fig.gca().get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["sin", "cos"]


def test_devices_and_aliases():
    assert d2l.cpu() == ember.device("cpu")
    assert d2l.num_gpus() == 0
    assert d2l.try_gpu() == ember.device("cpu")
    x = ember.tensor([[1.0, 5.0], [7.0, 2.0]])
    assert d2l.argmax(x, axis=1).tolist() == [1, 0]
    assert d2l.reduce_sum(x).item() == 15.0
    assert d2l.astype(x, ember.int64).dtype == ember.int64
    assert d2l.numpy(x).tolist() == [[1.0, 5.0], [7.0, 2.0]]


def test_linear_regression_scratch_learns():
    ember.manual_seed(0)
    data = d2l.SyntheticRegressionData(w=ember.tensor([2, -3.4]), b=4.2)
    model = d2l.LinearRegressionScratch(2, lr=0.03)
    model.board.display = False
    trainer = d2l.Trainer(max_epochs=3, quiet=True)
    trainer.fit(model, data)
    with ember.no_grad():
        w_err = data.w - model.w.reshape(data.w.shape)
        b_err = data.b - model.b
    assert float(w_err.abs().max()) < 0.3
    assert float(b_err.abs().max()) < 0.3


def test_trainer_prints_one_line_per_epoch(capsys):
    ember.manual_seed(0)
    data = d2l.SyntheticRegressionData(w=ember.tensor([2, -3.4]), b=4.2)
    model = d2l.LinearRegression(lr=0.03)
    model.board.display = False
    d2l.Trainer(max_epochs=2).fit(model, data)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch")]
    assert len(lines) == 2
    assert "train_loss" in lines[0] and "val_loss" in lines[0]


def test_trainer_backward_inside_no_grad_and_clipping():
    ember.manual_seed(0)
    data = d2l.SyntheticRegressionData(w=ember.tensor([2, -3.4]), b=4.2)
    model = d2l.LinearRegressionScratch(2, lr=0.03)
    model.board.display = False
    d2l.Trainer(max_epochs=1, gradient_clip_val=1.0, quiet=True).fit(model, data)
    assert model.w.grad is not None
