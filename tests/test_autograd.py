"""Autograd: the engine, grad modes, autograd.grad, higher-order gradients, hooks, user
Functions, gradcheck and anomaly detection — checked against PyTorch's behaviour."""
from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest

import ember
from ember.autograd import Function
from tests.helpers import needs_torch, torch

pytestmark = [needs_torch,
              pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")]


def both(fn):
    """Run fn(T) for ember and torch; return both results."""
    return fn(ember), fn(torch)


def np_(t):
    return None if t is None else t.detach().numpy(force=True) if hasattr(t, "detach") else t


# ---- backward ---------------------------------------------------------------------------------
def test_scalar_backward_and_accumulation():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).backward(ember.ones(3))
    assert y is None
    np.testing.assert_allclose(x.grad.numpy(), [2, 4, 6])
    (x * 3).backward(ember.ones(3))  # accumulates
    np.testing.assert_allclose(x.grad.numpy(), [5, 7, 9])
    g = x.grad
    (x * 1).backward(ember.ones(3))
    assert x.grad is g  # accumulated in place, as PyTorch's AccumulateGrad does
    x.grad.zero_()
    assert x.grad.tolist() == [0, 0, 0]
    x.grad = None
    ember.tensor(2.0, requires_grad=True).backward()  # a leaf root


def test_backward_errors_match_torch():
    cases = [
        lambda T: (T.ones(3, requires_grad=True) * 2).backward(),
        lambda T: T.ones(3).backward(),
        lambda T: (T.ones(2, requires_grad=True) * 2).backward(T.ones(3)),
        lambda T: T.autograd.grad(T.ones(2) * 2, T.ones(2), T.ones(2)),
        lambda T: T.autograd.grad((T.ones(2, requires_grad=True) * 2), T.ones(2), T.ones(2)),
        lambda T: T.tensor([1, 2]).requires_grad_(),
        lambda T: (T.ones(2, requires_grad=True) * 2).requires_grad_(False),
        lambda T: (T.ones(2, requires_grad=True) * 2).backward(T.ones(2), inputs=[]),
        lambda T: T.ones(2).retain_grad(),
        lambda T: T.ones(2).register_hook(lambda g: g),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(Exception) as te:
            case(torch)
        with pytest.raises(type(te.value)) as ee:
            case(ember)
        assert str(ee.value).replace("ember.", "torch.") == str(te.value), i


def test_second_backward_through_freed_graph():
    for T in (ember, torch):
        x = T.ones(3, requires_grad=True)
        y = x.exp() * x
        y.backward(T.ones(3), retain_graph=True)
        y.backward(T.ones(3))  # allowed: the graph was retained
        with pytest.raises(RuntimeError, match=r"Trying to backward through the graph a second "
                                               r"time .* Specify retain_graph=True"):
            y.backward(T.ones(3))
        # a graph that saved nothing can be walked again, in both
        z = x + 1
        z.backward(T.ones(3))
        z.backward(T.ones(3))


def test_saved_arrays_are_freed_after_backward():
    x = ember.ones(3, requires_grad=True)
    y = x.exp()
    assert y.grad_fn._saved is not None
    y.backward(ember.ones(3))
    assert y.grad_fn._saved is None


def test_backward_inside_no_grad_works():
    # d2l's Trainer.fit_epoch calls loss.backward() inside torch.no_grad()
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x * 3)
    with ember.no_grad():
        y.backward(ember.ones(2))
        assert not ember.is_grad_enabled()
    np.testing.assert_allclose(x.grad.numpy(), [6, 12])


def test_broadcast_grads_are_reduced_and_cast():
    x = ember.tensor([[1.0], [2.0]], requires_grad=True)  # (2, 1) float32
    b = ember.tensor(3.0, dtype=ember.float64, requires_grad=True)
    y = x * ember.ones(2, 4) + b
    assert y.dtype == ember.float32  # a 0-dim float64 does not promote
    y.backward(ember.ones(2, 4))
    assert x.grad.shape == (2, 1) and x.grad.tolist() == [[4.0], [4.0]]
    assert b.grad.dtype == ember.float64 and b.grad.item() == 8.0


