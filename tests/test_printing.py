"""repr/str/print of tensors: character for character PyTorch's, with the ember prefix."""
from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import needs_torch, torch

import ember

nan, inf = math.nan, math.inf
_rng = np.random.default_rng(1234)
R32 = {  # fixed random data shared by both libraries
    "v40": _rng.standard_normal(40).astype(np.float32),
    "m3x30": (_rng.standard_normal((3, 30)) * 10).astype(np.float32),
    "m2x20": _rng.standard_normal((2, 20)).astype(np.float32),
    "big2d": _rng.standard_normal((100, 100)).astype(np.float32),
    "big3d": _rng.standard_normal((20, 20, 20)).astype(np.float32),
    "wide3d": (_rng.standard_normal((4, 30, 30)) * 1e3).astype(np.float32),
    "i5000": _rng.integers(-1000, 1000, 5000),
    "f64": _rng.standard_normal((3, 4)),
    "t4": _rng.standard_normal((2, 2, 3, 4)).astype(np.float32),
}
T_U = [35.7, 55.9, 58.2, 81.9, 56.3, 48.9, 33.9, 21.8, 48.4, 60.4, 68.4]


def _arr(name):
    return R32[name].copy()


# (id, builder(m) -> object whose repr is compared); m is the ember or the torch module.
CASES = [
    # 0-d
    ("scalar_float", lambda m: m.tensor(1763.8848)),
    ("scalar_int_valued", lambda m: m.tensor(5.)),
    ("scalar_neg", lambda m: m.tensor(-17.198)),
    ("scalar_zero", lambda m: m.tensor(0.)),
    ("scalar_int", lambda m: m.tensor(5)),
    ("scalar_bool", lambda m: m.tensor(True)),
    ("scalar_nan", lambda m: m.tensor(nan)),
    ("scalar_inf", lambda m: m.tensor(-inf)),
    ("scalar_f64", lambda m: m.tensor(1.5, dtype=m.float64)),
    ("scalar_f16", lambda m: m.tensor(0.1, dtype=m.float16)),
    ("scalar_i32", lambda m: m.tensor(-7, dtype=m.int32)),
    ("scalar_tiny", lambda m: m.tensor(1e-7)),
    ("scalar_huge", lambda m: m.tensor(3e20)),
    # 1-d
    ("arange_float", lambda m: m.tensor([0., 1., 2.])),
    ("arange_int", lambda m: m.tensor([0, 1, 2])),
    ("arange12", lambda m: m.tensor(np.arange(12, dtype=np.float32))),
    ("t_u_wraps", lambda m: m.tensor(T_U)),
    ("mixed_signs", lambda m: m.tensor([-1.5, 2.25, 0.])),
    ("seed_params", lambda m: m.tensor([5.3671, -17.3012])),
    ("seed_grad", lambda m: m.tensor([4517.2964, 82.6])),
    ("seed_int_valued_big", lambda m: m.tensor([15109614.0, 266155.6875])),
    ("sci_large", lambda m: m.tensor([-8.7385e+08, -1.5393e+07])),
    ("sci_small", lambda m: m.tensor([1e-5, 1.])),
    ("sci_ratio", lambda m: m.tensor([1., 1001.])),
    ("sci_above_1e8", lambda m: m.tensor([1.5e8])),
    ("sci_3digit_exp", lambda m: m.tensor([1e-120, 1e150, -2.5], dtype=m.float64)),
    ("sci_int_mode", lambda m: m.tensor([1e10, 1.])),
    ("no_sci_ratio_1000", lambda m: m.tensor([1., 1000.])),
    ("nan_pair", lambda m: m.tensor([nan, nan])),
    ("nan_mixed", lambda m: m.tensor([nan, 1.5, -2.25])),
    ("nan_int_valued", lambda m: m.tensor([nan, 1., 20.])),
    ("inf_mixed", lambda m: m.tensor([inf, -inf, 1.])),
    ("neg_zero", lambda m: m.tensor([-0., 1.])),
    ("zeros", lambda m: m.tensor([0., 0., 0.])),
    ("int_negative", lambda m: m.tensor([-100, 5, 30000])),
    ("int_large", lambda m: m.tensor([2 ** 40, -3])),
    ("int32", lambda m: m.tensor([1, -2, 3], dtype=m.int32)),
    ("int16", lambda m: m.tensor([1, -2, 300], dtype=m.int16)),
    ("int8", lambda m: m.tensor([1, -2, 100], dtype=m.int8)),
    ("uint8", lambda m: m.tensor([0, 255, 7], dtype=m.uint8)),
    ("float16", lambda m: m.tensor([0.1, 1000.5, -3.], dtype=m.float16)),
    ("float64", lambda m: m.tensor([0.1, 2.5, -3.], dtype=m.float64)),
    ("bool_1d", lambda m: m.tensor([True, False, True])),
    ("long_row_float", lambda m: m.tensor(_arr("v40"))),
    ("long_row_int", lambda m: m.tensor(np.arange(100))),
    ("long_row_bool", lambda m: m.tensor(np.arange(30) % 3 == 0)),
    # n-d
    ("bool_2d", lambda m: m.tensor([[False, True]])),
    ("bool_2d_all_true", lambda m: m.tensor([[True, True], [True, True]])),
    ("mat_int_valued", lambda m: m.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))),
    ("mat_wraps", lambda m: m.tensor(_arr("m3x30"))),
    ("mat_rows_wrap", lambda m: m.tensor(_arr("m2x20"))),
    ("mat_f64", lambda m: m.tensor(_arr("f64"))),
    ("mat_int", lambda m: m.tensor([[2, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])),
    ("ones_3d", lambda m: m.tensor(np.ones((2, 3, 4), np.float32))),
    ("arange_3d", lambda m: m.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))),
    ("rand_4d", lambda m: m.tensor(_arr("t4"))),
    ("int_4d", lambda m: m.tensor(np.arange(16).reshape(2, 2, 2, 2))),
    # empty
    ("empty_1d", lambda m: m.tensor([])),
    ("empty_2d", lambda m: m.tensor(np.zeros((0, 3), np.float32))),
    ("empty_int", lambda m: m.tensor(np.zeros(0, np.int64))),
    ("empty_bool_3d", lambda m: m.tensor(np.zeros((2, 0, 3), bool))),
    ("empty_f64", lambda m: m.tensor(np.zeros(0))),
    # summarised
    ("ones_10000", lambda m: m.tensor(np.ones(10000, np.float32))),
    ("arange_2000", lambda m: m.tensor(np.arange(2000, dtype=np.float32))),
    ("int_5000", lambda m: m.tensor(_arr("i5000"))),
    ("big_2d", lambda m: m.tensor(_arr("big2d"))),
    ("big_3d", lambda m: m.tensor(_arr("big3d"))),
    ("wide_3d", lambda m: m.tensor(_arr("wide3d"))),
    ("summary_nan", lambda m: m.tensor(np.r_[np.full(1000, nan), np.arange(5.)].astype(np.float32))),
    ("summary_hides_width", lambda m: m.tensor(np.r_[1., np.full(1500, 12345.5), 2.].astype(np.float32))),
    ("summary_2d_narrow", lambda m: m.tensor(np.arange(3000, dtype=np.float32).reshape(1000, 3))),
    # autograd suffixes
    ("requires_grad", lambda m: m.tensor([1., 0.], requires_grad=True)),
    ("requires_grad_scalar", lambda m: m.tensor(2.5, requires_grad=True)),
    ("requires_grad_f64", lambda m: m.tensor([1., 0.], dtype=m.float64, requires_grad=True)),
    ("grad_fn_mul", lambda m: m.tensor([1., 2.], requires_grad=True) * 2),
    ("grad_fn_add", lambda m: m.tensor([[1., 2.]], requires_grad=True) + 1),
    ("suffix_wraps", lambda m: m.tensor(np.arange(10) * 1.12345, requires_grad=True)),
    ("suffix_wraps_dtype", lambda m: m.tensor(np.arange(7) * 1.12345 + 100)),
    ("tuple", lambda m: (m.tensor(5.3489), m.tensor(-17.198))),
    ("tuple_int", lambda m: (m.tensor([5, 8, 9, 4, 2, 7, 6, 3, 0]), m.tensor([1, 10]))),
]

