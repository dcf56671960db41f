"""nn.utils.parametrize, parametrizations.weight_norm / spectral_norm and the older hook forms."""
import copy
import warnings

import numpy as np
import pytest
from helpers import check_grad, needs_torch, torch

import ember
import ember.nn as nn
from ember.nn.utils import parametrizations as P
from ember.nn.utils import parametrize

rng = np.random.default_rng(2)


def _pair(make_e, make_t):
    ember.manual_seed(0)
    e = make_e()
    torch.manual_seed(0)
    t = make_t()
    return e, t


def _same_state(e, t, atol=1e-6):
    assert list(e.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        np.testing.assert_allclose(e.state_dict()[k].numpy(), v.numpy(), atol=atol, err_msg=k)


def _run_both(e, t, shape, steps=1):
    x = rng.standard_normal(shape).astype(np.float32)
    for _ in range(steps):
        ye, yt = e(ember.tensor(x)), t(torch.tensor(x))
        ye.sum().backward()
        yt.sum().backward()
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), atol=1e-5)
    for (ne, pe), (nt, pt) in zip(e.named_parameters(), t.named_parameters()):
        assert ne == nt
        np.testing.assert_allclose(pe.grad.numpy(), pt.grad.numpy(), atol=1e-4, err_msg=ne)


@needs_torch
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_parametrization_matches_torch(dim):
    e, t = _pair(lambda: P.weight_norm(nn.Linear(3, 4), dim=dim),
                 lambda: torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(3, 4),
                                                                     dim=dim))
    assert repr(e) == repr(t)
    assert type(e).__name__ == "ParametrizedLinear"
    _same_state(e, t)
    _run_both(e, t, (2, 3))


@needs_torch
@pytest.mark.parametrize("ctor,shape", [("Linear(5, 4)", (2, 5)), ("Conv2d(3, 4, 3)", (2, 3, 6, 6)),
                                        ("ConvTranspose2d(3, 4, 3)", (2, 3, 4, 4))])
def test_spectral_norm_parametrization_matches_torch(ctor, shape):
    e, t = _pair(lambda: P.spectral_norm(eval("nn." + ctor)),
                 lambda: torch.nn.utils.parametrizations.spectral_norm(eval("torch.nn." + ctor)))
    assert repr(e) == repr(t)
    _same_state(e, t, atol=1e-5)  # seeded u, v and 15 power iterations
    _run_both(e, t, shape, steps=3)
    _same_state(e, t, atol=1e-5)  # u, v after three training steps
    e.eval()
    t.eval()
    _run_both(e, t, shape)


@needs_torch
def test_old_weight_norm_and_spectral_norm_match_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e, t = _pair(lambda: nn.utils.weight_norm(nn.Conv1d(2, 3, 3)),
                     lambda: torch.nn.utils.weight_norm(torch.nn.Conv1d(2, 3, 3)))
    _same_state(e, t)
    _run_both(e, t, (2, 2, 5))
    nn.utils.remove_weight_norm(e)
    torch.nn.utils.remove_weight_norm(t)
    _same_state(e, t)
    with pytest.warns(FutureWarning, match="`torch.nn.utils.weight_norm` is deprecated"):
        nn.utils.weight_norm(nn.Linear(2, 2))

    e, t = _pair(lambda: nn.utils.spectral_norm(nn.Linear(5, 4)),
                 lambda: torch.nn.utils.spectral_norm(torch.nn.Linear(5, 4)))
    _same_state(e, t)
    _run_both(e, t, (2, 5), steps=3)
    _same_state(e, t, atol=1e-5)
    assert e.state_dict()._metadata[""]["spectral_norm"] == {"weight.version": 1}
    nn.utils.remove_spectral_norm(e)
    torch.nn.utils.remove_spectral_norm(t)
    _same_state(e, t, atol=1e-5)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found in"):
        nn.utils.remove_spectral_norm(e)


def test_register_and_remove_parametrization():
    class Symmetric(nn.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).transpose(0, 1)

    m = nn.Linear(3, 3)
    parametrize.register_parametrization(m, "weight", Symmetric())
    w = m.weight
    np.testing.assert_allclose(w.detach().numpy(), w.detach().numpy().T)
    assert parametrize.is_parametrized(m) and parametrize.is_parametrized(m, "weight")
    assert not parametrize.is_parametrized(m, "bias")
    assert parametrize.type_before_parametrizations(m) is nn.Linear
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original"]
    with parametrize.cached():
        assert m.weight is m.weight
    assert m.weight is not m.weight
    m(ember.randn(2, 3)).sum().backward()
    assert m.parametrizations.weight.original.grad is not None
    assert type(copy.deepcopy(m)).__name__ == "ParametrizedLinear"
    parametrize.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and list(m.state_dict()) == ["bias", "weight"]  # as torch
    np.testing.assert_allclose(m.weight.detach().numpy(), w.detach().numpy())
    assert isinstance(m.weight, nn.Parameter)
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        parametrize.remove_parametrizations(m, "weight")
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized "
                                         "element with name 'nope'"):
        parametrize.register_parametrization(m, "nope", Symmetric())

    class Double(nn.Module):
        def forward(self, x):
            return ember.cat([x, x])

    with pytest.raises(ValueError, match="may not change the shape of the tensor"):
        parametrize.register_parametrization(nn.Linear(2, 2), "weight", Double())


def test_weight_norm_assign_and_load_old_checkpoint():
    m = P.weight_norm(nn.Linear(3, 4))
    target = ember.randn(4, 3)
    m.weight = target  # right_inverse: g = ||target||, v = target
    np.testing.assert_allclose(m.weight.detach().numpy(), target.numpy(), rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = nn.utils.weight_norm(nn.Linear(3, 4))
    res = m.load_state_dict(old.state_dict())
    assert not res.missing_keys and not res.unexpected_keys
    np.testing.assert_allclose(m.weight.detach().numpy(), old.weight.detach().numpy(), atol=1e-6)
    parametrize.remove_parametrizations(m, "weight")
    assert list(m.state_dict()) == ["bias", "weight"]


def test_weight_norm_gradcheck():
    from ember.nn.utils.parametrizations import _weight_norm

    check_grad(lambda v, g: _weight_norm(v, g, 0), (4, 3), (4, 1))
    check_grad(lambda v, g: _weight_norm(v, g, 1), (2, 3, 2), (1, 3, 1))
    check_grad(lambda v, g: _weight_norm(v, g, -1), (4, 3), ())


def test_spectral_norm_errors():
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of "
                                         r"\[-2, 1\] but got 2\)"):
        P.spectral_norm(nn.Linear(2, 2), dim=2)
    with pytest.raises(ValueError, match="Expected n_power_iterations to be positive"):
        P.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'w'"):
        P.spectral_norm(nn.Linear(2, 2), name="w")
