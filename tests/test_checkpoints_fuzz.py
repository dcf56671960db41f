"""Broken and hostile checkpoint files: a seeded byte-flip fuzz, small files declaring huge
sizes, and saves killed midway. ``bench/checkpoint_fuzz.py`` runs longer forms of both."""
from __future__ import annotations

import io
import math
import os
import random
import signal
import struct
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import ember
from ember.serialization import UnpicklingError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_checkpoint():
    """A model + optimizer checkpoint with every kind of value a training script saves."""
    nn = ember.nn
    ember.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    opt = ember.optim.Adam(m.parameters(), lr=1e-2)
    m(ember.randn(5, 4)).sum().backward()
    opt.step()
    return {"epoch": 3, "loss": 0.125, "model": m.state_dict(), "optimizer": opt.state_dict(),
            "best": (1, "x"), "flags": {True, None}, "half": ember.ones(3, dtype=ember.float16)}


def same(a, b) -> bool:
    """Equal values, types, dtypes and shapes, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, ember.Tensor):
        x, y = a.detach().numpy(), b.detach().numpy()
        return (x.dtype == y.dtype and x.shape == y.shape and a.requires_grad == b.requires_grad
                and np.array_equal(x, y, equal_nan=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a) and \
            same(getattr(a, "_metadata", None), getattr(b, "_metadata", None))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _to_torch(obj, torch):
    if isinstance(obj, ember.Tensor):
        t = torch.from_numpy(obj.detach().numpy().copy())
        return torch.nn.Parameter(t) if isinstance(obj, ember.nn.Parameter) else t
    if isinstance(obj, dict):
        out = type(obj)((k, _to_torch(v, torch)) for k, v in obj.items())
        if hasattr(obj, "_metadata"):
            out._metadata = obj._metadata
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_torch(v, torch) for v in obj)
    return obj


def fuzz(cases: int, seed: int, fmt: str, workdir) -> dict:
    """Flip 1-4 random bytes per case; every case must load equal data or raise a named error."""
    obj = small_checkpoint()
    buf = io.BytesIO()
    if fmt == "pytorch":  # the same checkpoint, written by real torch.save
        import torch

        torch.save(_to_torch(obj, torch), buf)
        obj = ember.load(io.BytesIO(buf.getvalue()))
    else:
        ember.save(obj, buf, _use_ember_format=fmt == "ember")
    good = buf.getvalue()
    ref = ember.load(io.BytesIO(good))
    assert same(ref, obj)
    rng = random.Random(seed)
    path = os.path.join(workdir, f"fuzz-{fmt}.pt")
    counts = {"equal": 0, "refused": 0}
    for case in range(cases):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            flip = data[i] ^ (1 << rng.randrange(8))
            data[i] = rng.randrange(256) if rng.random() < 0.5 else flip
        if rng.random() < 0.1:  # and sometimes a truncation
            data = data[:rng.randrange(len(data))]
        with open(path, "wb") as f:
            f.write(data)
        try:
            out = ember.load(path)
        except (UnpicklingError, RuntimeError) as exc:
            assert path in str(exc), f"case {case} (seed {seed}): {exc}"
            counts["refused"] += 1
            continue
        except BaseException as exc:
            raise AssertionError(f"case {case} (seed {seed}, {fmt}) raised "
                                 f"{type(exc).__name__}: {exc}") from exc
        assert same(out, obj), f"case {case} (seed {seed}, {fmt}) loaded different data"
        counts["equal"] += 1
    return counts


@pytest.mark.parametrize("fmt", ["torch", "ember", "pytorch"])
def test_byte_flip_fuzz(tmp_path, fmt):
    if fmt == "pytorch":
        pytest.importorskip("torch")
    counts = fuzz(150 if fmt != "pytorch" else 100, seed=1234, fmt=fmt, workdir=str(tmp_path))
    assert counts["refused"] > 50  # the fuzz reaches the checks


# ---- small files declaring huge sizes ------------------------------------------------------------
def _zip_with(path, members, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _set_declared_size(path, member, size):
    """Rewrite a member's sizes in the central directory (the file stays small)."""
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    cd = data.index(b"PK\x01\x02" + data[data.index(b"PK\x01\x02") + 4:][:0])
    while True:
        n = struct.unpack("<H", data[cd + 28:cd + 30])[0]
        if data[cd + 46:cd + 46 + n].decode() == member:
            break
        m, k = struct.unpack("<HH", data[cd + 30:cd + 34])
        cd = cd + 46 + n + m + k
    data[cd + 20:cd + 28] = struct.pack("<II", size, size)
    open(path, "wb").write(bytes(data))
    return info


