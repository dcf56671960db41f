"""ember.vision.models: torchvision's classification models, weights enums and registry."""
from __future__ import annotations

# torchvision.models.mobilenet re-exports mobilenetv2; keep that import path too.
from . import mobilenetv2 as mobilenet  # noqa: E402,F401
from ._api import (
                   Weights,
                   WeightsEnum,
                   get_model,
                   get_model_builder,
                   get_model_weights,
                   get_weight,
                   list_models,
)
from .alexnet import *  # noqa: F401,F403
from .mobilenetv2 import *  # noqa: F401,F403
from .resnet import *  # noqa: F401,F403
from .squeezenet import *  # noqa: F401,F403
from .vgg import *  # noqa: F401,F403
