"""Issue #14: CNN training steps, ember against PyTorch, and the GEMM floor of each model.

    python bench/cnn.py [--runs 3] [--steps 20] [--threads N] [--quick] [--only lenet resnet]
    python bench/cnn.py --profile lenet|resnet      # cProfile of ember's step (no torch)

Milliseconds per training step (forward, CrossEntropyLoss, backward, optimizer step), the
median over ``--steps`` steps per process, processes alternating A B A B:

* LeNet-5 on Fashion-MNIST, batch 256, SGD(lr 0.1, momentum 0.9): Conv(1->6, 5, pad 2) -
  ReLU - MaxPool(2) - Conv(6->16, 5) - ReLU - MaxPool(2) - Linear 400-120-84-10;
* a small ResNet, batch 64, same optimizer: Conv(1->32, 3, pad 1) + BatchNorm2d + ReLU, two
  residual blocks of two 3x3 convs with BatchNorm2d each, MaxPool(2), AdaptiveAvgPool(1),
  Linear(32, 10).

Both frameworks start from the same weights (NumPy draws copied in) and see the same
float32 batches (the Fashion-MNIST test images, the only split in the shared data).
The *floor* table is the time of just the matrix products the step needs, in the shapes
ember's kernels issue them (ember/_ops/_conv.py: per sample block, the forward GEMM and the
weight-gradient GEMM on the padded width, the bias as one more row of ones; the input
gradient of a 'same'-padded convolution as one more forward-like GEMM, of another one as
the channel-major col2im GEMM; the same for Linear; no input gradient for the first layer)
through NumPy's BLAS at the same thread count: what ember would take if everything but its
GEMMs were free. Under --cpu-time it is CPU time too.
"""
from __future__ import annotations

import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

TARGET = 1.0
MODELS = ("lenet", "resnet")
BATCH = {"lenet": 256, "resnet": 64}


def build(fw, name):
    nn = fw.nn
    if name == "lenet":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, 10))

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.relu = nn.ReLU()

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + x)

    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32),
                         nn.ReLU(), Block(32), Block(32), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def init_weights(fw, model, seed=14):
    """Copy NumPy draws into every parameter (norm layers keep their ones and zeros)."""
    rng = np.random.default_rng(seed)
    with fw.no_grad():
        for name, p in model.named_parameters():
            if "bn" in name or name.startswith("1."):  # BatchNorm weight/bias
                if p.ndim == 1:
                    continue
            shape = tuple(p.shape)
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 64
            bound = 1 / np.sqrt(fan_in)
            p.copy_(fw.from_numpy(rng.uniform(-bound, bound, shape).astype(np.float32)))


def batches(name, steps):
    x, y = common.to_tensor_arrays("FashionMNIST", train=False)
    b = BATCH[name]
    n = len(x) // b
    return [(np.ascontiguousarray(x[i % n * b:(i % n + 1) * b]), y[i % n * b:(i % n + 1) * b])
            for i in range(steps)]


def make_step(fw, name):
    model = build(fw, name)
    init_weights(fw, model)
    model.train()
    opt = fw.optim.SGD(model.parameters(), lr=0.1 if name == "lenet" else 0.05, momentum=0.9)
    crit = fw.nn.CrossEntropyLoss()

    def step(X, Y):
        opt.zero_grad()
        loss = crit(model(X), Y)
        loss.backward()
        opt.step()
        return loss

    return step


def worker(args):
    if args.floor:
        return floor_worker(args)
    fw = common.import_framework(args.framework)
    fw.set_num_threads(args.threads)
    fw.manual_seed(0)
    for name in args.only:
        step = make_step(fw, name)
        data = [(fw.from_numpy(x), fw.from_numpy(y)) for x, y in batches(name, args.steps + 3)]
        for X, Y in data[:3]:  # warm-up: lazy imports, first-call costs
            step(X, Y)
        ms, cpu, loss = [], [], None
        for X, Y in data[3:]:
            with common.Clock() as c:
                loss = step(X, Y)
            ms.append(c.wall * 1e3)
            cpu.append(c.cpu * 1e3)
        common.emit(model=name, ms=statistics.median(ms), cpu_ms=statistics.median(cpu),
                    steps=len(ms), batch=BATCH[name], last_loss=float(loss.item()))


