"""LayerNorm, GroupNorm, LocalResponseNorm, RMSNorm."""
from __future__ import annotations

import numbers

from ... import _creation
from ..._tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ._utils import _FunctionalLayer, _SettingsModule
from .module import Module

__all__ = ["GroupNorm", "LayerNorm", "LocalResponseNorm", "RMSNorm"]


def _as_shape(normalized_shape) -> tuple:
    if isinstance(normalized_shape, numbers.Integral):
        return (normalized_shape,)
    return tuple(normalized_shape)


class _AffineNorm(_SettingsModule):
    """LayerNorm and GroupNorm: their settings, then a per-feature scale and shift of
    ``param_shape`` (either may be None), set to 1 and 0; the repr is ``_repr`` filled from the attributes, then
    whether there is a bias."""

    def __init__(self, param_shape, learnable: bool, with_bias: bool, device, dtype,
                 **settings) -> None:
        super().__init__(**settings)
        weight = (Parameter(_creation.empty(param_shape, device=device, dtype=dtype))
                  if learnable else None)
        self.register_parameter("weight", weight)
        bias = (Parameter(_creation.empty(param_shape, device=device, dtype=dtype))
                if learnable and with_bias else None)
        self.register_parameter("bias", bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight = 1, bias = 0."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return self._repr.format(**self.__dict__) + f", bias={self.bias is not None}"


class LocalResponseNorm(_FunctionalLayer):
    """Normalise by the squared activity of ``size`` neighbouring channels."""

    __constants__ = ("size", "alpha", "beta", "k")
    _functional = "local_response_norm"

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__(size=size, alpha=alpha, beta=beta, k=k)

    def extra_repr(self):
        return "{size}, alpha={alpha}, beta={beta}, k={k}".format(**self.__dict__)


class LayerNorm(_AffineNorm):
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift."""

    __constants__ = ("normalized_shape", "eps", "elementwise_affine")
    _repr = "{normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine}"

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None) -> None:
        shape = _as_shape(normalized_shape)
        super().__init__(shape, elementwise_affine, bias, device, dtype, normalized_shape=shape,
                         eps=eps, elementwise_affine=elementwise_affine)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)


class GroupNorm(_AffineNorm):
    """Normalise over groups of channels per sample, then scale and shift per channel."""

    __constants__ = ("num_groups", "num_channels", "eps", "affine")
    _repr = "{num_groups}, {num_channels}, eps={eps}, affine={affine}"

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True) -> None:
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        super().__init__((num_channels,), affine, bias, device, dtype, num_groups=num_groups,
                         num_channels=num_channels, eps=eps, affine=affine)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)


class RMSNorm(Module):
    """x / sqrt(mean(x^2) + eps) over the trailing dims, times a learnable weight."""

    __constants__ = ("normalized_shape", "eps", "elementwise_affine")

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if self.elementwise_affine:
            self.weight = Parameter(_creation.empty(self.normalized_shape, device=device,
                                                    dtype=dtype))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight = 1."""
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return ("{normalized_shape}, eps={eps}, "
                "elementwise_affine={elementwise_affine}".format(**self.__dict__))
