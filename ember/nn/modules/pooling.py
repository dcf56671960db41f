"""Pooling, upsampling, padding and fold/unfold layers (thin modules over nn.functional)."""
from __future__ import annotations

from ..._tensor import Tensor
from .. import functional as F
from ._utils import _FunctionalLayer, _nd_family, _ntuple
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
           "FractionalMaxPool2d", "FractionalMaxPool3d", "LPPool1d", "LPPool2d", "LPPool3d",
           "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
           "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d",
           "ZeroPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d", "Fold", "Unfold"]


# ---- max / average pooling -------------------------------------------------------------------
def _set_window(module, kernel_size, stride, padding) -> None:
    """The pooling window: stride None means the kernel size, as in PyTorch."""
    module.kernel_size = kernel_size
    module.stride = stride if (stride is not None) else kernel_size
    module.padding = padding


class _MaxPoolNd(Module):
    _doc = "Max over sliding windows of (N, C, {dims}) inputs."
    __constants__ = ["kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"]

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        _set_window(self, kernel_size, stride, padding)
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor):
        fn = getattr(F, self._functional)
        return fn(input, self.kernel_size, self.stride, self.padding, self.dilation,
                  ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return ("kernel_size={kernel_size}, stride={stride}, padding={padding}, "
                "dilation={dilation}, ceil_mode={ceil_mode}".format(**self.__dict__))


MaxPool1d, MaxPool2d, MaxPool3d = _nd_family(_MaxPoolNd, "max_pool{n}d")


class _AvgPoolNd(Module):
    __constants__ = ["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"]

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Average over sliding windows of (N, C, L) inputs."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        _set_window(self, _ntuple(kernel_size, 1), None if stride is None else _ntuple(stride, 1),
                    _ntuple(padding, 1))
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Average over sliding windows of (N, C, H, W) inputs."""

    __constants__ = ["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                     "divisor_override"]

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None) -> None:
        super().__init__()
        _set_window(self, kernel_size, stride, padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AvgPool3d(AvgPool2d):
    """Average over sliding windows of (N, C, D, H, W) inputs."""

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


# ---- adaptive pooling --------------------------------------------------------------------------
class _AdaptivePoolNd(_FunctionalLayer):
    __constants__ = ["output_size"]

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size


class _AdaptiveAvgPoolNd(_AdaptivePoolNd):
    _doc = "Average pooling of (N, C, {dims}) inputs to a fixed output_size."


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    _doc = "Max pooling of (N, C, {dims}) inputs to a fixed output_size."
    __constants__ = ["output_size", "return_indices"]

    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d = _nd_family(_AdaptiveAvgPoolNd,
                                                                     "adaptive_avg_pool{n}d")
AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d = _nd_family(_AdaptiveMaxPoolNd,
                                                                     "adaptive_max_pool{n}d")


# ---- unpooling, power-average pooling ----------------------------------------------------------
class _MaxUnpoolNd(Module):
    _doc = "Partial inverse of MaxPool{n}d."

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, self._n)
        self.stride = _ntuple(stride if (stride is not None) else kernel_size, self._n)
        self.padding = _ntuple(padding, self._n)

    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        fn = getattr(F, self._functional)
        return fn(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


MaxUnpool1d, MaxUnpool2d, MaxUnpool3d = _nd_family(_MaxUnpoolNd, "max_unpool{n}d")


class _LPPoolNd(Module):
    _doc = "(sum of x^p over each window)^(1/p) over (N, C, {dims}) inputs."
    __constants__ = ["norm_type", "kernel_size", "stride", "ceil_mode"]

    def __init__(self, norm_type: float, kernel_size, stride=None,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        fn = getattr(F, self._functional)
        return fn(input, float(self.norm_type), self.kernel_size, self.stride,
                  self.ceil_mode)

    def extra_repr(self) -> str:
        return ("norm_type={norm_type}, kernel_size={kernel_size}, stride={stride}, "
                "ceil_mode={ceil_mode}".format(**self.__dict__))


LPPool1d, LPPool2d, LPPool3d = _nd_family(_LPPoolNd, "lp_pool{n}d")


class _FractionalMaxPoolNd(Module):
    _doc = "Max pooling over pseudo-randomly placed windows of (N, C, {dims}) inputs."
    __constants__ = ["kernel_size", "return_indices", "output_size", "output_ratio"]

    def __init__(self, kernel_size, output_size=None, output_ratio=None,
                 return_indices: bool = False, _random_samples=None) -> None:
        super().__init__()
        n = self._n
        self.kernel_size = _ntuple(kernel_size, n)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = _ntuple(output_size, n) if output_size is not None else None
        self.output_ratio = _ntuple(output_ratio, n) if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(f"{type(self).__name__} requires specifying either an output size, "
                             "or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input: Tensor):
        fn = getattr(F, self._functional)
        return fn(input, self.kernel_size, self.output_size, self.output_ratio,
                  self.return_indices, _random_samples=self._random_samples)


FractionalMaxPool2d, FractionalMaxPool3d = _nd_family(
    _FractionalMaxPoolNd, "fractional_max_pool{n}d", ns=(2, 3))


# ---- upsampling ------------------------------------------------------------------------------
class Upsample(Module):
    """Resize by interpolation (nearest, linear, bilinear, bicubic, trilinear, area)."""

    __constants__ = ["size", "scale_factor", "mode", "align_corners", "name",
                     "recompute_scale_factor"]

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(factor) for factor in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def __setstate__(self, state):
        if "recompute_scale_factor" not in state:
            state["recompute_scale_factor"] = True
        super().__setstate__(state)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = "scale_factor=" + repr(self.scale_factor)
        else:
            info = "size=" + repr(self.size)
        info += ", mode=" + repr(self.mode)
        return info


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour 2-D upsampling."""

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear 2-D upsampling with align_corners=True."""

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


# ---- padding ---------------------------------------------------------------------------------
class _ConstantPadNd(Module):
    _doc = "Pad the last {n} dim(s) with a constant."
    __constants__ = ["padding", "value"]

    def __init__(self, padding, value: float) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._n)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


ConstantPad1d, ConstantPad2d, ConstantPad3d = _nd_family(_ConstantPadNd)


class _ZeroPadMixin:
    """ZeroPad{1,2,3}d: a ConstantPad{1,2,3}d with value 0, shown by its padding alone."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadMixin, ConstantPad1d):
    """Pad the last dim with zeros."""


