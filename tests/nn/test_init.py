"""nn.init against torch.nn.init: bit-exact after the same manual_seed, statistics, errors."""
import math
import warnings

import numpy as np
import pytest
from helpers import needs_torch, torch

import ember
from ember import nn

INITS = [
    ("uniform_", {"a": -0.5, "b": 2.0}),
    ("normal_", {"mean": 1.0, "std": 0.3}),
    ("constant_", {"val": 0.7}),
    ("ones_", {}),
    ("zeros_", {}),
    ("eye_", {}),
    ("xavier_uniform_", {"gain": 2.0}),
    ("xavier_normal_", {}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {"nonlinearity": "relu"}),
    ("kaiming_normal_", {"a": 0.2, "mode": "fan_out"}),
    ("trunc_normal_", {}),
    ("trunc_normal_", {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 1.0}),  # a narrow window
    ("orthogonal_", {"gain": 1.5}),
    ("sparse_", {"sparsity": 0.4}),
]


@needs_torch
@pytest.mark.parametrize("name,kwargs", INITS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(INITS)])
@pytest.mark.parametrize("shape", [(30, 20), (8, 50)])
def test_init_bit_exact_with_torch(name, kwargs, shape):
    ember.manual_seed(123)
    torch.manual_seed(123)
    e, t = ember.empty(*shape), torch.empty(*shape)
    re = getattr(nn.init, name)(e, **kwargs)
    rt = getattr(torch.nn.init, name)(t, **kwargs)
    assert re is e or name == "sparse_"
    if name == "orthogonal_":  # a LAPACK QR: equal to rounding
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-4, atol=1e-5)
    else:
        np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert rt is t or rt is None


@needs_torch
def test_init_on_conv_shaped_weights_and_dirac():
    ember.manual_seed(5)
    torch.manual_seed(5)
    e, t = ember.empty(6, 3, 3, 3), torch.empty(6, 3, 3, 3)
    nn.init.kaiming_normal_(e, mode="fan_out")
    torch.nn.init.kaiming_normal_(t, mode="fan_out")
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert nn.init._calculate_fan_in_and_fan_out(e) == torch.nn.init._calculate_fan_in_and_fan_out(t)
    for groups in (1, 2):
        e, t = ember.empty(4, 2, 3, 3), torch.empty(4, 2, 3, 3)
        nn.init.dirac_(e, groups)
        torch.nn.init.dirac_(t, groups)
        np.testing.assert_array_equal(e.numpy(), t.numpy())


def test_init_runs_under_no_grad_on_parameters():
    p = nn.Parameter(ember.empty(4, 5))
    for fn in (nn.init.xavier_uniform_, nn.init.kaiming_uniform_, nn.init.zeros_, nn.init.ones_,
               nn.init.normal_, nn.init.trunc_normal_, nn.init.orthogonal_, nn.init.eye_):
        out = fn(p)
        assert out is p and p.requires_grad and p.is_leaf and p.grad_fn is None


def test_init_statistics():
    ember.manual_seed(0)
    w = nn.init.kaiming_normal_(ember.empty(500, 400), nonlinearity="relu").numpy()
    assert abs(w.std() - math.sqrt(2 / 400)) < 0.002
    w = nn.init.xavier_uniform_(ember.empty(300, 200)).numpy()
    bound = math.sqrt(6 / 500)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    w = nn.init.trunc_normal_(ember.empty(100000), std=1.0, a=-2.0, b=2.0).numpy()
    assert w.min() >= -2 and w.max() <= 2 and abs(w.std() - 0.88) < 0.01
    q = nn.init.orthogonal_(ember.empty(6, 10)).numpy()
    np.testing.assert_allclose(q @ q.T, np.eye(6), atol=1e-5)
    s = nn.init.sparse_(ember.empty(10, 6), 0.3).numpy()
    assert ((s == 0).sum(0) >= 3).all()


@needs_torch
def test_calculate_gain_and_errors_match_torch():
    for args in [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                 ("leaky_relu", 0.2), ("selu",), ("leaky_relu", 1)]:
        assert nn.init.calculate_gain(*args) == torch.nn.init.calculate_gain(*args)
    cases = [
        (lambda i, m: i.calculate_gain("foo"), ValueError),
        (lambda i, m: i.calculate_gain("leaky_relu", "x"), ValueError),
        (lambda i, m: i.xavier_uniform_(m.empty(3)), ValueError),
        (lambda i, m: i.kaiming_uniform_(m.empty(3, 3), mode="fan_avg"), ValueError),
        (lambda i, m: i.eye_(m.empty(3, 3, 3)), ValueError),
        (lambda i, m: i.dirac_(m.empty(3, 3)), ValueError),
        (lambda i, m: i.orthogonal_(m.empty(3)), ValueError),
    ]
    for fn, exc in cases:
        with pytest.raises(exc) as te:
            fn(torch.nn.init, torch)
        with pytest.raises(exc) as ee:
            fn(nn.init, ember)
        assert str(ee.value) == str(te.value)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        nn.init.kaiming_uniform_(ember.empty(0, 3))
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        nn.init.trunc_normal_(ember.empty(3), mean=5.0)
    with pytest.warns(FutureWarning, match="`nn.init.normal` is now deprecated in favor of `nn.init.normal_`"):
        nn.init.normal(ember.empty(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.init.uniform_(ember.empty(2, 2))
