"""The functional image transforms (torchvision.transforms.functional).

PIL images go through the same Pillow calls torchvision makes (so results are identical);
tensors ([..., C, H, W]) are handled in NumPy where torchvision supports them. Randomness comes
from ember's generator, so ``ember.manual_seed`` reproduces a pipeline.
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from enum import Enum

import numpy as np

from ... import _dtype
from ..._creation import empty
from ..._dtype import get_default_dtype
from ..._random import rand, randint, randperm
from ..._tensor import Tensor, _make

__all__ = [
    "InterpolationMode",
    "get_dimensions",
    "to_tensor",
    "pil_to_tensor",
    "to_pil_image",
    "convert_image_dtype",
    "normalize",
    "resize",
    "crop",
    "center_crop",
    "pad",
    "hflip",
    "vflip",
    "resized_crop",
    "rotate",
    "affine",
    "rgb_to_grayscale",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
]


class InterpolationMode(Enum):
    """Interpolation modes, as torchvision.transforms.InterpolationMode."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


_PIL_MODES = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
_FROM_INT = {0: InterpolationMode.NEAREST, 2: InterpolationMode.BILINEAR,
             3: InterpolationMode.BICUBIC, 4: InterpolationMode.BOX,
             5: InterpolationMode.HAMMING, 1: InterpolationMode.LANCZOS}


def _interp(mode) -> InterpolationMode:
    if isinstance(mode, InterpolationMode):
        return mode
    if isinstance(mode, int):  # a PIL constant such as Image.BILINEAR
        return _FROM_INT[int(mode)]
    if isinstance(mode, str):
        return InterpolationMode(mode)
    raise TypeError("Argument interpolation should be of type InterpolationMode or int")


# ---- randomness through ember's generator ---------------------------------------------------------

def _rand() -> float:
    return rand(1).item()


def _randint(low: int, high: int) -> int:
    return int(randint(low, high, size=(1,)).item())


def _uniform(low: float, high: float) -> float:
    """``torch.empty(1).uniform_(low, high).item()``."""
    return empty(1).uniform_(low, high).item()


def _randperm(n: int) -> list[int]:
    return randperm(n).tolist()


# ---- helpers -----------------------------------------------------------------------------------------

def _is_pil(img) -> bool:
    try:
        from PIL import Image  # optional: without Pillow nothing is a PIL image
    except ImportError:  # pragma: no cover
        return False
    return isinstance(img, Image.Image)


def _pil():
    from PIL import Image  # Pillow is optional (the vision extra): imported on first use

    return Image


def _check_img(img):
    if not (isinstance(img, Tensor) or _is_pil(img)):
        raise TypeError(f"img should be PIL Image or Tensor. Got {type(img)}")


def get_dimensions(img) -> list[int]:
    """[channels, height, width] of a PIL image or a tensor."""
    if isinstance(img, Tensor):
        shape = img._data.shape
        channels = 1 if len(shape) == 2 else shape[-3]
        return [channels, shape[-2], shape[-1]]
    _check_img(img)
    width, height = img.size
    return [len(img.getbands()), height, width]


def _setup_size(size, error_msg):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError(error_msg)
    return size


def _new_like(img: Tensor, data: np.ndarray) -> Tensor:
    return _make(data, False, None, 0)


# ---- conversions --------------------------------------------------------------------------------------

def to_tensor(pic) -> Tensor:
    """PIL image or HWC ndarray -> CHW tensor; uint8 becomes float32 in [0, 1]."""
    if not (_is_pil(pic) or isinstance(pic, np.ndarray)):
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    if isinstance(pic, np.ndarray):
        if pic.ndim not in {2, 3}:
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        if pic.ndim == 2:
            pic = pic[:, :, None]
        img = np.ascontiguousarray(pic.transpose((2, 0, 1)))
    else:
        mode_to_nptype = {"I": np.int32, "I;16": np.int16, "F": np.float32}
        arr = np.array(pic, mode_to_nptype.get(pic.mode, np.uint8), copy=True)
        if pic.mode == "1":
            arr = 255 * arr
        arr = arr.reshape(pic.size[1], pic.size[0], len(pic.getbands()))
        img = np.ascontiguousarray(arr.transpose((2, 0, 1)))
    if img.dtype == np.uint8:
        dt = get_default_dtype().np
        img = img.astype(dt) / dt.type(255)  # a division, as torch's .div(255), for equal bits
    return _make(img, False, None, 0)


