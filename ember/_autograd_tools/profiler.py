"""ember.autograd.profiler: the older profiler API (see ember.profiler for what is recorded)."""
from __future__ import annotations

from ..profiler import EventList, FunctionEvent, FunctionEventAvg, record_function  # noqa: F401
from ..profiler import profile as _profile


class profile(_profile):
    """torch.autograd.profiler.profile(enabled=True, use_cuda=False, record_shapes=False, ...)."""

    def __init__(self, enabled=True, *, use_cuda=False, use_device=None, record_shapes=False,
                 with_flops=False, profile_memory=False, with_stack=False, with_modules=False,
                 use_kineto=False, use_cpu=True, experimental_config=None, acc_events=False,
                 custom_trace_id_callback=None):
        super().__init__(record_shapes=record_shapes, profile_memory=profile_memory,
                         with_stack=with_stack)
        self.enabled = enabled

    def __enter__(self):
        if self.enabled:
            self.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.stop()
        return False

    @property
    def function_events(self):
        return self._events

    def table(self, sort_by=None, row_limit=100, **kwargs):
        return self._events.table(sort_by=sort_by, row_limit=row_limit, **kwargs)

    def total_average(self):
        total = FunctionEventAvg("Total")
        for ev in self._events:
            total.add(ev)
        return total

    @property
    def self_cpu_time_total(self):
        return self._events.self_cpu_time_total

    def __str__(self):
        return self.table()
