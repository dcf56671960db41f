"""The array library behind ember's compute path, in one place (Chainer's ``xp``).

Tensor, autograd, the op families, ``nn`` and ``optim`` reach the array library only as
``xp`` from this module, never by importing it themselves, so that another library with
NumPy's API (CuPy on a GPU) could slot in here. Today it is NumPy. Data loading, vision and
serialization exchange NumPy arrays with users and import NumPy directly.
"""
import numpy as xp

ndarray = xp.ndarray
as_strided = xp.lib.stride_tricks.as_strided



def quiet(fn, *args, **kwargs):
    """``fn(*args)`` again with floating-point warnings off.

    PyTorch gives inf and nan silently; NumPy warns (ember's package filter ignores those
    warnings), but code that turns warnings into errors (``simplefilter("error")``) gets a
    RuntimeWarning exception out of a ufunc. ember's kernels are pure, so they are simply run
    again, silently; in the normal case this costs nothing.
    """
    with xp.errstate(all="ignore"):
        return fn(*args, **kwargs)


__all__ = ["xp", "ndarray", "as_strided", "quiet"]
