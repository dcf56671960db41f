"""PyTorch's type promotion for an op's operands, applied once, before its forward.

``Function.apply`` calls ``promote`` for the ops that declare ``_promote`` (the binary
arithmetic, clamp, where): their forwards then see operands of one dtype, and PyTorch's rules,
which differ from NumPy's for mixed kinds and 0-dim tensors, live here only.
"""
from __future__ import annotations

from . import _dtype
from ._backend import xp

_ndarray = xp.ndarray
_asarray = xp.asarray


def promote(kind, first, args, raw):
    """The raw operands from index ``first`` on, cast to the result dtype of ``args`` (kind
    "float": a floating one). A recorded node's edges keep the inputs' own dtypes, so the
    engine casts each grad back."""
    if len(raw) == 2:  # the usual case, first: two arrays of one dtype, or a float array and a number
        a, b = raw
        if a.__class__ is _ndarray:
            if b.__class__ is _ndarray:
                if a.dtype is b.dtype and (a.dtype.kind == "f" or kind == "same"):
                    return raw
            elif (b.__class__ is float or b.__class__ is int) and a.dtype.kind == "f":
                return raw
        elif (a.__class__ is float or a.__class__ is int) and b.__class__ is _ndarray and (
                b.dtype.kind == "f"):
            return raw
    dt, simple, numbers = None, True, False
    for r in raw[first:]:
        if r.__class__ is _ndarray:
            if dt is None:
                dt = r.dtype
            elif r.dtype is not dt:
                simple = False
        elif r.__class__ is float or r.__class__ is int:
            numbers = True
        elif r is not None:
            simple = False
    if simple and dt is not None and (dt.kind == "f" or (not numbers and kind == "same")):
        return raw  # one dtype already (the usual case)
    operands = [a for a in args[first:] if a is not None]
    res = _dtype.result_type(*operands)
    if kind == "float" and not res.is_floating_point:
        res = _dtype.get_default_dtype()
    np_dt = res.np
    out = raw[:first]
    for r in raw[first:]:
        if r.__class__ is _ndarray:
            r = r if r.dtype == np_dt else r.astype(np_dt)
        elif dt is None and r is not None:  # numbers only: the first becomes an array
            r, dt = _asarray(r, dtype=np_dt), np_dt
        elif r.__class__ is int and np_dt.kind in "iu" and not (
                xp.iinfo(np_dt).min <= r <= xp.iinfo(np_dt).max):
            r = _asarray(r).astype(np_dt)  # wraps around, as PyTorch's integers do
        out.append(r)
    return out
