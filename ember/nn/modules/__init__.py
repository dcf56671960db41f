"""The layers of ember.nn, one file per family (PyTorch's layout)."""
from .activation import *
from .adaptive import *
from .batchnorm import *
from .channelshuffle import *
from .container import *
from .conv import *
from .dropout import *
from .flatten import *
from .instancenorm import *
from .linear import *
from .loss import *
from .module import LazyModuleMixin, Module  # noqa: F401
from .normalization import *
from .pixelshuffle import *
from .pooling import *
from .rnn import *
from .sparse import *
from .syncbatchnorm import *
from .transformer import *