@pytest.mark.parametrize("fmt", ["torch", "ember"])
def test_small_file_declaring_a_huge_member(tmp_path, fmt):
    path = tmp_path / "lie.pt"
    ember.save({"w": ember.ones(4)}, path, _use_ember_format=fmt == "ember")
    member = "archive/data/0" if fmt == "torch" else "data/0.npy"
    for size in (1288490188, 2**32 - 1):  # 1.2 GiB, 4 GiB declared in a tiny file
        _set_declared_size(path, member, size)
        assert path.stat().st_size < 4096
        with pytest.raises(UnpicklingError, match="declares") as exc:
            ember.load(path)
        assert str(path) in str(exc.value)


def test_storage_numel_of_a_tebibyte_is_refused_before_allocating(tmp_path):
    path = tmp_path / "tib.pt"
    ember.save(ember.ones(4), path)
    data = open(path, "rb").read()
    with zipfile.ZipFile(path) as zf:
        pkl = zf.read("archive/data.pkl")
    # numel 4 -> 2**38 float32 elements (1 TiB): a LONG1 in place of the BININT1
    evil = pkl.replace(b"X\x03\x00\x00\x00cpuK\x04t", b"X\x03\x00\x00\x00cpu\x8a\x05" +
                       (2**38).to_bytes(5, "little") + b"t")
    assert evil != pkl
    import ember._torch_format as tf

    with open(path, "wb") as f:
        tf.write_archive(f, evil, [np.ones(4, np.float32)])
    with pytest.raises(UnpicklingError, match="more than the whole file") as exc:
        ember.load(path)
    assert str(path) in str(exc.value) and len(data) < 4096


