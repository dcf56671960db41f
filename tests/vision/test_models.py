"""ember.vision.models: torchvision's structure (keys, shapes, counts, reprs), init, weights."""
from __future__ import annotations

import hashlib
import io
import urllib.error
import urllib.request
import warnings

import numpy as np
import pytest

import ember
from ember.vision import models as M
from ember.vision.models.vgg import cfgs, make_layers
from tests.helpers import needs_torch, torch

try:  # the reference; these parity tests skip without it
    import torchvision
except Exception:  # pragma: no cover  (absent, or its CUDA build failing on CPU torch)
    torchvision = None

needs_torchvision = pytest.mark.skipif(torchvision is None, reason="torchvision not importable")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _facts(model):
    items = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    return (_digest(repr(items)), sum(p.numel() for p in model.parameters()), len(items),
            _digest(repr(model)))


# (sha256 of [(key, shape), ...], parameter count, number of keys, sha256 of repr), measured
# on torchvision 0.28 (torch 2.13); the counts are also in torchvision's weights metadata.
TORCHVISION_FACTS = {
    "resnet18": ("9682c6fd405d8d70", 11689512, 122, "78a0ce552ae923a0"),
    "resnet34": ("b5362b8c319971db", 21797672, 218, "a60cf71e278ea118"),
    "resnet50": ("f398fe5f16a958c8", 25557032, 320, "11201e7f2419f050"),
    "resnext50_32x4d": ("9a47faebfc936a68", 25028904, 320, "d87d3de8a4f26dde"),
    "alexnet": ("fb0abbb9658286c1", 61100840, 16, "2891f54c81b8aa3e"),
    "mobilenet_v2": ("1c18ba5f335c2735", 3504872, 314, "e80e6fd178749cf5"),
    "squeezenet1_0": ("873c3481b9b2aa9b", 1248424, 52, "8b319b5bfbc68eec"),
    "squeezenet1_1": ("9cf34f8e4ebfddab", 1235496, 52, "db09563d9ff04db0"),
}

# VGG's 100M-parameter classifier is too big to build in a test: check `features` (the part
# that differs between variants) and the classifier's size by arithmetic.
VGG_FEATURES = {
    ("A", False): ("487c67f940fbca11", 9220480), ("A", True): ("af86ac77429401e4", 9225984),
    ("B", False): ("454c9e1c7c1305a4", 9404992), ("B", True): ("49dc7136ae1a5be6", 9410880),
    ("D", False): ("513ed2c8ed5fdae0", 14714688), ("D", True): ("5986a7df5170e383", 14723136),
    ("E", False): ("c10b7aefcc7dd4ed", 20024384), ("E", True): ("4f626f85de95261a", 20035392),
}
VGG_CLASSIFIER = 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000


@pytest.fixture(scope="module")
def built():
    """Every model, built fast: ember's generator matches torch's bit for bit but is slow on
    AlexNet's 61M parameters, so build with the random inits switched off, then fill the
    weights from NumPy (scaled by fan-in) and give batch norm non-trivial running statistics."""
    init = ember.nn.init
    names = ("kaiming_uniform_", "kaiming_normal_", "normal_", "uniform_")
    saved = {n: getattr(init, n) for n in names}
    try:
        for n in names:
            setattr(init, n, lambda t, *a, **k: t)
        models = {name: M.get_model(name) for name in TORCHVISION_FACTS}
    finally:
        for n, f in saved.items():
            setattr(init, n, f)
    # A pool of normals, tiled: drawing 125M fresh ones would dominate the test's time.
    size = 1 << 20
    pool = np.random.default_rng(0).standard_normal(2 * size, dtype=np.float32)
    for model in models.values():
        sd = model.state_dict()
        for i, (k, v) in enumerate(sd.items()):
            if k.endswith("num_batches_tracked"):
                continue
            n, start = v.numel(), 7919 * i % size
            scale = np.float32(0.1 if v.ndim == 1 else np.sqrt(1.0 / np.prod(v.shape[1:])))
            a = np.empty(n, np.float32)
            for j in range(0, n, size):
                m = min(size, n - j)
                np.multiply(pool[start:start + m], scale, out=a[j:j + m])
            if k.endswith("running_var") or (k.endswith("weight") and v.ndim == 1):
                a = 1.0 + 2.5 * np.tanh(a)  # in [-1.5, 3.5]: the weights may be negative
                if k.endswith("running_var"):
                    a = np.abs(a) + 0.5
            sd[k] = ember.from_numpy(a.astype(np.float32).reshape(tuple(v.shape)))
        model.load_state_dict(sd, assign=True)
        model.eval()
    return models


