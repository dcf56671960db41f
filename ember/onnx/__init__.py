"""ember.onnx: export models to ONNX (PyTorch's torch.onnx)."""
from __future__ import annotations
