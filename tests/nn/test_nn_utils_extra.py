"""nn.utils fusion (conv/linear + batch norm), stateless.functional_call and skip_init."""
import numpy as np
import pytest
from helpers import assert_close, needs_torch, torch

import ember
import ember.nn as nn
from ember.nn.utils import stateless

rng = np.random.default_rng(4)


def _trained_bn(bn_cls, n, shape):
    bn = bn_cls(n)
    bn(ember.tensor(rng.standard_normal(shape).astype(np.float32) * 2 + 1))
    with ember.no_grad():
        bn.weight.copy_(ember.tensor(rng.standard_normal(n).astype(np.float32)))
        bn.bias.copy_(ember.tensor(rng.standard_normal(n).astype(np.float32)))
    return bn.eval()


@pytest.mark.parametrize("transpose", [False, True])
def test_fuse_conv_bn_eval_equals_conv_then_bn(transpose):
    conv = (nn.ConvTranspose2d(3, 4, 3) if transpose else nn.Conv2d(3, 4, 3)).eval()
    bn = _trained_bn(nn.BatchNorm2d, 4, (8, 4, 5, 5))
    fused = nn.utils.fuse_conv_bn_eval(conv, bn, transpose=transpose)
    x = ember.randn(2, 3, 6, 6)
    np.testing.assert_allclose(fused(x).detach().numpy(), bn(conv(x)).detach().numpy(),
                               atol=1e-5)
    assert isinstance(fused.weight, nn.Parameter) and fused is not conv
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        nn.utils.fuse_conv_bn_eval(conv.train(), bn)


def test_fuse_linear_bn_eval_equals_linear_then_bn():
    lin = nn.Linear(3, 4).eval()
    bn = _trained_bn(nn.BatchNorm1d, 4, (16, 4))
    fused = nn.utils.fuse_linear_bn_eval(lin, bn)
    x = ember.randn(5, 3)
    np.testing.assert_allclose(fused(x).detach().numpy(), bn(lin(x)).detach().numpy(), atol=1e-5)


@needs_torch
def test_fuse_conv_bn_weights_matches_torch():
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    rm, rv = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    g, beta = rng.standard_normal(4), rng.standard_normal(4)
    ee = nn.utils.fuse_conv_bn_weights(*[ember.tensor(a) for a in (w, b, rm, rv)], 1e-5,
                                       ember.tensor(g), ember.tensor(beta))
    tt = torch.nn.utils.fuse_conv_bn_weights(*[torch.tensor(a) for a in (w, b, rm, rv)], 1e-5,
                                             torch.tensor(g), torch.tensor(beta))
    for a, c in zip(ee, tt):
        assert_close(a, c, atol=1e-12)


def test_functional_call_swaps_and_restores():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    w = ember.zeros(2, 3, requires_grad=True)
    x = ember.randn(4, 3)
    out = stateless.functional_call(m, {"0.weight": w}, (x,))
    bias = m[0].bias.detach().numpy()
    expected = (bias - bias) / np.sqrt(0 + 1e-5)  # constant rows: batch-norm gives 0
    np.testing.assert_allclose(out.detach().numpy(), np.broadcast_to(expected, (4, 2)),
                               atol=1e-5)
    out.sum().backward()
    assert w.grad is not None
    assert isinstance(m[0].weight, nn.Parameter) and m[0].weight is not w
    with pytest.raises(RuntimeError, match="Missing key"):
        stateless.functional_call(m, {"0.weight": w}, x, strict=True)


def test_skip_init():
    m = nn.utils.skip_init(nn.Linear, 3, 4)
    assert m.weight.shape == (4, 3)

    class NoDevice(nn.Module):
        def __init__(self, n):
            super().__init__()

    with pytest.raises(RuntimeError, match="Module must support a 'device' arg to skip "
                                           "initialization"):
        nn.utils.skip_init(NoDevice, 3)


def test_functional_call_ties_weights():
    m = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False))
    m[1].weight = m[0].weight
    w = ember.eye(3)
    x = ember.randn(2, 3)
    out = stateless.functional_call(m, {"0.weight": w}, x)
    np.testing.assert_allclose(out.numpy(), x.numpy(), atol=1e-6)  # both layers see the identity
    untied = stateless.functional_call(m, {"0.weight": w}, x, tie_weights=False)
    np.testing.assert_allclose(untied.detach().numpy(), m[1](x).detach().numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="which are tied"):
        stateless.functional_call(m, {"0.weight": w, "1.weight": ember.zeros(3, 3)}, x)
