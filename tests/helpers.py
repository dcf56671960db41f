"""Shared test helpers: float64 finite-difference gradient checks and PyTorch parity."""
from __future__ import annotations

import numpy as np
import pytest

import ember

try:  # the reference; parity tests skip without it (CI installs it)
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def numeric_jvp(fn, arrays, i, w, eps=1e-6):
    """d/dx_i of sum(w * fn(x)) by central differences, one element at a time."""
    x = arrays[i]
    grad = np.zeros_like(x)
    flat = x.reshape(-1)
    g = grad.reshape(-1)
    for k in range(flat.size):
        orig = flat[k]
        flat[k] = orig + eps
        plus = _eval(fn, arrays)
        flat[k] = orig - eps
        minus = _eval(fn, arrays)
        flat[k] = orig
        g[k] = (np.sum(w * plus) - np.sum(w * minus)) / (2 * eps)
    return grad


def _eval(fn, arrays):
    with ember.no_grad():
        out = fn(*[ember.tensor(a) for a in arrays])
    return out.numpy() if isinstance(out, ember.Tensor) else np.asarray(out)


def check_grad(fn, *inputs, atol=1e-5, rtol=1e-4, seed=0):
    """Compare ember's backward of ``fn`` with central differences, in float64.

    ``inputs`` are arrays (or shapes, filled with N(0,1) values); a random weighting of the
    output turns the check into one vector-Jacobian product per input.
    """
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x) if isinstance(x, tuple) else np.array(x, dtype=np.float64)
              for x in inputs]
    ts = [ember.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    w = rng.standard_normal(out.shape)
    out.backward(ember.tensor(w))
    for i, t in enumerate(ts):
        expected = numeric_jvp(fn, arrays, i, w)
        got = np.zeros_like(arrays[i]) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol,
                                   err_msg=f"gradient of input {i}")


def to_torch(x, requires_grad=False):
    t = torch.tensor(np.array(x.detach().numpy() if isinstance(x, ember.Tensor) else x))
    return t.requires_grad_(requires_grad) if requires_grad else t


def assert_close(ember_t, torch_t, atol=1e-6, rtol=1e-5, check_dtype=True):
    """Values, shape and dtype of an ember tensor against a torch tensor."""
    e = ember_t.detach().numpy() if isinstance(ember_t, ember.Tensor) else np.asarray(ember_t)
    t = torch_t.detach().numpy() if hasattr(torch_t, "detach") else np.asarray(torch_t)
    assert e.shape == t.shape, f"shape {e.shape} != torch {t.shape}"
    if check_dtype:
        assert e.dtype == t.dtype, f"dtype {e.dtype} != torch {t.dtype}"
    np.testing.assert_allclose(e, t, atol=atol, rtol=rtol)
