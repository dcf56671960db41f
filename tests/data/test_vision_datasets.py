"""IDX reading, MNIST-family datasets (tiny files, the real ones via EMBER_DATA), downloads."""
import functools
import gzip
import hashlib
import http.server
import os
import pickle
import socket
import threading
import warnings

import numpy as np
import pytest

import ember
from ember.utils.data import DataLoader

PIL = pytest.importorskip("PIL")
from PIL import Image

from ember.vision import datasets, transforms
from ember.vision.datasets.utils import download_url, read_idx

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte"]


def idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
            np.float64: 0x0E}[arr.dtype.type]
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_mnist(root, name="MNIST", n_train=7, n_test=3, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        arrays[prefix] = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                          rng.integers(0, 10, n, dtype=np.uint8))
        for kind, arr in zip(("images-idx3", "labels-idx1"), arrays[prefix]):
            data = idx_bytes(arr)
            path = raw / f"{prefix}-{kind}-ubyte"
            if gz:
                with gzip.GzipFile(str(path) + ".gz", "wb", mtime=0) as f:
                    f.write(data)
            else:
                path.write_bytes(data)
    return arrays


# ---- the IDX reader --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_roundtrip(tmp_path, dtype):
    arr = (np.arange(24) - 5).astype(dtype).reshape(2, 3, 4)
    p = tmp_path / "x.idx"
    p.write_bytes(idx_bytes(arr))
    got = read_idx(p)
    np.testing.assert_array_equal(got, arr)
    assert got.dtype == np.dtype(dtype) and got.flags.writeable


def test_read_idx_errors_name_the_file(tmp_path):
    arr = np.zeros((10, 28, 28), np.uint8)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\0\0\0\0" + idx_bytes(arr)[4:])
    with pytest.raises(RuntimeError, match=r"t10k-images-idx3-ubyte.gz: bad magic number "
                                           r"0x00000000, expected 0x00000803 \(IDX uint8 3-D\)"):
        read_idx(bad, 0x00000803)
    short = tmp_path / "short"
    short.write_bytes(idx_bytes(arr)[:-5])
    with pytest.raises(RuntimeError, match=r"short: truncated: expected 7856 bytes .*got 7851"):
        read_idx(short)
    long = tmp_path / "long"
    long.write_bytes(idx_bytes(arr) + b"xx")
    with pytest.raises(RuntimeError, match="unexpected trailing data"):
        read_idx(long)
    notgz = tmp_path / "broken.gz"
    notgz.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(RuntimeError, match="broken.gz: corrupt gzip data"):
        read_idx(notgz)


# ---- datasets on tiny files ------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_mnist_tiny(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    ds = datasets.MNIST(str(tmp_path), train=True)
    assert len(ds) == 7 and ds.data.dtype == ember.uint8 and ds.data.shape == (7, 28, 28)
    assert ds.targets.dtype == ember.int64
    np.testing.assert_array_equal(ds.data.numpy(), arrays["train"][0])
    img, label = ds[3]
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (28, 28)
    np.testing.assert_array_equal(np.array(img), arrays["train"][0][3])
    assert label == int(arrays["train"][1][3]) and type(label) is int
    test = datasets.MNIST(str(tmp_path), train=False, transform=transforms.ToTensor(),
                          target_transform=lambda t: t + 100)
    x, t = test[0]
    assert x.shape == (1, 28, 28) and t == int(arrays["t10k"][1][0]) + 100
    with pytest.warns(UserWarning, match="test_data has been renamed data"):
        assert test.test_data is test.data
    with pytest.warns(UserWarning, match="test_labels has been renamed targets"):
        assert test.test_labels is test.targets
    with pytest.warns(UserWarning, match="train_data has been renamed data"):
        ds.train_data
    with pytest.warns(UserWarning, match="train_labels has been renamed targets"):
        ds.train_labels
    assert ds.class_to_idx["3 - three"] == 3


def test_repr_like_torchvision(tmp_path):
    write_mnist(tmp_path)
    ds = datasets.MNIST(str(tmp_path), transform=transforms.ToTensor())
    assert repr(ds) == ("Dataset MNIST\n    Number of datapoints: 7\n"
                        f"    Root location: {tmp_path}\n    Split: Train\n"
                        "    StandardTransform\nTransform: ToTensor()")
    t = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor()])
    ds = datasets.MNIST(str(tmp_path), train=False, transform=t)
    assert repr(ds).endswith("Split: Test\n    StandardTransform\nTransform: Compose(\n"
                             "               Resize(size=(32, 32), interpolation=bilinear, "
                             "max_size=None, antialias=True)\n               ToTensor()\n           )")


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(RuntimeError, match="Dataset not found. You can use download=True to download it"):
        datasets.MNIST(str(tmp_path))
    write_mnist(tmp_path, name="FashionMNIST")
    raw = tmp_path / "FashionMNIST" / "raw"
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\0" * 40))
    assert len(datasets.FashionMNIST(str(tmp_path))) == 7
    with pytest.raises(RuntimeError, match="t10k-images-idx3-ubyte.gz: bad magic number 0x00000000"):
        datasets.FashionMNIST(str(tmp_path), train=False)


