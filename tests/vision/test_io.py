"""ember.vision.io: round trips, read modes, errors (results checked against Pillow)."""
from __future__ import annotations

import io as pyio

import numpy as np
import pytest

import ember

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from ember.vision import io  # noqa: E402
from ember.vision.io import ImageReadMode  # noqa: E402


def _smooth(c, h=24, w=32):
    """A smooth image, which JPEG keeps close."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 7, y * 9, (x + y) * 4][:c]) if c > 1 else (x * 7 + y * 3)[None]
    return ember.tensor((base % 256).astype(np.uint8))


def _bytes(pil, fmt, **kw):
    buf = pyio.BytesIO()
    pil.save(buf, format=fmt, **kw)
    return ember.tensor(np.frombuffer(buf.getvalue(), dtype=np.uint8).copy())


@pytest.mark.parametrize("c", [1, 3])
def test_png_round_trip_exact(tmp_path, c):
    img = ember.randint(0, 256, (c, 5, 7), dtype=ember.uint8)
    data = io.encode_png(img, compression_level=9)
    assert data.dtype == ember.uint8 and data.ndim == 1
    np.testing.assert_array_equal(io.decode_png(data).numpy(), img.numpy())
    path = tmp_path / "x.png"
    io.write_png(img, str(path))
    back = io.read_image(str(path))
    assert back.dtype == ember.uint8 and back.shape == (c, 5, 7)
    np.testing.assert_array_equal(back.numpy(), img.numpy())
    np.testing.assert_array_equal(io.decode_image(str(path)).numpy(), img.numpy())
    hwc = np.asarray(Image.open(path))  # what any PNG reader sees
    np.testing.assert_array_equal(hwc if c == 3 else hwc[None], img.numpy().transpose(1, 2, 0)
                                  if c == 3 else img.numpy())


@pytest.mark.parametrize("c", [1, 3])
def test_jpeg_round_trip_close(tmp_path, c):
    img = _smooth(c)
    path = tmp_path / "x.jpg"
    io.write_jpeg(img, str(path), quality=95)
    back = io.read_image(str(path))
    assert back.shape == img.shape and back.dtype == ember.uint8
    err = np.abs(back.numpy().astype(int) - img.numpy().astype(int)).mean()
    assert err < 3
    assert len(io.encode_jpeg(img, quality=10)) < len(io.encode_jpeg(img, quality=95))
    batch = io.encode_jpeg([img, img])
    decoded = io.decode_jpeg(batch)
    assert isinstance(decoded, list) and decoded[1].shape == img.shape


def test_read_modes():
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    data = _bytes(Image.fromarray(rgb), "PNG")
    assert io.decode_image(data).shape == (3, 6, 8)
    gray = io.decode_image(data, mode=ImageReadMode.GRAY)
    want = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(gray.numpy()[0], want)
    assert io.decode_image(data, mode="gray_alpha").shape == (2, 6, 8)
    rgba = io.decode_image(data, mode=ImageReadMode.RGB_ALPHA)
    assert rgba.shape == (4, 6, 8) and (rgba.numpy()[3] == 255).all()
    assert ImageReadMode.RGBA is ImageReadMode.RGB_ALPHA
    np.testing.assert_array_equal(io.decode_image(data, mode="RGB").numpy(),
                                  rgb.transpose(2, 0, 1))
    # an RGBA file keeps its alpha unless asked otherwise
    rgba_px = np.concatenate([rgb, np.full((6, 8, 1), 77, np.uint8)], axis=2)
    data = _bytes(Image.fromarray(rgba_px), "PNG")
    out = io.decode_png(data)
    np.testing.assert_array_equal(out.numpy(), rgba_px.transpose(2, 0, 1))
    assert io.decode_png(data, mode=ImageReadMode.RGB).shape == (3, 6, 8)
    # a grey file read as RGB repeats the channel
    g = rgb[:, :, 0]
    out = io.decode_image(_bytes(Image.fromarray(g), "PNG"), mode=ImageReadMode.RGB).numpy()
    assert out.shape == (3, 6, 8) and (out == g).all()
    # a palette image expands to RGB
    pal = Image.fromarray(rgb).convert("P")
    out = io.decode_image(_bytes(pal, "PNG"))
    np.testing.assert_array_equal(out.numpy(), np.asarray(pal.convert("RGB")).transpose(2, 0, 1))


def test_exif_orientation():
    pil = Image.fromarray(np.zeros((4, 10, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    data = _bytes(pil, "JPEG", exif=exif)
    assert io.decode_jpeg(data).shape == (3, 4, 10)
    assert io.decode_jpeg(data, apply_exif_orientation=True).shape == (3, 10, 4)


def test_read_write_file(tmp_path):
    path = tmp_path / "blob.bin"
    data = ember.tensor(np.arange(256, dtype=np.uint8))
    io.write_file(str(path), data)
    assert path.read_bytes() == bytes(range(256))
    back = io.read_file(str(path))
    assert back.dtype == ember.uint8 and back.tolist() == list(range(256))


def test_errors(tmp_path):
    img = ember.randint(0, 256, (3, 4, 4), dtype=ember.uint8)
    with pytest.raises(RuntimeError, match="Input tensor dtype should be uint8"):
        io.encode_png(img.float())
    with pytest.raises(RuntimeError, match="Input tensor dimension should be 3"):
        io.encode_png(img[0])
    with pytest.raises(RuntimeError, match="The number of channels should be 1 or 3, got: 4"):
        io.encode_jpeg(ember.zeros(4, 2, 2, dtype=ember.uint8))
    with pytest.raises(RuntimeError, match="Compression level should be between 0 and 9"):
        io.encode_png(img, compression_level=10)
    with pytest.raises(ValueError, match="Image quality should be a positive number"):
        io.encode_jpeg(img, quality=0)
    with pytest.raises(RuntimeError, match="Content is not png"):
        io.decode_png(io.encode_jpeg(img))
    with pytest.raises(RuntimeError, match="Content is not jpeg"):
        io.decode_jpeg(io.encode_png(img))
    with pytest.raises(RuntimeError, match="Expected a torch.uint8 tensor"):
        io.decode_image(ember.zeros(10))
    with pytest.raises(RuntimeError, match="Expected a non empty 1-dimensional tensor"):
        io.decode_image(ember.zeros(2, 5, dtype=ember.uint8))
    with pytest.raises(RuntimeError, match="Unsupported image file"):
        io.decode_image(ember.zeros(10, dtype=ember.uint8))
    with pytest.raises(KeyError):
        io.decode_image(io.encode_png(img), mode="foo")
    with pytest.raises(FileNotFoundError):
        io.read_file(str(tmp_path / "missing.png"))
    wide = Image.fromarray(np.full((2, 3), 40000, np.uint16))
    with pytest.raises(RuntimeError, match="16-bit image"):
        io.decode_png(_bytes(wide, "PNG"))
    assert io.decode_png(_bytes(wide, "PNG"), mode="GRAY").numpy().max() == round(40000 / 257)
