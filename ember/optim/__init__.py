""":mod:`ember.optim`: optimization algorithms and learning-rate schedules (PyTorch's API)."""
import importlib as _importlib
import sys as _sys

from . import _functional, lr_scheduler  # noqa: F401  (PyTorch's names)
from . import adafactor as _adafactor  # noqa: F401  (torch.optim._adafactor)
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD
from .sparse_adam import SparseAdam

__all__ = ["Adafactor", "Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "ASGD", "LBFGS",
           "lr_scheduler", "NAdam", "Optimizer", "RAdam", "RMSprop", "Rprop", "SGD",
           "SparseAdam", "swa_utils"]


# dir(optim) lists what PyTorch's does: the one-file-per-optimizer modules stay importable
# (and reachable as attributes, below) but are not part of the namespace.
del adadelta, adafactor, adagrad, adam, adamax, adamw, asgd, lbfgs, nadam, optimizer  # noqa: F821
del radam, rmsprop, rprop, sgd, sparse_adam  # noqa: F821


def __getattr__(name):
    # swa_utils builds on ember.nn (AveragedModel is a Module), so it loads on first use.
    if name == "swa_utils":
        mod = _importlib.import_module(f"{__name__}.swa_utils")
        globals()[name] = mod
        return mod
    mod = _sys.modules.get(f"{__name__}.{name}")
    if mod is not None:
        return mod
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"swa_utils"})