@pytest.fixture(scope="module")
def real():
    """Models built with their own initialisation."""
    ember.manual_seed(0)
    return {"resnet18": M.resnet18(), "mobilenet_v2": M.mobilenet_v2(),
            "squeezenet1_0": M.squeezenet1_0()}


@pytest.mark.parametrize("name", sorted(TORCHVISION_FACTS))
def test_structure_matches_torchvision(built, name):
    model = built[name]
    assert _facts(model) == TORCHVISION_FACTS[name]
    assert model.state_dict()[next(iter(model.state_dict()))].dtype == ember.float32
    assert M.get_model_weights(name).DEFAULT.meta["num_params"] == TORCHVISION_FACTS[name][1]


@pytest.mark.parametrize("cfg,bn", sorted(VGG_FEATURES))
def test_vgg_features_match_torchvision(cfg, bn):
    features = make_layers(cfgs[cfg], batch_norm=bn)
    items = [(k, tuple(v.shape)) for k, v in features.state_dict().items()]
    n = sum(p.numel() for p in features.parameters())
    assert (_digest(repr(items)), n) == VGG_FEATURES[(cfg, bn)]
    name = {"A": "vgg11", "B": "vgg13", "D": "vgg16", "E": "vgg19"}[cfg] + ("_bn" if bn else "")
    assert M.get_model_weights(name).DEFAULT.meta["num_params"] == n + VGG_CLASSIFIER


@pytest.mark.parametrize("name,size", [("resnet18", 32), ("resnet50", 32), ("alexnet", 63),
                                       ("mobilenet_v2", 32), ("squeezenet1_0", 21),
                                       ("squeezenet1_1", 17)])
def test_forward_shape(built, name, size):
    model = built[name].eval()
    with ember.no_grad():
        out = model(ember.randn(2, 3, size, size))
    assert out.shape == (2, 1000) and out.dtype == ember.float32
    assert np.isfinite(out.numpy()).all()


def test_num_classes_and_train_step(real):
    model = real["resnet18"]
    model.fc = ember.nn.Linear(512, 7)
    out = model(ember.randn(2, 3, 16, 16))
    out.sum().backward()
    assert out.shape == (2, 7) and model.conv1.weight.grad.shape == (64, 3, 7, 7)
    assert M.squeezenet1_1(num_classes=5)(ember.randn(1, 3, 17, 17)).shape == (1, 5)
    assert M.mobilenet_v2(num_classes=3, width_mult=0.5).classifier[1].in_features == 1280


def test_initialisation(real, monkeypatch):
    r = real["resnet18"]
    w = r.conv1.weight.detach().numpy()  # kaiming_normal_, fan_out, relu: std sqrt(2 / fan_out)
    assert abs(w.std() - np.sqrt(2.0 / (64 * 49))) < 0.05 * np.sqrt(2.0 / (64 * 49))
    assert (r.bn1.weight.detach().numpy() == 1).all() and (r.bn1.bias.detach().numpy() == 0).all()
    monkeypatch.setattr(ember.nn.init, "kaiming_normal_", lambda t, **k: t)  # speed only
    zero = M.ResNet(M.BasicBlock, [1, 1, 1, 1], zero_init_residual=True)
    assert (zero.layer1[0].bn2.weight.detach().numpy() == 0).all()
    zero = M.ResNet(M.Bottleneck, [1, 1, 1, 1], zero_init_residual=True)
    assert (zero.layer4[0].bn3.weight.detach().numpy() == 0).all()
    mb = real["mobilenet_v2"]
    assert abs(mb.classifier[1].weight.detach().numpy().std() - 0.01) < 0.001
    assert (mb.classifier[1].bias.detach().numpy() == 0).all()
    sq = real["squeezenet1_0"]
    assert abs(sq.classifier[1].weight.detach().numpy().std() - 0.01) < 0.002
    assert (sq.features[0].bias.detach().numpy() == 0).all()
    vf = make_layers(cfgs["A"])
    assert vf[0].bias is not None  # VGG's convolutions keep their bias


def test_errors():
    with pytest.raises(ValueError, match="BasicBlock only supports groups=1 and base_width=64"):
        M.resnet18(groups=2)
    with pytest.raises(ValueError, match="replace_stride_with_dilation should be None"):
        M.resnet50(replace_stride_with_dilation=[True])
    with pytest.raises(ValueError, match="Unsupported SqueezeNet version 2_0"):
        M.SqueezeNet("2_0")
    with pytest.raises(ValueError, match="Unknown model foo"):
        M.get_model("foo")
    with pytest.raises(ValueError, match="expected value 1000 but got 10 instead"):
        M.resnet18(weights=M.ResNet18_Weights.DEFAULT, num_classes=10)
    with pytest.raises(TypeError, match="expected ResNet18_Weights but received ResNet50_Weights"):
        M.resnet18(weights=M.ResNet50_Weights.DEFAULT)
    with pytest.raises(KeyError):
        M.resnet18(weights="FOO")


