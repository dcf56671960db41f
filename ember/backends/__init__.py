"""ember.backends: the flags programs set or read for PyTorch's backends.

ember computes with NumPy on the CPU: the flags are recorded and read back, and change nothing
(cuDNN, MPS and TF32 do not exist here; NumPy's float32 matmul is full precision).
"""
from __future__ import annotations

from . import cpu, cuda, cudnn, mkl, mkldnn, mps, openmp, opt_einsum  # noqa: F401
