"""VGG (Simonyan & Zisserman 2014), with and without batch norm, as torchvision builds it."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from ... import nn
from ..._tensor import Tensor
from ..transforms._presets import ImageClassification
from ._api import Weights, WeightsEnum
from ._utils import _imagenet_weights, _model_builder

__all__ = ["VGG", "VGG11_Weights", "VGG11_BN_Weights", "VGG13_Weights", "VGG13_BN_Weights",
           "VGG16_Weights", "VGG16_BN_Weights", "VGG19_Weights", "VGG19_BN_Weights", "vgg11",
           "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]


class VGG(nn.Module):
    """A convolutional ``features`` stack, a 7x7 adaptive pool and a three-layer classifier."""

    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes))
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def make_layers(cfg: list[str | int], batch_norm: bool = False) -> nn.Sequential:
    """3x3 convolutions (+ batch norm) + ReLU per number in cfg, a 2x2 max pool per "M"."""
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv2d = nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1)
            if batch_norm:
                layers += [conv2d, nn.BatchNorm2d(int(v)), nn.ReLU(inplace=True)]
            else:
                layers += [conv2d, nn.ReLU(inplace=True)]
            in_channels = int(v)
    return nn.Sequential(*layers)


# The configurations of the paper's table 1: A = VGG-11, B = 13, D = 16, E = 19.
cfgs: dict[str, list[str | int]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
          "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512,
          512, 512, 512, "M"],
}


def _vgg(cfg: str, batch_norm: bool) -> Callable[..., VGG]:
    def make(weights: WeightsEnum | None, **kwargs: Any) -> VGG:
        if weights is not None:
            kwargs["init_weights"] = False  # the checkpoint overwrites every parameter
        return VGG(make_layers(cfgs[cfg], batch_norm=batch_norm), **kwargs)

    return make


_RECIPE = "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg"
_DOCS = "These weights were trained from scratch by using a simplified training recipe."


def _w(file, num_params, acc1, acc5, ops, file_size, **extra):
    return _imagenet_weights(file, num_params, (32, 32), _RECIPE, acc1, acc5, ops, file_size,
                             _docs=_DOCS, **extra)


class VGG11_Weights(WeightsEnum):
    """The pretrained weights of vgg11, ImageNet-1K."""

    IMAGENET1K_V1 = DEFAULT = _w("vgg11-8a719046.pth", 132863336, 69.02, 88.628, 7.609, 506.84)


class VGG11_BN_Weights(WeightsEnum):
    """The pretrained weights of vgg11_bn, ImageNet-1K."""

    IMAGENET1K_V1 = DEFAULT = _w("vgg11_bn-6002323d.pth", 132868840, 70.37, 89.81, 7.609, 506.881)


class VGG13_Weights(WeightsEnum):
    """The pretrained weights of vgg13, ImageNet-1K."""

    IMAGENET1K_V1 = DEFAULT = _w("vgg13-19584684.pth", 133047848, 69.928, 89.246, 11.308, 507.545)


class VGG13_BN_Weights(WeightsEnum):
    """The pretrained weights of vgg13_bn, ImageNet-1K."""

    IMAGENET1K_V1 = DEFAULT = _w("vgg13_bn-abd245e5.pth", 133053736, 71.586, 90.374, 11.308, 507.59)


def _vgg16_features():
    # SSD's backbone: only `features` is trained; inputs in [0, 255] minus the mean pixel.
    return Weights(
        url="https://download.pytorch.org/models/vgg16_features-amdegroot-88682ab5.pth",
        transforms=partial(ImageClassification, crop_size=224, mean=(0.48235, 0.45882, 0.40784),
                           std=(1.0 / 255.0, 1.0 / 255.0, 1.0 / 255.0)),
        meta={"min_size": (32, 32), "categories": None, "num_params": 138357544,
              "recipe": "https://github.com/amdegroot/ssd.pytorch#training-ssd",
              "_metrics": {"ImageNet-1K": {"acc@1": float("nan"), "acc@5": float("nan")}},
              "_ops": 15.47, "_file_size": 527.802,
              "_docs": "Only the `features` module has valid values; not for classification."})


class VGG16_Weights(WeightsEnum):
    """The pretrained weights of vgg16, ImageNet-1K."""

    IMAGENET1K_V1 = _w("vgg16-397923af.pth", 138357544, 71.592, 90.382, 15.47, 527.796)
    IMAGENET1K_FEATURES = _vgg16_features()
    DEFAULT = IMAGENET1K_V1  # last, as torchvision lists the members


class VGG16_BN_Weights(WeightsEnum):
    """The pretrained weights of vgg16_bn, ImageNet-1K."""

    IMAGENET1K_V1 = DEFAULT = _w("vgg16_bn-6c64b313.pth", 138365992, 73.36, 91.516, 15.47, 527.866)


class VGG19_Weights(WeightsEnum):
    """The pretrained weights of vgg19, ImageNet-1K."""

    IMAGENET1K_V1 = DEFAULT = _w("vgg19-dcbb9e9d.pth", 143667240, 72.376, 90.876, 19.632, 548.051)


class VGG19_BN_Weights(WeightsEnum):
    """The pretrained weights of vgg19_bn, ImageNet-1K."""

    IMAGENET1K_V1 = DEFAULT = _w(
        "vgg19_bn-c79401a0.pth", 143678248, 74.218, 91.842, 19.632, 548.143)


def _builder(name: str, cfg: str, batch_norm: bool, enum: type[WeightsEnum], params: str):
    doc = f"VGG-{name[3:5]}{' with batch norm' if batch_norm else ''} ({params})."
    return _model_builder(name, enum, _vgg(cfg, batch_norm), doc, "VGG")


vgg11 = _builder("vgg11", "A", False, VGG11_Weights, "132.9M parameters")
vgg11_bn = _builder("vgg11_bn", "A", True, VGG11_BN_Weights, "132.9M parameters")
vgg13 = _builder("vgg13", "B", False, VGG13_Weights, "133.0M parameters")
vgg13_bn = _builder("vgg13_bn", "B", True, VGG13_BN_Weights, "133.1M parameters")
vgg16 = _builder("vgg16", "D", False, VGG16_Weights, "138.4M parameters")
vgg16_bn = _builder("vgg16_bn", "D", True, VGG16_BN_Weights, "138.4M parameters")
vgg19 = _builder("vgg19", "E", False, VGG19_Weights, "143.7M parameters")
vgg19_bn = _builder("vgg19_bn", "E", True, VGG19_BN_Weights, "143.7M parameters")
