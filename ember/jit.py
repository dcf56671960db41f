"""ember.jit: ``script`` and ``trace`` return their input unchanged, since ember runs eagerly."""
from __future__ import annotations

import warnings

__all__ = [
    "Final",
    "ScriptFunction",
    "ScriptModule",
    "annotate",
    "export",
    "fork",
    "ignore",
    "is_scripting",
    "is_tracing",
    "load",
    "save",
    "script",
    "trace",
    "trace_module",
    "unused",
    "wait",
]

_noted = [False]


def _note(api: str) -> None:
    if not _noted[0]:
        _noted[0] = True
        warnings.warn(f"torch.jit.{api}: ember runs eagerly, so the function or module is "
                      "returned unchanged", UserWarning, stacklevel=3)


def script(obj=None, optimize=None, _frames_up: int = 0, _rcb=None, example_inputs=None):
    """Return ``obj`` unchanged (ember has no TorchScript compiler)."""
    if obj is None:
        return lambda fn: script(fn)
    _note("script")
    return obj


def trace(func, example_inputs=None, optimize=None, check_trace: bool = True,
          check_inputs=None, check_tolerance: float = 1e-5, strict: bool = True, **kwargs):
    """Return ``func`` unchanged (ember records no graph to trace)."""
    _note("trace")
    return func


def trace_module(mod, inputs, *args, **kwargs):
    _note("trace_module")
    return mod


def ignore(drop=False, **kwargs):
    """A no-op decorator (also usable as ``@ignore(drop=True)``)."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn):
    return fn


def export(fn):
    return fn


def is_scripting() -> bool:
    return False


def is_tracing() -> bool:
    return False


def annotate(the_type, the_value):
    return the_value


def fork(func, *args, **kwargs):
    """Run ``func`` now; ``wait`` returns its result."""
    return func(*args, **kwargs)


def wait(future):
    return future


class Final:
    """``torch.jit.Final[int]`` in annotations."""

    def __class_getitem__(cls, item):
        return item


def save(m, f, _extra_files=None) -> None:
    raise NotImplementedError("torch.jit.save: ember has no TorchScript, so a scripted module "
                              "cannot be saved; save its state_dict with torch.save instead")


def load(f, map_location=None, _extra_files=None, _restore_shapes=False):
    raise NotImplementedError("torch.jit.load: ember cannot run TorchScript archives; load a "
                              "state_dict saved with torch.save into the model's Python class "
                              "instead")


class ScriptModule:
    """Stands in for isinstance checks: nothing is ever a ScriptModule in ember."""


class ScriptFunction:
    """Stands in for isinstance checks: nothing is ever a ScriptFunction in ember."""
