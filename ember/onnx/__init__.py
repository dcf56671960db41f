"""ember.onnx: export models to ONNX (PyTorch's torch.onnx).

``export`` runs the model in eval mode on the example inputs while recording each supported
module and op as ONNX nodes (see ``_trace``), runs it again on other values (other sizes along
the dynamic axes) to make sure nothing that depends on the input was frozen into the graph,
checks the model with onnx.checker and writes it. It needs the ``onnx`` package:
``pip install 'ember[onnx]'`` (which also installs onnxruntime to run it).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import warnings

from . import _state
from .errors import OnnxExporterError, UnsupportedOperatorError

__all__ = ["export", "is_in_onnx_export", "ONNXProgram", "OnnxExporterError",
           "UnsupportedOperatorError", "errors"]

DEFAULT_OPSET = 18  # PyTorch 2.13's exporter writes opset 18 by default
_MIN_OPSET = 13  # Squeeze, Unsqueeze, ReduceSum and Slice take their axes as inputs
_count = itertools.count()


def is_in_onnx_export() -> bool:
    """Whether an ember.onnx.export is running (a model's forward may ask)."""
    return _state.active[0] is not None


class ONNXProgram:
    """The exported model: ``model_proto`` (an onnx.ModelProto) and ``save(path)``."""

    def __init__(self, model_proto):
        self.model_proto = model_proto

    def save(self, destination):
        """Write the model to a path or binary file object (atomically, for a path)."""
        _write(self.model_proto.SerializeToString(), destination)

    def __repr__(self):
        g = self.model_proto.graph
        return (f"ONNXProgram(inputs={[i.name for i in g.input]}, "
                f"outputs={[o.name for o in g.output]}, nodes={len(g.node)})")


def export(model, args=(), f=None, *, kwargs=None, verbose=None, input_names=None,
           output_names=None, opset_version=None, dynamo=True, external_data=True,
           dynamic_shapes=None, custom_translation_table=None, report=False, optimize=True,
           verify=False, profile=False, dump_exported_program=False, artifacts_dir=".",
           export_params=True, keep_initializers_as_inputs=False, dynamic_axes=None,
           training=None, operator_export_type=None, do_constant_folding=True,
           custom_opsets=None, export_modules_as_functions=False, autograd_inlining=True):
    """Export ``model`` run on ``args`` as ONNX to ``f`` (a path or binary file object)."""
    try:
        import onnx  # optional: the onnx extra
    except ImportError as e:
        raise ImportError("ember.onnx.export needs the onnx package, which ember's optional "
                          "'onnx' extra installs: pip install 'ember[onnx]'") from e
    from ..nn import Module  # ember.nn (~0.45 s) and the onnx package load with an export
    from . import _build

    if not isinstance(model, Module):
        raise TypeError(f"ember.onnx.export: model must be an ember.nn.Module, got "
                        f"{type(model).__name__}")
    if dynamic_shapes is not None:
        raise NotImplementedError("ember.onnx.export: dynamic_shapes is not supported; give "
                                  "dynamic_axes={'input_name': {0: 'batch'}} instead")
    if custom_translation_table or custom_opsets or export_modules_as_functions:
        raise NotImplementedError("ember.onnx.export: custom_translation_table, custom_opsets "
                                  "and export_modules_as_functions are not supported")
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    latest = onnx.defs.onnx_opset_version()
    if opset > latest:
        raise ValueError(f"ember.onnx.export: opset_version={opset_version} is newer than the "
                         f"installed onnx package knows (up to {latest})")
    if opset < _MIN_OPSET:
        # PyTorch too keeps a newer opset when it cannot convert down to the one asked for
        warnings.warn(f"ember.onnx.export writes opset {_MIN_OPSET} or later: the model uses "
                      f"opset {_MIN_OPSET}, not the {opset_version} asked for", stacklevel=2)
        opset = _MIN_OPSET
    proto = _build.build(model, args, kwargs, input_names=input_names,
                         output_names=output_names, opset=opset, dynamic_axes=dynamic_axes,
                         export_params=export_params,
                         keep_initializers_as_inputs=keep_initializers_as_inputs)
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    if f is not None:
        _write(proto.SerializeToString(), f)
    return ONNXProgram(proto) if dynamo else None


def _write(data: bytes, f):
    # a path is written to a temporary file beside it and renamed: an export that fails, or
    # a crash mid-write, leaves no partial model behind
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        tmp = f"{path}.{os.getpid()}.{next(_count)}.tmp"  # open() honours the umask
        try:
            with open(tmp, "xb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    elif hasattr(f, "write"):
        f.write(data)
    else:
        raise TypeError(f"ember.onnx.export: f must be a path or a binary file object, got "
                        f"{type(f).__name__}")

