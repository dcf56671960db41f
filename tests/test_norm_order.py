"""float32 2-norms over the last dim (and full 2-norms, as clip_grad_norm_ takes) add in
PyTorch's order, so they agree with PyTorch bit for bit (mnist_forward_forward normalises rows)."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.helpers import check_grad, needs_torch, torch

CASES = [((300, 784), {"dim": 1, "keepdim": True}), ((5, 3, 13), {"dim": -1}), ((1000,), {}),
         ((64, 100), {}), ((7,), {"dim": 0, "keepdim": True}), ((4, 5), {"dim": (0, 1)}),
         ((2, 0), {"dim": 1}), ((3, 4), {"dim": 0}), ((), {}), ((6, 3), {"dim": 1})]


@needs_torch
@pytest.mark.parametrize("shape, kw", CASES)
def test_norm2_float32_bit_equal(shape, kw):
    x = np.random.default_rng(len(shape) + sum(shape)).standard_normal(shape).astype(np.float32)
    t, e = torch.tensor(x).norm(**kw), ember.tensor(x).norm(**kw)
    assert tuple(e.shape) == tuple(t.shape)
    assert e.numpy().tolist() == t.numpy().tolist()
    assert ember.linalg.vector_norm(ember.tensor(x)).item() == \
        torch.linalg.vector_norm(torch.tensor(x)).item()


@needs_torch
def test_clip_grad_norm_total_is_bit_equal():
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(50, 30), (30,), (7, 3, 5)]]
    totals = []
    for m in (ember, torch):
        ps = [m.nn.Parameter(m.zeros(g.shape)) for g in grads]
        for p, g in zip(ps, grads):
            p.grad = m.tensor(g)
        totals.append(m.nn.utils.clip_grad_norm_(ps, 0.25).item())
    assert totals[0] == totals[1]


def test_norm2_grad():
    check_grad(lambda x: x.norm(dim=-1), (2, 3, 5))
    x = ember.randn(3, 11, requires_grad=True)  # float32 goes through the ordered forward
    n = x.norm(dim=1, keepdim=True)
    n.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (x / n).detach().numpy(), rtol=1e-6, atol=1e-7)
