"""make_grid, save_image, draw_bounding_boxes, draw_segmentation_masks (torchvision.utils)."""
from __future__ import annotations

import math
import warnings

import numpy as np

from .._dtype import uint8
from .._tensor import Tensor, _make
from .transforms.v2.functional import to_dtype

__all__ = ["draw_bounding_boxes", "draw_segmentation_masks", "make_grid", "save_image"]


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
    from PIL import Image  # Pillow: optional (the vision extra), imported on use

    grid = make_grid(tensor, **kwargs)._data
    ndarr = np.clip(grid * 255 + 0.5, 0, 255).transpose(1, 2, 0).astype(np.uint8)
    Image.fromarray(ndarr).save(fp, format=format)


# ---- drawing ------------------------------------------------------------------------------------

def _palette(n: int) -> list[tuple[int, int, int]]:
    """torchvision's default colours: multiples of three large odd numbers, modulo 255."""
    return [tuple(int(i * p % 255) for p in (2**25 - 1, 2**15 - 1, 2**21 - 1)) for i in range(n)]


def _parse_colors(colors, num_objects: int, floating: bool = False) -> list[tuple]:
    from PIL import ImageColor  # optional, as above

    if colors is None:
        colors = _palette(num_objects)
    elif isinstance(colors, list):
        if len(colors) < num_objects:
            raise ValueError("Number of colors must be equal or larger than the number of "
                             f"objects, but got {len(colors)} < {num_objects}.")
    elif not isinstance(colors, (tuple, str)):
        raise ValueError(f"colors must be a tuple or a string, or a list thereof, but got "
                         f"{colors}.")
    elif isinstance(colors, tuple) and len(colors) != 3:
        raise ValueError(f"If passed as tuple, colors should be an RGB triplet, but got {colors}.")
    else:
        colors = [colors] * num_objects
    colors = [ImageColor.getrgb(c) if isinstance(c, str) else tuple(c) for c in colors]
    if floating:
        colors = [tuple(v / 255 for v in c) for c in colors]
    return colors


def _check_image(image, fn: str):
    if not isinstance(image, Tensor):
        raise TypeError(f"Tensor expected, got {type(image)}" if fn == "boxes" else
                        f"The image must be a tensor, got {type(image)}")
    if not (image.dtype.is_floating_point or image.dtype == uint8):
        raise ValueError(f"The image dtype must be uint8 or float, got {image.dtype}")
    if image.ndim != 3:
        raise ValueError("Pass individual images, not batches")


def draw_bounding_boxes(image: Tensor, boxes: Tensor, labels: list[str] | None = None,
                        colors=None, fill: bool | None = False, width: int = 1,
                        font: str | None = None, font_size: int | None = None,
                        label_colors=None, label_background_colors=None,
                        fill_labels: bool = False) -> Tensor:
    """Draw (xmin, ymin, xmax, ymax) boxes, and optional labels, on a [C, H, W] image."""
    from PIL import Image, ImageDraw, ImageFont  # optional, as above

    _check_image(image, "boxes")
    if image.shape[0] not in (1, 3):
        raise ValueError("Only grayscale and RGB images are supported")
    b = boxes.detach().numpy()
    if b.ndim != 2 or b.shape[-1] not in (4, 8):
        raise ValueError(f"boxes must be of shape (N, 4) or (N, 8), got {tuple(b.shape)}")
    if b.shape[-1] == 8:
        raise NotImplementedError("ember draws axis-aligned (N, 4) boxes only, not oriented "
                                  "(N, 8) ones")
    if ((b[:, 0] > b[:, 2]).any() or (b[:, 1] > b[:, 3]).any()):
        raise ValueError("Boxes need to be in (xmin, ymin, xmax, ymax) format. Use "
                         "torchvision.ops.box_convert to convert them")
    n = b.shape[0]
    if n == 0:
        warnings.warn("boxes doesn't contain any box. No box was drawn")
        return image
    if labels is None:
        labels = [None] * n
    elif len(labels) != n:
        raise ValueError(f"Number of boxes ({n}) and labels ({len(labels)}) mismatch. Please "
                         "specify labels for each box.")
    colors = _parse_colors(colors, n)
    label_colors = (_parse_colors(label_colors or "black", n) if label_colors or fill_labels
                    else list(colors))
    label_background_colors = (_parse_colors(label_background_colors, n)
                               if fill_labels and label_background_colors else list(colors))
    if font is None:
        if font_size is not None:
            warnings.warn("Argument 'font_size' will be ignored since 'font' is not set.")
        txt_font = ImageFont.load_default()
    else:
        txt_font = ImageFont.truetype(font=font, size=font_size or 10)

    floating = image.dtype.is_floating_point
    img = to_dtype(image, uint8, scale=True) if floating else image
    arr = img.detach().numpy()
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 3, axis=0)
    canvas = Image.fromarray(np.ascontiguousarray(arr.transpose(1, 2, 0)), "RGB")
    draw = ImageDraw.Draw(canvas, "RGBA" if fill else None)
    # float coordinates truncate toward zero, as tensor.to(int64) does
    for box, color, label, lcolor, bgcolor in zip(np.trunc(b).astype(np.int64).tolist(), colors,
                                                  labels, label_colors,
                                                  label_background_colors):
        draw.rectangle(box, width=width, outline=color,
                       fill=tuple(color) + (100,) if fill else None)
        if label is not None:
            margin = width + 1
            at = (box[0] + margin, box[1] + margin)
            if fill_labels:
                left, top, right, bottom = draw.textbbox(at, label, font=txt_font)
                draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=bgcolor)
            draw.text(at, label, fill=lcolor, font=txt_font)
    out = _make(np.ascontiguousarray(np.asarray(canvas).transpose(2, 0, 1)), False, None, 0)
    return to_dtype(out, image.dtype, scale=True) if floating else out


def draw_segmentation_masks(image: Tensor, masks: Tensor, alpha: float = 0.8,
                            colors=None) -> Tensor:
    """Blend boolean masks ([N, H, W] or [H, W]) over an RGB [3, H, W] image."""
    _check_image(image, "masks")
    if image.shape[0] != 3:
        raise ValueError("Pass an RGB image. Other Image formats are not supported")
    m = masks.detach().numpy()
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise ValueError("masks must be of shape (H, W) or (batch_size, H, W)")
    if m.dtype != np.bool_:
        raise ValueError(f"The masks must be of dtype bool. Got {masks.dtype}")
    if m.shape[-2:] != tuple(image.shape[-2:]):
        raise ValueError("The image and the masks must have the same height and width")
    if m.shape[0] == 0:
        warnings.warn("masks doesn't contain any mask. No mask was drawn")
        return image
    x = image.detach().numpy()
    floating = x.dtype.kind == "f"
    drawn = x.copy()
    for mask, color in zip(m, _parse_colors(colors, m.shape[0], floating)):
        drawn[:, mask] = np.asarray(color, dtype=x.dtype)[:, None]
    drawn[:, m.sum(0) > 1] = 0  # where masks overlap, no single colour is right: black
    # torch rounds each Python-float factor to float32 once: 1 - alpha is taken in double
    out = x.astype(np.float32) * np.float32(1 - alpha) + drawn.astype(np.float32) * np.float32(alpha)
    if not floating:
        out = out.astype(np.uint8)  # truncation, as a float tensor's .to(uint8)
    return _make(out.astype(x.dtype, copy=False), False, None, 0)
