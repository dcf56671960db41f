"""ONNX nodes for each module and op the exporter supports, given the values it saw at run time.

Every emitter receives the graph, the result ember computed, and the call's own arguments; it
appends nodes and binds the result to the ONNX value that holds it.
"""
from __future__ import annotations

import math

import numpy as np

from .. import nn
from .._tensor import Tensor
from .errors import UnsupportedOperatorError


def _np_dtype(x):
    return x.detach().numpy().dtype


def _norm_dim(d, n):
    if not -max(n, 1) <= d < max(n, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {d})")
    return d + n if d < 0 else d


def bsym(*syms):
    """Dim markers of a broadcast result: a varying size wins over a fixed one."""
    n = max((len(s) for s in syms), default=0)
    out = []
    for i in range(n):
        marks = [s[len(s) - n + i] for s in syms if len(s) - n + i >= 0]
        out.append(next((m for m in marks if m is not None), None))
    return tuple(out)


def _unsupported(what, why=""):
    raise UnsupportedOperatorError(f"ember.onnx.export does not support {what}" +
                                   (f": {why}" if why else ""))


# ---- elementwise ---------------------------------------------------------------------------

def _operand(g, x, dtype):
    if isinstance(x, Tensor):
        return g.cast(g.value(x), _np_dtype(x), dtype)
    return g.value(x, dtype)


def binary(op, reverse=False):
    def emit(g, result, a, b=None, *rest, alpha=1, rounding_mode=None, out=None, other=None,
             **kw):
        b = other if b is None else b
        if out is not None or rest or kw:
            _unsupported(f"{op} with arguments {(out, *rest, kw)}")
        if rounding_mode is not None:
            _unsupported(f"div(rounding_mode={rounding_mode!r})")
        if reverse:  # b.__rsub__(a) computes a - b
            a, b = b, a
        dt = _np_dtype(result)
        an, bn = _operand(g, a, dt), _operand(g, b, dt)
        sym = bsym(g.sym_of(an), g.sym_of(bn))
        if alpha != 1:  # add(a, b, alpha=k) is a + k b
            bn = g.node("Mul", [bn, g.value(alpha, dt)])
        g.bind(result, g.node(op, [an, bn]), sym)
    return emit


def unary(op, **attrs):
    def emit(g, result, x, *args, out=None, **kwargs):  # args: F.relu's inplace
        if out is not None:
            _unsupported(f"{op}(out=...)")
        xn = _operand(g, x, _np_dtype(result))  # exp of an integer tensor is float
        g.bind(result, g.node(op, [xn], **attrs), g.sym_of(xn))
    return emit


def alias(g, result, x, *args, **kwargs):
    """Ops that return the same values (contiguous, detach, dropout in eval, casts to itself)."""
    name = g.value(x)
    if isinstance(result, Tensor) and _np_dtype(result) != _np_dtype(x):
        name = g.cast(name, _np_dtype(x), _np_dtype(result))
    g.bind(result, name, g.sym_of(g.value(x)))


def power(g, result, x, exponent, *args, **kwargs):
    if isinstance(exponent, Tensor) or not isinstance(x, Tensor):
        _unsupported("pow with a tensor exponent")
    dt = _np_dtype(result)
    xn = _operand(g, x, dt)
    g.bind(result, g.node("Pow", [xn, g.value(exponent, dt)]), g.sym_of(xn))


def matmul(g, result, a, b=None, *, out=None, other=None, mat2=None):
    b = b if b is not None else (other if other is not None else mat2)
    if out is not None:
        _unsupported("matmul(out=...)")
    dt = _np_dtype(result)
    an, bn = _operand(g, a, dt), _operand(g, b, dt)
    sa, sb = g.sym_of(an), g.sym_of(bn)
    sa2 = (None,) + sa if len(sa) == 1 else sa
    sb2 = sb + (None,) if len(sb) == 1 else sb
    tail = ((sa2[-2],) if len(sa) > 1 else ()) + ((sb2[-1],) if len(sb) > 1 else ())
    g.bind(result, g.node("MatMul", [an, bn]), bsym(sa2[:-2], sb2[:-2]) + tail)


