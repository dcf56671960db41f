"""ember: PyTorch's API on NumPy — tensors, autograd, nn, optim and data loading on the CPU."""
from __future__ import annotations

__version__ = "0.1.0"

import warnings as _warnings

# PyTorch computes inf/nan silently (seed S2's diverging run prints `nan`); NumPy warns.
# Silence NumPy's floating-point warnings raised inside ember only, not in the user's code.
_warnings.filterwarnings(
    "ignore", r"(overflow|invalid value|divide by zero|underflow) encountered",
    RuntimeWarning, r"ember(\.|$)")

import builtins as _builtins
import importlib as _importlib
import os as _os
import sys as _sys

# OpenBLAS's idle workers busy-wait 2^28 cycles (~0.1 s) after every multi-threaded call,
# holding the core that ember's own threads then need (_ops/_parallel.py): a parallel GELU
# after a GEMM ran no faster than a serial one (5.5 against 5.1 ms). 2^20 cycles (~0.3 ms)
# keeps them awake between a training step's GEMMs but not through a kernel (GELU 4.4 against
# 7.0 ms serial; 2^4, sleeping at once, made the MLP's epoch ~15% slower, its GEMMs waking
# them each time). OpenBLAS reads this when NumPy loads it, so only an ember imported before
# NumPy can set it (``python -m ember run`` is); a value the user set stays.
if "numpy" not in _sys.modules:
    _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")

from . import _dtype, autograd, cuda  # noqa: E402
from . import _tensor as _tensor_mod
from ._alloc import tune_malloc as _tune_malloc
from ._creation import *  # noqa: E402,F403
from ._device import CPU as _CPU
from ._device import Size, device
from ._device import check_device as _check_device
from ._dtype import (
    bool_ as bool,  # noqa: A004 - PyTorch's name
)
from ._dtype import (
    double,
    dtype,
    finfo,
    float,  # noqa: A004
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    iinfo,
    int,  # noqa: A004
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    set_default_dtype,
    short,
    uint8,
)
from ._ops import NN_OPS_EXPORTS as _NN_OPS_EXPORTS  # noqa: E402
from ._ops import protocols as _protocols  # noqa: F401  (Tensor's Python/NumPy protocols)
from ._ops.elementwise import *  # noqa: E402,F403
from ._ops.indexing import *  # noqa: E402,F403
from ._ops.linalg import *  # noqa: E402,F403
from ._ops.movement import *  # noqa: E402,F403
from ._ops.reduce import *  # noqa: E402,F403
from ._random import *  # noqa: E402,F403
from ._tensor import Tensor
from ._threads import (
    get_num_interop_threads,
    get_num_threads,
    set_num_interop_threads,
    set_num_threads,
)
from .amp import autocast, bfloat16, is_autocast_enabled  # noqa: E402
from .autograd import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .autograd import function as _function  # noqa: F401  (binds Function before the ops)

_tune_malloc()

strided = "torch.strided"
contiguous_format = preserve_format = channels_last = None


from math import e, inf, nan, pi  # noqa: E402  torch.pi, torch.e, torch.inf, torch.nan


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_complex(input) -> bool:
    return input.is_complex()


def is_nonzero(input) -> bool:
    """Whether a one-element tensor is nonzero (an error for any other size, as in PyTorch)."""
    return _builtins.bool(input)


_tensor_mod.register_methods(is_nonzero=is_nonzero)


def _assert(condition, message):
    """``assert condition, message`` (kept for scripts written for tracing)."""
    assert condition, message


def lgamma(input, *, out=None):
    """log|Gamma(input)| (ember.special.gammaln)."""
    return _lazy("special").gammaln(input, out=out)


def digamma(input, *, out=None):
    """d/dx log Gamma(x) (ember.special.digamma)."""
    return _lazy("special").digamma(input, out=out)


def i0(input, *, out=None):
    """The modified Bessel function of the first kind, order 0 (ember.special.i0)."""
    return _lazy("special").i0(input, out=out)


_tensor_mod.register_methods(lgamma=lgamma, digamma=digamma, i0=i0)


def is_floating_point(input) -> bool:
    return input.is_floating_point()


def numel(input) -> int:
    return input.numel()


