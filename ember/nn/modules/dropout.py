"""Dropout modules: active in train() mode, the identity in eval() mode."""
from __future__ import annotations

from ..._tensor import Tensor
from .. import functional as F
from ._utils import _nd_family
from .module import Module

__all__ = ["AlphaDropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout"]


class _DropoutNd(Module):
    """Dropout with probability ``p``: forward calls the nn.functional named ``_functional``."""

    __constants__ = ("p", "inplace")

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        fn = getattr(F, self._functional)
        return fn(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero elements with probability p, scale the rest by 1/(1-p) (training only)."""

    _functional = "dropout"


Dropout1d, Dropout2d, Dropout3d = _nd_family(_DropoutNd, "dropout{n}d", name="Dropout{n}d",
                                             doc="Zero whole channels of (N, C, {dims}) inputs.")


class _AlphaDropoutNd(_DropoutNd):
    # PyTorch's alpha dropouts never work in place, whatever ``inplace`` says
    def forward(self, input: Tensor) -> Tensor:
        fn = getattr(F, self._functional)
        return fn(input, self.p, self.training)


class AlphaDropout(_AlphaDropoutNd):
    """Dropout that keeps SELU's mean and variance."""

    _functional = "alpha_dropout"


class FeatureAlphaDropout(_AlphaDropoutNd):
    """Alpha dropout of whole channels."""

    _functional = "feature_alpha_dropout"
