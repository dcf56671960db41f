"""Embedding and EmbeddingBag: lookup tables of learnable vectors (EmbeddingBag reduces bags)."""
from __future__ import annotations

from ... import _creation
from ..._tensor import Tensor
from ...autograd import grad_mode
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ._utils import _non_defaults
from .module import Module

__all__ = ["Embedding", "EmbeddingBag"]


def _set_table_options(module, num_embeddings: int, embedding_dim: int, padding_idx, max_norm,
                       norm_type: float, scale_grad_by_freq: bool, padding_name: str) -> None:
    """The settings Embedding and EmbeddingBag share. padding_idx is made non-negative after
    checking that it indexes a row; ``padding_name`` is how the error spells it (Embedding's
    "Padding_idx", EmbeddingBag's "padding_idx", as PyTorch's)."""
    if padding_idx is not None:
        if (padding_idx > 0 and padding_idx >= num_embeddings) or padding_idx < -num_embeddings:
            raise AssertionError(f"{padding_name} must be within num_embeddings")
        if padding_idx < 0:
            padding_idx += num_embeddings
    module.num_embeddings = num_embeddings
    module.embedding_dim = embedding_dim
    module.padding_idx = padding_idx
    module.max_norm = max_norm
    module.norm_type = norm_type
    module.scale_grad_by_freq = scale_grad_by_freq


def _init_weight(module, _weight, requires_grad: bool, device, dtype) -> None:
    """``module.weight``: ``_weight`` when given (its shape checked), else fresh N(0, 1) rows."""
    shape = [module.num_embeddings, module.embedding_dim]
    if _weight is None:
        module.weight = Parameter(_creation.empty(*shape, device=device, dtype=dtype),
                                  requires_grad=requires_grad)
        module.reset_parameters()
    else:
        if list(_weight.shape) != shape:
            raise AssertionError("Shape of weight does not match num_embeddings and "
                                 "embedding_dim")
        module.weight = Parameter(_weight, requires_grad=requires_grad)


# the lookup settings that Embedding's and EmbeddingBag's reprs show when not these
_NORM_DEFAULTS = {"max_norm": None, "norm_type": 2, "scale_grad_by_freq": False}


class Embedding(Module):
    """num_embeddings vectors of size embedding_dim, indexed by integer input; N(0, 1) init."""

    __constants__ = ("num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type",
                     "scale_grad_by_freq", "sparse")

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Tensor | None = None, _freeze: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        _set_table_options(self, num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                           scale_grad_by_freq, "Padding_idx")
        _init_weight(self, _weight, not _freeze, device, dtype)
        self.sparse = sparse

    def reset_parameters(self) -> None:
        """N(0, 1), with the padding row zeroed."""
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            with grad_mode.no_grad():
                self.weight._data[self.padding_idx] = 0
                self.weight._bump()

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = "{num_embeddings}, {embedding_dim}"
        s += _non_defaults(self, {"padding_idx": None, **_NORM_DEFAULTS})
        if self.sparse is not False:
            s += ", sparse=True"
        return s.format(**self.__dict__)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None,
                        norm_type=2.0, scale_grad_by_freq=False, sparse=False):
        """An Embedding whose weight is ``embeddings`` (frozen unless freeze=False)."""
        if embeddings.dim() != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(num_embeddings=rows, embedding_dim=cols, _weight=embeddings, _freeze=freeze,
                   padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings, without materialising the lookups per bag."""

    __constants__ = ["num_embeddings", "embedding_dim", "max_norm", "norm_type",
                     "scale_grad_by_freq", "mode", "sparse", "include_last_offset", "padding_idx"]

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight: Tensor | None = None,
                 include_last_offset: bool = False, padding_idx: int | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        _set_table_options(self, num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                           scale_grad_by_freq, "padding_idx")
        _init_weight(self, _weight, True, device, dtype)
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset

    reset_parameters = Embedding.reset_parameters
    _fill_padding_idx_with_zero = Embedding._fill_padding_idx_with_zero

    def forward(self, input: Tensor, offsets: Tensor | None = None,
                per_sample_weights: Tensor | None = None) -> Tensor:
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                               self.scale_grad_by_freq, self.mode, self.sparse,
                               per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        s = "{num_embeddings}, {embedding_dim}" + _non_defaults(self, _NORM_DEFAULTS)
        s += ", mode={mode}" + _non_defaults(self, {"padding_idx": None})
        return s.format(**{k: repr(v) for k, v in self.__dict__.items()})

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        max_norm: float | None = None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, mode: str = "mean",
                        sparse: bool = False, include_last_offset: bool = False,
                        padding_idx: int | None = None) -> EmbeddingBag:
        """An EmbeddingBag whose weight is ``embeddings`` (frozen unless freeze=False)."""
        if embeddings.dim() != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        bag = cls(num_embeddings=rows, embedding_dim=cols, _weight=embeddings, max_norm=max_norm,
                  norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, mode=mode,
                  sparse=sparse, include_last_offset=include_last_offset,
                  padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag
