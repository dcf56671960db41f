"""Fused kernels: regrouped forms of optimizer formulas, kept where a benchmark shows a win.

Each kernel is chosen by its optimizer's functional form where it applies, and falls back to
the plain formula there otherwise. A kernel earns its place by a measurement, cited with it.
"""
from __future__ import annotations

from .._backend import xp

__all__ = ["adam_", "adam_applies", "sgd_plain_", "sgd_plain_applies"]

add, subtract, multiply, divide = xp.add, xp.subtract, xp.multiply, xp.divide
square, sqrt, maximum = xp.square, xp.sqrt, xp.maximum

_WIDE = ("f", "d")  # the dtype.char of float32 and float64


# ---- Adam (and AdamW) -------------------------------------------------------------------------
# Measured with `python bench/optim.py --threads 1 --cpu-time` (the seeds' 784-256-256-10 MLP,
# 269k float32 in 6 tensors; ember/PyTorch in one process; medians of 3 runs, this kernel against
# a tree where adam_applies() is False, on the shared 2-core machine, load ~9):
#   Adam step  0.62x PyTorch with this kernel, 0.79x with adam()'s formula (-21%);
#   AdamW step 0.65x with it, 0.77x without (-16%).
# W1's step phase (`python bench/w1_mlp.py --phases --threads 1 --cpu-time`): 780-900 us with
# it, 965-970 us without, of a ~3100 us step.
# A NumPy pass costs ~7 us per 200k floats for each array it reads or writes; the formula takes
# 13 passes and 5 large temporaries, this kernel 12 passes in place and one reused work array
# (``_Scratch``), with every scalar a 0-d array of the param's dtype (a Python float operand
# costs ~0.25 us more per ufunc call).
def adam_applies(dtype, beta1: float) -> bool:
    """Whether ``adam_`` serves a param of ``dtype``: float32/float64, 0.01 <= 1 - beta1 < 0.5.

    Its regrouping of ``m`` scales by ``beta1 / (1 - beta1)`` (at most 99 there) and squares
    ``g``: in float16 those overflow where PyTorch's order does not (|m| > 65504 / 99,
    |g| > 256), so float16 and other betas take the plain formula.
    """
    return dtype.char in _WIDE and 0.01 <= 1 - beta1 < 0.5


_adam_last: tuple = (None, None)  # (key, scalars) of the last step: a group's params share it


def _adam_scalars(lr, beta1, beta2, eps, step, dtype) -> tuple:
    """adam_'s scalars as 0-d arrays of the params' dtype."""
    global _adam_last
    key = (step, dtype.char, lr, beta1, beta2, eps)
    last = _adam_last  # (read once: another thread may replace it)
    if last[0] == key:
        return last[1]
    bc2_sqrt = (1 - beta2**step) ** 0.5  # PyTorch: bias_correction2 ** 0.5
    step_size = lr / (1 - beta1**step)
    w = 1 - beta1
    consts = (beta1 / w, w, 1 - beta2, beta2, eps * bc2_sqrt, -step_size * bc2_sqrt)
    scalars = tuple(xp.array(c, dtype) for c in consts)
    _adam_last = (key, scalars)
    return scalars


def adam_(p, g, m, v, vmax, s, step: float, lr: float, beta1: float, beta2: float,
          eps: float) -> None:
    """adam()'s formula for one param, regrouped, in place on ``p``, ``m``, ``v`` (``vmax``).

    ``s`` is a work array shaped like ``p``. adam()'s formula, and its regrouping here:

        m = m + (1 - beta1) * (g - m)
                                ->  m = (m * (beta1 / (1 - beta1)) + g) * (1 - beta1)
        v = v * beta2 + ((1 - beta2) * g) * g
                                ->  v = v * beta2 + (1 - beta2) * g**2
        p = p - step_size * m / (sqrt(v) / bc2_sqrt + eps)
                                ->  p = p + (-step_size * bc2_sqrt) * m / (sqrt(v) + eps * bc2_sqrt)

    They round differently from PyTorch by an ulp or two per step: tests/optim compares 40
    steps with PyTorch at 2e-5 relative in float32 and 1e-12 in float64.
    """
    a1, w, c2, b2, eps_, neg_step_size = _adam_scalars(lr, beta1, beta2, eps, step, p.dtype)
    multiply(m, a1, m)
    add(m, g, m)
    multiply(m, w, m)
    square(g, s)
    multiply(s, c2, s)
    multiply(v, b2, v)
    add(v, s, v)
    if vmax is not None:  # amsgrad: the largest v so far
        maximum(vmax, v, out=vmax)
        v = vmax
    sqrt(v, s)
    add(s, eps_, s)
    divide(m, s, s)
    multiply(s, neg_step_size, s)
    add(p, s, p)


# ---- SGD without momentum, weight decay or maximize: p -= lr * g --------------------------------
# The step of seed S2's loop (W2: one 2-element param, ~41 us an iteration), where the cost is
# Python's, not NumPy's. Measured with `python bench/optim.py --threads 1 --cpu-time` (medians of
# 3 runs, against a tree where sgd_plain_applies() is False): SGD(lr=0.01).step on one 2-element
# param 3.1 us (0.18x PyTorch) with this path, 6.0 us (0.33x) through SGD.step's lists and
# sgd(). The arithmetic is sgd()'s, bit for bit (tests/optim/test_step_paths.py compares them).
def sgd_plain_applies(group: dict) -> bool:
    """Whether ``sgd_plain_`` serves a param group: a number lr, and no momentum, weight
    decay or maximize."""
    return (group["momentum"] == 0 and group["lr"].__class__ in (float, int)
            and group["weight_decay"] == 0 and not group["maximize"])


def sgd_plain_(params, lr: float) -> None:
    """``p -= lr * g`` for every param with a grad, lr rounded to the param's dtype as a ufunc
    rounds a Python float operand (here a cached 0-d array of that dtype stands for it)."""
    for p in params:
        g = p._grad
        if g is not None:
            a = p._data
            g = g._data
            dt = a.dtype
            if g.dtype is dt:
                subtract(a, multiply(g, _scalar_array(lr, dt)), a)
            else:  # (a grad of another dtype: sgd()'s promotion rules)
                a -= lr * g
            p._vc[0] += 1  # an in-place update is a new version


_scalar_arrays: dict = {}  # dtype -> (value, its 0-d array): the last one asked for


def _scalar_array(value: float, dtype) -> xp.ndarray:
    """A Python float as a read-only 0-d array of ``dtype``, the last value per dtype cached."""
    c = _scalar_arrays.get(dtype)
    if c is not None and c[0] == value and value != 0:  # (0.0 == -0.0: not the same operand)
        return c[1]
    a = xp.array(value, dtype)
    a.flags.writeable = False
    _scalar_arrays[dtype] = (value, a)
    return a
