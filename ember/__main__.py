"""Command line: ``python -m ember demo`` (the seeds' MNIST network) and ``python -m ember run``."""
from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import os
import random
import runpy
import signal
import sys
import time

import ember

from . import __version__

_DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


def _data_root(root):
    if root:
        return root
    return os.environ.get("EMBER_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "ember",
                                                        "data")


def _load_images(name, root):
    """(X_train, y_train, X_test, y_test, description) as float32 in [0, 1] and int64 labels.

    Falls back to scikit-learn's bundled 8x8 digits when the data set is neither on disk nor
    downloadable, so the demo always completes.
    """
    # ember.vision, ember.nn, ember.utils.data, compat and the doctor are imported where used:
    # each adds modules (ember.nn ~0.15 s) that `python -m ember --help` must not load
    from ember.vision import datasets

    cls = getattr(datasets, _DATASETS[name])
    try:
        train = cls(root, train=True, download=False)
        test = cls(root, train=False, download=False)
    except RuntimeError:
        log = io.StringIO()  # the downloader's chatter: shown only if the download works
        new_dirs = _missing_dirs(os.path.join(root, _DATASETS[name], "raw"))
        try:
            with contextlib.redirect_stdout(log):
                train = cls(root, train=True, download=True)
                test = cls(root, train=False, download=True)
        except (RuntimeError, OSError):
            for d in reversed(new_dirs):  # the download made them, and left them empty
                with contextlib.suppress(OSError):
                    os.rmdir(d)
            print(f"{_DATASETS[name]} is not under {root} and could not be downloaded (no "
                  "network?): training on scikit-learn's bundled 8x8 handwritten digits instead.",
                  flush=True)
            return _load_digits()
        print(log.getvalue(), end="")

    def prep(ds):
        # what ToTensor() does, for the whole set at once: uint8 [0, 255] -> float32 [0, 1]
        X = ds.data.reshape(len(ds.data), -1).float() / 255
        return X, ds.targets

    X_train, y_train = prep(train)
    X_test, y_test = prep(test)
    return X_train, y_train, X_test, y_test, f"{_DATASETS[name]} from {os.path.join(root, _DATASETS[name])}"


def _missing_dirs(path):
    """``path`` and those of its parents that do not exist yet, outermost first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.isdir(path) and os.path.dirname(path) != path:
        missing.insert(0, path)
        path = os.path.dirname(path)
    return missing


def _load_digits():
    try:
        from sklearn.datasets import load_digits  # optional dependency
    except ImportError:
        sys.exit("scikit-learn is not installed either: pip install 'ember[demo]', or pass --root "
                 "with the MNIST raw files under <root>/MNIST/raw/")
    digits = load_digits()
    X = ember.tensor(digits.data / 16.0, dtype=ember.float32)
    y = ember.tensor(digits.target, dtype=ember.int64)
    g = ember.Generator().manual_seed(0)
    perm = ember.randperm(len(y), generator=g)
    X, y = X[perm], y[perm]
    n_train = 1500
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:], "scikit-learn digits (8x8)"


def demo(argv=None) -> int:
    """Train seed S1's MLP (784-256-256-10, ReLU, Adam 1e-3, batch 100) and evaluate it."""
    p = argparse.ArgumentParser(prog="python -m ember demo", description=demo.__doc__)
    p.add_argument("--epochs", type=int, default=15,
                   help="passes over the training set (default: %(default)s)")
    p.add_argument("--dataset", choices=sorted(_DATASETS), default="mnist",
                   help="which data set (default: %(default)s)")
    p.add_argument("--root", default=None, help="data root (default: $EMBER_DATA, else ~/.cache/ember/data)")
    p.add_argument("--batch-size", type=int, default=100,
                   help="images per Adam step (default: %(default)s)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default: %(default)s)")
    p.add_argument("--seed", type=int, default=777,
                   help="seeds the weights and the batch order (default: %(default)s)")
    p.add_argument("--out", default="ember-demo",
                   help="where the weights and the curves go (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)

    from ember import nn  # heavy: see _load_images
    from ember.utils.data import DataLoader, TensorDataset

    random.seed(args.seed)
    ember.manual_seed(args.seed)
    X_train, y_train, X_test, y_test, source = _load_images(args.dataset, _data_root(args.root))
    n_in = X_train.shape[1]
    print(f"data: {source}: {len(X_train)} training and {len(X_test)} test images of {n_in} pixels")

    linear1 = nn.Linear(n_in, 256, bias=True)
    linear2 = nn.Linear(256, 256, bias=True)
    linear3 = nn.Linear(256, 10, bias=True)
    relu = nn.ReLU()
    model = nn.Sequential(linear1, relu, linear2, relu, linear3)
    print(model)
    criterion = nn.CrossEntropyLoss()
    optimizer = ember.optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=args.batch_size, shuffle=True)

    history = {"epoch": [], "train_loss": [], "test_acc": []}
    show_bar = not args.quiet and sys.stderr.isatty()
    for epoch in range(args.epochs):
        start = time.perf_counter()
        model.train()
        total, batches = 0.0, 0
        it = loader
        if show_bar:
            try:
                from tqdm.auto import tqdm  # optional dependency

                it = tqdm(loader, leave=False, desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch")
            except ImportError:
                pass
        for X, Y in it:
            optimizer.zero_grad()
            cost = criterion(model(X), Y)
            cost.backward()
            optimizer.step()
            total += cost.item()
            batches += 1
            if it is not loader and batches % 50 == 0:
                it.set_postfix(cost=f"{total / batches:.4f}", refresh=False)
        acc = _accuracy(model, X_test, y_test)
        avg = total / max(batches, 1)
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(avg)
        history["test_acc"].append(acc)
        print(f"Epoch: {epoch + 1:04d} cost = {avg:.9f}  test accuracy = {acc:.4f}  "
              f"({time.perf_counter() - start:.1f}s)", flush=True)
    print("Learning finished")

    acc = _accuracy(model, X_test, y_test)
    print("Accuracy:", acc)
    r = random.randint(0, len(X_test) - 1)
    with ember.no_grad():
        pred = ember.argmax(model(X_test[r:r + 1]), 1).item()
    print("Label: ", y_test[r].item())
    print("Prediction: ", pred)

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "mlp.ember")
    ember.save(model.state_dict(), weights)
    print(f"weights saved to {weights} (load with model.load_state_dict(ember.load(path)))")
    curves = _save_curves(history, os.path.join(args.out, "learning_curves.png"),
                          _curves_title(args.dataset, source))
    if curves:
        print(f"learning curves saved to {curves}")
    return 0


