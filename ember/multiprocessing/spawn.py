"""``spawn`` / ``start_processes``: run ``fn(i, *args)`` in ``nprocs`` processes and join them.

Two ways to start the processes:

* **MPI ranks** (``start_method="spawn"`` with mpi4py and ``mpiexec`` installed). ember's
  process groups are MPI communicators, and MPI forms its world only among processes that one
  ``mpiexec`` started; so the children are started as the ranks of ``mpiexec -n nprocs python
  -m ember.multiprocessing._spawn_child DIR``, and ``dist.init_process_group("gloo",
  rank=i, world_size=nprocs)`` in ``fn`` joins a real group of ``nprocs`` (rank i is MPI rank
  i). The child prepares itself as multiprocessing's spawn does (``multiprocessing.spawn
  .prepare``: sys.path, working directory, the main script imported as ``__mp_main__``), then
  unpickles ``fn``/``args`` and calls ``fn(rank, *args)``. Shared tensors in ``args`` still
  share memory (their descriptors are served from this process). Arguments that multiprocessing
  passes only by inheritance (Queue, Pipe, Lock, Event...) cannot reach processes that
  ``mpiexec`` starts: with such arguments, processes are started the other way.
* **multiprocessing processes** otherwise (``fork``/``forkserver``, no MPI, or
  ``EMBER_SPAWN_MPI=0``), as PyTorch does.

Either way, when a process raises, the others are ended and the parent raises
``ProcessRaisedException`` with the child's traceback; a process that exits with a non-zero
code or a signal gives ``ProcessExitedException``.
"""
from __future__ import annotations

import atexit
import importlib.util
import multiprocessing
import multiprocessing.connection
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from multiprocessing import spawn as mp_spawn
from multiprocessing.reduction import ForkingPickler

from .. import compat
from .reductions import init_reductions

__all__ = ["ProcessContext", "ProcessException", "ProcessExitedException",
           "ProcessRaisedException", "spawn", "start_processes"]


class ProcessException(Exception):
    __slots__ = ["error_index", "error_pid"]

    def __init__(self, msg: str, error_index: int, error_pid: int):
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.pid = error_pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.pid)


class ProcessRaisedException(ProcessException):
    """A process failed because ``fn`` raised; the message holds the child's traceback."""


class ProcessExitedException(ProcessException):
    """A process exited with a non-zero code or was killed by a signal."""

    __slots__ = ["exit_code"]

    def __init__(self, msg: str, error_index: int, error_pid: int, exit_code: int,
                 signal_name: str | None = None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def __reduce__(self):
        return (type(self), (self.msg, self.error_index, self.pid, self.exit_code,
                             self.signal_name))


def _raised(index: int, pid, trace: str) -> ProcessRaisedException:
    msg = f"\n\n-- Process {index:d} terminated with the following error:\n" + trace
    return ProcessRaisedException(msg, index, pid)


def _exited(index: int, pid, exitcode: int) -> ProcessExitedException:
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"<Unknown signal {-exitcode}>"
        return ProcessExitedException(f"process {index:d} terminated with signal {name}",
                                      index, pid, exitcode, name)
    return ProcessExitedException(f"process {index:d} terminated with exit code {exitcode:d}",
                                  index, pid, exitcode)


def _wrap(fn, i, args, error_file):
    """The body of a multiprocessing child: run fn, report an exception through error_file."""
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass  # ended by the parent
    except Exception:  # noqa: BLE001 - any error of fn goes to the parent
        with open(error_file, "wb") as fh:
            pickle.dump(traceback.format_exc(), fh)
        sys.exit(1)


class ProcessContext:
    """The processes started by ``start_processes``; ``join`` until all are done."""

    def __init__(self, processes, error_files):
        self.error_files = error_files
        self.processes = processes
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}

    def pids(self):
        return [int(p.pid) for p in self.processes]

    def join(self, timeout: float | None = None, grace_period: float | None = None) -> bool:
        """True when every process has exited successfully, False on timeout; raises as soon as
        one fails, after ending the others (SIGTERM, then SIGKILL after ``grace_period``)."""
        if not self.sentinels:
            return True
        ready = multiprocessing.connection.wait(self.sentinels.keys(), timeout=timeout)
        error_index = None
        for sentinel in ready:
            index = self.sentinels.pop(sentinel)
            p = self.processes[index]
            p.join()
            if p.exitcode != 0:
                error_index = index
                break
        if error_index is None:
            return not self.sentinels
        self._end_all(grace_period)
        self.sentinels.clear()
        failed = self.processes[error_index]
        if not os.access(self.error_files[error_index], os.R_OK):
            raise _exited(error_index, failed.pid, failed.exitcode)
        with open(self.error_files[error_index], "rb") as fh:
            trace = pickle.load(fh)
        os.unlink(self.error_files[error_index])
        raise _raised(error_index, failed.pid, trace)

    def _end_all(self, grace_period=None):
        live = [p for p in self.processes if p.is_alive()]
        for p in live:
            p.terminate()
        deadline = time.monotonic() + (3.0 if grace_period is None else grace_period)
        for p in live:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in live:
            if p.is_alive():
                p.kill()
                p.join()


