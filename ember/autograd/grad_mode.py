"""Switches for graph recording: no_grad, enable_grad, set_grad_enabled, inference_mode."""
from __future__ import annotations

import functools
import inspect

# One mutable cell read on every op; a list is the cheapest global to read and write.
_state = [True]


def is_grad_enabled() -> bool:
    return _state[0]


def is_inference_mode_enabled() -> bool:
    return _inference[0]


_inference = [False]


class _GradMode:
    """Base for the context managers that are also decorators (as in PyTorch)."""

    _mode = True

    def __init__(self):
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
                            gen.close()
                            raise
                        except BaseException as exc:  # forward throw() into the generator
                            with self.clone():
                                request = gen.throw(exc)
                        else:
                            with self.clone():
                                request = gen.send(response)
                except StopIteration as stop:
                    return stop.value

            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)

        return wrapper

    def clone(self):
        return self.__class__()


class no_grad(_GradMode):
    """Ops inside record no graph: results have requires_grad=False."""

    _mode = False


class enable_grad(_GradMode):
    """Re-enables recording inside a no_grad block."""

    _mode = True


class set_grad_enabled(_GradMode):
    """Sets recording on or off; works as a function call, a context manager or a decorator."""

    def __init__(self, mode: bool):
        self._prev = [_state[0]]
        self._mode = bool(mode)
        _state[0] = self._mode

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _state[0] = self._prev.pop() if self._prev else True
        return False

    def clone(self):
        return self.__class__(self._mode)


class inference_mode(_GradMode):
    """Like no_grad (ember has no separate inference tensors); inference_mode(False) is a no-op."""

    def __init__(self, mode: bool = True):
        self._prev = []
        self._inf_prev = []
        self._enabled = bool(mode)

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
