"""ember.save / ember.load: round trips in both formats, atomic writes, and files refused.

PyTorch interoperability (files written by real torch, and files torch reads back) and hostile
files are in tests/test_checkpoints_torch.py; the byte-flip fuzz and killed saves in
tests/test_checkpoints_fuzz.py.
"""
from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest

import ember
from ember.serialization import UnpicklingError

DTYPES = [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32,
          np.float64]
SHAPES = [(), (0,), (3,), (2, 3), (0, 3), (2, 1, 4)]


FORMATS = ["torch", "ember"]


def roundtrip(obj, fmt="torch", **load_kw):
    buf = io.BytesIO()
    ember.save(obj, buf, _use_ember_format=fmt == "ember")
    buf.seek(0)
    return ember.load(buf, **load_kw)


def _arr(dt, shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 10).astype(dt)


# ---- round trips ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_tensor_roundtrip_every_dtype_and_shape(dt, shape, fmt):
    t = ember.tensor(_arr(dt, shape))
    r = roundtrip(t, fmt)
    assert type(r) is ember.Tensor
    assert r.dtype == t.dtype and r.shape == t.shape
    np.testing.assert_array_equal(r.numpy(), t.numpy())
    assert r.numpy().flags.writeable and r.numpy().flags.c_contiguous


@pytest.mark.parametrize("view", [lambda t: t.T, lambda t: t[:, ::2], lambda t: t[1:, 1:3],
                                  lambda t: t.permute(1, 0)[::2],
                                  lambda t: ember.from_numpy(t.numpy()[::-1, ::-2])])
@pytest.mark.parametrize("fmt", FORMATS)
def test_non_contiguous_views_save_their_values(view, fmt):
    t = ember.tensor(np.arange(24, dtype=np.float32).reshape(4, 6))
    v = view(t)
    r = roundtrip(v, fmt)
    np.testing.assert_array_equal(r.numpy(), v.numpy())
    assert r.shape == v.shape
    if fmt == "ember":
        assert r.is_contiguous()  # ember's format saves a view's values
    elif all(s >= 0 for s in v.numpy().strides):
        assert r.stride() == v.stride()  # torch's format keeps the view over its storage


