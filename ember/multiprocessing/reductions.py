"""Shared-memory tensors: ``Tensor.share_memory_()`` and how shared arrays cross processes.

A shared tensor's array lives in a segment of anonymous shared memory: a ``memfd_create`` file
(no name in /dev/shm at any time; elsewhere a temporary file unlinked at once) mapped with
``MAP_SHARED``. A segment is freed by the kernel when the last process unmaps it and closes its
descriptor, so nothing can leak, even on SIGKILL, and no resource tracker is involved.

Crossing processes: with ``fork`` a child inherits the mapping. When pickled by
multiprocessing's ``ForkingPickler`` (Process arguments under spawn/forkserver, Queue, Pipe), an
array whose memory is in a segment is sent as (descriptor, offset, dtype, shape, strides): the
descriptor travels with ``multiprocessing.reduction.DupFd`` (handed to the child being
spawned, or served over a Unix socket with SCM_RIGHTS), and the receiver maps the same segment.
The reducer is registered for ``numpy.ndarray``, so every Tensor class, Parameter and gradient
shares through its array; arrays outside segments pickle by value as before.
"""
from __future__ import annotations

import mmap
import os
import pickle
import tempfile
import weakref
from multiprocessing import reduction as _mp_reduction

import numpy as np

from .._tensor import Tensor

try:
    from numpy.lib.array_utils import byte_bounds as _byte_bounds
except ImportError:  # numpy < 2
    _byte_bounds = np.byte_bounds

__all__ = ["init_reductions", "is_shared", "share_memory_"]


class _Segment(mmap.mmap):
    """A MAP_SHARED mapping of a shared-memory file; keeps a descriptor of the file to send."""

    @classmethod
    def create(cls, nbytes: int) -> _Segment:
        fd = _anonymous_file()
        try:
            os.ftruncate(fd, nbytes)
            return cls._from_fd(fd, nbytes)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def _from_fd(cls, fd: int, nbytes: int) -> _Segment:
        _raise_fd_limit()
        seg = cls(fd, nbytes)  # mmap keeps its own duplicate of fd for the mapping
        seg.fd = fd
        seg.nbytes = nbytes
        seg.addr = np.frombuffer(seg, np.uint8, 1).__array_interface__["data"][0]
        st = os.fstat(fd)
        seg.key = (st.st_dev, st.st_ino)
        weakref.finalize(seg, os.close, fd)
        _segments[seg.key] = seg
        return seg


# One mapping per segment and process: a segment received twice (a module's parameters, the
# same tensor through a queue again) maps once, so views of it stay views of one memory.
_segments: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _raise_fd_limit() -> None:
    """A segment holds two descriptors (ours, to send, and the one Python's mmap keeps): a
    model's tensors can pass the usual soft limit of 1024, so raise it to the hard limit once."""
    if _fd_limit_raised[0]:
        return
    _fd_limit_raised[0] = True
    try:
        import resource  # Unix only: its ImportError (Windows) is caught below

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):
        pass  # keep the limit we have


_fd_limit_raised = [False]


def _anonymous_file() -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create("ember-shared", os.MFD_CLOEXEC)
    folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    fd, path = tempfile.mkstemp(prefix="ember-shared-", dir=folder)
    os.unlink(path)  # only descriptors refer to it from now on
    return fd


def _segment_of(a: np.ndarray):
    """The segment holding ``a``'s memory, or None."""
    b = a.base
    while isinstance(b, np.ndarray):
        b = b.base
    return b if isinstance(b, _Segment) else None


def share_memory_(t):
    """Move ``t``'s array into a new shared segment (same dtype, shape and strides); returns t."""
    if not isinstance(t, Tensor):
        raise TypeError(f"share_memory_: expected a Tensor, got {type(t).__name__}")
    a = t._data
    if _segment_of(a) is not None:
        return t
    init_reductions()
    if a.size == 0:
        seg = _Segment.create(1)
        new = np.ndarray(a.shape, a.dtype, buffer=seg)
    else:
        lo, hi = _byte_bounds(a)  # covers any strides (negative, zero) without reordering
        seg = _Segment.create(hi - lo)
        new = np.ndarray(a.shape, a.dtype, buffer=seg, offset=a.__array_interface__["data"][0] - lo,
                         strides=a.strides)
        new[...] = a
    t._data = new
    return t


def is_shared(t) -> bool:
    """Whether ``t``'s array lives in a shared segment."""
    return _segment_of(t._data) is not None


# ---- pickling -------------------------------------------------------------------------------

def _reduce_ndarray(a: np.ndarray):
    seg = _segment_of(a)
    if seg is None:
        return a.__reduce_ex__(pickle.DEFAULT_PROTOCOL)  # by value, as before
    offset = a.__array_interface__["data"][0] - seg.addr
    return (_rebuild_ndarray, (_mp_reduction.DupFd(seg.fd), seg.nbytes, offset, a.dtype.str,
                               a.shape, a.strides))


def _rebuild_ndarray(handle, nbytes, offset, dtype, shape, strides):
    fd = handle.detach()
    st = os.fstat(fd)
    seg = _segments.get((st.st_dev, st.st_ino))
    if seg is not None:
        os.close(fd)
    else:
        seg = _Segment._from_fd(fd, nbytes)
    return np.ndarray(shape, np.dtype(dtype), buffer=seg, offset=offset, strides=strides)


_registered = [False]


def init_reductions() -> None:
    """Register the shared-array reducer with multiprocessing's pickler (idempotent)."""
    if not _registered[0]:
        _mp_reduction.ForkingPickler.register(np.ndarray, _reduce_ndarray)
        _registered[0] = True