def pil_to_tensor(pic) -> Tensor:
    """PIL image -> CHW tensor of its own dtype (no scaling)."""
    if not _is_pil(pic):
        raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
    arr = np.array(pic, copy=True)
    arr = arr.reshape(pic.size[1], pic.size[0], len(pic.getbands()))
    if arr.dtype == np.uint16:
        arr = arr.astype(np.int32)
    return _make(arr.transpose((2, 0, 1)), False, None, 0)


def to_pil_image(pic, mode=None):
    """CHW tensor or HWC ndarray -> PIL image (floats are scaled by 255 unless mode is 'F')."""
    Image = _pil()
    if isinstance(pic, Tensor):
        if pic._data.ndim not in {2, 3}:
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic._data.ndim} dimensions.")
        data = pic.detach()._data
        if data.ndim == 2:
            data = data[None]
        if data.shape[-3] > 4:
            raise ValueError(f"pic should not have > 4 channels. Got {data.shape[-3]} channels.")
        if data.dtype.kind == "f" and mode != "F":
            data = (data * 255).astype(np.uint8)  # torch's .mul(255).byte() truncates
        npimg = np.transpose(data, (1, 2, 0))
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in {2, 3}:
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        npimg = pic[:, :, None] if pic.ndim == 2 else pic
        if npimg.shape[-1] > 4:
            raise ValueError(f"pic should not have > 4 channels. Got {npimg.shape[-1]} channels.")
    else:
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
    if npimg.shape[2] == 1:
        expected_mode = None
        npimg = npimg[:, :, 0]
        if npimg.dtype == np.uint8:
            expected_mode = "L"
        elif npimg.dtype == np.int16:
            expected_mode = "I;16"
        elif npimg.dtype == np.int32:
            expected_mode = "I"
        elif npimg.dtype == np.float32:
            expected_mode = "F"
        if mode is not None and mode != expected_mode:
            raise ValueError(f"Incorrect mode ({mode}) supplied for input type {np.dtype}. "
                             f"Should be {expected_mode}")
        mode = expected_mode
    elif npimg.shape[2] == 2:
        if mode is not None and mode != "LA":
            raise ValueError("Only modes ['LA'] are supported for 2D inputs")
        mode = "LA"
    elif npimg.shape[2] == 4:
        if mode is not None and mode not in ["RGBA", "CMYK", "RGBX"]:
            raise ValueError("Only modes ['RGBA', 'CMYK', 'RGBX'] are supported for 4D inputs")
        mode = mode or "RGBA"
    else:
        if mode is not None and mode not in ["RGB", "YCbCr", "HSV"]:
            raise ValueError("Only modes ['RGB', 'YCbCr', 'HSV'] are supported for 3D inputs")
        mode = mode or "RGB"
    if mode is None:
        raise TypeError(f"Input type {npimg.dtype} is not supported")
    return Image.fromarray(np.ascontiguousarray(npimg), mode=mode)


_INT_MAX = {np.dtype(np.uint8): 255, np.dtype(np.int8): 127, np.dtype(np.int16): 32767,
            np.dtype(np.int32): 2**31 - 1, np.dtype(np.int64): 2**63 - 1}


def convert_image_dtype(image: Tensor, dtype=None) -> Tensor:
    """Convert a tensor image's dtype, rescaling values ([0, 1] floats <-> [0, MAX] ints)."""
    if not isinstance(image, Tensor):
        raise TypeError("Input img should be Tensor Image")
    dtype = _dtype.float32 if dtype is None else _dtype.to_dtype(dtype)
    src, dst = image._data.dtype, dtype.np
    if src == dst:
        return image
    data = image._data
    if src.kind == "f":
        if dst.kind == "f":
            return _make(data.astype(dst), False, None, 0)
        if (src == np.float32 and dst in (np.int32, np.int64)) or (src == np.float64 and dst == np.int64):
            raise RuntimeError(f"The cast from {image.dtype} to {dtype} cannot be performed safely.")
        eps = 1e-3
        max_val = float(_INT_MAX[dst])
        return _make((data * src.type(max_val + 1.0 - eps)).astype(dst), False, None, 0)
    input_max = float(_INT_MAX[src])
    if dst.kind == "f":
        return _make(data.astype(dst) / dst.type(input_max), False, None, 0)
    output_max = float(_INT_MAX[dst])
    if input_max > output_max:
        factor = int((input_max + 1) // (output_max + 1))
        return _make((data // factor).astype(dst), False, None, 0)
    factor = int((output_max + 1) // (input_max + 1))
    return _make(data.astype(dst) * dst.type(factor), False, None, 0)


def normalize(tensor: Tensor, mean, std, inplace: bool = False) -> Tensor:
    """(tensor - mean) / std per channel of a [..., C, H, W] float tensor."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError("Expected tensor to be a tensor image of size (..., C, H, W). Got "
                         f"tensor.size() = {tensor.size()}")
    dt = tensor._data.dtype
    mean = np.asarray(mean._data if isinstance(mean, Tensor) else mean, dtype=dt)
    std = np.asarray(std._data if isinstance(std, Tensor) else std, dtype=dt)
    if (std == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, leading to "
                         "division by zero.")
    if mean.ndim == 1:
        mean = mean.reshape(-1, 1, 1)
    if std.ndim == 1:
        std = std.reshape(-1, 1, 1)
    if tensor._requires_grad:  # keep the graph: ember's differentiable arithmetic
        m, s = _make(mean, False, None, 0), _make(std, False, None, 0)
        return tensor.sub_(m).div_(s) if inplace else (tensor - m) / s
    if inplace:
        np.subtract(tensor._data, mean, out=tensor._data)
        np.divide(tensor._data, std, out=tensor._data)
        tensor._bump()
        return tensor
    return _make((tensor._data - mean) / std, False, None, 0)


# ---- geometry: PIL and tensors -------------------------------------------------------------------

def _output_size(image_size, size, max_size=None):
    """torchvision's _compute_resized_output_size: an int matches the shorter edge."""
    h, w = image_size
    short, long = (w, h) if w <= h else (h, w)
    if len(size) == 1:
        requested_new_short = size[0]
        new_short, new_long = requested_new_short, int(requested_new_short * long / short)
        if max_size is not None:
            if max_size <= requested_new_short:
                raise ValueError(
                    f"max_size = {max_size} must be strictly greater than the requested size for "
                    f"the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    else:
        new_w, new_h = size[1], size[0]
    return [new_h, new_w]


def _resize_weights(in_size: int, out_size: int, mode: str, antialias: bool, dtype) -> np.ndarray:
    """The (out, in) interpolation matrix of one axis, as torch's interpolate computes it."""
    scale = in_size / out_size
    i = np.arange(out_size)
    w = np.zeros((out_size, in_size), dtype=np.float64)
    if mode == "nearest":
        # float32 arithmetic, as torch's nearest_idx (floorf(i * (float)in / out))
        prod = i.astype(np.float32) * (np.float32(in_size) / np.float32(out_size))
        src = np.minimum(np.floor(prod).astype(np.int64), in_size - 1)
        w[i, src] = 1.0
    elif mode == "nearest-exact":
        src = np.minimum(np.floor((i + 0.5) * scale).astype(np.int64), in_size - 1)
        w[i, src] = 1.0
    elif antialias and scale > 1:
        # PIL's (and torch's antialiased) triangle filter stretched by the downscale factor.
        support = scale
        center = (i + 0.5) * scale
        xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)
        xmax = np.minimum((center + support + 0.5).astype(np.int64), in_size)
        j = np.arange(in_size)
        inside = (j[None] >= xmin[:, None]) & (j[None] < xmax[:, None])
        w = np.clip(1.0 - np.abs((j[None] - center[:, None] + 0.5) / scale), 0.0, None) * inside
        w /= w.sum(axis=1, keepdims=True)
    else:  # bilinear, align_corners=False
        src = np.maximum((i + 0.5) * scale - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
        hi = np.minimum(lo + 1, in_size - 1)
        frac = src - lo
        np.add.at(w, (i, lo), 1.0 - frac)
        np.add.at(w, (i, hi), frac)
    return w.astype(dtype)


def _cast_in(data):
    return data if data.dtype.kind == "f" else data.astype(np.float32)


def _cast_out(result, dtype):
    if dtype.kind in "iu":
        result = np.round(result)
        if dtype == np.uint8:
            result = np.clip(result, 0, 255)
    return result.astype(dtype)


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    """Resize a PIL image (Pillow's resize, as torchvision) or a [..., H, W] tensor."""
    interpolation = _interp(interpolation)
    _, h, w = get_dimensions(img)
    if isinstance(size, int):
        size = [size]
    output_size = _output_size((h, w), list(size), max_size)
    if [h, w] == output_size:
        return img
    if not isinstance(img, Tensor):
        if antialias is False:
            warnings.warn("Anti-alias option is always applied for PIL Image input. Argument "
                          "antialias is ignored.")
        return img.resize(tuple(output_size[::-1]), _PIL_MODES[interpolation.value])
    mode = interpolation.value
    if mode not in ("nearest", "nearest-exact", "bilinear"):
        raise NotImplementedError(f"ember: tensor resize supports nearest and bilinear, not {mode}")
    data = img.detach()._data
    x = _cast_in(data)
    wh = _resize_weights(h, output_size[0], mode, antialias, x.dtype)
    ww = _resize_weights(w, output_size[1], mode, antialias, x.dtype)
    out = np.matmul(np.matmul(wh, x), ww.T)
    return _new_like(img, _cast_out(out, data.dtype))


def crop(img, top: int, left: int, height: int, width: int):
    """Crop; regions outside the image are zero-padded (as torchvision does)."""
    if not isinstance(img, Tensor):
        _check_img(img)
        return img.crop((left, top, left + width, top + height))
    _, h, w = get_dimensions(img)
    right, bottom = left + width, top + height
    if left < 0 or top < 0 or right > w or bottom > h:
        pad_ltrb = [max(-left + min(0, right), 0), max(-top + min(0, bottom), 0),
                    max(right - max(w, left), 0), max(bottom - max(h, top), 0)]
        data = img._data[..., max(top, 0):bottom, max(left, 0):right]
        widths = [(0, 0)] * (data.ndim - 2) + [(pad_ltrb[1], pad_ltrb[3]), (pad_ltrb[0], pad_ltrb[2])]
        return _new_like(img, np.pad(data, widths))
    return _new_like(img, img._data[..., top:bottom, left:right])


def center_crop(img, output_size):
    """Crop the centre (padding with zeros first when the image is smaller)."""
    if isinstance(output_size, numbers.Number):
        output_size = (int(output_size), int(output_size))
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 1:
        output_size = (output_size[0], output_size[0])
    _, image_height, image_width = get_dimensions(img)
    crop_height, crop_width = output_size
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        img = pad(img, padding_ltrb, fill=0)
        _, image_height, image_width = get_dimensions(img)
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = int(round((image_height - crop_height) / 2.0))
    crop_left = int(round((image_width - crop_width) / 2.0))
    return crop(img, crop_top, crop_left, crop_height, crop_width)


def _parse_pad(padding):
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 1:
        return padding[0], padding[0], padding[0], padding[0]
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    return tuple(padding)


def _parse_fill(fill, img, name="fillcolor"):
    num_channels = len(img.getbands())
    if fill is None:
        fill = 0
    if isinstance(fill, (int, float)) and num_channels > 1:
        fill = tuple([fill] * num_channels)
    if isinstance(fill, (list, tuple)):
        if len(fill) == 1:
            fill = fill * num_channels
        elif len(fill) != num_channels:
            raise ValueError("The number of elements in 'fill' does not match the number of "
                             f"channels of the image ({len(fill)} != {num_channels})")
        fill = tuple(fill)
    if img.mode != "F":
        fill = tuple(int(x) for x in fill) if isinstance(fill, (list, tuple)) else int(fill)
    return {name: fill}


def pad(img, padding, fill=0, padding_mode: str = "constant"):
    """Pad the borders: int (all sides), (left/right, top/bottom) or (left, top, right, bottom)."""
    if not isinstance(padding, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate padding arg")
    if isinstance(padding, (tuple, list)) and len(padding) not in [1, 2, 4]:
        raise ValueError("Padding must be an int or a 1, 2, or 4 element tuple, not a "
                         f"{len(padding)} element tuple")
    if padding_mode not in ["constant", "edge", "reflect", "symmetric"]:
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    left, top, right, bottom = _parse_pad(padding)
    np_mode = {"edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}
    if isinstance(img, Tensor):
        data = img._data
        widths = [(0, 0)] * (data.ndim - 2) + [(top, bottom), (left, right)]
        if padding_mode == "constant":
            out = np.pad(data, widths, constant_values=fill if fill is not None else 0)
        else:
            out = np.pad(data, widths, mode=np_mode[padding_mode])
        return _new_like(img, out)
    _check_img(img)
    if padding_mode == "constant":
        from PIL import ImageOps  # optional, as in _pil()

        opts = _parse_fill(fill, img, name="fill")
        if img.mode == "P":
            palette = img.getpalette()
            image = ImageOps.expand(img, border=(left, top, right, bottom), **opts)
            image.putpalette(palette)
            return image
        return ImageOps.expand(img, border=(left, top, right, bottom), **opts)
    Image = _pil()
    arr = np.asarray(img)
    widths = [(top, bottom), (left, right)] + ([(0, 0)] if arr.ndim == 3 else [])
    return Image.fromarray(np.pad(arr, widths, mode=np_mode[padding_mode]), mode=img.mode)


def hflip(img):
    if isinstance(img, Tensor):
        return _new_like(img, img._data[..., ::-1].copy())
    _check_img(img)
    return img.transpose(_pil().Transpose.FLIP_LEFT_RIGHT)


def vflip(img):
    if isinstance(img, Tensor):
        return _new_like(img, img._data[..., ::-1, :].copy())
    _check_img(img)
    return img.transpose(_pil().Transpose.FLIP_TOP_BOTTOM)


def resized_crop(img, top, left, height, width, size, interpolation=InterpolationMode.BILINEAR,
                 antialias=True):
    img = crop(img, top, left, height, width)
    return resize(img, size, interpolation, antialias=antialias)


def _get_inverse_affine_matrix(center, angle, translate, scale, shear):
    # Inverse of translate * center * rotate * shear * scale * center^-1 (torchvision's algebra).
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    matrix = [d, -b, 0.0, -c, a, 0.0]
    matrix = [x / scale for x in matrix]
    matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty)
    matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty)
    matrix[2] += cx
    matrix[5] += cy
    return matrix


def _grid_transform(img: Tensor, matrix, mode: str, fill, out_hw=None) -> Tensor:
    """Sample ``img`` at inverse-affine-mapped pixel centres (grid_sample, align_corners=False)."""
    data = img._data
    x = _cast_in(data)
    h, w = x.shape[-2:]
    oh, ow = out_hw or (h, w)
    # output pixel centres in coordinates centred on the image, as torchvision's affine grid
    xs = np.linspace(-ow * 0.5 + 0.5, ow * 0.5 - 0.5, ow)
    ys = np.linspace(-oh * 0.5 + 0.5, oh * 0.5 - 0.5, oh)
    gx = matrix[0] * xs[None, :] + matrix[1] * ys[:, None] + matrix[2]
    gy = matrix[3] * xs[None, :] + matrix[4] * ys[:, None] + matrix[5]
    ix = (gx.astype(x.dtype) / x.dtype.type(0.5 * w) + 1) * w / 2 - 0.5  # source pixel coords
    iy = (gy.astype(x.dtype) / x.dtype.type(0.5 * h) + 1) * h / 2 - 0.5
    ones = np.ones((1,) + x.shape[-2:], x.dtype)
    lead = x.shape[:-3]
    xc = x.reshape((-1,) + x.shape[-3:])
    xc = np.concatenate([xc, np.broadcast_to(ones, (xc.shape[0],) + ones.shape)], axis=1)

    def gather(yy, xx):
        valid = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
        vals = xc[..., np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
        return vals * valid

    if mode == "nearest":
        out = gather(np.rint(iy).astype(np.int64), np.rint(ix).astype(np.int64))
    else:
        x0, y0 = np.floor(ix).astype(np.int64), np.floor(iy).astype(np.int64)
        fx, fy = (ix - x0).astype(x.dtype), (iy - y0).astype(x.dtype)
        out = (gather(y0, x0) * (1 - fx) * (1 - fy) + gather(y0, x0 + 1) * fx * (1 - fy)
               + gather(y0 + 1, x0) * (1 - fx) * fy + gather(y0 + 1, x0 + 1) * fx * fy)
    mask, out = out[:, -1:], out[:, :-1]
    if fill is not None:
        fill_arr = np.asarray(fill if isinstance(fill, (list, tuple)) else [float(fill)],
                              x.dtype).reshape(1, -1, 1, 1)
        fill_arr = np.broadcast_to(fill_arr, out.shape)
        mask = np.broadcast_to(mask, out.shape)
        if mode == "nearest":
            out = np.where(mask < 0.5, fill_arr, out)
        else:
            out = out * mask + (1.0 - mask) * fill_arr
    out = out.reshape(lead + out.shape[1:])
    return _new_like(img, _cast_out(out, data.dtype))


def rotate(img, angle: float, interpolation=InterpolationMode.NEAREST, expand: bool = False,
           center=None, fill=None):
    """Rotate counter-clockwise by ``angle`` degrees."""
    interpolation = _interp(interpolation)
    if not isinstance(img, Tensor):
        _check_img(img)
        return img.rotate(angle, _PIL_MODES[interpolation.value], expand, center,
                          **_parse_fill(fill, img))
    _, h, w = get_dimensions(img)
    center_f = [0.0, 0.0]
    if center is not None:
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [w, h])]
    matrix = _get_inverse_affine_matrix(center_f, -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    out_hw = None
    if expand:
        # bounding box of the rotated corners, as torchvision's _compute_affine_output_size
        pts = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0],
                        [0.5 * w, 0.5 * h, 1.0], [0.5 * w, -0.5 * h, 1.0]])
        theta = np.array(matrix, dtype=np.float64).reshape(2, 3)
        new_pts = pts @ theta.T
        tol = 1e-4
        cmax = np.ceil(np.trunc(new_pts.max(axis=0) * 1e4) / 1e4 - tol)
        cmin = np.floor(np.trunc((new_pts.min(axis=0) + tol) * 1e4) / 1e4)
        size = cmax - cmin
        out_hw = (int(size[1]), int(size[0]))
    return _grid_transform(img, matrix, interpolation.value, fill, out_hw)


def affine(img, angle, translate, scale, shear, interpolation=InterpolationMode.NEAREST,
           fill=None, center=None):
    """Affine transform keeping the image centre fixed (torchvision's parametrisation)."""
    interpolation = _interp(interpolation)
    if isinstance(shear, numbers.Number):
        shear = [shear, 0.0]
    shear = list(shear) + [0.0] * (2 - len(shear))
    _, height, width = get_dimensions(img)
    if not isinstance(img, Tensor):
        _check_img(img)
        if center is None:
            center = [width * 0.5, height * 0.5]
        matrix = _get_inverse_affine_matrix(center, angle, translate, scale, shear)
        return img.transform(img.size, _pil().AFFINE, matrix, _PIL_MODES[interpolation.value],
                             **_parse_fill(fill, img))
    center_f = [0.0, 0.0]
    if center is not None:
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [width, height])]
    translate_f = [1.0 * t for t in translate]
    matrix = _get_inverse_affine_matrix(center_f, angle, translate_f, scale, shear)
    return _grid_transform(img, matrix, interpolation.value, fill)


