"""``torch.multiprocessing`` for ember: the standard ``multiprocessing`` API, tensors in shared
memory, and ``spawn``.

``import ember.multiprocessing as mp`` gives everything ``multiprocessing`` has (Process, Queue,
Pool, get_context, set_start_method, cpu_count, ...). Tensors moved into shared memory with
``share_memory_()`` (``Module.share_memory()`` for a model) keep sharing it when they reach
other processes: by inheritance under fork, and through multiprocessing's pickler (Process
arguments under spawn, Queue, Pipe) otherwise, so a child's in-place update is seen by every
process (Hogwild training). Other tensors are copied, as before. ``spawn(fn, args, nprocs)``
runs ``fn(i, *args)`` in ``nprocs`` processes; with mpi4py installed they are MPI ranks, so
``dist.init_process_group`` in ``fn`` forms a real group (see spawn.py and docs/distributed.md).
"""
from __future__ import annotations

import multiprocessing
from multiprocessing import *
from multiprocessing import spawn as _mp_spawn

from .. import compat
from .reductions import init_reductions
from .spawn import (
    ProcessContext,
    ProcessException,
    ProcessExitedException,
    ProcessRaisedException,
    spawn,
    start_processes,
)

__all__ = [
    "ProcessContext",
    "ProcessException",
    "ProcessExitedException",
    "ProcessRaisedException",
    "get_all_sharing_strategies",
    "get_sharing_strategy",
    "init_reductions",
    "set_sharing_strategy",
    "spawn",
    "start_processes",
]
__all__ += multiprocessing.__all__

# Both names are accepted, as PyTorch's Linux build does; ember passes every shared segment as
# a file descriptor (the memory has no name anywhere, so nothing can leak), whichever is set.
_all_sharing_strategies = {"file_descriptor", "file_system"}
_sharing_strategy = ["file_descriptor"]


def set_sharing_strategy(new_strategy: str) -> None:
    """Set the strategy for sharing CPU tensors ("file_descriptor" or "file_system")."""
    if new_strategy not in _all_sharing_strategies:
        raise AssertionError(f"invalid sharing strategy {new_strategy!r}, "
                             f"expected one of {_all_sharing_strategies}")
    _sharing_strategy[0] = new_strategy


def get_sharing_strategy() -> str:
    """The current strategy for sharing CPU tensors."""
    return _sharing_strategy[0]


def get_all_sharing_strategies() -> set:
    """The sharing strategies this system supports."""
    return set(_all_sharing_strategies)


class _InstallCompat:
    """Unpickled in a spawned child before its main script is imported: makes the script's
    ``import torch`` resolve to ember there too, as it did in the parent (``python -m ember
    run``)."""

    def __reduce__(self):
        return (_install_compat, ())


def _install_compat():
    compat.install()


def _patch_spawn_preparation() -> None:
    # multiprocessing's spawn children import the main script before anything of ours runs;
    # the preparation data is unpickled first, and prepare() ignores keys it does not know.
    original = _mp_spawn.get_preparation_data
    if getattr(original, "_ember", False):
        return

    def get_preparation_data(name):
        d = original(name)
        if compat.is_installed():
            d = {"ember_compat": _InstallCompat(), **d}  # first: unpickled before the rest
        return d

    get_preparation_data._ember = True
    _mp_spawn.get_preparation_data = get_preparation_data


_patch_spawn_preparation()
init_reductions()
