"""ember.utils.tensorboard.SummaryWriter: events written, then read back by TensorBoard's reader."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import ember

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

from ember.utils.tensorboard import SummaryWriter  # noqa: E402


def _read(logdir):
    ea = event_accumulator.EventAccumulator(
        str(logdir), size_guidance={event_accumulator.IMAGES: 0, event_accumulator.TENSORS: 0})
    ea.Reload()
    return ea


def _png_size(encoded):
    from PIL import Image
    import io

    return Image.open(io.BytesIO(encoded)).size


def test_scalars_from_tensors_arrays_and_numbers(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("loss", ember.tensor(0.5), 0)
        w.add_scalar("loss", np.float32(0.25), 1)
        w.add_scalar("loss", 0.125, 2)
        w.add_scalar("acc", ember.tensor([0.75], requires_grad=True), 7, walltime=123.0)
        w.add_scalar("new", 2.5, 3, new_style=True)
    ea = _read(tmp_path)
    assert set(ea.Tags()["scalars"]) == {"loss", "acc"}
    assert [(e.step, e.value) for e in ea.Scalars("loss")] == [(0, 0.5), (1, 0.25), (2, 0.125)]
    (acc,) = ea.Scalars("acc")
    assert (acc.step, acc.value, acc.wall_time) == (7, 0.75, 123.0)
    (new,) = ea.Tensors("new")
    assert new.step == 3 and new.tensor_proto.float_val == [2.5]


def test_scalar_must_have_one_element(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ValueError, match="one element"):
            w.add_scalar("x", ember.ones(3), 0)
        with pytest.raises(TypeError, match="ember Tensor"):
            w.add_scalar("x", "1.0", 0)


def test_add_scalars_writes_one_run_per_tag(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(3):
            w.add_scalars("loss/run", {"train": step, "val": ember.tensor(2.0 * step)}, step)
    train = _read(tmp_path / "loss_run_train")
    val = _read(tmp_path / "loss_run_val")
    assert [e.value for e in train.Scalars("loss/run")] == [0, 1, 2]
    assert [e.value for e in val.Scalars("loss/run")] == [0, 2, 4]


def test_histogram(tmp_path):
    values = ember.randn(1000)
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("w", values, 5)
        w.add_histogram("u", np.arange(10), 6, bins=5)
    ea = _read(tmp_path)
    h = ea.Histograms("w")[0]
    v = values.numpy().astype(np.float64)
    assert h.step == 5
    hv = h.histogram_value
    assert hv.num == 1000 and sum(hv.bucket) == 1000
    assert np.isclose(hv.min, v.min()) and np.isclose(hv.max, v.max())
    assert np.isclose(hv.sum, v.sum()) and np.isclose(hv.sum_squares, v @ v)
    u = ea.Histograms("u")[0].histogram_value
    assert u.num == 10 and sum(u.bucket) == 10 and u.bucket_limit[-1] == 9
    with SummaryWriter(tmp_path) as w, pytest.raises(ValueError, match="no values"):
        w.add_histogram("e", ember.zeros(0), 0)


def test_images_and_dataformats(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_image("chw", ember.rand(3, 8, 10), 0)
        w.add_image("hwc", (np.random.rand(6, 4, 3) * 255).astype(np.uint8), 0, dataformats="HWC")
        w.add_image("hw", ember.rand(5, 7), 0, dataformats="HW")
        w.add_images("nchw", ember.rand(10, 1, 4, 6), 0)  # 8 a row: 2 rows
        w.add_images("nhwc", np.random.rand(2, 4, 6, 3), 0, dataformats="NHWC")
        with pytest.raises(ValueError, match="dataformats"):
            w.add_image("bad", ember.rand(2, 3, 4, 5), 0)
    ea = _read(tmp_path)
    sizes = {t: (ea.Images(t)[0].width, ea.Images(t)[0].height) for t in ea.Tags()["images"]}
    assert sizes == {"chw": (10, 8), "hwc": (4, 6), "hw": (7, 5), "nchw": (48, 8),
                     "nhwc": (12, 4)}
    assert _png_size(ea.Images("chw")[0].encoded_image_string) == (10, 8)


def test_image_values_are_scaled_and_clipped(tmp_path):
    from PIL import Image
    import io

    img = ember.tensor([[[0.0, 0.5, 2.0]]])  # 1x1x3 CHW: clipped to 255, not wrapped around
    with SummaryWriter(tmp_path) as w:
        w.add_image("x", img, 0)
    png = _read(tmp_path).Images("x")[0].encoded_image_string
    pixels = np.asarray(Image.open(io.BytesIO(png)))
    assert pixels[0, :, 0].tolist() == [0, 127, 255]


def test_figure(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 1), dpi=50)
    plt.plot([0, 1], [1, 0])
    with SummaryWriter(tmp_path) as w:
        w.add_figure("fig", fig, 1)
    assert not plt.fignum_exists(fig.number)  # close=True
    (img,) = _read(tmp_path).Images("fig")
    assert (img.width, img.height, img.step) == (100, 50, 1)


def test_text_and_hparams(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_text("notes", "**lr** 0.1", 2)
        w.add_hparams({"lr": 0.1, "opt": "sgd", "bs": ember.tensor(32)}, {"hp/acc": 0.9},
                      hparam_domain_discrete={"opt": ["sgd", "adam"]}, run_name="run1")
        with pytest.raises(ValueError, match="'fn'"):
            w.add_hparams({"fn": object()}, {})
        with pytest.raises(TypeError, match="hparam_domain_discrete"):
            w.add_hparams({"opt": "sgd"}, {}, hparam_domain_discrete={"opt": [1]})
    ea = _read(tmp_path)
    (text,) = ea.Tensors("notes/text_summary")
    assert text.step == 2 and text.tensor_proto.string_val == [b"**lr** 0.1"]

    hp = _read(tmp_path / "run1")
    assert [e.value for e in hp.Scalars("hp/acc")] == [pytest.approx(0.9)]
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = hp.PluginTagToContent("hparams")
    exp = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    infos = {i.name: i for i in exp.hparam_infos}
    assert set(infos) == {"lr", "opt", "bs"}
    assert [v.string_value for v in infos["opt"].domain_discrete.values] == ["sgd", "adam"]
    ssi = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]).session_start_info
    assert ssi.hparams["lr"].number_value == 0.1 and ssi.hparams["bs"].number_value == 32
    assert ssi.hparams["opt"].string_value == "sgd"


def test_pr_curve_boxes_and_custom_scalars(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_pr_curve("pr", ember.tensor([0, 1, 1, 0]), ember.tensor([0.1, 0.9, 0.6, 0.4]), 3)
        w.add_image_with_boxes("boxed", ember.rand(3, 20, 30),
                               ember.tensor([[1.0, 2.0, 10.0, 12.0]]), 0, labels=["cat"])
        w.add_custom_scalars_multilinechart(["loss/train", "loss/val"], title="losses")
        with pytest.raises(ValueError, match="3 tags"):
            w.add_custom_scalars_marginchart(["a", "b"])
    ea = _read(tmp_path)
    (pr,) = ea.Tensors("pr")
    assert pr.step == 3 and len(pr.tensor_proto.tensor_shape.dim) == 2
    (boxed,) = ea.Images("boxed")
    assert (boxed.width, boxed.height) == (30, 20)
    from tensorboard.plugins.custom_scalar import layout_pb2

    config = ea.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0]
    chart = layout_pb2.Layout.FromString(config).category[0].chart[0]
    assert chart.title == "losses" and list(chart.multiline.tag) == ["loss/train", "loss/val"]


def test_audio_and_mesh(tmp_path):
    import io
    import wave

    sound = ember.sin(ember.arange(800.0) / 10) * 2  # clipped to [-1, 1]
    with SummaryWriter(tmp_path) as w:
        w.add_audio("tone", sound, 1, sample_rate=8000)
        w.add_mesh("cloud", ember.rand(1, 5, 3), colors=ember.randint(0, 255, (1, 5, 3)))
    ea = _read(tmp_path)
    (a,) = ea.Audio("tone")
    with wave.open(io.BytesIO(a.encoded_audio_string)) as wav:
        assert (wav.getframerate(), wav.getnframes(), wav.getnchannels()) == (8000, 800, 1)
    assert "cloud_VERTEX" in ea.Tags()["tensors"] and "cloud_COLOR" in ea.Tags()["tensors"]


def test_embedding(tmp_path):
    mat = ember.randn(10, 4)
    with SummaryWriter(tmp_path) as w:
        w.add_embedding(mat, metadata=[f"p{i}" for i in range(10)],
                        label_img=ember.rand(10, 1, 4, 4), tag="feat/x")
    d = tmp_path / "00000" / "feat%2fx"
    rows = np.loadtxt(d / "tensors.tsv", delimiter="\t", ndmin=2)
    np.testing.assert_allclose(rows, mat.numpy(), rtol=1e-6)
    assert (d / "metadata.tsv").read_text().split() == [f"p{i}" for i in range(10)]
    assert _png_size((d / "sprite.png").read_bytes()) == (16, 16)  # 4 a row, square
    assert "tensor_path" in (tmp_path / "projector_config.pbtxt").read_text()


def test_defaults_purge_flush_close_and_reopen(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_exp")
    import socket

    assert w.get_logdir().startswith("runs" + os.sep)
    assert w.get_logdir().endswith(socket.gethostname() + "_exp")
    w.add_scalar("a", 1, 0)
    w.flush()
    assert ea_scalars(w.get_logdir(), "a") == [1]
    w.close()
    w.close()  # twice is fine
    w.add_scalar("a", 2, 1)  # reopens a new event file
    w.close()
    assert ea_scalars(w.get_logdir(), "a") == [1, 2]

    p = SummaryWriter(tmp_path / "p", purge_step=5, filename_suffix=".s")
    p.close()
    (name,) = os.listdir(tmp_path / "p")
    assert name.endswith(".s")


def ea_scalars(logdir, tag):
    return [e.value for e in _read(logdir).Scalars(tag)]


def test_add_graph_is_a_noop_with_a_note(tmp_path):
    with SummaryWriter(tmp_path) as w:
        SummaryWriter._graph_noted = False
        with pytest.warns(UserWarning, match="add_graph records no graph"):
            w.add_graph(ember.nn.Linear(2, 2), ember.randn(1, 2))
        w.add_graph(ember.nn.Linear(2, 2))  # only once


def test_import_does_not_pull_in_torch_and_names_the_extra():
    code = ("import sys, ember.utils.tensorboard as tb; assert 'torch' not in sys.modules;"
            "sys.modules['tensorboardX'] = None; del sys.modules['ember.utils.tensorboard'];"
            "import importlib\n"
            "try: importlib.import_module('ember.utils.tensorboard')\n"
            "except ImportError as e: print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'ember[tensorboard]'" in out.stdout
