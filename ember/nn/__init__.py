"""ember.nn: modules, parameters, functional ops, init and utilities (PyTorch's torch.nn)."""
from . import (  # noqa: F401
    functional,
    init,
    modules,
    parameter,
    utils,
)
from .modules import *
from .modules import LazyModuleMixin, Module  # noqa: F401
from .parallel import DataParallel  # noqa: F401  (and nn.parallel, as torch.nn.parallel)
from .parameter import (  # noqa: F401
    Buffer,
    Parameter,
    UninitializedBuffer,
    UninitializedParameter,
)
