"""ember.nn.parallel: the wrapper classes, for programs that import them at the top.

ember computes on one CPU in one process: DataParallel runs the module as it is; building a
DistributedDataParallel is an error (there is no process group).
"""
from __future__ import annotations

from ..modules.module import Module


class DataParallel(Module):
    """Runs ``module`` on the CPU, as PyTorch's DataParallel does when no GPU is visible."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module = module
        self.device_ids = []
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


class DistributedDataParallel(Module):
    """An error when built: ember has no process group."""

    def __init__(self, module, *args, **kwargs):
        raise RuntimeError("DistributedDataParallel: ember runs in a single process and has no "
                           "distributed backend")


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """Calls ``module`` on ``inputs`` on the CPU."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,)
    return module(*inputs, **(module_kwargs or {}))
