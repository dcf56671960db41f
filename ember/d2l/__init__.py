"""The d2l training layer (``from d2l import torch as d2l``), written once and cleanly.

The API is d2l-en's: HyperParameters, ProgressBoard, Module, DataModule, Trainer, the
regression/classification models and data of the book's early chapters, the plotting helpers
and the framework alias table. Differences, all additive:

* ProgressBoard draws inline (SVG) in Jupyter as d2l does; in a terminal it keeps a PNG file up
  to date and says where it is once; without matplotlib it records points and draws nothing.
* Trainer.fit shows a tqdm progress bar per epoch (when tqdm is installed) and prints one
  summary line per epoch; ``Trainer(..., quiet=True)`` silences both.
* A hook whose name is a near miss of a known one (``validation_dtep``) gets a warning naming
  the hook it was probably meant to be; d2l silently ignores such methods.
"""
from __future__ import annotations

import atexit
import collections
import contextlib
import difflib
import hashlib
import inspect
import math
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile

import numpy as np

import ember as torch
from ember import nn
from ember.nn import functional as F
from ember.serialization import _save_atomic

_HOOKS = ("training_step", "validation_step", "configure_optimizers", "loss", "forward",
          "prepare_batch", "fit_epoch", "prepare_data", "prepare_model", "get_dataloader",
          "train_dataloader", "val_dataloader", "apply_init", "accuracy", "clip_gradients",
          "save_hyperparameters", "text_labels", "visualize", "get_tensorloader")


def _check_hook_name(cls, name):
    """Warn about a method whose name is one typo away from a hook the trainer calls."""
    if name.startswith("_") or name in _HOOKS:
        return
    close = difflib.get_close_matches(name, _HOOKS, n=1, cutoff=0.85)
    if close:
        warnings.warn(
            f"{cls.__name__}.{name} looks like a misspelling of the hook '{close[0]}': "
            f"the trainer calls '{close[0]}', so '{name}' will never run.",
            UserWarning, stacklevel=3)
        if "ember.doctor" in sys.modules:  # and in the doctor's format, when it watches
            sys.modules["ember.doctor"].hook_typo(cls, name, close[0])


class _HookChecked:
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, value in vars(cls).items():
            if callable(value):
                _check_hook_name(cls, name)


def add_to_class(Class):
    """Register the decorated function as a method of ``Class`` (d2l's notebook idiom)."""

    def wrapper(obj):
        if isinstance(Class, type) and issubclass(Class, _HookChecked):
            _check_hook_name(Class, obj.__name__)
        setattr(Class, obj.__name__, obj)

    return wrapper


class HyperParameters(_HookChecked):
    """Base class that saves the arguments of ``__init__`` as attributes."""

    def save_hyperparameters(self, ignore=[]):  # noqa: B006 - d2l's signature
        """Save the caller's arguments (except ``ignore``) into ``self.hparams`` and attributes."""
        frame = inspect.currentframe().f_back
        _, _, _, local_vars = inspect.getargvalues(frame)
        skip = set(ignore + ["self"])
        self.hparams = {k: v for k, v in local_vars.items()
                        if k not in skip and not k.startswith("_")}
        for k, v in self.hparams.items():
            setattr(self, k, v)


# ---- plotting ------------------------------------------------------------------------------------
def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except AttributeError:
        return False
    return ip is not None and ip.__class__.__name__ == "ZMQInteractiveShell"


def _pyplot():
    """matplotlib.pyplot, headless outside notebooks; None when matplotlib is not installed."""
    try:
        import matplotlib  # optional
    except ImportError:
        return None
    if not _in_notebook() and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # optional

    global _exit_hook
    if not _exit_hook:
        # Registered after pyplot's own exit hook, so it runs before pyplot closes the figures.
        atexit.register(_save_open_figures)
        _exit_hook = True
    return plt


_exit_hook = False


# d2l.torch names of chapters 13 on (computational performance, computer vision, NLP, HPO,
# GANs, reinforcement learning), which ember.d2l does not provide yet.
_LATER_CHAPTERS = frozenset("""
    split_batch train_batch_ch13 train_ch13 box_corner_to_center box_center_to_corner
    bbox_to_rect multibox_prior show_bboxes box_iou assign_anchor_to_bbox offset_boxes
    multibox_target offset_inverse nms multibox_detection read_data_bananas BananasDataset
    load_data_bananas read_voc_images VOC_COLORMAP VOC_CLASSES voc_colormap2label
    voc_label_indices voc_rand_crop VOCSegDataset load_data_voc read_csv_labels copyfile
    reorg_train_valid reorg_test read_ptb subsample get_centers_and_contexts RandomGenerator
    get_negatives batchify load_data_ptb TokenEmbedding get_tokens_and_segments BERTEncoder
    MaskLM NextSentencePred BERTModel load_data_wiki read_imdb load_data_imdb
    predict_sentiment read_snli SNLIDataset load_data_snli predict_snli rbfkernel HPOTrainer
    HPOSearcher RandomSearcher HPOScheduler BasicScheduler HPOTuner hpo_objective_lenet
    SuccessiveHalvingScheduler update_D update_G frozen_lake make_env
    show_value_function_progress show_Q_function_progress""".split())


