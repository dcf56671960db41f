"""Functional forms of the optimizers: each updates lists of tensors in place, no state kept."""
from __future__ import annotations

from .adadelta import adadelta
from .adafactor import adafactor
from .adagrad import adagrad
from .adam import adam
from .adamax import adamax
from .adamw import adamw
from .asgd import asgd
from .nadam import nadam
from .radam import radam
from .rmsprop import rmsprop
from .rprop import rprop
from .sgd import sgd
from .sparse_adam import sparse_adam

__all__ = ["adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "asgd", "nadam",
           "radam", "rmsprop", "rprop", "sgd", "sparse_adam"]