def _softmax_dim(x, dim):
    if dim is None:  # PyTorch's implicit choice, deprecated there
        return 0 if x.ndim in (0, 1, 3) else 1
    return _norm_dim(dim, x.ndim)


def softmax(op):
    def emit(g, result, x, dim=None, _stacklevel=3, dtype=None):
        # the method's second positional argument is the dtype: the result's dtype tells
        name = g.cast(g.value(x), _np_dtype(x), _np_dtype(result))
        g.bind(result, g.node(op, [name], axis=_softmax_dim(x, dim)), g.sym_of(name))
    return emit


def _gelu(g, result, x, approximate="none"):
    xn = g.value(x)
    if g.opset >= 20:
        g.node("Gelu", [xn], out=result, approximate=approximate)
        return
    dt = _np_dtype(x)
    c = lambda v: g.value(v, dt)  # noqa: E731
    if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        x3 = g.node("Mul", [g.node("Mul", [xn, xn]), xn])
        inner = g.node("Mul", [g.node("Add", [xn, g.node("Mul", [x3, c(0.044715)])]),
                               c(math.sqrt(2 / math.pi))])
        t = g.node("Tanh", [inner])
    elif approximate == "none":  # 0.5 x (1 + erf(x / sqrt(2)))
        t = g.node("Erf", [g.node("Mul", [xn, c(1 / math.sqrt(2))])])
    else:
        raise ValueError(f"approximate argument must be either none or tanh, got {approximate}")
    g.bind(result, g.node("Mul", [g.node("Mul", [xn, g.node("Add", [t, c(1.0)])]), c(0.5)]),
           g.sym_of(xn))


def f_gelu(g, result, x, approximate="none"):
    _gelu(g, result, x, approximate)


def f_leaky_relu(g, result, x, negative_slope=0.01, inplace=False):
    g.node("LeakyRelu", [g.value(x)], out=result, alpha=float(negative_slope))


def f_dropout(g, result, x, p=0.5, training=True, inplace=False):
    if training:
        _unsupported("dropout in training mode", "export a model in eval mode")
    alias(g, result, x)


def f_linear(g, result, x, weight, bias=None):
    _linear(g, result, x, weight, bias)


def reduce(op):
    def emit(g, result, x, dim=None, keepdim=False, *, dtype=None, out=None, axis=None,
             keepdims=None):
        if out is not None:
            _unsupported(f"{op}(out=...)")
        dim = axis if dim is None else dim
        keep = bool(keepdims if keepdims is not None else keepdim)
        dims = list(range(x.ndim)) if dim is None else [
            _norm_dim(d, x.ndim) for d in (dim if isinstance(dim, (tuple, list)) else [dim])]
        xn = _operand(g, x, _np_dtype(result))
        if op == "ReduceMean" and g.opset < 18:  # axes became an input in opset 18
            node = g.node(op, [xn], axes=dims, keepdims=int(keep))
        else:
            node = g.node(op, [xn, g.ints(dims, "axes")], keepdims=int(keep))
        s = g.sym_of(xn)
        g.bind(result, node, [None if i in dims else m for i, m in enumerate(s)
                              if keep or i not in dims])
    return emit


# ---- sizes read while tracing --------------------------------------------------------------

class SymInt(int):
    """A size read off a traced tensor along a dynamic axis (``x.shape[0]``, ``x.size(1)``):
    the number it is in this run, and how the graph computes it, so that a reshape to
    ``(b * t, d)`` follows the sizes the model is run with."""

    def __new__(cls, value, expr):
        self = int.__new__(cls, value)
        self.expr = expr  # ("dim", value name, axis) or (ONNX op, lhs, rhs)
        return self


def _sym_op(op, pyop, reflected=False):
    def method(self, other):
        if type(other) is not int and not isinstance(other, SymInt):
            return pyop(int(self), other) if not reflected else pyop(other, int(self))
        lhs, rhs = (other, self) if reflected else (self, other)
        return SymInt(pyop(int(lhs), int(rhs)), (op, lhs, rhs))
    return method


