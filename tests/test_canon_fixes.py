"""Behaviour that public PyTorch programs (pytorch/examples, the tutorials) print or rely on."""
from __future__ import annotations

import ember


def _names(node):
    return [None if n is None else n.name() for n, _ in node.next_functions]


def test_reflected_mul_add_put_the_tensor_first():
    # a tutorial walks d = 2 * sin(a) + 1 back through next_functions
    a = ember.ones(3, requires_grad=True)
    b = ember.sin(a)
    c = 2 * b
    d = c + 1
    e = 1 + c
    assert _names(c.grad_fn) == ["SinBackward0", None]
    assert _names(d.grad_fn) == ["MulBackward0", None]
    assert _names(e.grad_fn) == ["MulBackward0", None]
    assert ember.equal(d, e) and ember.equal(c, b * 2)


def test_linear_graph_is_addmm_of_bias_input_and_transposed_weight():
    lin = ember.nn.Linear(3, 2)
    x = ember.ones(4, 3, requires_grad=True) * 2
    out = lin(x)
    node = out.grad_fn
    assert node.name() == "AddmmBackward0"
    assert _names(node) == ["torch::autograd::AccumulateGrad", "MulBackward0", "TBackward0"]
    assert node.next_functions[0][0].variable is lin.bias
    t = node.next_functions[2][0]
    assert "TBackward0 object at" in repr(t)
    assert t.next_functions[0][0].variable is lin.weight
    nob = ember.nn.functional.linear(x, lin.weight).grad_fn
    assert nob.name() == "MmBackward0" and _names(nob) == ["MulBackward0", "TBackward0"]
    # a frozen weight has no edge, and the gradients still flow
    lin.weight.requires_grad_(False)
    assert _names(lin(x).grad_fn)[2] is None
    lin(x).sum().backward()
    assert lin.bias.grad.tolist() == [4.0, 4.0]