# ---- colour -------------------------------------------------------------------------------------------

def _blend(img1: np.ndarray, img2, ratio: float, dtype) -> np.ndarray:
    bound = 1.0 if dtype.kind == "f" else 255.0
    return np.clip(ratio * img1 + (1.0 - ratio) * img2, 0, bound)


def _gray(x: np.ndarray) -> np.ndarray:
    r, g, b = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    return (0.2989 * r + 0.587 * g + 0.114 * b)[..., None, :, :]


def rgb_to_grayscale(img, num_output_channels: int = 1):
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    if not isinstance(img, Tensor):
        _check_img(img)
        if num_output_channels == 1:
            return img.convert("L")
        np_img = np.array(img.convert("L"), dtype=np.uint8)
        return _pil().fromarray(np.dstack([np_img, np_img, np_img]), "RGB")
    data = img._data
    c = get_dimensions(img)[0]
    if c not in (1, 3):
        raise TypeError(f"Input image tensor permitted channel values are [1, 3], but found {c}")
    if c == 3:
        gray = _gray(data.astype(np.float32) if data.dtype.kind != "f" else data).astype(data.dtype)
    else:
        gray = data.copy()
    if num_output_channels == 3:
        gray = np.broadcast_to(gray, gray.shape[:-3] + (3,) + gray.shape[-2:]).copy()
    return _new_like(img, gray)


