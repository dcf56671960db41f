"""Intra-op parallelism for the kernels: a batch split over ember's threads.

BLAS parallelises one large matrix product, but a convolution's products are per sample
block (~1 MB of cols, to stay in L2) and too small to split well: 64 GEMMs of
(32, 288) @ (288, 840), ResNet's 3x3 conv on 28 x 28, took 11.8 ms on one OpenBLAS thread
and 10.8-11.8 ms on two (``python /tmp/gemm2.py``). So a kernel splits its batch instead:
each of ``get_num_threads()`` threads runs the serial kernel on a contiguous range of samples,
with BLAS pinned to one thread meanwhile; NumPy releases the GIL in matmul and in large
copies and ufunc loops, so the ranges really run at once (the same 64 GEMMs: 10.1-11.0 ms on
two such threads against 17-20 ms on one, wall time, with fresh operands as a convolution
has them; ``python /tmp/thr.py``).

``parallel_for(fn, n)`` runs ``fn(lo, hi)`` over the ranges and returns their results in
order; a call from inside a range, or with one thread, is just ``[fn(0, n)]``. Ranges must
write disjoint memory; whatever they reduce (a weight gradient) comes back per range, and
the caller adds the parts in range order, so results depend on the thread count only
through that sum's rounding.
"""
from __future__ import annotations

import os
import threading

from .. import _threads

_local = threading.local()
_workers: list = []


class _Worker:
    """A daemon thread that runs one range at a time, handed it through two locks: a
    parallel_for of nothing costs 55-70 us here, most of it the other core's wake-up (a lock
    ping-pong between two threads alone: 53 us), against ~80 us through a
    ThreadPoolExecutor's submit and result (``python /tmp/ovh.py``)."""

    def __init__(self):
        self.go, self.done = threading.Lock(), threading.Lock()
        self.go.acquire()
        self.done.acquire()
        self.job = self.result = None
        self.busy = False  # given a range not yet waited for
        threading.Thread(target=self._loop, daemon=True, name="ember-intra-op").start()

    def _loop(self):
        while True:
            self.go.acquire()
            fn, lo, hi = self.job
            try:
                self.result = (True, _in_range(fn, lo, hi))
            except BaseException as e:  # noqa: BLE001 - handed to the caller, raised there
                self.result = (False, e)
            self.done.release()

    def start(self, fn, lo, hi):
        self.busy = True
        self.job = (fn, lo, hi)
        self.go.release()

    def wait(self):
        """(True, the range's result) or (False, the exception it raised)."""
        self.done.acquire()
        outcome, self.result, self.job = self.result, None, None
        self.busy = False
        return outcome


def _forget_workers():  # a forked child has none of the parent's threads
    global _region
    _workers.clear()
    _region = threading.Lock()  # nor a region in progress


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def _in_range(fn, lo, hi):
    _local.busy = True
    try:
        return fn(lo, hi)
    finally:
        _local.busy = False


# Work a range should hold at least (elements, element-passes or multiply-adds): a thread's
# wake-up costs ~55 us here and a pass over 2^18 float32 elements ~40-80 us, so smaller ranges
# lose what they gain. Kernels that make several passes per element ask for less.
MIN_WORK = 1 << 18


def grain(item_work, work=MIN_WORK):
    """Items per range so that each range holds at least ``work`` when one item holds
    ``item_work`` of it."""
    return max(1, work // max(item_work, 1))


def num_ranges(n, grain=1):
    """How many ranges parallel_for(fn, n, grain) would make (1: it runs serially)."""
    if getattr(_local, "busy", False):
        return 1
    return max(1, min(_threads.get_num_threads(), n // max(grain, 1)))


# One parallel region at a time: a second Python thread that calls a kernel meanwhile runs it
# serially rather than share the workers.
_region = threading.Lock()


def parallel_for(fn, n, grain=1):
    """[fn(lo, hi) for each range] over [0, n), split into contiguous ranges of at least
    ``grain`` items, one per thread (the calling thread takes the first)."""
    t = num_ranges(n, grain)
    if t == 1 or not _region.acquire(blocking=False):
        return [fn(0, n)]
    try:
        return _run(fn, n, t)
    finally:
        _region.release()


def _run(fn, n, t):
    if any(worker.busy for worker in _workers):  # an interrupt (Ctrl-C) left a range running:
        _workers.clear()  # let those workers finish it alone; none of it reaches new calls
    while len(_workers) < t - 1:
        _workers.append(_Worker())
    bounds = [n * i // t for i in range(t + 1)]
    blas = _threads.blas_one_thread()
    started, outcomes = [], []
    try:
        for i, worker in enumerate(_workers[:t - 1], 1):
            worker.start(fn, bounds[i], bounds[i + 1])
            started.append(worker)
        first = _in_range(fn, bounds[0], bounds[1])
    finally:
        try:
            outcomes = [worker.wait() for worker in started]
        finally:  # every range done before BLAS gets its threads back
            blas.restore()
    for ok, value in outcomes:
        if not ok:
            raise value
    return [first] + [value for _, value in outcomes]