@pytest.mark.parametrize("fmt", ["torch", "ember"])
def test_compressed_members_are_refused(tmp_path, fmt):
    # ember's manifest padded with whitespace that deflates 1000:1 (a zip bomb in small)
    path = tmp_path / "bomb.pt"
    if fmt == "ember":
        body = b'{"format": "ember.save", "version": 1, "root": 1' + b" " * 10**7 + b"}"
        _zip_with(path, {"manifest.json": body}, zipfile.ZIP_DEFLATED)
    else:
        _zip_with(path, {"archive/data.pkl": b"\x80\x02K\x01" + b"0" * 10**7 + b"."},
                  zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 10**5
    with pytest.raises(UnpicklingError, match="compressed") as exc:
        ember.load(path)
    assert str(path) in str(exc.value)


@pytest.mark.parametrize("fmt", ["torch", "ember"])
def test_odd_failures_become_unpickling_errors(tmp_path, fmt):
    path = tmp_path / "odd.pt"
    # a zip member needing a newer zip version (zipfile: NotImplementedError)
    ember.save({"w": ember.ones(2)}, path, _use_ember_format=fmt == "ember")
    data = bytearray(open(path, "rb").read())
    i = data.index(b"PK\x01\x02")
    data[i + 6:i + 8] = struct.pack("<H", 99)  # version needed to extract: 9.9
    j = data.index(b"PK\x03\x04")
    data[j + 4:j + 6] = struct.pack("<H", 99)
    open(path, "wb").write(bytes(data))
    with pytest.raises(UnpicklingError, match="zip file version") as exc:
        ember.load(path)
    assert str(path) in str(exc.value)
    deep = "[" * 100000 + "]" * 100000
    import ember._torch_format as tf

    if fmt == "ember":
        cases = [{"manifest.json": '{"format": "ember.save", "version": 1, "root": ' + deep + "}"},
                 {"manifest.json": '{"format": "ember.save", "version": 1, "root": '
                                   '{"t": "size", "v": [Infinity]}}'},
                 {"manifest.json": '{"format": "ember.save", "version": 1, "root": '
                                   '{"t": "size", "v": [1e400]}}'}]
        for members in cases:
            _zip_with(path, members)
            with pytest.raises(UnpicklingError) as exc:
                ember.load(path)
            assert str(path) in str(exc.value)
    else:
        for pkl in (b"\x80\x02ctorch\nSize\nG\x7f\xf0\x00\x00\x00\x00\x00\x00\x85\x85R.",
                    b"\x80\x02ctorch\nSize\n\x8a\x09" + b"\xff" * 8 + b"\x7f\x85\x85R."):
            with open(path, "wb") as f:
                tf.write_archive(f, pkl, [])
            with pytest.raises(UnpicklingError, match="torch.Size") as exc:
                ember.load(path)
            assert str(path) in str(exc.value)
        # the pickle interpreter does not recurse: deep nesting loads (and no RecursionError)
        with open(path, "wb") as f:
            tf.write_archive(f, b"\x80\x02" + b"]" * 100000 + b"a" * 99999 + b".", [])
        r = ember.load(path)
        for _ in range(99999):
            r = r[0]
        assert r == []


# ---- saves killed midway -------------------------------------------------------------------------
_WRITER = """
import sys, time, ember, ember._torch_format as tf, ember.serialization as ser
path, fmt, pause = sys.argv[1], sys.argv[2], sys.argv[3] == "pause"
big = {"w": ember.arange(float(1_000_000)), "v": 2}

def pausing(real):
    def write(zf, name, data):
        real(zf, name, data)
        if "data/" in name:  # a storage is on disk, the archive is not finished
            print("mid-save", flush=True)
            time.sleep(60)
    return write

if pause:
    tf._add, ser._write_npy = pausing(tf._add), pausing(ser._write_npy)
print("ready", flush=True)
while True:
    ember.save(big, path, _use_ember_format=fmt == "ember")
"""


def kill_loop(workdir, kills: int, fmt: str, pause: bool = True, seed: int = 0) -> int:
    """Kill a process mid-save (at a pause inside the archive, or after a random delay while it
    saves over and over); the checkpoint must load whole every time, and the next save must
    leave no temp file. Returns how many kills left a temp file behind."""
    rng = random.Random(seed)
    path = os.path.join(workdir, "ck.pt")
    ember.save({"w": ember.zeros(3), "v": 1}, path, _use_ember_format=fmt == "ember")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    torn = 0
    for _ in range(kills):
        p = subprocess.Popen([sys.executable, "-c", _WRITER, path, fmt,
                              "pause" if pause else "loop"], stdout=subprocess.PIPE, env=env)
        try:
            assert p.stdout.readline().strip() == b"ready"
            if pause:
                assert p.stdout.readline().strip() == b"mid-save"
            else:
                time.sleep(rng.uniform(0.05, 0.5))
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()
            p.stdout.close()
        torn += any(n.endswith(".tmp") for n in os.listdir(workdir))
        r = ember.load(path)  # the old checkpoint or a complete new one, never a torn one
        assert r["v"] in ((1,) if pause else (1, 2))
        if r["v"] == 1:
            assert r["w"].tolist() == [0.0, 0.0, 0.0]
        else:
            assert r["w"].shape == (1_000_000,) and r["w"][-1].item() == 999_999.0
    time.sleep(0.01)  # a stale temp file is older than the next save
    ember.save({"w": ember.ones(2), "v": 3}, path, _use_ember_format=fmt == "ember")
    assert ember.load(path)["v"] == 3
    assert sorted(os.listdir(workdir)) == ["ck.pt"], os.listdir(workdir)
    return torn


def test_killed_saves_leave_the_old_checkpoint_and_no_temp_files(tmp_path):
    # (ember's own format, random kill times and more kills in bench/checkpoint_fuzz.py)
    assert kill_loop(str(tmp_path), kills=2, fmt="torch") == 2


def test_stale_temp_cleanup_touches_only_our_own_old_files(tmp_path):
    path = tmp_path / "ck.pt"
    keep = [".ck.pt.zzzzzzzzzzzz.tmp", ".ck.pt.0123456789ab.tmp.bak", ".other.pt.0123456789ab.tmp",
            "ck.pt.0123456789ab.tmp", ".ck.pt.0123456789a.tmp"]
    for n in keep:
        (tmp_path / n).write_bytes(b"x")
    stale = tmp_path / ".ck.pt.0123456789ab.tmp"
    stale.write_bytes(b"x")
    fresh = tmp_path / ".ck.pt.abcdefabcdef.tmp"
    fresh.write_bytes(b"x")
    old = time.time() - 3600
    for n in keep + [stale.name]:
        os.utime(tmp_path / n, (old, old))
    os.utime(fresh, (time.time() + 60, time.time() + 60))  # a save still writing elsewhere
    ember.save(1, path)
    assert not stale.exists() and fresh.exists()
    assert all((tmp_path / n).exists() for n in keep)
