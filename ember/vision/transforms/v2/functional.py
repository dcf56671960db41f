"""torchvision.transforms.v2.functional: the functional forms under their v2 names.

Each works on one image (PIL or tensor); the kernels are the v1 ones.
"""
from __future__ import annotations

import numpy as np

from ...._creation import from_numpy
from ...._dtype import float32
from ...._tensor import Tensor
from ..functional import (
    InterpolationMode,
    _is_pil,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    affine,
    center_crop,
    convert_image_dtype,
    crop,
    get_dimensions,
    normalize,
    pad,
    pil_to_tensor,
    resize,
    resized_crop,
    rgb_to_grayscale,
    rotate,
    to_pil_image,
    to_tensor,
)
from ..functional import hflip as horizontal_flip
from ..functional import vflip as vertical_flip

hflip = horizontal_flip
vflip = vertical_flip
to_grayscale = rgb_to_grayscale

__all__ = [
    "InterpolationMode", "adjust_brightness", "adjust_contrast", "adjust_hue",
    "adjust_saturation", "affine", "center_crop", "convert_image_dtype", "crop",
    "get_dimensions", "get_num_channels", "get_size", "hflip", "horizontal_flip", "normalize",
    "pad", "pil_to_tensor", "resize", "resized_crop", "rgb_to_grayscale", "rotate", "to_dtype",
    "to_grayscale", "to_image", "to_pil_image", "to_tensor", "vertical_flip", "vflip",
]


def to_image(inpt) -> Tensor:
    """PIL image, HWC ndarray or tensor -> [C, H, W] tensor (uint8 for PIL images)."""
    if _is_pil(inpt):
        return pil_to_tensor(inpt)
    if isinstance(inpt, np.ndarray):
        arr = inpt[:, :, None] if inpt.ndim == 2 else inpt
        return from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    if isinstance(inpt, Tensor):
        return inpt.unsqueeze(0) if inpt.ndim == 2 else inpt
    raise TypeError(f"Input can either be a pure Tensor, a numpy array, or a PIL image, but got "
                    f"{type(inpt)} instead.")


def to_dtype(inpt: Tensor, dtype=None, scale: bool = False) -> Tensor:
    """Convert to ``dtype`` (default float32); ``scale=True`` also rescales the value range."""
    if dtype is None:
        dtype = float32
    if not scale or inpt.dtype == dtype:
        return inpt.to(dtype)
    if inpt.dtype.is_floating_point or not dtype.is_floating_point:
        return convert_image_dtype(inpt, dtype)
    # integer -> float: v2 multiplies by the reciprocal (v1 divides; they differ by an ulp)
    top = np.iinfo(inpt.detach().numpy().dtype).max
    return inpt.to(dtype) * (1.0 / top)


def get_size(inpt) -> list[int]:
    """[height, width] of an image."""
    return get_dimensions(inpt)[1:]


def get_num_channels(inpt) -> int:
    """Number of channels of an image."""
    return get_dimensions(inpt)[0]
