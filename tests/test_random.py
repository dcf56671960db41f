"""Random numbers: bit-for-bit PyTorch's CPU streams after the same manual_seed."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import needs_torch, torch

import ember
from ember import _random

SEEDS = (0, 777, 2 ** 40 + 3)


def _np(x):
    if isinstance(x, ember.Tensor):
        return x.detach().numpy()
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def assert_same_stream(fe, ft, seeds=SEEDS):
    """Same values (bit for bit), dtype and shape, and the same amount of the stream consumed."""
    for s in seeds:
        ember.manual_seed(s)
        torch.manual_seed(s)
        e, t = _np(fe(ember)), _np(ft(torch) if ft is not None else fe(torch))
        assert e.dtype == t.dtype and e.shape == t.shape, (s, e.dtype, t.dtype, e.shape, t.shape)
        assert np.array_equal(e, t, equal_nan=True), (s, e, t)
        # what comes next must agree too
        assert np.array_equal(ember.rand(4).numpy(), torch.rand(4).numpy()), s


def same(fn):
    assert_same_stream(fn, None)


# ---- rand / randn -----------------------------------------------------------------------------
SIZES = [1, 7, 15, 16, 17, 100, 1000]


@needs_torch
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_rand_randn_streams(n, dt):
    same(lambda m: m.rand(n, dtype=getattr(m, dt)))
    same(lambda m: m.randn(n, dtype=getattr(m, dt)))


@needs_torch
@pytest.mark.parametrize("n", [5, 16, 33, 300])
def test_float16(n):
    same(lambda m: m.rand(n, dtype=m.float16))
    same(lambda m: m.randn(n, dtype=m.float16))
    same(lambda m: m.empty(n, dtype=m.float16).normal_(1.0, 3.0))
    same(lambda m: m.empty(n, dtype=m.float16).uniform_(-2, 3))


@needs_torch
def test_shapes_and_keyword_forms():
    same(lambda m: m.randn(3, 4))
    same(lambda m: m.randn((2, 3, 5)))
    same(lambda m: m.rand([2, 9]))
    same(lambda m: m.rand(m.Size([4, 5])))
    same(lambda m: m.rand(size=(2, 5)))
    same(lambda m: m.randn(size=(), requires_grad=True))
    same(lambda m: m.randn(()))
    same(lambda m: m.rand(0))
    same(lambda m: m.randn(2, 0, 3))
    ember.manual_seed(0)
    t = ember.randn(size=(), requires_grad=True)
    assert t.shape == () and t.requires_grad and t.is_leaf
    assert ember.rand(2, dtype=ember.float64, requires_grad=True).dtype == ember.float64


@needs_torch
def test_randn_cached_sample_carries_across_calls():
    # the scalar Box-Muller caches its second sample in the generator
    same(lambda m: np.concatenate([m.randn(3).numpy(), m.randn(5).numpy(), m.randn(20).numpy(),
                                   m.randn(1).numpy(), m.randn(2, dtype=m.float64).numpy()]))


@needs_torch
def test_seed_777_matches_linear_init():
    # the reason all this matters: learners' seeded nn.Linear weights are PyTorch's
    def init(m):
        w = m.empty(256, 784)
        bound = 1 / np.sqrt(784)
        return np.concatenate([w.uniform_(-bound, bound).numpy().ravel(),
                               m.empty(256).uniform_(-bound, bound).numpy()])

    assert_same_stream(init, None, seeds=(777,))


# ---- integers ---------------------------------------------------------------------------------
@needs_torch
def test_randint_forms():
    same(lambda m: m.randint(0, 10, (50,)))
    same(lambda m: m.randint(10, (5, 3)))
    same(lambda m: m.randint(-5, 2 ** 40, (50,)))  # a range >= 2**28 uses random64()
    same(lambda m: m.randint(3, 100, (7, 3), dtype=m.float32))
    same(lambda m: m.randint(0, 256, (9,), dtype=m.uint8))
    same(lambda m: m.randint(10, (5,), dtype=m.int32))
    same(lambda m: m.randint(0, 2, (9,), dtype=m.bool))
    same(lambda m: m.randint(high=10, size=(3,)))
    same(lambda m: m.randint(low=2, high=10, size=(3,)))
    same(lambda m: m.randint(0, 10, m.Size([2, 2])))
    same(lambda m: m.randint_like(m.zeros(3, 4), 10))
    same(lambda m: m.randint_like(m.zeros(3, 4, dtype=m.int32), 3, 10))


@needs_torch
@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 100, 1000, 60000])
def test_randperm(n):
    same(lambda m: m.randperm(n))


@needs_torch
def test_randperm_dtypes_and_generator():
    same(lambda m: m.randperm(20, dtype=m.float32))
    same(lambda m: m.randperm(20, dtype=m.int32))
    same(lambda m: m.randperm(9, generator=m.Generator().manual_seed(5)))


def test_fisher_yates_matches_sequential_swaps():
    rng = np.random.default_rng(0)
    for n in list(range(25)) + [200, 3000]:
        for _ in range(20 if n < 25 else 3):
            z = rng.integers(0, 2 ** 32, max(n - 1, 0)) % np.arange(n, 1, -1)
            perm = list(range(n))
            for i, d in enumerate(z.tolist()):
                perm[i], perm[i + d] = perm[i + d], perm[i]
            np.testing.assert_array_equal(_random._fisher_yates(n, z.astype(np.int64)), perm)


def test_randperm_60000_is_a_permutation():
    # its speed: bench/overhead.py, "randperm(60000)"
    p = ember.randperm(60000)
    assert np.array_equal(np.sort(p.numpy()), np.arange(60000))


@needs_torch
def test_random_():
    same(lambda m: m.empty(20, dtype=m.int64).random_())
    same(lambda m: m.empty(20).random_())
    same(lambda m: m.empty(20, dtype=m.float64).random_())
    same(lambda m: m.empty(20, dtype=m.float16).random_())
    same(lambda m: m.empty(20, dtype=m.int32).random_())
    same(lambda m: m.empty(20, dtype=m.uint8).random_())
    same(lambda m: m.empty(20, dtype=m.bool).random_())
    same(lambda m: m.empty(20, dtype=m.int64).random_(7))
    same(lambda m: m.empty(20).random_(-3, 7))
    same(lambda m: m.empty(20, dtype=m.int16).random_(-3, None))


# ---- normal -----------------------------------------------------------------------------------
@needs_torch
def test_normal_overloads():
    same(lambda m: m.normal(0, 0.5, (10, 1)))
    same(lambda m: m.normal(2., 0.5, size=(100,)))
    same(lambda m: m.normal(0, 0.01, (3, 1), requires_grad=True))
    same(lambda m: m.normal(m.arange(1., 11.), m.arange(1, 0, -0.1)))
    same(lambda m: m.normal(m.zeros(40, 3), m.ones(3) * 2))
    same(lambda m: m.normal(m.arange(20.), 0.3))
    same(lambda m: m.normal(mean=m.arange(5.)))
    same(lambda m: m.normal(0.7, m.arange(1., 30.)))
    same(lambda m: m.normal(m.arange(20., dtype=m.float64), 0.3))
    same(lambda m: m.normal(0., 1., (5,), dtype=m.float64))


@needs_torch
def test_normal_size_form_requires_grad():
    ember.manual_seed(0)
    w = ember.normal(0, 0.01, (4, 1), requires_grad=True)
    assert w.requires_grad and w.is_leaf and w.dtype == ember.float32


@needs_torch
@pytest.mark.parametrize("fn,name", [
    (lambda m, x: m.normal(x, 1.0), "NormalBackward1"),
    (lambda m, x: m.normal(0.0, x.abs() + 1), None),
    (lambda m, x: m.normal(x, m.ones(3)), "NormalBackward3"),
    (lambda m, x: m.bernoulli(x.sigmoid()), None),
])
def test_sampling_ops_have_zero_gradients(fn, name):
    for m in (ember, torch):
        x = m.zeros(3, requires_grad=True)
        y = fn(m, x)
        if name is not None:
            assert y.grad_fn.name() == name
        y.sum().backward()
        assert np.array_equal(_np(x.grad), np.zeros(3, np.float32))


# ---- in-place samplers ------------------------------------------------------------------------
@needs_torch
def test_uniform_normal_inplace():
    same(lambda m: m.empty(300, 20).uniform_(-0.2, 0.2))
    same(lambda m: m.empty(300, 20, dtype=m.float64).uniform_(-0.2, 0.7))
    same(lambda m: m.empty(3).uniform_())
    same(lambda m: m.empty(64, 33).normal_(0.1, 0.02))
    same(lambda m: m.empty(64, 33, dtype=m.float64).normal_(-1., 3.))
    same(lambda m: m.empty(5, 3).normal_(2., 0.5))
    # non-contiguous: visited in memory order, normal_ takes the scalar path
    same(lambda m: m.empty(5, 33).t().normal_(0.1, 0.02))
    same(lambda m: m.empty(5, 33).t().uniform_(0.1, 0.2))


@needs_torch
def test_inplace_returns_self_and_bumps_version():
    t = ember.zeros(3)
    v = t._version
    assert t.uniform_() is t and t._version == v + 1
    assert t.normal_() is t and t.bernoulli_(0.5) is t


def test_inplace_on_leaf_requiring_grad():
    w = ember.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.uniform_()
    with ember.no_grad():
        w.normal_()
    assert w.requires_grad and w.grad_fn is None


@needs_torch
@pytest.mark.parametrize("op,name", [
    ("uniform_()", "UniformBackward0"), ("normal_()", "NormalBackward0"),
    ("random_()", "RandomBackward2"), ("random_(5)", "RandomBackward1"),
    ("random_(2, 5)", "RandomBackward0"), ("bernoulli_(0.5)", "BernoulliBackward2"),
    ("exponential_()", "ExponentialBackward0"), ("geometric_(0.5)", "GeometricBackward0"),
    ("log_normal_()", "LogNormalBackward0"),
])
def test_inplace_on_graph_tensor(op, name):
    for m in (ember, torch):
        x = m.ones(3, requires_grad=True)
        y = x * 2
        eval("y." + op)
        assert y.grad_fn.name() == name
        y.sum().backward()
        assert np.array_equal(_np(x.grad), np.zeros(3, np.float32))


@needs_torch
def test_bernoulli_exponential_geometric():
    same(lambda m: m.empty(50).bernoulli_(0.3))
    same(lambda m: m.empty(50, dtype=m.int64).bernoulli_(0.7))
    same(lambda m: m.empty(50).bernoulli_(m.linspace(0, 1, 50)))
    same(lambda m: m.empty(4, 5).bernoulli_(m.rand(5, dtype=m.float64)))
    same(lambda m: m.bernoulli(m.rand(4, 5)))
    same(lambda m: m.bernoulli(m.rand(4, 5, dtype=m.float64)))
    same(lambda m: m.bernoulli(m.rand(4, 5), 0.2))
    same(lambda m: m.rand(6).bernoulli())
    same(lambda m: m.empty(50).exponential_(2.5))
    same(lambda m: m.empty(50, dtype=m.float64).exponential_())
    same(lambda m: m.empty(50).geometric_(0.3))
    same(lambda m: m.empty(50, dtype=m.float64).log_normal_())


@needs_torch
def test_dropout_recipe():
    # F.dropout on the CPU is input * bernoulli_(1 - p) / (1 - p); the stream matches
    x = np.random.default_rng(0).standard_normal((8, 50)).astype(np.float32)
    torch.manual_seed(3)
    want = torch.nn.functional.dropout(torch.tensor(x), 0.3).numpy()
    ember.manual_seed(3)
    mask = ember.empty(8, 50).bernoulli_(0.7).numpy() / np.float32(0.7)
    assert np.array_equal(x * mask, want)


@needs_torch
def test_multinomial():
    same(lambda m: m.multinomial(m.tensor([0.1, 0.5, 0.4]), 1))
    same(lambda m: m.multinomial(m.rand(4, 10), 5))
    same(lambda m: m.multinomial(m.rand(4, 10), 20, True))
    same(lambda m: m.multinomial(m.tensor([0., 2., 3., 0., 5.]), 30, replacement=True))
    same(lambda m: m.multinomial(m.rand(3, 10, dtype=m.float64), 4))
    same(lambda m: m.rand(2, 6).multinomial(3))


# ---- generators and state ---------------------------------------------------------------------
@needs_torch
def test_generator_objects():
    def draw(m):
        g = m.Generator().manual_seed(42)
        return np.concatenate([m.rand(5, generator=g).numpy(),
                               m.randn(5, generator=g).numpy(),
                               m.randn(20, generator=g).numpy(),
                               m.empty(3).uniform_(generator=g).numpy(),
                               m.empty(3).normal_(generator=g).numpy(),
                               m.randint(0, 9, (4,), generator=g).numpy().astype(np.float32),
                               m.randperm(10, generator=g).numpy().astype(np.float32),
                               m.normal(0., 1., (3,), generator=g).numpy(),
                               m.multinomial(m.ones(5), 2, generator=g).numpy().astype(np.float32)])

    same(draw)  # also checks that the default generator was not touched
    assert ember.Generator().initial_seed() == torch.Generator().initial_seed() == 67280421310721
    assert ember.Generator(device="cpu").device == ember.device("cpu")


@needs_torch
def test_state_bytes_match_torch():
    same(lambda m: m.get_rng_state())
    same(lambda m: (m.randn(3), m.get_rng_state())[1])  # with a cached normal sample
    same(lambda m: (m.rand(624), m.get_rng_state())[1])  # exactly one twist consumed
    same(lambda m: (m.rand(1000, dtype=m.float64), m.get_rng_state())[1])


@needs_torch
def test_state_round_trips():
    ember.manual_seed(5)
    ember.randn(3)
    state = ember.get_rng_state()
    a = ember.randn(7).numpy()
    ember.rand(100)
    ember.set_rng_state(state)
    assert np.array_equal(ember.randn(7).numpy(), a)
    # PyTorch's state restores ember's stream and vice versa
    torch.manual_seed(9)
    torch.randn(5)
    ember.set_rng_state(ember.tensor(torch.get_rng_state().numpy()))
    assert np.array_equal(ember.randn(9).numpy(), torch.randn(9).numpy())
    torch.set_rng_state(torch.from_numpy(ember.get_rng_state().numpy().copy()))
    assert np.array_equal(ember.rand(9).numpy(), torch.rand(9).numpy())
    g = ember.Generator().manual_seed(1)
    s = g.get_state()
    x = ember.rand(3, generator=g).numpy()
    g.set_state(s)
    assert np.array_equal(ember.rand(3, generator=g).numpy(), x)
    assert s.dtype == ember.uint8 and s.shape == (5056,)


@needs_torch
def test_seeding():
    for s in (0, 1, -1, 2 ** 64 - 1, 2 ** 32 + 5, 1.5, "3"):
        g = ember.manual_seed(s)
        assert g is ember.default_generator
        assert ember.initial_seed() == torch.manual_seed(s).initial_seed()
        assert np.array_equal(ember.rand(3).numpy(), torch.rand(3).numpy())
    s = ember.seed()
    assert isinstance(s, int) and ember.initial_seed() == s
    assert 0 <= s < 2 ** 53


# ---- errors -----------------------------------------------------------------------------------
ERRORS = [
    "m.randperm(-1)", "m.randperm(3000, dtype=m.half)", "m.randperm(5, dtype=m.bool)",
    "m.randint(5, 3, (2,))", "m.randint(5)", "m.randint(0, 300, (3,), dtype=m.uint8)",
    "m.rand(3, dtype=m.int64)", "m.randn(3, dtype=m.int32)", "m.rand(-1)", "m.randn(2, -3)",
    "m.randn(2.5)", "m.rand(size=5)",
    "m.normal(0., -1., (3,))", "m.normal(m.zeros(3), m.tensor([1., -1., 1.]))",
    "m.normal(m.zeros(3), -1.)", "m.normal(0, 1)",
    "m.empty(3).uniform_(1, 0)", "m.empty(3, dtype=m.int64).uniform_()",
    "m.empty(3, dtype=m.int64).normal_()", "m.empty(3).normal_(0, -1)",
    "m.empty(3).bernoulli_(1.5)", "m.bernoulli(m.tensor([1.5]))", "m.bernoulli(m.tensor([1, 0]))",
    "m.empty(3).exponential_(0)", "m.empty(3, dtype=m.int64).exponential_()",
    "m.empty(3).geometric_(0)", "m.empty(3).log_normal_(0, 0)",
    "m.multinomial(m.tensor([0.2, 0.8]), 3)", "m.multinomial(m.tensor([0., 0.]), 1)",
    "m.multinomial(m.tensor([-1., 2.]), 1)", "m.multinomial(m.tensor([1, 2]), 1)",
    "m.multinomial(m.ones(2, 2, 2), 1)", "m.multinomial(m.ones(3), 0)",
    "m.multinomial(m.tensor([0., 0.]), 2, True)", "m.multinomial(m.tensor([-1., 2.]), 2, True)",
    "m.multinomial(m.tensor([float('inf'), 2.]), 2, True)",
    "m.empty(3).random_(5, 2)", "m.empty(3, dtype=m.uint8).random_(0, 300)",
    "m.empty(3, dtype=m.int8).random_(-200, 3)", "m.randint(3, 10, (2,), dtype=m.bool)",
    "m.randint(0, 3, (2,), requires_grad=True)",
    "m.Generator().manual_seed(1.5)", "m.manual_seed(2 ** 64)",
    "m.set_rng_state(m.zeros(10, dtype=m.uint8))", "m.set_rng_state(m.zeros(5056))",
    "m.set_rng_state(m.zeros(5056, dtype=m.uint8))",
]


@needs_torch
@pytest.mark.parametrize("expr", ERRORS)
def test_errors_match_torch(expr):
    with pytest.raises(Exception) as want:
        eval(expr, {"m": torch})
    with pytest.raises(want.type) as got:
        eval(expr, {"m": ember})
    first = str(want.value).split("\n")[0].replace("torch.", "ember.")
    if "invalid combination" in first or "must be tuple of ints" in first:
        return  # PyTorch's argument-parser texts; the type is what matters
    assert str(got.value).split("\n")[0] == first


def test_generator_argument_type():
    with pytest.raises(TypeError):
        ember.rand(2, generator=5)