for _name, _op, _fn in (("add", "Add", lambda a, b: a + b), ("sub", "Sub", lambda a, b: a - b),
                        ("mul", "Mul", lambda a, b: a * b),
                        ("floordiv", "Div", lambda a, b: a // b)):  # sizes: Div is floor
    setattr(SymInt, f"__{_name}__", _sym_op(_op, _fn))
    setattr(SymInt, f"__r{_name}__", _sym_op(_op, _fn, reflected=True))


def sym_size(g, v):
    """The 1-D int64 graph value holding the size ``v`` (a SymInt or a plain int)."""
    if not isinstance(v, SymInt):
        return g.ints([int(v)])
    key = ("size", id(v))
    if key not in g.cache:
        if v.expr[0] == "dim":
            _, name, axis = v.expr
            if g.opset >= 15:
                node = g.node("Shape", [name], start=axis, end=axis + 1)
            else:  # Shape's start and end came in opset 15
                node = g.node("Gather", [g.node("Shape", [name]), g.ints([axis], "axis")])
        else:
            op, a, b = v.expr
            node = g.node(op, [sym_size(g, a), sym_size(g, b)])
        g.cache[key] = node
        g.keep(v)
    return g.cache[key]


# ---- movement ------------------------------------------------------------------------------

def reshape_to(g, result, x, minus_one=None):
    """Reshape ``x`` to ``result``'s shape, writing 0 (copy) and -1 where sizes may vary."""
    xn = g.value(x)
    xs = g.sym_of(xn)
    ins, outs = tuple(x.shape), tuple(result.shape)
    target, osym = list(outs), [None] * len(outs)
    p = 0
    while p < min(len(ins), len(outs)) and ins[p] == outs[p]:
        if xs[p] is not None:
            target[p], osym[p] = 0, xs[p]
        p += 1
    if any(m is not None for m in xs[p:]):
        if p >= len(outs):
            _unsupported(f"reshape of {ins} to {outs} with a dynamic axis")
        pos = minus_one if minus_one is not None and minus_one >= p else p
        target[pos], osym[pos] = -1, "?"
    if any(target[i] == 0 and osym[i] is None for i in range(len(target))):
        _unsupported(f"reshape to {outs}: an empty dimension")
    g.bind(result, g.node("Reshape", [xn, g.ints(target)]), osym)


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)) or (
            len(shape) == 1 and not isinstance(shape[0], int) and hasattr(shape[0], "__len__")):
        return tuple(shape[0])
    return tuple(shape)


def reshape(g, result, x, *shape, **kwargs):
    shape = _shape_arg(shape) if shape else tuple(kwargs.get("shape", kwargs.get("size", ())))
    if shape and not all(isinstance(s, (int, np.integer)) for s in shape):
        _unsupported(f"view/reshape with arguments {shape}")
    if any(isinstance(s, SymInt) for s in shape):
        # sizes read from the tensors: the target is computed in the graph
        xn = g.value(x)
        target = g.node("Concat", [sym_size(g, s) for s in shape], axis=0)
        g.bind(result, g.node("Reshape", [xn, target]),
               ["?" if isinstance(s, SymInt) or s == -1 else None for s in shape])
        return
    minus = [i for i, s in enumerate(shape) if s == -1]
    reshape_to(g, result, x, minus[0] if minus else None)


