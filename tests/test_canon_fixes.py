"""Behaviour that public PyTorch programs (pytorch/examples, the tutorials) print or rely on."""
from __future__ import annotations

import ember

from .helpers import needs_torch, torch


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


def test_profiler_records_labelled_ranges_and_prints_a_table():
    from ember.profiler import ProfilerActivity, profile, record_function, schedule

    m = ember.nn.Linear(3, 3)
    x = ember.ones(2, 3)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("model_inference"):
            with record_function("inner"):
                m(x)
    rows = {e.key: e for e in prof.key_averages()}
    assert set(rows) == {"model_inference", "inner"} and rows["inner"].count == 1
    outer = rows["model_inference"]
    assert outer.cpu_time_total >= rows["inner"].cpu_time_total
    assert abs(outer.self_cpu_time_total + rows["inner"].cpu_time_total
               - outer.cpu_time_total) < 1e-6
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=10)
    lines = table.splitlines()
    assert lines[1].split()[:4] == ["Name", "Self", "CPU", "%"]
    assert lines[3].strip().startswith("model_inference") and "100.00%" in lines[3]
    assert lines[-1].startswith("Self CPU time total: ")
    # the older API, with nothing labelled: an empty table
    with ember.autograd.profiler.profile(use_cuda=False) as prf:
        m(x)
    assert prf.key_averages().table(sort_by="self_cpu_time_total").endswith(
        "Self CPU time total: 0.000us\n")
    # a schedule: wait 1, warmup 1, active 2 -> steps 2 and 3 recorded, then handed over
    seen = []
    with profile(schedule=schedule(wait=1, warmup=1, active=2),
                 on_trace_ready=lambda p: seen.append(sorted(e.key for e in p.events()))) as p:
        for _ in range(5):
            with record_function("work"):
                m(x)
            p.step()
    assert seen[0] == ["ProfilerStep#2", "ProfilerStep#3", "work", "work"]


def test_autograd_functional_jacobian_hessian_vjp_jvp():
    from ember.autograd.functional import hessian, hvp, jacobian, jvp, vjp

    x = ember.tensor([0.5, 1.0, 2.0])
    y = ember.tensor([1.0, 2.0, 3.0])
    jx, jy = jacobian(lambda a, b: 2 * a.exp() + 3 * b, (x, y))
    assert ember.allclose(jx, ember.diag(2 * x.exp())) and ember.equal(jy, 3 * ember.eye(3))
    assert jacobian(lambda a: a.sum(), x).shape == (3,)
    h = hessian(lambda a: (a ** 3).sum(), x)
    assert ember.allclose(h, ember.diag(6 * x))
    v = ember.tensor([0.1, 1.0, 0.0001])
    out, g = vjp(lambda a: a * 8, x, v=v)
    assert ember.equal(out, x * 8) and ember.allclose(g, v * 8)
    out, jv = jvp(lambda a: a ** 2, x, v=v)
    assert ember.allclose(jv, 2 * x * v)
    _, hv = hvp(lambda a: (a ** 3).sum(), x, v)
    assert ember.allclose(hv, 6 * x * v)
    assert not g.requires_grad and not x.requires_grad


def test_torch_functional_module():
    import ember.functional as F

    a = ember.tensor([[1.0, 2.0]])
    assert ember.equal(F.einsum("ij->j", a), a[0]) and F.norm is ember.norm
    assert [t.shape for t in F.broadcast_tensors(a, ember.ones(3, 1))] == [(3, 2), (3, 2)]
    try:
        F.not_a_function
    except AttributeError as e:
        assert "not_a_function" in str(e)


@needs_torch
def test_batch_norm_float32_matches_pytorch_bit_for_bit():
    import numpy as np

    rng = np.random.RandomState(0)
    for shape in [(1, 4, 4), (8, 4), (16, 3, 5, 5), (64, 100), (4, 8, 33, 33), (1000, 7)]:
        x = (rng.rand(*shape) * 20 + 5).astype(np.float32)
        res = []
        for lib in (torch, ember):
            lib.manual_seed(0)
            bn = (lib.nn.BatchNorm1d if len(shape) < 4 else lib.nn.BatchNorm2d)(shape[1])
            lib.nn.init.uniform_(bn.weight)
            lib.nn.init.uniform_(bn.bias)
            y1, y2 = bn(lib.tensor(x)), bn(lib.tensor(x * 0.5))
            bn.eval()
            y3 = bn(lib.tensor(x))
            res.append([t.detach().numpy() for t in (y1, y2, y3, bn.running_mean, bn.running_var)])
        for a, b in zip(*res):
            np.testing.assert_array_equal(a, b)