def test_backward_with_inputs_only_accumulates_there():
    e, t = both(lambda T: _inputs_case(T))
    assert e == t


def _inputs_case(T):
    x = T.tensor([1.0, 2.0], requires_grad=True)
    z = T.tensor([3.0, 4.0], requires_grad=True)
    h = x * 2
    y = h * z
    y.backward(T.ones(2), inputs=[x, h])
    return [np_(x.grad).tolist(), z.grad, np_(h.grad).tolist()]


def test_nonleaf_grad_warns_and_retain_grad():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.warns(UserWarning, match="The .grad attribute of a Tensor that is not a leaf "
                                         "Tensor is being accessed"):
        assert y.grad is None
    y.retain_grad()
    assert y.retains_grad and not y.is_leaf and x.is_leaf
    (y * y).backward(ember.ones(2))
    np.testing.assert_allclose(y.grad.numpy(), [4.0, 8.0])
    (y * 1).backward(ember.ones(2))  # retained grads accumulate too
    np.testing.assert_allclose(y.grad.numpy(), [5.0, 9.0])


def test_grad_assignment_checks():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    x.grad = ember.ones(2)
    for T in (torch, ember):
        with pytest.raises(RuntimeError, match="attempting to assign a gradient of size '\\[3\\]' "
                                               "to a tensor of size '\\[2\\]'"):
            T.ones(2, requires_grad=True).grad = T.ones(3)
        with pytest.raises(RuntimeError, match="attempting to assign a gradient with dtype "
                                               "'double' to a tensor with grad_dtype 'Float'"):
            T.ones(2, requires_grad=True).grad = T.ones(2, dtype=T.float64)
        with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None"):
            T.ones(2, requires_grad=True).grad = [1, 2]


def test_graph_introspection():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2 + 1).exp()
    assert repr(y.grad_fn).startswith("<ExpBackward0 object at 0x")
    (add, _), = y.grad_fn.next_functions
    assert add.name() == "AddBackward0"
    mul = add.next_functions[0][0]
    assert add.next_functions[1] == (None, 0)
    acc = mul.next_functions[0][0]
    assert type(acc).__name__ == "AccumulateGrad" and acc.variable is x
    assert mul.next_functions[0][0] is acc  # the same node while it is alive
    assert x.grad_fn is None and y.output_nr == 0


def test_detach_and_data():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.numpy() is x.numpy(force=True)
    d.add_(1)  # shares memory and the version counter
    assert x.tolist() == [2.0, 3.0] and x._version == 1
    v = x.data
    v.add_(1)  # shares memory, not the version
    assert x.tolist() == [3.0, 4.0] and x._version == 1
    y = x * 1
    y.detach_()
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf
    x.data = ember.tensor([7.0, 8.0])
    assert x.tolist() == [7.0, 8.0] and x.requires_grad


def test_control_flow_grad():
    # S3 2.5: the gradient flows through Python control flow
    def f(a):
        b = a * 2
        while (b * b).numpy(force=True).sum() ** 0.5 < 1000:
            b = b * 2
        c = b if (b.numpy(force=True).sum() > 0) else 100 * b
        return c

    ember.manual_seed(0)
    a = ember.tensor(-0.3, requires_grad=True)
    d = f(a)
    d.backward()
    assert bool(a.grad == d / a)


# ---- grad modes -------------------------------------------------------------------------------
def test_grad_modes_as_context_managers_and_decorators():
    x = ember.ones(2, requires_grad=True)
    with ember.no_grad():
        assert not (x * 2).requires_grad
        with ember.enable_grad():
            assert (x * 2).requires_grad
        assert not ember.is_grad_enabled()
    assert ember.is_grad_enabled()
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert ember.is_grad_enabled()
    ember.set_grad_enabled(False)  # as a plain call
    assert not ember.is_grad_enabled()
    ember.set_grad_enabled(True)
    with ember.inference_mode():
        assert not (x * 2).requires_grad and ember.is_inference_mode_enabled()
    with ember.inference_mode(False):
        assert (x * 2).requires_grad

    @ember.no_grad()
    def f1():
        return x * 2

    @ember.no_grad
    def f2():
        return x * 2

    @ember.set_grad_enabled(False)
    def f3():
        return x * 2

    assert ember.is_grad_enabled()  # decorating did not switch it off

    @ember.inference_mode
    def f4():
        return x * 2

    @ember.enable_grad()
    def f5():
        return x * 2

    assert not any(f().requires_grad for f in (f1, f2, f3, f4))
    with ember.no_grad():
        assert f5().requires_grad
    assert f1.__name__ == "f1"


