"""safetensors files for ember tensors: the API of ``safetensors.torch``, on its NumPy backend.

Needs the optional ``safetensors`` package (``pip install ember[safetensors]``). A safetensors
file is a JSON header plus raw little-endian bytes, so loading one never runs code. ember has no
bfloat16, so BF16 tensors (common in published models) load widened exactly to float32; other
dtypes ember has no tensor type for (complex, float8, unsigned beyond uint8) are a clear error.
Writes to a path are atomic, as ``ember.save``'s.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Any

import numpy as np

from .._device import check_device
from .._tensor import Tensor, _make
from ..serialization import UnpicklingError, _save_atomic

__all__ = ["save_file", "load_file", "save", "load", "save_model", "load_model"]


def _backend():
    try:
        import safetensors.numpy as st  # optional dependency: the safetensors extra
    except ImportError:
        raise ImportError("ember.utils.safetensors needs the safetensors package: "
                          "pip install 'ember[safetensors]' (or pip install safetensors)") from None
    return st


def _arrays(tensors: dict, what: str) -> dict[str, np.ndarray]:
    if not isinstance(tensors, dict):
        raise TypeError(f"{what} expects a dict of str to Tensor, got {type(tensors).__name__}")
    out = {}
    for k, v in tensors.items():
        if not isinstance(k, str):
            raise TypeError(f"{what}: keys must be str, got {k!r}")
        if not isinstance(v, Tensor):
            raise ValueError(f"Key `{k}` is invalid, expected torch.Tensor but received "
                             f"{type(v)}")
        out[k] = np.ascontiguousarray(v.detach().numpy())
    return out


def _tensors(arrays: dict) -> dict[str, Tensor]:
    out = {}
    for k, a in arrays.items():
        if a.dtype.kind == "c" or a.dtype not in _DTYPES:
            raise TypeError(f"tensor {k!r} has dtype {a.dtype}, which ember has no tensor for")
        if not a.flags.writeable:
            a = a.copy()
        out[k] = _make(a, False, None, 0)
    return out


_DTYPES = {np.dtype(d) for d in (np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64,
                                  np.float16, np.float32, np.float64)}


def save(tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """The bytes of a safetensors file holding ``tensors``."""
    return _backend().save(_arrays(tensors, "save"), metadata=metadata)


def save_file(tensors: dict[str, Tensor], filename: str | os.PathLike,
              metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` to a safetensors file (atomically, as ember.save writes)."""
    data = save(tensors, metadata=metadata)
    _save_atomic(os.fspath(filename), lambda fh: fh.write(data))


_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
              "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?", "BF16": "<u2"}


def _read_all(data, header_len: int, header: dict, where: str) -> dict[str, np.ndarray]:
    # the NumPy backend cannot express bfloat16, so a file holding BF16 is read here, from the
    # header's dtype, shape and offsets (each checked against the data)
    base, out = 8 + header_len, {}
    for k, info in header.items():
        if k == "__metadata__":
            continue
        code = _ST_DTYPES.get(info.get("dtype"))
        if code is None:
            raise UnpicklingError(f"{where}: tensor {k!r} has dtype {info.get('dtype')}, "
                                  "which ember has no tensor for")
        shape = tuple(int(s) for s in info["shape"])
        start, end = (int(x) for x in info["data_offsets"])
        dt = np.dtype(code)
        n = int(np.prod(shape, dtype=np.int64))
        if min(shape, default=0) < 0 or end - start != n * dt.itemsize or start < 0 or \
                base + end > len(data):
            raise UnpicklingError(f"{where}: tensor {k!r} has bad data offsets")
        arr = np.frombuffer(data, dt, n, base + start)
        if info["dtype"] == "BF16":  # the top half of a float32: widened exactly
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[k] = arr.astype(arr.dtype.newbyteorder("="), copy=True).reshape(shape)
    return out


def _load_bytes(data, where: str, path: str | None = None) -> dict[str, Tensor]:
    st = _backend()
    try:
        header_len = struct.unpack("<Q", bytes(data[:8]))[0]
        if header_len > len(data) - 8:
            raise ValueError("the header length runs past the end of the file")
        header = json.loads(bytes(data[8:8 + header_len]))
        has_bf16 = any(isinstance(v, dict) and v.get("dtype") == "BF16"
                       for v in header.values())
        if not has_bf16:
            arrays = st.load_file(path) if path is not None else st.load(bytes(data))
        else:
            arrays = _read_all(data, header_len, header, where)
        arrays = {k: arrays[k] for k in header if k != "__metadata__"}  # the file's order
        return _tensors(arrays)
    except UnpicklingError:
        raise
    except Exception as exc:  # SafetensorError, bad JSON, bad shapes, ...
        raise UnpicklingError(f"{where} is not a valid safetensors file "
                              f"({type(exc).__name__}: {exc})") from None


def load(data: bytes) -> dict[str, Tensor]:
    """The tensors of a safetensors file given as bytes."""
    return _load_bytes(data, "safetensors.load: the data")


def load_file(filename: str | os.PathLike, device: Any = "cpu") -> dict[str, Tensor]:
    """The tensors of a safetensors file, as a dict of name to ember tensor (on the CPU)."""
    check_device(device)
    name = os.fspath(filename)
    with open(name, "rb") as fh:
        head = fh.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        bf16 = 0 <= n <= 100_000_000 and b'"BF16"' in fh.read(n)
        if bf16:  # the NumPy backend cannot read these: take the raw bytes (one read)
            fh.seek(0)
            return _load_bytes(fh.read(), f"safetensors.load_file: {name!r}")
        fh.seek(0)
        head = fh.read(8 + n) if 0 <= n <= 100_000_000 else head
        return _load_bytes(head, f"safetensors.load_file: {name!r}", name)


def save_model(model, filename: str | os.PathLike, metadata: dict[str, str] | None = None,
               force_contiguous: bool = True) -> None:
    """Save ``model.state_dict()`` (tensors sharing memory are written once each, by name)."""
    save_file(dict(model.state_dict()), filename, metadata=metadata)


def load_model(model, filename: str | os.PathLike, strict: bool = True,
               device: Any = "cpu") -> tuple[list[str], list[str]]:
    """Load a safetensors file into ``model``; returns (missing, unexpected) keys."""
    state = load_file(filename, device=device)
    result = model.load_state_dict(state, strict=strict)
    return list(result.missing_keys), list(result.unexpected_keys)
