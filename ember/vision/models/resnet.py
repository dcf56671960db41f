"""ResNet (He et al. 2015) as torchvision builds it: same module names, keys and init."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ... import nn
from ..._tensor import Tensor
from ._api import WeightsEnum, _ovewrite_named_param
from ._utils import _imagenet_weights, _model_builder

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "ResNet18_Weights", "ResNet34_Weights",
           "ResNet50_Weights", "ResNet101_Weights", "ResNet152_Weights", "resnet18",
           "resnet34", "resnet50", "resnet101", "resnet152", "ResNeXt50_32X4D_Weights",
           "ResNeXt101_32X8D_Weights", "ResNeXt101_64X4D_Weights", "Wide_ResNet50_2_Weights",
           "Wide_ResNet101_2_Weights", "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
           "wide_resnet50_2", "wide_resnet101_2"]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1,
            dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1, base_width: int = 64,
                 dilation: int = 1, norm_layer: Callable[..., nn.Module] | None = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided: ResNet v1.5), 1x1 expand by 4, with a residual connection."""

    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1, base_width: int = 64,
                 dilation: int = 1, norm_layer: Callable[..., nn.Module] | None = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem, four stages of residual blocks, global average pool, fully connected head."""

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int],
                 num_classes: int = 1000, zero_init_residual: bool = False, groups: int = 1,
                 width_per_group: int = 64,
                 replace_stride_with_dilation: list[bool] | None = None,
                 norm_layer: Callable[..., nn.Module] | None = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self._norm_layer = norm_layer
        self.inplanes = 64
        self.dilation = 1
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError("replace_stride_with_dilation should be None or a 3-element tuple, "
                             f"got {replace_stride_with_dilation}")
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2,
                                       dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2,
                                       dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2,
                                       dilate=replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        # Each residual branch then starts as the identity, which helps deep nets (Goyal et al.).
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck) and m.bn3.weight is not None:
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock) and m.bn2.weight is not None:
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int,
                    stride: int = 1, dilate: bool = False) -> nn.Sequential:
        norm_layer = self._norm_layer
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       norm_layer(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                        previous_dilation, norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups,
                                base_width=self.base_width, dilation=self.dilation,
                                norm_layer=norm_layer))
        return nn.Sequential(*layers)

    def _forward_impl(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        return self._forward_impl(x)


def _resnet(block: type[BasicBlock | Bottleneck], layers: list[int],
            **fixed: int) -> Callable[..., ResNet]:
    """Make a ResNet of ``layers`` blocks per stage; ``fixed`` are the variant's own settings
    (the groups and width of ResNeXt and Wide ResNet), which the caller may only repeat."""
    def make(weights: WeightsEnum | None, **kwargs: Any) -> ResNet:
        for param, value in fixed.items():
            _ovewrite_named_param(kwargs, param, value)
        return ResNet(block, layers, **kwargs)

    return make


_V1_RECIPE = "https://github.com/pytorch/vision/tree/main/references/classification#resnet"
_V1_DOCS = ("These weights reproduce closely the results of the paper using a simple training "
            "recipe.")
_V2_DOCS = ("These weights improve upon the results of the original paper by using TorchVision's "
            "new training recipe.")
_RESNEXT_RECIPE = "https://github.com/pytorch/vision/tree/main/references/classification#resnext"
_WIDE_RECIPE = "https://github.com/pytorch/vision/pull/912#issue-445437439"
_NEW_RECIPE = "https://github.com/pytorch/vision/issues/3995#new-recipe"


def _v1(file: str, num_params: int, acc1: float, acc5: float, ops: float, file_size: float,
        recipe: str = _V1_RECIPE):
    """A checkpoint of the paper's recipe (evaluated at 224 after a resize to 256)."""
    return _imagenet_weights(file, num_params, (1, 1), recipe, acc1, acc5, ops, file_size,
                             _docs=_V1_DOCS)


def _v2(file: str, num_params: int, acc1: float, acc5: float, ops: float, file_size: float,
        recipe: str = _NEW_RECIPE):
    """A checkpoint of TorchVision's new recipe (evaluated at 224 after a resize to 232)."""
    return _imagenet_weights(file, num_params, (1, 1), recipe, acc1, acc5, ops, file_size,
                             resize_size=232, _docs=_V2_DOCS)


class ResNet18_Weights(WeightsEnum):
    """The pretrained weights of resnet18, ImageNet-1K."""

    IMAGENET1K_V1 = DEFAULT = _v1("resnet18-f37072fd.pth", 11689512, 69.758, 89.078, 1.814, 44.661)


class ResNet34_Weights(WeightsEnum):
    """The pretrained weights of resnet34, ImageNet-1K."""

    IMAGENET1K_V1 = DEFAULT = _v1("resnet34-b627a593.pth", 21797672, 73.314, 91.42, 3.664, 83.275)


class ResNet50_Weights(WeightsEnum):
    """The pretrained weights of resnet50, ImageNet-1K."""

    IMAGENET1K_V1 = _v1("resnet50-0676ba61.pth", 25557032, 76.13, 92.862, 4.089, 97.781)
    IMAGENET1K_V2 = DEFAULT = _v2(
        "resnet50-11ad3fa6.pth", 25557032, 80.858, 95.434, 4.089, 97.79,
        "https://github.com/pytorch/vision/issues/3995#issuecomment-1013906621")


class ResNet101_Weights(WeightsEnum):
    """The pretrained weights of resnet101, ImageNet-1K."""

    IMAGENET1K_V1 = _v1("resnet101-63fe2227.pth", 44549160, 77.374, 93.546, 7.801, 170.511)
    IMAGENET1K_V2 = DEFAULT = _v2("resnet101-cd907fc2.pth", 44549160, 81.886, 95.78, 7.801, 170.53)


