"""nn.utils.prune against torch: masks (seeded), state_dict keys, hooks, remove, global pruning."""
import numpy as np
import pytest
from helpers import needs_torch, torch

if torch is not None:
    import torch.nn.utils.prune  # noqa: F401  (a submodule torch does not import itself)

import ember
import ember.nn as nn
from ember.nn.utils import prune


def _pair(make):
    ember.manual_seed(0)
    e = make(nn)
    torch.manual_seed(0)
    t = make(torch.nn)
    return e, t


def _same(e, t):
    assert list(e.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        np.testing.assert_allclose(e.state_dict()[k].numpy(), v.numpy(), atol=1e-6, err_msg=k)
    np.testing.assert_allclose(e.weight.detach().numpy(), t.weight.detach().numpy(), atol=1e-6)


@needs_torch
def test_iterative_pruning_matches_torch():
    e, t = _pair(lambda n: n.Conv2d(3, 6, 3))
    steps = [("random_unstructured", ("weight", 0.3)), ("l1_unstructured", ("bias", 3)),
             ("ln_structured", ("weight", 0.5, 2, 0)), ("random_structured", ("weight", 2, 1))]
    for fn, args in steps:
        getattr(prune, fn)(e, *args)
        getattr(torch.nn.utils.prune, fn)(t, *args)
        _same(e, t)
    assert [type(h).__name__ for h in e._forward_pre_hooks.values()] == \
        [type(h).__name__ for h in t._forward_pre_hooks.values()]
    container = list(e._forward_pre_hooks.values())[-1]
    assert isinstance(container, prune.PruningContainer) and len(container) == 3
    x = np.random.default_rng(0).standard_normal((1, 3, 5, 5)).astype(np.float32)
    ye, yt = e(ember.tensor(x)), t(torch.tensor(x))
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(e.weight_orig.grad.numpy(), t.weight_orig.grad.numpy(), atol=1e-5)
    assert prune.is_pruned(e)
    prune.remove(e, "weight")
    torch.nn.utils.prune.remove(t, "weight")
    _same(e, t)
    assert isinstance(e.weight, nn.Parameter)
    with pytest.raises(ValueError, match="Parameter 'weight' of module .* has to be pruned before "
                                         "pruning can be removed"):
        prune.remove(e, "weight")


@needs_torch
def test_global_unstructured_matches_torch():
    e, t = _pair(lambda n: n.Sequential(n.Linear(4, 5), n.Linear(5, 3)))
    prune.global_unstructured([(e[0], "weight"), (e[1], "weight")],
                              pruning_method=prune.L1Unstructured, amount=0.4)
    torch.nn.utils.prune.global_unstructured([(t[0], "weight"), (t[1], "weight")],
                                             pruning_method=torch.nn.utils.prune.L1Unstructured,
                                             amount=0.4)
    for a, b in zip(e, t):
        np.testing.assert_array_equal(a.weight_mask.numpy(), b.weight_mask.numpy())
    assert int((e[0].weight_mask == 0).sum() + (e[1].weight_mask == 0).sum()) == 14


def test_custom_mask_identity_and_errors():
    m = nn.Linear(3, 2)
    prune.custom_from_mask(m, "weight", mask=ember.tensor([[1.0, 0, 1], [0, 1, 1]]))
    assert float((m.weight == 0).sum()) == 2
    prune.identity(m, "bias")
    assert float(m.bias_mask.sum()) == 2
    with pytest.raises(ValueError, match="amount=7 should be smaller than the number of "
                                         "parameters to prune=6"):
        prune.l1_unstructured(nn.Linear(3, 2), "weight", amount=7)
    with pytest.raises(ValueError, match="amount=1.5 should either be a float in the range"):
        prune.l1_unstructured(nn.Linear(3, 2), "weight", amount=1.5)
    with pytest.raises(ValueError, match="Structured pruning can only be applied to "
                                         "multidimensional tensors"):
        prune.ln_structured(nn.Linear(3, 2), "bias", amount=1, n=1, dim=0)
    pruned = prune.L1Unstructured(amount=2).prune(ember.tensor([3.0, -1.0, 2.0, 0.5]))
    np.testing.assert_array_equal(pruned.numpy(), [3.0, 0.0, 2.0, 0.0])
