"""AdaptiveLogSoftmaxWithLoss: a frequency-clustered softmax for large vocabularies."""
from __future__ import annotations

from collections import namedtuple

from ..._backend import xp
from ..._ops.movement import cat
from ..._tensor import Tensor, _make
from .. import functional as F
from .container import ModuleList, Sequential
from .linear import Linear
from .module import Module

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


def _long(arr) -> Tensor:
    return _make(xp.ascontiguousarray(arr, dtype=xp.int64), False, None, 0)


class AdaptiveLogSoftmaxWithLoss(Module):
    """A head over the shortlist and one token per cluster; each cluster a smaller tail softmax."""

    def __init__(self, in_features: int, n_classes: int, cutoffs, div_value: float = 4.0,
                 head_bias: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted in "
                             "an increasing order, where each value is between 1 and "
                             "n_classes-1")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        kw = {"device": device, "dtype": dtype}
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // div_value ** (i + 1))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(in_features, hsz, bias=False, **kw),
                                        Linear(hsz, osz, bias=False, **kw)))

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def forward(self, input_: Tensor, target_: Tensor) -> _ASMoutput:
        targ_dim = target_.dim()
        if targ_dim == 1:
            if input_.size(0) != target_.size(0):
                raise RuntimeError("Input and target should have the same size in the batch "
                                   "dimension.")
            if input_.dim() != 2:
                raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs "
                                   f"with size {input_.size()}")
        elif targ_dim == 0:
            if input_.dim() != 1:
                raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs "
                                   f"with size {input_.size()}")
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        batched = targ_dim > 0
        input = input_ if batched else input_.unsqueeze(0)
        tgt = xp.asarray(target_._data, xp.int64).reshape(-1)
        n = tgt.size
        if n and (tgt.min() < 0 or tgt.max() >= self.n_classes):
            raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but values "
                               f"in range [{tgt.min()}, {tgt.max()}] were found. ")
        # the head column each row reads: its own class, or its cluster's token
        head_col = tgt.copy()
        pieces, rows_in_order = [], []
        bounds = [0] + self.cutoffs
        for i in range(1, len(bounds) - 1):
            rows = xp.flatnonzero((tgt >= bounds[i]) & (tgt < bounds[i + 1]))
            if rows.size == 0:
                continue
            head_col[rows] = self.shortlist_size + i - 1
            logp = F.log_softmax(self.tail[i - 1](input.index_select(0, _long(rows))), dim=1)
            pieces.append(logp.gather(1, _long(tgt[rows, None] - bounds[i])).squeeze(1))
            rows_in_order.append(rows)
        head_logprob = F.log_softmax(self.head(input), dim=1)
        output = head_logprob.gather(1, _long(head_col[:, None])).squeeze(1)
        if pieces:
            # tail log-probs in row order: the concatenation plus zeros for shortlist rows
            order = xp.concatenate(rows_in_order)
            where = xp.full(n, order.size, xp.int64)
            where[order] = xp.arange(order.size)
            tails = cat(pieces + [output.new_zeros(1)])
            output = output + tails[_long(where)]
        loss = (-output).mean()
        if not batched:
            output = output.squeeze(0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input, head_output):
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            k = self.shortlist_size + i
            parts.append(cluster_logprob + head_logprob[:, k:k + 1])
        return cat(parts, 1)

    def log_prob(self, input: Tensor) -> Tensor:
        """log p(class | input) for every class: (N, n_classes)."""
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input: Tensor) -> Tensor:
        """The most likely class of each row (the full distribution only where needed)."""
        head_output = self.head(input)
        output = head_output.argmax(dim=1)
        outside = output >= self.shortlist_size
        if not outside.any():
            return output
        if outside.all():
            return self._get_full_log_prob(input, head_output).argmax(dim=1)
        log_prob = self._get_full_log_prob(input[outside], head_output[outside])
        output[outside] = log_prob.argmax(dim=1)
        return output