def test_grad_mode_decorates_generators():
    x = ember.ones(2, requires_grad=True)

    @ember.no_grad()
    def gen():
        inside = yield x * 2
        assert inside == "sent"
        yield ember.is_grad_enabled()

    g = gen()
    first = next(g)
    assert not first.requires_grad and ember.is_grad_enabled()  # not leaked to the caller
    assert g.send("sent") is False
    with pytest.raises(StopIteration):
        next(g)


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError), ember.no_grad():
        raise ValueError
    assert ember.is_grad_enabled()


# ---- autograd.grad ------------------------------------------------------------------------------
def test_autograd_grad_basics():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = ember.tensor([3.0, 4.0], requires_grad=True)
    gx, gy = ember.autograd.grad(x * y, [x, y], ember.ones(2))
    assert gx.tolist() == [3.0, 4.0] and gy.tolist() == [1.0, 2.0]
    assert x.grad is None and y.grad is None and not gx.requires_grad
    (g,) = ember.autograd.grad((x * x * 2), x, ember.ones(2))
    assert g.tolist() == [4.0, 8.0]
    for T in (torch, ember):
        a = T.tensor([1.0, 2.0], requires_grad=True)
        b = T.tensor([3.0, 4.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="The differentiated Tensor at index 1 appears to "
                                               "not have been used in the graph. Set "
                                               "allow_unused=True"):
            T.autograd.grad(a * 2, [a, b], T.ones(2))
        _, gb = T.autograd.grad(a * 2, [a, b], T.ones(2), allow_unused=True)
        assert gb is None
        _, gb = T.autograd.grad(a * 2, [a, b], T.ones(2), materialize_grads=True)
        assert gb.tolist() == [0.0, 0.0]


def test_autograd_grad_wrt_nonleaf_and_pruning():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    z = h * 3
    calls = []
    x.register_hook(lambda g: calls.append("x"))
    h.grad_fn.register_prehook(lambda go: calls.append("h-node"))
    (gh,) = ember.autograd.grad(z, h, ember.ones(2))
    assert gh.tolist() == [3.0, 3.0]
    assert calls == []  # nothing below h ran: PyTorch executes only what is needed
    gh, gx = ember.autograd.grad(z, [h, x], ember.ones(2))
    assert gx.tolist() == [6.0, 6.0] and calls == ["h-node", "x"]


def test_higher_order_gradients_match_torch():
    cases = [
        lambda T, x: x ** 3,
        lambda T, x: T.sin(x),
        lambda T, x: T.exp(x) * x,
        lambda T, x: T.tanh(x),
        lambda T, x: x * x * x * x,
        lambda T, x: T.sigmoid(x * 2) / (x * x + 1),
        lambda T, x: T.log(x * x + 1) ** 2,
    ]
    for f in cases:
        out = []
        for T in (ember, torch):
            x = T.tensor(0.7, dtype=T.float64, requires_grad=True)
            y = f(T, x)
            (g1,) = T.autograd.grad(y, x, create_graph=True)
            (g2,) = T.autograd.grad(g1, x, create_graph=True)
            (g3,) = T.autograd.grad(g2, x)
            out.append([g1.item(), g2.item(), g3.item()])
        np.testing.assert_allclose(out[0], out[1], rtol=1e-12)


def test_hessian_vector_product_and_backward_create_graph():
    rng = np.random.default_rng(0)
    a, v = rng.standard_normal(4), rng.standard_normal(4)
    res = []
    for T in (ember, torch):
        x = T.tensor(a, requires_grad=True)
        y = T.exp(x) * x * x + x ** 3
        (g,) = T.autograd.grad(y, x, T.ones(4), create_graph=True)
        (hv,) = T.autograd.grad(g, x, T.tensor(v))
        x2 = T.tensor(a, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (x2 ** 3).backward(T.ones(4), create_graph=True)
        assert x2.grad.requires_grad
        res.append((np_(hv), np_(x2.grad)))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-12)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-12)


