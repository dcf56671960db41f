"""Loss modules: thin wrappers that hold the options and call nn.functional."""
from __future__ import annotations

from ..._tensor import Tensor
from .. import functional as F
from ._utils import _functional_classes
from .module import Module

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CTCLoss",
    "CosineEmbeddingLoss",
    "CosineSimilarity",
    "CrossEntropyLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "MSELoss",
    "MarginRankingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "NLLLoss2d",
    "PairwiseDistance",
    "PoissonNLLLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]


class _Loss(Module):
    """A loss of (input, target): forward calls the nn.functional named ``_functional`` (looked
    up then, so a patched one is seen) with the reduction and the attributes named in
    ``_options``, as keywords of the same names."""

    __constants__ = ("reduction",)
    _options: tuple = ()

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            self.reduction = F._reduction(size_average, reduce, reduction)
        else:
            self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        options = {name: getattr(self, name) for name in self._options}
        fn = getattr(F, self._functional)
        return fn(input, target, reduction=self.reduction, **options)


class _WeightedLoss(_Loss):
    _options = ("weight",)

    def __init__(self, weight: Tensor | None = None, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class _MarginLoss(_Loss):
    """A loss whose one option is its margin (CosineEmbeddingLoss, MarginRankingLoss, ...)."""

    __constants__ = ("margin", "reduction")
    _options = ("margin",)

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of class indices, given log-probabilities."""

    __constants__ = ("ignore_index", "reduction")
    _functional = "nll_loss"
    _options = ("weight", "ignore_index")

    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
                 reduce=None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index


class NLLLoss2d(NLLLoss):
    """Deprecated alias of NLLLoss."""


class PoissonNLLLoss(_Loss):
    """Negative log-likelihood of a Poisson target."""

    __constants__ = ("log_input", "full", "eps", "reduction")

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None,
                 eps: float = 1e-8, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input: Tensor, target: Tensor) -> Tensor:
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Negative log-likelihood of a Gaussian target with predicted variance."""

    __constants__ = ("full", "eps", "reduction")

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        self.full = full
        self.eps = eps

    def forward(self, input: Tensor, target: Tensor, var) -> Tensor:
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence; input holds log-probabilities."""

    _functional = "kl_div"
    _options = ("log_target",)

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits (sigmoid folded in, numerically stable)."""

    _functional = "binary_cross_entropy_with_logits"
    _options = ("weight", "pos_weight")

    def __init__(self, weight: Tensor | None = None, size_average=None, reduce=None,
                 reduction: str = "mean", pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)


class HingeEmbeddingLoss(_MarginLoss):
    """x for y = 1, max(0, margin - x) for y = -1."""

    _functional = "hinge_embedding_loss"

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(margin, size_average, reduce, reduction)


class SmoothL1Loss(_Loss):
    """Squared error below beta, absolute error above."""

    _functional = "smooth_l1_loss"
    _options = ("beta",)

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta


class HuberLoss(_Loss):
    """Squared error below delta, delta-scaled absolute error above."""

    __constants__ = ("reduction", "delta")
    _functional = "huber_loss"
    _options = ("delta",)

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits against class indices or probabilities (softmax folded in)."""

    __constants__ = ("ignore_index", "reduction", "label_smoothing")
    _functional = "cross_entropy"
    _options = ("weight", "ignore_index", "label_smoothing")

    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
                 reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing


class _PairMarginLoss(_MarginLoss):
    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        fn = getattr(F, self._functional)
        return fn(input1, input2, target, margin=self.margin, reduction=self.reduction)


# the losses that are their functional of the inputs with the base's settings, nothing more
(L1Loss, MSELoss, MultiLabelMarginLoss, SoftMarginLoss, BCELoss, MultiLabelSoftMarginLoss,
 CosineEmbeddingLoss, MarginRankingLoss) = _functional_classes(
    ("L1Loss", _Loss, "l1_loss", "Mean absolute error."),
    ("MSELoss", _Loss, "mse_loss", "Mean squared error."),
    ("MultiLabelMarginLoss", _Loss, "multilabel_margin_loss",
     "Multi-label hinge loss over class-index targets ended by -1."),
    ("SoftMarginLoss", _Loss, "soft_margin_loss", "log(1 + exp(-y x))."),
    ("BCELoss", _WeightedLoss, "binary_cross_entropy", "Binary cross-entropy of probabilities."),
    ("MultiLabelSoftMarginLoss", _WeightedLoss, "multilabel_soft_margin_loss",
     "Per-class logistic loss averaged over classes."),
    ("CosineEmbeddingLoss", _PairMarginLoss, "cosine_embedding_loss",
     "1 - cos for similar pairs, max(0, cos - margin) for dissimilar ones."),
    ("MarginRankingLoss", _PairMarginLoss, "margin_ranking_loss",
     "max(0, -y (x1 - x2) + margin)."))


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss."""

    __constants__ = ("p", "margin", "reduction")
    _functional = "multi_margin_loss"
    _options = ("p", "margin", "weight")

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                 size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if p != 1 and p != 2:
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and weight.dim() != 1:
            raise ValueError(f"MultiMarginLoss: expected weight to be None or 1D tensor, got "
                             f"{weight.dim()}D instead")
        self.p = p
        self.margin = margin


class _TripletLoss(_MarginLoss):
    """A positive margin (the error names the loss ``name``) and the ``swap`` flag."""

    def __init__(self, name: str, margin: float, swap: bool, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        if margin <= 0:
            raise ValueError(f"{name}: expected margin to be greater than 0, got {margin} "
                             "instead")
        super().__init__(margin, size_average, reduce, reduction)
        self.swap = swap


class TripletMarginLoss(_TripletLoss):
    """max(d(a, p) - d(a, n) + margin, 0)."""

    __constants__ = ("margin", "p", "eps", "swap", "reduction")

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__("TripletMarginLoss", margin, swap, size_average, reduce, reduction)
        self.p = p
        self.eps = eps

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap, reduction=self.reduction)


class PairwiseDistance(Module):
    """||x1 - x2 + eps||_p over the last dim."""

    __constants__ = ("norm", "eps", "keepdim")

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class CosineSimilarity(Module):
    """Cosine similarity along ``dim``."""

    __constants__ = ("dim", "eps")

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class TripletMarginWithDistanceLoss(_TripletLoss):
    """Triplet loss with a custom distance function."""

    __constants__ = ("margin", "swap", "reduction")

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False,
                 reduction: str = "mean") -> None:
        super().__init__("TripletMarginWithDistanceLoss", margin, swap, reduction=reduction)
        self.distance_function = (distance_function if distance_function is not None
                                  else PairwiseDistance())

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_with_distance_loss(anchor, positive, negative,
                                                   distance_function=self.distance_function,
                                                   margin=self.margin, swap=self.swap,
                                                   reduction=self.reduction)


class CTCLoss(_Loss):
    """Connectionist Temporal Classification loss."""

    __constants__ = ("blank", "reduction")

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs: Tensor, targets: Tensor, input_lengths, target_lengths) -> Tensor:
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                          self.reduction, self.zero_infinity)
