"""Image reading, writing, encoding and decoding (torchvision.io's image API), through Pillow.

Images are uint8 [C, H, W] tensors; encoded images are 1-D uint8 tensors of the file's bytes.
Pillow does the work, so any format it reads decodes (torchvision: JPEG, PNG, GIF, WebP).
"""
from __future__ import annotations

import io as _io
import os
from enum import Enum

import numpy as np

from .._creation import from_numpy
from .._tensor import Tensor

__all__ = ["ImageReadMode", "decode_image", "decode_jpeg", "decode_png", "encode_jpeg",
           "encode_png", "read_file", "read_image", "write_file", "write_jpeg", "write_png"]


class ImageReadMode(Enum):
    """The channels to decode to; a name ("RGB", "gray"...) works wherever a mode is taken."""

    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4
    RGBA = RGB_ALPHA


def _mode(mode) -> ImageReadMode:
    return ImageReadMode[mode.upper()] if isinstance(mode, str) else ImageReadMode(mode)


def _pil():
    try:
        from PIL import Image  # Pillow: optional
    except ImportError:  # pragma: no cover
        raise ImportError("ember.vision.io needs Pillow: pip install pillow "
                          "(or ember's `vision` extra)") from None
    return Image


def _as_tensor(arr: np.ndarray) -> Tensor:
    arr = np.ascontiguousarray(arr)
    return from_numpy(arr if arr.flags.writeable else arr.copy())


# ---- files --------------------------------------------------------------------------------------

def read_file(path: str) -> Tensor:
    """The bytes of a file as a 1-D uint8 tensor."""
    with open(os.fspath(path), "rb") as f:
        data = f.read()
    return _as_tensor(np.frombuffer(data, dtype=np.uint8).copy())


def _bytes_of(data: Tensor, name: str = "data") -> bytes:
    if not isinstance(data, Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(data).__name__}")
    arr = data.detach().numpy()
    if arr.dtype != np.uint8:
        raise RuntimeError("Expected a torch.uint8 tensor")
    if arr.ndim != 1 or arr.size == 0:
        raise RuntimeError("Expected a non empty 1-dimensional tensor")
    return arr.tobytes()


def write_file(filename: str, data: Tensor) -> None:
    """Write a 1-D uint8 tensor's bytes to a file."""
    payload = _bytes_of(data)
    with open(os.fspath(filename), "wb") as f:
        f.write(payload)


# ---- decoding -----------------------------------------------------------------------------------

def _decode(data: bytes, mode, apply_exif_orientation: bool, expect: str | None) -> Tensor:
    Image = _pil()
    mode = _mode(mode)
    try:
        img = Image.open(_io.BytesIO(data))
        img.load()
    except Exception as exc:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError...
        what = f"Content is not {expect}" if expect else (
            "Unsupported image file: Pillow cannot decode it")
        raise RuntimeError(f"{what} ({exc})") from None
    if expect is not None and img.format != expect.upper():
        raise RuntimeError(f"Content is not {expect} (Pillow reads it as {img.format})")
    if apply_exif_orientation:
        from PIL import ImageOps  # Pillow: optional, as in _pil()

        img = ImageOps.exif_transpose(img)
    if mode is ImageReadMode.UNCHANGED:
        if img.mode.startswith("I;16"):
            raise RuntimeError("This is a 16-bit image, which torchvision decodes to uint16, a "
                               "dtype ember does not have; pass mode=ImageReadMode.GRAY (or "
                               "RGB) to decode it to 8 bits")
        if img.mode == "P":  # a palette expands to RGB, or RGBA where it has transparency
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif img.mode not in ("L", "LA", "RGB", "RGBA"):
            img = img.convert("RGBA" if "A" in img.getbands() else
                              "L" if len(img.getbands()) == 1 else "RGB")
    else:
        target = {ImageReadMode.GRAY: "L", ImageReadMode.GRAY_ALPHA: "LA",
                  ImageReadMode.RGB: "RGB", ImageReadMode.RGB_ALPHA: "RGBA"}[mode]
        if img.mode != target:
            if img.mode.startswith("I;16"):  # 16-bit grey: scale to 8 bits first
                wide = np.asarray(img, dtype=np.uint16).astype(np.float64)
                img = Image.fromarray(np.round(wide / 257.0).astype(np.uint8), "L")
            if img.mode == "P" and target in ("RGB", "L"):
                img = img.convert("RGBA")
            img = img.convert(target)
    arr = np.asarray(img, dtype=np.uint8)
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return _as_tensor(arr.transpose(2, 0, 1))