def __getattr__(name):
    if name == "plt":
        plt = _pyplot()
        if plt is None:
            raise ImportError("d2l.plt needs matplotlib: pip install 'ember[plot]'")
        return plt
    if name in _LATER_CHAPTERS:
        raise AttributeError(
            f"module 'ember.d2l' has no attribute '{name}': d2l.{name} belongs to the book's "
            f"chapters 13 and later, which ember.d2l does not cover for now (chapters 2-12 are "
            f"covered; see docs/d2l.md)")
    raise AttributeError(f"module 'ember.d2l' has no attribute '{name}'")


def use_svg_display():
    """Use the SVG format for inline figures in Jupyter (a no-op elsewhere)."""
    if not _in_notebook():
        return
    try:
        from matplotlib_inline import backend_inline  # optional

        backend_inline.set_matplotlib_formats("svg")
    except ImportError:
        pass


def set_figsize(figsize=(3.5, 2.5)):
    """Set the default figure size (in a terminal, the next drawing starts a new figure)."""
    plt = _pyplot()
    if plt is not None:
        use_svg_display()
        plt.rcParams["figure.figsize"] = figsize
        # Book code calls set_figsize where a notebook cell starts a figure.
        _fresh_figure(plt)


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend):
    """Set labels, limits, scales and legend of matplotlib axes."""
    axes.set_xlabel(xlabel), axes.set_ylabel(ylabel)
    axes.set_xscale(xscale), axes.set_yscale(yscale)
    axes.set_xlim(xlim), axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def _as_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def plot(X, Y=None, xlabel=None, ylabel=None, legend=[], xlim=None,  # noqa: B006
         ylim=None, xscale="linear", yscale="linear",
         fmts=("-", "m--", "g-.", "r:"), figsize=(3.5, 2.5), axes=None):
    """Plot data points (one or several curves); in a terminal the figure goes to a PNG file."""
    plt = _pyplot()
    if plt is None:
        warnings.warn("d2l.plot needs matplotlib (pip install 'ember[plot]'); nothing drawn",
                      stacklevel=2)
        return None

    def has_one_axis(X):
        return (hasattr(X, "ndim") and X.ndim == 1 or isinstance(X, list)
                and not hasattr(X[0], "__len__"))

    if has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    if axes is None:
        set_figsize(figsize)
        axes = plt.gca()
    else:
        plt.rcParams["figure.figsize"] = figsize
    axes.cla()
    for x, y, fmt in zip(X, Y, fmts):
        x, y = _as_numpy(x), _as_numpy(y)
        axes.plot(x, y, fmt) if len(x) else axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
    _show(axes.figure, "plot")  # returns None as d2l's does (a notebook cell shows no repr)


def _figure_dir() -> str:
    return os.environ.get("EMBER_FIGURES", os.path.join(os.getcwd(), "figures"))


def _script_name() -> str:
    """The running script's name without extension ('python' when interactive)."""
    main = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-") else "python"
    name = os.path.splitext(os.path.basename(main))[0]
    if name == "__main__":  # python -m package: the package's name
        name = os.path.basename(os.path.dirname(os.path.abspath(main)))
    return name or "python"


_announced: set = set()
_figure_count = 0


def _figure_path(kind="figure") -> str:
    """A new PNG path for one figure: ``<figures>/<script>-<n>-<kind>.png``, n counting up."""
    global _figure_count
    _figure_count += 1
    kind = os.path.splitext(os.path.basename(kind))[0]
    kind = kind[4:] if kind.startswith("d2l_") else kind
    return os.path.join(_figure_dir(), f"{_script_name()}-{_figure_count}-{kind}.png")


def _show(fig, filename="figure", note="figure saved to", path=None):
    """Inline in notebooks; elsewhere save ``fig`` as a PNG (atomically) and say where, once.

    Each figure gets its own file (see _figure_path; ``filename`` names its kind) and keeps it
    when drawn again, so figures of one script never overwrite each other. Returns the path.
    """
    if _in_notebook():
        # Never clear_output: it would wipe the cell's other output too (the Trainer's epoch
        # lines). A board's or animator's figure (outside pyplot) is shown once, then redrawn
        # in place through its display handle; pyplot's figures are shown by the inline
        # backend when the cell ends, as in d2l.
        if getattr(fig.canvas, "manager", None) is None:
            from IPython import display  # optional

            handle = getattr(fig, "_ember_display", None)
            if handle is None:
                fig._ember_display = display.display(fig, display_id=True)
            else:
                handle.update(fig)
        return None
    path = path or getattr(fig, "_ember_path", None) or _figure_path(filename)
    fig._ember_path = path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    os.replace(tmp, path)
    if path not in _announced:
        _announced.add(path)
        print(f"[ember.d2l] {note} {path}", file=sys.stderr)
    return path


def _new_figure(plt, figsize):
    """A figure for a board or animator, outside pyplot, so that ``d2l.plt.plot`` calls never
    land on it and it never counts towards pyplot's open-figure limit (in notebooks _show
    displays it and updates it in place)."""
    from matplotlib.figure import Figure  # optional

    return Figure(figsize=figsize)


