"""PyTorch checkpoints both ways (files written by real torch load into ember, and ember's load in
real torch with weights_only=True), and hostile pickles that must run nothing."""
from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import ember
import ember._torch_format as tf
from ember.serialization import UnpicklingError

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _torch_cnn():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                            torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 2))
    m(torch.randn(2, 3, 5, 5))  # move the BN statistics
    return m.eval()


def _ember_cnn():
    nn = ember.nn
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 5 * 5, 2)).eval()


# ---- torch writes, ember reads -------------------------------------------------------------------
def test_cnn_state_dict_from_torch_gives_torch_outputs(tmp_path):
    m = _torch_cnn()
    torch.save(m.state_dict(), tmp_path / "cnn.pt")
    sd = ember.load(tmp_path / "cnn.pt")
    assert type(sd) is OrderedDict and list(sd) == list(m.state_dict())
    assert sd._metadata == m.state_dict()._metadata
    for k, v in m.state_dict().items():
        assert str(sd[k].dtype).split(".")[1] == str(v.dtype).split(".")[1], k
        np.testing.assert_array_equal(sd[k].numpy(), v.numpy())
    e = _ember_cnn()
    e.load_state_dict(sd)
    x = np.random.default_rng(0).standard_normal((3, 3, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(_np(e(ember.tensor(x))), _np(m(torch.tensor(x))), rtol=1e-5,
                               atol=1e-6)


def test_lstm_state_dict_from_torch_gives_torch_outputs(tmp_path):
    torch.manual_seed(1)
    m = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True)
    torch.save(m.state_dict(), tmp_path / "lstm.pt")
    e = ember.nn.LSTM(3, 5, num_layers=2, batch_first=True)
    e.load_state_dict(ember.load(tmp_path / "lstm.pt"))
    x = np.random.default_rng(1).standard_normal((2, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(_np(e(ember.tensor(x))[0]), _np(m(torch.tensor(x))[0]),
                               rtol=1e-5, atol=1e-6)


def test_adam_state_and_checkpoint_dict_from_torch(tmp_path):
    m = _torch_cnn().train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        m(torch.randn(2, 3, 5, 5)).sum().backward()
        opt.step()
    ck = {"epoch": 3, "loss": 0.25, "model": m.state_dict(), "optimizer": opt.state_dict(),
          "best": float("inf"), "name": "cnn", "history": [1.0, 0.5]}
    torch.save(ck, tmp_path / "ck.pt")
    r = ember.load(tmp_path / "ck.pt")
    assert r["epoch"] == 3 and r["loss"] == 0.25 and r["best"] == float("inf")
    assert r["name"] == "cnn" and r["history"] == [1.0, 0.5]
    osd, rsd = opt.state_dict(), r["optimizer"]
    assert rsd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert rsd["param_groups"][0]["params"] == osd["param_groups"][0]["params"]
    assert list(rsd["state"]) == list(osd["state"])
    for i, st in osd["state"].items():
        for k in ("exp_avg", "exp_avg_sq", "step"):
            np.testing.assert_array_equal(rsd["state"][i][k].numpy(), st[k].numpy())
    # ember's own Adam takes this state and steps like torch's (in eval mode: in training mode
    # the conv bias before BatchNorm gets a zero gradient, whose rounding noise Adam amplifies)
    m.eval()
    e = _ember_cnn()
    e.load_state_dict(r["model"])
    eopt = ember.optim.Adam(e.parameters(), lr=1e-3)
    eopt.load_state_dict(rsd)
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 5)).astype(np.float32)
    for net, o, t in ((m, opt, torch.tensor(x)), (e, eopt, ember.tensor(x))):
        o.zero_grad()
        net(t).sum().backward()
        o.step()
    for (k, a), b in zip(m.state_dict().items(), e.state_dict().values()):
        np.testing.assert_allclose(_np(b), _np(a), rtol=1e-5, atol=1e-6, err_msg=k)


def test_views_strides_dtypes_and_parameters_from_torch(tmp_path):
    base = torch.arange(12.0).reshape(3, 4)
    obj = {
        "base": base, "view": base[1:, 1:3], "t": base.t(), "step": base[:, ::2],
        "half": torch.tensor([1.5, -2.0, 65504.0], dtype=torch.float16),
        "long": torch.tensor([2**40, -1]), "bool": torch.tensor([True, False]),
        "bf16": torch.tensor([1.5, -3.25, 1e30], dtype=torch.bfloat16),
        "int8": torch.tensor([-128, 127], dtype=torch.int8), "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3), "param": torch.nn.Parameter(torch.ones(2)),
        "frozen": torch.nn.Parameter(torch.ones(1), requires_grad=False),
        "grad": torch.ones(2, requires_grad=True), "size": torch.Size([2, 3]),
        "dtype": torch.float16, "device": torch.device("cpu"),
    }
    torch.save(obj, tmp_path / "v.pt")
    for mmap in (False, True):
        r = ember.load(tmp_path / "v.pt", mmap=mmap)
        for k in ("base", "view", "t", "step", "half", "long", "bool", "int8", "scalar", "empty"):
            assert r[k].shape == tuple(obj[k].shape), k
            assert r[k].stride() == obj[k].stride() or k == "empty", k
            assert r[k].dtype.name == str(obj[k].dtype).split(".")[1], k
            np.testing.assert_array_equal(r[k].numpy(), obj[k].numpy())
        assert r["bf16"].dtype == ember.float32  # ember has no bfloat16: widened exactly
        np.testing.assert_array_equal(r["bf16"].numpy(), obj["bf16"].float().numpy())
        assert type(r["param"]) is ember.nn.Parameter and r["param"].requires_grad
        assert type(r["frozen"]) is ember.nn.Parameter and not r["frozen"].requires_grad
        assert r["grad"].requires_grad and r["grad"].is_leaf
        assert r["size"] == ember.Size([2, 3]) and type(r["size"]) is ember.Size
        assert r["dtype"] == ember.float16 and r["device"] == ember.device("cpu")
        r["base"].numpy()[1, 1] = 100.0  # one storage: the views see the write
        assert r["view"].numpy()[0, 0] == 100.0 and r["t"].numpy()[1, 1] == 100.0


def test_complex_tensors_are_a_clear_error(tmp_path):
    torch.save({"z": torch.ones(2, dtype=torch.complex64)}, tmp_path / "z.pt")
    with pytest.raises(UnpicklingError, match="no complex tensors") as exc:
        ember.load(tmp_path / "z.pt")
    assert str(tmp_path / "z.pt") in str(exc.value)


# ---- ember writes, torch reads -------------------------------------------------------------------
def _torch_load(path):
    return torch.load(path, weights_only=True)


def test_ember_model_and_optimizer_load_in_torch(tmp_path):
    ember.manual_seed(0)
    e = _ember_cnn().train()
    opt = ember.optim.Adam(e.parameters(), lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        e(ember.randn(2, 3, 5, 5)).sum().backward()
        opt.step()
    e.eval()
    ember.save({"epoch": 2, "loss": 0.5, "model": e.state_dict(), "opt": opt.state_dict()},
               tmp_path / "ck.pt")
    r = _torch_load(tmp_path / "ck.pt")
    assert r["epoch"] == 2 and r["loss"] == 0.5
    assert r["model"]._metadata == e.state_dict()._metadata
    m = _torch_cnn()
    m.load_state_dict(r["model"])
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(_np(m(torch.tensor(x))), _np(e(ember.tensor(x))), rtol=1e-5,
                               atol=1e-6)
    tm = _torch_cnn().train()
    topt = torch.optim.Adam(tm.parameters(), lr=1e-2)
    topt.load_state_dict(r["opt"])  # torch accepts ember's optimizer state as its own
    for i, st in opt.state_dict()["state"].items():
        np.testing.assert_array_equal(r["opt"]["state"][i]["exp_avg"].numpy(),
                                      st["exp_avg"].numpy())
        assert r["opt"]["state"][i]["step"].dtype == torch.float32


def test_ember_tensors_views_and_values_load_in_torch(tmp_path):
    base = ember.arange(12.0).reshape(3, 4)
    obj = {
        "base": base, "view": base[1:, 1:3], "t": base.t(), "step": base[:, ::2],
        "half": ember.tensor([1.5, -2.0], dtype=ember.float16), "long": ember.tensor([2**40]),
        "bool": ember.tensor([True, False]), "u8": ember.tensor([255], dtype=ember.uint8),
        "scalar": ember.tensor(2.0), "empty": ember.zeros(0, 3),
        "param": ember.nn.Parameter(ember.ones(2)), "grad": ember.ones(2, requires_grad=True),
        "size": ember.Size([4]), "dtype": ember.int64, "device": ember.device("cpu"),
        "set": {1, 2}, "bytes": b"\x00\xff", "complex": 2 - 1j, "big": -2**100, "none": None,
        "tuple": (1, 2.5, "x"), "nested": {"a": [1, {"b": (2,)}]}, 7: "int key",
    }
    ember.save(obj, tmp_path / "e.pt")
    r = _torch_load(tmp_path / "e.pt")
    for k in ("base", "view", "t", "step", "half", "long", "bool", "u8", "scalar", "empty"):
        assert tuple(r[k].shape) == obj[k].shape, k
        assert r[k].stride() == obj[k].stride() or k == "empty", k
        assert str(r[k].dtype).split(".")[1] == obj[k].dtype.name, k
        np.testing.assert_array_equal(r[k].numpy(), obj[k].numpy())
    assert r["view"].untyped_storage().data_ptr() == r["base"].untyped_storage().data_ptr()
    assert type(r["param"]) is torch.nn.Parameter and r["param"].requires_grad
    assert r["grad"].requires_grad
    assert r["size"] == torch.Size([4]) and r["dtype"] is torch.int64
    assert r["device"] == torch.device("cpu")
    for k in ("set", "bytes", "complex", "big", "none", "tuple", "nested", 7):
        assert r[k] == obj[k], k
    with zipfile.ZipFile(tmp_path / "e.pt") as zf:  # the layout torch writes
        names = zf.namelist()
        assert names[0] == "archive/data.pkl" and "archive/version" in names
        assert zf.read("archive/byteorder") == b"little"
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            if info.filename.startswith("archive/data/"):
                with open(tmp_path / "e.pt", "rb") as f:
                    f.seek(info.header_offset + 26)
                    n, m = np.frombuffer(f.read(4), "<u2")
                assert (info.header_offset + 30 + int(n) + int(m)) % 64 == 0


def test_run_script_checkpoint_loads_in_torch(tmp_path):
    # what `python -m ember run train.py` leaves behind for `torch.save(model.state_dict(), ..)`
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text("import torch\nm = torch.nn.Linear(3, 2)\n"
                      "torch.save(m.state_dict(), 'model.pt')\n")
    subprocess.run([sys.executable, "-m", "ember", "run", str(script)], cwd=tmp_path, check=True,
                   capture_output=True, timeout=120)
    sd = _torch_load(tmp_path / "model.pt")
    assert list(sd) == ["weight", "bias"] and tuple(sd["weight"].shape) == (2, 3)


# ---- hostile files -------------------------------------------------------------------------------
class _Boom:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _archive(path, data_pkl: bytes, storages=()):
    with open(path, "wb") as f:
        tf.write_archive(f, data_pkl, list(storages))


def _refused(path, marker, *globals_named):
    with pytest.raises(UnpicklingError) as exc:
        ember.load(path)
    msg = str(exc.value)
    assert str(path) in msg, msg
    for g in globals_named:
        assert g in msg, msg
    assert isinstance(exc.value, pickle.UnpicklingError)
    assert not marker.exists()
    return msg


def test_os_system_via_reduce_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    _archive(tmp_path / "evil.pt", pickle.dumps({"w": _Boom(marker)}, protocol=2))
    _refused(tmp_path / "evil.pt", marker, "posix.system")
    for weights_only in (True, False):  # weights_only=False runs no code either
        with pytest.raises(UnpicklingError):
            ember.load(tmp_path / "evil.pt", weights_only=weights_only)
    assert not marker.exists()


def test_builtins_eval_and_other_globals_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    cmd = f"__import__('os').system('touch {marker}')"
    for module, name in (("builtins", "eval"), ("__builtin__", "exec"), ("os", "system"),
                         ("subprocess", "Popen"), ("torch", "load"),
                         ("torch._utils", "_rebuild_qtensor"),
                         ("ember", "save"), ("numpy", "load")):
        data = (b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X" +
                len(cmd).to_bytes(4, "little") + cmd.encode() + b"\x85R.")
        _archive(tmp_path / "evil.pt", data)
        msg = _refused(tmp_path / "evil.pt", marker, f".{name}")
        assert "refuses the global" in msg


def test_stack_global_and_opcode_tricks_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    # protocol 4 STACK_GLOBAL of os.system, INST, OBJ and NEWOBJ of allowed names, BUILD on a
    # tensor or a global, and SETITEM on something that is not a dict
    payloads = [
        pickle.dumps(_Boom(marker), protocol=4),
        b"(ios\nsystem\nX\x04\x00\x00\x00true\x85.",  # INST
        b"\x80\x02ctorch\nSize\n)\x81.",  # NEWOBJ
        b"\x80\x02(ccollections\nOrderedDict\no.",  # OBJ
        b"\x80\x02ccollections\nOrderedDict\n}X\x05\x00\x00\x00itemsK\x01sb.",  # BUILD
        b"\x80\x02ctorch\nSize\n}X\x05\x00\x00\x00__eq__K\x01sb.",  # BUILD on a global
        b"\x80\x02ctorch\nSize\nK\x01K\x02s.",  # SETITEM on a global
        b"\x80\x02\x82\x01.",  # EXT1
        b"\x80\x02\x80\x05\x96\xff\xff\xff\xff\xff\xff\x00\x00.",  # BYTEARRAY8 of 2**48 bytes
    ]
    for data in payloads:
        _archive(tmp_path / "evil.pt", data)
        _refused(tmp_path / "evil.pt", marker)


def test_parameter_subclass_and_rebuild_tricks_are_refused(tmp_path):
    marker = tmp_path / "pwned"

    class EvilParam(torch.nn.Parameter):
        def __reduce_ex__(self, proto):
            return (os.system, (f"touch {marker}",))

    buf = io.BytesIO()
    torch.save({"w": EvilParam(torch.ones(2))}, buf)
    (tmp_path / "evil.pt").write_bytes(buf.getvalue())
    _refused(tmp_path / "evil.pt", marker, "posix.system")

    # _rebuild_from_type_v2 naming a class that is not a tensor type
    arr = np.ones(2, np.float32)
    args = (b"((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000"
            b"X\x03\x00\x00\x00cpuK\x02tQK\x00K\x02\x85K\x01\x85\x89ccollections\n"
            b"OrderedDict\n)Rt")
    rebuild = b"ctorch._utils\n_rebuild_tensor_v2\n"
    good = b"\x80\x02" + rebuild + args + b"R."
    _archive(tmp_path / "ok.pt", good, [arr])
    assert ember.load(tmp_path / "ok.pt").tolist() == [1.0, 1.0]
    for new_type in (b"cos\nsystem\n", b"ccollections\nOrderedDict\n"):
        data = (b"\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n(" + rebuild + new_type + args
                + b"}tR.")
        _archive(tmp_path / "evil.pt", data, [arr])
        _refused(tmp_path / "evil.pt", marker)
    data = (b"\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n(" + rebuild +
            b"ctorch.nn.parameter\nParameter\n" + args + b"}tR.")
    _archive(tmp_path / "ok.pt", data, [arr])
    assert type(ember.load(tmp_path / "ok.pt")) is ember.nn.Parameter
    # a Parameter state that would overwrite a tensor attribute (or set a dunder)
    for attr in (b"_vc", b"__class__", b"grad"):
        data = (b"\x80\x02ctorch._utils\n_rebuild_parameter_with_state\n(" + rebuild + args +
                b"R\x88ccollections\nOrderedDict\n)R}X" + len(attr).to_bytes(4, "little") +
                attr + b"K\x01stR.")
        _archive(tmp_path / "evil.pt", data, [arr])
        _refused(tmp_path / "evil.pt", marker)


def _tensor_pickle(offset, size, stride, numel=4):
    def tup(xs):
        return b"(" + b"".join(b"J" + int(x).to_bytes(4, "little", signed=True) for x in xs) + b"t"

    return (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\n"
            b"FloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ" +
            int(numel).to_bytes(4, "little", signed=True) + b"tQJ" +
            int(offset).to_bytes(4, "little", signed=True) + tup(size) + tup(stride) +
            b"\x89ccollections\nOrderedDict\n)RtR.")


def test_cuda_storages_load_on_the_cpu(tmp_path):
    # a checkpoint saved from a GPU names 'cuda:0' as each storage's location
    data = _tensor_pickle(0, (2, 2), (2, 1)).replace(b"X\x03\x00\x00\x00cpu",
                                                     b"X\x06\x00\x00\x00cuda:0")
    _archive(tmp_path / "gpu.pt", data, [np.arange(4, dtype=np.float32)])
    for ml in (None, "cpu", {"cuda:0": "cpu"}):
        r = ember.load(tmp_path / "gpu.pt", map_location=ml)
        assert r.tolist() == [[0.0, 1.0], [2.0, 3.0]] and r.device == ember.device("cpu")


def test_tensors_outside_their_storage_are_refused(tmp_path):
    marker = tmp_path / "never"
    arr = np.arange(4, dtype=np.float32)
    path = tmp_path / "t.pt"
    _archive(path, _tensor_pickle(0, (2, 2), (2, 1)), [arr])
    assert ember.load(path).tolist() == [[0.0, 1.0], [2.0, 3.0]]
    for offset, size, stride, numel in ((1, (2, 2), (2, 1), 4), (0, (5,), (1,), 4),
                                        (0, (2, 2), (3, 1), 4), (0, (2,), (-1,), 4),
                                        (0, (2,), (1,), 5), (0, (2,), (1,), 2**31 - 1),
                                        (0, (2**31 - 1, 2**31 - 1), (1, 1), 4)):
        _archive(path, _tensor_pickle(offset, size, stride, numel), [arr])
        _refused(path, marker)


def test_torch_format_zip_bombs_and_lies_are_refused(tmp_path):
    path = tmp_path / "bomb.pt"
    # a compressed data.pkl (torch never compresses; inflating could take gigabytes)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02N" + b"\x00" * 10**6 + b".")
    assert path.stat().st_size < 10**5
    with pytest.raises(UnpicklingError, match="compressed"):
        ember.load(path)


def test_safe_globals_allow_numpy_scalars_and_nothing_that_runs(tmp_path):
    path = tmp_path / "np.pt"
    torch.save({"acc": np.float64(0.5), "n": np.int32(3), "t": torch.ones(1)}, path)
    assert set(ember.serialization.get_unsafe_globals_in_checkpoint(path)) == \
        set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    with pytest.raises(UnpicklingError, match="add_safe_globals"):
        ember.load(path)
    scalar = (np._core if hasattr(np, "_core") else np.core).multiarray.scalar
    with ember.serialization.safe_globals([scalar, np.dtype]):
        r = ember.load(path)
        assert ember.serialization.get_unsafe_globals_in_checkpoint(path) == []
    assert r["acc"] == 0.5 and type(r["acc"]) is np.float64 and type(r["n"]) is np.int32
    assert ember.serialization.get_safe_globals() == []
    marker = tmp_path / "pwned"
    _archive(tmp_path / "evil.pt", pickle.dumps(_Boom(marker), protocol=2))
    try:  # a global the user allowed is still never called by ember
        ember.serialization.add_safe_globals([os.system])
        msg = _refused(tmp_path / "evil.pt", marker, "posix.system")
        assert "never calls" in msg
    finally:
        ember.serialization.clear_safe_globals()