def _tensor_float(img: Tensor):
    data = img._data
    return data, (data.astype(np.float32) if data.dtype.kind != "f" else data)


def _check_factor(name: str, factor: float) -> None:
    if factor < 0:
        raise ValueError(f"{name} ({factor}) is not non-negative.")


def _pil_enhance(img, enhancer: str, factor: float):
    """``PIL.ImageEnhance.<enhancer>(img).enhance(factor)``."""
    from PIL import ImageEnhance  # optional, as in _pil()

    return getattr(ImageEnhance, enhancer)(img).enhance(factor)


def adjust_brightness(img, brightness_factor: float):
    _check_factor("brightness_factor", brightness_factor)
    if not isinstance(img, Tensor):
        return _pil_enhance(img, "Brightness", brightness_factor)
    data, x = _tensor_float(img)
    return _new_like(img, _blend(x, 0.0, brightness_factor, data.dtype).astype(data.dtype))


def adjust_contrast(img, contrast_factor: float):
    _check_factor("contrast_factor", contrast_factor)
    if not isinstance(img, Tensor):
        return _pil_enhance(img, "Contrast", contrast_factor)
    data, x = _tensor_float(img)
    gray = _gray(x) if x.shape[-3] == 3 else x
    if data.dtype.kind != "f":
        gray = np.floor(gray)  # torchvision casts the grey image back to the integer dtype
    mean = gray.mean(axis=(-3, -2, -1), keepdims=True)
    return _new_like(img, _blend(x, mean, contrast_factor, data.dtype).astype(data.dtype))


