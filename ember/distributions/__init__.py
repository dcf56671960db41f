"""ember.distributions: probability distributions (PyTorch's torch.distributions)."""
from __future__ import annotations
