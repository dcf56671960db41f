"""create_graph=True through the fused nn Functions: Hessian-vector products against torch."""
import numpy as np
import pytest
from helpers import needs_torch, torch

import ember
import ember.nn.functional as F

if torch is not None:
    import torch.nn.functional as TF

R = np.random.default_rng(0)
X = R.standard_normal((3, 4)) * 1.5
X[np.abs(X) < 0.1] += 0.3  # away from the kinks at 0
W = R.standard_normal((2, 4))
T01 = R.uniform(0.1, 0.9, (3, 4))
P = R.uniform(0.1, 0.9, (3, 4))

# name, f(lib_F, lib, x, w) -> tensor; both libraries get the same call
CASES = [
    ("linear", lambda f, m, x, w: f.linear(x, w)),
    ("linear_1d", lambda f, m, x, w: f.linear(x[0], w)),
    ("bilinear", lambda f, m, x, w: f.bilinear(x, x, w[:, :, None] * w[:, None, :])),
    ("leaky_relu", lambda f, m, x, w: f.leaky_relu(x, 0.1)),
    ("elu", lambda f, m, x, w: f.elu(x, 0.7)),
    ("selu", lambda f, m, x, w: f.selu(x)),
    ("celu", lambda f, m, x, w: f.celu(x, 1.3)),
    ("gelu", lambda f, m, x, w: f.gelu(x)),
    ("gelu_tanh", lambda f, m, x, w: f.gelu(x, approximate="tanh")),
    ("silu", lambda f, m, x, w: f.silu(x)),
    ("mish", lambda f, m, x, w: f.mish(x)),
    ("softplus", lambda f, m, x, w: f.softplus(x, 2.0)),
    ("logsigmoid", lambda f, m, x, w: f.logsigmoid(x)),
    ("hardswish", lambda f, m, x, w: f.hardswish(x)),
    ("glu", lambda f, m, x, w: f.glu(x, 1)),
    ("prelu", lambda f, m, x, w: f.prelu(x.reshape(3, 4, 1), w[0])),
    ("layer_norm", lambda f, m, x, w: f.layer_norm(x, (4,), w[0], w[1])),
    ("group_norm", lambda f, m, x, w: f.group_norm(x.reshape(3, 4, 1), 2, w[0], w[1])),
    ("batch_norm", lambda f, m, x, w: f.batch_norm(x, None, None, w[0, :4], w[1, :4], training=True)),
    ("mse", lambda f, m, x, w: f.mse_loss(x, m.tensor(T01), reduction="sum")),
    ("smooth_l1", lambda f, m, x, w: f.smooth_l1_loss(x, m.tensor(T01), beta=2.0)),
    ("soft_margin", lambda f, m, x, w: f.soft_margin_loss(x, m.tensor(np.sign(T01 - 0.5)))),
    ("bce", lambda f, m, x, w: f.binary_cross_entropy((x * 0.1).sigmoid(), m.tensor(T01))),
    ("bce_logits", lambda f, m, x, w: f.binary_cross_entropy_with_logits(
        x, m.tensor(T01), pos_weight=m.tensor(P[0]))),
    ("embedding", lambda f, m, x, w: f.embedding(m.tensor([[0, 2], [2, 1]]), x)),
]


@needs_torch
@pytest.mark.parametrize("name,fn", CASES, ids=[c[0] for c in CASES])
def test_hessian_vector_product_matches_torch(name, fn):
    v = np.random.default_rng(1).standard_normal(X.shape)
    res = []
    for f, m in ((F, ember), (TF, torch)):
        x = m.tensor(X.copy(), requires_grad=True)
        w = m.tensor(W.copy(), requires_grad=True)
        y = (fn(f, m, x, w) ** 2).sum()
        gx, gw = (ember.autograd.grad if m is ember else torch.autograd.grad)(
            y, [x, w], create_graph=True, allow_unused=True)
        assert gx.requires_grad
        total = (gx * m.tensor(v)).sum()
        if gw is not None:
            total = total + gw.sum()
        total.backward()
        res.append((gx.detach().numpy(), x.grad.numpy(),
                    None if w.grad is None else w.grad.numpy()))
    (ge, hxe, hwe), (gt, hxt, hwt) = res
    # torch rounds celu's 1/alpha to float32; everything else agrees to float64 rounding
    rtol = 1e-6 if name == "celu" else 1e-8
    np.testing.assert_allclose(ge, gt, rtol=rtol, atol=1e-9)
    np.testing.assert_allclose(hxe, hxt, rtol=rtol, atol=1e-9)
    if hwt is not None:
        np.testing.assert_allclose(hwe, hwt, rtol=rtol, atol=1e-9)


def test_losses_without_double_backward_say_so():
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    y = F.multi_margin_loss(x, ember.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match="MultiMarginLossBackward0 does not support double backward"):
        ember.autograd.grad(y, x, create_graph=True)
