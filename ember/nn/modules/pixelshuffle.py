"""PixelShuffle / PixelUnshuffle: trade channels for spatial resolution and back."""
from __future__ import annotations

from ._utils import _FunctionalLayer

__all__ = ["PixelShuffle", "PixelUnshuffle"]


class PixelShuffle(_FunctionalLayer):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r)."""

    __constants__ = ["upscale_factor"]
    _functional = "pixel_shuffle"

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor


class PixelUnshuffle(_FunctionalLayer):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W)."""

    __constants__ = ["downscale_factor"]
    _functional = "pixel_unshuffle"

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor
