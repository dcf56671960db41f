"""DataLoader workers: fetchers, the worker loop, per-worker seeding, and how batches travel back.

Transport. Each worker talks to the main process over one Unix socket pair (indices in, batches
out). A batch is pickled with protocol 5 and its large arrays are sent *out of band*: raw bytes
after the pickle stream, received by the main process straight into the final array's memory
(one kernel copy each way, no intermediate pickle copy). A second path copies large arrays into
anonymous shared memory (``memfd_create``, descriptors passed with SCM_RIGHTS, so nothing can
leak even on SIGKILL). bench/dataloader.py measures both; out-of-band pickling was faster at
every batch size we tried (256 KiB to 18 MiB: fresh shared-memory pages cost a zero-fill and a
page fault on each side), so it is the default; EMBER_DATALOADER_TRANSPORT=shm selects the other.
"""
from __future__ import annotations

import io
import mmap
import os
import pickle
import queue
import random
import select
import socket
import struct
import sys
import threading
import traceback
from dataclasses import dataclass

import numpy as np

from ... import _random
from ..._tensor import _make
from ._collate import default_collate
from .dataset import Subset, TensorDataset

MP_STATUS_CHECK_INTERVAL = 5.0  # how often a waiting worker checks that the main process lives

# With the "shm" transport, arrays at least this large go through shared memory.
SHM_THRESHOLD = int(os.environ.get("EMBER_DATALOADER_SHM_THRESHOLD", "32768"))
TRANSPORT = os.environ.get("EMBER_DATALOADER_TRANSPORT", "pickle")  # or "shm" (see above)
HAS_SHM = hasattr(os, "memfd_create") and hasattr(socket, "send_fds")
_MAX_FDS = 250  # SCM_MAX_FD is 253 descriptors per message
_HEADER = struct.Struct("<QII")  # pickle length, descriptors, out-of-band buffers


class _DatasetKind:
    Map = 0
    Iterable = 1

    @staticmethod
    def create_fetcher(kind, dataset, auto_collation, collate_fn, drop_last):
        if kind == _DatasetKind.Map:
            return _MapDatasetFetcher(dataset, auto_collation, collate_fn, drop_last)
        return _IterableDatasetFetcher(dataset, auto_collation, collate_fn, drop_last)


class _BaseDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last


class _IterableDatasetFetcher(_BaseDatasetFetcher):
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        super().__init__(dataset, auto_collation, collate_fn, drop_last)
        self.dataset_iter = iter(dataset)
        self.ended = False

    def fetch(self, possibly_batched_index):
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            data = []
            for _ in possibly_batched_index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if len(data) == 0 or (self.drop_last and len(data) < len(possibly_batched_index)):
                raise StopIteration
        else:
            data = next(self.dataset_iter)
        return self.collate_fn(data)


class _MapDatasetFetcher(_BaseDatasetFetcher):
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        super().__init__(dataset, auto_collation, collate_fn, drop_last)
        self._fast = _tensor_fast_path(dataset, collate_fn) if auto_collation else None

    def fetch(self, possibly_batched_index):
        if self._fast is not None:
            return _fast_fetch(self._fast, possibly_batched_index)
        if self.auto_collation:
            getitems = getattr(self.dataset, "__getitems__", None)
            if getitems:
                data = getitems(possibly_batched_index)
            else:
                data = [self.dataset[idx] for idx in possibly_batched_index]
        else:
            data = self.dataset[possibly_batched_index]
        return self.collate_fn(data)


def _tensor_fast_path(dataset, collate_fn):
    """(arrays, index_map) when a batch of ``dataset`` is one fancy index per tensor, else None.

    That holds for a plain TensorDataset (or Subsets of one) under default_collate: collating
    ``[ds[i] for i in batch]`` gives exactly ``[t[batch] for t in ds.tensors]``.
    """
    if collate_fn is not default_collate:
        return None
    index_map = None
    while type(dataset) is Subset:
        try:
            idx = np.asarray(dataset.indices, dtype=np.intp)
        except (TypeError, ValueError):
            return None
        if idx.ndim != 1:
            return None
        index_map = idx if index_map is None else idx[index_map]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset:
        return None
    if any(t._requires_grad for t in dataset.tensors):
        return None
    return [t._data for t in dataset.tensors], index_map


def _fast_fetch(fast, batch_index):
    arrays, index_map = fast
    idx = np.asarray(batch_index, dtype=np.intp)
    if index_map is not None:
        idx = index_map[idx]
    return [_make(a[idx], False, None, 0) for a in arrays]


# ---- worker info and seeding ---------------------------------------------------------------