def _has_drawing(fig) -> bool:
    return any(ax.has_data() or ax.texts for ax in fig.axes)


def _save_pending(fig):
    """Save a figure drawn on after its last save, or drawn with plt alone (never saved)."""
    saved = getattr(fig, "_ember_path", None)
    if (fig.stale or saved is None) and _has_drawing(fig):
        _show(fig, "figure")


def _fresh_figure(plt):
    """Start a new figure unless the current one is empty, as a notebook cell does.

    The previous figure is saved first when something was drawn on it since its last save
    (book code draws with d2l.plt directly and relies on the notebook to show the result).
    """
    if not plt.get_fignums() or _in_notebook():
        return
    fig = plt.gcf()
    if not _has_drawing(fig):
        return
    _save_pending(fig)
    plt.close(fig)


def _save_open_figures():
    """At exit, save the figures a notebook would have shown but no d2l call saved."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None or _in_notebook():
        return
    for num in plt.get_fignums():
        with contextlib.suppress(Exception):
            _save_pending(plt.figure(num))


def show_images(imgs, num_rows, num_cols, titles=None, scale=1.5):
    """Plot a grid of images."""
    plt = _pyplot()
    if plt is None:
        warnings.warn("show_images needs matplotlib (pip install 'ember[plot]')", stacklevel=2)
        return None
    figsize = (num_cols * scale, num_rows * scale)
    _fresh_figure(plt)
    _, axes = plt.subplots(num_rows, num_cols, figsize=figsize)
    axes = np.asarray(axes).flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        ax.imshow(_as_numpy(img))
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles:
            ax.set_title(titles[i])
    _show(axes[0].figure, "images")
    return axes


class ProgressBoard(HyperParameters):
    """The board that plots data points in animation."""

    def __init__(self, xlabel=None, ylabel=None, xlim=None, ylim=None, xscale="linear",
                 yscale="linear", ls=["-", "--", "-.", ":"], colors=["C0", "C1", "C2", "C3"],  # noqa: B006
                 fig=None, axes=None, figsize=(3.5, 2.5), display=True):
        self.save_hyperparameters()
        self.raw_points = collections.OrderedDict()
        self.data = collections.OrderedDict()
        self.filename = "progress"
        self.path = None
        self._last_render = 0.0
        self._dirty = False

    # A PNG file is rewritten at most this often (seconds); flush() writes the latest points.
    min_interval = 1.0

    def draw(self, x, y, label, every_n=1):
        """Add (x, y) to curve ``label``; every ``every_n`` points, plot their mean."""
        Point = collections.namedtuple("Point", ["x", "y"])
        points = self.raw_points.setdefault(label, [])
        line = self.data.setdefault(label, [])
        points.append(Point(x, y))
        if len(points) != every_n:
            return
        line.append(Point(sum(float(p.x) for p in points) / len(points),
                          sum(float(p.y) for p in points) / len(points)))
        points.clear()
        if not self.display:
            return
        if _in_notebook() or time.monotonic() - self._last_render >= self.min_interval:
            self.render()
        else:
            if not self._dirty:
                atexit.register(self.flush)  # the last points reach the file even without flush()
            self._dirty = True

    def flush(self):
        """Draw points not drawn yet (the PNG is rewritten at most every min_interval s)."""
        if self._dirty and self.display:
            self.render()

    def render(self):
        """Redraw every curve now (a PNG file outside notebooks); returns the file's path."""
        plt = _pyplot()
        if plt is None:
            return None
        use_svg_display()
        if self.fig is None and not self.axes:
            self.fig = _new_figure(plt, self.figsize)
        axes = self.axes if self.axes else self.fig.gca()
        axes.cla()
        plt_lines, labels = [], []
        for (k, v), ls, color in zip(self.data.items(), self.ls, self.colors):
            # A curve of one point (validation after one epoch) shows as a marker.
            marker = "o" if len(v) == 1 else None
            plt_lines.append(axes.plot([p.x for p in v], [p.y for p in v],
                                       linestyle=ls, color=color, marker=marker)[0])
            labels.append(k)
        if self.xlim:
            axes.set_xlim(self.xlim)
        if self.ylim:
            axes.set_ylim(self.ylim)
        if not self.xlabel:
            self.xlabel = "x"
        axes.set_xlabel(self.xlabel)
        axes.set_ylabel(self.ylabel)
        axes.set_xscale(self.xscale)
        axes.set_yscale(self.yscale)
        axes.legend(plt_lines, labels)
        self.path = _show(axes.figure, self.filename, "progress plot kept up to date in",
                          self.path)
        self._last_render = time.monotonic()
        self._dirty = False
        return self.path


