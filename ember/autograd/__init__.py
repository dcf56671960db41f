"""ember.autograd: the engine (backward, grad), Function, and the grad modes.

The tools built on them (gradcheck, the functional API, anomaly detection, the profiler,
Variable) live in ``ember/_autograd_tools`` and keep PyTorch's names here.
"""
from __future__ import annotations

import importlib
import sys
import warnings

from .. import _grad_mode as grad_mode
from .._backend import xp
from .._device import Size
from .._grad_mode import *  # noqa: F403  (no_grad, enable_grad, set_grad_enabled...)
from .._tensor import Tensor, _make
from . import engine, function  # noqa: F401
from .engine import run_backward
from .function import Function  # noqa: F401


def _tensors(x):
    if x is None:
        return None
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _make_grads(outputs, grad_outputs, create_graph):
    """The seed gradient of each output: ones for scalars, else the one the caller gave."""
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    grads = []
    for i, (out, g) in enumerate(zip(outputs, _tensors(grad_outputs))):
        if not out._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn")
        od = out._data
        if g is None:
            if od.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if od.dtype.kind != "f":
                raise RuntimeError("grad can be implicitly created only for real scalar outputs "
                                   f"but got {out.dtype}")
            data = xp.ones(od.shape, od.dtype)
            grads.append(_make(data, False, None, 0) if create_graph else data)
            continue
        if not isinstance(g, Tensor):
            g = _make(xp.asarray(g, dtype=od.dtype), False, None, 0)
        if g._data.shape != od.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {Size(g._data.shape)} and "
                f"output[{i}] has a shape of {Size(od.shape)}.")
        if create_graph:
            grads.append(g if g._data.dtype == od.dtype else g.to(out.dtype))
        else:
            gd = g._data
            grads.append(gd if gd.dtype == od.dtype else gd.astype(od.dtype))
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             grad_variables=None, inputs=None):
    """Accumulate into the leaves' ``.grad`` the gradients of ``tensors``."""
    if grad_variables is not None:
        grad_tensors = grad_variables
    tensors = _tensors(tensors)
    if grad_tensors is not None and len(_tensors(grad_tensors)) != len(tensors):
        raise RuntimeError(f"got {len(_tensors(grad_tensors))} tensors and {len(tensors)} "
                           "gradients")
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph:
        warnings.warn(
            "Using backward() with create_graph=True will create a reference cycle between the "
            "parameter and its gradient which can cause a memory leak. We recommend using "
            "autograd.grad when creating the graph to avoid this. If you have to use this "
            "function, make sure to reset the .grad fields of your parameters to None after use "
            "to break the cycle and avoid the leak.", UserWarning, stacklevel=3)
    inputs = _tensors(inputs)
    if inputs is not None and len(inputs) == 0:
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    grads = _make_grads(tensors, grad_tensors, create_graph)
    run_backward(tensors, grads, retain_graph, create_graph, inputs=inputs)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Return the gradients of ``outputs`` with respect to ``inputs`` (no .grad is touched)."""
    if is_grads_batched:
        raise NotImplementedError("ember.autograd.grad does not support is_grads_batched=True")
    outputs = _tensors(outputs)
    inputs = _tensors(inputs)
    if grad_outputs is not None and len(_tensors(grad_outputs)) != len(outputs):
        raise RuntimeError(f"grad requires one grad_output per output (got "
                           f"{len(_tensors(grad_outputs))} grad_outputs and {len(outputs)} outputs)")
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    if retain_graph is None:
        retain_graph = create_graph
    grads = _make_grads(outputs, grad_outputs, create_graph)
    for t in inputs:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    result = run_backward(outputs, grads, retain_graph, create_graph, inputs=inputs,
                          accumulate=False)
    for i, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"The differentiated Tensor at index {i} appears to not have been used in the "
                "graph. Set allow_unused=True if this is the desired behavior.")
    if materialize_grads:
        result = [_make(xp.zeros_like(t._data), False, None, 0) if g is None else g
                  for g, t in zip(result, inputs)]
    return tuple(result)


_ONES: dict = {}  # (dtype, shape) -> the read-only seed of loss.backward()


def _backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate into the leaves' ``.grad`` the gradient of this tensor."""
    d = self._data
    if (gradient is None and inputs is None and not create_graph and d.size == 1
            and self._grad_fn is not None and d.dtype.kind == "f"):
        # loss.backward(): the seed is a cached read-only one (the engine never writes it)
        g0 = _ONES.get((d.dtype, d.shape))
        if g0 is None:
            g0 = _ONES[d.dtype, d.shape] = xp.ones(d.shape, d.dtype)
            g0.flags.writeable = False
        run_backward((self,), (g0,), bool(retain_graph))
        return
    backward(self, gradient, retain_graph, create_graph, inputs=inputs)


Tensor.backward = _backward  # the engine sits above Tensor: autograd gives it backward()

# The tools, last (they use backward and grad), under PyTorch's module names. functional and
# profiler load on first use (ember/autograd/functional.py, profiler.py): they would slow
# `import ember` down.
from .._autograd_tools import anomaly, gradcheck, graph, variable  # noqa: E402,F401
from .._autograd_tools.anomaly import (  # noqa: E402,F401
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from .._autograd_tools.custom_function import FunctionCtx, once_differentiable  # noqa: E402,F401
from .._autograd_tools.gradcheck import GradcheckError, gradgradcheck  # noqa: E402,F401
from .._autograd_tools.variable import Variable  # noqa: E402,F401

for _name, _module in (("grad_mode", grad_mode), ("anomaly", anomaly), ("anomaly_mode", anomaly),
                       ("gradcheck", gradcheck), ("variable", variable)):
    sys.modules[f"{__name__}.{_name}"] = _module
gradcheck = gradcheck.gradcheck  # noqa: F811  (as in PyTorch: the function, not the module)


def __getattr__(name):  # ember.autograd.functional / .profiler without importing them first
    if name in ("functional", "profiler"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Function", "backward", "detect_anomaly", "grad", "gradcheck", "gradgradcheck",
           "set_detect_anomaly", *grad_mode.__all__]
