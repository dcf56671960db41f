"""nn.Module: registration, naming, iteration, modes, conversions, state_dict, hooks, pickling."""
import copy
import io
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest
from helpers import needs_torch, torch

import ember
from ember import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(3, 2)
        self.scale = nn.Parameter(ember.ones(1))
        self.register_buffer("steps", ember.zeros(()))
        self.register_buffer("cache", ember.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


class TNet(torch.nn.Module if torch is not None else object):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 3)
        self.act = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(3, 2)
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.register_buffer("steps", torch.zeros(()))
        self.register_buffer("cache", torch.zeros(2), persistent=False)


def test_setattr_routes_into_the_three_dicts():
    m = Net()
    assert list(m._parameters) == ["scale"]
    assert list(m._buffers) == ["steps", "cache"]
    assert list(m._modules) == ["fc1", "act", "fc2"]
    assert "fc1" not in m.__dict__ and "scale" not in m.__dict__
    assert m.fc1 is m._modules["fc1"] and m.scale is m._parameters["scale"]
    # reassigning a name moves it between the dicts
    m.cache = nn.Linear(1, 1)
    assert "cache" in m._modules and "cache" not in m._buffers
    assert "cache" not in m._non_persistent_buffers_set
    with pytest.raises(TypeError, match="cannot assign 'ember.nn.modules.linear.Linear' as parameter"):
        m.scale = nn.Linear(1, 1)
    m.fc1 = None
    assert m._modules["fc1"] is None
    m.steps = ember.ones(())
    assert m._buffers["steps"].item() == 1.0
    m.plain = 3
    assert m.__dict__["plain"] == 3
    del m.fc2, m.steps, m.plain
    assert "fc2" not in m._modules and "steps" not in m._buffers and not hasattr(m, "plain")
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'nope'"):
        m.nope


def test_assignment_errors():
    m = Net()
    with pytest.raises(TypeError, match=r"cannot assign '.*Tensor' as parameter 'scale' \(torch.nn.Parameter or None expected\)"):
        m.scale = ember.ones(1)
    with pytest.raises(TypeError, match=r"cannot assign 'int' as child module 'fc1' \(torch.nn.Module or None expected\)"):
        m.fc1 = 3
    with pytest.raises(TypeError, match=r"cannot assign 'str' as buffer 'steps'"):
        m.steps = "x"
    with pytest.raises(KeyError, match="attribute 'fc1' already exists"):
        m.register_parameter("fc1", nn.Parameter(ember.ones(1)))
    with pytest.raises(KeyError, match="parameter name can"):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError, match=r"object to parameter 'w' \(torch.nn.Parameter or None required\)"):
        m.register_parameter("w", nn.Parameter(ember.ones(1)) * 2)

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ember.ones(1))

    with pytest.raises(AttributeError, match=r"cannot assign parameters before Module.__init__\(\) call"):
        Early()
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward" function'):
        nn.Module()(1)


@needs_torch
def test_names_and_order_match_torch():
    em, tm = Net(), TNet()
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in em.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [n for n, _ in em.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in em.named_children()] == [n for n, _ in tm.named_children()]
    assert [n for n, _ in em.named_parameters(prefix="net", recurse=False)] == \
        [n for n, _ in tm.named_parameters(prefix="net", recurse=False)]
    assert list(em.state_dict()) == list(tm.state_dict())
    assert [tuple(v.shape) for v in em.state_dict().values()] == \
        [tuple(v.shape) for v in tm.state_dict().values()]
    assert len(list(em.parameters())) == 5 and len(list(em.buffers())) == 2
    assert len(list(em.modules())) == 4


