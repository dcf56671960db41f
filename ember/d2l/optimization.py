"""d2l.torch names of chapter 12: optimization algorithms."""
from __future__ import annotations

import numpy as np

import ember as torch
from ember import nn

from . import (
    Animator,
    Timer,
    _as_numpy,
    _data_file,
    _pyplot,
    _show,
    arange,
    evaluate_loss,
    linreg,
    load_array,
    meshgrid,
    set_figsize,
    squared_loss,
)

__all__ = ["annotate", "train_2d", "show_trace_2d", "get_data_ch11", "train_ch11",
           "train_concise_ch11", "Benchmark"]

_AIRFOIL_SHA1 = "76e5be1548fd8222e5074cf0faae75edff8cf93f"


def annotate(text, xy, xytext):
    """Annotate the current axes with ``text`` and an arrow from ``xytext`` to ``xy``."""
    _pyplot().gca().annotate(text, xy=xy, xytext=xytext, arrowprops=dict(arrowstyle="->"))


def train_2d(trainer, steps=20, f_grad=None):
    """Optimize a 2D objective function with a customized trainer."""
    # s1 and s2 are state variables of momentum, adagrad and RMSProp.
    x1, x2, s1, s2 = -5, -2, 0, 0
    results = [(x1, x2)]
    for i in range(steps):
        if f_grad:
            x1, x2, s1, s2 = trainer(x1, x2, s1, s2, f_grad)
        else:
            x1, x2, s1, s2 = trainer(x1, x2, s1, s2)
        results.append((x1, x2))
    print(f"epoch {i + 1}, x1: {float(x1):f}, x2: {float(x2):f}")
    return results


def show_trace_2d(f, results):
    """Show the trace of 2D variables during optimization."""
    plt = _pyplot()
    set_figsize()
    plt.plot(*zip(*[(float(a), float(b)) for a, b in results]), "-o", color="#ff7f0e")
    x1, x2 = meshgrid(arange(-5.5, 1.0, 0.1), arange(-3.0, 1.0, 0.1), indexing="ij")
    plt.contour(_as_numpy(x1), _as_numpy(x2), _as_numpy(f(x1, x2)), colors="#1f77b4")
    plt.xlabel("x1")
    plt.ylabel("x2")
    _show(plt.gcf(), "trace")


def get_data_ch11(batch_size=10, n=1500):
    """The airfoil self-noise data, standardized: a data iterator and the feature count."""
    data = np.genfromtxt(_data_file("airfoil_self_noise.dat", _AIRFOIL_SHA1, root="../data"),
                         dtype=np.float32, delimiter="\t")
    data = torch.from_numpy((data - data.mean(axis=0)) / data.std(axis=0))
    data_iter = load_array((data[:n, :-1], data[:n, -1]), batch_size, is_train=True)
    return data_iter, data.shape[1] - 1


def _report(animator, timer, num_epochs, net, data_iter, loss, scale=1.0):
    if animator.Y is None:  # no point recorded (fewer than 200 examples seen): record one now
        animator.add(num_epochs, (evaluate_loss(net, data_iter, loss) * scale,))
    print(f"loss: {animator.Y[0][-1]:.3f}, {timer.sum() / num_epochs:.3f} sec/epoch")


def train_ch11(trainer_fn, states, hyperparams, data_iter, feature_dim, num_epochs=2):
    """Train linear regression with ``trainer_fn(params, states, hyperparams)``."""
    w = torch.normal(mean=0.0, std=0.01, size=(feature_dim, 1), requires_grad=True)
    b = torch.zeros((1), requires_grad=True)

    def net(X):
        return linreg(X, w, b)

    loss = squared_loss
    animator = Animator(xlabel="epoch", ylabel="loss", xlim=[0, num_epochs], ylim=[0.22, 0.35])
    n, timer = 0, Timer()
    for _ in range(num_epochs):
        for X, y in data_iter:
            l = loss(net(X), y).mean()  # noqa: E741
            l.backward()
            trainer_fn([w, b], states, hyperparams)
            n += X.shape[0]
            if n % 200 == 0:
                timer.stop()
                animator.add(n / X.shape[0] / len(data_iter),
                             (evaluate_loss(net, data_iter, loss),))
                timer.start()
    _report(animator, timer, num_epochs, net, data_iter, loss)
    return timer.cumsum(), animator.Y[0]


def train_concise_ch11(trainer_fn, hyperparams, data_iter, num_epochs=4):
    """Train linear regression with the optimizer class ``trainer_fn``."""
    net = nn.Sequential(nn.Linear(5, 1))

    def init_weights(module):
        if type(module) is nn.Linear:
            nn.init.normal_(module.weight, std=0.01)

    net.apply(init_weights)
    optimizer = trainer_fn(net.parameters(), **hyperparams)
    loss = nn.MSELoss(reduction="none")
    animator = Animator(xlabel="epoch", ylabel="loss", xlim=[0, num_epochs], ylim=[0.22, 0.35])
    n, timer = 0, Timer()
    for _ in range(num_epochs):
        for X, y in data_iter:
            optimizer.zero_grad()
            out = net(X)
            y = y.reshape(out.shape)
            l = loss(out, y)  # noqa: E741
            l.mean().backward()
            optimizer.step()
            n += X.shape[0]
            if n % 200 == 0:
                timer.stop()
                # MSELoss has no 1/2 factor, squared_loss has
                animator.add(n / X.shape[0] / len(data_iter),
                             (evaluate_loss(net, data_iter, loss) / 2,))
                timer.start()
    _report(animator, timer, num_epochs, net, data_iter, loss, scale=0.5)


class Benchmark:
    """For measuring running time."""

    def __init__(self, description="Done"):
        self.description = description

    def __enter__(self):
        self.timer = Timer()
        return self

    def __exit__(self, *args):
        print(f"{self.description}: {self.timer.stop():.4f} sec")