# ---- the training layer ------------------------------------------------------------------------------
class Module(nn.Module, HyperParameters):
    """The base class of models."""

    def __init__(self, plot_train_per_epoch=2, plot_valid_per_epoch=1):
        super().__init__()
        self.save_hyperparameters()
        self.board = ProgressBoard()

    def loss(self, y_hat, y):
        raise NotImplementedError

    def forward(self, X):
        assert hasattr(self, "net"), "Neural network is defined"
        return self.net(X)

    def plot(self, key, value, train):
        """Plot a point in animation (x is in fractional epochs)."""
        assert hasattr(self, "trainer"), "Trainer is not inited"
        self.board.xlabel = "epoch"
        if train:
            x = self.trainer.train_batch_idx / self.trainer.num_train_batches
            n = self.trainer.num_train_batches / self.plot_train_per_epoch
        else:
            x = self.trainer.epoch + 1
            n = self.trainer.num_val_batches / self.plot_valid_per_epoch
        value = value.to(cpu()).detach().numpy()
        self.trainer._record(("train_" if train else "val_") + key, value)
        self.board.draw(x, value, ("train_" if train else "val_") + key, every_n=max(int(n), 1))

    def training_step(self, batch):
        l = self.loss(self(*batch[:-1]), batch[-1])  # noqa: E741
        self.plot("loss", l, train=True)
        return l

    def validation_step(self, batch):
        l = self.loss(self(*batch[:-1]), batch[-1])  # noqa: E741
        self.plot("loss", l, train=False)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def apply_init(self, inputs, init=None):
        self.forward(*inputs)
        if init is not None:
            self.net.apply(init)


class DataModule(HyperParameters):
    """The base class of data."""

    def __init__(self, root="../data", num_workers=4):
        self.save_hyperparameters()

    def get_dataloader(self, train):
        raise NotImplementedError

    def train_dataloader(self):
        return self.get_dataloader(train=True)

    def val_dataloader(self):
        return self.get_dataloader(train=False)

    def get_tensorloader(self, tensors, train, indices=slice(0, None)):
        tensors = tuple(a[indices] for a in tensors)
        dataset = torch.utils.data.TensorDataset(*tensors)
        return torch.utils.data.DataLoader(dataset, self.batch_size, shuffle=train)


class Trainer(HyperParameters):
    """The base class for training models with data."""

    def __init__(self, max_epochs, num_gpus=0, gradient_clip_val=0, quiet=False, doctor=True):
        self.save_hyperparameters()
        # As d2l: as many of the requested GPUs as exist, so none (the CPU) on a machine without.
        self.gpus = [gpu(i) for i in range(min(num_gpus, _gpu_count()))]

    def prepare_data(self, data):
        self.train_dataloader = data.train_dataloader()
        self.val_dataloader = data.val_dataloader()
        self.num_train_batches = len(self.train_dataloader)
        self.num_val_batches = len(self.val_dataloader) if self.val_dataloader is not None else 0

    def prepare_model(self, model):
        model.trainer = self
        model.board.xlim = [0, self.max_epochs]
        if self.gpus:
            model.to(self.gpus[0])
        self.model = model

    def fit(self, model, data):
        self.prepare_data(data)
        self.prepare_model(model)
        self.optim = model.configure_optimizers()
        self.epoch = 0
        self.train_batch_idx = 0
        self.val_batch_idx = 0
        with (torch.doctor.trainer(model, self.optim, (type(model), type(data), type(self)),
                                   _HOOKS) if getattr(self, "doctor", True)
              else contextlib.nullcontext()):  # ember.doctor: diagnoses on stderr, if any
            for self.epoch in range(self.max_epochs):
                self._metrics = collections.defaultdict(list)
                start = time.perf_counter()
                self.fit_epoch()
                self.model.board.flush()
                self._summary(time.perf_counter() - start)

    def fit_epoch(self):
        self.model.train()
        for batch in self._progress(self.train_dataloader):
            loss = self.model.training_step(self.prepare_batch(batch))
            self.optim.zero_grad()
            with torch.no_grad():
                loss.backward()
                if self.gradient_clip_val > 0:
                    self.clip_gradients(self.gradient_clip_val, self.model)
                self.optim.step()
            self.train_batch_idx += 1
        if self.val_dataloader is None:
            return
        self.model.eval()
        for batch in self.val_dataloader:
            with torch.no_grad():
                self.model.validation_step(self.prepare_batch(batch))
            self.val_batch_idx += 1

    def prepare_batch(self, batch):
        if self.gpus:
            batch = [to(a, self.gpus[0]) for a in batch]
        return batch

    def clip_gradients(self, grad_clip_val, model):
        params = [p for p in model.parameters() if p.requires_grad]
        norm = torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))
        if norm > grad_clip_val:
            for param in params:
                param.grad[:] *= grad_clip_val / norm

    # -- progress reporting (ember additions) --
    def _record(self, key, value):
        metrics = getattr(self, "_metrics", None)
        if metrics is not None:
            metrics[key].append(float(value))

    def _progress(self, loader):
        bar = None
        if not getattr(self, "quiet", False) and sys.stderr.isatty():
            try:
                from tqdm.auto import tqdm  # optional

                bar = tqdm(loader, total=self.num_train_batches, leave=False,
                           desc=f"epoch {self.epoch + 1}/{self.max_epochs}", unit="batch")
            except ImportError:
                bar = None
        if bar is None:
            yield from loader
            return
        try:
            for batch in bar:
                yield batch
                losses = self._metrics.get("train_loss")
                if losses:
                    bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        finally:
            bar.close()

    def _summary(self, seconds):
        if getattr(self, "quiet", False):
            return
        parts = [f"epoch {self.epoch + 1}/{self.max_epochs}"]
        for key, values in self._metrics.items():
            if values:
                parts.append(f"{key} {sum(values) / len(values):.4f}")
        parts.append(f"{seconds:.1f}s")
        print("  ".join(parts), flush=True)


