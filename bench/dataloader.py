"""DataLoader throughput: ember vs PyTorch, side by side, with ratios.

    EMBER_DATA=../shared/data python bench/dataloader.py [--batches 200] [--batch-size 64]

1. MNIST images through a "ToTensor" (PIL -> float32 CHW in [0, 1]), batches per second for
   num_workers 0, 1, 2, over the same ember-free dataset class (plain NumPy + PIL) in both
   libraries; plus ember's own datasets.MNIST + transforms.ToTensor().
2. The TensorDataset fast path (one fancy index per tensor) against per-sample collation.
3. The worker transport: out-of-band pickling against memfd shared memory, by batch size.
"""
from __future__ import annotations

import argparse
import gzip
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ember
from ember.utils import data as ed


def load_mnist(root):
    raw = os.path.join(root, "MNIST", "raw")
    with gzip.open(os.path.join(raw, "train-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(raw, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return images, labels


class PlainMNIST:
    """Neither ember nor torch: PIL image per sample, then a NumPy 'ToTensor'."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.images[i])
        x = np.asarray(img, dtype=np.float32)[None] / np.float32(255)
        return x, int(self.labels[i])


def rate(loader, n_batches, repeats=3):
    """Best batches/second over a few runs (the first batch, worker start-up, is excluded)."""
    best = 0.0
    for _ in range(repeats):
        it = iter(loader)
        next(it)
        t = time.perf_counter()
        k = 0
        for _ in range(n_batches):
            try:
                next(it)
            except StopIteration:
                break
            k += 1
        best = max(best, k / (time.perf_counter() - t))
        del it
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    root = os.path.abspath(os.environ.get("EMBER_DATA", os.path.join("..", "shared", "data")))
    try:
        import torch
        from torch.utils.data import DataLoader as TorchLoader
        from torch.utils.data import TensorDataset as TorchTD
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    ember.set_num_threads(1)
    images, labels = load_mnist(root)
    plain = PlainMNIST(images, labels)
    bs = args.batch_size

    print(f"1. MNIST + ToTensor, batch {bs}: batches/s (higher is better)")
    print(f"{'num_workers':>12} {'ember':>10} {'torch':>10} {'ember/torch':>12} {'ember MNIST+ToTensor':>22}")
    from ember.vision import datasets, transforms

    mnist = datasets.MNIST(root, train=True, transform=transforms.ToTensor())
    for nw in (0, 1, 2):
        e = rate(ed.DataLoader(plain, bs, shuffle=True, num_workers=nw), args.batches)
        t = rate(TorchLoader(plain, bs, shuffle=True, num_workers=nw), args.batches) if torch else float("nan")
        m = rate(ed.DataLoader(mnist, bs, shuffle=True, num_workers=nw), args.batches)
        print(f"{nw:>12} {e:>10.0f} {t:>10.0f} {e / t:>12.2f} {m:>22.0f}")

    print(f"\n2. TensorDataset (60000 x 784 float32), batch {bs}, shuffled: batches/s")
    x = images.reshape(-1, 784).astype(np.float32) / 255
    ds = ed.TensorDataset(ember.tensor(x), ember.tensor(labels))
    fast = rate(ed.DataLoader(ds, bs, shuffle=True), 500)
    slow = rate(ed.DataLoader(ds, bs, shuffle=True, collate_fn=lambda b: ed.default_collate(b)), 200)
    tt = rate(TorchLoader(TorchTD(torch.tensor(x), torch.tensor(labels)), bs, shuffle=True), 200) \
        if torch else float("nan")
    print(f"{'fast path':>22} {fast:>8.0f}\n{'per-sample collate':>22} {slow:>8.0f}   "
          f"(fast path {fast / slow:.1f}x)\n{'torch':>22} {tt:>8.0f}   (ember/torch {fast / tt:.1f}x)")

    print("\n3. worker transport (1 worker, constant samples): batches/s")
    from ember.utils.data import _worker

    class Const:
        def __init__(self, shape, n):
            self.a, self.n = np.random.rand(*shape).astype(np.float32), n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return self.a, i

    print(f"{'batch bytes':>12} {'pickle (oob)':>13} {'shm (memfd)':>12} {'torch':>8}")
    saved = _worker.TRANSPORT
    for shape, b in [((1, 32, 32), 64), ((3, 64, 64), 64), ((3, 224, 224), 32)]:
        data = Const(shape, b * 60)
        res = {}
        for tr in ("pickle", "shm"):
            _worker.TRANSPORT = tr
            res[tr] = rate(ed.DataLoader(data, b, num_workers=1), 50)
        _worker.TRANSPORT = saved
        res["torch"] = rate(TorchLoader(data, b, num_workers=1), 50) if torch else float("nan")
        kib = int(np.prod(shape)) * 4 * b // 1024
        print(f"{kib:>9} KiB {res['pickle']:>13.0f} {res['shm']:>12.0f} {res['torch']:>8.0f}")


if __name__ == "__main__":
    main()
