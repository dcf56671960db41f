"""ember.vision.transforms.v2 and the transforms package layout (functional, v2.functional)."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import ember

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from ember.vision import transforms as T  # noqa: E402
from ember.vision.transforms import v2  # noqa: E402

try:  # the reference; the parity test skips without it
    import torch
    import torchvision.transforms.v2 as tv2
except Exception:  # pragma: no cover  (absent, or its CUDA build failing on CPU torch)
    tv2 = None


def _pil(h=20, w=24, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _tensor(h=20, w=24, seed=0):
    rng = np.random.default_rng(seed)
    return ember.tensor(rng.integers(0, 256, (3, h, w), dtype=np.uint8))


def _same(a, b):
    if isinstance(a, Image.Image):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a.dtype == b.dtype and np.array_equal(a.numpy(), b.numpy())


def test_module_layout():
    import ember.vision.transforms.functional as TF
    import ember.vision.transforms.v2.functional as F2

    assert T.functional is TF and TF.to_tensor is T.to_tensor and TF.hflip is T.hflip
    assert T.v2 is v2 and v2.functional is F2
    assert F2.horizontal_flip is TF.hflip and F2.InterpolationMode is T.InterpolationMode
    assert isinstance(v2.Resize(3), ember.nn.Module) and isinstance(v2.Resize(3), v2.Transform)
    img = _tensor()
    assert F2.get_size(img) == [20, 24] and F2.to_image(_pil()).shape == (3, 20, 24)
    assert F2.to_dtype(img, ember.float32, scale=True).numpy().max() <= 1.0


# (transform, repr) pairs, the reprs as torchvision 0.28 prints them
REPRS = [
    (lambda: v2.ToImage(), "ToImage()"),
    (lambda: v2.ToDtype(ember.float32, scale=True), "ToDtype(scale=True)"),
    (lambda: v2.Normalize([0.5], [0.2]), "Normalize(mean=[0.5], std=[0.2], inplace=False)"),
    (lambda: v2.Resize(32), "Resize(size=[32], interpolation=bilinear, antialias=True)"),
    (lambda: v2.Resize((3, 4), antialias=False),
     "Resize(size=[3, 4], interpolation=bilinear, antialias=False)"),
    (lambda: v2.RandomCrop(8, padding=2), "RandomCrop(size=(8, 8), padding=[2, 2, 2, 2], "
     "pad_if_needed=False, fill=0, padding_mode=constant)"),
    (lambda: v2.RandomHorizontalFlip(), "RandomHorizontalFlip(p=0.5)"),
    (lambda: v2.CenterCrop(4), "CenterCrop(size=(4, 4))"),
    (lambda: v2.RandomResizedCrop(8), "RandomResizedCrop(size=(8, 8), scale=(0.08, 1.0), "
     "ratio=(0.75, 1.3333333333333333), interpolation=bilinear, antialias=True)"),
    (lambda: v2.ColorJitter(0.2, 0.3), "ColorJitter(brightness=(0.8, 1.2), contrast=(0.7, 1.3))"),
    (lambda: v2.Lambda(lambda x: x), "Lambda(<lambda>, types=['object'])"),
    (lambda: v2.Grayscale(), "Grayscale(num_output_channels=1)"),
    (lambda: v2.Pad(2), "Pad(padding=2, fill=0, padding_mode=constant)"),
    (lambda: v2.RandomRotation(10),
     "RandomRotation(degrees=[-10.0, 10.0], interpolation=nearest, expand=False, fill=0)"),
    (lambda: v2.RandomAffine(10), "RandomAffine(degrees=[-10.0, 10.0], interpolation=nearest, "
     "fill=0)"),
    (lambda: v2.RandomChoice([v2.Identity()]), "RandomChoice(transforms=[Identity()], p=[1.0])"),
    (lambda: v2.Compose([v2.ToImage(), v2.ToDtype(ember.float32, scale=True)]),
     "Compose(\n      ToImage()\n      ToDtype(scale=True)\n)"),
]


@pytest.mark.parametrize("i", range(len(REPRS)))
def test_repr(i):
    make, want = REPRS[i]
    assert repr(make()) == want


V1_V2 = [
    (lambda m: m.RandomCrop(8, padding=2)),
    (lambda m: m.RandomResizedCrop(8)),
    (lambda m: m.ColorJitter(0.2, 0.3, 0.4, 0.1)),
    (lambda m: m.RandomRotation(30)),
    (lambda m: m.RandomAffine(20, (0.1, 0.1), (0.9, 1.1), 5)),
    (lambda m: m.RandomHorizontalFlip()),
    (lambda m: m.RandomVerticalFlip()),
    (lambda m: m.Resize(11)),
    (lambda m: m.CenterCrop(7)),
    (lambda m: m.Grayscale(3)),
    (lambda m: m.Pad((1, 2), padding_mode="reflect")),
]


@pytest.mark.parametrize("i", range(len(V1_V2)))
@pytest.mark.parametrize("kind", ["pil", "tensor"])
def test_v2_equals_v1_under_same_seed(i, kind):
    img = _pil() if kind == "pil" else _tensor()
    outs = []
    for mod in (T, v2):
        t = V1_V2[i](mod)
        ember.manual_seed(3)
        outs.append([t(img) for _ in range(4)])
    assert all(_same(a, b) for a, b in zip(*outs))


def test_samples_pass_through_and_share_parameters():
    img = _tensor()
    flipped = T.hflip(img)
    out, label = v2.RandomHorizontalFlip(p=1.0)(img, 5)
    assert _same(out, flipped) and label == 5
    out = v2.RandomHorizontalFlip(p=1.0)({"image": img, "boxes": [1, 2], "target": img})
    assert _same(out["image"], flipped) and out["boxes"] == [1, 2]
    assert out["target"] is img  # only the first plain tensor is an image
    a, b = _pil(seed=1), _pil(seed=2)
    ember.manual_seed(0)
    ca, cb = v2.RandomResizedCrop(6)(a, b)
    ember.manual_seed(0)
    want = T.RandomResizedCrop(6)
    assert _same(ca, want(a))
    ember.manual_seed(0)
    assert _same(cb, want(b))  # both images got the first image's crop
    # with a PIL image in the sample, tensors pass through
    pil, t = v2.RandomHorizontalFlip(p=1.0)(_pil(), img)
    assert t is img and _same(pil, T.hflip(_pil()))


def test_conversions():
    pil = _pil()
    arr = np.asarray(pil)
    out = v2.ToImage()(pil)
    assert out.dtype == ember.uint8 and out.shape == (3, 20, 24)
    assert _same(out, T.pil_to_tensor(pil))
    assert _same(v2.ToImage()(arr), out)
    assert v2.ToImage()(ember.zeros(4, 5)).shape == (1, 4, 5)
    f = v2.ToDtype(ember.float32, scale=True)(out)
    np.testing.assert_allclose(f.numpy(), T.to_tensor(pil).numpy(), atol=1e-6)
    raw = v2.ToDtype(ember.float32)(out)
    assert raw.dtype == ember.float32 and raw.numpy().max() > 1
    back = v2.ToDtype(ember.uint8, scale=True)(ember.tensor([[[0.0, 0.5, 1.0]]]))
    assert back.tolist() == [[[0, 127, 255]]]
    x, y = v2.ToDtype(ember.float32, scale=True)(out, ember.tensor([3]))
    assert y.dtype == ember.int64
    with pytest.warns(UserWarning, match="`ToTensor\\(\\)` is deprecated"):
        tt = v2.ToTensor()
    assert _same(tt(pil), T.to_tensor(pil))
    with pytest.raises(TypeError, match="Normalize\\(\\) does not support PIL images."):
        v2.Normalize([0.5], [0.2])(pil)
    assert _same(v2.PILToTensor()(pil), out)
    assert isinstance(v2.ToPILImage()(out), Image.Image)
    assert v2.ToPureTensor()(out) is out


def test_containers_and_lambda():
    img = _tensor()
    pipe = v2.Compose([v2.ToDtype(ember.float32, scale=True), v2.Normalize([0.5] * 3, [0.5] * 3)])
    out, label = pipe(img, 7)
    assert label == 7 and out.dtype == ember.float32 and out.numpy().min() >= -1.0
    single = pipe(img)
    assert _same(single, out)
    doubled = v2.Lambda(lambda x: x * 2)(ember.ones(1), 3)
    assert doubled[0].tolist() == [2.0] and doubled[1] == 6
    only_int = v2.Lambda(lambda x: x + 1, int)(ember.ones(1), 3)
    assert only_int[0].tolist() == [1.0] and only_int[1] == 4
    assert _same(v2.RandomApply([v2.RandomHorizontalFlip(1.0)], p=1.0)(img), T.hflip(img))
    assert v2.RandomApply([v2.RandomHorizontalFlip(1.0)], p=0.0)(img) is img
    assert _same(v2.RandomChoice([v2.RandomVerticalFlip(1.0)])(img), T.vflip(img))
    both = v2.RandomOrder([v2.RandomHorizontalFlip(1.0), v2.RandomVerticalFlip(1.0)])(img)
    assert _same(both, T.vflip(T.hflip(img)))
    grey = v2.RandomGrayscale(p=1.0)(img)
    assert grey.shape == (3, 20, 24) and _same(grey, T.rgb_to_grayscale(img, 3))
    with pytest.raises(ValueError, match="Length of p doesn't match"):
        v2.RandomChoice([v2.Identity()], p=[0.5, 0.5])
    with pytest.raises(NotImplementedError, match="tv_tensors"):
        v2.ToDtype({"others": None})


def test_user_subclass():
    class AddNoise(v2.Transform):  # torchvision >= 0.21 style
        def make_params(self, flat_inputs):
            return {"shift": len(flat_inputs)}

        def transform(self, inpt, params):
            return inpt + params["shift"]

    class Old(v2.Transform):  # the older private hooks
        def _get_params(self, flat_inputs):
            return {"k": 10}

        def _transform(self, inpt, params):
            return inpt * params["k"]

    out, label = AddNoise()(ember.ones(2), 3)
    assert out.tolist() == [2.0, 2.0] and label == 3
    assert Old()(ember.ones(1)).tolist() == [10.0]
    assert v2.Compose([AddNoise(), Old()])(ember.zeros(1)).tolist() == [10.0]


def test_torchvision_names_resolve(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        "import torch\n"
        "import torchvision.transforms.v2 as v2\n"
        "import torchvision.transforms.functional as TF\n"
        "from torchvision.transforms.v2 import functional as F2\n"
        "from torchvision.io import read_image, ImageReadMode\n"
        "from torchvision.models import resnet18, ResNet18_Weights\n"
        "t = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])\n"
        "x = t(torch.zeros(3, 4, 4, dtype=torch.uint8))\n"
        "print(type(x).__name__, str(x.dtype), tuple(TF.hflip(x).shape), F2.get_size(x),\n"
        "      ImageReadMode.RGB.value, type(resnet18(num_classes=2)).__name__)\n")
    res = subprocess.run([sys.executable, "-m", "ember", "run", str(script)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["Tensor", "torch.float32", "(3,", "4,", "4)", "[4,", "4]", "3",
                                  "ResNet"]


@pytest.mark.skipif(tv2 is None, reason="torchvision not importable")
def test_pil_pipeline_matches_torchvision():
    def pipe(m, dtype):
        return m.Compose([m.Resize(15), m.CenterCrop(12), m.RandomHorizontalFlip(1.0),
                          m.ToImage(), m.ToDtype(dtype, scale=True),
                          m.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])

    img = _pil(31, 27)
    got = pipe(v2, ember.float32)(img).numpy()
    want = pipe(tv2, torch.float32)(img).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert repr(pipe(v2, ember.float32)) == repr(pipe(tv2, torch.float32))
