"""ember.distributed: ember runs in one process, so there is no process group to join.

Programs import it for their multi-process path (``init_process_group``, ``get_rank``...) and
take the single-process path when ``is_initialized()`` is False; that path runs unchanged.
"""
from __future__ import annotations


def _unsupported(what):
    return RuntimeError(f"{what}: ember runs in a single process and has no distributed backend")


def is_available() -> bool:
    """False: ember has no distributed backend."""
    return False


def is_initialized() -> bool:
    """False: no process group exists."""
    return False


def is_torchelastic_launched() -> bool:
    """False."""
    return False


def get_rank(group=None) -> int:
    """An error, as PyTorch's without a process group."""
    raise ValueError("Default process group has not been initialized, please make sure to call "
                     "init_process_group.")


get_world_size = get_rank


def init_process_group(*args, **kwargs) -> None:
    """An error: ember has no distributed backend."""
    raise _unsupported("init_process_group")


def destroy_process_group(group=None) -> None:
    """An error: no process group was created."""
    raise _unsupported("destroy_process_group")


def barrier(*args, **kwargs) -> None:
    """An error: no process group was created."""
    raise _unsupported("barrier")


def all_reduce(*args, **kwargs):
    """An error: no process group was created."""
    raise _unsupported("all_reduce")


class ReduceOp:
    """The reduction names programs pass to all_reduce."""

    SUM, PRODUCT, MIN, MAX, BAND, BOR, BXOR, AVG = ("SUM", "PRODUCT", "MIN", "MAX", "BAND", "BOR",
                                                    "BXOR", "AVG")
