"""SummaryWriter: PyTorch's TensorBoard writer, over tensorboardX's event files and summaries."""
from __future__ import annotations

import io
import itertools
import math
import os
import socket
import threading
import time
import warnings
import wave
import weakref
from datetime import datetime
from numbers import Number

import numpy as np
from tensorboardX import embedding as _embedding
from tensorboardX import summary as _summary
from tensorboardX.proto.event_pb2 import Event, SessionLog
from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
from tensorboardX.proto.plugin_mesh_pb2 import MeshPluginData
from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboardX.proto.tensor_pb2 import TensorProto
from tensorboardX.record_writer import RecordWriter
from tensorboardX.utils import convert_to_HWC, figure_to_image, make_grid

from ..._tensor import Tensor


def _np(x, what="value"):
    """An ember tensor, NumPy array, Python number or (nested) list as a NumPy array."""
    if isinstance(x, Tensor):
        return x.detach().numpy()
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (Number, np.generic, list, tuple)):
        return np.asarray(x)
    raise TypeError(f"SummaryWriter: {what} must be an ember Tensor, a NumPy array or a number, "
                    f"got {type(x).__name__}")


def _scalar(x, what="scalar_value"):
    if isinstance(x, (int, float)):
        return float(x)
    a = _np(x, what)
    if a.size != 1:
        raise ValueError(f"SummaryWriter: {what} should contain one element, got shape "
                         f"{tuple(a.shape)}")
    return float(a.reshape(()))


def _to_uint8_hwc(img, dataformats):
    # PyTorch's rule: uint8 images are taken as 0..255, anything else as 0..1; values outside
    # the range are clipped (tensorboardX would wrap them around).
    a = _np(img, "img_tensor")
    if len(dataformats) != a.ndim:
        raise ValueError(f"SummaryWriter: dataformats '{dataformats}' does not match an image of "
                         f"shape {tuple(a.shape)}")
    hwc = convert_to_HWC(a, dataformats)
    scale = 1 if hwc.dtype == np.uint8 else 255
    return (hwc.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)


class FileWriter:
    """Writes events to a new event file in ``log_dir`` (PyTorch's FileWriter).

    Events are written synchronously as they come (PyTorch hands them to a background thread);
    they reach the disk every ``max_queue`` events, at the first event ``flush_secs`` after the
    last flush, on flush() and close(), and at exit.
    """

    _count = itertools.count()

    def __init__(self, log_dir, max_queue=10, flush_secs=120, filename_suffix=""):
        self.log_dir = os.fspath(log_dir)
        os.makedirs(self.log_dir, exist_ok=True)
        # TensorBoard's own naming: the pid and a counter keep two writers opened in the same
        # second from truncating each other's file
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(FileWriter._count)}{filename_suffix}")
        self._records = RecordWriter(os.path.join(self.log_dir, name))
        self._lock = threading.Lock()
        self._max_queue, self._flush_secs = max_queue, flush_secs
        self._pending, self._last_flush = 0, time.monotonic()
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_records, self._records, self._lock)
        self.add_event(Event(file_version="brain.Event:2"))
        self.flush()

    def get_logdir(self):
        return self.log_dir

    def add_event(self, event, step=None, walltime=None):
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            event.step = int(step)
        data = event.SerializeToString()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"FileWriter for {self.log_dir} is closed")
            self._records.write(data)
            self._pending += 1
            due = (self._pending >= self._max_queue
                   or time.monotonic() - self._last_flush >= self._flush_secs)
        if due:
            self.flush()

    def add_summary(self, summary, global_step=None, walltime=None):
        self.add_event(Event(summary=summary), global_step, walltime)

    def flush(self):
        with self._lock:
            if not self._closed:
                self._records.flush()
            self._pending, self._last_flush = 0, time.monotonic()

    def close(self):
        with self._lock:
            self._closed = True
        self._finalizer()


def _close_records(records, lock):
    with lock:
        records.flush()
        records.close()


