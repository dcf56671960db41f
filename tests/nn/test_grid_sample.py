"""F.affine_grid, F.grid_sample and F.gumbel_softmax against torch; grid_sample gradchecks."""
import itertools

import numpy as np
import pytest
from helpers import assert_close, check_grad, needs_torch, torch

import ember
import ember.nn.functional as F

rng = np.random.default_rng(9)


@needs_torch
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("nd", [2, 3])
def test_grid_sample_matches_torch(align_corners, nd):
    for padding_mode, mode in itertools.product(["zeros", "border", "reflection"],
                                                ["bilinear", "nearest", "bicubic"]):
        if mode == "bicubic" and nd == 3:
            continue
        x = rng.standard_normal((2, 3, 5, 6) if nd == 2 else (2, 2, 3, 4, 5))
        # some points fall outside the image
        g = rng.uniform(-1.6, 1.6, (2, 4, 7, 2) if nd == 2 else (2, 3, 2, 4, 3))
        xe, ge = ember.tensor(x, requires_grad=True), ember.tensor(g, requires_grad=True)
        xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
        ye = F.grid_sample(xe, ge, mode, padding_mode, align_corners)
        yt = torch.nn.functional.grid_sample(xt, gt, mode, padding_mode, align_corners)
        assert_close(ye, yt, atol=1e-12)
        w = rng.standard_normal(tuple(yt.shape))
        (ye * ember.tensor(w)).sum().backward()
        (yt * torch.tensor(w)).sum().backward()
        assert_close(xe.grad, xt.grad, atol=1e-12)
        if mode != "nearest":
            assert_close(ge.grad, gt.grad, atol=1e-11)


@needs_torch
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_torch(align_corners):
    th = rng.standard_normal((2, 2, 3))
    te, tt = ember.tensor(th, requires_grad=True), torch.tensor(th, requires_grad=True)
    ye = F.affine_grid(te, (2, 3, 4, 5), align_corners)
    yt = torch.nn.functional.affine_grid(tt, (2, 3, 4, 5), align_corners)
    assert_close(ye, yt, atol=1e-12)
    (ye * ye).sum().backward()
    (yt * yt).sum().backward()
    assert_close(te.grad, tt.grad, atol=1e-12)
    th3 = rng.standard_normal((2, 3, 4)).astype(np.float32)
    assert_close(F.affine_grid(ember.tensor(th3), (2, 1, 3, 4, 5), align_corners),
                 torch.nn.functional.affine_grid(torch.tensor(th3), (2, 1, 3, 4, 5),
                                                 align_corners), atol=1e-6)


def test_grid_sample_gradcheck():
    # grid points kept off the integer pixel positions, where bilinear has kinks
    g = rng.uniform(-0.9, 0.9, (1, 3, 2, 2))
    for pm in ("zeros", "border", "reflection"):
        check_grad(lambda x, grid: F.grid_sample(x, grid, padding_mode=pm, align_corners=False),
                   (1, 2, 4, 5), g)
    img = ember.tensor(rng.standard_normal((1, 1, 3, 3)))
    check_grad(lambda x, grid: F.grid_sample(x, grid, "bicubic", "border", align_corners=True),
               (1, 1, 4, 5), g[:, :2])
    check_grad(lambda x, grid: F.grid_sample(x, grid, align_corners=True),
               (1, 2, 3, 4, 3), rng.uniform(-0.9, 0.9, (1, 2, 1, 2, 3)))
    check_grad(lambda t: F.grid_sample(img, F.affine_grid(t, (1, 1, 2, 4), False),
                                       align_corners=False),
               np.array([[[0.9, 0.1, 0.05], [-0.2, 0.8, 0.1]]]))


def test_grid_errors_and_warning():
    x, g = ember.zeros(1, 1, 3, 3), ember.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="expected mode to be 'bilinear', 'nearest' or "
                                         "'bicubic', but got: 'cubic'"):
        F.grid_sample(x, g, mode="cubic", align_corners=False)
    with pytest.raises(ValueError, match="expected padding_mode to be 'zeros', 'border', or "
                                         "'reflection', but got: 'wrap'"):
        F.grid_sample(x, g, padding_mode="wrap", align_corners=False)
    with pytest.raises(RuntimeError, match="bicubic interpolation only supports 4D input"):
        F.grid_sample(ember.zeros(1, 1, 2, 2, 2), ember.zeros(1, 1, 1, 1, 3), mode="bicubic",
                      align_corners=False)
    with pytest.raises(RuntimeError, match="expected grid to have size 2 in last dimension, but "
                                           "got grid with sizes \\[1, 2, 2, 3\\]"):
        F.grid_sample(x, ember.zeros(1, 2, 2, 3), align_corners=False)
    with pytest.warns(UserWarning, match="Default grid_sample and affine_grid behavior has "
                                         "changed to align_corners=False"):
        F.grid_sample(x, g)
    with pytest.raises(ValueError, match="Expected a batch of 2D affine matrices of shape Nx2x3"):
        F.affine_grid(ember.zeros(1, 3, 3), (1, 1, 2, 2), False)
    with pytest.raises(NotImplementedError, match="affine_grid only supports 4D and 5D sizes"):
        F.affine_grid(ember.zeros(1, 2, 3), (1, 2, 2), False)


@needs_torch
def test_gumbel_softmax_matches_torch_seeded():
    logits = rng.standard_normal((3, 5)).astype(np.float32)
    for hard, tau in ((False, 0.5), (True, 1.0)):
        ember.manual_seed(0)
        torch.manual_seed(0)
        le = ember.tensor(logits, requires_grad=True)
        lt = torch.tensor(logits, requires_grad=True)
        ye = F.gumbel_softmax(le, tau=tau, hard=hard)
        yt = torch.nn.functional.gumbel_softmax(lt, tau=tau, hard=hard)
        assert_close(ye, yt, atol=1e-6)
        w = rng.standard_normal((3, 5)).astype(np.float32)
        (ye * ember.tensor(w)).sum().backward()
        (yt * torch.tensor(w)).sum().backward()
        assert_close(le.grad, lt.grad, atol=1e-5)
