"""DistributedDataParallel: one model replica per rank, gradients averaged during backward.

At construction rank 0's parameters and buffers are broadcast, so every replica starts equal.
The parameters that need a gradient are split into buckets, in reverse order of
``parameters()`` (roughly the order backward produces their gradients): the first bucket holds
up to 1 MiB, the others up to ``bucket_cap_mb``, as PyTorch's. Each parameter has a
post-accumulate-grad hook, which the engine runs as soon as that parameter's gradient is
complete; when the last gradient of a bucket has arrived, the bucket is flattened, divided by
the world size and handed to a non-blocking MPI all-reduce, while the rest of backward goes on.
At the end of backward (a callback queued with the engine by the first hook) DDP waits for all
of them and writes the averages back into ``.grad``. Buckets are started strictly in bucket
order, the same on every rank, because MPI matches non-blocking collectives by the order they
are issued.
"""
from __future__ import annotations

from contextlib import contextmanager

from ..._backend import xp
from ..._tensor import Tensor, _make
from ...autograd import engine, grad_mode
from ..modules.module import Module

_FIRST_BUCKET_BYTES = 1024 * 1024  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES


def _dist():
    # ember.distributed loads on first use: only DDP and SyncBatchNorm's group path need it,
    # and it would add ~20 ms to `import ember.nn` (python -X importtime: distributed_c10d)
    from ... import distributed as dist
    from ...distributed import distributed_c10d as c10d

    return dist, c10d