def flatten(g, result, x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        reshape_to(g, result, x)
        return
    reshape_to(g, result, x, _norm_dim(start_dim, x.ndim))


def _transpose_perm(g, result, x, perm):
    xn = g.value(x)
    s = g.sym_of(xn)
    g.bind(result, g.node("Transpose", [xn], perm=list(perm)), tuple(s[i] for i in perm))


def transpose(g, result, x, dim0, dim1):
    n = x.ndim
    perm = list(range(n))
    if n:
        a, b = _norm_dim(dim0, n), _norm_dim(dim1, n)
        perm[a], perm[b] = perm[b], perm[a]
    _transpose_perm(g, result, x, perm)


def permute(g, result, x, *dims, **kwargs):
    dims = _shape_arg(dims) if dims else tuple(kwargs["dims"])
    _transpose_perm(g, result, x, [_norm_dim(d, x.ndim) for d in dims])


def t(g, result, x):
    _transpose_perm(g, result, x, list(range(x.ndim))[::-1])


def mT(g, result, x):
    perm = list(range(x.ndim))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    _transpose_perm(g, result, x, perm)


def unsqueeze(g, result, x, dim):
    d = _norm_dim(dim, x.ndim + 1)
    xn = g.value(x)
    s = list(g.sym_of(xn))
    s.insert(d, None)
    g.bind(result, g.node("Unsqueeze", [xn, g.ints([d], "axes")]), s)


def squeeze(g, result, x, dim=None):
    xn = g.value(x)
    s = g.sym_of(xn)
    if dim is None:
        dims = [i for i, n in enumerate(x.shape) if n == 1 and s[i] is None]
    else:
        dims = [_norm_dim(d, x.ndim) for d in (dim if isinstance(dim, (tuple, list)) else [dim])]
        dims = [d for d in dims if x.shape[d] == 1]
    if not dims:
        alias(g, result, x)
        return
    g.bind(result, g.node("Squeeze", [xn, g.ints(dims, "axes")]),
           [m for i, m in enumerate(s) if i not in dims])


_END = np.iinfo(np.int64).max


def getitem(g, result, x, index):
    """Basic indexing (ints, slices, None, ...) as Slice, Squeeze and Unsqueeze; the bounds are
    written as given (negative, open), so they follow dynamic sizes."""
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, (Tensor, list, bool, np.ndarray)) for i in items):
        _unsupported("Tensor.__getitem__ with tensor, list or bool indices (advanced indexing)")
    n_real = sum(1 for i in items if i is not None and i is not Ellipsis)
    if n_real > x.ndim or sum(i is Ellipsis for i in items) > 1:
        _unsupported(f"Tensor.__getitem__ with index {index!r} on {x.ndim} dimensions")
    expanded = []
    for i in items:
        if i is Ellipsis:
            expanded.extend([slice(None)] * (x.ndim - n_real))
        else:
            expanded.append(i)
    expanded.extend([slice(None)] * (x.ndim - sum(i is not None for i in expanded)))
    starts, ends, axes, steps, drop, new_axes = [], [], [], [], [], []
    dim = out_pos = 0
    for i in expanded:
        if i is None:
            new_axes.append(out_pos)
            out_pos += 1
            continue
        if isinstance(i, slice):
            step = 1 if i.step is None else int(i.step)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            if (i.start, i.stop, step) != (None, None, 1):
                starts.append(0 if i.start is None else int(i.start))
                ends.append(_END if i.stop is None else int(i.stop))
                axes.append(dim)
                steps.append(step)
            out_pos += 1
        else:
            k = int(i)
            starts.append(k)
            ends.append(_END if k == -1 else k + 1)
            axes.append(dim)
            steps.append(1)
            drop.append(dim)
        dim += 1
    name = g.value(x)
    s = list(g.sym_of(name))
    if axes:
        name = g.node("Slice", [name, g.ints(starts, "starts"), g.ints(ends, "ends"),
                                g.ints(axes, "axes"), g.ints(steps, "steps")])
        s = ["?" if (d in axes and m is not None) else m for d, m in enumerate(s)]
    if drop:
        name = g.node("Squeeze", [name, g.ints(drop, "axes")])
        s = [m for d, m in enumerate(s) if d not in drop]
    if new_axes:
        name = g.node("Unsqueeze", [name, g.ints(new_axes, "axes")])
        for a in new_axes:
            s.insert(a, None)
    if name == g.value(x):
        alias(g, result, x)
    else:
        g.bind(result, name, s)


def cat(g, result, tensors, dim=0, *, axis=None, out=None):
    if out is not None:
        _unsupported("cat(out=...)")
    dim = _norm_dim(axis if axis is not None else dim, result.ndim)
    dt = _np_dtype(result)
    names = [_operand(g, x, dt) for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)]
    syms = [g.sym_of(n) for n in names]
    s = list(bsym(*syms))
    s[dim] = "?" if any(sy[dim] is not None for sy in syms) else None
    g.bind(result, g.node("Concat", names, axis=dim), s)


