"""``torch.autograd.grad_mode``: the switches live in ``ember/_grad_mode.py``, below Tensor."""
from .._grad_mode import (  # noqa: F401
    _inference,
    _state,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
    set_multithreading_enabled,
)