def test_shared_modules_and_parameters_counted_once():
    relu = nn.ReLU()
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, relu, lin, relu)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_parameters(remove_duplicate=False)] == \
        ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]
    assert [n for n, _ in seq.named_modules(remove_duplicate=False)] == ["", "0", "1", "2", "3"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    m = nn.Module()
    m.a = nn.Parameter(ember.ones(2))
    m.b = m.a  # a tied parameter
    assert [n for n, _ in m.named_parameters()] == ["a"]


def test_get_submodule_parameter_buffer_and_register_module():
    m = Net()
    outer = nn.Module()
    outer.add_module("net", m)
    outer.register_module("extra", nn.Identity())
    assert outer.get_submodule("net.fc1") is m.fc1
    assert outer.get_submodule("") is outer
    assert outer.get_parameter("net.fc1.weight") is m.fc1.weight
    assert outer.get_buffer("net.steps") is m.steps
    with pytest.raises(AttributeError, match="Net has no attribute `fc9`"):
        outer.get_submodule("net.fc9")
    with pytest.raises(AttributeError, match="`weight` is not an nn.Module"):
        outer.get_submodule("net.fc1.weight")
    with pytest.raises(AttributeError, match="`act` is not an nn.Parameter"):
        outer.get_parameter("net.act")
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        outer.add_module("bad", 3)
    outer.set_submodule("net.act", nn.Tanh())
    assert isinstance(m.act, nn.Tanh)


def test_train_eval_apply_requires_grad_zero_grad():
    m = Net()
    assert m.training and m.fc1.training
    assert m.eval() is m and not m.fc1.training and not m.act.training
    assert m.train() is m and m.fc2.training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("yes")
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen == ["Linear", "ReLU", "Linear", "Net"]
    assert m.requires_grad_(False) is m
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    m(ember.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(float(p.grad.abs().sum()) == 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_dtype_conversions_keep_parameter_identity():
    m = Net()
    w = m.fc1.weight
    m(ember.randn(2, 4)).sum().backward()
    assert m.double() is m
    assert m.fc1.weight is w and isinstance(w, nn.Parameter) and w.dtype == ember.float64
    assert w.grad.dtype == ember.float64 and m.steps.dtype == ember.float64
    assert m.to(ember.float32) is m and w.dtype == ember.float32
    assert m.to("cpu") is m and m.cpu() is m and m.float() is m
    m.half()
    assert w.dtype == ember.float16
    m.to(dtype=ember.float32)
    m.type(ember.float64)
    assert w.dtype == ember.float64
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes"):
        m.to(ember.int64)
    with pytest.raises(RuntimeError, match="Torch not compiled with CUDA enabled"):
        m.cuda()
    with pytest.raises(AssertionError):
        m.to("cuda")
    assert m.share_memory() is m


def test_state_dict_contents():
    m = Net()
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["scale", "steps", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert "cache" not in sd  # non-persistent
    assert not sd["fc1.weight"].requires_grad and sd["fc1.weight"].grad_fn is None
    assert type(sd["fc1.weight"]) is ember.Tensor
    # detached, but sharing storage with the parameter
    assert np.shares_memory(sd["fc1.weight"].numpy(), m.fc1.weight.detach().numpy())
    kv = m.state_dict(keep_vars=True)
    assert kv["fc1.weight"] is m.fc1.weight
    assert list(m.state_dict(prefix="model.")) == ["model." + k for k in sd]
    assert sd._metadata[""]["version"] == 1


def test_load_state_dict_roundtrip_and_return_value():
    a, b = Net(), Net()
    w = b.fc1.weight
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    assert b.fc1.weight is w  # copied in place
    np.testing.assert_array_equal(b.fc1.weight.detach().numpy(), a.fc1.weight.detach().numpy())
    sd = a.state_dict()
    del sd["fc2.bias"]
    sd["extra.weight"] = ember.ones(1)
    res = b.load_state_dict(sd, strict=False)  # reports instead of raising
    assert res.missing_keys == ["fc2.bias"] and res.unexpected_keys == ["extra.weight"]
    assert repr(res) == ("_IncompatibleKeys(missing_keys=['fc2.bias'], "
                         "unexpected_keys=['extra.weight'])")
    # assign=True takes the checkpoint's tensors as the parameters
    sd = a.state_dict()
    b.load_state_dict(sd, assign=True)
    assert isinstance(b.fc1.weight, nn.Parameter) and b.fc1.weight.requires_grad
    assert np.shares_memory(b.fc1.weight.detach().numpy(), a.fc1.weight.detach().numpy())


@needs_torch
def test_load_state_dict_errors_match_torch():
    em, tm = Net(), TNet()

    def both(mutate):
        esd, tsd = em.state_dict(), tm.state_dict()
        mutate(esd, ember)
        mutate(tsd, torch)
        with pytest.raises(RuntimeError) as te:
            tm.load_state_dict(tsd)
        with pytest.raises(RuntimeError) as ee:
            em.load_state_dict(esd)
        return str(ee.value), str(te.value).replace("TNet", "Net")

    def missing_unexpected(sd, lib):
        del sd["fc1.bias"]
        sd["fc3.weight"] = lib.ones(1)
        sd["bogus"] = lib.ones(1)

    def size_mismatch(sd, lib):
        sd["fc1.weight"] = lib.ones(5, 4)
        sd["fc2.bias"] = lib.ones(3)

    for mutate in (missing_unexpected, size_mismatch):
        e, t = both(mutate)
        assert e == t.replace("torch.Size", "ember.Size")
    e, _ = both(size_mismatch)
    assert e.startswith("Error(s) in loading state_dict for Net:\n\tsize mismatch for fc1.weight: "
                        "copying a param with shape ember.Size([5, 4]) from checkpoint, the shape "
                        "in current model is ember.Size([3, 4]).")
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        em.load_state_dict([1, 2])


@needs_torch
def test_state_dict_loads_into_torch_and_back():
    em, tm = Net(), TNet()
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in em.state_dict().items()})
    for (n, p), (tn, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert n == tn
        np.testing.assert_array_equal(p.detach().numpy(), tp.detach().numpy())
    em2 = Net()
    em2.load_state_dict({k: ember.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    np.testing.assert_array_equal(em2.fc2.weight.detach().numpy(), em.fc2.weight.detach().numpy())


def test_save_and_load_state_dict_with_ember_serialization(tmp_path):
    m = Net()
    path = tmp_path / "net.pt"
    ember.save(m.state_dict(), path)
    m2 = Net()
    assert m2.load_state_dict(ember.load(path)).missing_keys == []
    for p, q in zip(m.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    buf = io.BytesIO()
    ember.save(m.state_dict(), buf)
    buf.seek(0)
    m2.load_state_dict(ember.load(buf))


def test_deepcopy_and_pickle():
    m = Net()
    m(ember.randn(2, 4)).sum().backward()
    c = copy.deepcopy(m)
    assert type(c) is Net and c.fc1 is not m.fc1
    assert isinstance(c.fc1.weight, nn.Parameter) and c.fc1.weight.requires_grad
    assert c.fc1.weight is not m.fc1.weight
    assert not np.shares_memory(c.fc1.weight.detach().numpy(), m.fc1.weight.detach().numpy())
    np.testing.assert_array_equal(c.fc1.weight.detach().numpy(), m.fc1.weight.detach().numpy())
    assert list(c.state_dict()) == list(m.state_dict())
    # shared modules stay shared in the copy
    relu = nn.ReLU()
    s = copy.deepcopy(nn.Sequential(nn.Linear(2, 2), relu, relu))
    assert s[1] is s[2]
    p = pickle.loads(pickle.dumps(m))
    assert type(p.fc2.weight) is nn.Parameter
    np.testing.assert_array_equal(p.fc2.weight.detach().numpy(), m.fc2.weight.detach().numpy())
    assert p(ember.randn(3, 4)).shape == (3, 2)


def test_forward_hooks():
    m = nn.Linear(3, 2)
    calls = []

    def pre(mod, args):
        calls.append("pre")
        return (args[0] * 0,)

    def post(mod, args, out):
        calls.append("post")
        return out + 1

    h1 = m.register_forward_pre_hook(pre)
    h2 = m.register_forward_hook(post)
    out = m(ember.randn(4, 3))
    assert calls == ["pre", "post"]
    np.testing.assert_allclose(out.detach().numpy(), (m.bias + 1).detach().numpy()[None].repeat(4, 0),
                               rtol=1e-6)
    h1.remove()
    h2.remove()
    calls.clear()
    m(ember.randn(4, 3))
    assert calls == []

    def kw_pre(mod, args, kwargs):
        return (args[0] + 1,), kwargs

    with m.register_forward_pre_hook(kw_pre, with_kwargs=True):
        y = m(ember.zeros(1, 3))
    np.testing.assert_allclose(y.detach().numpy(), m(ember.ones(1, 3)).detach().numpy())


@needs_torch
def test_full_backward_hook_matches_torch():
    em, tm = nn.Linear(3, 2).double(), torch.nn.Linear(3, 2).double()
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in em.state_dict().items()})
    got = {}
    em.register_full_backward_hook(lambda mod, gi, go: got.update(e=(gi, go)))
    tm.register_full_backward_hook(lambda mod, gi, go: got.update(t=(gi, go)))
    x = np.random.default_rng(0).standard_normal((4, 3))
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (em(xe) ** 2).sum().backward()
    (tm(xt) ** 2).sum().backward()
    (egi, ego), (tgi, tgo) = got["e"], got["t"]
    np.testing.assert_allclose(egi[0].numpy(), tgi[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(ego[0].numpy(), tgo[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    # a hook may replace grad_input
    m = nn.Linear(3, 2)
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0,))
    x = ember.randn(2, 3, requires_grad=True)
    m(x).sum().backward()
    assert float(x.grad.abs().sum()) == 0.0


@needs_torch
def test_repr_matches_torch_for_nested_modules():
    class Block(nn.Module):
        def __init__(self, lib):
            super().__init__()
            self.body = lib.Sequential(lib.Linear(4, 4), lib.ReLU(), lib.Dropout(0.1))
            self.head = lib.Linear(4, 2, bias=False)

    class TBlock(torch.nn.Module):
        def __init__(self, lib):
            super().__init__()
            self.body = lib.Sequential(lib.Linear(4, 4), lib.ReLU(), lib.Dropout(0.1))
            self.head = lib.Linear(4, 2, bias=False)

    e, t = Block(nn), TBlock(torch.nn)
    assert repr(e).replace("Block", "X") == repr(t).replace("TBlock", "X")
    assert repr(nn.Module()) == "Module()"
    assert str(e) == repr(e)


def test_dir_and_get_name():
    m = Net()
    d = dir(m)
    for name in ("fc1", "scale", "steps", "forward", "training"):
        assert name in d
    assert m._get_name() == "Net"


def test_extra_state_roundtrip():
    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.counter = 0

        def get_extra_state(self):
            return {"counter": self.counter}

        def set_extra_state(self, state):
            self.counter = state["counter"]

    a = WithState()
    a.counter = 7
    sd = a.state_dict()
    assert sd["_extra_state"] == {"counter": 7}
    b = WithState()
    b.load_state_dict(sd)
    assert b.counter == 7


def test_parameter_basics():
    p = nn.Parameter(ember.randn(2, 3))
    assert isinstance(p, nn.Parameter) and isinstance(p, ember.Tensor)
    assert p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor(")
    q = nn.Parameter(ember.ones(2), requires_grad=False)
    assert not q.requires_grad
    e = nn.Parameter()
    assert e.shape == (0,) and e.dtype == ember.float32
    y = p * 2
    assert type(y) is ember.Tensor and not isinstance(y, nn.Parameter)
    c = copy.deepcopy(p)
    assert type(c) is nn.Parameter and c is not p
    r = pickle.loads(pickle.dumps(q))
    assert type(r) is nn.Parameter and not r.requires_grad
    t = ember.ones(3)
    shared = nn.Parameter(t)
    shared.data.add_(1)
    np.testing.assert_array_equal(t.numpy(), [2.0, 2.0, 2.0])  # a Parameter shares its data
    b = nn.Buffer(ember.zeros(2))
    assert isinstance(b, nn.Buffer)
    assert not isinstance(ember.zeros(2), nn.Buffer)
    m = nn.Module()
    m.stat = nn.Buffer(ember.zeros(2), persistent=False)
    assert "stat" in m._buffers and "stat" in m._non_persistent_buffers_set


def test_module_forward_fast_path_has_no_overhead_beyond_forward():
    m = nn.ReLU()
    x = ember.randn(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m(x).shape == (3,)
