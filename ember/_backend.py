"""The array library behind ember's compute path, in one place (Chainer's ``xp``).

Tensor, autograd, the op families, ``nn`` and ``optim`` reach the array library only as
``xp`` from this module, never by importing it themselves, so that another library with
NumPy's API (CuPy on a GPU) could slot in here. Today it is NumPy. Data loading, vision and
serialization exchange NumPy arrays with users and import NumPy directly.
"""
import numpy as xp

ndarray = xp.ndarray
as_strided = xp.lib.stride_tricks.as_strided

__all__ = ["xp", "ndarray", "as_strided"]
