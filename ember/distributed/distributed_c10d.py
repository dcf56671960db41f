"""Process groups and collectives on MPI (through mpi4py).

Every rank is an MPI process started by ``mpiexec`` (or ``python -m ember.distributed.run``);
a process group is an MPI communicator. Collectives work in place on the tensors' NumPy
buffers, as PyTorch's do on theirs.

Waiting is a polling loop over non-blocking MPI requests rather than a blocking MPI call, so
that a rank can notice that a peer has left (each rank says goodbye at exit) or that the
group's timeout has passed, and fail with an error instead of hanging. An uncaught exception
in any rank calls ``MPI_Abort``, which makes ``mpiexec`` end every rank of the job.
"""
from __future__ import annotations

import atexit
import enum
import importlib.util
import os
import pickle
import sys
import time
import zlib
from datetime import timedelta

import numpy as np

from .._ops.movement import stack
from .._tensor import Tensor

_MPI = None  # mpi4py.MPI once a process group exists; importing it initialises MPI


def _mpi():
    global _MPI
    if _MPI is None:
        try:
            from mpi4py import MPI  # on first use: importing it initialises MPI
        except ImportError as e:
            raise RuntimeError("ember.distributed needs mpi4py and an MPI runtime: "
                               "pip install 'ember[distributed]'") from e
        _MPI = MPI
    return _MPI


def is_available() -> bool:
    """True when mpi4py (ember's transport) is installed."""
    return importlib.util.find_spec("mpi4py") is not None


# ---------------------------------------------------------------------------------------------
# names: Backend, ReduceOp, group
# ---------------------------------------------------------------------------------------------

class Backend(str):
    """A backend name; "gloo" and "mpi" are both served by MPI on the CPU."""

    UNDEFINED, GLOO, NCCL, UCC, MPI = "undefined", "gloo", "nccl", "ucc", "mpi"

    def __new__(cls, name: str):
        if not isinstance(name, str):
            raise TypeError(f"Backend constructor parameter must be string-ish, but got: "
                             f"{type(name)}")
        return str.__new__(cls, name.lower())


class RedOpType(enum.IntEnum):
    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7
    PREMUL_SUM = 8
    UNUSED = 9

    def __repr__(self):
        return f"<RedOpType.{self.name}: {self.value}>"


class ReduceOp:
    """The reductions of all_reduce, reduce and reduce_scatter."""

    RedOpType = RedOpType
    SUM, AVG, PRODUCT, MIN, MAX = (RedOpType.SUM, RedOpType.AVG, RedOpType.PRODUCT,
                                   RedOpType.MIN, RedOpType.MAX)
    BAND, BOR, BXOR, PREMUL_SUM, UNUSED = (RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR,
                                           RedOpType.PREMUL_SUM, RedOpType.UNUSED)


reduce_op = ReduceOp


class ProcessGroup:
    """A set of ranks sharing an MPI communicator."""

    def __init__(self, comm, ranks: list[int], backend: str, timeout: float):
        self.comm = comm
        self.ranks = ranks  # global ranks of the members, in group-rank order
        self.backend = backend
        self.timeout = timeout

    def rank(self) -> int:
        """This process's rank in the group."""
        return self.comm.Get_rank()

    def size(self) -> int:
        """The number of ranks in the group."""
        return self.comm.Get_size()

    def name(self) -> str:
        """The backend's name."""
        return self.backend

    def __repr__(self):
        return f"<ember.distributed.ProcessGroup backend={self.backend} ranks={self.ranks}>"


class GroupMember:
    """``WORLD`` (the default group, once initialised) and ``NON_GROUP_MEMBER``."""

    WORLD: ProcessGroup | None = None
    NON_GROUP_MEMBER = object()


class _WorldView:
    """``dist.group.WORLD``: the default group, looked up when read."""

    @property
    def WORLD(self):
        return GroupMember.WORLD


group = _WorldView()

_state = {"ctl": None, "destroyed": False, "hooks": False, "groups": []}
_TAG_BYE = 0x7E1
_DEBUG_ENV = "EMBER_DIST_CHECK"


def _default_pg() -> ProcessGroup:
    pg = GroupMember.WORLD
    if pg is None:
        raise ValueError("Default process group has not been initialized, please make sure to "
                         "call init_process_group.")
    return pg


