"""default_collate / default_convert: samples -> batches of tensors, with PyTorch's type rules."""
from __future__ import annotations

import collections.abc
import copy
import re

import numpy as np

from ... import _dtype
from ..._creation import _infer_array, tensor
from ..._ops.movement import stack
from ..._tensor import Tensor, _make
from ...autograd import grad_mode as _grad_mode

__all__ = ["collate", "default_collate", "default_collate_fn_map", "default_convert"]

np_str_obj_array_pattern = re.compile(r"[SaUO]")
_grad_state = _grad_mode._state

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, "
    "dicts or lists; found {}")



def default_convert(data):
    """NumPy arrays (also inside lists, tuples, dicts, namedtuples) -> tensors; the rest unchanged."""
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_", "bytes_"):
        if (elem_type.__name__ == "ndarray"
                and np_str_obj_array_pattern.search(data.dtype.str) is not None):
            return data
        return _make(_infer_array(np.asarray(data)), False, None, 0)
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update({key: default_convert(data[key]) for key in data})
                return clone
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # a list, as PyTorch (backwards compatibility)
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, d in enumerate(data):
                    clone[i] = default_convert(d)
                return clone
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def collate(batch, *, collate_fn_map: dict | None = None):
    """Collate a list of samples, dispatching on the type of the first one through ``collate_fn_map``."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update({key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                              for key in elem})
                return clone
            return elem_type({key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                              for key in elem})
        except TypeError:
            return {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                    for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(samples, collate_fn_map=collate_fn_map)
                           for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, samples in enumerate(transposed):
                    clone[i] = collate(samples, collate_fn_map=collate_fn_map)
                return clone
            return elem_type([collate(samples, collate_fn_map=collate_fn_map)
                              for samples in transposed])
        except TypeError:
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def _stack_arrays(arrays) -> np.ndarray:
    """np.stack with PyTorch's dtype promotion and its error for unequal sizes."""
    first = arrays[0]
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) > 1:
        dt = _dtype.NP_TO_DTYPE[first.dtype]
        for d in dtypes:
            dt = _dtype.promote_types(dt, _dtype.NP_TO_DTYPE[d])
        arrays = [a.astype(dt.np, copy=False) for a in arrays]
    shape = first.shape
    try:
        return np.stack(arrays)
    except ValueError:
        for i, a in enumerate(arrays):
            if a.shape != shape:
                raise RuntimeError(
                    f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                    f"and {list(a.shape)} at entry {i}") from None
        raise


def collate_tensor_fn(batch, *, collate_fn_map=None):
    if _grad_state[0] and any(t._requires_grad for t in batch):
        return stack(batch, 0)  # stacking inputs that require grad is recorded by autograd
    return _make(_stack_arrays([t._data for t in batch]), False, None, 0)


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    elem = batch[0]
    if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(elem.dtype))
    return _make(_stack_arrays([_infer_array(b) for b in batch]), False, None, 0)


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    return _make(_infer_array(np.asarray(batch)), False, None, 0)


def collate_float_fn(batch, *, collate_fn_map=None):
    return _make(np.array(batch, dtype=np.float64), False, None, 0)


def collate_int_fn(batch, *, collate_fn_map=None):
    return tensor(batch)  # int64 (bool for bools; floats mixed in give the default dtype)


def collate_str_fn(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map: dict = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch):
    """Stack samples into batched tensors (numbers -> int64/float64 tensors, strings kept as lists)."""
    return collate(batch, collate_fn_map=default_collate_fn_map)
