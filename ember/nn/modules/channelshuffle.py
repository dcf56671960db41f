"""ChannelShuffle: interleave the channels of groups (ShuffleNet)."""
from __future__ import annotations

from ._utils import _FunctionalLayer

__all__ = ["ChannelShuffle"]


class ChannelShuffle(_FunctionalLayer):
    """(N, g*k, *) viewed as (N, g, k, *), transposed to (N, k, g, *) and flattened back."""

    __constants__ = ["groups"]
    _functional = "channel_shuffle"

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups
