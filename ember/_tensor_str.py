"""Tensor printing, character for character PyTorch's (torch/_tensor_str.py's rules).

Only the elements that will be shown are ever formatted: a summarised tensor (more than
``threshold`` elements) is first cut down to its ``edgeitems`` corners with one fancy index,
and the common width comes from a handful of extreme values rather than from formatting
every element.
"""
from __future__ import annotations

import contextlib
import math
import sys

from . import _dtype
from ._backend import xp
from ._tensor import Tensor


class _PrintOptions:
    __slots__ = ("edgeitems", "linewidth", "precision", "sci_mode", "threshold")

    def __init__(self):
        self.precision = 4
        self.threshold = 1000
        self.edgeitems = 3
        self.linewidth = 80
        self.sci_mode = None


PRINT_OPTS = _PrintOptions()


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None) -> None:
    """Set printing options (PyTorch's names and profiles 'default', 'short', 'full')."""
    if profile is not None:
        if profile == "default":
            PRINT_OPTS.precision, PRINT_OPTS.threshold = 4, 1000
            PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 3, 80
        elif profile == "short":
            PRINT_OPTS.precision, PRINT_OPTS.threshold = 2, 1000
            PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 2, 80
        elif profile == "full":
            PRINT_OPTS.precision, PRINT_OPTS.threshold = 4, math.inf
            PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 3, 80
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode  # as in PyTorch: every call resets it unless given


def get_printoptions() -> dict:
    """The current options, as keyword arguments for set_printoptions()."""
    return {name: getattr(PRINT_OPTS, name) for name in _PrintOptions.__slots__}


@contextlib.contextmanager
def printoptions(**kwargs):
    """Temporarily change the print options."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


# ---- element formatting ---------------------------------------------------------------------
class _Formatter:
    """The common format of a tensor's elements (PyTorch's _Formatter, vectorised)."""

    __slots__ = ("floating", "int_mode", "sci_mode", "width")

    def __init__(self, data: xp.ndarray):
        self.floating = data.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        flat = data.reshape(-1)
        if flat.size == 0:
            return
        if not self.floating:
            if flat.dtype == xp.bool_:
                self.width = 5 if not flat.all() else 4
            else:
                lo, hi = flat.min(), flat.max()
                self.width = max(1, len(str(int(lo))), len(str(int(hi))))
            return
        vals = flat[xp.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            return
        vals64 = vals.astype(xp.float64)
        absv = xp.abs(vals64)
        amin, amax = absv.min(), absv.max()
        self.int_mode = bool((vals == xp.ceil(vals)).all())
        opt = PRINT_OPTS.sci_mode
        self.sci_mode = (bool(amax / amin > 1000.0 or amax > 1.0e8 or amin < 1.0e-4)
                         if opt is None else opt)
        # Formatted length grows with |value| (and the sign): the widest element is among the
        # largest and smallest magnitudes of each sign (small ones for 3-digit exponents).
        pos, neg = vals64[vals64 > 0], vals64[vals64 < 0]
        candidates = []
        if pos.size:
            candidates += [pos.max(), pos.min()]
        if neg.size:
            candidates += [neg.min(), neg.max()]
        p = PRINT_OPTS.precision
        if self.sci_mode:
            widths = [len(f"{v:.{p}e}") for v in candidates]
        elif self.int_mode:
            widths = [len(f"{v:.0f}") + 1 for v in candidates]
        else:
            widths = [len(f"{v:.{p}f}") for v in candidates]
        self.width = max(1, *widths)

    def strings(self, values: list) -> list:
        """Format Python scalars, each padded on the left to the common width."""
        w = self.width
        if not self.floating:
            return [f"{v}".rjust(w) for v in values]
        p = PRINT_OPTS.precision
        if self.sci_mode:
            spec = f"{w}.{p}e"
            return [format(v, spec).rjust(w) for v in values]
        if self.int_mode:
            return [(f"{v:.0f}" + ("." if math.isfinite(v) else "")).rjust(w) for v in values]
        spec = f".{p}f"
        return [format(v, spec).rjust(w) for v in values]


# ---- layout ---------------------------------------------------------------------------------
def _shown(arr: xp.ndarray, summarize: bool):
    """The elements that will be printed, and per dim whether "..." splits it."""
    e = PRINT_OPTS.edgeitems
    cut = [summarize and n > 2 * e for n in arr.shape]
    if not any(cut):
        return arr, cut
    index = tuple(xp.r_[0:e, n - e:n] if c else slice(None) for n, c in zip(arr.shape, cut))
    if sum(isinstance(i, xp.ndarray) for i in index) > 1:
        index = xp.ix_(*[i if isinstance(i, xp.ndarray) else xp.arange(n)
                         for i, n in zip(index, arr.shape)])
    return arr[index], cut


def _vector(strs: list, indent: int, width: int, cut: bool) -> str:
    per_line = max(1, math.floor((PRINT_OPTS.linewidth - indent) / (width + 2)))
    e = PRINT_OPTS.edgeitems
    if cut:
        data = strs[:e] + [" ..."] + strs[e:]
    else:
        data = strs
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(strs: xp.ndarray, indent: int, width: int, cut: list) -> str:
    """strs: an object array of formatted elements in the shown shape."""
    if strs.ndim == 1:
        return _vector(strs.tolist(), indent, width, cut[0])
    e = PRINT_OPTS.edgeitems
    rows = [_nested(strs[i], indent + 1, width, cut[1:]) for i in range(strs.shape[0])]
    if cut[0]:
        rows = rows[:e] + ["..."] + rows[e:]
    return "[" + ("," + "\n" * (strs.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def _tensor_str(arr: xp.ndarray, indent: int) -> str:
    if arr.size == 0:
        return "[]"
    summarize = arr.size > PRINT_OPTS.threshold
    if summarize and not PRINT_OPTS.edgeitems and arr.ndim:
        return "[...]"
    shown, cut = _shown(arr, summarize)
    fmt = _Formatter(shown)
    if arr.ndim == 0:
        return fmt.strings([arr.item()])[0]
    strs = fmt.strings(shown.reshape(-1).tolist())
    if shown.ndim == 1:
        return _vector(strs, indent, fmt.width, cut[0])
    obj = xp.empty(len(strs), object)
    obj[:] = strs
    return _nested(obj.reshape(shown.shape), indent, fmt.width, cut)


def _add_suffixes(tensor_str: str, suffixes: list, indent: int) -> str:
    parts = [tensor_str]
    # PyTorch's own arithmetic (it over-counts by 2 on a single line); kept for identical wraps
    last_line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def _parameter_class():
    mod = sys.modules.get("ember.nn.parameter")
    return getattr(mod, "Parameter", None) if mod is not None else None


def _str(self, tensor_contents=None) -> str:
    """repr(tensor): PyTorch's text, with ember's module prefix in dtypes."""
    cls = type(self)
    param = _parameter_class()
    plain = cls is Tensor or (param is not None and cls is param)
    prefix = "tensor(" if plain else f"{cls.__name__}("
    indent = len(prefix)
    arr = self._data
    suffixes = []
    dt = _dtype.NP_TO_DTYPE[arr.dtype]
    default = _dtype.get_default_dtype()
    if arr.size == 0:
        if arr.ndim != 1:
            suffixes.append("size=" + str(tuple(arr.shape)))
        if dt is not default:
            suffixes.append("dtype=" + str(dt))
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append("size=" + str(tuple(arr.shape)))
        if dt not in (default, _dtype.int64, _dtype.bool_):
            suffixes.append("dtype=" + str(dt))
        body = None
    if tensor_contents is not None:
        body = tensor_contents
    elif body is None:
        body = _tensor_str(arr, indent)
    fn = self._grad_fn
    if fn is not None:
        suffixes.append(f"grad_fn=<{fn.name()}>")
    elif self._requires_grad:
        suffixes.append("requires_grad=True")
    text = _add_suffixes(prefix + body, suffixes, indent)
    if param is not None and isinstance(self, param) and not plain:
        text = f"Parameter({text})"
    return text