# ---- modules -------------------------------------------------------------------------------

def _linear(g, result, x, weight, bias):
    xn, wn = g.value(x), g.value(weight)
    if x.ndim == 2:
        ins = [xn, wn] + ([g.value(bias)] if bias is not None else [])
        node = g.node("Gemm", ins, transB=1)
    else:
        node = g.node("MatMul", [xn, g.node("Transpose", [wn], perm=[1, 0])])
        if bias is not None:
            node = g.node("Add", [node, g.value(bias)])
    g.bind(result, node, g.sym_of(xn)[:-1] + (None,))


def _spatial(v, n):
    return list(v) if isinstance(v, (tuple, list)) else [v] * n


def _spatial_sym(g, xn, result):
    s = g.sym_of(xn)
    return (s[0], None) + tuple("?" if m is not None else None for m in s[2:])


def m_linear(g, m, result, x):
    _linear(g, result, x, m.weight, m.bias)


def m_conv(g, m, result, x):
    n = x.ndim - 2
    if m.padding_mode != "zeros":
        _unsupported(f"{type(m).__name__}(padding_mode={m.padding_mode!r})")
    k, d = _spatial(m.kernel_size, n), _spatial(m.dilation, n)
    if m.padding == "valid":
        begin = end = [0] * n
    elif m.padding == "same":
        total = [di * (ki - 1) for di, ki in zip(d, k)]
        begin = [tt // 2 for tt in total]
        end = [tt - b for tt, b in zip(total, begin)]
    else:
        begin = end = _spatial(m.padding, n)
    xn = g.value(x)
    ins = [xn, g.value(m.weight)] + ([g.value(m.bias)] if m.bias is not None else [])
    node = g.node("Conv", ins, kernel_shape=k, strides=_spatial(m.stride, n),
                  pads=list(begin) + list(end), dilations=d, group=m.groups)
    g.bind(result, node, _spatial_sym(g, xn, result))


def _pool(g, m, result, x, op, **attrs):
    """MaxPool or AveragePool of a pooling module (``attrs``: the op's own attributes)."""
    n = x.ndim - 2
    if n < 1:
        _unsupported(f"{type(m).__name__} on an input without a batch dimension")
    p = _spatial(m.padding, n)
    xn = g.value(x)
    node = g.node(op, [xn], kernel_shape=_spatial(m.kernel_size, n),
                  strides=_spatial(m.stride if m.stride is not None else m.kernel_size, n),
                  pads=p + p, ceil_mode=int(m.ceil_mode), **attrs)
    g.bind(result, node, _spatial_sym(g, xn, result))


def m_maxpool(g, m, result, x):
    if m.return_indices:
        _unsupported(f"{type(m).__name__}(return_indices=True)")
    _pool(g, m, result, x, "MaxPool", dilations=_spatial(m.dilation, x.ndim - 2))


def m_avgpool(g, m, result, x):
    if m.divisor_override is not None:
        _unsupported(f"{type(m).__name__}(divisor_override={m.divisor_override})")
    _pool(g, m, result, x, "AveragePool", count_include_pad=int(m.count_include_pad))


def m_adaptive_avgpool(g, m, result, x):
    n = x.ndim - 2
    if n < 1:
        _unsupported(f"{type(m).__name__} on an input without a batch dimension")
    xn = g.value(x)
    insz = list(x.shape[2:])
    outsz = [o if o is not None else i for o, i in zip(_spatial(m.output_size, n), insz)]
    if all(o == 1 for o in outsz):
        g.bind(result, g.node("GlobalAveragePool", [xn]), g.sym_of(xn)[:2] + (None,) * n)
    elif all(i % o == 0 for i, o in zip(insz, outsz)):
        k = [i // o for i, o in zip(insz, outsz)]
        g.bind(result, g.node("AveragePool", [xn], kernel_shape=k, strides=k),
               g.sym_of(xn)[:2] + (None,) * n)
    else:
        _unsupported(f"{type(m).__name__}({m.output_size}) on an input of size {tuple(insz)}",
                     "only output sizes that divide the input are")


def m_batchnorm(g, m, result, x):
    if m.running_mean is None or m.running_var is None:
        _unsupported(f"{type(m).__name__}(track_running_stats=False)",
                     "it normalizes with the batch's statistics in eval mode")
    c = m.num_features
    dt = _np_dtype(x)
    scale = g.value(m.weight) if m.weight is not None else g.initializer(np.ones(c, dt), "ones")
    bias = g.value(m.bias) if m.bias is not None else g.initializer(np.zeros(c, dt), "zeros")
    g.node("BatchNormalization", [g.value(x), scale, bias, g.value(m.running_mean),
                                  g.value(m.running_var)], out=result, epsilon=float(m.eps))


def m_layernorm(g, m, result, x):
    shape = tuple(m.normalized_shape)
    dt = _np_dtype(x)
    scale = (g.value(m.weight) if m.weight is not None
             else g.initializer(np.ones(shape, dt), "ones"))
    xn = g.value(x)
    if g.opset >= 17:
        ins = [xn, scale] + ([g.value(m.bias)] if m.bias is not None else [])
        g.node("LayerNormalization", ins, out=result, axis=-len(shape), epsilon=float(m.eps))
        return
    # before opset 17: (x - mean) / sqrt(var + eps) * weight + bias over the last dims
    axes = list(range(x.ndim - len(shape), x.ndim))
    centred = g.node("Sub", [xn, g.node("ReduceMean", [xn], axes=axes, keepdims=1)])
    var = g.node("ReduceMean", [g.node("Mul", [centred, centred])], axes=axes, keepdims=1)
    y = g.node("Mul", [g.node("Div", [centred, g.node("Sqrt", [
        g.node("Add", [var, g.value(float(m.eps), dt)])])]), scale])
    if m.bias is not None:
        y = g.node("Add", [y, g.value(m.bias)])
    g.bind(result, y, g.sym_of(xn))


def m_embedding(g, m, result, x):
    if m.max_norm is not None:
        _unsupported("Embedding(max_norm=...)", "it renormalizes the weight in place")
    xn = g.value(x)
    g.bind(result, g.node("Gather", [g.value(m.weight), xn], axis=0), g.sym_of(xn) + (None,))


def m_unary(op, **attrs):
    def emit(g, m, result, x):
        g.node(op, [g.value(x)], out=result, **attrs)
    return emit


def m_leaky_relu(g, m, result, x):
    f_leaky_relu(g, result, x, m.negative_slope)


def m_gelu(g, m, result, x):
    _gelu(g, result, x, m.approximate)


def m_softmax(op):
    def emit(g, m, result, x):
        xn = g.value(x)
        g.bind(result, g.node(op, [xn], axis=_softmax_dim(x, m.dim)), g.sym_of(xn))
    return emit


def m_clip(lo, hi):
    def emit(g, m, result, x):
        low, high = (m.min_val, m.max_val) if lo is None else (lo, hi)
        dt = _np_dtype(x)
        g.node("Clip", [g.value(x), g.value(low, dt), g.value(high, dt)], out=result)
    return emit


def m_elu(g, m, result, x):
    g.node("Elu", [g.value(x)], out=result, alpha=float(m.alpha))


def m_silu(g, m, result, x):
    xn = g.value(x)
    g.bind(result, g.node("Mul", [xn, g.node("Sigmoid", [xn])]), g.sym_of(xn))


def m_flatten(g, m, result, x):
    flatten(g, result, x, m.start_dim, m.end_dim)


def m_identity(g, m, result, x, *args, **kwargs):
    alias(g, result, x)


MODULES = {
    nn.Linear: m_linear, nn.Conv1d: m_conv, nn.Conv2d: m_conv,
    nn.MaxPool1d: m_maxpool, nn.MaxPool2d: m_maxpool,
    nn.AvgPool1d: m_avgpool, nn.AvgPool2d: m_avgpool,
    nn.AdaptiveAvgPool1d: m_adaptive_avgpool, nn.AdaptiveAvgPool2d: m_adaptive_avgpool,
    nn.BatchNorm1d: m_batchnorm, nn.BatchNorm2d: m_batchnorm,
    nn.LayerNorm: m_layernorm, nn.Embedding: m_embedding,
    nn.ReLU: m_unary("Relu"), nn.Sigmoid: m_unary("Sigmoid"), nn.Tanh: m_unary("Tanh"),
    nn.GELU: m_gelu, nn.LeakyReLU: m_leaky_relu, nn.ELU: m_elu, nn.SiLU: m_silu,
    nn.ReLU6: m_clip(0.0, 6.0), nn.Hardtanh: m_clip(None, None),
    nn.Softmax: m_softmax("Softmax"), nn.LogSoftmax: m_softmax("LogSoftmax"),
    nn.Flatten: m_flatten, nn.Identity: m_identity,
    # the identity in eval mode, the mode the exporter runs the model in
    nn.Dropout: m_identity, nn.Dropout1d: m_identity, nn.Dropout2d: m_identity,
    nn.AlphaDropout: m_identity,
}
# containers only call their children, which are traced one by one
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)

_BIN = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div"}
_ALIASES = {"add": ("add",), "sub": ("sub", "subtract"), "mul": ("mul", "multiply"),
            "div": ("div", "divide", "true_divide")}
_UNARY = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log",
          "sqrt": "Sqrt", "abs": "Abs", "neg": "Neg", "negative": "Neg", "erf": "Erf"}

