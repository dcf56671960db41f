"""ember.save / ember.load: checkpoints that can never run code when loaded.

A file is a zip archive (stored, not compressed) holding ``manifest.json``, which describes the
saved object (a tree of containers, plain values and tensor references, with type tags), and
one ``data/<n>.npy`` per tensor storage, written and read with ``allow_pickle=False``. Nothing is
unpickled, so a file from an untrusted source can at worst fail to load: PyTorch's
``weights_only=True`` guarantee, always.

What can be saved: tensors (any dtype and shape, views included; ``requires_grad`` and the
Parameter class are kept; tensors that share one array stay shared), NumPy arrays and scalars,
dict / OrderedDict (with a ``_metadata`` attribute, as ``Module.state_dict()`` makes) / Counter
(scheduler state) / list / tuple / set, with keys of any of the plain types (optimizer state
dicts use int keys), None, bool, int, float, complex, str, bytes, ``ember.Size``, dtypes and
devices.

Writing to a path is atomic: the archive goes to a temporary file in the same directory, is
fsync'ed and then renamed over the target, so a crash mid-save leaves the previous file intact.
"""
from __future__ import annotations

import base64
import io
import json
import os
import pickle
import uuid
import zipfile
from collections import Counter, OrderedDict
from typing import Any

import numpy as np

from . import _dtype
from ._device import Size, check_device, device
from ._tensor import Tensor, _make

__all__ = ["save", "load", "UnpicklingError"]

FORMAT = "ember.save"
VERSION = 1
_MANIFEST = "manifest.json"

# dtypes a tensor (or saved ndarray) may have; anything else in a file is refused
_ALLOWED_DTYPES = {np.dtype(d) for d in (np.bool_, np.uint8, np.int8, np.int16, np.int32,
                                         np.int64, np.float16, np.float32, np.float64,
                                         np.uint16, np.uint32, np.uint64, np.complex64,
                                         np.complex128)}


class UnpicklingError(RuntimeError, pickle.UnpicklingError):
    """A file that ember.load cannot read: corrupt, truncated, or not written by ember.save.

    It is a RuntimeError and also a ``pickle.UnpicklingError`` (what ``torch.load`` raises for
    files it refuses), so either ``except`` clause catches it.
    """


# ---- save ---------------------------------------------------------------------------------------
class _Encoder:
    """Turns an object into a JSON-able tree plus the list of arrays it references."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self._array_ids: dict[int, int] = {}  # id(ndarray) -> index, so shared data is saved once
        self._tensor_ids: dict[int, int] = {}  # id(Tensor) -> index: one object loads as one
        self._keep: list = []  # keep encoded objects alive so that their ids stay unique
        self._active: set[int] = set()  # containers being encoded (cycle detection)

    def _array_index(self, arr: np.ndarray) -> int:
        key = id(arr)
        idx = self._array_ids.get(key)
        if idx is None:
            _check_dtype(arr.dtype, "save")
            idx = len(self.arrays)
            self.arrays.append(arr)
            self._array_ids[key] = idx
            self._keep.append(arr)
        return idx

    def encode(self, obj, where: str = "obj"):
        if obj is None or obj is True or obj is False:
            return obj
        cls = type(obj)
        if cls is int or cls is str:
            return obj
        if cls is float:
            return obj  # json writes NaN / Infinity and reads them back
        if isinstance(obj, Tensor):
            return self._tensor(obj, where)
        if isinstance(obj, np.ndarray):
            return {"t": "ndarray", "id": self._array_index(obj)}
        if isinstance(obj, np.generic):
            _check_dtype(obj.dtype, "save")
            return {"t": "npscalar", "dtype": obj.dtype.str, "v": self.encode(obj.item(), where)}
        if isinstance(obj, _dtype.dtype):
            return {"t": "dtype", "v": obj.name}
        if isinstance(obj, device):
            return {"t": "device", "v": str(obj)}
        if isinstance(obj, Size):
            return {"t": "size", "v": [int(s) for s in obj]}
        if cls is complex:
            return {"t": "complex", "v": [obj.real, obj.imag]}
        if cls is bytes:
            return {"t": "bytes", "v": base64.b64encode(obj).decode("ascii")}
        if isinstance(obj, (dict, list, tuple, set, frozenset)):
            return self._container(obj, where)
        if isinstance(obj, int) and not isinstance(obj, bool):  # int subclasses (e.g. IntEnum)
            return int(obj)
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, str):
            return str(obj)
        hint = ""
        if hasattr(obj, "state_dict") and callable(obj.state_dict):
            hint = " Save its state_dict() instead and load that into a new instance."
        raise TypeError(
            f"ember.save cannot save {where} of type {cls.__module__}.{cls.__qualname__}: ember "
            "saves tensors, arrays, containers (dict, list, tuple, set) and plain values only, "
            f"and never pickles arbitrary objects (a file must not be able to run code).{hint}")

    def _tensor(self, t: Tensor, where: str):
        tid = self._tensor_ids.get(id(t))
        if tid is None:
            tid = self._tensor_ids[id(t)] = len(self._tensor_ids)
            self._keep.append(t)
        node = {"t": "tensor", "tid": tid}
        if type(t) is not Tensor:
            from .nn.parameter import Parameter, UninitializedTensorMixin  # nn imports ember

            if isinstance(t, UninitializedTensorMixin):
                raise TypeError(f"ember.save cannot save {where}: it is an uninitialized (lazy) "
                                "parameter; run a forward pass first to give it a shape")
            if isinstance(t, Parameter):
                node["cls"] = "Parameter"
        node["id"] = self._array_index(t._data)
        if t._requires_grad:
            node["requires_grad"] = True
        return node

    def _container(self, obj, where: str):
        key = id(obj)
        if key in self._active:
            raise ValueError(f"ember.save cannot save {where}: it contains itself")
        self._active.add(key)
        try:
            if isinstance(obj, dict):
                items = [[self.encode(k, f"a key of {where}"), self.encode(v, f"{where}[{k!r}]")]
                         for k, v in obj.items()]
                if isinstance(obj, OrderedDict):
                    node = {"t": "odict", "items": items}
                    meta = getattr(obj, "_metadata", None)
                    if meta is not None:
                        node["metadata"] = self.encode(meta, f"{where}._metadata")
                    return node
                if type(obj) is Counter:  # MultiStepLR.state_dict() holds one
                    return {"t": "counter", "items": items}
                if type(obj) is not dict and not _is_defaultdict(obj):
                    raise TypeError(f"ember.save cannot save {where} of type "
                                    f"{type(obj).__qualname__} (a dict subclass)")
                return {"t": "dict", "items": items}
            tag = {list: "list", tuple: "tuple", set: "set", frozenset: "frozenset"}.get(type(obj))
            if tag is None:
                if isinstance(obj, tuple) and hasattr(obj, "_fields"):
                    tag = "tuple"  # a namedtuple is saved as a plain tuple
                else:
                    raise TypeError(f"ember.save cannot save {where} of type "
                                    f"{type(obj).__qualname__}")
            return {"t": tag, "v": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        finally:
            self._active.discard(key)


def _is_defaultdict(obj) -> bool:
    from collections import defaultdict

    return type(obj) is defaultdict  # saved (and loaded) as a plain dict, as its factory can't be


def _check_dtype(dt: np.dtype, what: str, name: str = "") -> None:
    if dt.hasobject or np.dtype(dt).newbyteorder("=") not in _ALLOWED_DTYPES:
        if what == "save":
            raise TypeError(f"ember.save cannot save an array of dtype {dt}")
        raise UnpicklingError(f"{name}: holds an array of dtype {dt}, which ember never loads")


def _write_archive(fh, manifest: dict, arrays: list[np.ndarray]) -> None:
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for i, arr in enumerate(arrays):
            _write_npy(zf, f"data/{i}.npy", arr)
        zf.writestr(_MANIFEST, json.dumps(manifest, separators=(",", ":")))


def _write_npy(zf: zipfile.ZipFile, name: str, arr: np.ndarray) -> None:
    # C order always (a non-contiguous view is written as its values), no pickle ever
    arr = np.asarray(arr)
    with zf.open(name, "w", force_zip64=arr.nbytes > 2**31) as out:
        if not arr.flags.c_contiguous:
            arr = np.array(arr, order="C")  # (np.ascontiguousarray would make 0-dim 1-dim)
        np.lib.format.write_array(out, arr, allow_pickle=False)


def save(obj: Any, f, pickle_module: Any = None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True,
         _disable_byteorder_record: bool = False) -> None:
    """Save ``obj`` (tensors, state dicts, containers, plain values) to a path or a file object.

    ``pickle_module`` and ``pickle_protocol`` are accepted for compatibility and unused: ember
    never pickles.
    """
    enc = _Encoder()
    root = enc.encode(obj)  # encode first: an unsupported object fails before touching disk
    manifest = {"format": FORMAT, "version": VERSION, "root": root}

    if isinstance(f, (str, os.PathLike)):
        _save_atomic(os.fspath(f), manifest, enc.arrays)
    else:
        if not hasattr(f, "write"):
            raise AttributeError(f"ember.save: expected a path or a writable file object, got "
                                 f"{type(f).__name__}")
        _write_archive(f, manifest, enc.arrays)


def _save_atomic(path: str, manifest: dict, arrays: list[np.ndarray]) -> None:
    path = os.path.realpath(path)  # through a symlink, replace its target, not the link
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise RuntimeError(f"Parent directory {parent} does not exist.")
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with 0o666 lets the umask decide the mode, as open(path, 'wb') would
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_archive(fh, manifest, arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(parent)


def _fsync_dir(parent: str) -> None:
    # make the rename itself durable (POSIX); not possible (nor needed) on Windows
    try:
        dfd = os.open(parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# ---- load ---------------------------------------------------------------------------------------
def load(f, map_location=None, pickle_module: Any = None, *, weights_only: bool | None = True,
         mmap: bool | None = None, **pickle_load_args: Any) -> Any:
    """Load an object saved with :func:`ember.save` from a path or a file object.

    Nothing is ever unpickled, whatever ``weights_only`` says. ``map_location`` may be
    ``'cpu'``, an ``ember.device``, a dict of location strings or a callable: ember tensors
    live on the CPU, so a CPU target (or a callable) leaves them there, and naming another
    device raises the same error as ``tensor.to(device)``.
    """
    _check_map_location(map_location)
    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        with open(name, "rb") as fh:
            return _load_from(fh, repr(name))
    if not hasattr(f, "read"):
        raise AttributeError(f"ember.load: expected a path or a readable file object, got "
                             f"{type(f).__name__}")
    name = repr(getattr(f, "name", None) or f"<{type(f).__name__}>")
    if not (hasattr(f, "seek") and _seekable(f)):
        f = io.BytesIO(f.read())
    return _load_from(f, name)


def _seekable(f) -> bool:
    try:
        return bool(f.seekable()) if hasattr(f, "seekable") else True
    except Exception:
        return False


def _check_map_location(map_location) -> None:
    if map_location is None or callable(map_location) and not isinstance(map_location, device):
        return
    if isinstance(map_location, dict):
        for v in map_location.values():
            check_device(v)
        return
    check_device(map_location)


def _load_from(fh, name: str):
    start = fh.tell()
    head = fh.read(8)
    fh.seek(start)
    if not head.startswith(b"PK"):
        raise UnpicklingError(f"ember.load: {name} is not an ember.save file: {_sniff(head)}")
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise UnpicklingError(f"ember.load: {name} is truncated or corrupt: it starts like a zip "
                              f"archive but cannot be opened as one ({exc})") from None
    with zf:
        names = set(zf.namelist())
        if _MANIFEST not in names:
            raise UnpicklingError(f"ember.load: {name} is not an ember.save file: "
                                  f"{_describe_zip(names)}")
        try:
            manifest = json.loads(zf.read(_MANIFEST).decode("utf-8"))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
            raise UnpicklingError(f"ember.load: {name} is corrupt: its manifest cannot be read "
                                  f"({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise UnpicklingError(f"ember.load: {name} is not an ember.save file: its "
                                  f"{_MANIFEST} does not declare format {FORMAT!r}")
        version = manifest.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise UnpicklingError(f"ember.load: {name} was written in ember.save format version "
                                  f"{version!r}; this ember reads versions up to {VERSION}. "
                                  "Upgrade ember to load it.")
        decoder = _Decoder(zf, name)
        try:
            return decoder.decode(manifest.get("root"))
        except UnpicklingError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError,
                RuntimeError) as exc:
            raise UnpicklingError(f"ember.load: {name} is corrupt: malformed manifest "
                                  f"({type(exc).__name__}: {exc})") from None


def _sniff(head: bytes) -> str:
    if not head:
        return "the file is empty"
    if head[:1] == b"\x80":
        return ("it is a Python pickle (e.g. a legacy torch.save checkpoint); ember never "
                "unpickles, because loading a pickle can run arbitrary code")
    if head.startswith(b"\x93NUMPY"):
        return "it is a NumPy .npy file; read it with numpy.load"
    if head.startswith(b"\x89HDF"):
        return "it is an HDF5 file"
    return f"unrecognised content (it starts with {head!r})"


def _describe_zip(names: set) -> str:
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return ("it is a PyTorch checkpoint (torch.save's zip holds a pickle, which ember never "
                "loads because it can run code). Convert it where PyTorch is installed, e.g. "
                "numpy.savez('weights.npz', **{k: v.numpy() for k, v in "
                "torch.load(path, weights_only=True).items()}), then build tensors from the arrays")
    if names and all(n.endswith(".npy") for n in names):
        return "it is a NumPy .npz archive; read it with numpy.load"
    return f"the zip archive has no {_MANIFEST} (it was not written by ember.save)"


class _Decoder:
    """Rebuilds the object tree of a manifest, reading each array once, on first use."""

    def __init__(self, zf: zipfile.ZipFile, name: str) -> None:
        self.zf = zf
        self.name = name
        self.arrays: dict[int, np.ndarray] = {}
        self.tensors: dict[int, Tensor] = {}

    def array(self, idx) -> np.ndarray:
        if type(idx) is not int or idx < 0:
            raise ValueError(f"bad array reference {idx!r}")
        arr = self.arrays.get(idx)
        if arr is None:
            arr = self.arrays[idx] = _read_npy(self.zf, f"data/{idx}.npy", self.name)
        return arr

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            raise ValueError("untagged list")
        tag = node["t"]
        if tag == "tensor":
            return self.tensor(node)
        if tag in ("list", "tuple", "set", "frozenset"):
            values = [self.decode(v) for v in node["v"]]
            return values if tag == "list" else {"tuple": tuple, "set": set,
                                                  "frozenset": frozenset}[tag](values)
        if tag in ("dict", "odict", "counter"):
            pairs = [(self.decode(k), self.decode(v)) for k, v in node["items"]]
            if tag == "dict":
                return dict(pairs)
            if tag == "counter":
                return Counter(dict(pairs))
            out = OrderedDict(pairs)
            if "metadata" in node:
                out._metadata = self.decode(node["metadata"])
            return out
        if tag == "ndarray":
            return self.array(node["id"])
        if tag == "npscalar":
            dt = np.dtype(node["dtype"])
            _check_dtype(dt, "load", f"ember.load: {self.name}")
            return dt.type(self.decode(node["v"]))
        if tag == "dtype":
            return _dtype.to_dtype(node["v"])
        if tag == "device":
            return device(node["v"])
        if tag == "size":
            return Size(int(s) for s in node["v"])
        if tag == "complex":
            re, im = node["v"]
            return complex(float(re), float(im))
        if tag == "bytes":
            return base64.b64decode(node["v"].encode("ascii"), validate=True)
        raise ValueError(f"unknown type tag {tag!r}")

    def tensor(self, node):
        tid = node.get("tid")
        t = self.tensors.get(tid) if tid is not None else None
        if t is None:
            t = self._new_tensor(node)
            if tid is not None:
                self.tensors[tid] = t
        return t

    def _new_tensor(self, node):
        arr = self.array(node["id"])
        requires_grad = bool(node.get("requires_grad", False))
        cls = node.get("cls")
        if cls == "Parameter":
            from .nn.parameter import Parameter

            return Parameter(_make(arr, False, None, 0), requires_grad=requires_grad)
        if cls is not None:
            raise ValueError(f"unknown tensor class {cls!r}")
        t = _make(arr, False, None, 0)
        if requires_grad:
            t.requires_grad_(True)
        return t


def _read_npy(zf: zipfile.ZipFile, member: str, name: str) -> np.ndarray:
    """Read one .npy member with checked header, dtype and size; never unpickles."""
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise UnpicklingError(f"ember.load: {name} is corrupt: the manifest refers to {member}, "
                              "which the archive lacks") from None
    try:
        with zf.open(info) as fp:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dt = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dt = np.lib.format.read_array_header_2_0(fp)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            _check_dtype(dt, "load", f"ember.load: {name} ({member})")
            count = 1
            for s in shape:
                count *= s
            nbytes = count * dt.itemsize
            header_len = fp.tell()
            if info.file_size - header_len != nbytes:
                raise ValueError(f"{member} should hold {nbytes} bytes of data for shape "
                                 f"{tuple(shape)} {dt}, but holds {info.file_size - header_len}")
            buf = bytearray(nbytes)
            if nbytes and fp.readinto(memoryview(buf)) != nbytes:
                raise EOFError(f"{member} ends early")
            fp.read(1)  # reaching the end makes zipfile verify the CRC-32
    except UnpicklingError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise UnpicklingError(f"ember.load: {name} is truncated or corrupt ({exc})") from None
    arr = np.frombuffer(buf, dtype=dt)  # writable: it views the bytearray
    if fortran:
        arr = np.ascontiguousarray(arr.reshape(shape[::-1]).T)
    else:
        arr = arr.reshape(shape)
    if not dt.isnative:
        arr = arr.astype(dt.newbyteorder("="))
    return arr