def result_type(tensor1, tensor2):
    return _dtype.result_type(tensor1, tensor2)


def can_cast(from_, to) -> bool:
    return _dtype.can_cast(from_, to)


def typename(obj) -> str:
    return obj.type() if isinstance(obj, Tensor) else type(obj).__name__


def set_flush_denormal(mode: bool) -> bool:
    """Flush subnormal floats to zero (x86-64 FTZ/DAZ); returns whether it is supported."""
    from ._denormal import set_flush_denormal as _set  # in here: ~1 ms off `import ember`

    return _set(mode)


_flags = {"deterministic": False, "warn_only": False, "matmul_precision": "highest",
          "compile_noted": False}


def set_default_device(device) -> None:
    """Set the device factories use: the CPU (or None); any other device is an error."""
    _check_device(device)


def get_default_device():
    """The device factories use: always the CPU."""
    return _CPU


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor", mode=None,
            options=None, disable: bool = False, **kwargs):
    """Return ``model`` unchanged (also as a decorator): ember runs every op eagerly."""
    if model is None:  # @torch.compile(...) with arguments
        return lambda fn: compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                                  mode=mode, options=options, disable=disable)
    if not callable(model):
        raise RuntimeError("The input to torch.compile must be a callable (a function or an "
                           "nn.Module)")
    if not _flags["compile_noted"] and not disable:
        _flags["compile_noted"] = True
        _warnings.warn("torch.compile: ember runs eagerly, so the model is returned unchanged",
                       UserWarning, stacklevel=2)
    return model


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Recorded only: ember's ops are deterministic already."""
    if not isinstance(mode, (_builtins.bool, _builtins.int)):
        raise RuntimeError(f"use_deterministic_algorithms expects a bool, but got "
                           f"{type(mode).__name__}")
    _flags["deterministic"] = _builtins.bool(mode)
    _flags["warn_only"] = _builtins.bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _flags["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _flags["warn_only"]


def set_float32_matmul_precision(precision: str) -> None:
    """Recorded only: NumPy's float32 matmul is always full precision ('highest')."""
    if precision not in ("highest", "high", "medium"):
        _warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current"
                       "setFloat32MatmulPrecision call has no effect.", UserWarning, stacklevel=2)
        return
    _flags["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _flags["matmul_precision"]


def _lazy(name):
    return _importlib.import_module(f"{__name__}.{name}")


# ember._ops.nn_ops (softmax, convolutions, pooling, recurrent kernels: the largest op
# module) loads on first use of one of its names.
_NN_OPS_NAMES = frozenset(_NN_OPS_EXPORTS)


def _nn_ops_method(name):
    def method(self, *args, **kwargs):  # replaced by nn_ops' own method when it loads
        _lazy("_ops.nn_ops")
        return getattr(self, name)(*args, **kwargs)

    method.__name__ = name
    return method


_tensor_mod.register_methods(softmax=_nn_ops_method("softmax"),
                             log_softmax=_nn_ops_method("log_softmax"))


_LAZY_MODULES = ("nn", "optim", "utils", "vision", "linalg", "d2l", "compat", "serialization",
                 "return_types", "distributions", "onnx", "accelerator", "backends", "mps", "cpu",
                 "amp", "distributed", "doctor", "multiprocessing", "version", "profiler",
                 "functional", "testing", "special", "jit", "hub", "fft")


def __dir__():
    return sorted(set(globals()) | _NN_OPS_NAMES | set(_LAZY_MODULES)
                  | {"save", "load", "set_printoptions", "get_printoptions"})


def __getattr__(name):
    # Heavier subpackages load on first use, which keeps `import ember` fast.
    if name in _NN_OPS_NAMES:
        value = getattr(_lazy("_ops.nn_ops"), name)
        globals()[name] = value
        return value
    if name in _LAZY_MODULES:
        mod = _lazy(name)
        globals()[name] = mod
        return mod
    if name in ("save", "load"):
        mod = _lazy("serialization")
        return getattr(mod, name)
    if name in ("set_printoptions", "get_printoptions"):
        return getattr(_lazy("_tensor_str"), name)
    raise AttributeError(f"module 'ember' has no attribute '{name}'")