class SyntheticRegressionData(DataModule):
    """Synthetic data for linear regression."""

    def __init__(self, w, b, noise=0.01, num_train=1000, num_val=1000, batch_size=32):
        super().__init__()
        self.save_hyperparameters()
        n = num_train + num_val
        self.X = torch.randn(n, len(w))
        noise = torch.randn(n, 1) * noise
        self.y = torch.matmul(self.X, w.reshape((-1, 1))) + b + noise

    def get_dataloader(self, train):
        i = slice(0, self.num_train) if train else slice(self.num_train, None)
        return self.get_tensorloader((self.X, self.y), train, i)


class SGD(HyperParameters):
    """Minibatch stochastic gradient descent."""

    def __init__(self, params, lr):
        self.save_hyperparameters()

    def step(self):
        for param in self.params:
            param -= self.lr * param.grad

    def zero_grad(self):
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()


class LinearRegressionScratch(Module):
    """The linear regression model implemented from scratch."""

    def __init__(self, num_inputs, lr, sigma=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.w = torch.normal(0, sigma, (num_inputs, 1), requires_grad=True)
        self.b = torch.zeros(1, requires_grad=True)

    def forward(self, X):
        return torch.matmul(X, self.w) + self.b

    def loss(self, y_hat, y):
        l = (y_hat - y) ** 2 / 2  # noqa: E741
        return l.mean()

    def configure_optimizers(self):
        return SGD([self.w, self.b], self.lr)


class LinearRegression(Module):
    """The linear regression model implemented with high-level APIs."""

    def __init__(self, lr):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.LazyLinear(1)
        self.net.weight.data.normal_(0, 0.01)
        self.net.bias.data.fill_(0)

    def forward(self, X):
        return self.net(X)

    def loss(self, y_hat, y):
        fn = nn.MSELoss()
        return fn(y_hat, y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), self.lr)

    def get_w_b(self):
        return (self.net.weight.data, self.net.bias.data)


class Classifier(Module):
    """The base class of classification models."""

    def validation_step(self, batch):
        Y_hat = self(*batch[:-1])
        self.plot("loss", self.loss(Y_hat, batch[-1]), train=False)
        self.plot("acc", self.accuracy(Y_hat, batch[-1]), train=False)

    def accuracy(self, Y_hat, Y, averaged=True):
        """Compute the number of correct predictions."""
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        preds = Y_hat.argmax(axis=1).type(Y.dtype)
        compare = (preds == Y.reshape(-1)).type(torch.float32)
        return compare.mean() if averaged else compare

    def loss(self, Y_hat, Y, averaged=True):
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        Y = Y.reshape((-1,))
        return F.cross_entropy(Y_hat, Y, reduction="mean" if averaged else "none")

    def layer_summary(self, X_shape):
        X = torch.randn(*X_shape)
        for layer in self.net:
            X = layer(X)
            print(layer.__class__.__name__, "output shape:\t", X.shape)


class SoftmaxRegression(Classifier):
    """The softmax regression model."""

    def __init__(self, num_outputs, lr):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_outputs))

    def forward(self, X):
        return self.net(X)


class FashionMNIST(DataModule):
    """The Fashion-MNIST dataset (read from EMBER_DATA or root, downloaded when missing)."""

    def __init__(self, batch_size=64, resize=(28, 28), root=None, num_workers=4):
        super().__init__(root=_data_root(root), num_workers=num_workers)
        self.save_hyperparameters(ignore=["root", "num_workers"])
        from ember.vision import datasets, transforms  # only these loaders need vision

        trans = transforms.Compose([transforms.Resize(resize), transforms.ToTensor()])
        self.train = datasets.FashionMNIST(root=self.root, train=True, transform=trans,
                                           download=True)
        self.val = datasets.FashionMNIST(root=self.root, train=False, transform=trans,
                                         download=True)

    def text_labels(self, indices):
        """Return text labels."""
        labels = ["t-shirt", "trouser", "pullover", "dress", "coat",
                  "sandal", "shirt", "sneaker", "bag", "ankle boot"]
        return [labels[int(i)] for i in indices]

    def get_dataloader(self, train):
        data = self.train if train else self.val
        return torch.utils.data.DataLoader(data, self.batch_size, shuffle=train,
                                           num_workers=self.num_workers)

    def visualize(self, batch, nrows=1, ncols=8, labels=[]):  # noqa: B006
        X, y = batch
        if not labels:
            labels = self.text_labels(y)
        show_images(X.squeeze(1), nrows, ncols, titles=labels)


