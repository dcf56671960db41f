"""Indexing ops: x[key], x[key] = v, gather/scatter, index_*, masked_*, sort/topk, unique, ...
compared with PyTorch (values, grads, grad_fn names, errors)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import ember
from tests.helpers import check_grad, needs_torch, torch
from tests.test_movement import assert_parity

RNG = np.random.default_rng(1)


def _arr(shape):
    return RNG.standard_normal(shape)


# ---- x[key]: ~40 index expressions on a (3, 4, 5) tensor -----------------------------------------
def _keys(m):
    """Index expressions written against module m (ember or torch)."""
    i = m.tensor
    return [
        1, -1, slice(1, 3), slice(None, None, 2), slice(-2, None), (1, 2), (1, 2, 3), (-1, -2, -3),
        (slice(None), 1), (Ellipsis, 0), (0, Ellipsis), (None,), (None, 1), (0, None),
        (slice(None), None, 1), (Ellipsis, None), (1, slice(0, 2), slice(1, None, 2)),
        [0, 2], [2, 2, 0], ([0, 1], [1, 2]), ([0, 0], slice(None), [4, 4]), (slice(None), [1, 3]),
        (1, [0, 0, 3]), (0, slice(None), [0, 1]), ([0, 1], 0), (slice(None), [0, 1], 0),
        i([1, 0, 1]), (i([[0, 1], [2, 2]]),), (slice(None), i([[0, 1], [2, 3]])),
        (i([0, 2]), i([[1], [3]])), i(2), (i(1), i(2)), (slice(0, 2), i([0, 0])),
        i([True, False, True]), (slice(None), i([True, False, True, True])),
        (i([[True, False, False, True]] * 3),), (0, i([False, True, True, False])),
        (None, i([0, 2]), None), True, (False,), (Ellipsis, i([4, 0, 4])), [],
        (i([0, 2]), slice(1, 3), i([1, 4])), (slice(None), slice(None), slice(None)),
    ]


class _NP:  # a stand-in module for counting keys
    @staticmethod
    def tensor(v):
        return v


N_KEYS = len(_keys(_NP))


@needs_torch
@pytest.mark.parametrize("k", range(N_KEYS))
def test_getitem_parity(k):
    a = _arr((3, 4, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_parity(lambda m, x: x[_keys(m)[k]], a)


@needs_torch
@pytest.mark.parametrize("k", range(N_KEYS))
def test_setitem_parity(k):
    a = _arr((3, 4, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        te = ember.tensor(a.copy())
        tt = torch.tensor(a.copy())
        key_t = _keys(torch)[k]
        shape = tuple(tt[key_t].shape)
        if not _unique_positions(a.shape, key_t):
            pytest.skip("repeated positions: which write wins is unspecified")
        val = _arr(shape)
        te[_keys(ember)[k]] = ember.tensor(val)
        tt[key_t] = torch.tensor(val)
        np.testing.assert_array_equal(te.numpy(), tt.numpy())
        te[_keys(ember)[k]] = 7.5  # scalars broadcast
        tt[key_t] = 7.5
        np.testing.assert_array_equal(te.numpy(), tt.numpy())


def _unique_positions(shape, key):
    pos = torch.arange(int(np.prod(shape))).reshape(shape)[key].reshape(-1)
    return len(set(pos.tolist())) == pos.numel()


def test_getitem_grad_repeated_advanced_indices():
    check_grad(lambda x: x[[0, 0, 2, 0]], (3, 2))
    check_grad(lambda x: x[ember.tensor([[1, 1], [0, 1]]), ember.tensor([2, 2])], (2, 3))
    check_grad(lambda x: x[1:, [0, 0]] * x[0, [1, 1]], (3, 2))
    check_grad(lambda x: x[ember.tensor([True, False, True])], (3, 2))
    check_grad(lambda x: x[..., None, 1], (2, 3))
    check_grad(lambda x: x[()], ())
    check_grad(lambda x: x[None], ())
    check_grad(lambda x: x[[]], (3,))


@needs_torch
def test_getitem_grad_fn_names():
    x = torch.randn(3, 4, requires_grad=True)
    e = ember.tensor(x.detach().numpy(), requires_grad=True)
    for key in [1, slice(1, 2), slice(0, 9), (slice(None), 1), (None,), (0, None), Ellipsis,
                (1, slice(0, 2))]:
        assert e[key].grad_fn.name() == x[key].grad_fn.name(), key
    assert e[[0, 1]].grad_fn.name() == "IndexBackward0"


def test_basic_index_is_view_advanced_is_copy():
    x = ember.arange(12.0).reshape(3, 4)
    for v in (x[1], x[1:], x[:, ::2], x[None], x[..., 0], x[1, 2], x[ember.tensor(1)]):
        assert np.shares_memory(v.numpy(), x.numpy()) and v._vc is x._vc
    for c in (x[[0, 1]], x[x > 3], x[ember.tensor([0])], x[1, [0, 1]]):
        assert not np.shares_memory(c.numpy(), x.numpy()) and c._vc is not x._vc
    r = x[1]
    r[0] = 100.0
    assert x[1, 0].item() == 100.0 and x._version == 1


def test_seed_indexing_patterns():
    X = ember.arange(12, dtype=ember.float32).reshape((3, 4))
    np.testing.assert_array_equal(X[-1].numpy(), [8, 9, 10, 11])
    np.testing.assert_array_equal(X[1:3].numpy(), np.arange(4, 12).reshape(2, 4))
    y_hat = ember.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = ember.tensor([0, 2])
    np.testing.assert_allclose(y_hat[[0, 1], y].numpy(), [0.1, 0.5])
    np.testing.assert_allclose(y_hat[list(range(len(y_hat))), y].numpy(), [0.1, 0.5])
    t_u = ember.arange(10.0)
    idx = ember.randperm(10)
    np.testing.assert_array_equal(t_u[idx].numpy(), idx.numpy().astype(np.float32))
    assert t_u[idx[:-2]].shape == (8,)
    wrong = ember.tensor([True, False, True])
    assert X[wrong].shape == (2, 4)
    r = 1
    assert X[r:r + 1].shape == (1, 4)


def test_setitem_in_place_keeps_identity_and_storage():
    X = ember.arange(12, dtype=ember.float32).reshape((3, 4))
    ident, ptr = id(X), X.data_ptr()
    X[1, 2] = 17
    X[:2, :] = 12
    assert id(X) == ident and X.data_ptr() == ptr and X._version == 2
    np.testing.assert_array_equal(X.numpy()[:2], 12)
    Y = ember.ones(3, 4)
    Z = ember.zeros_like(Y)
    before = id(Z)
    Z[:] = X + Y
    assert id(Z) == before
    np.testing.assert_array_equal(Z.numpy(), X.numpy() + 1)


def test_setitem_casts_and_broadcasts():
    x = ember.zeros(2, 3, dtype=ember.int64)
    x[0] = ember.tensor([1.7, 2.2, 3.9])
    x[1] = 2.9
    np.testing.assert_array_equal(x.numpy(), [[1, 2, 3], [2, 2, 2]])
    assert x.dtype == ember.int64
    f = ember.zeros(2, 3)
    f[:, 1] = ember.tensor(5, dtype=ember.int64)
    f[[0, 1], [0, 2]] = ember.tensor([1.0, 2.0], dtype=ember.float64)
    assert f.dtype == ember.float32
    np.testing.assert_array_equal(f.numpy(), [[1, 5, 0], [0, 5, 2]])
    f[0] = ember.zeros(1, 1, 3)  # leading 1s are dropped, as in PyTorch
    with pytest.raises(TypeError, match="can't assign a list"):
        f[0] = [1.0, 2.0, 3.0]


def test_setitem_grads():
    # value's grad: the slice of the output grad; self's: zero where overwritten
    check_grad(lambda x, v: _set(x * 1, (slice(None), 1), v), (3, 4), (3,))
    check_grad(lambda x, v: _set(x * 1, ([0, 2], [1, 3]), v), (3, 4), (2,))
    check_grad(lambda x, v: _set(x * 1, (0,), v), (3, 4), (1, 4))
    check_grad(lambda x, v: _set(x * 1, (x.detach() > 0,), v), (3, 4), ())


def _set(y, key, v):
    y[key] = v
    return y


@needs_torch
def test_setitem_graph_names_and_values():
    xt = torch.randn(3, 4, requires_grad=True)
    vt = torch.randn(4, requires_grad=True)
    xe = ember.tensor(xt.detach().numpy(), requires_grad=True)
    ve = ember.tensor(vt.detach().numpy(), requires_grad=True)
    yt, ye = xt * 2, xe * 2
    yt[1] = vt
    ye[1] = ve
    assert ye.grad_fn.name() == "CopySlices" and ye.requires_grad
    zt, ze = xt * 1, xe * 1
    zt[[0, 2]] = 0.0
    ze[[0, 2]] = 0.0
    assert ze.grad_fn.name() == "IndexPutBackward0"
    (yt.sum() + (zt * zt).sum()).backward()
    (ye.sum() + (ze * ze).sum()).backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ve.grad.numpy(), vt.grad.numpy(), rtol=1e-6)


def test_setitem_value_requiring_grad_into_plain_tensor():
    v = ember.tensor(2.0, requires_grad=True)
    buf = ember.zeros(3)
    buf[1] = v
    assert buf.requires_grad and buf.grad_fn.name() == "CopySlices"
    (buf * ember.tensor([1.0, 5.0, 1.0])).sum().backward()
    assert v.grad.item() == 5.0


@needs_torch
def test_setitem_on_leaf_errors_like_torch():
    for key in (0, [0]):
        with pytest.raises(RuntimeError) as t_err:
            torch.zeros(3, requires_grad=True)[key] = 1.0
        with pytest.raises(RuntimeError) as e_err:
            ember.zeros(3, requires_grad=True)[key] = 1.0
        assert str(e_err.value) == str(t_err.value)
    w = ember.zeros(3, requires_grad=True)
    with ember.no_grad():
        w[0] = 1.0  # allowed under no_grad
    assert w[0].item() == 1.0 and w.is_leaf


@needs_torch
def test_write_through_view_updates_base_history():
    res = []
    for m in (ember, torch):
        v = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        out = m.zeros(2, 3)
        out[0][1] = v[1] * 3  # a write into a view of a tensor without history
        out[1][:] = v * v
        out[1, 0] = 7.0
        assert out.requires_grad
        x = m.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        y = x * 1
        y.view(2, 2).t()[0] = 10 * x[:2]  # through a strided view of a non-leaf
        loss = (out * m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum() + (y * m.arange(4.0)).sum()
        loss.backward()
        res.append((v.grad.numpy().copy(), x.grad.numpy().copy(), out.detach().numpy().copy(),
                    y.detach().numpy().copy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b)


@needs_torch
def test_write_into_view_of_leaf_errors_like_torch():
    for fn in (lambda w: w[0].__setitem__(0, 1.0), lambda w: w.t().__setitem__(0, 1.0)):
        with pytest.raises(RuntimeError) as t_err:
            fn(torch.zeros(3, 2, requires_grad=True))
        with pytest.raises(RuntimeError) as e_err:
            fn(ember.zeros(3, 2, requires_grad=True))
        assert str(e_err.value) == str(t_err.value)
    # outputs of multi-view functions (unbind, split) may not be written in place
    for m in (ember, torch):
        w, _ = m.zeros(2, requires_grad=True) * 1
        with pytest.raises(RuntimeError, match="is a view and is being modified inplace"):
            w[...] = 1.0


def test_base_of_views():
    x = ember.zeros(3, 4)
    assert x._base is None and not x._is_view()
    assert x.t()._base is x and x.t()[0]._base is x and x[1:].split(1)[0]._base is x
    assert x[[0, 1]]._base is None and x.flip(0)._base is None


def test_setitem_in_place_detected_by_saved_tensor_check():
    a = ember.randn(3, requires_grad=True)
    b = a.exp()
    b[0] = 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()


def test_getitem_double_backward():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x[[0, 0, 2]] ** 3).sum()
    (g,) = ember.autograd.grad(y, x, create_graph=True)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 0.0, 18.0])


# ---- index errors --------------------------------------------------------------------------------
GETITEM_ERRORS = [
    lambda m, x: x[5], lambda m, x: x[:, 7], lambda m, x: x[-4], lambda m, x: x[::-1],
    lambda m, x: x[::0], lambda m, x: x[0, 0, 0], lambda m, x: x[m.tensor([5])],
    lambda m, x: x[[0, 4]], lambda m, x: x[m.tensor([True, False])],
    lambda m, x: x[:, m.tensor([True, False, True])], lambda m, x: x[m.ones(3, 5, dtype=m.bool)],
    lambda m, x: x[m.tensor(1.0)], lambda m, x: x[1.5], lambda m, x: x[[0, 1], [0, 1, 2]],
    lambda m, x: x[m.tensor([-4])], lambda m, x: x[:, [5]], lambda m, x: x[1, [5]],
    lambda m, x: x[:, :, None, 0], lambda m, x: m.tensor(3.0)[0], lambda m, x: m.tensor(3.0)[:],
]


@needs_torch
@pytest.mark.parametrize("i", range(len(GETITEM_ERRORS)))
def test_getitem_errors_match_torch(i):
    _same_error(GETITEM_ERRORS[i])


SETITEM_ERRORS = [
    "x[:2] = m.zeros(3)", "x[[0, 1]] = m.zeros(3)", "x[5] = 1.0", "x[0] = 'a'",
    "x[x > 100] = m.zeros(2)", "m.tensor(3.0)[0] = 1.0",
]


@needs_torch
@pytest.mark.parametrize("i", range(len(SETITEM_ERRORS)))
def test_setitem_errors_match_torch(i):
    src = SETITEM_ERRORS[i]

    def fn(m, x):
        exec(src, {"m": m, "x": x})  # noqa: S102 (a statement; a lambda can't assign)

    _same_error(fn)


def _same_error(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as t_err:
            fn(torch, torch.arange(12.0).reshape(3, 4))
        with pytest.raises(Exception) as e_err:
            fn(ember, ember.arange(12.0).reshape(3, 4))
    assert type(e_err.value).__name__ == type(t_err.value).__name__
    msg = str(e_err.value).split("\n")[0].replace("ember.", "torch.")
    assert msg == str(t_err.value).split("\n")[0]


def test_uint8_mask_warns_and_list_of_slices_is_a_tuple():
    x = ember.arange(6.0).reshape(2, 3)
    with pytest.warns(UserWarning, match="uint8"):
        assert x[ember.tensor([1, 0], dtype=ember.uint8)].shape == (1, 3)
    with pytest.warns(UserWarning, match="non-tuple sequence"):
        assert x[[0, slice(None)]].shape == (3,)


# ---- gather / scatter / index_* / masked_* / take -----------------------------------------------------
IDX = np.array([[0, 1, 1], [2, 0, 0]])


def _t(m, v, **kw):
    return m.tensor(v, **kw)


OPS = [
    ("gather", lambda m, x: x.gather(1, _t(m, IDX)), [(2, 4)]),
    ("gather_dim0", lambda m, x: m.gather(x, 0, _t(m, [[1, 0, 1, 1]])), [(2, 4)]),
    ("take_along_dim", lambda m, x: m.take_along_dim(x, _t(m, IDX), 1), [(2, 4)]),
    ("take_along_dim_bcast", lambda m, x: x.take_along_dim(_t(m, [[0], [2]]), 1), [(2, 4)]),
    ("take_along_dim_flat", lambda m, x: m.take_along_dim(x, _t(m, [7, 0, 7])), [(2, 4)]),
    ("scatter_src", lambda m, x, s: x.scatter(1, _t(m, [[0, 3], [1, 2]]), s), [(2, 4), (2, 2)]),
    ("scatter_value", lambda m, x: m.scatter(x, 1, _t(m, [[0, 3], [1, 2]]), 2.5), [(2, 4)]),
    ("scatter_add", lambda m, x, s: x.scatter_add(1, _t(m, IDX), s), [(2, 4), (2, 3)]),
    ("index_select", lambda m, x: x.index_select(0, _t(m, [1, 1, 0])), [(2, 4)]),
    ("index_select_dim1", lambda m, x: m.index_select(x, 1, _t(m, [3, 0])), [(2, 4)]),
    ("index_add", lambda m, x, s: x.index_add(0, _t(m, [1, 1]), s), [(2, 4), (2, 4)]),
    ("index_add_alpha", lambda m, x, s: m.index_add(x, 1, _t(m, [0, 0]), s, alpha=2.0),
     [(2, 4), (2, 2)]),
    ("index_copy", lambda m, x, s: x.index_copy(1, _t(m, [3, 0]), s), [(2, 4), (2, 2)]),
    ("index_fill", lambda m, x: x.index_fill(1, _t(m, [1, 3]), -1.0), [(2, 4)]),
    ("masked_fill", lambda m, x: x.masked_fill(_t(m, [True, False, False, True]), 0.5), [(2, 4)]),
    ("masked_fill_tensor", lambda m, x, v: m.masked_fill(x, _t(m, [[True], [False]]), v),
     [(2, 4), ()]),
    ("masked_fill_bcast", lambda m, x: x.masked_fill(_t(m, [[True], [False]]), 0.0), [(4,)]),
    ("masked_select", lambda m, x: x.masked_select(_t(m, [True, False, True, True])), [(2, 4)]),
    ("masked_select_bcast", lambda m, x: m.masked_select(x, _t(m, [[True], [False]])), [(4,)]),
    ("masked_scatter", lambda m, x, s: x.masked_scatter(_t(m, [True, False, True, False]), s),
     [(2, 4), (5,)]),
    ("take", lambda m, x: m.take(x, _t(m, [[0, 7], [-1, 3]])), [(2, 4)]),
    ("take_repeat", lambda m, x: x.take(_t(m, [1, 1, 1])), [(2, 4)]),
    ("tril", lambda m, x: x.tril(), [(3, 4)]),
    ("tril_k", lambda m, x: m.tril(x, -1), [(2, 3, 3)]),
    ("triu", lambda m, x: m.triu(x, 1), [(3, 4)]),
    ("sort", lambda m, x: m.sort(x), [(3, 5)]),
    ("sort_desc", lambda m, x: x.sort(dim=0, descending=True), [(3, 5)]),
    ("sort_values", lambda m, x: m.sort(x, 1).values, [(3, 5)]),
    ("msort", lambda m, x: m.msort(x), [(3, 5)]),
    ("topk", lambda m, x: m.topk(x, 2), [(3, 5)]),
    ("topk_small", lambda m, x: x.topk(3, dim=0, largest=False), [(7, 2)]),
    ("topk_partition", lambda m, x: x.topk(2), [(2, 20)]),
    ("topk_partition_small", lambda m, x: x.topk(3, largest=False), [(2, 20)]),
    ("sort_scalar", lambda m, x: m.sort(x), [()]),
]


@needs_torch
@pytest.mark.parametrize("name,fn,shapes", OPS, ids=[o[0] for o in OPS])
def test_ops_parity(name, fn, shapes):
    assert_parity(fn, *[_arr(s) for s in shapes])


FD_OPS = ["gather", "take_along_dim_bcast", "scatter_src", "scatter_add", "index_select",
          "index_add_alpha", "index_copy", "masked_fill_tensor", "masked_select_bcast",
          "masked_scatter", "take_repeat", "tril_k", "sort_desc", "topk_partition"]


@pytest.mark.parametrize("name", FD_OPS)
def test_ops_finite_difference(name):
    _, fn, shapes = next(o for o in OPS if o[0] == name)

    def f(*ts):
        out = fn(ember, *ts)
        return out[0] if isinstance(out, tuple) else out

    check_grad(f, *shapes)


@needs_torch
def test_inplace_forms():
    a = _arr((2, 4))
    for name, args in [("scatter_", (1, [[0, 1]], 3.0)), ("scatter_add_", (1, [[0, 0]], "src")),
                       ("index_add_", (0, [1], "src1")), ("index_fill_", (1, [0, 2], 9.0)),
                       ("masked_fill_", ("mask", 1.0)), ("tril_", ()), ("triu_", (1,))]:
        res = []
        for m in (ember, torch):
            x = m.tensor(a.copy())
            conv = {"src": m.ones(1, 2, dtype=x.dtype), "src1": m.ones(1, 4, dtype=x.dtype),
                    "mask": m.tensor([True, False, False, True])}
            call = [conv.get(v, v) if isinstance(v, str) else (m.tensor(v) if isinstance(v, list) else v)
                    for v in args]
            y = getattr(x, name)(*call)
            assert y is x
            res.append(x.numpy().copy())
        np.testing.assert_array_equal(res[0], res[1])


@needs_torch
def test_scatter_reduce_arg():
    for m in (ember, torch):
        x = m.ones(2, 3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = x.scatter(1, m.tensor([[0, 0]]), m.tensor([[2.0, 3.0]]), reduce="multiply")
        assert y[0].tolist() == [6.0, 1.0, 1.0]


def test_index_put_accumulate():
    x = ember.zeros(4)
    x.index_put_((ember.tensor([0, 0, 2]),), ember.tensor([1.0, 2.0, 3.0]), accumulate=True)
    np.testing.assert_array_equal(x.numpy(), [3, 0, 3, 0])


# ---- sort / topk return types -----------------------------------------------------------------------
@needs_torch
def test_return_type_reprs_match_torch():
    from ember._tensor_str import _str  # noqa: F401  (printing may be replaced; compare structure)

    e = ember.sort(ember.tensor([3.0, 1.0, 2.0]))
    t = torch.sort(torch.tensor([3.0, 1.0, 2.0]))
    assert repr(e).replace("ember.", "torch.").split("\n")[0] == repr(t).split("\n")[0]
    assert repr(e).count("\n") == repr(t).count("\n")
    values, indices = e
    assert e.values is values and e[1] is indices and isinstance(e, tuple)
    assert type(ember.topk(ember.tensor([1.0, 2.0]), 1)).__name__ == "topk"
    assert indices.dtype == ember.int64


def test_return_type_factory_is_shared():
    from ember._ops.indexing import _return_type

    cls = _return_type("max", ("values", "indices"))
    assert _return_type("max", ("values", "indices")) is cls
    r = cls(ember.tensor(1.0), ember.tensor(0))
    assert repr(r).startswith("ember.return_types.max(\nvalues=")


@needs_torch
def test_sort_is_stable_and_nan_ordering():
    a = np.array([2.0, 1.0, 2.0, np.nan, 1.0, 2.0])
    for desc in (False, True):
        e = ember.sort(ember.tensor(a), descending=desc, stable=True)
        t = torch.sort(torch.tensor(a), descending=desc, stable=True)
        np.testing.assert_array_equal(e.indices.numpy(), t.indices.numpy())
        np.testing.assert_array_equal(e.values.numpy(), t.values.numpy())
        np.testing.assert_array_equal(ember.argsort(ember.tensor(a), descending=desc).numpy(),
                                      t.indices.numpy())


@needs_torch
def test_topk_errors_and_dtypes():
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        ember.zeros(3).topk(4)
    x = ember.arange(10, dtype=ember.int32)
    v, i = x.topk(3)
    assert v.dtype == ember.int32 and i.dtype == ember.int64
    np.testing.assert_array_equal(v.numpy(), [9, 8, 7])


# ---- unique, nonzero, searchsorted, bucketize -----------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("kw", [{}, {"return_inverse": True}, {"return_counts": True},
                                {"return_inverse": True, "return_counts": True},
                                {"dim": 0, "return_inverse": True, "return_counts": True},
                                {"dim": 1}])
def test_unique_parity(kw):
    a = np.array([[1, 2, 1], [1, 2, 1], [0, 5, 0]])
    e = ember.unique(ember.tensor(a), **kw)
    t = torch.unique(torch.tensor(a), **kw)
    for x, y in zip(e if isinstance(e, tuple) else (e,), t if isinstance(t, tuple) else (t,)):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
        assert x.dtype == ember.int64


@needs_torch
@pytest.mark.parametrize("kw", [{}, {"return_inverse": True, "return_counts": True},
                                {"dim": 0, "return_counts": True, "return_inverse": True}])
def test_unique_consecutive_parity(kw):
    a = np.array([[1, 1], [1, 1], [2, 3], [1, 1], [2, 3], [2, 3]])
    e = ember.unique_consecutive(ember.tensor(a), **kw)
    t = torch.unique_consecutive(torch.tensor(a), **kw)
    for x, y in zip(e if isinstance(e, tuple) else (e,), t if isinstance(t, tuple) else (t,)):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


@needs_torch
def test_nonzero_argwhere_where():
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    for e, t in [(ember.nonzero(ember.tensor(a)), torch.nonzero(torch.tensor(a))),
                 (ember.argwhere(ember.tensor(a)), torch.argwhere(torch.tensor(a))),
                 (ember.tensor(3.0).nonzero(), torch.tensor(3.0).nonzero())]:
        assert e.shape == t.shape and e.dtype == ember.int64
        np.testing.assert_array_equal(e.numpy(), t.numpy())
    e = ember.where(ember.tensor(a) > 0)
    t = torch.where(torch.tensor(a) > 0)
    assert isinstance(e, tuple) and len(e) == 2
    for x, y in zip(e, t):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert ember.tensor(3.0).nonzero(as_tuple=True)[0].tolist() == [0]


@needs_torch
def test_searchsorted_bucketize():
    seq = np.array([1.0, 2.0, 2.0, 3.0])
    vals = np.array([[0.5, 2.0], [2.5, 9.0]])
    for right in (False, True):
        np.testing.assert_array_equal(
            ember.searchsorted(ember.tensor(seq), ember.tensor(vals), right=right).numpy(),
            torch.searchsorted(torch.tensor(seq), torch.tensor(vals), right=right).numpy())
        np.testing.assert_array_equal(
            ember.bucketize(ember.tensor(vals), ember.tensor(seq), right=right).numpy(),
            torch.bucketize(torch.tensor(vals), torch.tensor(seq), right=right).numpy())
    seq2 = np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]])
    v2 = np.array([[2.5, 1.0], [2.5, 5.0]])
    np.testing.assert_array_equal(
        ember.searchsorted(ember.tensor(seq2), ember.tensor(v2), side="right").numpy(),
        torch.searchsorted(torch.tensor(seq2), torch.tensor(v2), side="right").numpy())
    e = ember.searchsorted(ember.tensor(seq), 2.5)
    assert e.shape == () and e.item() == 3
    assert ember.bucketize(ember.tensor([1.0]), ember.tensor(seq), out_int32=True).dtype == ember.int32


# ---- op errors --------------------------------------------------------------------------------------------
OP_ERRORS = [
    lambda m, x: x.gather(1, m.tensor([[0]]).float()),
    lambda m, x: x.gather(1, m.tensor([[5]])),
    lambda m, x: x.gather(1, m.tensor([[-1]])),
    lambda m, x: x.gather(0, m.tensor([0])),
    lambda m, x: x.index_select(0, m.tensor([[0]])),
    lambda m, x: x.index_select(0, m.tensor([5])),
    lambda m, x: x.index_add(0, m.tensor([0]), m.zeros(1, 5)),
    lambda m, x: x.index_add(0, m.tensor([0]), m.zeros(1, 4).long()),
    lambda m, x: x.masked_fill(m.tensor([1, 0, 0, 1]), 0.0),
    lambda m, x: x.masked_fill(m.tensor([True, False, True, False]), m.tensor([1.0, 2.0])),
    lambda m, x: x.masked_select(m.tensor([True, False])),
    lambda m, x: x.take(m.tensor([20])),
    lambda m, x: x.take(m.tensor([-13])),
    lambda m, x: x.topk(5),
    lambda m, x: m.zeros(3).tril(),
    lambda m, x: x.scatter(1, m.tensor([[9]]), 1.0),
    lambda m, x: m.zeros(3).masked_scatter(m.tensor([True, True, True]), m.zeros(2)),
    lambda m, x: m.take_along_dim(x, m.tensor([[0], [1]]), 1),
]


@needs_torch
@pytest.mark.parametrize("i", range(len(OP_ERRORS)))
def test_op_errors_match_torch(i):
    _same_error(OP_ERRORS[i])


# ---- double backward (create_graph) through movement and indexing ops ---------------------------------
def _setitem_chain(m, x):
    y = x * 1
    y[0, 1:] = x[1, :3] ** 2
    return y


DOUBLE = {
    "repeat": lambda m, x: x.repeat(2, 1),
    "cat_split": lambda m, x: m.cat(x.split(2) + (x[:1],)),
    "stack_unbind": lambda m, x: m.stack(x.unbind(1)),
    "expand": lambda m, x: x[:1].expand(3, 4),
    "permute_flip_roll": lambda m, x: x.permute(1, 0).flip(0).roll(1, 1),
    "gather": lambda m, x: x.gather(1, m.tensor([[0, 0], [1, 2], [3, 3]])),
    "index_select": lambda m, x: x.index_select(1, m.tensor([0, 0, 2])),
    "sort_topk": lambda m, x: x.sort(1).values + x.topk(4).values,
    "masked_fill": lambda m, x: x.masked_fill(m.tensor([True, False, True, False]), 0.0),
    "diagonal_embed": lambda m, x: m.diag_embed(x).diagonal(1, 1, 2),
    "tril": lambda m, x: x.tril(),
    "getitem": lambda m, x: x[[0, 0, 2], [1, 1, 3]] + x[1:, None, 2].reshape(-1)[:1],
    "take": lambda m, x: x.take(m.tensor([0, 0, 5])),
    "scatter_add": lambda m, x: m.zeros(3, 5, dtype=x.dtype).scatter_add(
        1, m.tensor([[0, 0, 1, 1]] * 3), x),
    "setitem": _setitem_chain,
}


@needs_torch
@pytest.mark.parametrize("name", list(DOUBLE))
def test_double_backward_parity(name):
    a = _arr((3, 4))
    grads = []
    for m in (ember, torch):
        x = m.tensor(a, requires_grad=True)
        (g,) = m.autograd.grad((DOUBLE[name](m, x) ** 3).sum(), x, create_graph=True)
        (g * g).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-10)


@needs_torch
def test_integer_and_bool_dtypes_kept():
    a = np.arange(12).reshape(3, 4)
    for fn in [lambda m, x: x[[0, 2]], lambda m, x: x[x > 3], lambda m, x: x.gather(1, m.tensor([[1]] * 3)),
               lambda m, x: x.sort(descending=True).values, lambda m, x: x.masked_fill(x > 5, 2.7),
               lambda m, x: x.index_select(0, m.tensor([1])), lambda m, x: x.take(m.tensor([3])),
               lambda m, x: (x > 4)[1:], lambda m, x: m.cat([x, x.int()]), lambda m, x: x.tril(),
               lambda m, x: x.topk(2).values, lambda m, x: m.unique(x)]:
        e, t = fn(ember, ember.tensor(a)), fn(torch, torch.tensor(a))
        assert str(e.dtype)[6:] == str(t.dtype)[6:]
        np.testing.assert_array_equal(e.numpy(), t.numpy())
