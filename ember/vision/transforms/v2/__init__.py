"""torchvision.transforms.v2: the v1 transforms as nn.Modules that take whole samples.

A v2 transform accepts any structure (an image; ``(image, label)``; dicts and lists of them),
transforms the images in it and passes everything else through. What counts as an image is
torchvision's rule: PIL images, or, when the sample has none, its first plain tensor (ember has
no ``tv_tensors``, so every tensor is a plain one). Random parameters are drawn once per call and
shared by every image of the sample. The image operations are the v1 ones, so results match v1
under the same seed (torchvision's own v2 kernels can differ from v1 by rounding).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .... import nn
from ...._creation import tensor
from ...._random import get_rng_state, multinomial, rand, randperm, set_rng_state
from ...._tensor import Tensor
from .. import functional as F1
from .. import transforms as v1
from ..functional import InterpolationMode, _is_pil
from . import functional

__all__ = [
    "CenterCrop", "ColorJitter", "Compose", "ConvertImageDtype", "Grayscale", "Identity",
    "InterpolationMode", "Lambda", "Normalize", "PILToTensor", "Pad", "RandomAffine",
    "RandomApply", "RandomChoice", "RandomCrop", "RandomGrayscale", "RandomHorizontalFlip",
    "RandomOrder", "RandomResizedCrop", "RandomRotation", "RandomVerticalFlip", "Resize",
    "ToDtype", "ToImage", "ToPILImage", "ToPureTensor", "ToTensor", "Transform",
]


# ---- samples: flatten, find the images, rebuild -------------------------------------------------

def _flatten(obj: Any, leaves: list) -> Callable[[list], Any]:
    """Collect the leaves of nested tuples/lists/dicts; return a function that rebuilds it."""
    if isinstance(obj, (tuple, list)):
        parts = [_flatten(o, leaves) for o in obj]
        kind = type(obj)

        def rebuild(it):
            items = [p(it) for p in parts]
            return kind(items) if kind in (tuple, list) else kind(*items)  # namedtuples
        return rebuild
    if isinstance(obj, dict):
        keys = list(obj)
        parts = [_flatten(obj[k], leaves) for k in keys]
        return lambda it: type(obj)((k, p(it)) for k, p in zip(keys, parts))
    leaves.append(obj)
    return lambda it: next(it)


def _image_positions(leaves: list, arrays: bool) -> list[int]:
    pil = [i for i, x in enumerate(leaves) if _is_pil(x) or (arrays and isinstance(x, np.ndarray))]
    if pil:
        return pil
    return [i for i, x in enumerate(leaves) if isinstance(x, Tensor)][:1]


class Transform(nn.Module):
    """Base class: ``forward(*inputs)`` transforms the images of a sample, see the module doc.

    A subclass written for torchvision works: it overrides ``transform(inpt, params)`` (or the
    older ``_transform``) and optionally ``make_params(flat_inputs)`` (or ``_get_params``).
    """

    _accepts_arrays = False  # ToImage also converts numpy arrays

    def __init__(self) -> None:
        super().__init__()

    def __call__(self, *inputs: Any) -> Any:
        return self.forward(*inputs)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """The random parameters of one call, shared by every image of the sample."""
        return {}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Transform one image with the parameters of this call."""
        raise NotImplementedError(f"{type(self).__name__} does not implement transform")

    def forward(self, *inputs: Any) -> Any:
        sample = inputs if len(inputs) > 1 else inputs[0]
        leaves: list = []
        rebuild = _flatten(sample, leaves)
        positions = _image_positions(leaves, self._accepts_arrays)
        user = self._user_hooks()
        if user is not None:
            transform, make_params = user
            params = make_params([leaves[i] for i in positions])
            for i in positions:
                leaves[i] = transform(leaves[i], params)
        elif len(positions) > 1:  # replay the generator so every image gets the same parameters
            state = get_rng_state()
            for i in positions:
                set_rng_state(state)
                leaves[i] = self._apply(leaves[i])
        else:
            for i in positions:
                leaves[i] = self._apply(leaves[i])
        return rebuild(iter(leaves))

    def _user_hooks(self):
        """(transform, make_params) when a subclass defines them, torchvision style."""
        cls = type(self)
        if cls.transform is not Transform.transform:
            return self.transform, self.make_params
        if hasattr(cls, "_transform"):
            return self._transform, getattr(self, "_get_params", self.make_params)
        return None

    def _apply(self, img: Any) -> Any:
        """Transform one image; the classes built on a v1 transform run its code."""
        for cls in type(self).__mro__:
            if cls.__module__ == v1.__name__:
                call = cls.__dict__.get("forward") or cls.__dict__.get("__call__")
                if call is not None:
                    return call(self, img)
        raise NotImplementedError(f"{type(self).__name__} does not implement transform")