def _data_root(root):
    if root is not None:
        return root
    return os.environ.get("EMBER_DATA") or os.path.join(os.path.expanduser("~"), ".cache",
                                                        "ember", "data")


class Timer:
    """Record multiple running times."""

    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        self.tik = time.time()

    def stop(self):
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def avg(self):
        return sum(self.times) / len(self.times)

    def sum(self):
        return sum(self.times)

    def cumsum(self):
        return np.array(self.times).cumsum().tolist()


class Accumulator:
    """For accumulating sums over n variables."""

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


# ---- the book's stand-alone utilities (d2l's sec_utils: used from chapter 6 on) -------------------
def load_array(data_arrays, batch_size, is_train=True):
    """Construct a PyTorch data iterator."""
    dataset = torch.utils.data.TensorDataset(*data_arrays)
    return torch.utils.data.DataLoader(dataset, batch_size, shuffle=is_train)


def synthetic_data(w, b, num_examples):
    """Generate y = Xw + b + noise."""
    X = normal(0, 1, (num_examples, len(w)))
    y = matmul(X, w) + b
    y += normal(0, 0.01, y.shape)
    return X, reshape(y, (-1, 1))


def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


def linreg(X, w, b):
    """The linear regression model."""
    return matmul(X, w) + b


def squared_loss(y_hat, y):
    """Squared loss."""
    return (y_hat - reshape(y, y_hat.shape)) ** 2 / 2


def get_dataloader_workers():
    """Use 4 processes to read the data."""
    return 4


def load_data_fashion_mnist(batch_size, resize=None):
    """Download the Fashion-MNIST dataset and then load it into memory."""
    from ember.vision import datasets, transforms  # only these loaders need vision

    trans = [transforms.ToTensor()]
    if resize:
        trans.insert(0, transforms.Resize(resize))
    trans = transforms.Compose(trans)
    # d2l's ../data; the dataset falls back to $EMBER_DATA/FashionMNIST before downloading.
    mnist_train = datasets.FashionMNIST(root="../data", train=True, transform=trans,
                                        download=True)
    mnist_test = datasets.FashionMNIST(root="../data", train=False, transform=trans,
                                       download=True)
    return (torch.utils.data.DataLoader(mnist_train, batch_size, shuffle=True,
                                        num_workers=get_dataloader_workers()),
            torch.utils.data.DataLoader(mnist_test, batch_size, shuffle=False,
                                        num_workers=get_dataloader_workers()))


def get_fashion_mnist_labels(labels):
    """Return text labels for the Fashion-MNIST dataset."""
    text_labels = ["t-shirt", "trouser", "pullover", "dress", "coat",
                   "sandal", "shirt", "sneaker", "bag", "ankle boot"]
    return [text_labels[int(i)] for i in labels]


def accuracy(y_hat, y):
    """Compute the number of correct predictions."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = argmax(y_hat, axis=1)
    cmp = astype(y_hat, y.dtype) == y
    return float(reduce_sum(astype(cmp, y.dtype)))


def evaluate_loss(net, data_iter, loss):
    """Evaluate the loss of a model on the given dataset."""
    metric = Accumulator(2)  # sum of losses, number of examples
    for X, y in data_iter:
        out = net(X)
        y = reshape(y, out.shape)
        l = loss(out, y)  # noqa: E741
        metric.add(reduce_sum(l), size(l))
    return metric[0] / metric[1]


class Animator:
    """For plotting data in animation."""

    # Outside notebooks the PNG file is rewritten at most this often (seconds).
    min_interval = 1.0

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"), nrows=1,
                 ncols=1, figsize=(3.5, 2.5)):
        legend = [] if legend is None else legend
        self.fig, self.axes = None, None
        plt = _pyplot()
        if plt is not None:
            use_svg_display()
            self.fig = _new_figure(plt, figsize)
            self.axes = self.fig.subplots(nrows, ncols)
            if nrows * ncols == 1:
                self.axes = [self.axes]
        self.config_axes = lambda: set_axes(self.axes[0], xlabel, ylabel, xlim, ylim, xscale,
                                            yscale, legend)
        self.X, self.Y, self.fmts = None, None, fmts
        self.path = None
        self._last_render = 0.0
        self._dirty = False

    def add(self, x, y):
        """Add data points (one per curve; None skips a curve) and redraw."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
        if self.fig is None:
            return
        if _in_notebook() or time.monotonic() - self._last_render >= self.min_interval:
            self.render()
        elif not self._dirty:
            atexit.register(self.flush)  # the last points reach the file even without flush()
            self._dirty = True

    def flush(self):
        """Draw points not drawn yet."""
        if self._dirty:
            self.render()

    def render(self):
        """Redraw every curve now (a PNG file outside notebooks); returns the file's path."""
        ax = self.axes[0]
        ax.cla()
        for x, y, fmt in zip(self.X or [], self.Y or [], self.fmts):
            # A curve of one point shows as a marker.
            ax.plot(x, y, fmt, marker="o" if len(x) == 1 else None)
        self.config_axes()
        self.path = _show(self.fig, "animator", "plot kept up to date in", self.path)
        self._last_render = time.monotonic()
        self._dirty = False
        return self.path


# ---- devices -----------------------------------------------------------------------------------------
def cpu():
    """Get the CPU device."""
    return torch.device("cpu")


def gpu(i=0):
    """Get a GPU device (usable only where CUDA is; ember runs on the CPU)."""
    return torch.device(f"cuda:{i}")


def num_gpus():
    """Get the number of available GPUs (0 on ember)."""
    return torch.cuda.device_count()


def _gpu_count():
    return num_gpus()  # Trainer.__init__'s argument of the same name hides the function


def try_gpu(i=0):
    """Return gpu(i) if exists, otherwise return cpu()."""
    if num_gpus() >= i + 1:
        return gpu(i)
    return cpu()


def try_all_gpus():
    """Return all available GPUs, or [cpu(),] if no GPU exists."""
    return [gpu(i) for i in range(num_gpus())] or [cpu()]


# ---- data: d2l's hub, downloads with SHA-1 checks, local copies -------------------------------------
DATA_HUB: dict = dict()
DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"

# d2l's entries (URL, SHA-1), those of the later chapters included so that download() knows them.
DATA_HUB.update({
    "airfoil": (DATA_URL + "airfoil_self_noise.dat", "76e5be1548fd8222e5074cf0faae75edff8cf93f"),
    "fra-eng": (DATA_URL + "fra-eng.zip", "94646ad1522d915e7b0f9296181140edcf86a4f5"),
    "hotdog": (DATA_URL + "hotdog.zip", "fba480ffa8aa7e0febbb511d181409f899b9baa5"),
    "banana-detection": (DATA_URL + "banana-detection.zip",
                         "5de26c8fce5ccdea9f91267273464dc968d20d72"),
    "voc2012": (DATA_URL + "VOCtrainval_11-May-2012.tar",
                "4e443f8a2eca6b1dac8a6c57641b67dd40621a49"),
    "cifar10_tiny": (DATA_URL + "kaggle_cifar10_tiny.zip",
                     "2068874e4b9a9f0fb07ebe0ad2b29754449ccacd"),
    "dog_tiny": (DATA_URL + "kaggle_dog_tiny.zip", "0cb91d09b814ecdc07b50f31f8dcad3e81d6a86d"),
    "ptb": (DATA_URL + "ptb.zip", "319d85e578af0cdc590547f26231e4e31cdf1e42"),
    "glove.6b.50d": (DATA_URL + "glove.6B.50d.zip", "0b8703943ccdb6eb788e6f091b8946e82231bc4d"),
    "glove.6b.100d": (DATA_URL + "glove.6B.100d.zip", "cd43bfb07e44e6f27cbcc7bc9ae3d80284fdaf5a"),
    "glove.42b.300d": (DATA_URL + "glove.42B.300d.zip",
                       "b5116e234e9eb9076672cfeabf5469f3eec904fa"),
    "wiki.en": (DATA_URL + "wiki.en.zip", "c1816da3821ae9f43899be655002f6c723e91b88"),
    "wikitext-2": ("https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
                   "3c914d17d80b1459be871a5039ac23e752a53cbe"),
    "aclImdb": (DATA_URL + "aclImdb_v1.tar.gz", "01ada507287d82875905620988597833ad4e0903"),
    "SNLI": ("https://nlp.stanford.edu/projects/snli/snli_1.0.zip",
             "9fcde07509c7e87ec61c640c1b2753d9041758e4"),
    "pokemon": (DATA_URL + "pokemon.zip", "c065c0e2593b8b161a2d7873e42418bf6a21106c"),
})


def _sha1(path):
    digest = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path, sha1_hash):
    """True when ``path`` is a file whose SHA-1 is ``sha1_hash`` (any file when no hash is given)."""
    return os.path.isfile(path) and (not sha1_hash or _sha1(path) == sha1_hash)


def _fetch(url, path, sha1_hash):
    """Download ``url`` to ``path`` through a temporary file renamed into place once verified."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    if os.environ.get("EMBER_OFFLINE"):
        raise urllib.error.URLError("network use disabled by EMBER_OFFLINE")
    print(f"Downloading {path} from {url}...")
    request = urllib.request.Request(url, headers={"User-Agent": "ember"})

    def fetch(out):
        digest = hashlib.sha1(usedforsecurity=False)
        with urllib.request.urlopen(request, timeout=60) as resp:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if sha1_hash and digest.hexdigest() != sha1_hash:
            raise RuntimeError(f"SHA-1 mismatch for {os.path.basename(path)} downloaded from "
                               f"{url}: got {digest.hexdigest()}, expected {sha1_hash}; "
                               f"nothing was written to {path}")

    _save_atomic(path, fetch)  # ember.save's writer: a temporary file renamed into place
    return path


def _copy_into(src, path):
    """Copy ``src`` to ``path`` atomically (a temporary file renamed into place)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(src, "rb") as fsrc:
        _save_atomic(path, lambda out: shutil.copyfileobj(fsrc, out))
    return path


