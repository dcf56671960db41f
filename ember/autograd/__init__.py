"""ember.autograd: backward, grad, Function, gradcheck, anomaly detection, grad modes."""
from __future__ import annotations

from .grad_mode import (  # noqa: F401  (no imports of Tensor here: _tensor imports this package)
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)

_LAZY = {
    "Function": ("function", "Function"),
    "FunctionCtx": ("function", "FunctionCtx"),
    "once_differentiable": ("function", "once_differentiable"),
    "gradcheck": ("gradcheck", "gradcheck"),
    "gradgradcheck": ("gradcheck", "gradgradcheck"),
    "detect_anomaly": ("anomaly", "detect_anomaly"),
    "set_detect_anomaly": ("anomaly", "set_detect_anomaly"),
    "is_anomaly_enabled": ("anomaly", "is_anomaly_enabled"),
    "graph": ("graph", None),
    "functional": ("functional", None),
}


def __getattr__(name):
    # Imported on first use: function.py needs Tensor, and _tensor.py imports grad_mode from here.
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        m = importlib.import_module(f"{__name__}.{mod}")
        value = m if attr is None else getattr(m, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _tensors(x):
    from .._tensor import Tensor

    if x is None:
        return None
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _make_grads(outputs, grad_outputs, create_graph):
    """The seed gradient of each output: ones for scalars, else the one the caller gave."""
    import numpy as np

    from .._tensor import Tensor, _make

    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if out._requires_grad and out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if out._data.dtype.kind != "f":
                raise RuntimeError(
                    f"grad can be implicitly created only for real scalar outputs but got {out.dtype}")
            data = np.ones(out._data.shape, out._data.dtype)
            grads.append(_make(data, False, None, 0) if create_graph else data)
            continue
        if not isinstance(g, Tensor):
            g = _make(np.asarray(g, dtype=out._data.dtype), False, None, 0)
        if g._data.shape != out._data.shape:
            from .._device import Size

            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {Size(g._data.shape)} and "
                f"output[{i}] has a shape of {Size(out._data.shape)}.")
        grads.append(g if create_graph else g._data)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             grad_variables=None, inputs=None):
    """Accumulate into the leaves' ``.grad`` the gradients of ``tensors``."""
    from .engine import run_backward

    tensors = _tensors(tensors)
    grad_tensors = _tensors(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(
            f"grad can be implicitly created only for scalar outputs: got {len(tensors)} tensors "
            f"and {len(grad_tensors)} gradients")
    for i, t in enumerate(tensors):
        if not t._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn")
    if retain_graph is None:
        retain_graph = create_graph
    inputs = _tensors(inputs)
    if inputs is not None and len(inputs) == 0:
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    grads = _make_grads(tensors, grad_tensors, create_graph)
    run_backward(tensors, grads, retain_graph, create_graph, inputs=inputs, accumulate=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Return the gradients of ``outputs`` with respect to ``inputs`` (no .grad is touched)."""
    from .engine import run_backward

    single_input = not isinstance(inputs, (list, tuple))
    outputs = _tensors(outputs)
    inputs = _tensors(inputs)
    grad_outputs = (_tensors(grad_outputs) if grad_outputs is not None
                    else [None] * len(outputs))
    if allow_unused is None:
        allow_unused = materialize_grads
    for i, t in enumerate(inputs):
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    for i, t in enumerate(outputs):
        if not t._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn")
    if retain_graph is None:
        retain_graph = create_graph
    grads = _make_grads(outputs, grad_outputs, create_graph)
    result = run_backward(outputs, grads, retain_graph, create_graph, inputs=inputs,
                          allow_unused=allow_unused, accumulate=False)
    if materialize_grads:
        from .. import zeros_like

        result = [zeros_like(i) if g is None else g for g, i in zip(result, inputs)]
    return tuple(result)


__all__ = ["backward", "grad", "Function", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "gradcheck", "gradgradcheck", "detect_anomaly",
           "set_detect_anomaly"]