# ops on the functions of the ember namespace (and Tensor methods of the same name)
FUNCTIONS = {
    "matmul": matmul, "mm": matmul, "bmm": matmul,
    "reshape": reshape, "flatten": flatten, "transpose": transpose, "swapaxes": transpose,
    "swapdims": transpose, "permute": permute, "t": t, "unsqueeze": unsqueeze,
    "squeeze": squeeze, "cat": cat, "concat": cat, "concatenate": cat,
    "softmax": softmax("Softmax"), "log_softmax": softmax("LogSoftmax"), "pow": power,
    "mean": reduce("ReduceMean"), "sum": reduce("ReduceSum"),
}
for _k, _op in _BIN.items():
    for _name in _ALIASES[_k]:
        FUNCTIONS[_name] = binary(_op)
for _name, _op in _UNARY.items():
    FUNCTIONS[_name] = unary(_op)

# Tensor methods: the functions above, operators, in-place forms and same-value ops
METHODS = {k: v for k, v in FUNCTIONS.items() if k not in ("cat", "concat", "concatenate")}
METHODS.update({
    "view": reshape, "__getitem__": getitem, "__matmul__": matmul,
    "__rmatmul__": binary("MatMul", reverse=True),
    "__neg__": unary("Neg"), "__pow__": power, "relu_": unary("Relu"),
    "sigmoid_": unary("Sigmoid"), "tanh_": unary("Tanh"),
    "contiguous": alias, "detach": alias, "clone": alias, "cpu": alias, "to": alias,
    "float": alias, "double": alias, "half": alias, "long": alias, "int": alias,
    "type_as": alias,
})
for _k, _op in _BIN.items():
    for _d in (f"__{_k}__", f"__i{_k}__", f"{_k}_"):
        METHODS[_d] = binary(_op)
    METHODS[f"__r{_k}__"] = binary(_op, reverse=True)
for _d in ("__truediv__", "__itruediv__"):
    METHODS[_d] = binary("Div")
METHODS["__rtruediv__"] = binary("Div", reverse=True)
PROPERTIES = {"T": t, "mT": mT, "data": alias}

FUNCTIONAL = {
    "relu": unary("Relu"), "sigmoid": unary("Sigmoid"), "tanh": unary("Tanh"),
    "gelu": f_gelu, "leaky_relu": f_leaky_relu, "softmax": softmax("Softmax"),
    "log_softmax": softmax("LogSoftmax"), "dropout": f_dropout, "linear": f_linear,
}
