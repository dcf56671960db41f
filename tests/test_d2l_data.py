"""ember.d2l's data layer: DATA_HUB, download/extract with SHA-1 checks, local copies."""
import hashlib
import os
import zipfile

import pytest

from ember import d2l

TIME_MACHINE_SHA1 = "090b5e7e70c295757f55df93cb0a180b9691891a"


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _source(tmp_path, name, data):
    src = tmp_path / "server"
    src.mkdir(exist_ok=True)
    (src / name).write_bytes(data)
    return (src / name).as_uri()  # urllib reads file:// URLs, so no network is needed


def test_hub_holds_d2l_entries():
    assert d2l.DATA_URL == "http://d2l-data.s3-accelerate.amazonaws.com/"
    url, sha1 = d2l.DATA_HUB["airfoil"]
    assert url == d2l.DATA_URL + "airfoil_self_noise.dat"
    assert sha1 == "76e5be1548fd8222e5074cf0faae75edff8cf93f"
    assert d2l.DATA_HUB["fra-eng"][1] == "94646ad1522d915e7b0f9296181140edcf86a4f5"


def test_download_verifies_and_caches(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBER_OFFLINE", raising=False)
    monkeypatch.delenv("EMBER_DATA", raising=False)
    data = b"hello d2l\n"
    url = _source(tmp_path, "hello.txt", data)
    folder = tmp_path / "data"
    path = d2l.download(url, str(folder), _sha1(data))
    assert path == os.path.join(str(folder), "hello.txt")
    assert open(path, "rb").read() == data
    os.remove(url[len("file://"):])  # the cached, verified copy is used from now on
    assert d2l.download(url, str(folder), _sha1(data)) == path
    assert os.listdir(folder) == ["hello.txt"]


def test_sha1_mismatch_names_file_and_both_hashes_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBER_OFFLINE", raising=False)
    monkeypatch.delenv("EMBER_DATA", raising=False)
    url = _source(tmp_path, "bad.txt", b"corrupt")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "bad.txt").write_bytes(b"the user's old copy")
    with pytest.raises(RuntimeError) as info:
        d2l.download(url, str(folder), "0" * 40)
    msg = str(info.value)
    assert "bad.txt" in msg and "0" * 40 in msg and _sha1(b"corrupt") in msg
    assert sorted(os.listdir(folder)) == ["bad.txt"]  # no partial file left behind
    assert (folder / "bad.txt").read_bytes() == b"the user's old copy"


def test_offline_error_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_OFFLINE", "1")
    monkeypatch.delenv("EMBER_DATA", raising=False)
    with pytest.raises(RuntimeError, match="no network.*put it at .*timemachine.txt"):
        d2l._data_file("timemachine.txt", TIME_MACHINE_SHA1, root=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_data_file_prefers_root_then_ember_data(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_OFFLINE", "1")
    data = b"some text"
    shared = tmp_path / "shared"
    (shared / "d2l").mkdir(parents=True)
    (shared / "d2l" / "t.txt").write_bytes(data)
    monkeypatch.setenv("EMBER_DATA", str(shared))
    root = tmp_path / "root"
    assert d2l._data_file("t.txt", _sha1(data), root=str(root)) == str(shared / "d2l" / "t.txt")
    root.mkdir()
    (root / "t.txt").write_bytes(data)
    assert d2l._data_file("t.txt", _sha1(data), root=str(root)) == str(root / "t.txt")
    # A copy whose SHA-1 is wrong is not used.
    (shared / "d2l" / "u.txt").write_bytes(b"other")
    with pytest.raises(RuntimeError, match="u.txt"):
        d2l._data_file("u.txt", _sha1(data), root=str(root))


def test_download_copies_from_ember_data_into_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_OFFLINE", "1")
    shared = tmp_path / "shared"
    (shared / "d2l").mkdir(parents=True)
    with zipfile.ZipFile(shared / "d2l" / "pack.zip", "w") as z:
        z.writestr("pack/a.txt", "A")
    monkeypatch.setenv("EMBER_DATA", str(shared))
    sha1 = _sha1((shared / "d2l" / "pack.zip").read_bytes())
    monkeypatch.setitem(d2l.DATA_HUB, "pack", (d2l.DATA_URL + "pack.zip", sha1))
    monkeypatch.chdir(tmp_path / "shared")  # download_extract uses d2l's ../data
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    data_dir = d2l.download_extract("pack")
    assert data_dir == os.path.join("..", "data", "pack")
    assert open(os.path.join(data_dir, "a.txt")).read() == "A"


def test_extract_rejects_unknown_archives(tmp_path):
    f = tmp_path / "x.rar"
    f.write_bytes(b"")
    with pytest.raises(ValueError, match="only zip/tar"):
        d2l.extract(str(f))


def test_unknown_hub_name_is_a_clear_error():
    with pytest.raises(KeyError, match="DATA_HUB"):
        d2l.download("no-such-dataset")
