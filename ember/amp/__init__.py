"""ember.amp: autocast and GradScaler, for programs written for mixed precision.

ember computes in the dtypes it is given: an autocast region runs as written (float32 stays
float32; ember has no bfloat16), and a GradScaler is disabled, as PyTorch's is without CUDA.
"""
from __future__ import annotations

import functools
import warnings

from .. import _dtype

_state = {"enabled": False, "noted": False}


def _note(message):
    if not _state["noted"]:
        _state["noted"] = True
        warnings.warn(message, UserWarning, stacklevel=3)


class autocast:
    """A context manager (and decorator) that leaves dtypes as they are: ember has no autocast."""

    def __init__(self, device_type: str = "cuda", dtype=None, enabled: bool = True,
                 cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        self.device = device_type
        self.fast_dtype = dtype
        self._enabled = bool(enabled)
        if device_type == "cuda" and enabled:
            warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.",
                          UserWarning, stacklevel=2)
            self._enabled = False
        elif enabled:
            _note("ember runs autocast regions in the tensors' own dtypes (no float16/bfloat16 "
                  "casting), so results are float32 where PyTorch's would be lower precision")

    def __enter__(self):
        self._prev = _state["enabled"]
        _state["enabled"] = self._enabled
        return self

    def __exit__(self, *exc):
        _state["enabled"] = self._prev
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled):
                return func(*args, **kwargs)

        return wrapper


def is_autocast_available(device_type: str) -> bool:
    """True for the CPU."""
    return device_type == "cpu"


def custom_fwd(fwd=None, *, device_type: str = "cuda", cast_inputs=None):
    """Returns the forward unchanged: ember has no autocast to adjust."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    return fwd


def custom_bwd(bwd=None, *, device_type: str = "cuda"):
    """Returns the backward unchanged."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    return bwd


class GradScaler:
    """Loss scaling for float16 training; disabled (a pass-through), as PyTorch's without CUDA."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        if enabled and device == "cuda":
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  "
                          "Disabling.", UserWarning, stacklevel=2)
        if enabled and device != "cuda":
            # PyTorch would scale on the CPU; ember keeps float32 gradients, which need no scaling
            _note("ember's GradScaler is a pass-through: gradients stay float32 and need no "
                  "loss scaling")
        self._enabled = False
        self._init_scale = init_scale
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_interval = growth_interval

    def is_enabled(self) -> bool:
        return self._enabled

    def scale(self, outputs):
        return outputs

    def unscale_(self, optimizer) -> None:
        pass

    def step(self, optimizer, *args, **kwargs):
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None) -> None:
        pass

    def get_scale(self) -> float:
        return 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict) -> None:
        pass


def is_autocast_enabled(device_type=None) -> bool:
    """Whether an enabled autocast region is active."""
    return _state["enabled"]


class _BFloat16:
    """torch.bfloat16 by name, so programs can list it; ember has no bfloat16 tensors."""

    __slots__ = ()
    name = "bfloat16"
    is_floating_point = True
    is_signed = True
    is_complex = False
    itemsize = 2

    def __repr__(self):
        return f"{_dtype._names['prefix']}.bfloat16"

    @property
    def dtype(self):  # NumPy asks for this when converting: the place to say why not
        raise TypeError("ember has no bfloat16 tensors (NumPy has no bfloat16): use float32 or "
                        "float16")


bfloat16 = _BFloat16()
