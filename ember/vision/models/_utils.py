"""Shared pieces of the model builders: weights metadata and the pretrained-weights loading."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from ..transforms._presets import ImageClassification
from ._api import (
    Weights,
    WeightsEnum,
    _ovewrite_named_param,
    handle_legacy_interface,
    register_model,
)
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


def _model_builder(name: str, enum: type[WeightsEnum], make: Callable[..., Any], doc: str,
                   returns: str) -> Callable[..., Any]:
    """The registered public builder ``name(*, weights=None, progress=True, **kwargs)``.

    It resolves ``weights`` to a member of ``enum`` (also from the legacy ``pretrained=``), fixes
    ``num_classes`` to the checkpoint's class count, and builds ``make(weights, **kwargs)``.
    """
    def build(*, weights: WeightsEnum | None = None, progress: bool = True, **kwargs: Any) -> Any:
        weights = enum.verify(weights)
        if weights is not None and weights.meta["categories"] is not None:
            _ovewrite_named_param(kwargs, "num_classes", len(weights.meta["categories"]))
        return _build(lambda: make(weights, **kwargs), weights, progress)

    build.__name__ = build.__qualname__ = name
    build.__module__ = enum.__module__
    build.__doc__ = doc
    # postponed-annotation strings, resolved in enum's module (as get_model_weights does)
    build.__annotations__ = {"weights": f"{enum.__name__} | None", "progress": "bool",
                             "kwargs": "Any", "return": returns}
    legacy = handle_legacy_interface(weights=("pretrained", enum.IMAGENET1K_V1))
    return register_model(name)(legacy(build))


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of divisor, never more than 10% down (MobileNet)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v