def _data_file(filename, sha1_hash, root=None, url=None) -> str:
    """Path to a data file: ``<root>/<filename>``, else ``$EMBER_DATA/d2l/<filename>``, else
    downloaded into ``root`` (``../data`` as in d2l) from ``url`` (d2l's data hub by default)."""
    root = "../data" if root is None else os.path.expanduser(str(root))
    path = os.path.join(root, filename)
    if _verified(path, sha1_hash):
        return path
    shared = os.environ.get("EMBER_DATA")
    if shared:
        candidate = os.path.join(os.path.expanduser(shared), "d2l", filename)
        if _verified(candidate, sha1_hash):
            return candidate
    url = url or DATA_URL + filename
    try:
        return _fetch(url, path, sha1_hash)
    except (urllib.error.URLError, OSError) as error:
        where = f"{path} or $EMBER_DATA/d2l/{filename}"
        check = f" (SHA-1 {sha1_hash})" if sha1_hash else ""
        stale = (f"; the file already at {path} has SHA-1 {_sha1(path)}, not {sha1_hash}"
                 if os.path.isfile(path) else "")
        raise RuntimeError(
            f"could not download {filename} from {url}: {error} (no network?){stale}. "
            f"Download it elsewhere and put it at {where}{check}.") from error


def download(url, folder="../data", sha1_hash=None):
    """Download a file to folder and return the local filepath."""
    if url in DATA_HUB:  # d2l's older calling convention: a name in the hub
        url, sha1_hash = DATA_HUB[url]
    elif "://" not in url:
        raise KeyError(f"{url!r} is neither a URL nor a name in d2l.DATA_HUB "
                       f"(known: {', '.join(sorted(DATA_HUB))})")
    fname = os.path.join(folder, url.split("/")[-1])
    path = _data_file(os.path.basename(fname), sha1_hash, root=folder, url=url)
    if os.path.abspath(path) != os.path.abspath(fname):
        # The copy in $EMBER_DATA: d2l's callers extract next to the file, so it goes in folder.
        _copy_into(path, fname)
    return fname


def _unpack(filename, folder):
    _, ext = os.path.splitext(filename)
    if ext == ".zip":
        with zipfile.ZipFile(filename, "r") as fp:
            fp.extractall(folder)
    elif ext in (".tar", ".gz"):
        with tarfile.open(filename, "r") as fp:
            fp.extractall(folder, filter="data")
    else:
        raise ValueError(f"cannot extract {filename}: only zip/tar files are supported "
                         f"(.zip, .tar, .gz)")


def extract(filename, folder=None):
    """Extract a zip/tar file into folder."""
    _unpack(filename, os.path.dirname(filename) if folder is None else folder)


def download_extract(name, folder=None):
    """Download and extract a zip/tar file."""
    fname = download(name)
    base_dir = os.path.dirname(fname)
    data_dir, _ = os.path.splitext(fname)
    _unpack(fname, base_dir)
    return os.path.join(base_dir, folder) if folder else data_dir


# ---- d2l's framework alias table --------------------------------------------------------------------
nn_Module = nn.Module
ones_like = torch.ones_like
ones = torch.ones
zeros_like = torch.zeros_like
zeros = torch.zeros
tensor = torch.tensor
arange = torch.arange
sin = torch.sin
sinh = torch.sinh
cos = torch.cos
cosh = torch.cosh
tanh = torch.tanh
linspace = torch.linspace
exp = torch.exp
log = torch.log
normal = torch.normal
rand = torch.rand
randn = torch.randn
matmul = torch.matmul
int32 = torch.int32
int64 = torch.int64
float32 = torch.float32
concat = torch.cat
stack = torch.stack
abs = torch.abs  # noqa: A001
eye = torch.eye
sigmoid = torch.sigmoid
batch_matmul = torch.bmm


meshgrid = torch.meshgrid


def numpy(x, *args, **kwargs):
    return x.detach().numpy(*args, **kwargs)


def _method(name, method):
    """d2l's framework-neutral spelling ``d2l.name(x, ...)`` of the method ``x.method(...)``."""
    def alias(x, *args, **kwargs):
        return getattr(x, method)(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = name
    return alias


size = _method("size", "numel")
reshape = _method("reshape", "reshape")
to = _method("to", "to")
reduce_sum = _method("reduce_sum", "sum")
argmax = _method("argmax", "argmax")
astype = _method("astype", "type")
transpose = _method("transpose", "t")
reduce_mean = _method("reduce_mean", "mean")
expand_dims = _method("expand_dims", "unsqueeze")
swapaxes = _method("swapaxes", "swapaxes")
repeat = _method("repeat", "repeat")


# The later chapters, one file each (they build on the classes above, so they load last).
from .attention import *  # noqa: E402,F403  chapter 11: attention and Transformers
from .cnn import *  # noqa: E402,F403  chapters 6-8: builders' guide, CNNs, modern CNNs
from .optimization import *  # noqa: E402,F403  chapter 12: optimization algorithms
from .rnn import *  # noqa: E402,F403  chapter 9: text, vocabularies, recurrent networks
from .seq2seq import *  # noqa: E402,F403  chapter 10: machine translation, encoder-decoder


def __dir__():
    return sorted(list(globals()) + ["plt"])

