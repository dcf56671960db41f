"""Whether an export is running: read by is_in_onnx_export without loading the exporter."""
from __future__ import annotations

active = [None]  # the Graph of the export in progress
