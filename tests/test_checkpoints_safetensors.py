"""ember.utils.safetensors: safetensors.torch's API on ember tensors, checked against torch."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.serialization import UnpicklingError

pytest.importorskip("safetensors")
sf = pytest.importorskip("ember.utils.safetensors")


def test_roundtrip_and_metadata(tmp_path):
    t = {"w": ember.randn(3, 4), "i": ember.arange(5), "h": ember.ones(2, dtype=ember.float16),
         "b": ember.tensor([True, False]), "v": ember.arange(12.0).reshape(3, 4).t()}
    path = tmp_path / "m.safetensors"
    sf.save_file(t, path, metadata={"format": "pt"})
    r = sf.load_file(path)
    assert list(r) == sorted(t) or set(r) == set(t)
    for k, v in t.items():
        assert r[k].dtype == v.dtype and r[k].shape == v.shape
        np.testing.assert_array_equal(r[k].numpy(), v.numpy())
        r[k].numpy()  # writable ember tensors
    assert r["w"].numpy().flags.writeable
    r2 = sf.load(sf.save(t))
    np.testing.assert_array_equal(r2["v"].numpy(), t["v"].numpy())
    assert [n for n in tmp_path.iterdir() if n.name.endswith(".tmp")] == []


def test_files_from_safetensors_torch_including_bfloat16(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    t = {"a": torch.tensor([1.5, -3.25, 1e30], dtype=torch.bfloat16), "b": torch.arange(3),
         "c": torch.randn(2, 2)}
    st.save_file(t, tmp_path / "t.safetensors")
    r = sf.load_file(tmp_path / "t.safetensors")
    assert r["a"].dtype == ember.float32
    np.testing.assert_array_equal(r["a"].numpy(), t["a"].float().numpy())
    np.testing.assert_array_equal(r["b"].numpy(), t["b"].numpy())
    np.testing.assert_array_equal(r["c"].numpy(), t["c"].numpy())
    # and torch reads ember's
    sf.save_file({"x": ember.ones(2, 3)}, tmp_path / "e.safetensors")
    assert st.load_file(tmp_path / "e.safetensors")["x"].tolist() == [[1.0] * 3] * 2


def test_save_and_load_model(tmp_path):
    nn = ember.nn
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    sf.save_model(m, tmp_path / "m.safetensors")
    m2 = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    assert sf.load_model(m2, tmp_path / "m.safetensors") == ([], [])
    np.testing.assert_array_equal(m2[0].weight.detach().numpy(), m[0].weight.detach().numpy())


def test_corrupt_files_are_named(tmp_path):
    path = tmp_path / "bad.safetensors"
    for data in (b"", b"\xff" * 8 + b"{}", b"\x02\x00\x00\x00\x00\x00\x00\x00{x",
                 b"\x40\x00\x00\x00\x00\x00\x00\x00" + b'{"a":{"dtype":"F32","shape":[1000],'
                 b'"data_offsets":[0,4000]}}    '):
        path.write_bytes(data)
        with pytest.raises((UnpicklingError, ValueError)) as exc:
            sf.load_file(path)
        assert str(path) in str(exc.value)
    with pytest.raises(ValueError, match="expected torch.Tensor"):
        sf.save_file({"a": np.ones(2)}, path)
