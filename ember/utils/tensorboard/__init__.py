"""ember.utils.tensorboard: SummaryWriter (PyTorch's torch.utils.tensorboard)."""
from __future__ import annotations