# ----------------------------------------------------------------------------- GEMM floor

def gemms(name):
    """(batch, m, k, n) of every matrix product of one training step, forward and backward,
    as ember's conv kernels (ember/_ops/_conv.py) and Linear issue them."""
    b = BATCH[name]
    out = []

    def conv(cin, cout, k, hw, pad, bias, first=False):
        hp = hw + 2 * pad
        ho = hp - k + 1
        ck, lp = cin * k * k, ho * hp  # GEMMs run on the padded width
        nb = max(1, min(b, (1 << 20) // (ck * lp * 4)))  # _conv._BLOCK_BYTES
        for n0 in range(0, b, nb):
            m = min(nb, b - n0)
            out.append((m, cout, ck + bias, lp))          # forward (+ bias row)
            out.append((m, ck + bias, lp, cout))          # grad W^T (+ grad bias)
            if not first and 2 * pad == k - 1:            # grad x: a 'same' conv of the grad
                out.append((m, cin, cout * k * k, lp))
        if not first and 2 * pad != k - 1:               # grad x: channel-major col2im
            nc = max(1, min(b, (1 << 22) // (ck * hp * hp * 4)))  # _conv._COL2IM_BYTES
            for n0 in range(0, b, nc):
                out.append((1, ck, cout, min(nc, b - n0) * hp * hp))

    def linear(fin, fout, first=False):
        out.append((1, b, fin, fout))
        out.append((1, fout, b, fin))
        if not first:
            out.append((1, b, fout, fin))

    if name == "lenet":
        conv(1, 6, 5, 28, 2, True, first=True)
        conv(6, 16, 5, 14, 0, True)
        linear(400, 120)
        linear(120, 84)
        linear(84, 10)
    else:
        conv(1, 32, 3, 28, 1, False, first=True)
        for _ in range(4):
            conv(32, 32, 3, 28, 1, False)
        linear(32, 10)
    return out


def floor_worker(args):
    """ms per step of just the GEMMs (NumPy BLAS, float32); framework-independent. Operands
    are shared between products of the same shape (ember's blocks sit in cache too)."""
    rng = np.random.default_rng(0)
    for name in args.only:
        shapes = gemms(name)
        arrays = {}
        for bt, m, k, n in set(shapes):
            arrays[bt, m, k, n] = (rng.standard_normal((bt, m, k), dtype=np.float32),
                                   rng.standard_normal((bt, k, n), dtype=np.float32),
                                   np.empty((bt, m, n), np.float32))
        mats = [arrays[s] for s in shapes]

        def run():
            for a, b, o in mats:
                np.matmul(a, b, out=o)

        ms, cpu = common.time_floor(run, args.steps)
        common.emit(model=name, floor_ms=ms, cpu_floor_ms=cpu,
                    gflop=sum(2 * bt * m * k * n for bt, m, k, n in shapes) / 1e9)


LABEL = {"lenet": "LeNet-5 step, Fashion-MNIST, batch 256, SGD momentum",
         "resnet": "small ResNet step, batch 64, BatchNorm2d, SGD momentum"}


def parser():
    """The command line (run_all.py builds its arguments with it too)."""
    return common.step_parser(__doc__.splitlines()[0], MODELS)


def collect(args):
    """Driver: alternate the frameworks; return (rows, raw results)."""
    return common.collect_with_floor(__file__, args, LABEL, TARGET)


def profile(args):
    name = args.profile or args.ops
    fw = common.import_framework("ember")
    fw.set_num_threads(args.threads)
    data = [(fw.from_numpy(x), fw.from_numpy(y)) for x, y in batches(name, args.steps + 3)]
    common.profile_steps(make_step(fw, name), data, ops=args.ops is not None)


def main(argv=None):
    return common.step_main(parser().parse_args(argv), "CNN training steps", LABEL, worker,
                            profile, collect)


if __name__ == "__main__":
    main()