def test_relu_double_backward_keeps_graph_like_torch():
    for T in (ember, torch):
        x = T.tensor(2.0, requires_grad=True)
        (g,) = T.autograd.grad(T.relu(x), x, create_graph=True)
        assert g.requires_grad
        (g2,) = T.autograd.grad(g, x, allow_unused=True)
        assert g2 is None or g2.item() == 0.0


class _NoDoubleBackward(Function):
    _raw = True  # a primitive on arrays, like ember's own ops

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a ** 3

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * 3 * np.heaviside(a, 0.5) * a * a  # heaviside has no ember equivalent


class _SavesDerived(Function):
    _raw = True

    @staticmethod
    def forward(ctx, a):
        sq = a * a
        ctx.save_for_backward(sq)  # neither an input nor an output
        return sq * a

    @staticmethod
    def backward(ctx, grad):
        (sq,) = ctx.saved_tensors
        return grad * 3 * sq


def test_op_without_double_backward_raises_instead_of_a_wrong_number():
    for cls in (_NoDoubleBackward, _SavesDerived):
        x = ember.tensor([1.5, 2.0], requires_grad=True)
        y = cls.apply(x)
        y.backward(ember.ones(2))  # first order is fine
        np.testing.assert_allclose(x.grad.numpy(), [6.75, 12.0])
        with pytest.raises(RuntimeError, match=f"{cls.__name__}Backward0 does not support double "
                                               "backward"):
            ember.autograd.grad(cls.apply(x), x, ember.ones(2), create_graph=True)


def test_raw_primitive_receives_arrays():
    seen = []

    class Twice(Function):
        _raw = True

        @staticmethod
        def forward(ctx, a):
            seen.append(type(a))
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            seen.append(type(grad))
            return grad * 2

    x = ember.ones(2, requires_grad=True)
    y = Twice.apply(x)
    y.backward(ember.ones(2))
    assert seen == [np.ndarray, np.ndarray] and y.grad_fn.name() == "TwiceBackward0"
    assert x.grad.tolist() == [2.0, 2.0]


# ---- hooks --------------------------------------------------------------------------------------
def test_tensor_hooks_match_torch():
    def run(T):
        log = []
        x = T.tensor([1.0, 2.0], requires_grad=True)
        hx = x.register_hook(lambda g: log.append(("x", g.tolist())) or g * 10)
        y = x * 2
        y.register_hook(lambda g: log.append(("y", g.tolist())))
        z = y * x + x  # x is used three times: its hook sees the summed grad once
        z.backward(T.ones(2))
        hx.remove()
        x.grad = None
        (x * 3).backward(T.ones(2))
        return log, x.grad.tolist()

    e, t = both(run)
    assert e == t


def test_node_hooks_and_post_accumulate_hook():
    def run(T):
        log = []
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.grad_fn.register_prehook(lambda go: (go[0] * 10,))
        y.grad_fn.register_hook(lambda gi, go: (gi[0] + 1, None))
        x.register_post_accumulate_grad_hook(lambda t: log.append(t.grad.tolist()))
        y.backward(T.ones(2))
        return log, x.grad.tolist()

    e, t = both(run)
    assert e == t
    with pytest.raises(RuntimeError, match="has returned an incorrect number of values \\(got 1, "
                                           "but expected 2\\)"):
        y = ember.ones(2, requires_grad=True) * 2
        y.grad_fn.register_hook(lambda gi, go: (gi[0],))
        y.backward(ember.ones(2))