@pytest.mark.parametrize("fmt", FORMATS)
def test_requires_grad_is_kept(fmt):
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    b = ember.tensor([1.0, 2.0])
    ra, rb = roundtrip([a, b], fmt)
    assert ra.requires_grad and ra.is_leaf and not rb.requires_grad
    (ra * 2).sum().backward()
    assert ra.grad.tolist() == [2.0, 2.0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_parameter_loads_as_parameter(fmt):
    nn = pytest.importorskip("ember.nn")
    p = nn.Parameter(ember.tensor([1.0, 2.0]))
    q = nn.Parameter(ember.tensor([3.0]), requires_grad=False)
    rp, rq = roundtrip((p, q), fmt)
    assert type(rp) is nn.Parameter and rp.requires_grad
    assert type(rq) is nn.Parameter and not rq.requires_grad
    assert rp.tolist() == [1.0, 2.0]


def test_plain_values_and_containers():
    obj = {
        "none": None, "t": True, "f": False, "int": 7, "big": 2**80, "neg": -3,
        "float": 1.5, "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-0": -0.0,
        "str": "héllo ✓", "bytes": b"\x00\xffab", "complex": 1 - 2j,
        "list": [1, [2, [3, []]]], "tuple": (1, (2.0, "x")), "empty": {}, "etuple": (),
        "set": {1, 2, 3}, "frozenset": frozenset({"a"}),
        "size": ember.Size([2, 3]), "dtype": ember.float64, "dtypes": [ember.int64, ember.bool],
        "device": ember.device("cpu"), "np_scalar": np.float32(2.5), "np_int": np.int64(4),
        "np_array": np.arange(6, dtype=np.int16).reshape(2, 3), "counter": Counter([1, 1, 2]),
        1: "int key", 2.5: "float key", None: "none key", (1, "a"): "tuple key",
        False: "bool key",
    }
    r = roundtrip(obj, "ember")
    assert list(r) == list(obj)
    for k, v in obj.items():
        w = r[k]
        assert type(w) is type(v), k
        if isinstance(v, np.ndarray):
            assert w.dtype == v.dtype
            np.testing.assert_array_equal(w, v)
        elif isinstance(v, float) and math.isnan(v):
            assert math.isnan(w)
        else:
            assert w == v, k
    assert math.copysign(1, r["-0"]) == -1
    assert r["np_scalar"].dtype == np.float32
    assert repr(r["size"]) == "ember.Size([2, 3])" or repr(r["size"]) == "torch.Size([2, 3])"


def test_plain_values_in_torch_format():
    obj = {
        "none": None, "t": True, "f": False, "int": 7, "big": 2**80, "neg": -3, "-big": -2**70,
        "float": 1.5, "nan": math.nan, "inf": math.inf, "-0": -0.0, "str": "héllo ✓",
        "bytes": b"\x00\xffab", "complex": 1 - 2j, "list": [1, [2, [3, []]]],
        "tuple": (1, (2.0, "x")),
        "empty": {}, "etuple": (), "set": {1, 2, 3}, "size": ember.Size([2, 3]),
        "dtype": ember.float64, "dtypes": [ember.int64, ember.bool],
        "device": ember.device("cpu"), "counter": Counter([1, 1, 2]), "long": list(range(2500)),
        1: "int key", 2.5: "float key", None: "none key", (1, "a"): "tuple key",
    }
    r = roundtrip(obj)
    assert list(r) == list(obj)
    for k, v in obj.items():
        assert type(r[k]) is type(v), k
        assert r[k] == v or (isinstance(v, float) and math.isnan(v)), k
    assert math.copysign(1, r["-0"]) == -1
    # NumPy scalars become Python numbers (torch's weights-only load refuses NumPy globals)
    assert roundtrip([np.float32(2.5), np.int64(4), np.bool_(True)]) == [2.5, 4, True]


def test_torch_format_falls_back_to_ember_format_with_a_warning():
    with pytest.warns(UserWarning, match="ember's own format"):
        r = roundtrip({"a": np.arange(3), "fs": frozenset({1})})
    assert r["a"].tolist() == [0, 1, 2] and r["fs"] == frozenset({1})


@pytest.mark.parametrize("fmt", FORMATS)
def test_ordered_dict_and_its_metadata(fmt):
    sd = OrderedDict([("b", ember.zeros(2)), ("a", ember.ones(1))])
    sd._metadata = OrderedDict([("", {"version": 1}), ("layer", {"version": 2})])
    r = roundtrip(sd, fmt)
    assert type(r) is OrderedDict and list(r) == ["b", "a"]
    assert r._metadata == sd._metadata and type(r._metadata) is OrderedDict
    assert type(roundtrip({"x": 1}, fmt)) is dict


@pytest.mark.parametrize("fmt", FORMATS)
def test_optimizer_state_dict_keeps_int_keys(fmt):
    p = ember.ones(3, requires_grad=True)
    opt = ember.optim.Adam([p], lr=0.1)
    p.grad = ember.ones(3)
    opt.step()
    sd = roundtrip(opt.state_dict(), fmt)
    assert list(sd["state"]) == [0] and sd["param_groups"][0]["params"] == [0]
    assert sd["state"][0]["step"].dtype == ember.float32 and sd["state"][0]["step"].shape == ()
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert isinstance(sd["param_groups"][0]["betas"], tuple)


@pytest.mark.parametrize("fmt", FORMATS)
def test_shared_tensors_stay_shared(fmt):
    t = ember.tensor([1.0, 2.0, 3.0])
    d = t.detach()  # another tensor over the same array
    r = roundtrip({"a": t, "b": t, "c": d, "list": [t], "view": t[1:]}, fmt)
    assert r["a"] is r["b"] is r["list"][0]
    r["c"].numpy()[0] = 9.0
    assert r["a"].tolist() == [9.0, 2.0, 3.0]
    r["view"].numpy()[1] = 7.0  # ember's format saves a view's values; torch's keeps the view
    assert r["a"].tolist() == [9.0, 2.0, 7.0 if fmt == "torch" else 3.0]
    buf = io.BytesIO()
    ember.save([t, t, t[1:]], buf, _use_ember_format=fmt == "ember")
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        data = sorted(n for n in zf.namelist() if n.startswith(("data/", "archive/data/")))
    assert data == (["data/0.npy", "data/1.npy"] if fmt == "ember" else ["archive/data/0"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_model_state_dict_roundtrip(tmp_path, fmt):
    nn = pytest.importorskip("ember.nn")
    ember.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    m(ember.randn(5, 4))  # move the BN statistics
    ember.save(m.state_dict(), tmp_path / "m.pt", _use_ember_format=fmt == "ember")
    m2 = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    result = m2.load_state_dict(ember.load(tmp_path / "m.pt"))
    assert not result.missing_keys and not result.unexpected_keys
    m.eval()
    m2.eval()
    x = ember.randn(3, 4)
    np.testing.assert_array_equal(m(x).detach().numpy(), m2(x).detach().numpy())
    sd = ember.load(tmp_path / "m.pt")
    assert type(sd) is OrderedDict and hasattr(sd, "_metadata")
    assert sd["1.num_batches_tracked"].dtype == ember.int64


# ---- paths and file objects ----------------------------------------------------------------------
def test_paths_and_file_objects(tmp_path):
    obj = {"w": ember.arange(5)}
    ember.save(obj, str(tmp_path / "a.pt"))
    ember.save(obj, tmp_path / "b.pt")
    with open(tmp_path / "c.pt", "wb") as f:
        ember.save(obj, f)
    for name in ("a.pt", "b.pt", "c.pt"):
        assert ember.load(tmp_path / name)["w"].tolist() == [0, 1, 2, 3, 4]
        assert ember.load(str(tmp_path / name))["w"].tolist() == [0, 1, 2, 3, 4]
        with open(tmp_path / name, "rb") as f:
            assert ember.load(f)["w"].tolist() == [0, 1, 2, 3, 4]


def test_non_seekable_streams():
    class Stream(io.RawIOBase):
        def __init__(self, data=b""):
            self.data, self.out = data, bytearray()

        def readable(self):
            return True

        def writable(self):
            return True

        def seekable(self):
            return False

        def read(self, n=-1):
            out, self.data = (self.data, b"") if n < 0 else (self.data[:n], self.data[n:])
            return out

        def write(self, b):
            self.out += b
            return len(b)

    w = Stream()
    ember.save([ember.ones(2)], w)
    r = ember.load(Stream(bytes(w.out)))
    assert r[0].tolist() == [1.0, 1.0]


def test_missing_file_and_parent(tmp_path):
    with pytest.raises(FileNotFoundError):
        ember.load(tmp_path / "nope.pt")
    with pytest.raises(RuntimeError, match="Parent directory .* does not exist."):
        ember.save(1, tmp_path / "no" / "x.pt")


@pytest.mark.parametrize("fmt", FORMATS)
def test_map_location_and_weights_only(fmt):
    t = {"w": ember.ones(2)}
    for ml in (None, "cpu", ember.device("cpu"), {"cuda:0": "cpu"}, lambda s, loc: s):
        assert roundtrip(t, fmt, map_location=ml)["w"].tolist() == [1.0, 1.0]
    assert roundtrip(t, fmt, weights_only=False, mmap=False)["w"].tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="cuda"):
        roundtrip(t, fmt, map_location="cuda")
    with pytest.raises(ValueError, match="must be a file path in order to use the mmap"):
        roundtrip(t, fmt, mmap=True)


def test_mmap_maps_storages_copy_on_write(tmp_path):
    path = tmp_path / "m.pt"
    ember.save({"w": ember.arange(6.0).reshape(2, 3)}, path)
    before = path.read_bytes()
    r = ember.load(path, mmap=True)
    assert r["w"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    r["w"].add_(1.0)  # private to this process: the file is unchanged
    assert r["w"].tolist()[0] == [1.0, 2.0, 3.0]
    assert path.read_bytes() == before


# ---- atomic writes -------------------------------------------------------------------------------
def _leftovers(d):
    return sorted(n for n in os.listdir(d) if n != "ck.pt")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch, exc, fmt):
    path = tmp_path / "ck.pt"
    ember.save({"version": 1, "w": ember.zeros(3)}, path, _use_ember_format=fmt == "ember")
    before = path.read_bytes()

    import ember._torch_format as tf
    import ember.serialization as ser

    mod, attr = (ser, "_write_npy") if fmt == "ember" else (tf, "_add")
    real = getattr(mod, attr)
    calls = []

    def failing(zf, name, arr):
        calls.append(name)
        if len(calls) == 2:  # crash in the middle of the archive
            raise exc
        real(zf, name, arr)

    monkeypatch.setattr(mod, attr, failing)
    with pytest.raises(type(exc)):
        ember.save({"version": 2, "a": ember.ones(1000), "b": ember.ones(5)}, path,
                   _use_ember_format=fmt == "ember")
    assert len(calls) == 2
    assert path.read_bytes() == before
    assert ember.load(path)["version"] == 1
    assert _leftovers(tmp_path) == []


def test_unsupported_object_fails_before_touching_the_file(tmp_path):
    path = tmp_path / "ck.pt"
    ember.save([1], path)

    class Net:
        def state_dict(self):
            return {}

    with pytest.raises(TypeError, match="Save its state_dict\\(\\) instead"):
        ember.save({"model": Net()}, path)
    with pytest.raises(TypeError, match="never pickles arbitrary objects"):
        ember.save([object()], path)
    assert ember.load(path) == [1]
    assert _leftovers(tmp_path) == []
    a = []
    a.append(a)
    with pytest.raises(ValueError, match="contains itself"):
        ember.save(a, path, _use_ember_format=True)
    t = ([],)
    t[0].append(t)
    with pytest.raises(ValueError, match="contains itself"):
        ember.save(t, path)
    ember.save(a, path)  # torch's format, like pickle, keeps a list that holds itself
    r = ember.load(path)
    assert r[0] is r


def test_save_replaces_and_keeps_umask_mode(tmp_path):
    path = tmp_path / "ck.pt"
    ember.save(1, path)
    ember.save(2, path)
    assert ember.load(path) == 2
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


# ---- files that must be refused ------------------------------------------------------------------
class _Boom:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"w": _Boom(marker)}))
    with pytest.raises(UnpicklingError, match="pickle") as exc:
        ember.load(path)
    assert str(path) in str(exc.value)
    assert not marker.exists()
    assert isinstance(exc.value, RuntimeError) and isinstance(exc.value, pickle.UnpicklingError)


