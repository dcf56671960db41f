"""The graph as PyTorch shows it: ``grad_fn.next_functions``, which names a leaf's
AccumulateGrad node. The engine needs no such node (it writes a leaf's ``.grad`` itself); these
objects exist for code that walks the graph (torchviz-style printers, ember.doctor), and this
module gives Function the property."""
from __future__ import annotations

import weakref

from .._tensor import Tensor
from ..autograd.function import Function


class AccumulateGrad:
    """The node a leaf's gradient flows into (what ``next_functions`` shows for a leaf)."""

    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "torch::autograd::AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"


def _edge_node(target):
    """The node an edge points at; a leaf's AccumulateGrad lives as long as someone holds it."""
    if not isinstance(target, Tensor):
        return target
    ref = target.__dict__.get("_acc")
    acc = ref() if ref is not None else None
    if acc is None:
        acc = AccumulateGrad(target)
        target._acc = weakref.ref(acc)
    return acc


def _next_functions(node):
    """((node, output number) or (None, 0), ...): where each input's grad goes."""
    return tuple((None, 0) if e is None else (_edge_node(e[0]), e[1]) for e in node._next)


Function.next_functions = property(_next_functions)
