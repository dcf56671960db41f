"""ember.functional (PyTorch's ``torch.functional``): the same functions as ``ember.<name>``."""
from __future__ import annotations

import ember as _ember

__all__ = ["atleast_1d", "atleast_2d", "atleast_3d", "broadcast_shapes", "broadcast_tensors",
           "cartesian_prod", "block_diag", "cdist", "chain_matmul", "einsum", "istft", "lu", "norm",
           "meshgrid", "pca_lowrank", "split", "stft", "svd_lowrank", "tensordot", "unique",
           "unique_consecutive", "unravel_index"]


def __getattr__(name):
    if name in __all__:
        return getattr(_ember, name)  # an AttributeError naming it where ember lacks it
    raise AttributeError(f"module 'torch.functional' has no attribute '{name}'")