def _tensors_in(obj, out):
    """Every Tensor in a (nested) output of forward."""
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _tensors_in(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _tensors_in(o, out)
    return out


class _Bucket:
    def __init__(self, index, params, dtype):
        self.index = index
        self.params = params  # indices into DDP's parameter list
        self.dtype = dtype
        self.pending = len(params)
        self.buf = None
        self.req = None


class DistributedDataParallel(Module):
    """Data parallelism across the ranks of a process group (see the module docstring)."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, init_sync: bool = True, process_group=None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None,
                 skip_all_reduce_unused_params: bool = False) -> None:
        super().__init__()
        _, c10d = _dist()
        pg = c10d._group(process_group)  # the PyTorch error when no group is initialised
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have "
                               "any parameter that requires a gradient.")
        if device_ids is not None or output_device is not None:
            raise ValueError(
                "DistributedDataParallel device_ids and output_device arguments only work with "
                "single-device/multiple-device GPU modules or CPU modules, but got device_ids "
                f"{device_ids}, output_device {output_device}, and module parameters "
                "{device(type='cpu')}.")
        self.module = module
        self.device_ids = None
        self.output_device = None
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        object.__setattr__(self, "process_group", pg)
        object.__setattr__(self, "_ddp_params", params)
        object.__setattr__(self, "_world", pg.size())
        # every rank must hold the same parameters, or the buckets would not line up
        c10d._check_same(pg, "DistributedDataParallel",
                         "; ".join(f"{tuple(p.shape)} {p._data.dtype}" for p in params))
        if init_sync and self._world > 1:
            self._broadcast_from_0([p for p in module.parameters()] +
                                   [b for b in module.buffers()])
        object.__setattr__(self, "_ddp_buckets", self._make_buckets(params))
        object.__setattr__(self, "_bucket_of", {i: b for b in self._ddp_buckets for i in b.params})
        object.__setattr__(self, "_ddp", {"armed": False, "next": 0, "ready": None,
                                            "used": None, "started": False})
        handles = []
        for i, p in enumerate(params):
            handles.append(p.register_post_accumulate_grad_hook(self._hook(i)))
        object.__setattr__(self, "_handles", handles)

    # -- set-up ---------------------------------------------------------------------------------

    def _make_buckets(self, params):
        buckets, cur, cur_bytes = [], {}, {}
        cap = min(_FIRST_BUCKET_BYTES, self.bucket_bytes_cap)
        for i in reversed(range(len(params))):
            dt = params[i]._data.dtype
            cur.setdefault(dt, []).append(i)
            cur_bytes[dt] = cur_bytes.get(dt, 0) + params[i]._data.nbytes
            if cur_bytes[dt] >= cap:
                buckets.append(_Bucket(len(buckets), cur.pop(dt), dt))
                cur_bytes[dt] = 0
                cap = self.bucket_bytes_cap
        for dt, idx in cur.items():
            buckets.append(_Bucket(len(buckets), idx, dt))
        return buckets

    def _broadcast_from_0(self, tensors):
        """Rank 0's values into every rank's ``tensors``, one coalesced message per dtype."""
        _, c10d = _dist()
        pg = self.process_group
        by_dtype = {}
        for t in tensors:
            by_dtype.setdefault(t._data.dtype, []).append(t)
        reqs, jobs = [], []
        for dt, ts in by_dtype.items():
            flat = xp.concatenate([t._data.reshape(-1) for t in ts]) if ts else xp.empty(0, dt)
            reqs.append(pg.comm.Ibcast(c10d._buf_arg(flat), root=0))
            jobs.append((ts, flat))
        c10d._wait(pg, reqs, "DistributedDataParallel broadcast")
        with grad_mode.no_grad():
            for ts, flat in jobs:
                off = 0
                for t in ts:
                    n = t._data.size
                    c10d._store(t, flat[off:off + n])
                    off += n

    # -- forward --------------------------------------------------------------------------------

    def forward(self, *inputs, **kwargs):
        st = self._ddp
        if st["armed"] and st["started"]:
            unready = [i for i in range(len(self._ddp_params)) if i not in st["ready"]]
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a "
                "new one. This error indicates that your module has parameters that were not "
                "used in producing loss. You can enable unused parameter detection by passing "
                "the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`, and by making sure all `forward` "
                "function outputs participate in calculating loss. Parameter indices which did "
                f"not receive grad for rank {self.process_group.rank()}: "
                f"{' '.join(map(str, unready))}")
        if self.broadcast_buffers and self._world > 1 and self.require_forward_param_sync:
            bufs = list(self.module.buffers())
            if bufs:
                self._broadcast_from_0(bufs)
        out = self.module(*inputs, **kwargs)
        # one rank: the average of one gradient is itself, nothing to do
        if grad_mode.is_grad_enabled() and self.require_backward_grad_sync and self._world > 1:
            self._arm(out)
        return out

    def _arm(self, out):
        st = self._ddp
        st["armed"], st["next"], st["ready"], st["started"] = True, 0, set(), False
        for b in self._ddp_buckets:
            b.pending, b.buf, b.req = len(b.params), None, None
        st["used"] = None
        if self.find_unused_parameters:
            used = self._reachable(out)
            st["used"] = xp.array([id(p) in used for p in self._ddp_params], xp.uint8)
            for i, p in enumerate(self._ddp_params):
                if id(p) not in used:
                    self._mark_ready(i)
            if st["next"] == len(self._ddp_buckets):  # nothing reached: no hook will finish
                self._finish()

    @staticmethod
    def _reachable(out):
        """ids of the leaves the graph of ``out`` reaches (PyTorch walks it the same way)."""
        seen, leaves = set(), set()
        stack = []
        for t in _tensors_in(out, []):
            if t._grad_fn is not None:
                stack.append(t._grad_fn)
            elif t.requires_grad:
                leaves.add(id(t))
        while stack:
            fn = stack.pop()
            if id(fn) in seen:
                continue
            seen.add(id(fn))
            for e in getattr(fn, "_next", ()) or ():
                if e is None:
                    continue
                t = e[0]
                if isinstance(t, Tensor):
                    leaves.add(id(t))
                elif t is not None:
                    stack.append(t)
        return leaves

    # -- backward -------------------------------------------------------------------------------

    def _hook(self, i):
        def hook(param):
            st = self._ddp
            if st["armed"] and i not in st["ready"]:
                if not st["started"]:  # the first gradient of this backward
                    st["started"] = True
                    engine.queue_callback(self._finish)
                self._mark_ready(i)
        return hook

    def _mark_ready(self, i):
        st = self._ddp
        st["ready"].add(i)
        self._bucket_of[i].pending -= 1
        # start every bucket that is complete, in order, no further than the first incomplete
        while st["next"] < len(self._ddp_buckets) and self._ddp_buckets[st["next"]].pending == 0:
            self._launch(self._ddp_buckets[st["next"]])
            st["next"] += 1

    def _launch(self, b):
        _, c10d = _dist()
        used = self._ddp["used"]
        parts = []
        for i in b.params:
            p = self._ddp_params[i]
            if p.grad is None or (used is not None and not used[i]):
                parts.append(xp.zeros(p._data.size, b.dtype))  # unused here: contributes 0
            else:
                parts.append(p.grad._data.reshape(-1))
        # float16 is summed in float32: MPI has no half type
        wide = xp.float32 if b.dtype == xp.float16 else b.dtype
        b.buf = xp.concatenate(parts).astype(wide, copy=False) if len(parts) > 1 else \
            parts[0].astype(wide, copy=True)
        b.buf /= self._world  # averaged as PyTorch does: divide, then sum
        b.req = self.process_group.comm.Iallreduce(c10d._MPI.IN_PLACE, b.buf, op=c10d._MPI.SUM)

    def _finish(self):
        """At the end of backward: wait for the buckets and write the averages into ``.grad``."""
        _, c10d = _dist()
        pg, st = self.process_group, self._ddp
        if self.find_unused_parameters:  # no gradient in this backward: contributes zeros
            for i in range(len(self._ddp_params)):
                if i not in st["ready"]:
                    st["used"][i] = 0
                    self._mark_ready(i)
        if st["next"] < len(self._ddp_buckets):
            return  # a parameter got no gradient: the next forward raises PyTorch's error
        st["armed"] = False
        c10d._wait(pg, [b.req for b in self._ddp_buckets], "DistributedDataParallel all_reduce")
        used = st["used"]
        if used is not None:  # a parameter used by no rank keeps its .grad untouched
            c10d._wait(pg, [pg.comm.Iallreduce(c10d._MPI.IN_PLACE, used, op=c10d._MPI.MAX)],
                       "DistributedDataParallel find_unused_parameters")
        for b in self._ddp_buckets:
            off = 0
            for i in b.params:
                p = self._ddp_params[i]
                n = p._data.size
                avg = b.buf[off:off + n].reshape(p._data.shape)
                off += n
                if used is not None and not used[i]:
                    continue
                if p.grad is None:
                    p.grad = _make(avg.astype(p._data.dtype), False, None, 0)
                else:
                    c10d._store(p.grad, avg)
            b.buf = b.req = None

    # -- the PyTorch API ------------------------------------------------------------------------

    @contextmanager
    def no_sync(self):
        """Inside it, backward accumulates local gradients without averaging them."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def join(self, *args, **kwargs):
        """Uneven inputs across ranks are not supported: an error."""
        raise NotImplementedError("DistributedDataParallel.join (uneven inputs) is not "
                                  "supported by ember")

    def register_comm_hook(self, state, hook):
        """Custom communication hooks are not supported: an error."""
        raise NotImplementedError("DistributedDataParallel.register_comm_hook is not supported "
                                  "by ember")

    def _set_static_graph(self):
        self.static_graph = True

    def __getstate__(self):
        raise RuntimeError("DistributedDataParallel cannot be pickled: save .module instead")
