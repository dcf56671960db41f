"""W3: seed S3's softmax regression from scratch on Fashion-MNIST, seconds per epoch.

    python bench/w3_softmax.py [--runs 3] [--threads N] [--quick]

The seed's (d2l's) scratch model: ``softmax(X.reshape((-1, 784)) @ W + b)`` with the scratch
``softmax`` (exp, sum(1, keepdims=True), divide), ``cross_entropy`` via
``-log(y_hat[list(range(len(y_hat))), y]).mean()``, and d2l's scratch ``SGD`` (``param -=
lr * param.grad`` / ``param.grad.zero_()``) on W (784x10, N(0, 0.01)) and b, lr 0.1, batch 256,
with ``loss.backward()`` and ``step()`` inside ``no_grad`` as d2l's ``fit_epoch`` does.
Two rows: batches by index slicing of the training tensors (``X[i:i + 256]``, the compute
alone) and by ``DataLoader(TensorDataset(X, y), 256, shuffle=True)`` (d2l's
``get_tensorloader``). The plotting in d2l's ``training_step`` is left out.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

TARGET = 1.0


def softmax(torch, X):
    X_exp = torch.exp(X)
    partition = X_exp.sum(1, keepdims=True)
    return X_exp / partition  # The broadcasting mechanism is applied here


def cross_entropy(torch, y_hat, y):
    return -torch.log(y_hat[list(range(len(y_hat))), y]).mean()


class SGD:
    """d2l's minibatch stochastic gradient descent (HyperParameters left out)."""

    def __init__(self, params, lr):
        self.params, self.lr = params, lr

    def step(self):
        for param in self.params:
            param -= self.lr * param.grad

    def zero_grad(self):
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()


def fit_epoch(torch, W, b, optim, batches):
    loss = None
    for X, y in batches:
        X = X.reshape((-1, W.shape[0]))
        y_hat = softmax(torch, torch.matmul(X, W) + b)
        loss = cross_entropy(torch, y_hat, y)
        optim.zero_grad()
        with torch.no_grad():
            loss.backward()
            optim.step()
    return loss.item()


def slices(X, y, batch):
    for i in range(0, len(X), batch):
        yield X[i:i + batch], y[i:i + batch]


def worker(args):
    import numpy as np

    torch = common.import_framework(args.framework)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = common.to_tensor_arrays("FashionMNIST", train=True)
    if args.limit:
        x, y = np.ascontiguousarray(x[:args.limit]), np.ascontiguousarray(y[:args.limit])
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    rng = np.random.default_rng(0)
    W = torch.from_numpy(rng.normal(0, 0.01, (784, 10)).astype(np.float32)).requires_grad_(True)
    b = torch.zeros(10, requires_grad=True)
    optim = SGD([W, b], 0.1)
    data = torch.utils.data
    loader = data.DataLoader(data.TensorDataset(X, Y), args.batch, shuffle=True)
    fit_epoch(torch, W, b, optim, slices(X[:5 * args.batch], Y[:5 * args.batch], args.batch))
    if args.check_dtypes:
        seen = common.trace_float_leaks(torch, lambda: fit_epoch(
            torch, W, b, optim, slices(X[:3 * args.batch], Y[:3 * args.batch], args.batch)))
        for name, t in (("W", W), ("b", b), ("W.grad", W.grad), ("b.grad", b.grad)):
            if t.dtype != torch.float32:
                seen[("<parameter>", 0, name, str(t.dtype))] = tuple(t.shape)
        return common.emit_leaks(seen)
    loaders = ["slice", "dataloader"] if args.loader == "both" else [args.loader]
    for epoch in range(args.epochs):
        for name in loaders:
            batches = loader if name == "dataloader" else slices(X, Y, args.batch)
            with common.Clock() as c:
                loss = fit_epoch(torch, W, b, optim, batches)
            common.emit(loader=name, epoch=epoch, seconds=c.wall, cpu_seconds=c.cpu,
                        samples=len(X), last_loss=loss)


def collect(args):
    runs = common.default_runs(args, normal=3, quick=1)
    epochs = args.epochs or (1 if args.quick else 3)
    limit = args.limit or (12000 if args.quick else 0)
    res = common.alternate(__file__, common.frameworks(args.frameworks), runs,
                           ["--epochs", epochs, "--limit", limit, "--loader", args.loader,
                            "--batch", args.batch], args.threads)
    suffix = f" ({limit} samples)" if limit else ""
    rows = []
    key = common.metric(args, "seconds")
    if args.loader in ("both", "slice"):
        rows.append(common.compare_row(f"W3 softmax regression epoch, index slicing{suffix}",
                                       res, key, " s", target=TARGET, loader="slice"))
    if args.loader in ("both", "dataloader"):
        rows.append(common.compare_row(f"W3 softmax regression epoch, DataLoader{suffix}", res,
                                       key, " s", target=TARGET, loader="dataloader"))
    return rows, res


def parser():
    """The command line (run_all.py builds its arguments with it too)."""
    ap = common.base_parser(__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=0, help="timed epochs per process")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N samples")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--loader", choices=["slice", "dataloader", "both"], default="both")
    ap.add_argument("--check-dtypes", action="store_true",
                    help="(ember) list functions that return non-float32 float arrays, and exit")
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if args.worker:
        args.epochs = args.epochs or 1
        return worker(args)
    if args.check_dtypes:
        for r in common.spawn(__file__, "ember", ["--limit", 2000, "--check-dtypes"],
                              args.threads):
            print(r)
        return None
    rows, res = collect(args)
    common.print_table(rows, f"W3 (threads={args.threads})")
    common.save_json(args.json, {"rows": rows, "results": res})


if __name__ == "__main__":
    main()