def _group(g) -> ProcessGroup | None:
    """The ProcessGroup to run on, or None when this rank is not a member of ``g``."""
    if g is None or g is GroupMember.WORLD:
        return _default_pg()
    if g is GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(g, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup, got {type(g).__name__}")
    _default_pg()
    return g


def is_initialized() -> bool:
    """Whether the default process group exists."""
    return GroupMember.WORLD is not None


def is_mpi_available() -> bool:
    """True when mpi4py is installed."""
    return is_available()


def is_gloo_available() -> bool:
    """True when mpi4py is installed ("gloo" is served by MPI)."""
    return is_available()


def is_nccl_available() -> bool:
    """False: ember computes on the CPU."""
    return False


def get_default_backend_for_device(device) -> str:
    """"gloo" for the CPU; ember has no other device backend."""
    kind = getattr(device, "type", None) or str(device).split(":")[0]
    if kind != "cpu":
        raise RuntimeError(f"Default backend not registered for device : {device} (ember's "
                           "ranks compute on the CPU)")
    return "gloo"


def is_torchelastic_launched() -> bool:
    """True under ``python -m ember.distributed.run`` (which sets TORCHELASTIC_RUN_ID)."""
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def get_rank(group=None) -> int:
    """This process's rank in ``group`` (-1 when not a member)."""
    pg = _group(group)
    return -1 if pg is None else pg.rank()


def get_world_size(group=None) -> int:
    """The number of ranks in ``group`` (-1 when not a member)."""
    pg = _group(group)
    return -1 if pg is None else pg.size()


def get_backend(group=None) -> str:
    """The backend name the group was created with."""
    pg = _group(group)
    if pg is None:
        raise ValueError("Invalid process group specified")
    return Backend(pg.backend)


def get_process_group_ranks(group) -> list[int]:
    """The global ranks of ``group``'s members."""
    return list(_group(group).ranks)


def get_global_rank(group, group_rank: int) -> int:
    """The global rank of ``group``'s member ``group_rank``."""
    return _group(group).ranks[group_rank]


def get_group_rank(group, global_rank: int) -> int:
    """The rank in ``group`` of the process with global rank ``global_rank``."""
    pg = _group(group)
    if global_rank not in pg.ranks:
        raise ValueError(f"Global rank {global_rank} is not part of group {pg}")
    return pg.ranks.index(global_rank)


# ---------------------------------------------------------------------------------------------
# set-up and tear-down
# ---------------------------------------------------------------------------------------------

def _env_int(name):
    v = os.environ.get(name)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise ValueError(f"Error initializing torch.distributed using env:// rendezvous: "
                         f"environment variable {name} must be an integer, got {v!r}") from None


def _seconds(timeout) -> float:
    if timeout is None:
        return 1800.0  # PyTorch's default for CPU backends: 30 minutes
    if isinstance(timeout, timedelta):
        return timeout.total_seconds()
    raise TypeError(f"Expected timeout argument to be of type datetime.timedelta, got "
                    f"{type(timeout).__name__}")


def init_process_group(backend=None, init_method=None, timeout=None, world_size: int = -1,
                       rank: int = -1, store=None, group_name: str = "", pg_options=None,
                       device_id=None) -> None:
    """Join the default group: rank and size come from MPI (mpiexec), checked against the
    arguments and the RANK/WORLD_SIZE environment when those are given."""
    if GroupMember.WORLD is not None:
        raise ValueError("trying to initialize the default process group twice!")
    name = "gloo" if backend is None else str(backend).lower()
    # "cpu:gloo,cuda:nccl" names a backend per device; ember has only the CPU one
    if ":" in name:
        parts = dict(p.split(":", 1) for p in name.split(",") if ":" in p)
        name = parts.get("cpu", "gloo")
    if name == "nccl":
        raise RuntimeError("Distributed package doesn't have NCCL built in: ember runs on the "
                           "CPU; use backend='gloo' (or 'mpi')")
    if name not in ("gloo", "mpi"):
        raise ValueError(f"Invalid backend: '{backend}' (ember serves 'gloo' and 'mpi', both on "
                         "MPI)")
    if init_method is not None and store is not None:
        raise ValueError("Cannot specify both init_method and store.")
    if init_method is not None and not str(init_method).startswith(("env://", "tcp://",
                                                                    "file://", "mpi://")):
        raise ValueError(f"No rendezvous handler for {init_method}")
    MPI = _mpi()
    world = MPI.COMM_WORLD
    mrank, msize = world.Get_rank(), world.Get_size()
    # what the program (and the environment, as torchrun sets it) say, checked against MPI
    for what, given, actual in (("world_size", world_size, msize), ("rank", rank, mrank),
                                ("WORLD_SIZE", _env_int("WORLD_SIZE"), msize),
                                ("RANK", _env_int("RANK"), mrank)):
        if given is None or given == -1:
            continue
        if given != actual:
            hint = ("launch the ranks with `python -m ember.distributed.run --nproc-per-node N "
                    "script.py` or `mpiexec -n N python -m ember run script.py`")
            if msize == 1:
                raise RuntimeError(f"init_process_group: {what}={given} but this process was "
                                   f"not started by mpiexec (MPI world of 1); ember's ranks are "
                                   f"MPI processes: {hint}")
            raise RuntimeError(f"init_process_group: {what}={given} disagrees with MPI, which "
                               f"gives {what.lower()} {actual} ({hint})")
    comm = world.Dup()
    pg = ProcessGroup(comm, list(range(msize)), name, _seconds(timeout))
    GroupMember.WORLD = pg
    _state["ctl"] = world.Dup()  # goodbyes travel here, apart from the collectives
    _state["destroyed"] = False
    _install_fault_hooks()
    # every rank must have joined before anyone's collectives start (as PyTorch's rendezvous)
    _wait(pg, [comm.Ibarrier()], "init_process_group")


def destroy_process_group(group=None) -> None:
    """Leave ``group`` (the default group: all of them)."""
    if group is None or group is GroupMember.WORLD:
        pg = _default_pg()
        for g in _state["groups"]:
            _free(g.comm)
        _state["groups"] = []
        _free(pg.comm)
        GroupMember.WORLD = None
        _state["destroyed"] = True
        return
    pg = _group(group)
    if pg is not None:
        if pg in _state["groups"]:
            _state["groups"].remove(pg)
        _free(pg.comm)


def _free(comm):
    if _MPI is not None and not _MPI.Is_finalized() and comm != _MPI.COMM_NULL:
        comm.Free()


def new_group(ranks=None, timeout=None, backend=None, pg_options=None,
              use_local_synchronization=False, group_desc=None, device_id=None):
    """A group of some of the default group's ranks; every rank of the default group calls it."""
    pg = _default_pg()
    members = list(range(pg.size())) if ranks is None else sorted(int(r) for r in ranks)
    for r in members:
        if not 0 <= r < pg.size():
            raise ValueError(f"The new group's rank should be within the world_size set by "
                             f"init_process_group (got rank {r}, world size {pg.size()})")
    if len(set(members)) != len(members):
        raise ValueError(f"new_group: duplicate ranks in {ranks}")
    MPI = _mpi()
    me = pg.rank()
    color = 0 if me in members else MPI.UNDEFINED
    comm = pg.comm.Split(color, members.index(me) if me in members else 0)
    if comm == MPI.COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    new = ProcessGroup(comm, members, str(backend or pg.backend).lower(),
                       pg.timeout if timeout is None else _seconds(timeout))
    _state["groups"].append(new)
    return new


def _install_fault_hooks():
    if _state["hooks"]:
        return
    _state["hooks"] = True
    previous = sys.excepthook

    def abort_on_exception(tp, value, tb):
        # print first: MPI_Abort ends this process (and, through mpiexec, every rank)
        previous(tp, value, tb)
        if _MPI is not None and _MPI.Is_initialized() and not _MPI.Is_finalized():
            sys.stderr.write(f"ember.distributed: rank {_MPI.COMM_WORLD.Get_rank()} raised "
                             f"{tp.__name__}; aborting the job\n")
            sys.stderr.flush()
            # mpiexec forwards output asynchronously and drops what is pending at an abort:
            # give it a moment, or the user loses the very traceback that explains the failure
            time.sleep(0.5)
            _MPI.COMM_WORLD.Abort(1)

    sys.excepthook = abort_on_exception
    atexit.register(_say_goodbye)


def _say_goodbye():
    """At exit, tell every other rank that this one will join no more collectives."""
    ctl = _state["ctl"]
    if ctl is None or _MPI is None or _MPI.Is_finalized():
        return
    me, n = ctl.Get_rank(), ctl.Get_size()
    # small messages go eagerly: nobody need receive them before MPI_Finalize
    for r in range(n):
        if r != me:
            ctl.Isend(np.array([me], np.int32), dest=r, tag=_TAG_BYE).Free()


# ---------------------------------------------------------------------------------------------
# waiting
# ---------------------------------------------------------------------------------------------

def _peer_left(pg):
    """The global rank of a member that has said goodbye, or None."""
    ctl = _state["ctl"]
    if ctl is None:
        return None
    me = ctl.Get_rank()
    for r in pg.ranks:  # only the group's members matter (others may have finished)
        if r != me and ctl.Iprobe(source=r, tag=_TAG_BYE):
            return r
    return None


def _wait(pg, reqs, what, statuses=None):
    """Wait for all ``reqs``; an error if a peer leaves or the group's timeout passes."""
    MPI = _MPI
    if MPI.Request.Testall(reqs, statuses):
        return
    start = time.monotonic()
    deadline = start + pg.timeout
    spin_until = start + 0.005
    left_at = None
    polls = 0
    yield_ = getattr(os, "sched_yield", None)
    while not MPI.Request.Testall(reqs, statuses):
        now = time.monotonic()
        polls += 1
        if now < spin_until:
            # MPI's own blocking calls spin; yielding lets a peer on the same core run
            if yield_ is not None:
                yield_()
            continue
        # then sleep a little, growing to 1 ms: a long wait must not eat a core
        time.sleep(min(0.001, 0.05 * (now - spin_until) + 1e-5))
        if left_at is None and polls % 8 == 0:
            gone = _peer_left(pg)
            if gone is not None:
                left_at = (gone, now)
        if left_at is not None and now - left_at[1] > 2.0:
            # a rank that contributed before exiting lets the collective finish in that grace
            raise RuntimeError(f"{what}: rank {left_at[0]} exited while rank "
                               f"{MPI.COMM_WORLD.Get_rank()} waited for it in this collective")
        if now > deadline:
            raise RuntimeError(f"{what}: timed out after {pg.timeout:.0f} s waiting for the "
                               f"other ranks (timeout set by init_process_group)")


class Work:
    """The handle of an ``async_op=True`` collective: ``wait()`` it before using the result."""

    def __init__(self, pg, reqs, what, finish=None, result=None):
        self._pg, self._reqs, self._what, self._finish = pg, reqs, what, finish
        self._result = result
        self._done = False
        self._statuses = None

    def is_completed(self) -> bool:
        """Whether the collective has finished (and its result is in place)."""
        if not self._done and _MPI.Request.Testall(self._reqs, self._statuses):
            self._complete()
        return self._done

    def is_success(self) -> bool:
        """Whether it finished without error."""
        return self.is_completed()

    def wait(self, timeout=None) -> bool:
        """Block until the collective has finished; its result is then in place."""
        if not self._done:
            _wait(self._pg, self._reqs, self._what, self._statuses)
            self._complete()
        return True

    def _complete(self):
        self._done = True
        if self._finish is not None:
            self._finish()
            self._finish = None

    def result(self):
        """The tensors the collective wrote."""
        self.wait()
        return self._result

    def exception(self):
        return None

    def get_future(self):
        """A completed-on-wait future (``wait()`` / ``value()``)."""
        return _Future(self)


class _Future:
    def __init__(self, work):
        self._work = work

    def wait(self):
        return self._work.result()

    value = wait

    def done(self):
        return self._work.is_completed()


class _Done(Work):
    """A Work that has nothing to wait for (a rank outside the group)."""

    def __init__(self):
        super().__init__(None, [], "")
        self._done = True


def _run(pg, reqs, what, finish, async_op, result=None):
    work = Work(pg, reqs, what, finish, result)
    if async_op:
        return work
    work.wait()
    return None


# ---------------------------------------------------------------------------------------------
# buffers, dtypes, reductions
# ---------------------------------------------------------------------------------------------

_MPI_KINDS = {np.dtype(t) for t in (np.float32, np.float64, np.int64, np.int32, np.int16,
                                    np.int8, np.uint8, np.bool_)}


def _check_tensor(t, name="tensor"):
    if not isinstance(t, Tensor):
        raise TypeError(f"Invalid function argument. Expected parameter `{name}` of type "
                        f"torch.Tensor but got {type(t)} instead.")


def _buffer(t):
    """A C-contiguous array MPI can read and write: the tensor's own when possible."""
    a = t._data
    if a.dtype in _MPI_KINDS and a.flags.c_contiguous and a.flags.writeable:
        return a
    if a.dtype == np.float16:  # MPI has no half type: reduce in float32, store back rounded
        return np.ascontiguousarray(a, np.float32)
    return np.ascontiguousarray(a).copy()


def _store(t, buf):
    """Write ``buf`` into tensor ``t`` (in place) if it is not already ``t``'s storage."""
    a = t._data
    if buf is not a:
        if not a.flags.writeable:  # a read-only (e.g. broadcast) array: replace it
            t._data = np.array(buf.reshape(a.shape), a.dtype)
        else:
            np.copyto(a, buf.reshape(a.shape), casting="unsafe")
    t._vc[0] += 1  # written in place


def _mpi_op(op, dtype, what):
    MPI = _MPI
    try:
        op = RedOpType(op)
    except ValueError:
        raise ValueError(f"{what}: unknown ReduceOp {op!r}") from None
    if op in (RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR) and dtype.kind == "f":
        raise RuntimeError(f"{what}: Cannot use ReduceOp.{op.name} with floating-point tensors "
                           f"(dtype {dtype})")
    if op == RedOpType.AVG and dtype.kind != "f":
        raise RuntimeError(f"{what}: ReduceOp.AVG needs a floating-point tensor (got {dtype})")
    table = {RedOpType.SUM: MPI.SUM, RedOpType.AVG: MPI.SUM, RedOpType.PRODUCT: MPI.PROD,
             RedOpType.MIN: MPI.MIN, RedOpType.MAX: MPI.MAX, RedOpType.BAND: MPI.BAND,
             RedOpType.BOR: MPI.BOR, RedOpType.BXOR: MPI.BXOR}
    if op not in table:
        raise ValueError(f"{what}: ReduceOp.{op.name} is not supported")
    if dtype == np.bool_:  # MPI's bitwise ops on C bool are its logical ones
        table.update({RedOpType.BAND: MPI.LAND, RedOpType.BOR: MPI.LOR,
                      RedOpType.BXOR: MPI.LXOR, RedOpType.SUM: MPI.LOR,
                      RedOpType.PRODUCT: MPI.LAND})
    return op, table[op]


def _checks_on() -> bool:
    return os.environ.get(_DEBUG_ENV, "1") != "0"


def _check_same(pg, what, desc):
    """Raise on every rank if ranks disagree on ``desc`` (the shapes and dtypes of a call).

    ``desc`` is a string or a function making it. One all-reduce of two int64s (max of the
    hash and of its negation) per collective, against MPI's undefined behaviour (a hang or
    garbage) when counts differ; EMBER_DIST_CHECK=0 skips it. DDP checks its parameters'
    shapes once, at construction, and its bucket all-reduces skip it.
    """
    if pg.size() == 1 or not _checks_on():
        return
    if callable(desc):  # built only when checked
        desc = desc()
    h = zlib.crc32(desc.encode()) + 1
    v = np.array([h, -h], np.int64)
    _wait(pg, [pg.comm.Iallreduce(_MPI.IN_PLACE, v, op=_MPI.MAX)], what)
    if v[0] == h and v[1] == -h:
        return
    descs = pg.comm.allgather(desc)
    lines = "; ".join(f"rank {pg.ranks[i]}: {d}" for i, d in enumerate(descs))
    raise RuntimeError(f"{what}: the ranks called it with different arguments ({lines})")


def _desc(t):
    return f"{t._data.shape} {t._data.dtype}"


def _root(pg, rank, name, what):
    """The group rank of global rank ``rank``."""
    if rank not in pg.ranks:
        raise ValueError(f"{what}: {name}={rank} is not a rank of the group {pg.ranks}")
    return pg.ranks.index(rank)


def _root_arg(pg, rank, group_rank, name, what):
    """A collective's root as a group rank: ``group_<name>`` as given, else the group rank of
    global rank ``<name>`` (default 0)."""
    if group_rank is not None:
        return group_rank
    return _root(pg, 0 if rank is None else rank, name, what)


def _store_reduced(tensor, buf, op, n):
    if op == RedOpType.AVG:  # MPI has no average: the sum, divided
        buf[...] /= n
    _store(tensor, buf)


# ---------------------------------------------------------------------------------------------
# collectives
# ---------------------------------------------------------------------------------------------

def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of the group has reached it."""
    pg = _group(group)
    if pg is None:
        return _Done() if async_op else None
    return _run(pg, [pg.comm.Ibarrier()], "barrier", None, async_op)


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """A barrier (with the group's timeout, or ``timeout``)."""
    pg = _group(group)
    if pg is None:
        return
    if timeout is not None:
        pg = ProcessGroup(pg.comm, pg.ranks, pg.backend, _seconds(timeout))
    _wait(pg, [pg.comm.Ibarrier()], "monitored_barrier")


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over the group; every rank gets the result, in place."""
    _check_tensor(tensor)
    pg = _group(group)
    if pg is None:
        return _Done() if async_op else None
    buf = _buffer(tensor)
    op, mop = _mpi_op(op, buf.dtype, "all_reduce")
    _check_same(pg, "all_reduce", lambda: f"all_reduce {_desc(tensor)} {op.name}")
    req = pg.comm.Iallreduce(_MPI.IN_PLACE, buf, op=mop)
    n = pg.size()
    return _run(pg, [req], "all_reduce", lambda: _store_reduced(tensor, buf, op, n), async_op,
                [tensor])


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``."""
    _check_tensor(tensor)
    pg = _group(group)
    if pg is None:
        return _Done() if async_op else None
    root = _root_arg(pg, src, group_src, "src", "broadcast")
    buf = _buffer(tensor)
    _check_same(pg, "broadcast", lambda: f"broadcast {_desc(tensor)} from {root}")
    req = pg.comm.Ibcast(buf, root=root)
    return _run(pg, [req], "broadcast", lambda: _store(tensor, buf), async_op, [tensor])


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce ``tensor`` over the group into rank ``dst``'s ``tensor``."""
    _check_tensor(tensor)
    pg = _group(group)
    if pg is None:
        return _Done() if async_op else None
    root = _root_arg(pg, dst, group_dst, "dst", "reduce")
    buf = _buffer(tensor)
    op, mop = _mpi_op(op, buf.dtype, "reduce")
    _check_same(pg, "reduce", lambda: f"reduce {_desc(tensor)} {op.name} to {root}")
    me = pg.rank()
    if me == root:
        req = pg.comm.Ireduce(_MPI.IN_PLACE, buf, op=mop, root=root)
    else:
        req = pg.comm.Ireduce(buf, None, op=mop, root=root)
    n = pg.size()

    def finish():
        if me == root:
            _store_reduced(tensor, buf, op, n)
    return _run(pg, [req], "reduce", finish, async_op, [tensor])


def _gather_like(pg, what, tensor, outs):
    if len(outs) != pg.size():
        raise ValueError(f"{what}: tensor_list has {len(outs)} tensors; the group has "
                         f"{pg.size()} ranks")
    for o in outs:
        _check_tensor(o, "tensor_list")
        if tuple(o.shape) != tuple(tensor.shape) or o.dtype != tensor.dtype:
            raise ValueError(f"{what}: every tensor of the list must have the input's shape "
                             f"{tuple(tensor.shape)} and dtype {tensor.dtype}; got "
                             f"{tuple(o.shape)} {o.dtype}")


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """``tensor_list[i]`` = rank i's ``tensor``, on every rank."""
    _check_tensor(tensor)
    pg = _group(group)
    if pg is None:
        return _Done() if async_op else None
    _gather_like(pg, "all_gather", tensor, tensor_list)
    send = np.ascontiguousarray(tensor._data)
    recv = np.empty((pg.size(),) + send.shape, send.dtype)
    _check_same(pg, "all_gather", lambda: f"all_gather {_desc(tensor)}")
    req = pg.comm.Iallgather(_buf_arg(send), _buf_arg(recv))

    def finish():
        for o, part in zip(tensor_list, recv):
            _store(o, part)
    return _run(pg, [req], "all_gather", finish, async_op, tensor_list)


def _buf_arg(a):
    """float16 travels as raw 2-byte words (gathers copy, they do not reduce)."""
    if a.dtype == np.float16:
        return a.view(np.uint16)
    return a


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Rank i's ``input_tensor`` into the i-th slice (along dim 0) of ``output_tensor``."""
    _check_tensor(output_tensor, "output_tensor")
    _check_tensor(input_tensor, "input_tensor")
    pg = _group(group)
    if pg is None:
        return _Done() if async_op else None
    n = pg.size()
    if (output_tensor.numel() != n * input_tensor.numel()
            or output_tensor.dtype != input_tensor.dtype):
        raise ValueError(f"all_gather_into_tensor: output tensor size must be equal to "
                         f"world_size times input tensor size (output {tuple(output_tensor.shape)} "
                         f"{output_tensor.dtype}, input {tuple(input_tensor.shape)} "
                         f"{input_tensor.dtype}, world size {n})")
    send = np.ascontiguousarray(input_tensor._data)
    recv = np.empty(n * send.size, send.dtype)
    _check_same(pg, "all_gather_into_tensor",
                lambda: f"all_gather_into_tensor {_desc(input_tensor)}")
    req = pg.comm.Iallgather(_buf_arg(send.reshape(-1)), _buf_arg(recv))
    return _run(pg, [req], "all_gather_into_tensor", lambda: _store(output_tensor, recv),
                async_op, [output_tensor])


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` over the group; rank i keeps the i-th slice (along dim 0) in ``output``."""
    _check_tensor(output, "output")
    _check_tensor(input, "input")
    pg = _group(group)
    if pg is None:
        return _Done() if async_op else None
    n = pg.size()
    if input.numel() != n * output.numel() or output.dtype != input.dtype:
        raise ValueError(f"reduce_scatter_tensor: input tensor must be the same size as output "
                         f"size times world size (input {tuple(input.shape)} {input.dtype}, "
                         f"output {tuple(output.shape)} {output.dtype}, world size {n})")
    src = _buffer(input).reshape(-1)  # only read
    recv = np.empty(output.numel(), src.dtype)
    op, mop = _mpi_op(op, src.dtype, "reduce_scatter_tensor")
    _check_same(pg, "reduce_scatter_tensor",
                lambda: f"reduce_scatter_tensor {_desc(input)} {op.name}")
    req = pg.comm.Ireduce_scatter_block(src, recv, op=mop)

    return _run(pg, [req], "reduce_scatter_tensor", lambda: _store_reduced(output, recv, op, n),
                async_op, [output])


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce the lists over the group; rank i keeps the reduction of every ``input_list[i]``."""
    pg = _group(group)
    if pg is None:
        return _Done() if async_op else None
    if len(input_list) != pg.size():
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors; the group "
                         f"has {pg.size()} ranks")
    return reduce_scatter_tensor(output, stack(list(input_list)), op, group, async_op)


def _list_root(pg, op, tensor, tensors, peer, group_peer, peer_name, role):
    """The root rank of gather/scatter, checking that the root alone passed ``<op>_list``."""
    root = _root_arg(pg, peer, group_peer, peer_name, op)
    if pg.rank() == root:
        if tensors is None:
            raise ValueError(f"Argument ``{op}_list`` must be specified on {role} rank.")
        _gather_like(pg, op, tensor, tensors)
    elif tensors:
        raise ValueError(f"Argument ``{op}_list`` must NOT be specified on non-{role} ranks.")
    return root


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Rank ``dst`` receives every rank's ``tensor`` into ``gather_list``."""
    _check_tensor(tensor)
    pg = _group(group)
    if pg is None:
        return _Done() if async_op else None
    root = _list_root(pg, "gather", tensor, gather_list, dst, group_dst, "dst", "destination")
    me = pg.rank()
    send = np.ascontiguousarray(tensor._data)
    recv = np.empty((pg.size(),) + send.shape, send.dtype) if me == root else None
    _check_same(pg, "gather", lambda: f"gather {_desc(tensor)} to {root}")
    req = pg.comm.Igather(_buf_arg(send), None if recv is None else _buf_arg(recv), root=root)

    def finish():
        if me == root:
            for o, part in zip(gather_list, recv):
                _store(o, part)
    return _run(pg, [req], "gather", finish, async_op, gather_list)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank i's ``tensor`` receives rank ``src``'s ``scatter_list[i]``."""
    _check_tensor(tensor)
    pg = _group(group)
    if pg is None:
        return _Done() if async_op else None
    root = _list_root(pg, "scatter", tensor, scatter_list, src, group_src, "src", "source")
    send = None
    if pg.rank() == root:
        send = np.ascontiguousarray(np.stack([t._data for t in scatter_list]))
    recv = np.empty(tensor._data.shape, tensor._data.dtype)
    _check_same(pg, "scatter", lambda: f"scatter {_desc(tensor)} from {root}")
    req = pg.comm.Iscatter(None if send is None else _buf_arg(send), _buf_arg(recv), root=root)
    return _run(pg, [req], "scatter", lambda: _store(tensor, recv), async_op, [tensor])


# point to point: tags are offset so that they never meet the goodbye tag on another comm
def _p2p_check(pg, peer, name, what):
    if peer is None:
        raise ValueError(f"{what}: {name} must be given")
    r = _root(pg, peer, name, what)
    if r == pg.rank():
        raise ValueError(f"Invalid {name} rank: {what} to self is not allowed "
                         f"(rank {peer})")
    return r


def isend(tensor, dst=None, group=None, tag: int = 0, group_dst=None):
    """Send ``tensor`` to rank ``dst`` without waiting; returns a Work."""
    _check_tensor(tensor)
    pg = _group(group)
    if pg is None:
        return _Done()
    peer = group_dst if group_dst is not None else _p2p_check(pg, dst, "dst", "send")
    buf = np.ascontiguousarray(tensor._data)
    req = pg.comm.Isend(_buf_arg(buf), dest=peer, tag=tag)
    return Work(pg, [req], "send", None, [tensor])


def irecv(tensor, src=None, group=None, tag: int = 0, group_src=None):
    """Receive into ``tensor`` from rank ``src`` (any rank if None) without waiting."""
    _check_tensor(tensor)
    pg = _group(group)
    if pg is None:
        return _Done()
    MPI = _MPI
    if group_src is not None:
        peer = group_src
    elif src is None:
        peer = MPI.ANY_SOURCE
    else:
        peer = _p2p_check(pg, src, "src", "recv")
    recv = np.empty(tensor._data.shape, tensor._data.dtype)
    # one element more than expected, so that a longer message is reported, not truncated
    raw = np.empty(recv.size + 1, recv.dtype)
    status = MPI.Status()
    req = pg.comm.Irecv(_buf_arg(raw), source=peer, tag=tag)
    work = Work(pg, [req], "recv", None, [tensor])

    def finish():
        got = status.Get_count(MPI.BYTE) // max(raw.itemsize, 1)
        if got != recv.size:
            raise RuntimeError(f"recv: expected {recv.size} elements of {recv.dtype} "
                               f"(shape {tuple(tensor.shape)}) from rank "
                               f"{pg.ranks[status.Get_source()]} but got {got}; the sender's "
                               f"tensor differs in size or dtype")
        work.source = pg.ranks[status.Get_source()]
        _store(tensor, raw[:recv.size])

    work._finish = finish
    work._statuses = [status]
    return work


def send(tensor, dst=None, group=None, tag: int = 0, group_dst=None) -> None:
    """Send ``tensor`` to rank ``dst``."""
    isend(tensor, dst, group, tag, group_dst).wait()


def recv(tensor, src=None, group=None, tag: int = 0, group_src=None) -> int:
    """Receive into ``tensor`` from rank ``src``; returns the sender's rank."""
    work = irecv(tensor, src, group, tag, group_src)
    work.wait()
    return work.source


class P2POp:
    """One send or receive for batch_isend_irecv."""

    def __init__(self, op, tensor, peer=None, group=None, tag=0, group_peer=None):
        if op not in (isend, irecv, send, recv):
            raise ValueError("Invalid ``op``. Expected ``op`` to be of type ``torch.distributed."
                             "isend`` or ``torch.distributed.irecv``.")
        self.op = isend if op in (isend, send) else irecv
        self.tensor, self.peer, self.group, self.tag = tensor, peer, group, tag


def batch_isend_irecv(p2p_op_list):
    """Start every send and receive of the list; returns their Works."""
    return [op.op(op.tensor, op.peer, op.group, op.tag) for op in p2p_op_list]


# ---------------------------------------------------------------------------------------------
# Python objects (pickled: the ranks of a job trust each other, as PyTorch assumes)
# ---------------------------------------------------------------------------------------------

def all_gather_object(object_list, obj, group=None) -> None:
    """``object_list[i]`` = rank i's ``obj`` (pickled), on every rank."""
    pg = _group(group)
    if pg is None:
        return
    if len(object_list) != pg.size():
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} entries; the "
                         f"group has {pg.size()} ranks")
    object_list[:] = _pickled_allgather(pg, obj, "all_gather_object")


def _pickled_allgather(pg, obj, what):
    data = np.frombuffer(pickle.dumps(obj), np.uint8)
    sizes = np.zeros(pg.size(), np.int64)
    _wait(pg, [pg.comm.Iallgather(np.array([data.size], np.int64), sizes)], what)
    recv = np.empty(int(sizes.sum()), np.uint8)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    _wait(pg, [pg.comm.Iallgatherv(data, [recv, sizes, offsets, _MPI.BYTE])], what)
    return [pickle.loads(recv[o:o + s].tobytes()) for o, s in zip(offsets, sizes)]


def _pickled_bcast(pg, obj, root, what):
    me = pg.rank()
    data = np.frombuffer(pickle.dumps(obj), np.uint8) if me == root else None
    size = np.array([0 if data is None else data.size], np.int64)
    _wait(pg, [pg.comm.Ibcast(size, root=root)], what)
    buf = data.copy() if me == root else np.empty(int(size[0]), np.uint8)
    _wait(pg, [pg.comm.Ibcast(buf, root=root)], what)
    return obj if me == root else pickle.loads(buf.tobytes())


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None) -> None:
    """Replace ``object_list``'s entries by rank ``src``'s (pickled)."""
    pg = _group(group)
    if pg is None:
        return
    root = _root_arg(pg, src, group_src, "src", "broadcast_object_list")
    got = _pickled_bcast(pg, list(object_list), root, "broadcast_object_list")
    if len(got) != len(object_list):
        raise ValueError(f"broadcast_object_list: rank {pg.ranks[root]} sent {len(got)} "
                         f"objects; this rank's list has {len(object_list)}")
    object_list[:] = got


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None) -> None:
    """Rank ``dst``'s ``object_gather_list[i]`` = rank i's ``obj`` (pickled)."""
    pg = _group(group)
    if pg is None:
        return
    root = _root_arg(pg, dst, group_dst, "dst", "gather_object")
    allobj = _pickled_allgather(pg, obj, "gather_object")
    if pg.rank() == root:
        if object_gather_list is None:
            raise ValueError("Argument ``object_gather_list`` must be specified on destination "
                             "rank.")
        object_gather_list[:] = allobj


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None,
                        group=None, group_src=None) -> None:
    """``scatter_object_output_list[0]`` = rank ``src``'s ``scatter_object_input_list[rank]``."""
    pg = _group(group)
    if pg is None:
        return
    root = _root_arg(pg, src, group_src, "src", "scatter_object_list")
    objs = _pickled_bcast(pg, list(scatter_object_input_list or []), root, "scatter_object_list")
    scatter_object_output_list[0] = objs[pg.rank()]
