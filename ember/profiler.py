"""ember.profiler: PyTorch's profiler API over wall-clock ranges.

What is recorded: the ranges that ``record_function`` opens (and, under ``profile(schedule=...)``,
one ``ProfilerStep#N`` range per step), with their CPU time, call count and input shapes.
ember's operators are not recorded one by one, so tables list those ranges only.
"""
from __future__ import annotations

import enum
import functools
import gzip
import json
import os
import socket
import time
import warnings

__all__ = ["profile", "record_function", "ProfilerActivity", "ProfilerAction", "schedule",
           "tensorboard_trace_handler", "supported_activities"]


class ProfilerActivity(enum.Enum):
    CPU = 0
    XPU = 1
    MTIA = 2
    CUDA = 3
    HPU = 4
    PrivateUse1 = 5


def supported_activities():
    return {ProfilerActivity.CPU}


class ProfilerAction(enum.Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0,
             skip_first_wait: int = 0):
    """The action for each step number, as torch.profiler.schedule."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise AssertionError("Invalid profiler schedule arguments")
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results")

    def schedule_fn(step: int) -> ProfilerAction:
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait:
            step += wait
        num_steps = wait + warmup + active
        if repeat > 0 and step / num_steps >= repeat:
            return ProfilerAction.NONE
        mod_step = step % num_steps
        if mod_step < wait:
            return ProfilerAction.NONE
        if mod_step < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if mod_step < num_steps - 1 else \
            ProfilerAction.RECORD_AND_SAVE

    return schedule_fn


def _default_schedule(_step):
    return ProfilerAction.RECORD


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None,
                              use_gzip: bool = False):
    """on_trace_ready callback writing a Chrome trace into ``dir_name`` (TensorBoard's layout)."""

    def handler_fn(prof) -> None:
        os.makedirs(dir_name, exist_ok=True)
        name = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        file_name = f"{name}.{time.time_ns() // 1000000}.pt.trace.json"
        if use_gzip:
            file_name += ".gz"
        prof.export_chrome_trace(os.path.join(dir_name, file_name))

    return handler_fn


# ---- events ----------------------------------------------------------------------------------

_active: list = []  # the profilers now recording
_stack: list = []  # the open ranges (FunctionEvent), innermost last


class FunctionEvent:
    """One recorded range: times in microseconds."""

    def __init__(self, name, start_us, input_shapes=None):
        self.name = self.key = name
        self.time_range_start = start_us
        self.time_range_end = start_us
        self.input_shapes = input_shapes or []
        self.cpu_children: list = []
        self.count = 1
        self.device_type = "CPU"

    @property
    def cpu_time_total(self):
        return self.time_range_end - self.time_range_start

    @property
    def self_cpu_time_total(self):
        return self.cpu_time_total - sum(c.cpu_time_total for c in self.cpu_children)

    cpu_time = cpu_time_total
    device_time_total = self_device_time_total = cuda_time_total = self_cuda_time_total = 0
    cpu_memory_usage = self_cpu_memory_usage = 0

    def __repr__(self):
        return (f"<FunctionEvent name={self.name} cpu_time={_format_time(self.cpu_time_total)} "
                f"input_shapes={self.input_shapes}>")


class FunctionEventAvg:
    """Events of one name (and input shapes, when grouped so) summed."""

    def __init__(self, key, input_shapes=None):
        self.key = key
        self.input_shapes = input_shapes
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.device_time_total = self.self_device_time_total = 0
        self.cuda_time_total = self.self_cuda_time_total = 0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0

    def add(self, ev):
        self.count += ev.count
        self.cpu_time_total += ev.cpu_time_total
        self.self_cpu_time_total += ev.self_cpu_time_total
        return self

    @property
    def cpu_time(self):
        return self.cpu_time_total / self.count if self.count else 0.0

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={_format_time(self.self_cpu_time_total)}"
                f" cpu_time={_format_time(self.cpu_time)} input_shapes={self.input_shapes}>")


def _format_time(us):
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


_SORT_KEYS = {"cpu_time_total", "self_cpu_time_total", "cpu_time", "count", "cpu_memory_usage",
              "self_cpu_memory_usage", "device_time_total", "self_device_time_total",
              "cuda_time_total", "self_cuda_time_total"}