@pytest.mark.parametrize("hooks", ["leaves and activations", "leaves", "none (the fast walk)"])
def test_leaf_is_finished_as_soon_as_its_grad_is_complete(hooks):
    # PyTorch's AccumulateGrad runs once a leaf's last grad has arrived, not after the walk:
    # the last layer's parameter is done before backward reaches the first layer (DDP's overlap)
    rng = np.random.default_rng(0)
    xs, w1s, b1s, w2s = (rng.integers(-3, 4, s).astype(np.float64)
                         for s in ((4, 3), (3, 5), (5,), (5, 2)))

    def run(T):
        log = []
        x = T.tensor(xs)
        w1, b1, w2 = (T.tensor(a, requires_grad=True) for a in (w1s, b1s, w2s))
        for name, p in (("w1", w1), ("b1", b1), ("w2", w2)):
            if hooks != "none (the fast walk)":
                p.register_hook(lambda g, n=name: log.append("hook " + n))
                p.register_post_accumulate_grad_hook(
                    lambda p, n=name: log.append(("post " + n, p.grad.tolist())))
        for _ in range(2):  # the second backward accumulates into .grad
            h = x @ w1 + b1
            a = h.relu()
            if hooks == "leaves and activations":
                h.register_hook(lambda g: log.append("h"))
                a.register_hook(lambda g: log.append("a"))
            (a @ w2).sum().backward()
        return log, [p.grad.tolist() for p in (w1, b1, w2)]

    (e_log, e_grads), (t_log, t_grads) = both(run)
    assert e_log == t_log and e_grads == t_grads
    names = [x if isinstance(x, str) else x[0] for x in e_log[:len(e_log) // 2]]
    if hooks == "leaves and activations":
        assert names == ["hook w2", "post w2", "a", "h", "hook b1", "post b1", "hook w1",
                         "post w1"]
    elif hooks == "leaves":
        assert names == ["hook w2", "post w2", "hook b1", "post b1", "hook w1", "post w1"]
    else:
        assert names == []


def test_queue_callback_runs_once_after_the_walk():
    def run(T):
        log = []
        queue = T.autograd.Variable._execution_engine.queue_callback
        w = T.tensor([1.0, 2.0], requires_grad=True)
        v = T.tensor([3.0, 4.0], requires_grad=True)

        def post(p):
            log.append(("post", p.grad.tolist()))
            if len(log) == 1:  # queued once, in the first backward: a callback may queue more
                queue(lambda: log.append(("cb", w.grad.tolist(), v.grad.tolist()))
                      or queue(lambda: log.append("cb2")))

        w.register_post_accumulate_grad_hook(post)
        v.register_post_accumulate_grad_hook(post)
        for _ in range(2):
            (w * v).sum().backward()
        with pytest.raises(RuntimeError) as err:
            queue(lambda: None)
        return log, str(err.value)

    e, t = both(run)
    assert e == t
    assert e[0] == [("post", [3.0, 4.0]), ("post", [1.0, 2.0]), ("cb", [3.0, 4.0], [1.0, 2.0]),
                    "cb2", ("post", [6.0, 8.0]), ("post", [2.0, 4.0])]
    assert e[1] == "Final callbacks can only be installed during backward pass."


@pytest.mark.parametrize("hook", [True, False])  # the general walk, the fast walk
def test_leaf_turned_off_after_forward_gets_no_grad_but_its_hook_runs(hook):
    def run(T):
        log = []
        w = T.ones(3, requires_grad=True)
        if hook:
            w.register_post_accumulate_grad_hook(lambda p: log.append(p.grad))
        y = (w * 2).sum()
        w.requires_grad_(False)
        y.backward()
        return log, w.grad

    want = ([None] if hook else [], None)
    assert both(run) == (want, want)


# ---- user Functions (PyTorch's protocol: Tensors in and out) -------------------------------------
def _user_functions(T):
    class Cube(T.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            ctx.types = (type(x).__name__, ctx.needs_input_grad)
            return x ** 3 * k

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            ctx.bw_types = (type(g).__name__, type(x).__name__, T.is_grad_enabled())
            return g * 3 * x * x * ctx.k, None

    class ExpF(T.autograd.Function):  # saves its output
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class SplitND(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = T.tensor([1, 0])
            ctx.mark_non_differentiable(idx)
            ctx.set_materialize_grads(False)
            return x * 2, x * 3, idx

        @staticmethod
        def backward(ctx, g1, g2, gi):
            ctx.seen = (g1 is None, g2 is None, gi is None)
            out = 0
            if g1 is not None:
                out = out + g1 * 2
            if g2 is not None:
                out = out + g2 * 3
            return out

    class AddOneInPlace(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    class Scale(T.autograd.Function):  # the setup_context form
        @staticmethod
        def forward(x, k):
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    return Cube, ExpF, SplitND, AddOneInPlace, Scale


def test_user_function_protocol_matches_torch():
    def run(T):
        Cube, ExpF, SplitND, AddOneInPlace, Scale = _user_functions(T)
        out = {}
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = Cube.apply(x, 2.0)
        out["name"] = y.grad_fn.name()
        out["fwd"] = y.grad_fn.types
        y.backward(T.ones(2))
        out["bw"] = y.grad_fn.bw_types
        out["grad"] = x.grad.tolist()
        x.grad = None
        e = ExpF.apply(x)
        e.backward(T.ones(2))
        out["exp"] = x.grad.tolist()
        x.grad = None
        a, b, i = SplitND.apply(x)
        out["nd"] = (a.requires_grad, b.requires_grad, i.requires_grad, i.grad_fn is None)
        a.backward(T.ones(2))
        out["seen"] = a.grad_fn.seen
        out["ndgrad"] = x.grad.tolist()
        x.grad = None
        h = x * 1
        r = AddOneInPlace.apply(h)
        out["dirty"] = (r is h, h.grad_fn.name(), h._version)
        r.backward(T.ones(2))
        out["dirtygrad"] = x.grad.tolist()
        x.grad = None
        Scale.apply(x, 5.0).backward(T.ones(2))
        out["scale"] = x.grad.tolist()
        with T.no_grad():
            nz = Cube.apply(x, 2.0)
        out["nograd"] = (nz.requires_grad, nz.grad_fn is None)
        z = Cube.apply(T.ones(2), 1.0)
        out["noreq"] = (z.requires_grad, z.grad_fn is None)
        return out

    e, t = both(run)
    assert e == t
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad has been used in "
                                           "an in-place operation."):
        _user_functions(ember)[3].apply(ember.ones(2, requires_grad=True))


def test_user_function_double_backward():
    for T in (ember, torch):
        Cube = _user_functions(T)[0]
        x = T.tensor(2.0, dtype=T.float64, requires_grad=True)
        (g,) = T.autograd.grad(Cube.apply(x, 1.0), x, create_graph=True)
        (g2,) = T.autograd.grad(g, x)
        assert (g.item(), g2.item()) == (12.0, 12.0)


def test_user_function_errors_match_torch():
    def bad(T, kind):
        class Bad(T.autograd.Function):
            @staticmethod
            def forward(ctx, a, k):
                if kind == "save":
                    ctx.save_for_backward(3)
                return a * k

            @staticmethod
            def backward(ctx, g):
                if kind == "count":
                    return g
                if kind == "nonvar":
                    return g, g
                return T.ones(5), None

        return Bad.apply(T.ones(2, requires_grad=True), 2.0).backward(T.ones(2))

    for kind in ("count", "nonvar", "shape", "save"):
        with pytest.raises(Exception) as te:
            bad(torch, kind)
        with pytest.raises(type(te.value)) as ee:
            bad(ember, kind)
        assert str(ee.value) == str(te.value), kind


def test_once_differentiable():
    from ember.autograd.function import once_differentiable

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    x = ember.tensor(2.0, requires_grad=True)
    (g,) = ember.autograd.grad(Cube.apply(x), x, create_graph=True)
    assert g.item() == 12.0
    g2 = ember.tensor(1.0, requires_grad=True)
    (h,) = ember.autograd.grad(Cube.apply(x), x, g2 * 1, create_graph=True)
    with pytest.raises(RuntimeError, match="trying to differentiate twice a function that was "
                                           "marked with @once_differentiable"):
        h.backward()


# ---- gradcheck -----------------------------------------------------------------------------------
def test_gradcheck_and_gradgradcheck():
    from ember.autograd.gradcheck import GradcheckError

    x = ember.tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)
    y = ember.tensor(np.random.default_rng(1).standard_normal(3), requires_grad=True)
    assert ember.autograd.gradcheck(lambda a, b: (a * b).exp() / (1 + b * b), (x, y))
    assert ember.autograd.gradgradcheck(lambda a, b: (a * b).tanh(), (x, y))

    class Wrong(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    with pytest.raises(GradcheckError, match="Jacobian mismatch for output 0 with respect to "
                                             "input 0,\nnumerical:"):
        ember.autograd.gradcheck(Wrong.apply, (x,))
    assert ember.autograd.gradcheck(Wrong.apply, (x,), raise_exception=False) is False
    assert issubclass(GradcheckError, RuntimeError)
    with pytest.warns(UserWarning, match="Input #0 requires gradient and is not a double"):
        ember.autograd.gradcheck(lambda a: a * 2, (ember.ones(2, requires_grad=True),),
                                 eps=1e-2, atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        ember.autograd.gradcheck(lambda a: a * 2, (ember.ones(2, dtype=ember.float64),))


# ---- anomaly detection ---------------------------------------------------------------------------
def test_detect_anomaly_names_the_op_and_its_forward_line():
    x = ember.tensor(0.0, requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        ctx = ember.autograd.detect_anomaly()
    with ctx:
        assert ember.autograd.is_anomaly_enabled()
        y = x.sqrt() * 0  # sqrt's backward makes 0 * inf = nan
        with pytest.warns(UserWarning, match=r"Error detected in SqrtBackward0(.|\n)*"
                                             r"test_autograd.py"), \
                pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan values "
                                                  "in its 0th output."):
            y.backward()
    assert not ember.autograd.is_anomaly_enabled()
    for T in (torch, ember):  # without anomaly mode, the NaN passes silently
        x = T.tensor(0.0, requires_grad=True)
        (x.sqrt() * 0).backward()
        assert np.isnan(x.grad.item())


def test_set_detect_anomaly_call_and_context():
    ember.autograd.set_detect_anomaly(True)
    try:
        assert ember.autograd.is_anomaly_enabled()
        x = ember.tensor([1.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="Function 'MulBackward0' returned nan values in "
                                               "its 0th output."), \
                pytest.warns(UserWarning, match="Error detected in MulBackward0"):
            (x * ember.tensor([float("nan")])).backward(ember.ones(1))
    finally:
        ember.autograd.set_detect_anomaly(False)
    with ember.autograd.set_detect_anomaly(True, check_nan=False):
        x = ember.tensor([1.0], requires_grad=True)
        (x * ember.tensor([float("nan")])).backward(ember.ones(1))  # no NaN check
    assert not ember.autograd.is_anomaly_enabled()


# ---- the iteration protocol keeps the graph -------------------------------------------------------
def test_unpacking_parameters_keeps_the_graph():
    if not hasattr(ember.Tensor, "unbind"):
        pytest.skip("unbind (movement.py) not available yet")
    e, t = both(lambda T: _unpack_case(T))
    np.testing.assert_allclose(e, t, rtol=1e-6)


def _unpack_case(T):
    params = T.tensor([1.0, 0.0], requires_grad=True)
    t_u = T.tensor([35.7, 55.9, 58.2])
    t_c = T.tensor([0.5, 14.0, 15.0])

    def model(t_u, w, b):
        return w * t_u + b

    w, b = params
    assert w.grad_fn is not None and b.dim() == 0
    t_p = model(t_u, *params)
    loss = ((t_p - t_c) ** 2).mean()
    loss.backward()
    return params.grad.numpy()


def test_graph_is_collected():
    import weakref

    x = ember.ones(3, requires_grad=True)
    y = x.exp() * 2
    ref = weakref.ref(y.grad_fn)
    y.backward(ember.ones(3))
    del y
    gc.collect()
    assert ref() is None


def test_loss_backward_seed_is_never_shared_with_grads():
    # loss.backward() seeds the walk with a cached read-only ones array: a leaf's .grad must
    # never be that array (or a view of it), so writing into .grad stays private
    x = ember.tensor(2.0, requires_grad=True)
    (x + 0.0).backward()  # AddBackward passes the seed straight through
    x.grad += 1
    (x + 0.0).backward()
    assert x.grad.item() == 3.0
    y = ember.tensor([2.0], requires_grad=True)
    y.reshape(()).backward()  # a view of the seed
    y.grad.mul_(5)
    y.reshape(()).backward()
    assert y.grad.tolist() == [6.0]
    z = ember.tensor(1.0, requires_grad=True)
    (z * 1.0).backward()
    assert z.grad.item() == 1.0 and (z + 0.0).detach().item() == 1.0


@pytest.mark.parametrize("op", [
    lambda T, x: x.mean(), lambda T, x: x.sum(), lambda T, x: x.sum(0), lambda T, x: x.mean(1),
    lambda T, x: x.unbind()[1], lambda T, x: x.split(1)[0], lambda T, x: x.view(6),
    lambda T, x: x.t(), lambda T, x: x[0], lambda T, x: x + 1.0, lambda T, x: x * 2,
    lambda T, x: x ** 2, lambda T, x: x ** T.tensor(2.0), lambda T, x: 2 - x,
    lambda T, x: x.masked_fill(x > 1, 0.0),
])
def test_next_functions_match_torch(op):
    # options (dims, dtypes) are not graph inputs: the node has PyTorch's number of edges
    def shape(T):
        x = T.arange(6.0).reshape(2, 3).requires_grad_()
        fns = op(T, x).grad_fn.next_functions
        return [None if f is None else type(f).__name__ for f, _ in fns]

    e, t = shape(ember), shape(torch)
    assert len(e) == len(t) and [f is None for f in e] == [f is None for f in t], (e, t)


def test_mixed_dtypes_promote_inside_the_op_as_in_pytorch():
    # Function.apply casts the operands once (ember/_promotion.py): no cast node in the graph,
    # each grad comes back in its input's dtype, and double backward goes through the cast.
    a = ember.tensor([1.5, -2.0], requires_grad=True)
    b = ember.tensor([0.5, 3.0], dtype=ember.float64, requires_grad=True)
    y = a * b * b
    assert y.dtype == ember.float64
    assert [n.name() for n, _ in y.grad_fn.next_functions] == ["MulBackward0",
                                                                "torch::autograd::AccumulateGrad"]
    ga, gb = ember.autograd.grad(y.sum(), (a, b), create_graph=True)
    assert (ga.dtype, gb.dtype) == (ember.float32, ember.float64)
    np.testing.assert_allclose(ga.detach().numpy(), [0.25, 9.0])
    np.testing.assert_allclose(gb.detach().numpy(), [1.5, -12.0])
    (gga,) = ember.autograd.grad(gb.sum(), a)  # d/da of 2 a b: 2 b
    assert gga.dtype == ember.float32
    np.testing.assert_allclose(gga.numpy(), [1.0, 6.0])
    i = ember.arange(2)  # an integer operand is promoted too, and gets no edge
    z = a * i
    assert z.dtype == ember.float32 and z.grad_fn.next_functions[1] == (None, 0)


@pytest.mark.parametrize("write", ["copy_", "fill_", "zero_"])
def test_a_constant_written_through_a_view_gets_no_gradient(write):
    # PyTorch's CopySlices: the written region of the base no longer depends on its history
    def run(lib):
        a = lib.arange(4.0, requires_grad=True)
        b = a * 2
        view = b[1:3]
        {"copy_": lambda: view.copy_(lib.ones(2)), "fill_": lambda: view.fill_(5.0),
         "zero_": lambda: view.zero_()}[write]()
        (b * b).sum().backward()
        return a.grad.tolist(), b.tolist()

    assert run(ember) == run(torch)
    assert run(ember)[0] == [0.0, 0.0, 0.0, 24.0]  # d(4 a^2)/da = 8 a, outside the write
