"""Tensor: properties, Python protocols, pickling and copying, devices, threads, denormals."""
from __future__ import annotations

import copy
import pickle
import platform

import numpy as np
import pytest

import ember
from tests.helpers import needs_torch, torch


def test_properties():
    x = ember.arange(6, dtype=ember.float32).reshape(2, 3)
    assert x.shape == (2, 3) and isinstance(x.shape, ember.Size)
    assert repr(x.shape) == "ember.Size([2, 3])" and x.size() == ember.Size([2, 3])
    assert x.size(1) == 3 and x.size(-1) == 3 and x.dim() == x.ndim == 2
    assert x.numel() == 6 and x.nelement() == 6 and x.element_size() == 4 and x.nbytes == 24
    assert x.dtype is ember.float32 and x.is_floating_point() and not x.is_complex()
    assert x.device == ember.device("cpu") and x.is_cpu and not x.is_cuda
    assert x.is_leaf and not x.requires_grad and x.grad_fn is None and x.grad is None
    assert x.stride() == (3, 1) and x.is_contiguous() and x.get_device() == -1
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of "
                                         r"\[-2, 1\], but got 2\)"):
        x.size(2)
    s = ember.Size([2, 3, 4])
    assert s.numel() == 24 and isinstance(s[1:], ember.Size) and s[0] == 2
    assert s + (5,) == (2, 3, 4, 5) and isinstance(s + (5,), ember.Size)
    assert pickle.loads(pickle.dumps(s)) == s


@needs_torch
def test_python_protocols_match_torch():
    def run(T):
        out = []
        t = T.tensor(3.14159265)
        out.append(f"{t:.9f}")
        out.append(f"{t.item():.4f}")
        out.append("%f" % float(T.tensor(2.5)))  # noqa: UP031 - the seed's form
        out.append(format(T.tensor(7)))
        out.append(bool(T.tensor(0.5) < 1) and not bool(T.tensor([0.0])))
        out.append(int(T.tensor([3.7])) + float(T.tensor(0.5)))
        out.append(len(T.ones(4, 2)))
        out.append([1, 2, 3][T.tensor(1)])
        out.append(T.tensor(2) in T.tensor([1, 2]))
        out.append([r.tolist() for r in T.tensor([[1, 2], [3, 4]])])
        out.append([type(r).__name__ + str(r.dim()) for r in T.tensor([1.0, 2.0])])
        out.append(complex(T.tensor(1.5)))
        return out

    assert run(ember) == run(torch)