OPTION_CASES = [
    ("precision2", {"precision": 2}, lambda m: m.tensor([1.12345, -2.5])),
    ("precision0", {"precision": 0}, lambda m: m.tensor([1.6, -2.5])),
    ("precision8", {"precision": 8}, lambda m: m.tensor([1.12345678, 3.])),
    ("sci_on", {"sci_mode": True}, lambda m: m.tensor([1.5, 2.])),
    ("sci_on_int_valued", {"sci_mode": True}, lambda m: m.tensor([1., 20.])),
    ("sci_on_zeros", {"sci_mode": True}, lambda m: m.tensor([0., 0.])),
    ("sci_off", {"sci_mode": False}, lambda m: m.tensor([1e-6, 1e9])),
    ("threshold5", {"threshold": 5}, lambda m: m.tensor(np.arange(10))),
    ("threshold5_2d", {"threshold": 5}, lambda m: m.tensor(np.arange(64.).reshape(8, 8))),
    ("edgeitems1", {"threshold": 10, "edgeitems": 1}, lambda m: m.tensor(np.arange(64.).reshape(8, 8))),
    ("edgeitems0", {"threshold": 10, "edgeitems": 0}, lambda m: m.tensor(np.arange(64.).reshape(8, 8))),
    ("edgeitems0_1d", {"threshold": 10, "edgeitems": 0}, lambda m: m.tensor(np.arange(64.))),
    ("linewidth40", {"linewidth": 40}, lambda m: m.tensor(_arr("v40"))),
    ("linewidth10", {"linewidth": 10}, lambda m: m.tensor(_arr("m2x20"))),
    ("linewidth_suffix", {"linewidth": 30}, lambda m: m.tensor([1.5, 2.], requires_grad=True)),
    ("profile_short", {"profile": "short"}, lambda m: m.tensor(_arr("big2d"))),
    ("profile_full", {"profile": "full"}, lambda m: m.tensor(np.arange(1200.))),
]