def _interp_repr(mode: InterpolationMode) -> str:
    return mode.value


# ---- conversions --------------------------------------------------------------------------------

class ToImage(Transform):
    """PIL image, HWC ndarray or tensor -> [C, H, W] tensor, dtype kept (uint8 for PIL)."""

    _accepts_arrays = True

    def _apply(self, img):
        return functional.to_image(img)


class ToPureTensor(Transform):
    """Identity: ember's images are already plain tensors (no tv_tensors)."""

    def _apply(self, img):
        return img


class Identity(Transform):
    """Return the input unchanged."""

    def forward(self, *inputs):
        return inputs if len(inputs) > 1 else inputs[0]


class ToDtype(Transform):
    """Convert images to ``dtype``; ``scale=True`` also rescales values (e.g. uint8 -> [0, 1])."""

    def __init__(self, dtype, scale: bool = False) -> None:
        super().__init__()
        if isinstance(dtype, dict):
            raise NotImplementedError("ToDtype with a dict of dtypes needs tv_tensors, which "
                                      "ember does not have; pass one dtype for the images")
        self.dtype = dtype
        self.scale = scale

    def _apply(self, img):
        if not isinstance(img, Tensor):  # PIL images pass through, as in torchvision
            return img
        return functional.to_dtype(img, self.dtype, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class ToTensor(Transform, v1.ToTensor):
    """Deprecated in v2: PIL/ndarray -> float tensor in [0, 1]."""

    _accepts_arrays = True

    def __init__(self) -> None:
        warnings.warn("The transform `ToTensor()` is deprecated and will be removed in a future "
                      "release. Instead, please use `v2.Compose([v2.ToImage(), "
                      "v2.ToDtype(torch.float32, scale=True)])`.Output is equivalent up to float "
                      "precision.")
        super().__init__()


class PILToTensor(Transform, v1.PILToTensor):
    """PIL image -> uint8 [C, H, W] tensor."""

    def _apply(self, img):
        return F1.pil_to_tensor(img) if _is_pil(img) else img


class ToPILImage(Transform, v1.ToPILImage):
    """Tensor or ndarray -> PIL image."""

    _accepts_arrays = True

    def __init__(self, mode=None) -> None:
        super().__init__()
        v1.ToPILImage.__init__(self, mode)

    def _apply(self, img):
        return img if _is_pil(img) else F1.to_pil_image(img, self.mode)


class ConvertImageDtype(Transform, v1.ConvertImageDtype):
    """Convert a tensor image's dtype, rescaling values (= ``ToDtype(dtype, scale=True)``)."""

    def __init__(self, dtype) -> None:
        super().__init__()
        v1.ConvertImageDtype.__init__(self, dtype)


# ---- the v1 transforms, as v2 modules -----------------------------------------------------------

class Normalize(Transform, v1.Normalize):
    """(x - mean) / std per channel, on tensor images."""

    def __init__(self, mean: Sequence[float], std: Sequence[float],
                 inplace: bool = False) -> None:
        super().__init__()
        v1.Normalize.__init__(self, list(mean), list(std), inplace)

    def _apply(self, img):
        if _is_pil(img):
            raise TypeError(f"{type(self).__name__}() does not support PIL images.")
        return v1.Normalize.forward(self, img)

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}, inplace={self.inplace}"


