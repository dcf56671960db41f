"""ember.fft: the real-valued helpers (fftfreq, rfftfreq, fftshift, ifftshift); the transforms
themselves return complex tensors, which ember does not have."""
from __future__ import annotations

from . import _dtype
from ._backend import xp
from ._tensor import Tensor, _make

__all__ = [
    "fft",
    "fft2",
    "fftfreq",
    "fftn",
    "fftshift",
    "hfft",
    "ifft",
    "ifft2",
    "ifftn",
    "ifftshift",
    "ihfft",
    "irfft",
    "irfft2",
    "irfftn",
    "rfft",
    "rfft2",
    "rfftfreq",
    "rfftn",
]


def _freq(values: xp.ndarray, dtype, requires_grad: bool) -> Tensor:
    dt = _dtype.get_default_dtype() if dtype is None else _dtype.to_dtype(dtype)
    t = _make(values.astype(dt.np), False, None, 0)
    return t.requires_grad_() if requires_grad else t


def fftfreq(n: int, d: float = 1.0, *, out=None, dtype=None, layout=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """The sample frequencies of an ``n``-point FFT with sample spacing ``d``."""
    return _freq(xp.fft.fftfreq(n, d), dtype, requires_grad)


def rfftfreq(n: int, d: float = 1.0, *, out=None, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """The non-negative sample frequencies of an ``n``-point real FFT."""
    return _freq(xp.fft.rfftfreq(n, d), dtype, requires_grad)


def _shift(input: Tensor, dim, sign: int) -> Tensor:
    dims = tuple(range(input.ndim)) if dim is None else (dim,) if isinstance(dim, int) \
        else tuple(dim)
    shifts = [sign * (input.shape[d] // 2) for d in dims]
    return input.roll(shifts, dims)


def fftshift(input: Tensor, dim=None) -> Tensor:
    """Move the zero frequency to the centre (a roll by n // 2)."""
    return _shift(input, dim, 1)


def ifftshift(input: Tensor, dim=None) -> Tensor:
    """The inverse of fftshift (a roll by -(n // 2))."""
    return _shift(input, dim, -1)


def _complex(name: str):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"torch.fft.{name}: ember has no complex dtype, so the Fourier "
                                  "transforms (which return or take complex tensors) are not "
                                  "supported; fftfreq, rfftfreq, fftshift and ifftshift are")

    fn.__name__ = name
    fn.__doc__ = f"Not supported: torch.fft.{name} needs complex tensors."
    return fn


fft, ifft, fft2, ifft2, fftn, ifftn = (_complex(n) for n in
                                       ("fft", "ifft", "fft2", "ifft2", "fftn", "ifftn"))
rfft, irfft, rfft2, irfft2, rfftn, irfftn = (_complex(n) for n in
                                             ("rfft", "irfft", "rfft2", "irfft2", "rfftn",
                                              "irfftn"))
hfft, ihfft = _complex("hfft"), _complex("ihfft")
