"""ember.backends.cuda: the matmul flags programs set; there is no CUDA."""
from __future__ import annotations


class _MatmulFlags:
    """``torch.backends.cuda.matmul``: settable flags with PyTorch's defaults."""

    def __init__(self):
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True
        self.fp32_precision = "none"


matmul = _MatmulFlags()


def is_built() -> bool:
    """False: ember has no CUDA."""
    return False


def flash_sdp_enabled() -> bool:
    """False: there is no flash-attention kernel."""
    return False


def mem_efficient_sdp_enabled() -> bool:
    """False."""
    return False


def math_sdp_enabled() -> bool:
    """True: scaled_dot_product_attention computes by the plain formula."""
    return True


def enable_flash_sdp(enabled: bool) -> None:
    """Accepted; changes nothing."""


enable_mem_efficient_sdp = enable_math_sdp = enable_flash_sdp
