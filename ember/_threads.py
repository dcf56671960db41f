"""Thread control: set_num_threads/get_num_threads drive the BLAS pool through threadpoolctl.

The number is also how many ranges ember's own kernels split their work into
(``_ops/_parallel.py``: convolutions, GELU, BatchNorm, LayerNorm, softmax...), with BLAS pinned
to one thread meanwhile (``blas_one_thread``). threadpoolctl is optional: without it the number is only recorded.
"""
from __future__ import annotations

import os

_limits = {"n": None, "controller": None, "default": None}


def _controller():
    if _limits["controller"] is None:
        try:
            from threadpoolctl import ThreadpoolController  # (first thread query: import cost)
        except ImportError:
            return None
        _limits["controller"] = ThreadpoolController()
    return _limits["controller"]


def _cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_num_threads(n: int) -> None:
    """Set the number of intra-op threads: the BLAS library's (through threadpoolctl) and the
    ranges ember's own kernels split their work into (``_ops/_parallel.py``)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise RuntimeError("set_num_threads expects a positive integer")
    ctl = _controller()
    if ctl is not None:
        ctl.limit(limits=n, user_api="blas")
    _limits["n"] = n


def get_num_threads() -> int:
    """The number of threads used for intra-op parallelism (by default the BLAS pool's size)."""
    if _limits["n"] is not None:
        return _limits["n"]
    if _limits["default"] is None:
        n = None
        ctl = _controller()
        if ctl is not None:
            try:
                infos = ctl.select(user_api="blas").info()
                if infos:
                    n = int(infos[0]["num_threads"])
            except Exception:  # noqa: BLE001 - threadpoolctl could not inspect the BLAS
                n = None
        _limits["default"] = n if n else _cpu_count()
    return _limits["default"]


class _Pinned:
    """BLAS held at one thread until restore() (a few microseconds each way)."""

    def __init__(self, libs):
        self.saved = [(lib, lib.get_num_threads()) for lib in libs]
        for lib, n in self.saved:
            if n != 1:
                lib.set_num_threads(1)

    def restore(self):
        for lib, n in self.saved:
            if n != 1:
                lib.set_num_threads(n)


def blas_one_thread() -> _Pinned:
    """Pin the BLAS libraries to one thread; ``.restore()`` gives them their threads back."""
    libs = _limits.get("libs")
    if libs is None:
        ctl = _controller()
        libs = _limits["libs"] = [] if ctl is None else list(
            ctl.select(user_api="blas").lib_controllers)
    return _Pinned(libs)


def set_num_interop_threads(n: int) -> None:
    """ember runs ops one at a time; accepted for compatibility."""
    if not isinstance(n, int) or n < 1:
        raise RuntimeError("Expected positive number of threads")


def get_num_interop_threads() -> int:
    """1: ember runs ops one at a time."""
    return 1
