"""Gradient clipping: clip_grad_norm_ and clip_grad_value_ (in place on the .grad tensors)."""
from __future__ import annotations

import types
import warnings

from ..._backend import xp
from ..._ops.reduce import _norm2_lastdim_f32
from ..._tensor import Tensor, _make

__all__ = [
    "clip_grad_norm",
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
]


def _as_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _norm(a, p):
    if p == xp.inf:
        return xp.max(xp.abs(a)) if a.size else xp.zeros((), a.dtype)
    if p == -xp.inf:
        return xp.min(xp.abs(a)) if a.size else xp.full((), xp.inf, a.dtype)
    if p == 2:
        if a.dtype == xp.float32 and a.size:  # PyTorch's summation order, bit for bit
            return _norm2_lastdim_f32(xp.ascontiguousarray(a), None, False)
        flat = a.reshape(-1)
        return xp.sqrt(xp.dot(flat, flat))
    if p == 0:
        return xp.asarray(xp.count_nonzero(a), a.dtype)
    return xp.sum(xp.abs(a) ** p) ** (1.0 / p)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The norm of the norms of ``tensors`` (as if they were one concatenated vector)."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return _make(xp.asarray(0.0, xp.float32), False, None, 0)
    arrays = [t._data for t in tensors]
    dt = xp.result_type(*arrays)
    norms = xp.array([_norm(a, norm_type) for a in arrays], dt)
    total = xp.asarray(_norm(norms, norm_type), dt)
    if error_if_nonfinite and not xp.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`")
    return _make(total, False, None, 0)


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scale the gradients by min(1, max_norm / (total_norm + 1e-6)) in place."""
    grads = [p._grad for p in _as_list(parameters) if p._grad is not None]
    if not grads:
        return
    coef = min(float(max_norm) / (float(total_norm) + 1e-6), 1.0)
    with xp.errstate(invalid="ignore"):  # inf * 0 = nan, as in PyTorch
        for g in grads:
            g._data *= xp.asarray(coef, g._data.dtype)
            g._bump()


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Rescale gradients so that their total norm is at most max_norm; returns the total norm."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                          stacklevel=2)
    grads = [p._grad for p in parameters if p._grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Deprecated alias of clip_grad_norm_."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        g = p._grad
        if g is not None:
            xp.clip(g._data, -clip_value, clip_value, out=g._data)
            g._bump()
