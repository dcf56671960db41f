"""Anomaly detection: name the forward op whose backward failed or produced NaN.

While enabled, every recorded node keeps the traceback of the forward call that created it,
and the engine checks each gradient a backward returns for NaN (``check_nan``). On an error
the forward traceback is shown as a warning, then PyTorch's error is raised:
``Function 'MulBackward0' returned nan values in its 0th output.``
"""
from __future__ import annotations

import functools
import sys
import warnings

from .._backend import xp
from .._tensor import Tensor
from ..autograd import function as _function

_check_nan = [True]


def is_anomaly_enabled() -> bool:
    return _function._anomaly[0] is not None


def is_anomaly_check_nan_enabled() -> bool:
    return _check_nan[0]


def _set(mode: bool, check_nan: bool):
    _function._anomaly[0] = sys.modules[__name__] if mode else None
    _check_nan[0] = bool(check_nan)


def report(fn):
    """The engine, on an error in ``fn``'s backward: where the node was created (PyTorch's)."""
    if fn._trace:
        warnings.warn(f"Error detected in {fn.name()}. Traceback of forward call that caused the "
                      "error:\n" + "".join(fn._trace), UserWarning, stacklevel=4)


def check_nan(fn, grads):
    """The engine, after each backward: no NaN in the grads it returned."""
    for i, g in enumerate(grads):
        data = g._data if isinstance(g, Tensor) else None if g is None else xp.asarray(g)
        if _check_nan[0] and data is not None and data.dtype.kind == "f" and xp.isnan(data).any():
            report(fn)
            raise RuntimeError(f"Function '{fn.name()}' returned nan values in its {i}th output.")


class detect_anomaly:
    """Context manager (and decorator) that enables anomaly detection inside it."""

    def __init__(self, check_nan: bool = True) -> None:
        self.prev = is_anomaly_enabled()
        self.check_nan = check_nan
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should "
            "only be enabled for debugging.", UserWarning, stacklevel=2)

    def __enter__(self) -> None:
        _set(True, self.check_nan)

    def __exit__(self, *args) -> bool:
        _set(self.prev, self.prev_check_nan)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly:
    """Turn anomaly detection on or off: a plain call or a context manager."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        _set(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *args) -> bool:
        _set(self.prev, self.prev_check_nan)
        return False
