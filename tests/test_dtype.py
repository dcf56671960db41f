"""dtypes: names and attributes, PyTorch's promotion (promote_types, result_type, can_cast),
the default dtype, finfo/iinfo."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import ember
from tests.helpers import needs_torch, torch

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def test_dtype_objects():
    assert repr(ember.float32) == "ember.float32" and str(ember.int64) == "ember.int64"
    assert ember.float is ember.float32 and ember.double is ember.float64
    assert ember.half is ember.float16 and ember.long is ember.int64
    assert ember.int is ember.int32 and ember.short is ember.int16
    assert ember.float32.is_floating_point and not ember.int64.is_floating_point
    assert ember.float32.is_signed and not ember.uint8.is_signed and not ember.bool.is_signed
    assert ember.float64.itemsize == 8 and ember.bool.itemsize == 1
    assert not ember.float32.is_complex
    assert pickle.loads(pickle.dumps(ember.float16)) is ember.float16
    assert copy.deepcopy(ember.int8) is ember.int8
    assert {ember.float32: 1}[ember.float] == 1
    for name in NAMES:
        t = ember.zeros(1, dtype=getattr(ember, name))
        assert t.dtype is getattr(ember, name) and t.numpy().dtype == np.dtype(name)


@needs_torch
def test_promote_types_table_matches_torch():
    for a in NAMES:
        for b in NAMES:
            e = ember.promote_types(getattr(ember, a), getattr(ember, b))
            t = torch.promote_types(getattr(torch, a), getattr(torch, b))
            assert e.name == str(t).split(".")[1], (a, b)


@needs_torch
def test_result_type_matches_torch():
    def operands(T):
        ops = {f"t{n}": T.ones(2, dtype=getattr(T, n)) for n in NAMES}
        ops.update({f"z{n}": T.ones((), dtype=getattr(T, n)) for n in NAMES})
        ops.update({"int": 3, "float": 2.5, "bool": True})
        return ops

    eo, to = operands(ember), operands(torch)
    for a in eo:
        for b in eo:
            if a in ("int", "float", "bool") and b in ("int", "float", "bool"):
                continue
            e = ember.result_type(eo[a], eo[b])
            t = torch.result_type(to[a], to[b])
            assert e.name == str(t).split(".")[1], (a, b)


@needs_torch
def test_can_cast_matches_torch():
    for a in NAMES:
        for b in NAMES:
            assert ember.can_cast(getattr(ember, a), getattr(ember, b)) == \
                torch.can_cast(getattr(torch, a), getattr(torch, b)), (a, b)


def test_default_dtype():
    assert ember.get_default_dtype() is ember.float32
    assert ember.tensor([1.0]).dtype is ember.float32  # Python floats
    assert ember.tensor([1]).dtype is ember.int64 and ember.tensor([True]).dtype is ember.bool
    prev = ember.get_default_dtype()
    try:
        ember.set_default_dtype(ember.float64)
        assert ember.tensor([1.0]).dtype is ember.float64
        assert ember.arange(4.0).dtype is ember.float64 and ember.zeros(2).dtype is ember.float64
        assert ember.FloatTensor([1]).dtype is ember.float32  # the legacy type is fixed
        assert ember.Tensor([1]).dtype is ember.float64
        assert ember.tensor(np.array([1.0], np.float32)).dtype is ember.float32  # arrays keep
        ember.set_default_dtype(ember.float16)
        assert ember.linspace(0, 1, 3).dtype is ember.float16
    finally:
        ember.set_default_dtype(prev)
    with pytest.raises(TypeError, match="only floating-point types are supported as the default "
                                        "type"):
        ember.set_default_dtype(ember.int64)


def test_numpy_dtype_conversions():
    from ember._dtype import from_numpy_dtype, to_dtype

    assert from_numpy_dtype(np.float32) is ember.float32
    assert to_dtype(np.dtype("int16")) is ember.int16
    assert to_dtype("float64") is ember.float64 and to_dtype("torch.float16") is ember.float16
    assert to_dtype(float) is ember.float64 and to_dtype(int) is ember.int64
    assert to_dtype(bool) is ember.bool
    with pytest.raises(TypeError, match="can't convert np.ndarray of type complex128"):
        ember.from_numpy(np.ones(2, np.complex128))
    with pytest.raises(TypeError):
        to_dtype("float8")


@needs_torch
def test_finfo_iinfo_match_torch():
    for name in ("float16", "float32", "float64"):
        e, t = ember.finfo(getattr(ember, name)), torch.finfo(getattr(torch, name))
        for attr in ("bits", "eps", "max", "min", "tiny", "resolution", "smallest_normal"):
            assert getattr(e, attr) == getattr(t, attr), (name, attr)
    for name in ("uint8", "int8", "int16", "int32", "int64"):
        e, t = ember.iinfo(getattr(ember, name)), torch.iinfo(getattr(torch, name))
        assert (e.bits, e.min, e.max) == (t.bits, t.min, t.max)
    assert ember.finfo().eps == ember.finfo(ember.float32).eps
    with pytest.raises(TypeError):
        ember.finfo(ember.int32)