class _MPIProcessContext(ProcessContext):
    """The ranks of one ``mpiexec`` job, started by ``start_processes``."""

    def __init__(self, proc: subprocess.Popen, folder: str, nprocs: int, daemon: bool = False):
        self.proc, self.folder, self.nprocs, self.daemon = proc, folder, nprocs, daemon
        self.processes = []
        self.error_files = [os.path.join(folder, f"{i}.err") for i in range(nprocs)]
        self._done = False
        self._dead = []  # ranks seen ended without a report, in the order seen
        self._ended = []  # ranks in the order they ended (seen by the watcher thread)
        _live_jobs.add(self)
        if hasattr(os, "pidfd_open"):
            # mpiexec kills the other ranks within milliseconds of one dying by a signal: a
            # thread waiting on the ranks' pidfds sees the first death before those
            threading.Thread(target=self._watch_pidfds, daemon=True).start()

    def pids(self):
        """The ranks' process ids (None for a rank that has not started yet)."""
        out = []
        for i in range(self.nprocs):
            try:
                with open(os.path.join(self.folder, f"{i}.pid")) as f:
                    out.append(int(f.read()))
            except (OSError, ValueError):
                out.append(None)
        return out

    def _first_error(self):
        """(time, rank, message-or-exit-code) of the earliest failure a rank reported."""
        found = []
        for i in range(self.nprocs):
            for kind in ("err", "exit"):
                path = os.path.join(self.folder, f"{i}.{kind}")
                if os.path.exists(path):
                    try:
                        with open(path, "rb") as fh:
                            stamp, what = pickle.load(fh)
                    except (OSError, EOFError, pickle.UnpicklingError):
                        continue  # being written; the next poll reads it
                    found.append((stamp, i, kind, what))
        return min(found) if found else None

    def join(self, timeout: float | None = None, grace_period: float | None = None) -> bool:
        if self._done:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        failed_at = None
        try:
            while True:
                rc = self.proc.poll()
                if rc is not None:
                    break
                self._watch_ranks()
                if failed_at is None and (self._dead or self._first_error() is not None):
                    failed_at = time.monotonic()  # end the others, as PyTorch does
                if failed_at is not None and time.monotonic() - failed_at > 0.2:
                    self._end_all(grace_period)
                    rc = self.proc.returncode
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)
        except BaseException:
            self._end_all(grace_period)
            self._finish()
            raise
        self._watch_ranks()
        error = self._first_error()
        pids = self.pids()
        self._finish()
        if error is not None:
            _, i, kind, what = error
            raise _raised(i, pids[i], what) if kind == "err" else _exited(i, pids[i], what)
        if rc != 0 or self._dead:
            # A rank ended without a report: Python-level exits all report, so it was a signal
            # (or os._exit); mpiexec's exit code is then the signal's number.
            done = {i for i in range(self.nprocs)
                    if os.path.exists(os.path.join(self.folder, f"{i}.done"))}
            i = self._dead[0] if self._dead else min(set(range(self.nprocs)) - done, default=0)
            code = rc if rc else 1
            raise _exited(i, pids[i], -code if 0 < code < 64 else code)
        return True

    def _watch_pidfds(self):
        fds = {}  # pidfd -> rank
        try:
            while not self._done and len(self._ended) < self.nprocs:
                for i, pid in enumerate(self.pids()):
                    if pid is not None and i not in fds.values() and i not in self._ended:
                        try:
                            fds[os.pidfd_open(pid)] = i
                        except OSError:  # already gone
                            self._ended.append(i)
                ready, _, _ = select.select(list(fds), [], [], 0.02)
                for fd in ready:
                    self._ended.append(fds.pop(fd))
                    os.close(fd)
        finally:
            for fd in fds:
                os.close(fd)

    def _watch_ranks(self):
        if not hasattr(os, "pidfd_open"):
            self._ended.extend(i for i, pid in enumerate(self.pids())
                               if pid is not None and i not in self._ended and not _alive(pid))
        for i in list(self._ended):
            base = os.path.join(self.folder, str(i))
            if i not in self._dead and not any(os.path.exists(f"{base}.{kind}")
                                               for kind in ("done", "err", "exit")):
                self._dead.append(i)

    def _end_all(self, grace_period=None):
        """End mpiexec and every process of its session (the ranks included): none is left."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(3.0 if grace_period is None else grace_period)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the job's session
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def _finish(self):
        self._done = True
        _live_jobs.discard(self)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # nothing of the job outlives it
        except (ProcessLookupError, PermissionError):
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


_live_jobs: set = set()


@atexit.register
def _end_live_jobs():
    # as multiprocessing does at exit: wait for non-daemonic processes, end daemonic ones
    for job in list(_live_jobs):
        if not job.daemon:
            try:
                job.proc.wait()
            except KeyboardInterrupt:
                pass
        job._end_all(1.0)
        job._finish()


def _mpiexec():
    if os.environ.get("EMBER_SPAWN_MPI", "1") == "0":
        return None
    if importlib.util.find_spec("mpi4py") is None:
        return None
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")


def _dump_payload(fn, args):
    """fn and args pickled as for a spawned child (shared arrays by descriptor); None when they
    hold objects that multiprocessing passes only by inheritance (Queue, Lock, Event...)."""
    try:
        return bytes(ForkingPickler.dumps((fn, args)))
    except RuntimeError as e:
        if "through inheritance" in str(e):
            return None
        raise


_LAUNCH_PREFIXES = ("PMI_", "PMIX_", "OMPI_", "HYDRA_", "HYDI_", "MPI_LOCAL")


def _child_env(nprocs: int) -> dict:
    """This process's environment without what places *it* in a launch (when it is itself a
    rank of mpiexec or torchrun): the children learn their own ranks from their mpiexec."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LAUNCH_PREFIXES)}
    for k in ("RANK", "LOCAL_RANK", "GROUP_RANK", "ROLE_RANK"):
        env.pop(k, None)
    for k in ("WORLD_SIZE", "LOCAL_WORLD_SIZE"):
        if env.get(k) != str(nprocs):
            env.pop(k, None)
    return env