class SummaryWriter:
    """Writes scalars, histograms, images, text and hparams to event files TensorBoard reads."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        if not log_dir:
            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        self.log_dir = os.fspath(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer = self.all_writers = None
        self._get_file_writer()
        # TensorFlow's default histogram buckets: +-1e-12 * 1.1**k up to 1e20, and 0
        v, buckets = 1e-12, []
        while v < 1e20:
            buckets.append(v)
            v *= 1.1
        self.default_bins = [-b for b in reversed(buckets)] + [0] + buckets

    def _get_file_writer(self):
        # reopened after close(), as PyTorch does
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs,
                                          self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                # TensorBoard hides the events at steps >= purge_step from an earlier crashed run
                step = self.purge_step
                self.file_writer.add_event(Event(step=step, file_version="brain.Event:2"))
                self.file_writer.add_event(
                    Event(step=step, session_log=SessionLog(status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self):
        """The directory the event files are written to."""
        return self.log_dir

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        """Log one number under ``tag`` at ``global_step``."""
        value = _scalar(scalar_value)
        if new_style:
            proto = (TensorProto(double_val=[value], dtype="DT_DOUBLE") if double_precision
                     else TensorProto(float_val=[value], dtype="DT_FLOAT"))
            meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
            summary = Summary(value=[Summary.Value(tag=tag, tensor=proto, metadata=meta)])
        else:
            summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Log several numbers on one chart; each goes to its own run ``log_dir/main_tag_tag``."""
        walltime = time.time() if walltime is None else walltime
        fw_logdir = self._get_file_writer().get_logdir()
        for tag, scalar_value in tag_scalar_dict.items():
            fw_tag = fw_logdir + "/" + main_tag.replace("/", "_") + "_" + tag
            fw = self.all_writers.get(fw_tag)
            if fw is None:
                fw = FileWriter(fw_tag, self.max_queue, self.flush_secs, self.filename_suffix)
                self.all_writers[fw_tag] = fw
            summary = Summary(value=[Summary.Value(tag=main_tag,
                                                   simple_value=_scalar(scalar_value))])
            fw.add_summary(summary, global_step, walltime)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        """Log the distribution of ``values``; ``bins`` as numpy.histogram's, or 'tensorflow'."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        a = _np(values, "values")
        if a.size == 0:
            raise ValueError(f"SummaryWriter.add_histogram: '{tag}' has no values")
        summary = _summary.histogram(tag, a.astype(np.float64, copy=False), bins,
                                     max_bins=max_bins)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_histogram_raw(self, tag, min, max, num, sum, sum_squares, bucket_limits,
                          bucket_counts, global_step=None, walltime=None):
        """Log a histogram already binned."""
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError("len(bucket_limits) != len(bucket_counts), see the document.")
        summary = _summary.histogram_raw(tag, min, max, num, sum, sum_squares,
                                         list(bucket_limits), list(bucket_counts))
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def _image(self, tag, img, global_step, walltime, dataformats):
        hwc = _to_uint8_hwc(img, dataformats)
        summary = _summary.image(tag, hwc, dataformats="HWC")
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """Log one image (float in [0, 1] or uint8 in [0, 255]); ``dataformats`` CHW/HWC/HW."""
        self._image(tag, img_tensor, global_step, walltime, dataformats)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """Log a batch of images as one grid (8 a row); ``dataformats`` NCHW or NHWC."""
        self._image(tag, img_tensor, global_step, walltime, dataformats)

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """Log a matplotlib figure (or a list of them) rendered as an image."""
        if isinstance(figure, list):
            self._image(tag, figure_to_image(figure, close), global_step, walltime, "NCHW")
        else:
            self._image(tag, figure_to_image(figure, close), global_step, walltime, "CHW")

    def add_image_with_boxes(self, tag, img_tensor, box_tensor, global_step=None, walltime=None,
                             rescale=1, dataformats="CHW", labels=None):
        """Log an image with boxes (rows of x1, y1, x2, y2 in pixels) drawn on it."""
        boxes = _np(box_tensor, "box_tensor")
        if labels is not None:
            labels = [labels] if isinstance(labels, str) else list(labels)
            if len(labels) != boxes.shape[0]:
                labels = None  # as PyTorch: a label count that does not match is dropped
        summary = _summary.image_boxes(tag, _to_uint8_hwc(img_tensor, dataformats), boxes,
                                       rescale=rescale, dataformats="HWC", labels=labels)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_pr_curve(self, tag, labels, predictions, global_step=None, num_thresholds=127,
                     weights=None, walltime=None):
        """Log a precision-recall curve of ``predictions`` (in [0, 1]) against 0/1 ``labels``."""
        labels, predictions = _np(labels, "labels"), _np(predictions, "predictions")
        weights = None if weights is None else _np(weights, "weights")
        summary = _summary.pr_curve(tag, labels, predictions, num_thresholds, weights)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_pr_curve_raw(self, tag, true_positive_counts, false_positive_counts,
                         true_negative_counts, false_negative_counts, precision, recall,
                         global_step=None, num_thresholds=127, weights=None, walltime=None):
        """Log a precision-recall curve from counts already computed."""
        counts = [_np(c, "counts") for c in (true_positive_counts, false_positive_counts,
                                              true_negative_counts, false_negative_counts,
                                              precision, recall)]
        summary = _summary.pr_curve_raw(tag, *counts, num_thresholds, weights)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_custom_scalars(self, layout):
        """Lay out charts of several scalar tags: {category: {title: [kind, tags]}}."""
        self._get_file_writer().add_summary(_summary.custom_scalars(layout))

    def add_custom_scalars_multilinechart(self, tags, category="default", title="untitled"):
        """One chart with a line for each tag."""
        self.add_custom_scalars({category: {title: ["Multiline", tags]}})

    def add_custom_scalars_marginchart(self, tags, category="default", title="untitled"):
        """One chart of a value and its lower and upper margins (three tags)."""
        if len(tags) != 3:
            raise ValueError(f"Expected 3 tags, got {len(tags)}.")
        self.add_custom_scalars({category: {title: ["Margin", tags]}})

    def add_audio(self, tag, snd_tensor, global_step=None, sample_rate=44100, walltime=None):
        """Log one mono sound: values in [-1, 1] (clipped), as 16-bit PCM WAV."""
        a = _np(snd_tensor, "snd_tensor").squeeze()
        if a.ndim != 1:
            raise ValueError(f"add_audio: expected one channel of samples, got shape "
                             f"{tuple(a.shape)}")
        pcm = (a.clip(-1, 1) * np.iinfo(np.int16).max).astype("<i2")
        with io.BytesIO() as buf:
            with wave.open(buf, "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(sample_rate)
                wav.writeframes(pcm.tobytes())
            encoded = buf.getvalue()
        audio = Summary.Audio(sample_rate=sample_rate, num_channels=1, length_frames=len(pcm),
                              encoded_audio_string=encoded, content_type="audio/wav")
        self._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, audio=audio)]),
                                            global_step, walltime)

    def add_video(self, tag, vid_tensor, global_step=None, fps=4, walltime=None):
        """Log a video (N, T, C, H, W) as an animated GIF; needs the moviepy package."""
        try:
            import moviepy  # noqa: F401  (optional dependency, for videos only)
        except ImportError as e:
            raise ImportError("SummaryWriter.add_video needs moviepy: pip install moviepy") from e
        summary = _summary.video(tag, _np(vid_tensor, "vid_tensor"), fps)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_mesh(self, tag, vertices, colors=None, faces=None, config_dict=None,
                 global_step=None, walltime=None):
        """Log a 3D point cloud or mesh: vertices (B, N, 3), colors (B, N, 3), faces (B, F, 3)."""
        arrays = [None if t is None else _np(t, what)
                  for t, what in ((vertices, "vertices"), (colors, "colors"), (faces, "faces"))]
        summary = _summary.mesh(tag, arrays[0], arrays[1], arrays[2], config_dict)
        for value in summary.value:  # TensorBoard's tags (cloud_VERTEX), not tensorboardX's
            data = MeshPluginData.FromString(value.metadata.plugin_data.content)
            value.tag = f"{tag}_{MeshPluginData.ContentType.Name(data.content_type)}"
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """Log a string (TensorBoard renders it as Markdown)."""
        if not isinstance(text_string, str):
            raise TypeError(f"SummaryWriter.add_text: text_string must be a str, got "
                            f"{type(text_string).__name__}")
        self._get_file_writer().add_summary(_summary.text(tag, text_string), global_step,
                                            walltime)

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None):
        """Log one run's hyper-parameters and final metrics for the HPARAMS tab."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        hparam_dict = {k: _hparam_value(k, v) for k, v in hparam_dict.items()}
        exp, ssi, sei = _summary.hparams(hparam_dict, metric_dict)
        if hparam_domain_discrete:
            exp = _with_discrete_domains(exp, hparam_dict, hparam_domain_discrete)
        if not run_name:
            run_name = str(time.time())
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name)
        with SummaryWriter(log_dir=logdir) as w_hp:
            w_hp.file_writer.add_summary(exp, global_step)
            w_hp.file_writer.add_summary(ssi, global_step)
            w_hp.file_writer.add_summary(sei, global_step)
            for k, v in metric_dict.items():
                w_hp.add_scalar(k, v, global_step)

    _graph_noted = False

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """Does nothing in ember (no graph tracer for TensorBoard); notes it once per process."""
        if not SummaryWriter._graph_noted:
            SummaryWriter._graph_noted = True
            warnings.warn("ember's SummaryWriter.add_graph records no graph: ember has no "
                          "TorchScript tracer. ember.onnx.export writes the model as ONNX, "
                          "which Netron displays.", UserWarning, stacklevel=2)

    @staticmethod
    def _encode(rawstr):
        # a tag becomes a directory name: escape '%', '/' and '\'
        return rawstr.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None, tag="default",
                      metadata_header=None):
        """Log points (rows of ``mat``) with labels or images for the PROJECTOR tab."""
        mat = _np(mat, "mat")
        if mat.ndim != 2:
            raise ValueError("mat should be 2D, where mat.size(0) is the number of data points")
        if global_step is None:
            global_step = 0
        subdir = f"{str(global_step).zfill(5)}/{self._encode(tag)}"
        logdir = self._get_file_writer().get_logdir()
        save_path = os.path.join(logdir, subdir)
        if os.path.isfile(save_path):
            raise NotADirectoryError(f"Path: `{save_path}` exists, but is a file. "
                                     "Cannot proceed.")
        if os.path.isdir(save_path):
            warnings.warn("Embedding dir exists, did you set global_step for add_embedding()?",
                          stacklevel=2)
        os.makedirs(save_path, exist_ok=True)
        if metadata is not None:
            if mat.shape[0] != len(metadata):
                raise ValueError("#labels should equal with #data points")
            _embedding.make_tsv(list(metadata), save_path, metadata_header=metadata_header)
        if label_img is not None:
            label_img = _np(label_img, "label_img")
            if mat.shape[0] != label_img.shape[0]:
                raise ValueError("#images should equal with #data points")
            _make_sprite(label_img, save_path)
        _embedding.make_mat(mat, save_path)
        _embedding.append_pbtxt(metadata, label_img, logdir, subdir, global_step, tag)

    def flush(self):
        """Write pending events to disk."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()

    def close(self):
        """Flush and close every event file; a later add_* call opens a new one."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()


def _make_sprite(label_img, save_path):
    """The projector's sprite: NCHW images in [0, 1] on a square grid, ceil(sqrt(N)) a row."""
    from PIL import Image  # Pillow: optional (the tensorboard extra), for embeddings only

    if label_img.ndim != 4 or label_img.shape[1] not in (1, 3):
        raise ValueError(f"add_embedding: label_img must be NCHW with 1 or 3 channels, got shape "
                         f"{tuple(label_img.shape)}")
    per_row = math.ceil(label_img.shape[0] ** 0.5)
    grid = make_grid(label_img.astype(np.float32), ncols=per_row).transpose(1, 2, 0)
    side = grid.shape[1]  # TensorBoard wants a square sprite: pad rows below with black
    square = np.zeros((side, side, 3), np.float32)
    square[:grid.shape[0]] = grid
    Image.fromarray((square * 255).clip(0, 255).astype(np.uint8)).save(
        os.path.join(save_path, "sprite.png"))


def _hparam_value(key, v):
    # PyTorch accepts numbers, str, bool, None and one-element tensors
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (Tensor, np.ndarray, np.generic)):
        a = _np(v)
        if a.size == 1:
            return a.reshape(()).item()
    raise ValueError(f"add_hparams: value of '{key}' should be one of int, float, str, bool, "
                     f"or a one-element tensor, got {type(v).__name__}")


def _with_discrete_domains(exp, hparam_dict, domains):
    """The experiment summary with each listed hparam's discrete domain (tensorboardX omits it)."""
    if not isinstance(domains, dict):
        raise TypeError("parameter: hparam_domain_discrete should be a dictionary, nothing logged.")
    for k, v in domains.items():
        if (k not in hparam_dict or not isinstance(v, list)
                or not all(isinstance(d, type(hparam_dict[k])) for d in v)):
            raise TypeError(f"parameter: hparam_domain_discrete[{k}] should be a list of same "
                            f"type as hparam_dict[{k}].")
    value = exp.value[0]
    data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.hparam_infos:
        for d in domains.get(info.name, ()):
            item = info.domain_discrete.values.add()
            if isinstance(d, bool):
                item.bool_value = d
            elif isinstance(d, str):
                item.string_value = d
            else:
                item.number_value = float(d)
    value.metadata.plugin_data.content = data.SerializeToString()
    return exp
