"""ember.vision.utils drawing functions (make_grid / save_image are in tests/data)."""
from __future__ import annotations

import numpy as np
import pytest

import ember

PIL = pytest.importorskip("PIL")

from ember.vision.utils import draw_bounding_boxes, draw_segmentation_masks  # noqa: E402

try:  # the reference; the parity test skips without it
    import torch
    import torchvision.utils as tvu
except Exception:  # pragma: no cover  (absent, or its CUDA build failing on CPU torch)
    tvu = None


def _img(c=3, h=20, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (c, h, w), dtype=np.uint8)


def test_boxes_outline_and_fill():
    img = _img()
    out = draw_bounding_boxes(ember.tensor(img), ember.tensor([[2, 3, 10, 12]]), colors="red",
                              width=1).numpy()
    assert out.dtype == np.uint8 and out.shape == img.shape
    red = np.array([255, 0, 0])
    assert (out[:, 3, 2:11].T == red).all() and (out[:, 12, 2:11].T == red).all()  # edges
    assert (out[:, 3:13, 2].T == red).all() and (out[:, 3:13, 10].T == red).all()
    np.testing.assert_array_equal(out[:, 4:12, 3:10], img[:, 4:12, 3:10])  # inside untouched
    np.testing.assert_array_equal(out[:, 14:, :], img[:, 14:, :])
    filled = draw_bounding_boxes(ember.tensor(img), ember.tensor([[2, 3, 10, 12]]),
                                 colors=(0, 0, 255), fill=True).numpy()
    inside = filled[:, 5, 5].astype(int)  # blue at alpha 100/255 over the image
    want = np.round(img[:, 5, 5] * (1 - 100 / 255) + np.array([0, 0, 255]) * 100 / 255)
    assert np.abs(inside - want).max() <= 1
    grey = draw_bounding_boxes(ember.tensor(img[:1]), ember.tensor([[0.0, 0.0, 5.0, 5.0]]))
    assert grey.shape == (3, 20, 30)
    f = draw_bounding_boxes(ember.tensor(img / np.float32(255)), ember.tensor([[1, 1, 4, 4]]),
                            labels=["cat"])
    assert f.dtype == ember.float32 and float(f.max()) <= 1.0


def test_boxes_errors():
    img = ember.tensor(_img())
    with pytest.raises(ValueError, match="Boxes need to be in \\(xmin, ymin, xmax, ymax\\)"):
        draw_bounding_boxes(img, ember.tensor([[5, 0, 1, 4]]))
    with pytest.raises(ValueError, match="Number of boxes \\(1\\) and labels \\(2\\) mismatch"):
        draw_bounding_boxes(img, ember.tensor([[0, 0, 1, 1]]), labels=["a", "b"])
    with pytest.raises(ValueError, match="Pass individual images, not batches"):
        draw_bounding_boxes(img[None], ember.tensor([[0, 0, 1, 1]]))
    with pytest.raises(ValueError, match="Only grayscale and RGB images are supported"):
        draw_bounding_boxes(ember.zeros(2, 4, 4, dtype=ember.uint8), ember.tensor([[0, 0, 1, 1]]))
    with pytest.raises(ValueError, match="The image dtype must be uint8 or float"):
        draw_bounding_boxes(ember.zeros(3, 4, 4, dtype=ember.int64), ember.tensor([[0, 0, 1, 1]]))
    with pytest.raises(ValueError, match="colors should be an RGB triplet"):
        draw_bounding_boxes(img, ember.tensor([[0, 0, 1, 1]]), colors=(1, 2))
    with pytest.warns(UserWarning, match="boxes doesn't contain any box"):
        assert draw_bounding_boxes(img, ember.zeros(0, 4)) is img


def test_segmentation_masks():
    img = _img()
    masks = np.zeros((2, 20, 30), bool)
    masks[0, :5] = True
    masks[1, 3:8] = True
    out = draw_segmentation_masks(ember.tensor(img), ember.tensor(masks), alpha=0.5,
                                  colors=["red", (0, 255, 0)]).numpy()
    want0 = (img[:, 0, 0].astype(np.float32) * 0.5 + np.array([255, 0, 0]) * 0.5).astype(np.uint8)
    np.testing.assert_array_equal(out[:, 0, 0], want0)
    overlap = (img[:, 4, 0].astype(np.float32) * 0.5).astype(np.uint8)  # overlaps go black
    np.testing.assert_array_equal(out[:, 4, 0], overlap)
    np.testing.assert_array_equal(out[:, 10:], img[:, 10:])  # no mask: the image itself
    assert draw_segmentation_masks(ember.tensor(img), ember.tensor(masks[0])).shape == img.shape
    with pytest.raises(ValueError, match="The masks must be of dtype bool"):
        draw_segmentation_masks(ember.tensor(img), ember.tensor(masks.astype(np.uint8)))
    with pytest.raises(ValueError, match="Pass an RGB image"):
        draw_segmentation_masks(ember.tensor(img[:1]), ember.tensor(masks))
    with pytest.raises(ValueError, match="same height and width"):
        draw_segmentation_masks(ember.tensor(img), ember.tensor(masks[:, :4]))


@pytest.mark.skipif(tvu is None, reason="torchvision not importable")
def test_drawing_matches_torchvision():
    img = _img(h=40, w=50)
    boxes = np.array([[2, 3, 20, 30], [10.7, 5.2, 45.9, 38.1], [0, 0, 49, 39]], np.float32)
    for kw in [{}, {"width": 3, "fill": True}, {"labels": ["a", "dog", "x"], "fill_labels": True},
               {"colors": [(1, 2, 3), "blue", "#00ff00"], "labels": ["q", "r", "s"]}]:
        for src in (img, img[:1], img.astype(np.float32) / 255):
            want = tvu.draw_bounding_boxes(torch.from_numpy(src.copy()), torch.from_numpy(boxes),
                                           **kw).numpy()
            got = draw_bounding_boxes(ember.tensor(src), ember.tensor(boxes), **kw).numpy()
            np.testing.assert_array_equal(got, want)
    masks = np.random.default_rng(1).random((3, 40, 50)) > 0.6
    for kw in [{}, {"alpha": 0.3, "colors": "red"}]:
        for src in (img, img.astype(np.float32) / 255):
            want = tvu.draw_segmentation_masks(torch.from_numpy(src.copy()),
                                               torch.from_numpy(masks), **kw).numpy()
            got = draw_segmentation_masks(ember.tensor(src), ember.tensor(masks), **kw).numpy()
            np.testing.assert_array_equal(got, want)
