"""ember.vision.transforms against Pillow (what torchvision calls) and torch's interpolate."""
import numpy as np
import pytest

import ember
from tests.helpers import needs_torch, torch

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageEnhance, ImageOps

from ember.vision import transforms as T
from ember.vision.utils import make_grid, save_image

rng = np.random.default_rng(0)
GRAY = Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8))
RGB = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))


def same_img(a, b):
    assert a.mode == b.mode and a.size == b.size
    np.testing.assert_array_equal(np.array(a), np.array(b))


def test_to_tensor_and_back():
    t = T.ToTensor()(RGB)
    assert t.shape == (3, 20, 30) and t.dtype == ember.float32
    np.testing.assert_array_equal(t.numpy(), np.array(RGB).transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    g = T.ToTensor()(GRAY)
    assert g.shape == (1, 28, 28) and 0 <= g.numpy().min() and g.numpy().max() <= 1
    arr = np.array(RGB)
    np.testing.assert_array_equal(T.ToTensor()(arr).numpy(), t.numpy())
    f = T.ToTensor()(arr.astype(np.float64))
    assert f.dtype == ember.float64 and f.shape == (3, 20, 30)
    same_img(T.ToPILImage()(T.PILToTensor()(RGB)), RGB)
    same_img(T.ToPILImage()(g), GRAY)
    assert T.PILToTensor()(GRAY).dtype == ember.uint8
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()([1, 2])


def test_resize_matches_pil_and_repr():
    same_img(T.Resize((32, 32))(GRAY), GRAY.resize((32, 32), Image.BILINEAR))
    same_img(T.Resize(10)(RGB), RGB.resize((15, 10), Image.BILINEAR))  # shorter edge -> 10
    same_img(T.Resize(10, interpolation=T.InterpolationMode.NEAREST)(RGB), RGB.resize((15, 10), Image.NEAREST))
    same_img(T.Resize((28, 28))(GRAY), GRAY)
    assert repr(T.Compose([T.Resize((32, 32)), T.ToTensor()])) == (
        "Compose(\n    Resize(size=(32, 32), interpolation=bilinear, max_size=None, antialias=True)"
        "\n    ToTensor()\n)")
    with pytest.raises(TypeError, match="Size should be int or sequence"):
        T.Resize(1.5)


@needs_torch
@pytest.mark.parametrize("size", [(32, 32), (14, 10), (5, 41)])
@pytest.mark.parametrize("mode,aa", [("bilinear", True), ("bilinear", False), ("nearest", False)])
def test_tensor_resize_matches_torch_interpolate(size, mode, aa):
    x = rng.random((2, 3, 28, 23)).astype(np.float32)
    got = T.resize(ember.tensor(x), list(size), mode, antialias=aa).numpy()
    kw = {} if mode == "nearest" else {"align_corners": False}
    want = torch.nn.functional.interpolate(torch.tensor(x), size=size, mode=mode, antialias=aa, **kw).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_crops_flips_pad_match_pil():
    same_img(T.CenterCrop(10)(RGB), RGB.crop((10, 5, 20, 15)))
    big = T.CenterCrop((24, 34))(RGB)
    assert big.size == (34, 24)
    same_img(T.RandomHorizontalFlip(p=1.0)(RGB), RGB.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    same_img(T.RandomVerticalFlip(p=1.0)(RGB), RGB.transpose(Image.Transpose.FLIP_TOP_BOTTOM))
    same_img(T.RandomHorizontalFlip(p=0.0)(RGB), RGB)
    same_img(T.Pad(2, fill=7)(GRAY), ImageOps.expand(GRAY, border=2, fill=7))
    np.testing.assert_array_equal(np.array(T.Pad((1, 2), padding_mode="reflect")(GRAY)),
                                  np.pad(np.array(GRAY), ((2, 2), (1, 1)), mode="reflect"))
    assert repr(T.Pad(2)) == "Pad(padding=2, fill=0, padding_mode=constant)"
    t = T.ToTensor()(RGB)
    np.testing.assert_array_equal(T.CenterCrop(10)(t).numpy(), T.ToTensor()(T.CenterCrop(10)(RGB)).numpy())
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(t).numpy(), t.numpy()[..., ::-1])
    assert T.Pad((1, 2, 3, 4))(t).shape == (3, 26, 34)


def test_random_crop_reproducible_and_in_bounds():
    crop = T.RandomCrop(12, padding=2)
    ember.manual_seed(0)
    a = [np.array(crop(RGB)) for _ in range(5)]
    ember.manual_seed(0)
    b = [np.array(crop(RGB)) for _ in range(5)]
    assert all((x == y).all() for x, y in zip(a, b)) and a[0].shape == (12, 12, 3)
    assert T.RandomCrop((40, 40), pad_if_needed=True)(RGB).size == (40, 40)
    with pytest.raises(ValueError, match="Required crop size"):
        T.RandomCrop(40)(RGB)
    rrc = T.RandomResizedCrop(16)
    assert rrc(RGB).size == (16, 16) and rrc(T.ToTensor()(RGB)).shape == (3, 16, 16)
    assert repr(rrc) == ("RandomResizedCrop(size=(16, 16), scale=(0.08, 1.0), ratio=(0.75, 1.3333), "
                         "interpolation=bilinear, antialias=True)")


def test_rotation_affine_match_pil_calls():
    ember.manual_seed(3)
    out = T.RandomRotation(30)(GRAY)
    ember.manual_seed(3)
    angle = T.RandomRotation.get_params([-30.0, 30.0])
    same_img(out, GRAY.rotate(angle, Image.NEAREST, False, None, fillcolor=0))
    assert -30 <= angle <= 30
    assert repr(T.RandomRotation(30)) == ("RandomRotation(degrees=[-30.0, 30.0], interpolation=nearest, "
                                          "expand=False, fill=0)")
    aff = T.RandomAffine(0, translate=(0.1, 0.1))
    assert aff(RGB).size == RGB.size
    assert repr(aff) == "RandomAffine(degrees=[0.0, 0.0], translate=(0.1, 0.1))"
    # a 90 degree tensor rotation equals numpy's rot90 (nearest, square image)
    x = ember.tensor(rng.random((1, 6, 6)).astype(np.float32))
    np.testing.assert_allclose(T.rotate(x, 90.0).numpy(), np.rot90(x.numpy(), 1, axes=(1, 2)), atol=1e-6)
    assert T.RandomAffine(10, scale=(0.9, 1.1), shear=5)(x).shape == (1, 6, 6)


def test_color_and_grayscale():
    ember.manual_seed(1)
    out = T.ColorJitter(brightness=0.5)(RGB)
    ember.manual_seed(1)
    _, b, _, _, _ = T.ColorJitter.get_params((0.5, 1.5), None, None, None)
    same_img(out, ImageEnhance.Brightness(RGB).enhance(b))
    assert repr(T.ColorJitter(brightness=0.5)) == \
        "ColorJitter(brightness=(0.5, 1.5), contrast=None, saturation=None, hue=None)"
    assert T.ColorJitter(0.2, 0.2, 0.2, 0.1)(RGB).size == RGB.size
    same_img(T.Grayscale()(RGB), RGB.convert("L"))
    assert T.Grayscale(3)(RGB).mode == "RGB"
    t = T.ToTensor()(RGB)
    assert T.Grayscale()(t).shape == (1, 20, 30)
    assert T.ColorJitter(0.2, 0.2, 0.2, 0.1)(t).shape == (3, 20, 30)
    np.testing.assert_allclose(T.adjust_hue(t, 0.0).numpy(), t.numpy(), atol=1e-5)


def test_normalize_and_convert_dtype():
    t = T.ToTensor()(RGB)
    n = T.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(t)
    np.testing.assert_allclose(n.numpy(), (t.numpy() - 0.5) / 0.25, rtol=1e-6)
    assert n.dtype == ember.float32
    same = T.Normalize([0.5] * 3, [0.5] * 3, inplace=True)
    assert same(t) is t
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        T.Normalize([0.5], [0.5])(T.PILToTensor()(GRAY))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize([0.5], [0.0])(t)
    u = T.PILToTensor()(GRAY)
    f = T.ConvertImageDtype(ember.float32)(u)
    np.testing.assert_allclose(f.numpy(), u.numpy() / 255.0, rtol=1e-6)
    back = T.ConvertImageDtype(ember.uint8)(f)
    np.testing.assert_array_equal(back.numpy(), u.numpy())
    with pytest.raises(RuntimeError, match="cannot be performed safely"):
        T.ConvertImageDtype(ember.int64)(f)
    assert repr(T.Lambda(lambda x: x)) == "Lambda()" and T.Lambda(lambda x: x + 1)(1) == 2


def test_make_grid_and_save_image(tmp_path):
    batch = ember.tensor(rng.random((10, 1, 5, 7)).astype(np.float32))
    g = make_grid(batch, nrow=4, padding=2, pad_value=0.5)
    assert g.shape == (3, 3 * 7 + 2, 4 * 9 + 2)
    np.testing.assert_array_equal(g.numpy()[0, 2:7, 2:9], batch.numpy()[0, 0])
    np.testing.assert_array_equal(g.numpy()[:, 16:21, 11:18], np.repeat(batch.numpy()[9], 3, 0))
    assert (g.numpy()[:, 16:21, 20:36] == 0.5).all()  # the two empty cells
    normed = make_grid(batch * 10, normalize=True)
    assert normed.numpy().max() <= 1.0
    save_image(batch, tmp_path / "grid.png", nrow=5)
    img = Image.open(tmp_path / "grid.png")
    assert img.size == (5 * 9 + 2, 2 * 7 + 2) and img.mode == "RGB"
