"""Inference: W1's network over the 10 000 MNIST test images under no_grad, milliseconds.

    python bench/inference.py [--runs 3] [--repeats 20] [--threads N] [--quick]

As seed S1's test cell: ``X_test = test_data.view(-1, 28 * 28).float()`` (raw 0-255 pixels),
``prediction = model(X_test)``, ``argmax(prediction, 1) == Y_test``, ``.float().mean()``,
all inside ``no_grad``. The model has W1's shared initial weights (untrained: the timing does
not depend on the values). Each process times `repeats` passes; every pass is one sample.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import w1_mlp

TARGET = 1.0


def worker(args):
    torch = common.import_framework(args.framework)
    torch.set_num_threads(args.threads)
    images, labels = common.load_idx("MNIST", train=False)
    test_data = torch.from_numpy(images.copy())
    test_labels = torch.from_numpy(labels.astype("int64"))
    model = w1_mlp.build_model(torch, 256)

    def once():
        with torch.no_grad():
            X_test = test_data.view(-1, 28 * 28).float()
            prediction = model(X_test)
            correct_prediction = torch.argmax(prediction, 1) == test_labels
            return correct_prediction.float().mean().item()

    once()
    once()
    for i in range(args.repeats):
        with common.Clock() as c:
            acc = once()
        common.emit(rep=i, ms=c.wall * 1e3, cpu_ms=c.cpu * 1e3, accuracy=acc)


def collect(args):
    runs = common.default_runs(args, normal=3, quick=1)
    repeats = args.repeats or (5 if args.quick else 20)
    res = common.alternate(__file__, common.frameworks(args.frameworks), runs,
                           ["--repeats", repeats], args.threads)
    return [common.compare_row("Inference, 10k test images (no_grad)", res,
                               common.metric(args, "ms"), " ms", target=TARGET)], res


def parser():
    """The command line (run_all.py builds its arguments with it too)."""
    ap = common.base_parser(__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=0)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if args.worker:
        args.repeats = args.repeats or 20
        return worker(args)
    rows, res = collect(args)
    common.print_table(rows, f"Inference (threads={args.threads})")
    common.save_json(args.json, {"rows": rows, "results": res})


if __name__ == "__main__":
    main()