def test_batch_norm_small_and_large_paths_agree():
    import numpy as np

    from ember.nn import _batchnorm as F

    x = ember.randn(4, 3, 50, 50) * 3 + 2
    small = F.batch_norm(x, None, None, training=True)
    old, F._BN_EXACT_SIZE = F._BN_EXACT_SIZE, 0
    try:
        large = F.batch_norm(x, None, None, training=True)
    finally:
        F._BN_EXACT_SIZE = old
    np.testing.assert_allclose(small.numpy(), large.numpy(), rtol=0, atol=2e-6)
    assert abs(float(small.mean())) < 1e-6


def test_fake_data_is_reproducible_and_leaves_the_global_stream_alone():
    from ember.vision import datasets, transforms

    ds = datasets.FakeData(size=4, image_size=(3, 8, 8), num_classes=3,
                           transform=transforms.ToTensor())
    assert len(ds) == 4
    ember.manual_seed(7)
    expect = ember.rand(2)
    ember.manual_seed(7)
    x, y = ds[1]
    assert ember.equal(ember.rand(2), expect)
    assert x.shape == (3, 8, 8) and x.dtype == ember.float32 and isinstance(y, int) and 0 <= y < 3
    x2, y2 = ds[1]
    assert ember.equal(x, x2) and y == y2
    # image i comes from the generator seeded with i + random_offset
    ember.manual_seed(1)
    img = ember.randn(3, 8, 8)
    assert ember.equal(ds[1][0], transforms.ToTensor()(transforms.ToPILImage()(img)))
    assert ember.equal(datasets.FakeData(4, (3, 8, 8), 3, transforms.ToTensor(),
                                         random_offset=1)[0][0], x)
    try:
        ds[4]
    except IndexError as e:
        assert str(e) == "FakeData index out of range"


def test_tensor_is_xpu():
    # pytorch/examples' dcgan: `if (input.is_cuda or input.is_xpu) and self.ngpu > 1`
    assert ember.ones(2).is_xpu is False


def test_linalg_cross_and_svd():
    import numpy as np
    import pytest

    a = ember.tensor([[0.0, 1.0, 0.0]], requires_grad=True)
    b = ember.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    c = ember.linalg.cross(a, b)
    assert c.tolist() == [[0.0, 0.0, -1.0], [2.0, 0.0, 0.0]]
    c.sum().backward()  # d/da sum(a x b) = sum over rows of (b x 1)
    assert a.grad.tolist() == [[-2.0, 1.0, 1.0]]
    with pytest.raises(RuntimeError, match="must have the same number of dimensions"):
        ember.linalg.cross(ember.ones(3), ember.ones(1, 3))
    with pytest.raises(RuntimeError, match="dimension -1 must have length 3. Got 3 and 2"):
        ember.linalg.cross(ember.ones(1, 3), ember.ones(1, 2))
    m = ember.tensor([[3.0, 0.0], [4.0, 5.0], [0.0, 1.0]])
    u, s, vh = ember.linalg.svd(m)
    assert u.shape == (3, 3) and s.shape == (2,) and vh.shape == (2, 2)
    r = ember.linalg.svd(m, full_matrices=False)
    assert r.U.shape == (3, 2)
    np.testing.assert_allclose((r.U * r.S) @ r.Vh, m.numpy(), atol=1e-5)
    assert ember.allclose(r.S, ember.linalg.svdvals(m))


@needs_torch
def test_affine_grid_and_bilinear_grid_sample_match_pytorch_bit_for_bit():
    import warnings

    import numpy as np

    rng = np.random.RandomState(0)
    x = rng.randn(3, 2, 28, 28).astype(np.float32)
    theta = (np.array([[1, 0, 0], [0, 1, 0]], np.float32)
             + rng.randn(3, 2, 3).astype(np.float32) * 0.2)
    res = []
    for lib in (torch, ember):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            th = lib.tensor(theta, requires_grad=True)
            grid = lib.nn.functional.affine_grid(th, (3, 2, 20, 24))
            y = lib.nn.functional.grid_sample(lib.tensor(x), grid)
            y.sum().backward()
        res.append((grid.detach().numpy(), y.detach().numpy(), th.grad.numpy()))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])
    np.testing.assert_allclose(res[0][2], res[1][2], rtol=1e-4, atol=1e-3)


