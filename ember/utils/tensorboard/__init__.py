"""ember.utils.tensorboard: SummaryWriter (PyTorch's torch.utils.tensorboard).

Event files are written by tensorboardX (the optional ``tensorboard`` extra) and open in
TensorBoard as PyTorch's do.
"""
from __future__ import annotations

import sys as _sys


def _import_tensorboardx():
    # tensorboardX's writer module probes `import torch` for a type hint; ember must not pull
    # PyTorch in (seconds of import) just to log a scalar, so the probe fails while it loads.
    blocked = "torch" not in _sys.modules
    if blocked:
        _sys.modules["torch"] = None
    try:
        import tensorboardX.record_writer  # noqa: F401
        import tensorboardX.summary  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "ember.utils.tensorboard needs tensorboardX, which ember's optional 'tensorboard' "
            "extra installs: pip install 'ember[tensorboard]'") from e
    finally:
        if blocked and _sys.modules.get("torch", 0) is None:
            del _sys.modules["torch"]


_import_tensorboardx()

from .writer import FileWriter, SummaryWriter  # noqa: E402

__all__ = ["FileWriter", "SummaryWriter"]