def decode_image(input, mode=ImageReadMode.UNCHANGED,
                 apply_exif_orientation: bool = False) -> Tensor:
    """Decode an image (a path, or a 1-D uint8 tensor of its bytes) to a uint8 [C, H, W]."""
    data = _bytes_of(input, "input") if isinstance(input, Tensor) else \
        _bytes_of(read_file(input), "input")
    return _decode(data, mode, apply_exif_orientation, None)


def read_image(path: str, mode=ImageReadMode.UNCHANGED,
               apply_exif_orientation: bool = False) -> Tensor:
    """Read an image file into a uint8 [C, H, W] tensor."""
    return decode_image(read_file(path), mode, apply_exif_orientation=apply_exif_orientation)


def decode_png(input: Tensor, mode=ImageReadMode.UNCHANGED,
               apply_exif_orientation: bool = False) -> Tensor:
    """Decode PNG bytes to a uint8 [C, H, W] tensor."""
    return _decode(_bytes_of(input, "input"), mode, apply_exif_orientation, "png")


def decode_jpeg(input, mode=ImageReadMode.UNCHANGED, device="cpu",
                apply_exif_orientation: bool = False):
    """Decode JPEG bytes (or a list of them) to uint8 [C, H, W] tensor(s)."""
    if str(device) != "cpu":
        raise RuntimeError(f"ember.vision.io.decode_jpeg decodes on the CPU only, got "
                           f"device={device!r}")
    if isinstance(input, list):
        if len(input) == 0:
            raise ValueError("Input list must contain at least one element")
        if not all(isinstance(t, Tensor) for t in input):
            raise ValueError("All elements of the input list must be tensors.")
        return [_decode(_bytes_of(t, "input"), mode, apply_exif_orientation, "jpeg")
                for t in input]
    return _decode(_bytes_of(input, "input"), mode, apply_exif_orientation, "jpeg")


# ---- encoding -----------------------------------------------------------------------------------

def _to_pil(input: Tensor):
    if not isinstance(input, Tensor):
        raise TypeError(f"input must be a Tensor, got {type(input).__name__}")
    arr = input.detach().numpy()
    if arr.dtype != np.uint8:
        raise RuntimeError("Input tensor dtype should be uint8")
    if arr.ndim != 3:
        raise RuntimeError("Input tensor dimension should be 3")
    if arr.shape[0] not in (1, 3):
        raise RuntimeError(f"The number of channels should be 1 or 3, got: {arr.shape[0]}")
    hwc = np.ascontiguousarray(arr.transpose(1, 2, 0))
    return _pil().fromarray(hwc[:, :, 0] if arr.shape[0] == 1 else hwc,
                            "L" if arr.shape[0] == 1 else "RGB")


def _encoded(img, **kwargs) -> Tensor:
    buf = _io.BytesIO()
    img.save(buf, **kwargs)
    return _as_tensor(np.frombuffer(buf.getvalue(), dtype=np.uint8).copy())


def encode_png(input: Tensor, compression_level: int = 6) -> Tensor:
    """Encode a uint8 [C, H, W] image (C = 1 or 3) as PNG bytes in a 1-D uint8 tensor."""
    if not 0 <= compression_level <= 9:
        raise RuntimeError("Compression level should be between 0 and 9")
    return _encoded(_to_pil(input), format="PNG", compress_level=compression_level)


def encode_jpeg(input, quality: int = 75):
    """Encode a uint8 [C, H, W] image (or a list of them) as JPEG bytes."""
    if quality < 1 or quality > 100:
        raise ValueError("Image quality should be a positive number between 1 and 100")
    if isinstance(input, list):
        if not input:
            raise ValueError("encode_jpeg requires at least one input tensor when a list is "
                             "passed")
        return [_encoded(_to_pil(t), format="JPEG", quality=quality) for t in input]
    return _encoded(_to_pil(input), format="JPEG", quality=quality)


def write_png(input: Tensor, filename: str, compression_level: int = 6) -> None:
    """Encode a uint8 [C, H, W] image as PNG and write it to a file."""
    write_file(filename, encode_png(input, compression_level))


def write_jpeg(input: Tensor, filename: str, quality: int = 75) -> None:
    """Encode a uint8 [C, H, W] image as JPEG and write it to a file."""
    write_file(filename, encode_jpeg(input, quality))
