"""AlexNet (Krizhevsky 2014's "one weird trick" variant), as torchvision builds it."""
from __future__ import annotations

from ... import nn
from ..._tensor import Tensor
from ._api import WeightsEnum
from ._utils import _imagenet_weights, _model_builder

__all__ = ["AlexNet", "AlexNet_Weights", "alexnet"]


class AlexNet(nn.Module):
    """Five convolutions, a 6x6 adaptive pool and a three-layer classifier (default init)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


class AlexNet_Weights(WeightsEnum):
    """The pretrained weights of alexnet, ImageNet-1K."""

    IMAGENET1K_V1 = DEFAULT = _imagenet_weights(
        "alexnet-owt-7be5be79.pth", 61100840, (63, 63),
        "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
        56.522, 79.066, 0.714, 233.087,
        _docs="These weights reproduce closely the results of the paper using a simplified "
              "training recipe.")


alexnet = _model_builder("alexnet", AlexNet_Weights, lambda weights, **kwargs: AlexNet(**kwargs),
                         "AlexNet (61.1M parameters).", "AlexNet")
