"""Seed S2 (SPEC 1.14): the thermometer fits with optim.SGD reproduce the printed results."""
from __future__ import annotations

import math

import numpy as np
import pytest

import ember as torch  # the seed's code, unchanged but for this line
import ember.optim as optim

T_C = [0.5, 14.0, 15.0, 28.0, 11.0, 8.0, 3.0, -4.0, 6.0, 13.0, 21.0]
T_U = [35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4]


def model(t_u, w, b):
    return w * t_u + b


def new_model(t_u, w1, w2, b):
    return w2 * t_u**2 + w1 * t_u + b


def loss_fn(t_p, t_c):
    squared_diffs = (t_p - t_c) ** 2
    return squared_diffs.mean()


def training_loop(n_epochs, optimizer, params, t_u, t_c, fn=model, log=None):
    for epoch in range(1, n_epochs + 1):
        t_p = fn(t_u, *params)
        loss = loss_fn(t_p, t_c)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if log is not None:
            log.append((float(loss), params.detach().numpy().copy()))
    return params, loss


def _data():
    return torch.tensor(T_C), torch.tensor(T_U)


def test_normalised_input_lr_1e2_5000_epochs():
    t_c, t_u = _data()
    t_un = 0.1 * t_u
    params = torch.tensor([1.0, 0.0], requires_grad=True)
    optimizer = optim.SGD([params], lr=1e-2)
    params, loss = training_loop(5000, optimizer, params, t_un, t_c)
    # printed: "Epoch 5000, Loss 2.927647" and tensor([  5.3671, -17.3012], requires_grad=True)
    assert abs(float(loss) - 2.927647) < 1.5e-6
    assert [round(v, 4) for v in params.tolist()] == [5.3671, -17.3012]
    assert repr(params) == "tensor([  5.3671, -17.3012], requires_grad=True)"


def test_losses_print_exactly_as_in_the_seed():
    t_c, t_u = _data()
    params = torch.tensor([1.0, 0.0], requires_grad=True)
    assert "%f" % float(loss_fn(model(t_u, *params), t_c)) == "1763.884766"
    _, loss = training_loop(5000, optim.SGD([params], lr=1e-2), params, 0.1 * t_u, t_c)
    assert "%f" % float(loss) == "2.927647"


def test_quadratic_model_lr_1e4_5000_epochs():
    t_c, t_u = _data()
    t_un = t_u * 0.1
    params = torch.tensor([0.1, 1.0, 0.0], requires_grad=True)
    optimizer = optim.SGD([params], lr=1e-4)
    log = []
    params, loss = training_loop(5000, optimizer, params, t_un, t_c, fn=new_model, log=log)
    assert [f"{loss:.4f}" for loss, _ in log[:2]] == ["447.9037", "265.7491"]
    assert abs(log[2][0] - 159.0233) < 2e-4  # printed 159.0233 (PyTorch rounds to ...0234)
    assert f"{loss.item():.4f}" == "3.7652"
    assert [round(v, 4) for v in params.tolist()] == [-1.1445, 0.5907, -0.6289]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_raw_input_lr_1e2_diverges_to_nan():
    t_c, t_u = _data()
    params = torch.tensor([1.0, 0.0], requires_grad=True)
    optimizer = optim.SGD([params], lr=1e-2)
    log = []
    params, loss = training_loop(100, optimizer, params, t_u, t_c, log=log)
    assert log[0][0] == pytest.approx(1763.884766, rel=1e-6)  # "Epoch 1, Loss 1763.884766"
    np.testing.assert_allclose(log[0][1], [-44.1730, -0.8260], rtol=1e-4)
    np.testing.assert_allclose(log[1][1], [2568.4011, 45.1637], rtol=1e-4)
    assert log[1][0] == pytest.approx(5802484.5, rel=1e-6)
    assert math.isnan(float(loss))
    assert repr(params.detach()) == "tensor([nan, nan])"
    # overflow comes first, then nan (a float32 replay: inf at epoch 11, nan at 23)
    first_inf = next(i for i, (v, _) in enumerate(log, 1) if math.isinf(v))
    first_nan = next(i for i, (v, _) in enumerate(log, 1) if math.isnan(v))
    assert first_inf < first_nan <= 100


def test_matches_torch_step_for_step():
    real = pytest.importorskip("torch")
    t_c, t_u = _data()
    params = torch.tensor([0.1, 1.0, 0.0], requires_grad=True)
    log = []
    training_loop(200, optim.SGD([params], lr=1e-4), params, 0.1 * t_u, t_c, fn=new_model,
                  log=log)
    tp = real.tensor([0.1, 1.0, 0.0], requires_grad=True)
    topt = real.optim.SGD([tp], lr=1e-4)
    tt_u = 0.1 * real.tensor(T_U)
    tt_c = real.tensor(T_C)
    for i in range(200):
        loss = loss_fn(new_model(tt_u, *tp), tt_c)
        topt.zero_grad()
        loss.backward()
        topt.step()
        np.testing.assert_allclose(log[i][1], tp.detach().numpy(), rtol=1e-5, atol=1e-6)