class Resize(Transform, v1.Resize):
    """Resize to (h, w), or the shorter edge to ``size`` when it is an int."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias: bool | None = True) -> None:
        super().__init__()
        v1.Resize.__init__(self, size, interpolation, max_size, antialias)
        if isinstance(size, int):
            self.size = [size]
        elif size is not None:
            self.size = list(size)

    def extra_repr(self) -> str:
        out = f"size={self.size}, interpolation={_interp_repr(self.interpolation)}"
        if self.max_size is not None:
            out += f", max_size={self.max_size}"
        return out + f", antialias={self.antialias}"


class CenterCrop(Transform, v1.CenterCrop):
    """Crop the center to ``size``."""

    def __init__(self, size) -> None:
        super().__init__()
        v1.CenterCrop.__init__(self, size)
        self.size = tuple(self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class RandomCrop(Transform, v1.RandomCrop):
    """Crop at a random position (after optional padding)."""

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0,
                 padding_mode: str = "constant") -> None:
        super().__init__()
        v1.RandomCrop.__init__(self, size, padding, pad_if_needed, fill, padding_mode)

    def extra_repr(self) -> str:
        p = self.padding
        if p is not None:
            p = [p] * 4 if isinstance(p, int) else list(p)
            p = p * 4 if len(p) == 1 else [p[0], p[1], p[0], p[1]] if len(p) == 2 else p
        return (f"size={self.size}, padding={p}, pad_if_needed={self.pad_if_needed}, "
                f"fill={self.fill}, padding_mode={self.padding_mode}")


class RandomResizedCrop(Transform, v1.RandomResizedCrop):
    """Crop a random area and aspect ratio, resized to ``size``."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias: bool | None = True) -> None:
        super().__init__()
        v1.RandomResizedCrop.__init__(self, size, scale, ratio, interpolation, antialias)
        self.size = tuple(self.size)

    def extra_repr(self) -> str:
        return (f"size={self.size}, scale={self.scale}, ratio={self.ratio}, "
                f"interpolation={_interp_repr(self.interpolation)}, antialias={self.antialias}")


class _RandomFlip(Transform):
    """A v1 flip (the second base) as a v2 transform."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = p

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RandomHorizontalFlip(_RandomFlip, v1.RandomHorizontalFlip):
    """Flip left-right with probability p."""


class RandomVerticalFlip(_RandomFlip, v1.RandomVerticalFlip):
    """Flip top-bottom with probability p."""


class ColorJitter(Transform, v1.ColorJitter):
    """Random brightness, contrast, saturation and hue changes, in a random order."""

    def __init__(self, brightness=None, contrast=None, saturation=None, hue=None) -> None:
        super().__init__()
        v1.ColorJitter.__init__(self, brightness or 0, contrast or 0, saturation or 0, hue or 0)

    def extra_repr(self) -> str:
        parts = [f"{n}={tuple(v)}" for n in ("brightness", "contrast", "saturation", "hue")
                 if (v := getattr(self, n)) is not None]
        return ", ".join(parts)


class Grayscale(Transform, v1.Grayscale):
    """Convert to grey with 1 or 3 output channels."""

    def __init__(self, num_output_channels: int = 1) -> None:
        super().__init__()
        v1.Grayscale.__init__(self, num_output_channels)

    def extra_repr(self) -> str:
        return f"num_output_channels={self.num_output_channels}"


class RandomGrayscale(Transform):
    """Convert to grey (keeping the number of channels) with probability p."""

    def __init__(self, p: float = 0.1) -> None:
        super().__init__()
        self.p = p

    def _apply(self, img):
        if rand(1).item() >= self.p:
            return img
        return F1.rgb_to_grayscale(img, num_output_channels=F1.get_dimensions(img)[0])

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Pad(Transform, v1.Pad):
    """Pad the borders (constant, edge, reflect or symmetric)."""

    def __init__(self, padding, fill=0, padding_mode: str = "constant") -> None:
        super().__init__()
        v1.Pad.__init__(self, padding, fill, padding_mode)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode}"


class RandomRotation(Transform, v1.RandomRotation):
    """Rotate by a random angle in ``degrees``."""

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand: bool = False,
                 center=None, fill=0) -> None:
        super().__init__()
        v1.RandomRotation.__init__(self, degrees, interpolation, expand, center, fill)

    def extra_repr(self) -> str:
        out = (f"degrees={[float(d) for d in self.degrees]}, "
               f"interpolation={_interp_repr(self.interpolation)}, expand={self.expand}")
        if self.center is not None:
            out += f", center={self.center}"
        return out + f", fill={self.fill}"


class RandomAffine(Transform, v1.RandomAffine):
    """A random rotation, translation, scale and shear."""

    def __init__(self, degrees, translate=None, scale=None, shear=None,
                 interpolation=InterpolationMode.NEAREST, fill=0, center=None) -> None:
        super().__init__()
        v1.RandomAffine.__init__(self, degrees, translate, scale, shear, interpolation, fill,
                                 center)

    def extra_repr(self) -> str:
        out = f"degrees={[float(d) for d in self.degrees]}"
        for name in ("translate", "scale", "shear"):
            if getattr(self, name) is not None:
                out += f", {name}={getattr(self, name)}"
        out += f", interpolation={_interp_repr(self.interpolation)}, fill={self.fill}"
        if self.center is not None:
            out += f", center={self.center}"
        return out


class Lambda(Transform):
    """Apply a function to every leaf of the sample whose type is in ``types`` (default: all)."""

    def __init__(self, lambd: Callable[[Any], Any], *types: type) -> None:
        super().__init__()
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd
        self.types = types or (object,)

    def forward(self, *inputs):
        sample = inputs if len(inputs) > 1 else inputs[0]
        leaves: list = []
        rebuild = _flatten(sample, leaves)
        leaves = [self.lambd(x) if isinstance(x, self.types) else x for x in leaves]
        return rebuild(iter(leaves))

    def extra_repr(self) -> str:
        name = getattr(self.lambd, "__name__", None) or type(self.lambd).__name__
        return f"{name}, types={[t.__name__ for t in self.types]}"


# ---- containers ---------------------------------------------------------------------------------

def _check_sequence(transforms) -> None:
    if not isinstance(transforms, Sequence):
        raise TypeError("Argument transforms should be a sequence of callables")


class Compose(Transform):
    """Apply transforms one after another to the whole sample."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        super().__init__()
        _check_sequence(transforms)
        if not transforms:
            raise ValueError("Pass at least one transform")
        self.transforms = transforms

    def forward(self, *inputs):
        unpack = len(inputs) > 1
        for t in self.transforms:
            out = t(*inputs)
            inputs = out if unpack else (out,)
        return out

    def extra_repr(self) -> str:
        return "\n".join(f"    {t}" for t in self.transforms)


