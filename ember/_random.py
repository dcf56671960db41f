"""Random number generation: Generator, the default generator, and the random factories.

Placeholder implementation on NumPy's MT19937; see the module's final version for the
bit-exact PyTorch stream.
"""
from __future__ import annotations

import numpy as np

from . import _dtype
from ._ops._util import shape_arg
from ._tensor import Tensor, _make


class Generator:
    """A pseudo-random generator (Mersenne Twister), seeded with manual_seed."""

    def __init__(self, device="cpu"):
        self._seed = 67280421310721
        self._rs = np.random.RandomState(self._seed & 0xFFFFFFFF)

    def manual_seed(self, seed):
        seed = int(seed)
        self._seed = seed
        self._rs = np.random.RandomState(seed & 0xFFFFFFFF)
        return self

    def seed(self):
        import random

        s = random.SystemRandom().getrandbits(63)
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        st = self._rs.get_state()
        return _make(np.concatenate([st[1].view(np.uint8), np.array([st[2]], np.int64).view(np.uint8)]), False, None, 0)

    def set_state(self, state):
        raw = state._data
        key = raw[:2496].view(np.uint32)
        pos = int(raw[2496:2504].view(np.int64)[0])
        self._rs.set_state(("MT19937", key, pos))
        return self


default_generator = Generator()


def _gen(generator):
    return default_generator if generator is None else generator


def manual_seed(seed):
    return default_generator.manual_seed(seed)


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


def _finish(data, dtype, requires_grad):
    dt = _dtype.get_default_dtype() if dtype is None else _dtype.to_dtype(dtype)
    t = _make(np.asarray(data).astype(dt.np, copy=False), False, None, 0)
    if requires_grad:
        t.requires_grad_(True)
    return t


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    shape = shape_arg(size)
    return _finish(_gen(generator)._rs.random_sample(shape), dtype, requires_grad)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    shape = shape_arg(size)
    return _finish(_gen(generator)._rs.standard_normal(shape), dtype, requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None,
            device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    data = _gen(generator)._rs.randint(low, high, size=tuple(size))
    return _finish(data, dtype or _dtype.int64, requires_grad)


def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    return _finish(_gen(generator)._rs.permutation(n), dtype or _dtype.int64, requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None,
           device=None, requires_grad=False):
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    shape = tuple(size) if size is not None else np.broadcast_shapes(np.shape(m), np.shape(s))
    data = _gen(generator)._rs.standard_normal(shape) * s + m
    dt = dtype
    if dt is None and isinstance(mean, Tensor):
        dt = mean.dtype
    return _finish(data, dt, requires_grad)


def bernoulli(input, p=None, *, generator=None, out=None):
    prob = input._data if p is None else np.full(input._data.shape, p)
    data = _gen(generator)._rs.random_sample(prob.shape) < prob
    return _make(data.astype(input._data.dtype), False, None, 0)


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    p = input._data.astype(np.float64)
    rs = _gen(generator)._rs
    rows = p.reshape(-1, p.shape[-1])
    res = np.stack([rs.choice(rows.shape[1], num_samples, replace=replacement, p=r / r.sum()) for r in rows])
    return _make(res.reshape(p.shape[:-1] + (num_samples,)).astype(np.int64), False, None, 0)


def rand_like(input, *, dtype=None, **kw):
    return rand(*input.shape, dtype=dtype or input.dtype, **kw)


def randn_like(input, *, dtype=None, **kw):
    return randn(*input.shape, dtype=dtype or input.dtype, **kw)


def randint_like(input, low=0, high=None, *, dtype=None, **kw):
    return randint(low, high, input.shape, dtype=dtype or input.dtype, **kw)


__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed",
           "get_rng_state", "set_rng_state", "rand", "randn", "randint", "randperm", "normal",
           "bernoulli", "multinomial", "rand_like", "randn_like", "randint_like"]