@pytest.fixture
def reset_printoptions():
    yield
    ember.set_printoptions(profile="default")
    if torch is not None:
        torch.set_printoptions(profile="default")


def _expected(obj):
    return repr(obj).replace("torch.", "ember.")


@needs_torch
@pytest.mark.parametrize("build", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_repr_matches_torch(build):
    got, want = repr(build(ember)), _expected(build(torch))
    assert got == want, f"\nember:\n{got}\ntorch:\n{want}"
    assert str(build(ember)) == got


@needs_torch
@pytest.mark.parametrize("opts,build", [c[1:] for c in OPTION_CASES],
                         ids=[c[0] for c in OPTION_CASES])
def test_printoptions_match_torch(opts, build, reset_printoptions):
    ember.set_printoptions(**opts)
    torch.set_printoptions(**opts)
    got, want = repr(build(ember)), _expected(build(torch))
    assert got == want, f"\nember:\n{got}\ntorch:\n{want}"


# ---- the outputs printed in the seed documents (SPEC 1.3) -------------------------------------
SEED_OUTPUTS = [
    (lambda: ember.tensor(T_U),
     ("tensor([35.7000, 55.9000, 58.2000, 81.9000, 56.3000, 48.9000, 33.9000, 21.8000,\n"
     "        48.4000, 60.4000, 68.4000])")),
    (lambda: ember.tensor(1763.8848), "tensor(1763.8848)"),
    (lambda: ember.tensor([1.8974, 12.7021, 13.9323, 26.6091, 12.9161, 8.9579, 0.9346, -5.5375,
                           8.6905, 15.1091, 19.3882]),
     ("tensor([ 1.8974, 12.7021, 13.9323, 26.6091, 12.9161,  8.9579,  0.9346, -5.5375,\n"
     "         8.6905, 15.1091, 19.3882])")),
    (lambda: ember.tensor([-44.1730, -0.8260]), "tensor([-44.1730,  -0.8260])"),
    (lambda: ember.tensor([4517.2964, 82.6]), "tensor([4517.2964,   82.6000])"),
    (lambda: ember.tensor([-261257.4062, -4598.9702]), "tensor([-261257.4062,   -4598.9702])"),
    (lambda: ember.tensor([15109614.0, 266155.6875]), "tensor([15109614.0000,   266155.6875])"),
    (lambda: ember.tensor([-8.7385e+08, -1.5393e+07]), "tensor([-8.7385e+08, -1.5393e+07])"),
    (lambda: ember.tensor([5.0539e+10, 8.9023e+08]), "tensor([5.0539e+10, 8.9023e+08])"),
    (lambda: ember.tensor([nan, nan]), "tensor([nan, nan])"),
    (lambda: ember.tensor([0.2327, -0.0438]), "tensor([ 0.2327, -0.0438])"),
    (lambda: (ember.tensor(5.3489), ember.tensor(-17.1980)), "(tensor(5.3489), tensor(-17.1980))"),
    (lambda: ember.tensor([5.3671, -17.3012], requires_grad=True),
     "tensor([  5.3671, -17.3012], requires_grad=True)"),
    (lambda: ember.tensor([-1.1445, 0.5907, -0.6289], requires_grad=True),
     "tensor([-1.1445,  0.5907, -0.6289], requires_grad=True)"),
    (lambda: (ember.tensor([5, 8, 9, 4, 2, 7, 6, 3, 0]), ember.tensor([1, 10])),
     "(tensor([5, 8, 9, 4, 2, 7, 6, 3, 0]), tensor([ 1, 10]))"),
    (lambda: ember.tensor(5.), "tensor(5.)"),
    (lambda: ember.tensor([0., 1., 2.]), "tensor([0., 1., 2.])"),
    (lambda: ember.tensor([0, 1, 2]), "tensor([0, 1, 2])"),
    (lambda: ember.tensor(True), "tensor(True)"),
    (lambda: ember.tensor([[False, True, False, True]]), "tensor([[False,  True, False,  True]])"),
    (lambda: ember.tensor(66.), "tensor(66.)"),
    (lambda: ember.ones(10000), "tensor([1., 1., 1.,  ..., 1., 1., 1.])"),
    (lambda: ember.tensor([[3., 0., 1.]], dtype=ember.float64),
     "tensor([[3., 0., 1.]], dtype=ember.float64)"),
    (lambda: ember.tensor([1., 2.], requires_grad=True) * ember.tensor([3., 4.]),
     "tensor([3., 8.], grad_fn=<MulBackward0>)"),
]


@pytest.mark.parametrize("build,text", SEED_OUTPUTS)
def test_seed_outputs(build, text):
    assert repr(build()) == text


def test_print_uses_repr(capsys):
    print(ember.tensor([1.5, 2.]))
    assert capsys.readouterr().out == "tensor([1.5000, 2.0000])\n"


def test_compat_prefix():
    from ember import _dtype

    old = _dtype._names["prefix"]
    _dtype._names["prefix"] = "torch"
    try:
        assert repr(ember.tensor([1, 2], dtype=ember.int32)) == "tensor([1, 2], dtype=torch.int32)"
    finally:
        _dtype._names["prefix"] = old


def test_tensor_contents_and_subclass():
    t = ember.tensor([1., 2.])
    assert t.__repr__(tensor_contents="[...]") == "tensor([...])"

    class MyTensor(ember.Tensor):
        pass

    sub = ember.tensor([1., 2.]).as_subclass(MyTensor) if hasattr(ember.Tensor, "as_subclass") \
        else None
    if sub is not None:
        assert repr(sub) == "MyTensor([1., 2.])"


def test_get_set_printoptions(reset_printoptions):
    assert ember.get_printoptions() == {"precision": 4, "threshold": 1000, "edgeitems": 3,
                                            "linewidth": 80, "sci_mode": None}
    ember.set_printoptions(precision=2, sci_mode=True)
    assert ember.get_printoptions()["precision"] == 2
    assert ember.get_printoptions()["sci_mode"] is True
    ember.set_printoptions(linewidth=100)  # like PyTorch, sci_mode resets when not given
    assert ember.get_printoptions()["sci_mode"] is None
    ember.set_printoptions(profile="full")
    assert ember.get_printoptions()["threshold"] == math.inf
    ember.set_printoptions(profile="default")
    assert ember.get_printoptions()["threshold"] == 1000


def test_printoptions_context():
    from ember._tensor_str import printoptions

    with printoptions(precision=1):
        assert repr(ember.tensor([1.25])) == "tensor([1.2])"
    assert repr(ember.tensor([1.25])) == "tensor([1.2500])"


def test_large_tensor_formats_only_its_corners(monkeypatch):
    # summarised first: formatting a 10^7-element tensor touches only its corners (the time
    # it takes: bench/overhead.py, "repr of zeros(10**7)")
    from ember import _tensor_str

    seen = []

    class Formatter(_tensor_str._Formatter):
        __slots__ = ()

        def __init__(self, data):
            seen.append(data.size)
            super().__init__(data)

    monkeypatch.setattr(_tensor_str, "_Formatter", Formatter)
    assert repr(ember.zeros(10_000_000)) == "tensor([0., 0., 0.,  ..., 0., 0., 0.])"
    assert repr(ember.zeros(2000, 3000)) == ("tensor([[0., 0., 0.,  ..., 0., 0., 0.],\n"
                                             "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
                                             "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
                                             "        ...,\n"
                                             "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
                                             "        [0., 0., 0.,  ..., 0., 0., 0.],\n"
                                             "        [0., 0., 0.,  ..., 0., 0., 0.]])")
    assert seen == [6, 36]
