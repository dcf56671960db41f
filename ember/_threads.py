"""Thread control: set_num_threads/get_num_threads drive the BLAS pool through threadpoolctl."""
from __future__ import annotations

import os

_limits = {"n": None, "controller": None}


def _controller():
    if _limits["controller"] is None:
        from threadpoolctl import ThreadpoolController

        _limits["controller"] = ThreadpoolController()
    return _limits["controller"]


def set_num_threads(n: int) -> None:
    """Set the number of threads NumPy's BLAS uses for matmul and friends."""
    n = int(n)
    if n < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, but got {n}")
    _controller().limit(limits=n, user_api="blas")
    _limits["n"] = n


def get_num_threads() -> int:
    if _limits["n"] is not None:
        return _limits["n"]
    try:
        infos = _controller().select(user_api="blas").info()
        if infos:
            return int(infos[0]["num_threads"])
    except Exception:  # threadpoolctl could not inspect the BLAS: fall back to the CPU count
        pass
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_num_interop_threads(n: int) -> None:
    """ember runs ops one at a time; accepted for compatibility."""


def get_num_interop_threads() -> int:
    return 1