def test_a_pickle_inside_a_crafted_archive_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    obj_arr = np.empty(1, dtype=object)
    obj_arr[0] = _Boom(marker)
    npy = io.BytesIO()
    np.save(npy, obj_arr, allow_pickle=True)  # an .npy holding a pickle
    manifest = {"format": "ember.save", "version": 1, "root": {"t": "tensor", "id": 0}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("data/0.npy", npy.getvalue())
    with pytest.raises(UnpicklingError, match="dtype object"):
        ember.load(path)
    assert not marker.exists()

    # an unknown tag (say, a "pickle" node) is refused too
    manifest["root"] = {"t": "pickle", "v": pickle.dumps(_Boom(marker)).hex()}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
    with pytest.raises(UnpicklingError, match="unknown type tag 'pickle'"):
        ember.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("content,match", [
    (b"", "the file is empty"),
    (b"hello, this is text\n", "not a checkpoint ember reads: unrecognised content"),
    (pickle.dumps({"a": 1}, protocol=2), "bare Python pickle"),
    (b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19" + b"\x00" * 50,
     "legacy \\(pre-1.6\\) format.*torch>=1.6"),
    (b"\x93NUMPY\x01\x00", "NumPy .npy file"),
])
def test_foreign_files_are_refused(tmp_path, content, match):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(UnpicklingError, match=match) as exc:
        ember.load(path)
    assert str(path) in str(exc.value)


def test_zip_archives_that_are_not_ours(tmp_path):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(UnpicklingError, match="has neither manifest.json"):
        ember.load(path)
    np.savez(tmp_path / "w.npz", a=np.ones(2))
    with pytest.raises(UnpicklingError, match="NumPy .npz archive"):
        ember.load(tmp_path / "w.npz")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "something-else"}))
    with pytest.raises(UnpicklingError, match="does not declare format 'ember.save'"):
        ember.load(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "ember.save", "version": 99}))
    with pytest.raises(UnpicklingError, match="format version 99"):
        ember.load(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", "{not json")
    with pytest.raises(UnpicklingError, match="manifest cannot be read"):
        ember.load(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "ember.save", "version": 1,
                                                 "root": {"t": "tensor", "id": 3}}))
    with pytest.raises(UnpicklingError, match="lacks"):
        ember.load(path)


