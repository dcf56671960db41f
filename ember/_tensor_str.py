"""Placeholder printing; to be replaced by PyTorch-identical formatting."""
import numpy as np


def _str(self, tensor_contents=None):
    body = np.array2string(self._data, separator=", ", precision=4)
    suffix = ""
    if self._grad_fn is not None:
        suffix = f", grad_fn=<{self._grad_fn.name()}>"
    elif self._requires_grad:
        suffix = ", requires_grad=True"
    return f"tensor({body}{suffix})"
