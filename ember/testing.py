"""ember.testing: ``assert_close`` and ``make_tensor`` as in torch.testing."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from . import _dtype, _random
from ._device import Size
from ._tensor import Tensor

__all__ = ["assert_close", "make_tensor"]

# PyTorch's default (rtol, atol) per dtype; every other dtype compares exactly
_TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7)}


class _Mismatch(Exception):
    """An AssertionError's text with the path of the item where it was found."""

    def __init__(self, message, path=()):
        super().__init__(message)
        self.message, self.path = message, path


def _tolerances(dtypes, rtol, atol):
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'rtol' if rtol is None else 'atol'}.")
    if rtol is not None:
        return rtol, atol
    pairs = [_TOLERANCES.get(str(d).split(".")[-1], (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _close_mask(a, b, rtol, atol, equal_nan):
    """PyTorch's isclose: |a - b| <= atol + rtol * |b|, infinities equal only to themselves."""
    if a.dtype.kind not in "fc":
        return a == b
    with np.errstate(invalid="ignore", over="ignore"):
        ok = (a == b) | (np.abs(a - b) <= atol + rtol * np.abs(b))
    if equal_nan:
        ok |= np.isnan(a) & np.isnan(b)
    return ok


def _scalar_text(actual, expected, rtol, atol, exact):
    abs_diff = abs(actual - expected)
    rel_diff = abs_diff / abs(expected) if expected != 0 else (math.inf if abs_diff else 0.0)
    kind = "equal" if exact else "close"
    lines = [f"Scalars are not {kind}!", "", f"Expected {expected} but got {actual}.",
             f"Absolute difference: {abs_diff}" + ("" if exact else f" (up to {atol} allowed)"),
             f"Relative difference: {rel_diff}" + ("" if exact else f" (up to {rtol} allowed)")]
    return "\n".join(lines)


def _compare_arrays(a, b, rtol, atol, equal_nan, scalar):
    ok = _close_mask(a, b, rtol, atol, equal_nan)
    if ok.all():
        return
    exact = rtol == 0 and atol == 0
    if scalar:
        raise _Mismatch(_scalar_text(a.item(), b.item(), rtol, atol, exact))
    if a.dtype.kind in "fc":
        abs_diff = np.abs(a - b)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_diff = abs_diff / np.abs(b)
    else:  # integers and bools: differences in int64, ratios in float32 as PyTorch prints them
        abs_diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_diff = abs_diff.astype(np.float32) / np.abs(b.astype(np.float32))
    abs_diff = np.where(ok, 0, abs_diff)
    rel_diff = np.where(ok, 0, rel_diff)
    n, total = int((~ok).sum()), ok.size

    def worst(d):
        flat = d.reshape(-1)
        nan = np.isnan(flat) if flat.dtype.kind == "f" else np.zeros(flat.shape, bool)
        i = int(np.argmax(nan)) if nan.any() else int(np.argmax(flat))
        return flat[i].item(), tuple(int(k) for k in np.unravel_index(i, d.shape))

    (ad, ai), (rd, ri) = worst(abs_diff), worst(rel_diff)
    kind = "equal" if exact else "close"
    lines = [f"Tensor-likes are not {kind}!", "", f"Mismatched elements: {n} / {total} ({n / total:.1%})",
             f"Greatest absolute difference: {ad} at index {ai}"
             + ("" if exact else f" (up to {atol} allowed)"),
             f"Greatest relative difference: {float(rd)} at index {ri}"
             + ("" if exact else f" (up to {rtol} allowed)")]
    raise _Mismatch("\n".join(lines))


def _attribute_error(name, a, b):
    return _Mismatch(f"The values for attribute '{name}' do not match: {a} != {b}.")


def _compare(actual, expected, rtol, atol, equal_nan, check_dtype):
    tensor_like = (Tensor, np.ndarray)
    if isinstance(actual, tensor_like) or isinstance(expected, tensor_like):
        if type(actual) is not type(expected):
            raise TypeError(f"No comparison pair was able to handle inputs of type "
                            f"{type(actual)} and {type(expected)}.")
        if isinstance(actual, Tensor):
            a, b = actual.detach()._data, expected.detach()._data
            da, db = actual.dtype, expected.dtype
            shape_a, shape_b = actual.shape, expected.shape
        else:
            a, b = actual, expected
            da, db = (_dtype.from_numpy_dtype(x.dtype) for x in (a, b))
            shape_a, shape_b = _dtype_shape(a), _dtype_shape(b)
        if a.shape != b.shape:
            raise _attribute_error("shape", shape_a, shape_b)
        if check_dtype and da != db:
            raise _attribute_error("dtype", da, db)
        rt, at = _tolerances((da, db), rtol, atol)
        if a.dtype != b.dtype:
            common = np.promote_types(a.dtype, b.dtype)
            a, b = a.astype(common), b.astype(common)
        _compare_arrays(a, b, rt, at, equal_nan, scalar=a.ndim == 0)
        return
    if isinstance(actual, (bool, int, float)) and isinstance(expected, (bool, int, float)):
        if check_dtype and type(actual) is not type(expected):
            raise _attribute_error("type", type(actual), type(expected))
        floating = isinstance(actual, float) or isinstance(expected, float)
        rt, at = _tolerances(("float64",) if floating else ("int64",), rtol, atol)
        _compare_arrays(np.asarray(actual), np.asarray(expected), rt, at, equal_nan, scalar=True)
        return
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            raise _Mismatch(f"The keys of the mappings do not match:\n"
                            f"Missing keys in the actual mapping: {sorted(set(expected) - set(actual))}\n"
                            f"Additional keys in the actual mapping: "
                            f"{sorted(set(actual) - set(expected))}")
        for k in expected:
            _item(k, actual[k], expected[k], rtol, atol, equal_nan, check_dtype)
        return
    if (isinstance(actual, Sequence) and isinstance(expected, Sequence)
            and not isinstance(actual, str) and not isinstance(expected, str)):
        if len(actual) != len(expected):
            raise _Mismatch(f"The length of the sequences mismatch: {len(actual)} != "
                            f"{len(expected)}")
        for i, (x, y) in enumerate(zip(actual, expected)):
            _item(i, x, y, rtol, atol, equal_nan, check_dtype)
        return
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and "
                    f"{type(expected)}.")


def _dtype_shape(a):
    return Size(a.shape)


def _item(key, actual, expected, *args):
    try:
        _compare(actual, expected, *args)
    except _Mismatch as exc:
        exc.path = (key,) + exc.path
        raise


def assert_close(actual, expected, *, allow_subclasses: bool = True, rtol=None, atol=None,
                 equal_nan: bool = False, check_device: bool = True, check_dtype: bool = True,
                 check_layout: bool = True, check_stride: bool = False, msg=None) -> None:
    """Raise AssertionError, with PyTorch's message, unless ``actual`` is close to ``expected``."""
    try:
        _compare(actual, expected, rtol, atol, equal_nan, check_dtype)
    except _Mismatch as exc:
        text = exc.message
        if exc.path:
            text += "\n\nThe failure occurred for item " + "".join(f"[{p!r}]" for p in exc.path)
        if msg is not None:
            text = msg(text) if callable(msg) else msg
        raise AssertionError(text) from None


def make_tensor(*shape, dtype, device=None, low=None, high=None, requires_grad: bool = False,
                noncontiguous: bool = False, exclude_zero: bool = False, memory_format=None):
    """A tensor of random values in [low, high): floats in [-9, 9), integers in [-9, 10)."""
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    dt = _dtype.to_dtype(dtype)
    if dt is _dtype.bool_:
        out = _random.randint(0, 2, shape).to(dt)
    elif dt.is_floating_point:
        lo = -9.0 if low is None else float(low)
        hi = 9.0 if high is None else float(high)
        out = _random.rand(*shape, dtype=dt) * (hi - lo) + lo
    else:
        lo = (0 if dt is _dtype.uint8 else -9) if low is None else math.ceil(low)
        hi = 10 if high is None else math.ceil(high)
        out = _random.randint(lo, hi, shape, dtype=dt)
    if exclude_zero:
        one = 1 if not dt.is_floating_point else _dtype.finfo(dt).tiny
        out = out.masked_fill(out == 0, one)
    return out.requires_grad_(requires_grad) if requires_grad else out