class EventList(list):
    """A list of events with PyTorch's table()."""

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0):
        groups: dict = {}
        for ev in self:
            key = (ev.key, str(ev.input_shapes) if group_by_input_shape else None)
            if key not in groups:
                groups[key] = FunctionEventAvg(ev.key, ev.input_shapes if group_by_input_shape
                                               else None)
            groups[key].add(ev)
        return EventList(groups.values())

    @property
    def self_cpu_time_total(self):
        return sum(ev.self_cpu_time_total for ev in self)

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75, max_name_column_width=55,
              max_shapes_column_width=80, header=None, top_level_events_only=False):
        if sort_by is not None and sort_by not in _SORT_KEYS:
            raise AttributeError(f"'FunctionEventAvg' object has no attribute '{sort_by}'")
        events = list(self)
        if sort_by is not None:
            events.sort(key=lambda e: getattr(e, sort_by), reverse=True)
        if row_limit is not None and row_limit > 0:
            events = events[:row_limit]
        shapes = any(getattr(e, "input_shapes", None) for e in events)
        name_w = min(max([len(e.key) for e in events] + [4]) + 4, max_name_column_width)
        cols = ["Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls"]
        line = "-" * name_w + "  " + "  ".join("-" * 12 for _ in cols) + "  "
        head = "Name".rjust(name_w) + "  " + "  ".join(c.rjust(12) for c in cols) + "  "
        if shapes:
            line += "-" * 12 + "  "
            head += "Input Shapes".rjust(12) + "  "
        out = [line] if header is None else [header, line]
        out += [head, line]
        total = self.self_cpu_time_total or 1.0
        for e in events:
            name = e.key if len(e.key) <= name_w else e.key[:name_w - 3] + "..."
            row = [f"{100 * e.self_cpu_time_total / total:.2f}%", _format_time(e.self_cpu_time_total),
                   f"{100 * e.cpu_time_total / total:.2f}%", _format_time(e.cpu_time_total),
                   _format_time(e.cpu_time), str(e.count)]
            text = name.rjust(name_w) + "  " + "  ".join(r.rjust(12) for r in row) + "  "
            if shapes:
                text += str(e.input_shapes or [])[:max_shapes_column_width].rjust(12) + "  "
            out.append(text)
        out.append(line)
        out.append(f"Self CPU time total: {_format_time(self.self_cpu_time_total)}")
        return "\n".join(out) + "\n"

    def __str__(self):
        return self.table()


class record_function:
    """Label a block (context manager or decorator) so that the profiler times it."""

    def __init__(self, name: str, args: str | None = None):
        self.name = name
        self.args = args
        self._events = None

    def __enter__(self):
        if _active:
            ev = FunctionEvent(self.name, time.perf_counter_ns() / 1000)
            if _stack:
                _stack[-1].cpu_children.append(ev)
            _stack.append(ev)
            self._events = ev
        return self

    def __exit__(self, *exc):
        ev = self._events
        if ev is not None:
            ev.time_range_end = time.perf_counter_ns() / 1000
            if _stack and _stack[-1] is ev:
                _stack.pop()
            for p in _active:
                p._record(ev)
            self._events = None
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with record_function(self.name, self.args):
                return fn(*args, **kwargs)

        return wrapper


class profile:
    """torch.profiler.profile: a context manager that records ``record_function`` ranges."""

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None,
                 record_shapes=False, profile_memory=False, with_stack=False, with_flops=False,
                 with_modules=False, experimental_config=None, execution_trace_observer=None,
                 acc_events=False, use_cuda=None, custom_trace_id_callback=None):
        self.activities = set(activities) if activities is not None else supported_activities()
        self.schedule = schedule or _default_schedule
        self.on_trace_ready = on_trace_ready
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.step_num = 0
        self._events = EventList()
        self._recording = False
        self._step_range = None

    # recording
    def _record(self, ev):
        if self._recording:
            self._events.append(ev)

    def _set_recording(self, on):
        if on and not self._recording:
            _active.append(self)
        elif not on and self._recording:
            _active.remove(self)
        self._recording = on

    def start(self):
        self._action = self.schedule(self.step_num)
        if self._action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            self._events = EventList()
            self._set_recording(True)
        self._open_step()

    def stop(self):
        self._close_step()
        if self._recording:
            self._set_recording(False)
            if self.on_trace_ready is not None and self.schedule is not _default_schedule:
                self.on_trace_ready(self)
        if self.schedule is _default_schedule and self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def step(self):
        self._close_step()
        prev = self._action
        self.step_num += 1
        self._action = self.schedule(self.step_num)
        recording = self._action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
        if prev == ProfilerAction.RECORD_AND_SAVE:
            self._set_recording(False)
            if self.on_trace_ready is not None:
                self.on_trace_ready(self)
        if recording and not self._recording:
            self._events = EventList()
        self._set_recording(recording)
        self._open_step()

    def _open_step(self):
        if self.schedule is not _default_schedule and self._recording:
            self._step_range = record_function(f"ProfilerStep#{self.step_num}")
            self._step_range.__enter__()

    def _close_step(self):
        if self._step_range is not None:
            self._step_range.__exit__(None, None, None)
            self._step_range = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # results
    def events(self):
        return self._events

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0,
                     group_by_overload_name=False):
        return self._events.key_averages(group_by_input_shape, group_by_stack_n)

    def export_chrome_trace(self, path):
        trace = {"traceEvents": [
            {"ph": "X", "cat": "user_annotation", "name": ev.name, "pid": os.getpid(),
             "tid": 0, "ts": ev.time_range_start, "dur": ev.cpu_time_total,
             "args": {"Input Dims": ev.input_shapes} if self.record_shapes else {}}
            for ev in self._events], "displayTimeUnit": "ms"}
        if path.endswith(".gz"):
            with gzip.open(path, "wt") as f:
                json.dump(trace, f)
        else:
            with open(path, "w") as f:
                json.dump(trace, f)
        return path

    def export_stacks(self, path, metric="self_cpu_time_total"):
        with open(path, "w"):
            pass
