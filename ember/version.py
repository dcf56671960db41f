"""``torch.version``: the build's facts (``import torch; torch.version.cuda`` is None on the CPU)."""
from . import __version__  # noqa: F401 - torch.version.__version__

cuda = None  # no CUDA build: scripts test `torch.version.cuda is None`
hip = None
rocm = None
xpu = None
debug = False
git_version = "unknown"