@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: its id, the worker count, its seed and
    its own copy of the dataset."""

    id: int
    num_workers: int
    seed: int
    dataset: object
    rng: object = None
    worker_method: str | None = "multiprocessing"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """Information about the current DataLoader worker process; None in the main process."""
    return _worker_info


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    seed: int | None = None


def _generate_state(base_seed: int, worker_id: int) -> list[int]:
    """PyTorch's NumPy seed for a worker: a SeedSequence-style hash of (worker_id, base_seed).

    Reseeding NumPy's global RandomState with it is what keeps workers from drawing the same
    "random" augmentations (the classic forked-RandomState bug).
    """
    init_a, mult_a = 0x43B0D7E5, 0x931E8875
    init_b, mult_b = 0x8B51F9DD, 0x58F38DED
    mix_mult_l, mix_mult_r = 0xCA01F9DD, 0x4973F715
    xshift, mask32 = 16, 0xFFFFFFFF
    entropy = [worker_id, base_seed & mask32, base_seed >> 32, 0]
    pool = [0] * 4
    hash_const_a = init_a

    def hash_(value):
        nonlocal hash_const_a
        value = (value ^ hash_const_a) & mask32
        hash_const_a = (hash_const_a * mult_a) & mask32
        value = (value * hash_const_a) & mask32
        return (value ^ (value >> xshift)) & mask32

    def mix(x, y):
        result = (((mix_mult_l * x) & mask32) - ((mix_mult_r * y) & mask32)) & mask32
        return (result ^ (result >> xshift)) & mask32

    for i in range(4):
        pool[i] = hash_(entropy[i])
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash_(pool[i_src]))
    hash_const_b = init_b
    state = []
    for i_dst in range(4):
        data_val = (pool[i_dst] ^ hash_const_b) & mask32
        hash_const_b = (hash_const_b * mult_b) & mask32
        data_val = (data_val * hash_const_b) & mask32
        state.append((data_val ^ (data_val >> xshift)) & mask32)
    return state


class ExceptionWrapper:
    """An exception and its formatted traceback, carried from a worker to the main process."""

    def __init__(self, exc_info=None, where: str = "in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)  # KeyError repr()s its argument: keep newlines readable
        try:
            exception = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        try:
            raise exception
        finally:
            del exception  # no frame -> exception -> traceback -> frame cycle keeping the loader alive


class _KeyErrorMessage(str):
    def __repr__(self):
        return self


# ---- transport -------------------------------------------------------------------------------

class _Encoder(pickle.Pickler):
    """Pickles a batch (protocol 5): large arrays leave the pickle stream, either as out-of-band
    buffers sent raw after it, or (``use_shm``) copied into memfd shared memory whose descriptors
    travel with the message."""

    def __init__(self, file, fds, maps, buffers, use_shm):
        super().__init__(file, protocol=5, buffer_callback=self._out_of_band)
        self.fds, self.maps, self.buffers, self.use_shm = fds, maps, buffers, use_shm

    def _out_of_band(self, buf):
        raw = buf.raw()
        if raw.nbytes < 4096:
            return True  # small: cheaper inside the pickle stream
        self.buffers.append(raw)
        return False

    def persistent_id(self, obj):
        if (not self.use_shm or type(obj) is not np.ndarray or obj.nbytes < SHM_THRESHOLD
                or len(self.fds) >= _MAX_FDS or obj.dtype.hasobject or not obj.dtype.isbuiltin):
            return None
        fd = os.memfd_create("ember-batch", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, obj.nbytes)
            mm = mmap.mmap(fd, obj.nbytes)
        except BaseException:
            os.close(fd)
            raise
        np.frombuffer(mm, obj.dtype, obj.size).reshape(obj.shape)[...] = obj
        self.fds.append(fd)
        self.maps.append(mm)
        return ("shm", len(self.fds) - 1, obj.dtype.str, obj.shape)


def _encode(obj, use_shm: bool):
    """obj -> (frames to send, fds, mmaps); the caller closes fds and maps once they are sent."""
    file = io.BytesIO()
    fds, maps, buffers = [], [], []
    try:
        _Encoder(file, fds, maps, buffers, use_shm).dump(obj)
    except BaseException:
        _release(fds, maps)
        raise
    payload = file.getbuffer()
    header = _HEADER.pack(payload.nbytes, len(fds), len(buffers))
    if buffers:
        header += struct.pack(f"<{len(buffers)}Q", *(b.nbytes for b in buffers))
    return [header, payload, *buffers], fds, maps


def _release(fds, maps):
    for m in maps:
        m.close()
    for fd in fds:
        os.close(fd)


class _Decoder(pickle.Unpickler):
    def __init__(self, file, fds, buffers):
        super().__init__(file, buffers=buffers)
        self.fds = fds

    def persistent_load(self, pid):
        _, i, dtype, shape = pid
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        mm = mmap.mmap(self.fds[i], count * dtype.itemsize)
        return np.frombuffer(mm, dtype, count).reshape(shape)  # the array keeps the mapping alive


def _send(sock, frames, fds) -> None:
    header = frames[0]
    if fds:
        socket.send_fds(sock, [header], fds)  # the descriptors ride on the header
    else:
        sock.sendall(header)
    for f in frames[1:]:
        sock.sendall(f)


def _recv_into(sock, buf) -> None:
    view = memoryview(buf).cast("B")
    n = view.nbytes
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError
        got += k


def _recv_exact(sock, n: int) -> bytearray:
    buf = bytearray(n)
    _recv_into(sock, buf)
    return buf


def _recv(sock):
    """One message from a worker: the unpickled object. EOFError when the worker is gone."""
    if HAS_SHM:
        msg, fds, _flags, _addr = socket.recv_fds(sock, _HEADER.size, _MAX_FDS + 3)
    else:
        msg, fds = sock.recv(_HEADER.size), []
    try:
        if not msg:
            raise EOFError
        if len(msg) < _HEADER.size:
            msg += _recv_exact(sock, _HEADER.size - len(msg))
        n, _nfds, nbuf = _HEADER.unpack(msg)
        sizes = struct.unpack(f"<{nbuf}Q", _recv_exact(sock, 8 * nbuf)) if nbuf else ()
        payload = _recv_exact(sock, n)
        buffers = []
        for size in sizes:
            b = np.empty(size, np.uint8)  # received straight into the array's final memory
            _recv_into(sock, b)
            buffers.append(b)
        return _Decoder(io.BytesIO(payload), fds, buffers).load()
    finally:
        for fd in fds:
            os.close(fd)  # the mappings made from them stay valid


# ---- the worker process ----------------------------------------------------------------------

class _ManagerWatchdog:
    def __init__(self):
        self.manager_pid = os.getppid()
        self.manager_dead = False

    def is_alive(self) -> bool:
        if not self.manager_dead:
            self.manager_dead = os.getppid() != self.manager_pid
        return not self.manager_dead


def _sender_loop(sock, out_queue):
    # A thread, so that the worker can fetch the next batch while this one is being sent.
    while True:
        item = out_queue.get()
        if item is None:
            return
        frames, fds, maps = item
        try:
            _send(sock, frames, fds)
        except OSError:  # the main process closed its end: it no longer wants data
            _release(fds, maps)
            return
        _release(fds, maps)


def _worker_loop(dataset_kind, dataset, sock, done_event, auto_collation, collate_fn, drop_last,
                 base_seed, init_fn, worker_id, num_workers, persistent_workers, use_shm):
    # `sock` is this worker's end of a socket pair: indices arrive on it, batches leave on it.
    global _worker_info
    out_queue = queue.SimpleQueue()
    sender = threading.Thread(target=_sender_loop, args=(sock, out_queue), daemon=True)
    sender.start()

    def put(obj):
        try:
            out_queue.put(_encode(obj, use_shm))
        except Exception:  # e.g. a batch that cannot be pickled: report it instead
            idx = obj[0]
            wrapper = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            out_queue.put(_encode((idx, wrapper), False))

    try:
        seed = base_seed + worker_id
        random.seed(seed)
        _random.manual_seed(seed)
        np.random.seed(_generate_state(base_seed, worker_id))
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                  dataset=dataset)
        init_exception = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = _DatasetKind.create_fetcher(dataset_kind, dataset, auto_collation,
                                                  collate_fn, drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        iteration_end = False
        watchdog = _ManagerWatchdog()
        reader = _SockReader(sock)
        while watchdog.is_alive():
            try:
                r = reader.get(MP_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                break  # the main process went away
            if isinstance(r, _ResumeIteration):
                put((r, None))
                iteration_end = False
                fetcher = _DatasetKind.create_fetcher(dataset_kind, dataset, auto_collation,
                                                      collate_fn, drop_last)
                continue
            if r is None:
                break
            if done_event.is_set() or iteration_end:
                continue
            idx, index = r
            if init_exception is not None:
                data, init_exception = init_exception, None
            else:
                try:
                    data = fetcher.fetch(index)
                except Exception as e:
                    if isinstance(e, StopIteration) and dataset_kind == _DatasetKind.Iterable:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            put((idx, data))
            del data, idx, index, r
    except KeyboardInterrupt:
        pass  # the main process handles Ctrl-C and shuts the workers down
    out_queue.put(None)
    if not done_event.is_set():
        sender.join()


class _SockReader:
    """Receives pickled index messages from the main process over a socket."""

    def __init__(self, sock):
        self.sock = sock

    def get(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            raise queue.Empty
        header = self.sock.recv(4)
        if not header:
            raise EOFError
        if len(header) < 4:
            header += _recv_exact(self.sock, 4 - len(header))
        (n,) = struct.unpack("<I", header)
        return pickle.loads(_recv_exact(self.sock, n))


def _send_index(sock, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(struct.pack("<I", len(data)) + data)