def test_softmax_and_log_softmax_return_contiguous_results():
    # the seq2seq tutorial calls .view(-1, n) on log_softmax of a batch_first GRU's output
    out, _ = ember.nn.GRU(4, 4, batch_first=True)(ember.randn(2, 3, 4))
    assert not out.is_contiguous()
    for f in (ember.nn.functional.log_softmax, ember.nn.functional.softmax):
        y = f(out, dim=-1)
        assert y.is_contiguous() and y.stride() == (12, 4, 1)
        assert y.view(-1, 4).shape == (6, 4)
    x = ember.randn(3, 2, 5).transpose(0, 1)
    assert ember.allclose(ember.softmax(x, 0).exp().log(), ember.softmax(x, 0))
    assert ember.equal(ember.log_softmax(x, -1), ember.log_softmax(x.contiguous(), -1))


@needs_torch
def test_set_grad_enabled_prints_its_mode():
    for lib in (torch, ember):
        g = lib.set_grad_enabled(False)
        try:
            text = repr(g)
        finally:
            lib.set_grad_enabled(True)
        assert text == f"{lib.__name__}.autograd.grad_mode.set_grad_enabled(mode=False)"


def test_cat_stack_sum_cumsum_of_transposed_inputs_are_contiguous():
    # programs .view() these results; PyTorch allocates them contiguous whatever the inputs' strides
    t = ember.randn(3, 2, 4).transpose(0, 1)
    results = {
        "cat": (ember.cat([t, t], -1), (24, 8, 1)),
        "stack": (ember.stack([t, t]), (24, 12, 4, 1)),
        "sum": (t.sum(-1), (3, 1)),
        "sum_keepdim": (t.sum(1, keepdim=True), (4, 4, 1)),
        "cumsum": (t.cumsum(-1), (12, 4, 1)),
        "cumprod": (t.cumprod(0), (12, 4, 1)),
        "norm": (t.norm(dim=-1), (3, 1)),
        "vector_norm": (ember.linalg.vector_norm(t, 1, dim=(0, 2)), (1,)),
        "amax": (t.amax(-1), (3, 1)),
        "prod": (t.prod(-1), (3, 1)),
        "var": (t.var(-1), (3, 1)),
        "std": (t.std(-1, keepdim=True), (3, 1, 1)),
        "logsumexp": (t.logsumexp(-1), (3, 1)),
        "any": ((t > 0).any(-1), (3, 1)),
        "count_nonzero": (t.count_nonzero(-1), (3, 1)),
        "roll": (t.roll(1, 0), (12, 4, 1)),
        "cummax": (t.cummax(-1).values, (12, 4, 1)),
        "cummax_indices": (t.cummax(-1).indices, (12, 4, 1)),
        "logcumsumexp": (t.logcumsumexp(-1), (12, 4, 1)),
    }
    for name, (r, stride) in results.items():
        assert r.is_contiguous() and r.stride() == stride, name
    assert ember.equal(ember.cat([t, t], -1), ember.cat([t.contiguous()] * 2, -1))
    assert ember.equal(t.sum(-1), t.contiguous().sum(-1))
    t.requires_grad_()
    assert t.sum(-1).is_contiguous() and ember.cat([t, t], 0).view(-1).shape == (48,)


@needs_torch
def test_cross_entropy_with_one_class_probabilities_is_negative_zero():
    # the DDP series' toy job: cross_entropy(model(x) of shape (N, 1), float targets of shape (N, 1))
    import math

    x, t = [[0.3], [-1.2]], [[0.25], [0.5]]
    for red in ("mean", "sum"):
        got = ember.nn.functional.cross_entropy(ember.tensor(x), ember.tensor(t), reduction=red).item()
        want = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t), reduction=red).item()
        assert got == want == 0.0 and math.copysign(1, got) == math.copysign(1, want) == -1
    e = ember.nn.functional.cross_entropy(ember.tensor(x), ember.tensor(t), reduction="none")
    assert str(e) == str(torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t), reduction="none"))


def test_masked_fill_tril_triu_of_transposed_inputs_are_contiguous():
    # attention code views a masked score matrix; PyTorch allocates these results contiguous
    t = ember.randn(3, 2, 4).transpose(0, 1)
    for r in (t.masked_fill(t > 0, 0.0), t.triu(), t.tril(1), ember.triu(t, -1)):
        assert r.is_contiguous() and r.stride() == (12, 4, 1)
    assert ember.equal(t.masked_fill(t > 0, 0.0), t.contiguous().masked_fill(t.contiguous() > 0, 0.0))
    t.masked_fill_(t > 0, 1.0)  # in place keeps the tensor's own strides, as PyTorch
    assert t.stride() == (4, 8, 1)