def test_registry_and_enums():
    names = M.list_models()
    for n in ["resnet18", "resnet34", "resnet50", "vgg11", "vgg16_bn", "alexnet",
              "mobilenet_v2", "squeezenet1_0", "squeezenet1_1"]:
        assert n in names
    assert names == sorted(names) and M.list_models(module=M) == names
    assert M.list_models(include="resnet*", exclude=["resnet1*"]) == ["resnet34", "resnet50"]
    W = M.ResNet50_Weights
    assert W.DEFAULT is W.IMAGENET1K_V2 and repr(W.DEFAULT) == "ResNet50_Weights.IMAGENET1K_V2"
    assert W.verify("DEFAULT") is W.IMAGENET1K_V2 is W.verify("ResNet50_Weights.IMAGENET1K_V2")
    assert W.IMAGENET1K_V1.url == "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    assert M.get_weight("ResNet50_Weights.IMAGENET1K_V1") is W.IMAGENET1K_V1
    assert M.get_model_weights("vgg16") is M.VGG16_Weights
    assert M.get_model_weights(M.resnet18) is M.ResNet18_Weights
    cats = M.ResNet18_Weights.DEFAULT.meta["categories"]
    assert len(cats) == 1000 and cats[0] == "tench" and cats[-1] == "toilet tissue"
    assert repr(W.DEFAULT.transforms()) == (
        "ImageClassification(\n    crop_size=[224]\n    resize_size=[232]\n"
        "    mean=[0.485, 0.456, 0.406]\n    std=[0.229, 0.224, 0.225]\n"
        "    interpolation=InterpolationMode.BILINEAR\n)")
    img = ember.randint(0, 256, (3, 300, 260), dtype=ember.uint8)
    out = M.ResNet18_Weights.DEFAULT.transforms()(img)
    assert out.shape == (3, 224, 224) and out.dtype == ember.float32


# ---- weights: download, checksum, offline and format errors -------------------------------------

@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path / "hub" / "checkpoints"


def _serve(monkeypatch, payload):
    calls = []

    def fake_urlopen(req, timeout=None):
        calls.append(req.full_url)
        if isinstance(payload, Exception):
            raise payload
        return io.BytesIO(payload)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return calls


def test_weights_offline_error(hub, monkeypatch):
    _serve(monkeypatch, urllib.error.URLError("no network"))
    with pytest.raises(RuntimeError) as info:
        M.resnet18(weights="DEFAULT")
    msg = str(info.value)
    assert "Cannot download" in msg and "resnet18-f37072fd.pth" in msg
    assert str(hub / "resnet18-f37072fd.pth") in msg
    assert list(hub.iterdir()) == []  # nothing half-written left behind
    with warnings.catch_warnings(record=True) as caught, \
            pytest.raises(RuntimeError, match="Cannot download"):
        warnings.simplefilter("always")
        M.squeezenet1_1(pretrained=True)
    assert "'pretrained' is deprecated" in str(caught[0].message)
    assert "equivalent to passing `weights=SqueezeNet1_1_Weights.IMAGENET1K_V1`" in str(
        caught[1].message)


def test_weights_hash_checked(hub, monkeypatch):
    _serve(monkeypatch, b"not the real weights")
    with pytest.raises(RuntimeError, match='invalid hash value \\(expected "b8a52dc0"'):
        M.squeezenet1_1(weights=M.SqueezeNet1_1_Weights.IMAGENET1K_V1)
    assert list(hub.iterdir()) == []


def test_weights_downloaded_once_and_loaded(hub, monkeypatch):
    from ember.vision.models._api import load_state_dict_from_url

    buf = io.BytesIO()
    ember.save({"w": ember.arange(3.0)}, buf)
    data = buf.getvalue()
    name = f"tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    calls = _serve(monkeypatch, data)
    for _ in range(2):
        sd = load_state_dict_from_url(f"https://example.invalid/{name}", check_hash=True,
                                      progress=False)
        assert sd["w"].tolist() == [0.0, 1.0, 2.0]
    assert len(calls) == 1 and (hub / name).exists()


def test_weights_from_cache_file(hub, monkeypatch):
    _serve(monkeypatch, urllib.error.URLError("no network"))
    ember.manual_seed(1)
    src = M.squeezenet1_1()
    hub.mkdir(parents=True)
    ember.save(src.state_dict(), hub / "squeezenet1_1-b8a52dc0.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = M.squeezenet1_1(weights="DEFAULT", progress=False)
    for k, v in src.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k].numpy(), v.numpy())


