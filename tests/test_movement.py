"""Shape (movement) ops: values, grads, grad_fn names, views and errors, against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from tests.helpers import check_grad, needs_torch, torch

RNG = np.random.default_rng(0)


def _arr(shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def _run(m, fn, arrays, grad):
    ts = [m.tensor(a, requires_grad=grad) for a in arrays]
    return ts, fn(m, *ts)


def _outs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _np(t):
    return t.detach().numpy()


def assert_parity(fn, *arrays, grad=True, check_name=True):
    """Same lambda on ember and torch: values, dtypes, grad_fn names and input grads."""
    e_in, e_out = _run(ember, fn, arrays, grad)
    t_in, t_out = _run(torch, fn, arrays, grad)
    e_outs, t_outs = _outs(e_out), _outs(t_out)
    assert len(e_outs) == len(t_outs)
    for e, t in zip(e_outs, t_outs):
        assert tuple(e.shape) == tuple(t.shape)
        assert str(e.dtype).split(".")[1] == str(t.dtype).split(".")[1]
        np.testing.assert_allclose(_np(e), _np(t), rtol=1e-6, atol=1e-12)
        if grad and check_name and t.grad_fn is not None:
            assert e.grad_fn is not None and e.grad_fn.name() == t.grad_fn.name()
    if grad:
        ws = [RNG.standard_normal(tuple(t.shape)) for t in t_outs]
        sum(((t * torch.tensor(w)).sum() for t, w in zip(t_outs, ws)), torch.tensor(0.0)).backward()
        e_loss = None
        for e, w in zip(e_outs, ws):
            term = (e * ember.tensor(w)).sum()
            e_loss = term if e_loss is None else e_loss + term
        e_loss.backward()
        for e, t in zip(e_in, t_in):
            tg = t.grad
            if tg is None:
                assert e.grad is None or not np.any(_np(e.grad))
            else:
                np.testing.assert_allclose(_np(e.grad), tg.numpy(), rtol=1e-6, atol=1e-12)


# name, fn(module, *tensors), input shapes
CASES = [
    ("reshape", lambda m, x: x.reshape(4, 3), [(3, 4)]),
    ("reshape_tuple_infer", lambda m, x: x.reshape((-1, 2)), [(3, 4)]),
    ("reshape_fn", lambda m, x: m.reshape(x, (2, 6)), [(3, 4)]),
    ("reshape_noncontig", lambda m, x: x.t().reshape(-1), [(3, 4)]),
    ("reshape_scalar", lambda m, x: x.reshape(1, 1), [()]),
    ("reshape_empty", lambda m, x: x.reshape(0, 4), [(0, 2, 2)]),
    ("view", lambda m, x: x.view(-1, 6), [(3, 4)]),
    ("view_as", lambda m, x, y: x.view_as(y), [(3, 4), (12,)]),
    ("flatten", lambda m, x: x.flatten(), [(2, 3, 4)]),
    ("flatten_range", lambda m, x: m.flatten(x, 1, 2), [(2, 3, 4)]),
    ("flatten_scalar", lambda m, x: x.flatten(), [()]),
    ("unflatten", lambda m, x: x.unflatten(1, (2, -1)), [(3, 4)]),
    ("squeeze", lambda m, x: x.squeeze(), [(1, 3, 1)]),
    ("squeeze_dim", lambda m, x: x.squeeze(2), [(1, 3, 1)]),
    ("squeeze_dims", lambda m, x: x.squeeze((0, 1)), [(1, 3, 1)]),
    ("squeeze_axis_noop", lambda m, x: x.squeeze(1), [(1, 3, 1)]),
    ("unsqueeze", lambda m, x: x.unsqueeze(-1), [(3, 4)]),
    ("unsqueeze_scalar", lambda m, x: m.unsqueeze(x, 0), [()]),
    ("permute", lambda m, x: x.permute(2, 0, 1), [(2, 3, 4)]),
    ("permute_tuple", lambda m, x: m.permute(x, (1, 0, 2)), [(2, 3, 4)]),
    ("transpose", lambda m, x: x.transpose(0, -1), [(2, 3, 4)]),
    ("swapaxes", lambda m, x: m.swapaxes(x, 0, 1), [(2, 3)]),
    ("swapdims", lambda m, x: x.swapdims(0, 1), [(2, 3)]),
    ("t", lambda m, x: x.t(), [(2, 3)]),
    ("t_1d", lambda m, x: m.t(x), [(3,)]),
    ("T", lambda m, x: x.T, [(2, 3)]),
    ("mT", lambda m, x: x.mT, [(2, 2, 3)]),
    ("movedim", lambda m, x: m.movedim(x, 0, -1), [(2, 3, 4)]),
    ("movedim_seq", lambda m, x: x.movedim((0, 1), (2, 0)), [(2, 3, 4)]),
    ("expand", lambda m, x: x.expand(2, 3, -1), [(3, 1)]),
    ("expand_same", lambda m, x: x.expand(3, 4), [(3, 4)]),
    ("expand_scalar", lambda m, x: x.expand(2, 2), [()]),
    ("expand_as", lambda m, x, y: x.expand_as(y), [(1, 4), (3, 4)]),
    ("broadcast_to", lambda m, x: m.broadcast_to(x, (2, 3, 4)), [(4,)]),
    ("broadcast_tensors", lambda m, x, y: m.broadcast_tensors(x, y), [(3, 1), (1, 4)]),
    ("repeat", lambda m, x: x.repeat(2, 1, 3), [(3, 2)]),
    ("repeat_scalar", lambda m, x: x.repeat(3), [()]),
    ("tile", lambda m, x: m.tile(x, (2,)), [(3, 2)]),
    ("tile_method", lambda m, x: x.tile(2, 1, 2), [(3, 2)]),
    ("repeat_interleave", lambda m, x: x.repeat_interleave(2, dim=1), [(2, 3)]),
    ("repeat_interleave_flat", lambda m, x: m.repeat_interleave(x, 2), [(2, 3)]),
    ("flip", lambda m, x: m.flip(x, (0, 2)), [(2, 3, 4)]),
    ("flip_method", lambda m, x: x.flip(1), [(2, 3)]),
    ("fliplr", lambda m, x: m.fliplr(x), [(2, 3)]),
    ("flipud", lambda m, x: x.flipud(), [(2, 3)]),
    ("roll", lambda m, x: m.roll(x, 1, 0), [(3, 4)]),
    ("roll_multi", lambda m, x: x.roll((1, -2), (0, 1)), [(3, 4)]),
    ("roll_flat", lambda m, x: m.roll(x, 5), [(3, 4)]),
    ("narrow", lambda m, x: x.narrow(1, 1, 2), [(3, 4)]),
    ("narrow_neg", lambda m, x: m.narrow(x, 0, -2, 2), [(3, 4)]),
    ("select", lambda m, x: x.select(1, -1), [(3, 4)]),
    ("contiguous", lambda m, x: x.t().contiguous(), [(3, 4)]),
    ("ravel", lambda m, x: m.ravel(x), [(3, 4)]),
    ("ravel_noncontig", lambda m, x: x.t().ravel(), [(3, 4)]),
    ("cat", lambda m, x, y: m.cat((x, y)), [(2, 3), (4, 3)]),
    ("cat_dim1", lambda m, x, y: m.cat([x, y], dim=1), [(2, 3), (2, 1)]),
    ("cat_neg", lambda m, x, y: m.cat([x, y], -1), [(2, 3), (2, 1)]),
    ("cat_legacy_empty", lambda m, x, y: m.cat([x, y]), [(0,), (2, 3)]),
    ("cat_empty_dim", lambda m, x, y: m.cat([x, y]), [(0, 3), (2, 3)]),
    ("concat", lambda m, x, y: m.concat([x, y], 1), [(2, 3), (2, 3)]),
    ("concatenate", lambda m, x, y: m.concatenate([x, y]), [(2, 3), (2, 3)]),
    ("stack", lambda m, x, y: m.stack([x, y]), [(2, 3), (2, 3)]),
    ("stack_last", lambda m, x, y: m.stack((x, y), dim=-1), [(2, 3), (2, 3)]),
    ("stack_scalars", lambda m, x, y: m.stack([x, y]), [(), ()]),
    ("hstack", lambda m, x, y: m.hstack([x, y]), [(2, 3), (2, 1)]),
    ("hstack_1d", lambda m, x, y: m.hstack([x, y]), [(2,), (3,)]),
    ("vstack", lambda m, x, y: m.vstack([x, y]), [(3,), (2, 3)]),
    ("dstack", lambda m, x, y: m.dstack([x, y]), [(2, 3), (2, 3)]),
    ("column_stack", lambda m, x, y: m.column_stack([x, y]), [(3,), (3, 2)]),
    ("split_int", lambda m, x: x.split(2), [(5, 3)]),
    ("split_list", lambda m, x: m.split(x, [1, 3, 1]), [(5, 3)]),
    ("split_dim", lambda m, x: x.split(2, dim=1), [(2, 3)]),
    ("split_partial_use", lambda m, x: x.split(2)[1], [(5, 3)]),
    ("chunk", lambda m, x: x.chunk(3), [(5, 3)]),
    ("chunk_dim", lambda m, x: m.chunk(x, 2, 1), [(2, 5)]),
    ("unbind", lambda m, x: x.unbind(), [(3, 2)]),
    ("unbind_dim", lambda m, x: m.unbind(x, 1), [(3, 2)]),
    ("unbind_one", lambda m, x: x.unbind(0)[1], [(3, 2)]),
    ("tensor_split", lambda m, x: m.tensor_split(x, 3), [(7, 2)]),
    ("tensor_split_idx", lambda m, x: x.tensor_split([1, 4], dim=0), [(7, 2)]),
    ("diag_1d", lambda m, x: m.diag(x), [(3,)]),
    ("diag_1d_offset", lambda m, x: m.diag(x, -1), [(3,)]),
    ("diag_2d", lambda m, x: m.diag(x), [(3, 4)]),
    ("diag_2d_offset", lambda m, x: m.diag(x, 1), [(3, 4)]),
    ("diagonal", lambda m, x: x.diagonal(), [(3, 4)]),
    ("diagonal_dims", lambda m, x: m.diagonal(x, -1, 0, 2), [(3, 2, 4)]),
    ("diag_embed", lambda m, x: m.diag_embed(x), [(2, 3)]),
    ("diag_embed_offset", lambda m, x: m.diag_embed(x, 1, 0, 2), [(2, 3)]),
    ("unfold", lambda m, x: x.unfold(1, 2, 1), [(2, 5)]),
    ("unfold_step", lambda m, x: x.unfold(0, 2, 2), [(5, 3)]),
    ("atleast_2d", lambda m, x: m.atleast_2d(x), [(3,)]),
    ("empty_split_cat", lambda m, x: m.cat(x.split(1, dim=1)[::-1], 1), [(0, 3)]),
    ("empty_permute_flip", lambda m, x: x.permute(1, 0).flip(0).reshape(3, 0), [(0, 3)]),
    ("chain", lambda m, x: x.reshape(2, 6).t().unsqueeze(0).expand(3, 6, 2).flip(1)[1:].sum(0),
     [(3, 4)]),
]


@needs_torch
@pytest.mark.parametrize("name,fn,shapes", CASES, ids=[c[0] for c in CASES])
def test_parity_values_grads_names(name, fn, shapes):
    assert_parity(fn, *[_arr(s) for s in shapes])


FD_CASES = ["reshape_noncontig", "permute", "expand", "repeat", "flip", "roll_multi", "cat",
            "cat_dim1", "stack", "split_list", "chunk", "unbind", "diag_2d_offset",
            "diagonal_dims", "diag_embed_offset", "unfold_step", "repeat_interleave",
            "expand_scalar", "squeeze_dims", "chain", "tensor_split_idx", "empty_split_cat",
            "reshape_scalar", "stack_scalars", "broadcast_tensors"]


def _scalar_out(fn):
    def f(*ts):
        out = fn(ember, *ts)
        if isinstance(out, (tuple, list)):
            return ember.cat([o.reshape(-1) for o in out])
        return out

    return f


@pytest.mark.parametrize("name", FD_CASES)
def test_finite_difference_grads(name):
    _, fn, shapes = next(c for c in CASES if c[0] == name)
    check_grad(_scalar_out(fn), *shapes)


def test_float32_stays_float32():
    x = ember.randn(3, 4)
    for y in (x.reshape(-1), x.t(), x.expand(2, 3, 4), x.flip(0), ember.cat([x, x]),
              ember.stack([x, x]), x.repeat(2, 1), x.diagonal(), x.split(2)[0], x.unbind(0)[0]):
        assert y.dtype == ember.float32


@needs_torch
def test_cat_stack_dtype_promotion():
    for dts in [("float32", "int64"), ("int64", "bool"), ("int32", "int64"), ("float32", "float64"),
                ("uint8", "int8")]:
        e = [ember.ones(2, dtype=getattr(ember, d)) for d in dts]
        t = [torch.ones(2, dtype=getattr(torch, d)) for d in dts]
        assert str(ember.cat(e).dtype)[6:] == str(torch.cat(t).dtype)[6:]
        assert str(ember.stack(e).dtype)[6:] == str(torch.stack(t).dtype)[6:]


def test_cat_out_and_axis():
    x = ember.ones(2, 2)
    out = ember.empty(4, 2)
    r = ember.cat([x, x * 2], axis=0, out=out)
    assert r is out
    np.testing.assert_array_equal(out.numpy(), [[1, 1], [1, 1], [2, 2], [2, 2]])


# ---- views: shared memory and version counter -------------------------------------------------
VIEWS = [
    lambda x: x.reshape(12), lambda x: x.view(2, 6), lambda x: x.t(), lambda x: x.permute(1, 0),
    lambda x: x.transpose(0, 1), lambda x: x.unsqueeze(0), lambda x: x.unsqueeze(0).squeeze(0),
    lambda x: x.narrow(0, 1, 2), lambda x: x[1], lambda x: x[:, 1:3], lambda x: x.split(2)[1],
    lambda x: x.chunk(2, 1)[0], lambda x: x.unbind(1)[2], lambda x: x.diagonal(),
    lambda x: x.select(1, 2), lambda x: x.flatten(), lambda x: x.movedim(0, 1),
    lambda x: x[None, ..., 0], lambda x: x.view_as(x), lambda x: x.detach().t(),
    lambda x: x.unflatten(1, (2, 2)), lambda x: x.tensor_split(2)[0],
]


@pytest.mark.parametrize("i", range(len(VIEWS)))
def test_views_share_memory_and_version(i):
    x = ember.arange(12.0).reshape(3, 4)
    v = VIEWS[i](x)
    assert np.shares_memory(v.numpy(), x.numpy())
    assert v._vc is x._vc
    before = x._version
    v.add_(1) if v.numel() else v.zero_()
    assert x._version == before + 1
    assert x.sum().item() == 66 + v.numel()  # the write shows in the base


def test_expand_is_a_view():
    x = ember.ones(3, 1)
    e = x.expand(3, 4)
    assert np.shares_memory(e.numpy(), x.numpy()) and e._vc is x._vc
    assert e.stride() == (1, 0)


@pytest.mark.parametrize("op", [lambda x: x.flip(0), lambda x: x.roll(1, 0), lambda x: x.repeat(1, 1),
                                lambda x: x.tile((1,)), lambda x: ember.cat([x]), lambda x: ember.stack([x]),
                                lambda x: ember.diag(x), lambda x: x.t().contiguous(),
                                lambda x: x.t().reshape(-1)])
def test_copies_do_not_alias(op):
    x = ember.arange(9.0).reshape(3, 3)
    y = op(x)
    assert not np.shares_memory(y.numpy(), x.numpy())
    assert y._vc is not x._vc


def test_reshape_contiguous_is_view_noncontiguous_copies():
    x = ember.arange(6.0).reshape(2, 3)
    assert np.shares_memory(x.reshape(3, 2).numpy(), x.numpy())
    assert not np.shares_memory(x.t().reshape(6).numpy(), x.numpy())
    assert x.contiguous() is x and x.t().contiguous().is_contiguous()


def test_inplace_through_view_trips_saved_tensor_check():
    a = ember.randn(3, requires_grad=True)
    b = a * 1
    c = b.exp()  # saves its output
    c.view(3).mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()


def test_iter_unbinds_and_keeps_graph():
    params = ember.tensor([2.0, 3.0], requires_grad=True)
    w, b = params
    assert w.grad_fn.name() == "UnbindBackward0"
    (w * 5 + b).backward()
    np.testing.assert_array_equal(params.grad.numpy(), [5.0, 1.0])


def test_unbind_returns_tuple_of_views():
    x = ember.arange(6.0).reshape(3, 2)
    rows = x.unbind()
    assert isinstance(rows, tuple) and len(rows) == 3
    rows[1][0] = 100
    assert x[1, 0].item() == 100


def test_inplace_view_ops():
    x = ember.zeros(3, 1)
    y = x.squeeze_(1)
    assert y is x and x.shape == (3,)
    x.unsqueeze_(0)
    assert x.shape == (1, 3)
    x.t_()
    assert x.shape == (3, 1)


def test_view_dtype():
    x = ember.arange(6).reshape(2, 3)
    y = x.view(ember.int32)
    assert y.shape == (2, 6) and y.dtype == ember.int32
    assert x.view(ember.int64)._vc is x._vc


def test_size_shape_arguments():
    x = ember.arange(12.0)
    other = ember.zeros(3, 4)
    assert x.reshape(other.shape).shape == (3, 4)
    assert x.reshape([2, 6]).shape == (2, 6)
    assert x.view(ember.Size([4, 3])).shape == (4, 3)
    assert x.reshape(shape=(6, 2)).shape == (6, 2)
    assert x.reshape(ember.tensor(3), 4).shape == (3, 4)
    assert ember.broadcast_shapes((3, 1), (4,)) == ember.Size([3, 4])


def test_numpy_functions_dispatch():
    x = ember.arange(6.0).reshape(2, 3)
    assert isinstance(np.transpose(x), ember.Tensor) and np.transpose(x).shape == (3, 2)
    assert np.concatenate([x, x]).shape == (4, 3)
    assert np.reshape(x, (3, 2)).shape == (3, 2)


def test_double_backward_through_views():
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = (x.t().reshape(-1) ** 3).sum()
    (g,) = ember.autograd.grad(y, x, create_graph=True)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy())


# ---- errors: same type and text as PyTorch ------------------------------------------------------
ERRORS = [
    lambda m, x: x.reshape(3, 5),
    lambda m, x: x.view(3, 5),
    lambda m, x: x.reshape(-1, -1),
    lambda m, x: x.reshape(5, -1),
    lambda m, x: x.reshape(-2, 6),
    lambda m, x: m.zeros(0).reshape(-1, 0),
    lambda m, x: x.t().view(-1),
    lambda m, x: m.zeros(3, 1).expand(-1, 4).view(-1),
    lambda m, x: m.zeros(2, 3, 4).t(),
    lambda m, x: x.expand(2, 3),
    lambda m, x: x.expand(3),
    lambda m, x: x.expand(-1, -1, -1),
    lambda m, x: x.broadcast_to((2, 3)),
    lambda m, x: m.broadcast_tensors(x, m.zeros(2)),
    lambda m, x: x.permute(0),
    lambda m, x: x.permute(0, 0),
    lambda m, x: x.permute(0, 2),
    lambda m, x: x.squeeze(3),
    lambda m, x: x.squeeze((0, 0)),
    lambda m, x: x.unsqueeze(3),
    lambda m, x: x.unsqueeze(-4),
    lambda m, x: x.transpose(0, 2),
    lambda m, x: x.flatten(1, 0),
    lambda m, x: x.flatten(5),
    lambda m, x: x.unflatten(1, (3, 3)),
    lambda m, x: x.narrow(0, 2, 2),
    lambda m, x: x.narrow(0, 4, 1),
    lambda m, x: x.narrow(0, 1, -1),
    lambda m, x: x.select(0, 5),
    lambda m, x: x.select(1, -5),
    lambda m, x: x.split([1, 1]),
    lambda m, x: x.split(0),
    lambda m, x: x.chunk(0),
    lambda m, x: x.repeat(2),
    lambda m, x: x.movedim(0, 2),
    lambda m, x: x.movedim((0, 1), (1,)),
    lambda m, x: x.movedim((0, 0), (1, 0)),
    lambda m, x: x.roll(1, 5),
    lambda m, x: x.roll((1, 2), (0,)),
    lambda m, x: x.flip(3),
    lambda m, x: x.flip((0, 0)),
    lambda m, x: m.zeros(3).fliplr(),
    lambda m, x: m.zeros(()).flipud(),
    lambda m, x: m.diag(m.zeros(2, 2, 2)),
    lambda m, x: x.diagonal(0, 0, 0),
    lambda m, x: m.cat([x, m.zeros(2, 3)]),
    lambda m, x: m.cat([x, m.zeros(3)]),
    lambda m, x: m.cat([x, m.zeros(2, 4)], dim=1),
    lambda m, x: m.cat([]),
    lambda m, x: m.cat([x, m.tensor(1.0)]),
    lambda m, x: m.cat([x, 1]),
    lambda m, x: m.stack([x, m.zeros(2, 3)]),
    lambda m, x: m.stack([]),
    lambda m, x: x.unbind(2),
    lambda m, x: x.t().view(m.float64),
]


@needs_torch
@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_match_torch(i):
    fn = ERRORS[i]
    with pytest.raises(Exception) as t_err:
        fn(torch, torch.arange(12.0).reshape(3, 4))
    with pytest.raises(Exception) as e_err:
        fn(ember, ember.arange(12.0).reshape(3, 4))
    assert type(e_err.value).__name__ == type(t_err.value).__name__
    msg = str(e_err.value).split("\n")[0].replace("ember.", "torch.")  # ember's repr prefix
    assert msg == str(t_err.value).split("\n")[0]