def adjust_saturation(img, saturation_factor: float):
    _check_factor("saturation_factor", saturation_factor)
    if not isinstance(img, Tensor):
        return _pil_enhance(img, "Color", saturation_factor)
    data, x = _tensor_float(img)
    if x.shape[-3] == 1:
        return img
    gray = _gray(x)
    if data.dtype.kind != "f":
        gray = np.floor(gray)
    return _new_like(img, _blend(x, gray, saturation_factor, data.dtype).astype(data.dtype))


def adjust_hue(img, hue_factor: float):
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    if not isinstance(img, Tensor):
        Image = _pil()
        input_mode = img.mode
        if input_mode in {"L", "1", "I", "F"}:
            return img
        h, s, v = img.convert("HSV").split()
        np_h = np.array(h, dtype=np.uint8)
        with np.errstate(over="ignore"):  # uint8 arithmetic wraps around the hue circle
            np_h += np.int8(hue_factor * 255).astype(np.uint8)
        h = Image.fromarray(np_h, "L")
        return Image.merge("HSV", (h, s, v)).convert(input_mode)
    data, x = _tensor_float(img)
    if x.shape[-3] == 1:
        return img
    if data.dtype.kind != "f":
        x = x / 255.0
    r, g, b = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    maxc, minc = x.max(axis=-3), x.min(axis=-3)
    eqc = maxc == minc
    cr = maxc - minc
    ones = np.ones_like(maxc)
    s = cr / np.where(eqc, ones, maxc)
    cr_divisor = np.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_divisor, (maxc - g) / cr_divisor, (maxc - b) / cr_divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    hue = np.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    hue = np.fmod(hue + hue_factor, 1.0)
    hue = np.where(hue < 0, hue + 1.0, hue)
    v = maxc
    i = np.floor(hue * 6.0)
    f = hue * 6.0 - i
    i = i.astype(np.int64) % 6
    p = np.clip(v * (1.0 - s), 0.0, 1.0)
    q = np.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = np.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    table = np.stack([np.stack(c, axis=-3) for c in
                      ((v, q, p, p, t, v), (t, v, v, q, p, p), (p, p, t, v, v, q))], axis=-4)
    out = np.take_along_axis(table, i[..., None, None, :, :], axis=-3)[..., 0, :, :]
    if data.dtype.kind != "f":
        out = out * 255.0
    return _new_like(img, out.astype(data.dtype))