@needs_torch
def test_protocol_errors_match_torch():
    cases = [
        lambda T: bool(T.tensor([1, 2])), lambda T: bool(T.tensor([])),
        lambda T: len(T.tensor(1.0)), lambda T: iter(T.tensor(1.0)),
        lambda T: [1, 2][T.tensor(1.0)], lambda T: [1, 2][T.tensor([1, 1])],
        lambda T: float(T.tensor([1.0, 2.0])), lambda T: f"{T.tensor([1.0]):.2f}",
        lambda T: T.tensor([1.0]).item() + T.tensor([1.0, 2.0]).item(),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(Exception) as te:
            case(torch)
        with pytest.raises(type(te.value)) as ee:
            case(ember)
        assert str(ee.value) == str(te.value), i


def test_array_protocol():
    x = ember.tensor([1.0, 2.0])
    a = np.asarray(x)
    assert a is x.numpy()  # no copy
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert np.array(x, copy=True) is not x.numpy()
    with pytest.raises(RuntimeError, match="Use tensor.detach"):
        np.asarray(ember.ones(2, requires_grad=True))
    assert np.asarray(ember.ones(2, requires_grad=True).detach()).tolist() == [1.0, 1.0]


def test_iteration_rows_are_views():
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = list(x)
    rows[1] += 10
    assert x.tolist() == [[1.0, 2.0], [13.0, 14.0]]
    assert x._version == 1  # the views share the version counter
    w, b = ember.tensor([2.0, 3.0])
    assert w.dim() == 0 and w.item() == 2.0 and b.item() == 3.0


def test_hash_is_identity():
    a, b = ember.ones(2), ember.ones(2)
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b" and len({a, b, a}) == 2


def test_pickle_and_deepcopy():
    x = ember.tensor([[1.0, 2.0]], requires_grad=True)
    y = pickle.loads(pickle.dumps(x))
    assert y.tolist() == x.tolist() and y.requires_grad and y.is_leaf and y.dtype is ember.float32
    x.grad = ember.ones(1, 2)
    z = copy.deepcopy(x)
    assert z is not x and z.requires_grad and z.grad.tolist() == [[1.0, 1.0]]
    z.detach().add_(1)
    assert x.tolist() == [[1.0, 2.0]]  # a real copy
    pair = copy.deepcopy([x, x])
    assert pair[0] is pair[1]  # the memo is honoured
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy(x * 2)
    i = pickle.loads(pickle.dumps(ember.tensor([1, 2], dtype=ember.int16)))
    assert i.dtype is ember.int16


def test_subclass_attributes_survive_pickle_and_deepcopy():
    class Tagged(ember.Tensor):
        pass

    t = ember.Tensor._make_subclass(Tagged, ember.ones(2)) if hasattr(
        ember.Tensor, "_make_subclass") else None
    if t is None:
        from ember._tensor import _rebuild

        t = _rebuild(Tagged, np.ones(2, np.float32), False)
    t.tag = "hello"
    c = copy.deepcopy(t)
    assert type(c) is Tagged and c.tag == "hello"
    assert "_grad" not in c.__dict__


def test_grad_related_properties():
    x = ember.ones(2, requires_grad=True)
    assert x.requires_grad and x.is_leaf
    x.requires_grad = False
    assert not x.requires_grad
    assert x.requires_grad_() is x and x.requires_grad
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad
    y.requires_grad = True  # allowed on non-leaves
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf "
                                           "variables"):
        y.requires_grad = False


def test_devices():
    assert repr(ember.device("cpu")) == "device(type='cpu')"
    assert str(ember.device("cuda:1")) == "cuda:1" and ember.device("cuda", 0).index == 0
    assert ember.device("cpu") == ember.device("cpu") and ember.device("cpu") != "cpu"
    with pytest.raises(RuntimeError, match="Expected one of"):
        ember.device("gpu")
    x = ember.ones(2)
    assert x.cpu() is x and x.to(ember.device("cpu")) is x
    assert ember.zeros(2, device="cpu").device.type == "cpu"
    with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
        x.cuda()
    assert not ember.cuda.is_available() and ember.cuda.device_count() == 0
    with pytest.raises(AssertionError):
        ember.cuda.current_device()


def test_num_threads_drives_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        assert ember.get_num_threads() == 1
        infos = threadpoolctl.threadpool_info()
        blas = [i for i in infos if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == 1 for i in blas)
        with pytest.raises(RuntimeError, match="set_num_threads expects a positive integer"):
            ember.set_num_threads(0)
    finally:
        ember.set_num_threads(old)
    assert ember.get_num_threads() == old
    assert ember.get_num_interop_threads() >= 1


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="flush-to-zero is x86-64 only")
def test_set_flush_denormal():
    sub = np.float32(1e-39)
    try:
        assert ember.set_flush_denormal(True) is True
        assert np.float32(1e-39) * np.float32(1) == 0  # DAZ: the subnormal input reads as 0
        assert (np.array([1e-30], np.float32) * np.float32(1e-10)).item() == 0  # FTZ
    finally:
        assert ember.set_flush_denormal(False) is True
    assert sub * np.float32(1) != 0
    assert 0 < (np.array([1e-30], np.float32) * np.float32(1e-10)).item() < 1e-38


def test_set_flush_denormal_elsewhere_returns_false(monkeypatch):
    from ember import _denormal

    monkeypatch.setattr(_denormal, "_state", {"fns": None, "tried": False})
    monkeypatch.setattr(_denormal.platform, "machine", lambda: "arm64")
    assert ember.set_flush_denormal(True) is False
