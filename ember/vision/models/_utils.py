"""Shared pieces of the model builders: weights metadata and the pretrained-weights loading."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from ..transforms._presets import ImageClassification
from ._api import Weights, WeightsEnum
from ._meta import _IMAGENET_CATEGORIES


def _imagenet_weights(file: str, num_params: int, min_size: tuple[int, int], recipe: str,
                      acc1: float, acc5: float, ops: float, file_size: float,
                      resize_size: int = 256, **extra: Any) -> Weights:
    """An ImageNet-1K classification checkpoint on download.pytorch.org/models."""
    return Weights(
        url=f"https://download.pytorch.org/models/{file}",
        transforms=partial(ImageClassification, crop_size=224,
                           **({} if resize_size == 256 else {"resize_size": resize_size})),
        meta={"min_size": min_size, "categories": list(_IMAGENET_CATEGORIES),
              "num_params": num_params, "recipe": recipe,
              "_metrics": {"ImageNet-1K": {"acc@1": acc1, "acc@5": acc5}},
              "_ops": ops, "_file_size": file_size, **extra})


def _build(make: Callable[[], Any], weights: WeightsEnum | None, progress: bool) -> Any:
    """make() the model and load weights into it; the checkpoint is fetched first, so a failed
    download costs no model construction."""
    state = None if weights is None else weights.get_state_dict(progress=progress,
                                                                 check_hash=True)
    model = make()
    if state is not None:
        model.load_state_dict(state)
    return model


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of divisor, never more than 10% down (MobileNet)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v