@needs_torch
def test_weights_from_torch_save_file(hub, monkeypatch):
    """A checkpoint torch.save wrote (what download.pytorch.org serves) loads, where ember.load
    reads PyTorch's format."""
    pytest.importorskip("ember._torch_format")
    _serve(monkeypatch, urllib.error.URLError("no network"))
    ember.manual_seed(2)
    src = M.squeezenet1_1()
    hub.mkdir(parents=True)
    torch.save({k: torch.from_numpy(v.numpy().copy()) for k, v in src.state_dict().items()},
               hub / "squeezenet1_1-b8a52dc0.pth")
    model = M.squeezenet1_1(weights=M.SqueezeNet1_1_Weights.IMAGENET1K_V1)
    for k, v in src.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k].numpy(), v.numpy())


def test_weights_damaged_file(hub, monkeypatch):
    _serve(monkeypatch, urllib.error.URLError("no network"))
    hub.mkdir(parents=True)
    (hub / "squeezenet1_0-b66bff10.pth").write_bytes(b"garbage, not a checkpoint")
    with pytest.raises(RuntimeError, match="could not be loaded .* delete it"):
        M.squeezenet1_0(weights="DEFAULT")


# ---- numerical parity ---------------------------------------------------------------------------

def _torch_resnet18(sd, x):
    """ResNet-18's forward written with torch.nn.functional, reading torchvision's keys."""
    F = torch.nn.functional

    def bn(t, p):
        return F.batch_norm(t, sd[p + ".running_mean"], sd[p + ".running_var"],
                            sd[p + ".weight"], sd[p + ".bias"], False, 0.0, 1e-5)

    x = F.max_pool2d(F.relu(bn(F.conv2d(x, sd["conv1.weight"], stride=2, padding=3), "bn1")),
                     3, 2, 1)
    for stage in range(4):
        for block in range(2):
            p = f"layer{stage + 1}.{block}"
            stride = 2 if stage > 0 and block == 0 else 1
            out = F.relu(bn(F.conv2d(x, sd[p + ".conv1.weight"], stride=stride, padding=1),
                            p + ".bn1"))
            out = bn(F.conv2d(out, sd[p + ".conv2.weight"], padding=1), p + ".bn2")
            if p + ".downsample.0.weight" in sd:
                x = bn(F.conv2d(x, sd[p + ".downsample.0.weight"], stride=stride),
                       p + ".downsample.1")
            x = F.relu(out + x)
    return F.linear(x.mean((2, 3)), sd["fc.weight"], sd["fc.bias"])


@needs_torch
def test_resnet18_matches_torch_functional(built):
    model = built["resnet18"]
    sd = {k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()}
    x = np.random.default_rng(1).standard_normal((2, 3, 40, 40)).astype(np.float32)
    with ember.no_grad():
        got = model(ember.tensor(x)).numpy()
    want = _torch_resnet18(sd, torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@needs_torchvision
@pytest.mark.parametrize("name,size", [("resnet18", 40), ("resnet50", 40),
                                       ("resnext50_32x4d", 40), ("alexnet", 63),
                                       ("mobilenet_v2", 40), ("squeezenet1_0", 33),
                                       ("squeezenet1_1", 33)])
def test_forward_matches_torchvision(built, name, size):
    model = built[name]
    ref = torchvision.models.get_model(name).eval()
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in model.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((2, 3, size, size)).astype(np.float32)
    with ember.no_grad():
        got = model(ember.tensor(x)).numpy()
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@needs_torchvision
def test_weights_enums_match_torchvision():
    for name in M.list_models():
        ours, ref = M.get_model_weights(name), torchvision.models.get_model_weights(name)
        assert [w.name for w in ours] == [w.name for w in ref] and ours.DEFAULT.name == \
            ref.DEFAULT.name
        for a, b in zip(ours, ref):
            assert a.url == b.url and repr(a.transforms()) == repr(b.transforms())
            skip = {"_docs", "_metrics"}
            assert {k: v for k, v in a.meta.items() if k not in skip} == \
                {k: v for k, v in b.meta.items() if k not in skip}
            if name != "vgg16" or a.name != "IMAGENET1K_FEATURES":  # NaN != NaN
                assert a.meta["_metrics"] == b.meta["_metrics"]


@needs_torchvision
def test_preset_transform_matches_torchvision():
    from PIL import Image

    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 280, 3), np.uint8))
    got = M.ResNet50_Weights.DEFAULT.transforms()(img).numpy()
    want = torchvision.models.ResNet50_Weights.DEFAULT.transforms()(img).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
