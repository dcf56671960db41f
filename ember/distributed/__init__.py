"""ember.distributed: PyTorch's torch.distributed on MPI (through mpi4py), for the CPU.

Ranks are MPI processes, started by ``python -m ember.distributed.run --nproc-per-node N
script.py`` (torchrun's options and environment) or by ``mpiexec -n N python -m ember run
script.py``; backends "gloo" and "mpi" are both served by MPI. Without mpi4py installed
(``pip install 'ember[distributed]'``) ``is_available()`` is False and programs take their
single-process path. See docs/distributed.md.
"""
from __future__ import annotations

import os as _os

from .distributed_c10d import (  # noqa: F401
    Backend,
    GroupMember,
    P2POp,
    ProcessGroup,
    ReduceOp,
    Work,
    all_gather,
    all_gather_into_tensor,
    all_gather_object,
    all_reduce,
    barrier,
    batch_isend_irecv,
    broadcast,
    broadcast_object_list,
    destroy_process_group,
    gather,
    gather_object,
    get_backend,
    get_default_backend_for_device,
    get_global_rank,
    get_group_rank,
    get_process_group_ranks,
    get_rank,
    get_world_size,
    group,
    init_process_group,
    irecv,
    is_available,
    is_gloo_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
    is_torchelastic_launched,
    isend,
    monitored_barrier,
    new_group,
    recv,
    reduce,
    reduce_op,
    reduce_scatter,
    reduce_scatter_tensor,
    scatter,
    scatter_object_list,
    send,
)


def _env_from_mpiexec() -> None:
    """Under a plain ``mpiexec``, give the program torchrun's variables (unless already set),
    so that scripts reading os.environ["LOCAL_RANK"] run unchanged."""
    env = _os.environ
    if "PMI_RANK" not in env or "PMI_SIZE" not in env:
        return
    env.setdefault("RANK", env["PMI_RANK"])
    env.setdefault("WORLD_SIZE", env["PMI_SIZE"])
    env.setdefault("LOCAL_RANK", env.get("MPI_LOCALRANKID", env["PMI_RANK"]))
    env.setdefault("LOCAL_WORLD_SIZE", env.get("MPI_LOCALNRANKS", env["PMI_SIZE"]))


_env_from_mpiexec()
