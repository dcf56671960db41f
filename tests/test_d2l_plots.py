"""ember.d2l's terminal figures: one PNG file per figure, named by script and a counter."""
import os
import re

import numpy as np
import pytest

import ember as torch
from ember import d2l

pytest.importorskip("matplotlib")


@pytest.fixture
def figures(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBER_FIGURES", str(tmp_path))
    monkeypatch.setattr("sys.argv", ["/somewhere/lenet.py"])
    return tmp_path


def _files(folder):
    return sorted(os.listdir(folder), key=lambda f: int(f.split("-")[1]))


def test_each_plot_gets_its_own_file(figures):
    x = np.arange(0, 3, 0.1)
    d2l.plot(x, [np.sin(x)], "x", "sin")
    d2l.plot(x, [np.cos(x), np.sin(x)], "x", legend=["cos", "sin"])
    board = d2l.ProgressBoard("epoch")
    board.draw(1, 2.0, "loss")
    d2l.show_images(torch.zeros(2, 4, 4), 1, 2)
    files = _files(figures)
    assert len(files) == 4
    kinds = [re.fullmatch(r"lenet-(\d+)-(\w+)\.png", f).group(2) for f in files]
    assert kinds == ["plot", "plot", "progress", "images"]
    board.draw(2, 1.0, "loss")
    board.flush()
    assert len(os.listdir(figures)) == 4  # a board keeps its file when redrawn


def test_figures_drawn_with_plt_alone_are_saved(figures):
    plt = d2l.plt
    d2l.plot(np.arange(3), [np.arange(3)])
    d2l.annotate("here", (1, 1), (1.5, 0.5))  # drawn on the plot after it was saved
    plt.figure()
    plt.plot([1, 2], [3, 4])  # a figure no d2l call saves, as show_trace_2d-style code does
    before = set(os.listdir(figures))
    d2l._save_open_figures()  # what runs at exit
    after = set(os.listdir(figures))
    assert len(before) == 1 and len(after) == 2
    plt.close("all")


def test_validation_after_one_epoch_is_drawn_as_a_point(figures):
    board = d2l.ProgressBoard("epoch")
    board.draw(1, 0.5, "val_acc")
    board.draw(0.5, 1.0, "train_loss")
    board.draw(1.0, 0.8, "train_loss")
    board.render()
    lines = board.fig.gca().get_lines()
    assert lines[0].get_marker() == "o"  # one point: a marker, or it would not show
    assert lines[1].get_marker() in (None, "None", "")


def test_animator_keeps_one_file_and_skips_none(figures):
    anim = d2l.Animator(xlabel="epoch", xlim=[1, 3], legend=["train", "test"])
    for epoch in range(1, 4):
        anim.add(epoch, (1.0 / epoch, None if epoch < 3 else 0.5))
    anim.flush()
    assert anim.X == [[1.0, 2.0, 3.0], [3.0]] and anim.Y[1] == [0.5]
    assert [f for f in os.listdir(figures) if f.endswith("-animator.png")] == \
        [os.path.basename(anim.path)]


def test_later_chapters_are_out_of_scope_with_a_clear_error():
    with pytest.raises(AttributeError, match="multibox_prior.*chapters 13 and later"):
        d2l.multibox_prior  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'$"):
        d2l.no_such_name  # noqa: B018


def test_alias_table_is_d2l_s():
    names = """ones_like ones zeros_like zeros tensor arange meshgrid sin sinh cos cosh tanh
        linspace exp log normal rand randn matmul int32 int64 float32 concat stack abs eye
        sigmoid batch_matmul numpy size reshape to reduce_sum argmax astype transpose
        reduce_mean expand_dims swapaxes repeat nn_Module""".split()
    assert [n for n in names if not hasattr(d2l, n)] == []
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert d2l.size(x) == 4 and d2l.transpose(x).tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert d2l.reduce_mean(x).item() == 2.5 and d2l.expand_dims(x, 0).shape == (1, 2, 2)
    g1, g2 = d2l.meshgrid(torch.arange(2), torch.arange(3), indexing="ij")
    assert g1.shape == g2.shape == (2, 3) and g2.tolist() == [[0, 1, 2], [0, 1, 2]]
    assert d2l.nn_Module is torch.nn.Module


def test_set_figsize_starts_a_new_figure_as_a_notebook_cell(figures):
    plt = d2l.plt
    d2l.plot(np.arange(3), [np.arange(3)])
    d2l.set_figsize()  # book code drawing with plt alone starts like this (show_trace_2d)
    plt.plot([0, 1], [1, 0], "-o")
    d2l.plot(np.arange(3), [np.arange(3) ** 2])
    files = _files(figures)
    assert [f.split("-")[2] for f in files] == ["plot.png", "figure.png", "plot.png"]
    first = plt.imread(os.path.join(figures, files[0]))
    d2l.plot(np.arange(3), [np.arange(3)])
    assert (plt.imread(os.path.join(figures, files[0])) == first).all()  # never redrawn
    plt.close("all")