def test_emnist_and_kmnist_layout(tmp_path):
    raw = tmp_path / "EMNIST" / "raw"
    raw.mkdir(parents=True)
    imgs = np.zeros((2, 28, 28), np.uint8)
    for part in ("train", "test"):
        (raw / f"emnist-letters-{part}-images-idx3-ubyte").write_bytes(idx_bytes(imgs))
        (raw / f"emnist-letters-{part}-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([1, 26], np.uint8)))
    ds = datasets.EMNIST(str(tmp_path), split="letters", train=False)
    assert len(ds) == 2 and ds.classes[1] == "a" and len(ds.classes) == 27
    with pytest.raises(ValueError, match="Unknown value 'nope' for argument split"):
        datasets.EMNIST(str(tmp_path), split="nope")
    write_mnist(tmp_path, name="KMNIST")
    assert datasets.KMNIST(str(tmp_path)).classes[0] == "o"


def test_cifar10_tiny(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    md5 = {}
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                 "test_batch"]:
        entry = {"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), "labels": [1, 2]}
        (base / name).write_bytes(pickle.dumps(entry))
        md5[name] = hashlib.md5((base / name).read_bytes()).hexdigest()
    (base / "batches.meta").write_bytes(pickle.dumps({"label_names": ["a", "b", "c"]}))
    meta_md5 = hashlib.md5((base / "batches.meta").read_bytes()).hexdigest()

    class Tiny(datasets.CIFAR10):
        train_list = [[n, md5[n]] for n in md5 if n != "test_batch"]
        test_list = [["test_batch", md5["test_batch"]]]
        meta = {"filename": "batches.meta", "key": "label_names", "md5": meta_md5}

    ds = Tiny(str(tmp_path))
    assert len(ds) == 10 and ds.data.shape == (10, 32, 32, 3) and ds.classes == ["a", "b", "c"]
    img, t = ds[0]
    assert img.mode == "RGB" and t == 1
    with pytest.raises(RuntimeError, match="Dataset not found or corrupted"):
        datasets.CIFAR10(str(tmp_path))


def test_image_folder(tmp_path):
    for cls, n in (("dog", 2), ("cat", 1)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            Image.new("RGB", (4, 3), (i, 0, 0)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("x")
    ds = datasets.ImageFolder(str(tmp_path))
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert [t for _, t in ds.samples] == [0, 1, 1] and len(ds) == 3
    img, t = ds[1]
    assert img.size == (4, 3) and t == 1
    npy = datasets.DatasetFolder(str(tmp_path), loader=lambda p: p, extensions=(".txt",),
                                 allow_empty=True)
    assert len(npy) == 1
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes dog"):
        datasets.DatasetFolder(str(tmp_path), loader=lambda p: p, extensions=(".txt",))


def test_root_none_uses_ember_data(tmp_path, monkeypatch):
    write_mnist(tmp_path)
    monkeypatch.setenv("EMBER_DATA", str(tmp_path))
    assert len(datasets.MNIST(train=False)) == 3


def test_download_true_uses_offline_copy_under_ember_data(tmp_path, monkeypatch):
    src = tmp_path / "mirror"
    write_mnist(src)
    monkeypatch.setenv("EMBER_DATA", str(src))
    md5s = {f + ".gz": hashlib.md5((src / "MNIST" / "raw" / (f + ".gz")).read_bytes()).hexdigest()
            for f in FILES}

    class Local(datasets.MNIST):
        resources = [(f + ".gz", md5s[f + ".gz"]) for f in FILES]

    (src / "Local").symlink_to(src / "MNIST")
    ds = Local(str(tmp_path / "elsewhere"), download=True)
    assert len(ds) == 7 and ds.raw_folder.startswith(str(src))
    assert not (tmp_path / "elsewhere" / "Local" / "raw" / "train-images-idx3-ubyte.gz").exists()


# ---- downloads against a local HTTP server -----------------------------------------------------

@pytest.fixture
def http_dir(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: connection refused
    return f"http://127.0.0.1:{port}/"


def test_download_url_checksum(http_dir, tmp_path):
    served, url = http_dir
    (served / "f.bin").write_bytes(b"hello")
    good = hashlib.md5(b"hello").hexdigest()
    path = download_url(url + "f.bin", str(tmp_path / "out"), md5=good)
    with open(path, "rb") as f:
        assert f.read() == b"hello"
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        download_url(url + "f.bin", str(tmp_path / "out2"), md5="0" * 32)
    assert os.listdir(tmp_path / "out2") == []  # no half-written or wrong file left behind


def test_mnist_download_from_mirrors(http_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EMBER_DATA", raising=False)
    served, url = http_dir
    arrays = write_mnist(tmp_path / "src")
    md5s = {}
    for f in FILES:
        data = (tmp_path / "src" / "MNIST" / "raw" / (f + ".gz")).read_bytes()
        (served / (f + ".gz")).write_bytes(data)
        md5s[f + ".gz"] = hashlib.md5(data).hexdigest()

    class Mirrored(datasets.MNIST):
        mirrors = [closed_port_url(), url]
        resources = [(f + ".gz", md5s[f + ".gz"]) for f in FILES]

    ds = Mirrored(str(tmp_path / "root"), train=True, download=True)
    np.testing.assert_array_equal(ds.data.numpy(), arrays["train"][0])
    out = capsys.readouterr().out
    assert "Failed to download (trying next)" in out
    assert sorted(os.listdir(tmp_path / "root" / "Mirrored" / "raw")) == sorted(f + ".gz" for f in FILES)

    class WrongSums(datasets.MNIST):
        mirrors = [closed_port_url(), url]
        resources = [(f + ".gz", "0" * 32) for f in FILES]

    with pytest.raises(RuntimeError) as e:
        WrongSums(str(tmp_path / "root2"), download=True)
    msg = str(e.value)
    assert "every mirror failed" in msg and "checksum mismatch" in msg
    assert "Connection refused" in msg or "refused" in msg.lower()
    assert os.path.join(str(tmp_path / "root2"), "WrongSums", "raw", "train-images-idx3-ubyte.gz") in msg
    assert os.listdir(tmp_path / "root2" / "WrongSums" / "raw") == []


# ---- the real MNIST and Fashion-MNIST (EMBER_DATA) --------------------------------------------

def real_root():
    env = os.environ.get("EMBER_DATA")
    if not env:
        pytest.skip("EMBER_DATA is not set")
    root = os.path.abspath(env)
    if not os.path.isdir(os.path.join(root, "MNIST", "raw")):
        pytest.skip(f"no MNIST under {root}")
    return root


def test_real_mnist():
    root = real_root()
    train = datasets.MNIST(root, train=True, transform=None)
    test = datasets.MNIST(root, train=False)
    assert len(train) == 60000 and len(test) == 10000
    img, label = train[0]
    assert isinstance(img, Image.Image) and img.size == (28, 28) and label == 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = test.test_data.view(-1, 28 * 28).float() if hasattr(ember.Tensor, "view") else None
    assert test.data.dtype == ember.uint8 and int(test.data.numpy().max()) == 255
    if x is not None:
        assert x.shape == (10000, 784)
    t = transforms.ToTensor()(img)
    assert t.shape == (1, 28, 28) and t.dtype == ember.float32
    assert 0.0 <= float(t.numpy().min()) and float(t.numpy().max()) <= 1.0
    r = transforms.Resize((32, 32))(img)
    np.testing.assert_array_equal(np.array(r), np.array(img.resize((32, 32), Image.BILINEAR)))


def test_real_fashion_mnist_seed_s3():
    root = real_root()
    trans = transforms.Compose([transforms.Resize((32, 32)), transforms.ToTensor()])
    train = datasets.FashionMNIST(root=root, train=True, transform=trans, download=True)
    val = datasets.FashionMNIST(root=root, train=False, transform=trans, download=True)
    assert (len(train), len(val)) == (60000, 10000)
    assert train[0][0].shape == (1, 32, 32)
    X, y = next(iter(DataLoader(train, 64, shuffle=True)))
    assert X.shape == (64, 1, 32, 32) and X.dtype == ember.float32
    assert y.shape == (64,) and y.dtype == ember.int64
    X2, y2 = next(iter(DataLoader(val, 64, num_workers=2)))
    assert X2.shape == (64, 1, 32, 32) and y2.tolist() == val.targets.numpy()[:64].tolist()
