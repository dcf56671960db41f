"""nn.utils: gradient clipping and parameter/vector conversion, against torch."""
import numpy as np
import pytest
from helpers import needs_torch, torch

import ember
from ember import nn


def _pair(seed=0, dtype=np.float32):
    r = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    grads = [r.standard_normal(s).astype(dtype) * 3 for s in shapes]
    ep = [nn.Parameter(ember.zeros(*s, dtype=ember.float32 if dtype == np.float32 else ember.float64))
          for s in shapes]
    tp = [torch.nn.Parameter(torch.zeros(*s, dtype=torch.float32 if dtype == np.float32 else torch.float64))
          for s in shapes]
    for e, t, g in zip(ep, tp, grads):
        e.grad = ember.tensor(g.copy())
        t.grad = torch.tensor(g.copy())
    return ep, tp


@needs_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ep, tp = _pair()
    ne = nn.utils.clip_grad_norm_(ep, max_norm, norm_type=norm_type)
    nt = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type)
    assert isinstance(ne, ember.Tensor) and ne.shape == () and ne.dtype == ember.float32
    np.testing.assert_allclose(ne.item(), nt.item(), rtol=1e-6)
    for e, t in zip(ep, tp):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-7)


@needs_torch
def test_clip_grad_norm_single_tensor_generator_and_foreach():
    ep, tp = _pair(1, np.float64)
    ne = nn.utils.clip_grad_norm_(ep[0], 1.0, foreach=False)
    nt = torch.nn.utils.clip_grad_norm_(tp[0], 1.0, foreach=False)
    np.testing.assert_allclose(ne.item(), nt.item(), rtol=1e-12)
    assert ne.dtype == ember.float64
    ne = nn.utils.clip_grad_norm_((p for p in ep), 1.0, foreach=True)
    nt = torch.nn.utils.clip_grad_norm_((p for p in tp), 1.0)
    np.testing.assert_allclose(ne.item(), nt.item(), rtol=1e-12)
    with pytest.warns(UserWarning, match="`parameters` is an empty generator"):
        assert nn.utils.clip_grad_norm_((p for p in []), 1.0).item() == 0.0
    m = nn.Linear(3, 2)
    assert nn.utils.clip_grad_norm_(m.parameters(), 1.0).item() == 0.0  # no grads yet


def test_clip_grad_norm_nonfinite():
    p = nn.Parameter(ember.zeros(3))
    p.grad = ember.tensor([1.0, float("inf"), 0.0])
    with pytest.raises(RuntimeError, match="The total norm of order 2.0 for gradients from `parameters` is non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert np.isinf(nn.utils.clip_grad_norm_([p], 1.0).item())


@needs_torch
def test_clip_grad_value_matches_torch():
    ep, tp = _pair(2)
    assert nn.utils.clip_grad_value_(ep, 1.5) is None
    torch.nn.utils.clip_grad_value_(tp, 1.5)
    for e, t in zip(ep, tp):
        np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())
    g = ep[0].grad
    nn.utils.clip_grad_value_(ep[0], 0.1)
    assert ep[0].grad is g and np.abs(g.numpy()).max() <= 0.1  # in place


@needs_torch
def test_parameters_to_vector_and_back():
    m = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    ve = nn.utils.parameters_to_vector(m.parameters())
    vt = torch.nn.utils.parameters_to_vector(tm.parameters())
    np.testing.assert_array_equal(ve.detach().numpy(), vt.detach().numpy())
    assert ve.shape == (26,) and ve.requires_grad
    ve.sum().backward()  # differentiable: every parameter gets a gradient of ones
    assert all(np.all(p.grad.numpy() == 1) for p in m.parameters())
    w = m[0].weight
    nn.utils.vector_to_parameters(ember.arange(26, dtype=ember.float32), m.parameters())
    assert m[0].weight is w
    np.testing.assert_array_equal(m[0].weight.detach().numpy().ravel(), np.arange(12))
    np.testing.assert_array_equal(m[1].bias.detach().numpy(), [24, 25])
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        nn.utils.vector_to_parameters([1, 2], m.parameters())