def _start_mpi(mpiexec, fn, args, nprocs, daemon):
    """Start the ranks under mpiexec; None when args can only reach children by inheritance."""
    # one pickle per rank: a descriptor served by multiprocessing's resource sharer is handed
    # out once
    fn_args = [_dump_payload(fn, args) for _ in range(nprocs)]
    if fn_args[0] is None:
        return None
    folder = tempfile.mkdtemp(prefix="ember-spawn-")
    prep = mp_spawn.get_preparation_data("SpawnProcess")
    prep.pop("ember_compat", None)
    prep["authkey"] = bytes(prep["authkey"])  # the folder is private (mkdtemp: mode 0700)
    payload = {"prep": prep, "fn_args": fn_args, "compat": compat.is_installed()}
    with open(os.path.join(folder, "payload"), "wb") as fh:
        pickle.dump(payload, fh)
    cmd = [mpiexec, "-n", str(nprocs), sys.executable, "-m", "ember.multiprocessing._spawn_child",
           folder]
    proc = subprocess.Popen(cmd, start_new_session=True,  # one session: ended as a whole
                            env=_child_env(nprocs))
    return _MPIProcessContext(proc, folder, nprocs, daemon)


def start_processes(fn, args=(), nprocs: int = 1, join: bool = True, daemon: bool = False,
                    start_method: str = "spawn"):
    """Start ``nprocs`` processes running ``fn(i, *args)``; join them, or return the context."""
    if not callable(fn):
        raise TypeError(f"start_processes: fn must be callable, got {type(fn).__name__}")
    if not isinstance(nprocs, int) or isinstance(nprocs, bool) or nprocs < 1:
        raise ValueError(f"start_processes: nprocs must be a positive int, got {nprocs!r}")
    if not isinstance(args, tuple):
        raise TypeError(f"start_processes: args must be a tuple, got {type(args).__name__}")
    init_reductions()
    context = None
    mpiexec = _mpiexec() if start_method == "spawn" else None
    if mpiexec is not None:
        context = _start_mpi(mpiexec, fn, args, nprocs, daemon)
    if context is None:
        mp = multiprocessing.get_context(start_method)
        error_files, processes = [], []
        try:
            for i in range(nprocs):
                fd, error_file = tempfile.mkstemp(prefix="ember-spawn-", suffix=".pickle")
                os.close(fd)
                os.unlink(error_file)  # the child creates it only when it fails
                error_files.append(error_file)
                p = mp.Process(target=_wrap, args=(fn, i, args, error_file), daemon=daemon)
                p.start()
                processes.append(p)
        except BaseException:
            ProcessContext(processes, error_files)._end_all(1.0)
            raise
        context = ProcessContext(processes, error_files)
    if not join:
        return context
    try:
        while not context.join():
            pass
    finally:
        if not isinstance(context, _MPIProcessContext):
            for f in context.error_files:
                if os.path.exists(f):
                    os.unlink(f)
    return None


def spawn(fn, args=(), nprocs: int = 1, join: bool = True, daemon: bool = False,
          start_method: str = "spawn"):
    """Start ``nprocs`` processes running ``fn(i, *args)`` with the spawn start method."""
    if start_method != "spawn":
        warnings.warn(f"This method only supports start_method=spawn (got: {start_method}).\n"
                      "To use a different start_method use:\n\t\t"
                      " torch.multiprocessing.start_processes(...)", FutureWarning, stacklevel=2)
    return start_processes(fn, args, nprocs, join, daemon, start_method="spawn")