class ResNet152_Weights(WeightsEnum):
    """The pretrained weights of resnet152, ImageNet-1K."""

    IMAGENET1K_V1 = _v1("resnet152-394f9c45.pth", 60192808, 78.312, 94.046, 11.514, 230.434)
    IMAGENET1K_V2 = DEFAULT = _v2("resnet152-f82ba261.pth", 60192808, 82.284, 96.002, 11.514,
                                  230.474)


def _builder(name: str, enum: type[WeightsEnum], make: Callable[..., ResNet],
             doc: str) -> Callable[..., ResNet]:
    return _model_builder(name, enum, make, doc, "ResNet")


resnet18 = _builder("resnet18", ResNet18_Weights, _resnet(BasicBlock, [2, 2, 2, 2]),
                    "ResNet-18 (11.7M parameters).")
resnet34 = _builder("resnet34", ResNet34_Weights, _resnet(BasicBlock, [3, 4, 6, 3]),
                    "ResNet-34 (21.8M parameters).")
resnet50 = _builder("resnet50", ResNet50_Weights, _resnet(Bottleneck, [3, 4, 6, 3]),
                    "ResNet-50 (25.6M parameters).")
resnet101 = _builder("resnet101", ResNet101_Weights, _resnet(Bottleneck, [3, 4, 23, 3]),
                     "ResNet-101 (44.5M parameters).")
resnet152 = _builder("resnet152", ResNet152_Weights, _resnet(Bottleneck, [3, 8, 36, 3]),
                     "ResNet-152 (60.2M parameters).")


class ResNeXt50_32X4D_Weights(WeightsEnum):
    """The pretrained weights of resnext50_32x4d, ImageNet-1K."""

    IMAGENET1K_V1 = _v1("resnext50_32x4d-7cdf4587.pth", 25028904, 77.618, 93.698, 4.23, 95.789,
                        _RESNEXT_RECIPE)
    IMAGENET1K_V2 = DEFAULT = _v2("resnext50_32x4d-1a0047aa.pth", 25028904, 81.198, 95.34, 4.23,
                                  95.833)


class ResNeXt101_32X8D_Weights(WeightsEnum):
    """The pretrained weights of resnext101_32x8d, ImageNet-1K."""

    IMAGENET1K_V1 = _v1("resnext101_32x8d-8ba56ff5.pth", 88791336, 79.312, 94.526, 16.414,
                        339.586, _RESNEXT_RECIPE)
    IMAGENET1K_V2 = DEFAULT = _v2("resnext101_32x8d-110c445d.pth", 88791336, 82.834, 96.228,
                                  16.414, 339.673, _NEW_RECIPE + "-with-fixres")


class ResNeXt101_64X4D_Weights(WeightsEnum):
    """The pretrained weights of resnext101_64x4d, ImageNet-1K."""

    IMAGENET1K_V1 = DEFAULT = _v2("resnext101_64x4d-173b62eb.pth", 83455272, 83.246, 96.454,
                                  15.46, 319.318, "https://github.com/pytorch/vision/pull/5935")


class Wide_ResNet50_2_Weights(WeightsEnum):
    """The pretrained weights of wide_resnet50_2, ImageNet-1K."""

    IMAGENET1K_V1 = _v1("wide_resnet50_2-95faca4d.pth", 68883240, 78.468, 94.086, 11.398, 131.82,
                        _WIDE_RECIPE)
    IMAGENET1K_V2 = DEFAULT = _v2("wide_resnet50_2-9ba9bcbe.pth", 68883240, 81.602, 95.758,
                                  11.398, 263.124, _NEW_RECIPE + "-with-fixres")


class Wide_ResNet101_2_Weights(WeightsEnum):
    """The pretrained weights of wide_resnet101_2, ImageNet-1K."""

    IMAGENET1K_V1 = _v1("wide_resnet101_2-32ee1156.pth", 126886696, 78.848, 94.284, 22.753,
                        242.896, _WIDE_RECIPE)
    IMAGENET1K_V2 = DEFAULT = _v2("wide_resnet101_2-d733dc28.pth", 126886696, 82.51, 96.02, 22.753,
                                  484.747)


# ResNeXt: grouped 3x3 convolutions; Wide ResNet: twice the 3x3 width (Bottleneck stages).
resnext50_32x4d = _builder("resnext50_32x4d", ResNeXt50_32X4D_Weights,
                           _resnet(Bottleneck, [3, 4, 6, 3], groups=32, width_per_group=4),
                           "ResNeXt-50 32x4d (25.0M parameters).")
resnext101_32x8d = _builder("resnext101_32x8d", ResNeXt101_32X8D_Weights,
                            _resnet(Bottleneck, [3, 4, 23, 3], groups=32, width_per_group=8),
                            "ResNeXt-101 32x8d (88.8M parameters).")
resnext101_64x4d = _builder("resnext101_64x4d", ResNeXt101_64X4D_Weights,
                            _resnet(Bottleneck, [3, 4, 23, 3], groups=64, width_per_group=4),
                            "ResNeXt-101 64x4d (83.5M parameters).")
wide_resnet50_2 = _builder("wide_resnet50_2", Wide_ResNet50_2_Weights,
                           _resnet(Bottleneck, [3, 4, 6, 3], width_per_group=128),
                           "Wide ResNet-50-2 (68.9M parameters).")
wide_resnet101_2 = _builder("wide_resnet101_2", Wide_ResNet101_2_Weights,
                            _resnet(Bottleneck, [3, 4, 23, 3], width_per_group=128),
                            "Wide ResNet-101-2 (126.9M parameters).")
