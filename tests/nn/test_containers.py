"""Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict."""
from collections import OrderedDict

import numpy as np
import pytest
from helpers import needs_torch, torch

import ember
from ember import nn


def test_sequential_indexing_slicing_and_mutation():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and s[-3] is a
    sub = s[1:]
    assert type(sub) is nn.Sequential and list(sub) == [b, c]
    assert list(sub._modules) == ["1", "2"]  # a slice keeps the original names
    with pytest.raises(IndexError, match="index 3 is out of range"):
        s[3]
    assert list(iter(s)) == [a, b, c]
    d = nn.Tanh()
    assert s.append(d) is s and s[3] is d
    s.insert(1, nn.Identity())
    assert [type(m).__name__ for m in s] == ["Linear", "Identity", "ReLU", "Linear", "Tanh"]
    assert list(s._modules) == ["0", "1", "2", "3", "4"]
    s.extend([nn.Sigmoid()])
    del s[1]
    assert list(s._modules) == ["0", "1", "2", "3", "4"]
    assert type(s[1]) is nn.ReLU
    s[1] = nn.ELU()
    assert type(s[1]) is nn.ELU
    assert s.pop(-1).__class__ is nn.Sigmoid and len(s) == 4
    s2 = s + nn.Sequential(nn.ReLU())
    assert len(s2) == 5
    assert len(nn.Sequential(nn.ReLU()) * 3) == 3
    with pytest.raises(IndexError, match="Index out of range: 9"):
        s.insert(9, nn.ReLU())


def test_sequential_ordered_dict_and_forward():
    s = nn.Sequential(OrderedDict([("fc", nn.Linear(4, 3)), ("act", nn.ReLU())]))
    assert s.fc is s[0] and list(s._modules) == ["fc", "act"]
    x = ember.randn(5, 4)
    np.testing.assert_allclose(s(x).detach().numpy(), s.act(s.fc(x)).detach().numpy())
    assert [n for n, _ in s.named_parameters()] == ["fc.weight", "fc.bias"]
    assert s(ember.randn(4)).shape == (3,)


@needs_torch
def test_container_reprs_match_torch():
    relu = nn.ReLU()
    trelu = torch.nn.ReLU()
    pairs = [
        (nn.Sequential(nn.Linear(784, 256), relu, nn.Linear(256, 256), relu, nn.Linear(256, 10)),
         torch.nn.Sequential(torch.nn.Linear(784, 256), trelu, torch.nn.Linear(256, 256), trelu,
                             torch.nn.Linear(256, 10))),
        (nn.Sequential(), torch.nn.Sequential()),
        (nn.ModuleList(), torch.nn.ModuleList()),
        (nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)]),
         torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.ReLU(),
                              torch.nn.Linear(2, 2)])),
        (nn.ModuleDict({"b": nn.Linear(1, 2), "a": nn.ReLU()}),
         torch.nn.ModuleDict({"b": torch.nn.Linear(1, 2), "a": torch.nn.ReLU()})),
        (nn.Sequential(nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU())), nn.Tanh()),
         torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(1, 1),
                                                 torch.nn.Sequential(torch.nn.ReLU())),
                             torch.nn.Tanh())),
    ]
    for e, t in pairs:
        assert repr(e) == repr(t)
    ep = nn.ParameterList([nn.Parameter(ember.ones(2, 3)), ember.zeros(2)])
    tp = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2, 3)), torch.zeros(2)])
    assert repr(ep) == repr(tp).replace("torch.float32", "ember.float32")
    ed = nn.ParameterDict({"b": nn.Parameter(ember.ones(2, 3)), "a": ember.zeros(2)})
    td = torch.nn.ParameterDict({"b": torch.nn.Parameter(torch.ones(2, 3)), "a": torch.zeros(2)})
    assert repr(ed) == repr(td).replace("torch.", "ember.")


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and isinstance(ml[1:], nn.ModuleList) and len(ml[1:]) == 2
    assert len(list(ml.parameters())) == 6
    ml.append(nn.ReLU())
    ml.insert(0, nn.Tanh())
    assert type(ml[0]) is nn.Tanh and type(ml[-1]) is nn.ReLU
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2", "3"]
    ml += [nn.Sigmoid()]
    assert len(ml) == 5
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
        ml.extend(3)
    md = nn.ModuleDict([("x", nn.ReLU()), ("y", nn.Linear(1, 1))])
    assert list(md.keys()) == ["x", "y"] and "x" in md and len(md) == 2
    md["z"] = nn.Tanh()
    assert list(md) == ["x", "y", "z"]
    assert type(md.pop("x")) is nn.ReLU
    assert [n for n, _ in md.named_parameters()] == ["y.weight", "y.bias"]
    md.clear()
    assert len(md) == 0


def test_parameter_list_and_dict():
    pl = nn.ParameterList([ember.ones(2), nn.Parameter(ember.zeros(3))])
    assert all(isinstance(p, nn.Parameter) for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
    pl.append(ember.ones(1))
    assert len(pl) == 3 and pl[-1].shape == (1,)
    assert len(pl[1:]) == 2
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        pl(1)
    pd = nn.ParameterDict({"w": ember.ones(2), "a": ember.zeros(1)})
    assert list(pd) == ["a", "w"]  # a plain dict is taken in sorted order, as PyTorch does
    pd["b"] = ember.ones(3)
    assert isinstance(pd["b"], nn.Parameter) and "b" in pd and len(pd) == 3
    assert [n for n, _ in pd.named_parameters()] == ["a", "w", "b"]
    assert pd.get("zz") is None
    pd.pop("a")
    assert list(pd.keys()) == ["w", "b"]
    with pytest.raises(TypeError, match="Index given to ParameterDict cannot be used as a key"):
        pd[1]
