"""Switches for graph recording: no_grad, enable_grad, set_grad_enabled, inference_mode.

Each is a context manager and a decorator (of functions and generator functions), as in
PyTorch. The mode is process-wide, not per thread as in PyTorch: every op reads it, and a
one-element list is the cheapest global to read and write.
"""
from __future__ import annotations

import functools
import inspect

__all__ = ["enable_grad", "inference_mode", "is_grad_enabled", "is_inference_mode_enabled",
           "no_grad", "set_grad_enabled", "set_multithreading_enabled"]

_state = [True]
_inference = [False]


def is_grad_enabled() -> bool:
    """Whether operations are recorded for autograd."""
    return _state[0]


def is_inference_mode_enabled() -> bool:
    """Whether an inference_mode block is active."""
    return _inference[0]


class _GradMode:
    """Base for the context managers that are also decorators."""

    _mode = True

    def __new__(cls, orig_func=None):
        # @no_grad (without parentheses) decorates directly, as PyTorch allows
        self = super().__new__(cls)
        if orig_func is None:
            return self
        if not callable(orig_func):
            raise TypeError(f"{cls.__name__}() takes no arguments")
        self.__init__()
        return self(orig_func)

    def __init__(self, orig_func=None):
        self._prev = []

    def __enter__(self):
        self._prev.append(_state[0])
        _state[0] = self._mode

    def __exit__(self, *exc):
        _state[0] = self._prev.pop()
        return False

    def __call__(self, fn):
        if inspect.isclass(fn):
            raise TypeError(f"{type(self).__name__} can only decorate functions, not classes")
        if inspect.isgeneratorfunction(fn):
            return self._wrap_generator(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)

        return wrapper

    def _wrap_generator(self, fn):
        # The mode applies while the generator's own code runs, not while its caller's does.
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            gen = fn(*args, **kwargs)
            try:
                with self.clone():
                    request = gen.send(None)
                while True:
                    try:
                        response = yield request
                    except GeneratorExit:
                        with self.clone():
                            gen.close()
                        raise
                    except BaseException as exc:  # noqa: BLE001 - throw() goes to the generator
                        with self.clone():
                            request = gen.throw(exc)
                    else:
                        with self.clone():
                            request = gen.send(response)
            except StopIteration as stop:
                return stop.value

        return gen_wrapper

    def clone(self):
        return self.__class__()


class no_grad(_GradMode):
    """Operations inside record no graph: results have requires_grad=False."""

    _mode = False


class enable_grad(_GradMode):
    """Re-enables recording inside a no_grad block."""

    _mode = True


class set_grad_enabled(_GradMode):
    """Sets recording on or off: a function call, a context manager or a decorator."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode: bool):
        self._prev = [_state[0]]
        self._mode = bool(mode)
        _state[0] = self._mode  # takes effect at once, so it works as a plain call

    def __call__(self, fn):
        _state[0] = self._prev[0]  # used as a decorator: undo the immediate effect
        return super().__call__(fn)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _state[0] = self._prev.pop() if self._prev else True
        return False

    def clone(self):
        return self.__class__(self._mode)

    def __repr__(self):
        return f"{__package__}.autograd.grad_mode.{type(self).__name__}(mode={self._mode})"


class inference_mode(_GradMode):
    """Like no_grad (ember has no separate inference tensors); inference_mode(False) is a no-op."""

    def __new__(cls, mode=True):
        self = object.__new__(cls)
        if isinstance(mode, bool):
            return self
        self.__init__(True)
        return self(mode)  # @inference_mode without parentheses

    def __init__(self, mode: bool = True):
        self._prev = []
        self._inf_prev = []
        self._enabled = bool(mode) if isinstance(mode, bool) else True

    def __enter__(self):
        self._prev.append(_state[0])
        self._inf_prev.append(_inference[0])
        if self._enabled:
            _state[0] = False
            _inference[0] = True

    def __exit__(self, *exc):
        _state[0] = self._prev.pop()
        _inference[0] = self._inf_prev.pop()
        return False

    def clone(self):
        return self.__class__(self._enabled)


class set_multithreading_enabled:
    """Accepted for compatibility: ember's engine is single-threaded."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        return False