class ZeroPad2d(_ZeroPadMixin, ConstantPad2d):
    """Pad the last 2 dims with zeros."""


class ZeroPad3d(_ZeroPadMixin, ConstantPad3d):
    """Pad the last 3 dims with zeros."""


class _IndexPadNd(Module):
    __constants__ = ["padding"]

    def __init__(self, padding) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._n)

    def forward(self, input: Tensor) -> Tensor:
        if self._mode == "circular" and input.dim() not in (self._n + 1, self._n + 2):
            raise ValueError(f"expected {self._n + 1}D or {self._n + 2}D input (got "
                             f"{input.dim()}D input)")
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = _nd_family(
    _IndexPadNd, name="ReflectionPad{n}d", doc="Pad the last {n} dim(s) with their reflection.",
    _mode="reflect")
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = _nd_family(
    _IndexPadNd, name="ReplicationPad{n}d", doc="Pad the last {n} dim(s) with their edge values.",
    _mode="replicate")
CircularPad1d, CircularPad2d, CircularPad3d = _nd_family(
    _IndexPadNd, name="CircularPad{n}d", doc="Pad the last {n} dim(s) by wrapping around.",
    _mode="circular")


# ---- fold / unfold -----------------------------------------------------------------------------
class _SlidingBlocks(_FunctionalLayer):
    def __init__(self, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__(kernel_size=kernel_size, dilation=dilation, padding=padding,
                         stride=stride)


class Fold(_SlidingBlocks):
    """Combine sliding blocks (N, C*K, L) into (N, C, H, W), summing overlaps."""

    __constants__ = ["output_size", "kernel_size", "dilation", "padding", "stride"]
    _functional = "fold"

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size


class Unfold(_SlidingBlocks):
    """Extract sliding blocks: (N, C, H, W) -> (N, C*K, L)."""

    __constants__ = ["kernel_size", "dilation", "padding", "stride"]
    _functional = "unfold"
