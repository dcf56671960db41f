"""make_grid and save_image (torchvision.utils), in NumPy."""
from __future__ import annotations

import math

import numpy as np

from .._tensor import Tensor, _make

__all__ = ["make_grid", "save_image"]


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple | None = None, scale_each: bool = False,
              pad_value: float = 0.0) -> Tensor:
    """Tile a [B, C, H, W] batch (or a list of [C, H, W] images) into one [C, H', W'] image."""
    if not isinstance(tensor, Tensor):
        if isinstance(tensor, list):
            for t in tensor:
                if not isinstance(t, Tensor):
                    raise TypeError(f"tensor or list of tensors expected, got a list containing {type(t)}")
        else:
            raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    x = np.stack([t.detach()._data for t in tensor]) if isinstance(tensor, list) \
        else tensor.detach()._data
    if x.ndim == 2:  # single image H x W
        x = x[None]
    if x.ndim == 3:  # single image
        if x.shape[0] == 1:  # single-channel: grey as RGB
            x = np.concatenate((x, x, x), 0)
        x = x[None]
    if x.ndim == 4 and x.shape[1] == 1:
        x = np.concatenate((x, x, x), 1)
    if normalize is True:
        x = x.copy()
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")

        def norm_range(t):
            low, high = value_range if value_range is not None else (float(t.min()), float(t.max()))
            np.clip(t, low, high, out=t)
            t -= low
            t /= max(high - low, 1e-5)

        if scale_each is True:
            for t in x:  # per image of the batch
                norm_range(t)
        else:
            norm_range(x)
    if x.shape[0] == 1:
        return _make(x[0], False, None, 0)
    nmaps, num_channels, h, w = x.shape
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = h + padding, w + padding
    # Each cell is `padding` rows/cols of pad_value then the image; one more border at the end.
    cells = np.full((num_channels, ymaps, height, xmaps, width), pad_value, dtype=x.dtype)
    full = np.full((ymaps * xmaps, num_channels, h, w), pad_value, dtype=x.dtype)
    full[:nmaps] = x
    cells[:, :, padding:, :, padding:] = full.reshape(ymaps, xmaps, num_channels, h, w) \
        .transpose(2, 0, 3, 1, 4)
    grid = np.full((num_channels, ymaps * height + padding, xmaps * width + padding), pad_value,
                   dtype=x.dtype)
    grid[:, :ymaps * height, :xmaps * width] = cells.reshape(num_channels, ymaps * height,
                                                             xmaps * width)
    return _make(grid, False, None, 0)


def save_image(tensor, fp, format: str | None = None, **kwargs) -> None:
    """Save a tensor (or a batch, tiled with make_grid) as an image file."""
    from PIL import Image

    grid = make_grid(tensor, **kwargs)._data
    ndarr = np.clip(grid * 255 + 0.5, 0, 255).transpose(1, 2, 0).astype(np.uint8)
    Image.fromarray(ndarr).save(fp, format=format)