def _accuracy(model, X, y) -> float:
    model.eval()
    with ember.no_grad():
        correct = (ember.argmax(model(X), 1) == y).float().mean().item()
    model.train()
    return correct


def _curves_figure(history, title):
    """The learning curves (train loss, test accuracy per epoch) under ``title``; None without
    matplotlib. A figure outside pyplot: no backend to choose, nothing left open."""
    try:
        from matplotlib.figure import Figure  # optional dependency
    except ImportError:
        return None
    fig = Figure(figsize=(5, 3.4))
    ax1 = fig.subplots()
    ax1.plot(history["epoch"], history["train_loss"], "C0-o", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("train loss")
    ax1.set_title(title, fontsize="medium")
    ax2 = ax1.twinx()
    ax2.plot(history["epoch"], history["test_acc"], "C1-s", label="test accuracy")
    ax2.set_ylabel("test accuracy")
    lines = ax1.get_lines() + ax2.get_lines()
    ax1.legend(lines, [l.get_label() for l in lines], loc="center right")
    fig.tight_layout()
    return fig


def _curves_title(dataset, source):
    """Says which data set the curves show, and when it is the offline stand-in."""
    name = _DATASETS[dataset]
    if source.startswith("scikit-learn"):
        return f"scikit-learn 8x8 digits, not {name} (offline fallback)"
    return f"{name}: 784-256-256-10 MLP"


def _save_curves(history, path, title=""):
    fig = _curves_figure(history, title)
    if fig is None:
        print("(matplotlib is not installed: no learning-curve plot; pip install 'ember[plot]')")
        return None
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return path


def run(argv) -> int:
    """Run an unmodified PyTorch script on ember: python -m ember run [--doctor] script.py ..."""
    doctor = bool(argv) and argv[0] == "--doctor"  # ember.doctor watches every model/optimizer
    if doctor:
        argv = argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m ember run [--doctor] script.py [args...]\n\n" + run.__doc__)
        return 0 if argv else 2
    from . import compat  # only for `run`: see _load_images

    script = argv[0]
    if not os.path.isdir(script):
        try:  # as `python missing.py` says it: one line, exit status 2
            open(script, "rb").close()
        except OSError as e:
            print(f"python -m ember run: can't open file {os.path.abspath(script)!r}: "
                  f"[Errno {e.errno}] {e.strerror}", file=sys.stderr)
            return 2
    atexit.register(_exit_like_python)  # first registered: runs after the script's handlers
    compat.install()
    if doctor:
        from . import doctor as _doctor  # loads ember.nn and ember.optim: see _load_images

        _doctor.watch()  # prints its summary at exit
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - reported as python reports it, then exit
        # The traceback python would print for `python script.py`: the script's frames only,
        # not this launcher's and runpy's (through sys.excepthook, which a script may replace).
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename in _LAUNCHER_FILES:
            tb = tb.tb_next
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        if isinstance(e, KeyboardInterrupt):
            _exit_like_python.sigint = True
        return 1
    return 0


_LAUNCHER_FILES = {os.path.abspath(__file__), __file__, runpy.__file__, "<frozen runpy>"}


def _exit_like_python():
    """After a KeyboardInterrupt, end by SIGINT as python does (status 130 in a shell)."""
    if getattr(_exit_like_python, "sigint", False):
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-V", "--version"):
        print(f"ember {__version__}")
        return 0
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m ember [--version] {demo,run} ...\n\n"
              "  demo   train seed S1's MNIST network (python -m ember demo --help)\n"
              "  run    run an unmodified PyTorch script on ember: python -m ember run script.py")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "demo":
        return demo(rest)
    if cmd == "run":
        return run(rest)
    print(f"unknown command {cmd!r}: use demo or run", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