def test_truncated_files_are_refused(tmp_path):
    path = tmp_path / "ck.pt"
    ember.save({"w": ember.ones(1000)}, path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        path.write_bytes(data[:cut])
        with pytest.raises(UnpicklingError, match="truncated or corrupt") as exc:
            ember.load(path)
        assert str(path) in str(exc.value)


def test_corrupted_data_is_detected(tmp_path):
    path = tmp_path / "ck.pt"
    ember.save({"w": ember.ones(1000)}, path)
    data = bytearray(path.read_bytes())
    i = data.index(b"\x00\x00\x80\x3f" * 4) + 400  # inside the float32 ones
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(UnpicklingError, match="CRC|corrupt"):
        ember.load(path)


def test_npy_header_lying_about_its_size_is_refused(tmp_path):
    path = tmp_path / "ck.pt"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    manifest = {"format": "ember.save", "version": 1, "root": {"t": "tensor", "id": 0}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("data/0.npy", header.getvalue() + b"\x00" * 16)
    with pytest.raises(UnpicklingError, match="should hold 4000000000000 bytes"):
        ember.load(path)


def test_big_endian_and_fortran_arrays_load_native(tmp_path):
    path = tmp_path / "ck.pt"
    a = np.arange(6, dtype=">f4").reshape(2, 3)
    f = np.asfortranarray(np.arange(6, dtype="<i8").reshape(2, 3))
    manifest = {"format": "ember.save", "version": 1,
                "root": {"t": "list", "v": [{"t": "tensor", "id": 0}, {"t": "tensor", "id": 1}]}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for i, arr in enumerate((a, f)):
            b = io.BytesIO()
            np.save(b, arr, allow_pickle=False)
            zf.writestr(f"data/{i}.npy", b.getvalue())
    ra, rf = ember.load(path)
    assert ra.dtype == ember.float32 and ra.tolist() == a.tolist()
    assert rf.dtype == ember.int64 and rf.tolist() == f.tolist() and rf.is_contiguous()


def test_malformed_manifests_are_refused(tmp_path):
    path = tmp_path / "ck.pt"
    for root in ([1, 2], {"t": "dict", "items": [[1]]}, {"t": "tensor", "id": -1},
                 {"t": "tensor", "id": "0"}, {"no": "tag"}, {"t": "bytes", "v": "***"}):
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("manifest.json", json.dumps({"format": "ember.save", "version": 1,
                                                     "root": root}))
        with pytest.raises(UnpicklingError, match="corrupt"):
            ember.load(path)


def test_saving_through_a_symlink_replaces_the_target(tmp_path):
    target = tmp_path / "real.pt"
    link = tmp_path / "link.pt"
    ember.save(1, target)
    link.symlink_to(target)
    ember.save(2, link)
    assert link.is_symlink() and ember.load(target) == 2
