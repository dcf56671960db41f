"""export()'s work: trace the model, name inputs and outputs, assemble and check the ModelProto."""
from __future__ import annotations

import inspect

import numpy as np
import onnx
from onnx import helper

from .. import __version__, no_grad, tensor
from .._tensor import Tensor
from ._graph import Graph, elem_type
from ._trace import Patches
from .errors import OnnxExporterError


def _split_args(args, kwargs):
    if isinstance(args, Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    elif not isinstance(args, tuple):
        args = (args,)
    kwargs = dict(kwargs or {})
    if args and isinstance(args[-1], dict):  # PyTorch's convention: a trailing dict is kwargs
        kwargs = {**args[-1], **kwargs}
        args = args[:-1]
    return args, kwargs


def _default_names(model, args, kwargs):
    try:
        params = [p.name for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [params[i] if i < len(params) else f"input_{i}"
             for i, a in enumerate(args) if isinstance(a, Tensor)]
    return names + [k for k, v in kwargs.items() if isinstance(v, Tensor)]


def _axes(dynamic_axes, name):
    """{axis: dim_param} of one input or output from dynamic_axes' two spellings."""
    spec = (dynamic_axes or {}).get(name)
    if spec is None:
        return {}
    if isinstance(spec, dict):
        return {int(k): str(v) for k, v in spec.items()}
    return {int(a): f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(spec)}


def _trace(model, args, kwargs, names, dynamic_axes, param_names, opset, export_params,
           reserved=()):
    g = Graph(param_names, opset)
    g.reserved = tuple(reserved)
    g._used.update(reserved)  # the output names the user chose stay free for the outputs
    g.params_as_inputs = not export_params
    tensors = [a for a in args if isinstance(a, Tensor)] + [
        v for v in kwargs.values() if isinstance(v, Tensor)]
    for t, name in zip(tensors, names):
        if g.traced(t):
            raise OnnxExporterError("ember.onnx.export: the same tensor is passed as two inputs")
        axes = _axes(dynamic_axes, name)
        for a in axes:
            if not 0 <= a < t.ndim:
                raise ValueError(f"dynamic_axes['{name}']: axis {a} out of range for an input "
                                 f"of shape {tuple(t.shape)}")
        sym = tuple(axes.get(i) for i in range(t.ndim))
        g._used.add(name)
        g.bind(t, name, sym)
        g.inputs.append((name, t.detach().numpy(), sym))
    with no_grad(), Patches(g):
        out = model(*args, **kwargs)
    return g, out


def _flat_outputs(out):
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        flat = []
        for o in out:
            flat.extend(_flat_outputs(o))
        return flat
    raise OnnxExporterError(f"ember.onnx.export: the model returned a {type(out).__name__}; "
                            "outputs must be tensors, or tuples and lists of them")


def _other_input(a, axes, rng):
    """Other values for an input, one larger along each dynamic axis: index inputs reuse
    their own values, so they stay valid indices."""
    arr = a.detach().numpy()
    shape = tuple(n + 1 if i in axes else n for i, n in enumerate(arr.shape))
    if arr.dtype.kind == "f":
        new = (rng.standard_normal(shape) * (np.abs(arr).max(initial=0) + 1)).astype(arr.dtype)
    else:
        new = np.resize(rng.permutation(arr.reshape(-1)), shape)
    return tensor(new, dtype=a.dtype)


def _check_retrace(model, args, kwargs, names, dynamic_axes, param_names, opset, g):
    """Trace again on other values, with other sizes along the dynamic axes: the graph must
    be the same. A constant that differs was computed from the input outside the ops the
    tracer records, or from a dynamic size read as a number (``x.shape``): frozen into the
    graph, it would give wrong answers, so the export is refused."""
    rng = np.random.default_rng(0)
    order = iter(names)
    args2 = tuple(_other_input(a, _axes(dynamic_axes, next(order)), rng)
                  if isinstance(a, Tensor) else a for a in args)
    kwargs2 = {k: _other_input(v, _axes(dynamic_axes, next(order)), rng)
               if isinstance(v, Tensor) else v for k, v in kwargs.items()}
    try:
        g2, _ = _trace(model, args2, kwargs2, names, dynamic_axes, param_names, opset,
                       not g.params_as_inputs, g.reserved)
    except Exception as e:  # noqa: BLE001 - reported with the reason
        if not dynamic_axes:
            return  # other values may be invalid input (a mask, indices): nothing to compare
        raise OnnxExporterError(f"ember.onnx.export: the model fails on inputs with other "
                                f"sizes along dynamic_axes ({type(e).__name__}: {e})") from e
    if [n.SerializeToString() for n in g.nodes] != [n.SerializeToString() for n in g2.nodes]:
        raise OnnxExporterError("ember.onnx.export: the model runs different ops on other "
                                "inputs (control flow on values or sizes), which one graph "
                                "cannot hold")
    consts = dict(g2.constants)
    for name, a in g.constants:
        b = consts.get(name)
        if b is None or a.shape != b.shape or not np.array_equal(
                a, b, equal_nan=a.dtype.kind == "f"):
            user = next((n for n in g.nodes if name in n.input), None)
            where = f"the {user.op_type} node {user.name}" if user is not None else "an output"
            raise OnnxExporterError(
                f"ember.onnx.export: {where} uses a value fixed at export that changes with "
                "the input: a size of a dynamic axis read as a number (x.shape, x.size()) "
                "that a reshape cannot express with 0 and -1, or values computed outside "
                "the ops the exporter records (NumPy, ember internals, randomness)")


def build(model, args, kwargs, *, input_names, output_names, opset, dynamic_axes,
          export_params, keep_initializers_as_inputs):
    args, kwargs = _split_args(args, kwargs)
    names = _default_names(model, args, kwargs)
    if input_names:
        names = list(input_names) + names[len(input_names):]
    n_tensors = sum(isinstance(a, Tensor) for a in list(args) + list(kwargs.values()))
    if len(names) < n_tensors or len(set(names)) != len(names):
        raise ValueError(f"ember.onnx.export: input names {names} are not one distinct name "
                         f"for each of the {n_tensors} tensor inputs")
    param_names = {}
    for name, p in list(model.named_buffers()) + list(model.named_parameters()):
        param_names.setdefault(id(p), name)

    modes = [(m, m.training) for m in model.modules()]
    model.eval()  # BatchNorm with running statistics, Dropout as the identity
    try:
        g, out = _trace(model, args, kwargs, names, dynamic_axes, param_names, opset,
                        export_params, reserved=output_names or ())
        _check_retrace(model, args, kwargs, names, dynamic_axes, param_names, opset, g)
        outputs = _flat_outputs(out)
        out_names = list(output_names or [])
        out_names += ["output" if len(outputs) == 1 and not out_names else f"output_{i}"
                      for i in range(len(out_names), len(outputs))]
        if len(out_names) != len(outputs) or set(out_names) & set(names):
            raise ValueError(f"ember.onnx.export: output names {out_names} for "
                             f"{len(outputs)} outputs (input names {names})")
        known = set(names) | set(out_names)
        for key in dynamic_axes or {}:
            if key not in known:
                raise ValueError(f"dynamic_axes names '{key}', which is neither an input nor "
                                 f"an output (inputs {names}, outputs {out_names})")
        out_infos = []
        for t, name in zip(outputs, out_names):
            src = g.value(t)
            g.nodes.append(helper.make_node("Identity", [src], [name], name=f"output_{name}"))
            axes = _axes(dynamic_axes, name)
            sym = g.sym_of(src)
            # a size that varies keeps the name of its input axis where it passed unchanged
            dims = [axes.get(i, n if i >= len(sym) or sym[i] is None
                             else (None if sym[i] == "?" else sym[i]))
                    for i, n in enumerate(t.shape)]
            out_infos.append(helper.make_tensor_value_info(
                name, elem_type(t.detach().numpy().dtype), dims))
    finally:
        for m, mode in modes:
            m.training = mode

    in_infos = [helper.make_tensor_value_info(
        name, elem_type(arr.dtype), [s if s is not None else n for s, n in zip(sym, arr.shape)])
        for name, arr, sym in g.inputs]
    if keep_initializers_as_inputs:
        in_infos += [helper.make_tensor_value_info(name, init.data_type, list(init.dims))
                     for name, init in g.initializers.items()]
    graph = helper.make_graph(g.nodes, type(model).__name__, in_infos, out_infos,
                              initializer=list(g.initializers.values()))
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="ember",
                              producer_version=__version__)
    # the oldest IR version that can carry this opset, so older runtimes load the file
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise OnnxExporterError(f"ember.onnx.export produced an invalid model: {e}") from e
    return proto