class RandomApply(Compose):
    """Apply the transforms (all of them, in order) with probability p."""

    def __init__(self, transforms: Sequence[Callable], p: float = 0.5) -> None:
        super().__init__(transforms)
        if not 0.0 <= p <= 1.0:
            raise ValueError("`p` should be a floating point value in the interval [0.0, 1.0].")
        self.p = p

    def forward(self, *inputs):
        if rand(1).item() >= self.p:
            return inputs if len(inputs) > 1 else inputs[0]
        return super().forward(*inputs)


class RandomChoice(Transform):
    """Apply one transform picked at random (with probabilities p)."""

    def __init__(self, transforms: Sequence[Callable], p: list[float] | None = None) -> None:
        super().__init__()
        _check_sequence(transforms)
        if p is None:
            p = [1] * len(transforms)
        elif len(p) != len(transforms):
            raise ValueError(f"Length of p doesn't match the number of transforms: {len(p)} != "
                             f"{len(transforms)}")
        total = sum(p)
        self.transforms = transforms
        self.p = [prob / total for prob in p]

    def forward(self, *inputs):
        idx = int(multinomial(tensor(self.p), 1).item())
        return self.transforms[idx](*inputs)

    def extra_repr(self) -> str:
        return f"transforms={list(self.transforms)}, p={self.p}"


class RandomOrder(Transform):
    """Apply the transforms in a random order."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        super().__init__()
        _check_sequence(transforms)
        self.transforms = transforms

    def forward(self, *inputs):
        unpack = len(inputs) > 1
        out = inputs if unpack else inputs[0]
        for idx in randperm(len(self.transforms)).tolist():
            out = self.transforms[idx](*inputs)
            inputs = out if unpack else (out,)
        return out

    def extra_repr(self) -> str:
        return f"transforms={list(self.transforms)}"
