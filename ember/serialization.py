"""ember.save / ember.load: PyTorch's checkpoint format, read and written without running code.

``ember.save`` writes PyTorch's zip format by default (``archive/data.pkl`` + raw storages), so a
script run through ``python -m ember run`` leaves checkpoints that real ``torch.load`` reads, with
``weights_only=True``. ``ember.save(obj, f, _use_ember_format=True)`` writes ember's own format
instead: a zip (stored, not compressed) of ``manifest.json`` (the object as a tree of containers,
plain values and tensor references, with type tags) and one ``data/<n>.npy`` per storage, read
and written with ``allow_pickle=False``. Objects torch's weights-only format cannot express
(NumPy arrays, frozensets) fall back to ember's format, with a warning.

``ember.load`` reads both. A PyTorch file's pickle goes through a restricted interpreter
(:mod:`ember._torch_format`) that knows only the globals of PyTorch's ``weights_only=True``
(tensors, Parameters, containers, sizes, dtypes, devices), so a file from an untrusted source can
at worst fail to load, whatever ``weights_only`` says. Whole modules (``torch.save(model)``) are
written as pickle writes them and read back with ``weights_only=False`` for ``nn.Module``
subclasses already imported, without running the class's code (docs/serialization.md).

Writing to a path is atomic: the archive goes to a temporary file in the same directory, is
fsync'ed and then renamed over the target, so a crash mid-save leaves the previous file intact;
temporary files that killed saves left behind are removed by the next save to that path.
"""
from __future__ import annotations

import base64
import io
import json
import os
import pickle
import re
import time
import uuid
import warnings
import zipfile
import zlib
from collections import Counter, OrderedDict
from typing import Any

import numpy as np

from . import _dtype
from . import _torch_format as _tf
from ._device import Size, check_device, device
from ._tensor import Tensor, _make

__all__ = ["save", "load", "UnpicklingError", "add_safe_globals", "clear_safe_globals",
           "get_safe_globals", "safe_globals", "get_unsafe_globals_in_checkpoint"]

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
            # ember.nn loads only when a subclass is met (see the note in _torch_format)
            from .nn.parameter import Parameter, UninitializedTensorMixin

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
                if type(obj) is not dict and not _tf._is_defaultdict(obj):
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
         _use_new_zipfile_serialization: bool = True, _disable_byteorder_record: bool = False,
         *, _use_ember_format: bool = False) -> None:
    """Save ``obj`` (tensors, state dicts, containers, plain values, modules) to a path or a file.

    Writes PyTorch's zip format (real ``torch.load(f, weights_only=True)`` reads it; a whole
    module needs ``weights_only=False``, as in torch) unless ``_use_ember_format=True``.
    ``pickle_module``, ``pickle_protocol`` and the legacy-format flag are accepted for
    compatibility and unused: ember writes its pickles itself.
    """
    if _use_ember_format:
        write = _ember_writer(obj)
    else:
        try:
            pickled = _tf.Pickler()
            data = pickled.dump(obj)  # an unsupported object fails before touching disk
            write = _tf_writer(data, pickled.storages)
            if pickled.dropped_hooks:
                warnings.warn(f"ember.save: {'; '.join(pickled.dropped_hooks)} ha"
                              f"{'ve' if len(pickled.dropped_hooks) > 1 else 's'} hooks; hooks "
                              "are functions, which ember does not save, so the file holds the "
                              "modules without them", UserWarning, stacklevel=2)
        except _tf.NotRepresentable as exc:
            if pickled.saw_module:  # ember's own format holds no modules: name what is wrong
                raise TypeError(f"ember.save cannot save {exc}: a module is saved with its "
                                "tensors, submodules, containers and plain values (numbers, "
                                "strings, None, dtypes, devices, sizes), never with arbitrary "
                                "objects or functions (a file must not be able to run code)") \
                    from None
            write = _ember_writer(obj)  # raises TypeError if ember's format can't hold it either
            warnings.warn(f"ember.save: {exc} has no form that PyTorch's weights-only load "
                          "accepts, so the file is written in ember's own format (ember.load "
                          "reads it; torch.load does not)", UserWarning, stacklevel=2)

    if isinstance(f, (str, os.PathLike)):
        _save_atomic(os.fspath(f), write)
    else:
        if not hasattr(f, "write"):
            raise AttributeError(f"ember.save: expected a path or a writable file object, got "
                                 f"{type(f).__name__}")
        write(f)


def _ember_writer(obj):
    enc = _Encoder()
    root = enc.encode(obj)
    manifest = {"format": FORMAT, "version": VERSION, "root": root}
    return lambda fh: _write_archive(fh, manifest, enc.arrays)


def _tf_writer(data: bytes, storages: list):
    return lambda fh: _tf.write_archive(fh, data, storages)


_TMP_SUFFIX = re.compile(r"\.[0-9a-f]{12}\.tmp")


def _save_atomic(path: str, write) -> None:
    path = os.path.realpath(path)  # through a symlink, replace its target, not the link
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise RuntimeError(f"Parent directory {parent} does not exist.")
    base = os.path.basename(path)
    tmp = os.path.join(parent, f".{base}.{uuid.uuid4().hex[:12]}.tmp")
    started = time.time()
    # os.open with 0o666 lets the umask decide the mode, as open(path, 'wb') would
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
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
    _remove_stale_temps(parent, base, started)


def _remove_stale_temps(parent: str, base: str, started: float) -> None:
    """Remove the temp files of earlier saves to this path that were killed mid-write.

    Only names of ember's own pattern ``.<name>.<12 hex>.tmp`` are touched, and only those last
    modified before this save began (a save still running elsewhere keeps writing, so its file
    stays newer).
    """
    prefix = f".{base}"
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for n in names:
        if not (n.startswith(prefix) and _TMP_SUFFIX.fullmatch(n, len(prefix))):
            continue
        full = os.path.join(parent, n)
        try:
            st = os.lstat(full)
            if st.st_mtime < started and os.path.isfile(full) and \
                    not os.path.islink(full):
                os.unlink(full)
        except OSError:
            pass


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


# ---- torch.serialization's allow-list API ------------------------------------------------------
_safe_globals: list = []


def _global_name(g) -> str:
    if isinstance(g, tuple) and len(g) == 2 and isinstance(g[1], str):
        return g[1]
    name = getattr(g, "__qualname__", getattr(g, "__name__", "?"))
    return f"{getattr(g, '__module__', '?')}.{name}"


def _sync_safe_globals() -> None:
    _tf.user_safe.clear()
    _tf.user_safe.update(_global_name(g) for g in _safe_globals)
    _tf.user_safe_objects[:] = _safe_globals


def add_safe_globals(safe_globals: list) -> None:
    """Mark globals as safe for weights-only loading.

    ember honours NumPy scalars (``numpy.core.multiarray.scalar`` with ``numpy.dtype``), which
    it rebuilds itself; it never calls any other class or function a file names, allowed or not.
    """
    _safe_globals.extend(safe_globals)
    _sync_safe_globals()


def clear_safe_globals() -> None:
    """Forget every global given to :func:`add_safe_globals`."""
    _safe_globals.clear()
    _sync_safe_globals()


def get_safe_globals() -> list:
    """The globals given to :func:`add_safe_globals`."""
    return list(_safe_globals)


class safe_globals:
    """Context manager: :func:`add_safe_globals` for the duration of a ``with`` block."""

    def __init__(self, safe_globals: list):
        self.safe_globals = list(safe_globals)

    def __enter__(self):
        self._saved = list(_safe_globals)
        add_safe_globals(self.safe_globals)

    def __exit__(self, *exc):
        _safe_globals[:] = self._saved
        _sync_safe_globals()
        return False


def get_unsafe_globals_in_checkpoint(f) -> list[str]:
    """The globals in a torch.save checkpoint that a weights-only load would refuse."""
    if isinstance(f, (str, os.PathLike)):
        with open(os.fspath(f), "rb") as fh:
            return _unsafe_globals(fh)
    return _unsafe_globals(f if _seekable(f) else io.BytesIO(f.read()))


def _unsafe_globals(fh) -> list[str]:
    with zipfile.ZipFile(fh) as zf:
        archive = _tf.find_archive(zf.namelist())
        if archive is None:
            raise ValueError("Expected input to be a checkpoint returned by torch.save")
        data = _tf._Members(zf, fh, None).small(f"{archive}/data.pkl")
    return [g for g in _tf.globals_in(data) if not _tf.is_allowed(g)]


# ---- load ---------------------------------------------------------------------------------------
def load(f, map_location=None, pickle_module: Any = None, *, weights_only: bool | None = True,
         mmap: bool | None = None, **pickle_load_args: Any) -> Any:
    """Load a checkpoint written by ``torch.save`` (zip format) or ``ember.save``.

    No file ever runs code, whatever ``weights_only`` says: a PyTorch file's pickle may only name
    the globals of PyTorch's ``weights_only=True`` (tensors, Parameters, containers, sizes,
    dtypes, devices), and anything else raises ``pickle.UnpicklingError``. With
    ``weights_only=False`` (or classes given to ``add_safe_globals``) it may also name
    ``nn.Module`` subclasses of modules already imported (``torch.*`` names are ember's), which
    are rebuilt from their ``__dict__`` without running the class's code. ``mmap=True`` maps
    the storages of a PyTorch file copy-on-write instead of reading them. ``map_location`` may be
    ``'cpu'``, an ``ember.device``, a dict of location strings or a callable: ember tensors live
    on the CPU, so a CPU target (or a callable) leaves them there, and naming another device
    raises the same error as ``tensor.to(device)``. bfloat16 tensors load as float32.
    """
    _check_map_location(map_location)
    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        with open(name, "rb") as fh:
            return _load_from(fh, repr(name), bool(mmap), weights_only is False)
    if not hasattr(f, "read"):
        raise AttributeError(f"ember.load: expected a path or a readable file object, got "
                             f"{type(f).__name__}")
    if mmap:
        raise ValueError("f must be a file path in order to use the mmap argument")
    name = repr(getattr(f, "name", None) or f"<{type(f).__name__}>")
    if not (hasattr(f, "seek") and _seekable(f)):
        f = io.BytesIO(f.read())
    return _load_from(f, name, False, weights_only is False)


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


def _load_from(fh, name: str, use_mmap: bool = False, allow_modules: bool = False):
    start = fh.tell()
    head = fh.read(16)
    fh.seek(start)
    if not head.startswith(b"PK"):
        raise UnpicklingError(f"ember.load: {name} is not a checkpoint ember reads: "
                              f"{_sniff(head)}")
    try:
        zf = zipfile.ZipFile(fh)
    except Exception as exc:  # BadZipFile, OSError, OverflowError, struct.error, ...
        raise UnpicklingError(f"ember.load: {name} is truncated or corrupt: it starts like a zip "
                              f"archive but cannot be opened as one ({_why(exc)})") from None
    with zf:
        names = zf.namelist()
        try:
            if _MANIFEST in names:
                return _load_ember(zf, fh, name)
            archive = _tf.find_archive(names)
            if archive is None:
                raise UnpicklingError(f"ember.load: {name} is not a checkpoint ember reads: "
                                      f"{_describe_zip(set(names))}")
            return _tf.read(zf, fh, archive, use_mmap, weights_only=not allow_modules)
        except UnpicklingError as exc:
            if name in str(exc):
                raise
            raise UnpicklingError(f"ember.load: {name}: {exc}") from None
        except (pickle.UnpicklingError, _tf.FormatError) as exc:  # e.g. a refused global
            raise UnpicklingError(f"ember.load: {name}: {exc}") from None
        except MemoryError:
            raise UnpicklingError(f"ember.load: {name} is corrupt: it declares more data than "
                                  "fits in memory") from None
        except Exception as exc:  # whatever a corrupt or hostile file provokes is named as such
            raise UnpicklingError(f"ember.load: {name} is truncated or corrupt "
                                  f"({_why(exc)})") from None


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "RecursionError: nested too deeply"
    return f"{type(exc).__name__}: {exc}"


def _load_ember(zf: zipfile.ZipFile, fh, name: str):
    members = _tf._Members(zf, fh, None)
    try:
        raw = members.small(_MANIFEST, 1 << 30)
        manifest = json.loads(raw.decode("utf-8"))
    except _tf.FormatError as exc:
        raise UnpicklingError(f"ember.load: {name} is corrupt: {exc}") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, UnicodeDecodeError,
            RecursionError) as exc:
        raise UnpicklingError(f"ember.load: {name} is corrupt: its manifest cannot be read "
                              f"({_why(exc)})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UnpicklingError(f"ember.load: {name} is not an ember.save file: its "
                              f"{_MANIFEST} does not declare format {FORMAT!r}")
    version = manifest.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise UnpicklingError(f"ember.load: {name} was written in ember.save format version "
                              f"{version!r}; this ember reads versions up to {VERSION}. "
                              "Upgrade ember to load it.")
    decoder = _Decoder(zf, name, members)
    try:
        return decoder.decode(manifest.get("root"))
    except UnpicklingError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError,
            RuntimeError, OverflowError) as exc:
        raise UnpicklingError(f"ember.load: {name} is corrupt: malformed manifest "
                              f"({_why(exc)})") from None


def _sniff(head: bytes) -> str:
    if not head:
        return "the file is empty"
    if _tf.is_legacy(head):
        return ("it is a PyTorch checkpoint in the legacy (pre-1.6) format, which ember does "
                "not read. Re-save it with torch>=1.6: torch.save(torch.load(path), path)")
    if head[:1] == b"\x80":
        return ("it is a bare Python pickle, not a checkpoint; ember never unpickles arbitrary "
                "objects, because loading a pickle can run code")
    if head.startswith(b"\x93NUMPY"):
        return "it is a NumPy .npy file; read it with numpy.load"
    if head.startswith(b"\x89HDF"):
        return "it is an HDF5 file"
    if len(head) >= 9 and head[8:9] == b"{":
        return ("it looks like a safetensors file; read it with "
                "ember.utils.safetensors.load_file")
    return f"unrecognised content (it starts with {head[:8]!r})"


def _describe_zip(names: set) -> str:
    if any(n.endswith("/constants.pkl") for n in names):
        return "it is a TorchScript archive (torch.jit.save), which ember does not read"
    if names and all(n.endswith(".npy") for n in names):
        return "it is a NumPy .npz archive; read it with numpy.load"
    return (f"the zip archive has neither {_MANIFEST} (ember.save) nor <archive>/data.pkl "
            "(torch.save)")


class _Decoder:
    """Rebuilds the object tree of a manifest, reading each array once, on first use."""

    def __init__(self, zf: zipfile.ZipFile, name: str, members) -> None:
        self.zf = zf
        self.name = name
        self.members = members
        self.arrays: dict[int, np.ndarray] = {}
        self.tensors: dict[int, Tensor] = {}

    def array(self, idx) -> np.ndarray:
        if type(idx) is not int or idx < 0:
            raise ValueError(f"bad array reference {idx!r}")
        arr = self.arrays.get(idx)
        if arr is None:
            arr = self.arrays[idx] = _read_npy(self.zf, f"data/{idx}.npy", self.name,
                                               self.members)
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
            from .nn.parameter import Parameter  # ember.nn (~0.45 s) loads only when needed

            return Parameter(_make(arr, False, None, 0), requires_grad=requires_grad)
        if cls is not None:
            raise ValueError(f"unknown tensor class {cls!r}")
        t = _make(arr, False, None, 0)
        if requires_grad:
            t.requires_grad_(True)
        return t


def _read_npy(zf: zipfile.ZipFile, member: str, name: str, members) -> np.ndarray:
    """Read one .npy member with checked header, dtype and size; never unpickles.

    The data goes straight from the file into the array's buffer (one read, no copy through
    zipfile), and the member's CRC-32 is checked over header and data.
    """
    if member not in zf.NameToInfo:
        raise UnpicklingError(f"ember.load: {name} is corrupt: the manifest refers to {member}, "
                              "which the archive lacks")
    try:
        info, start = members.locate(member)  # stored, and within the file
        members.fh.seek(start)
        head = members.fh.read(min(info.file_size, 1 << 16))
        fp = io.BytesIO(head)
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
        raw = members.read_into(start + header_len, nbytes)
        if zlib.crc32(raw, zlib.crc32(head[:header_len])) != info.CRC:
            raise ValueError(f"{member} fails its CRC-32 check")
    except UnpicklingError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, OverflowError) as exc:
        raise UnpicklingError(f"ember.load: {name} is truncated or corrupt ({exc})") from None
    arr = raw.view(dt)  # writable: it views a fresh bytearray
    if fortran:
        arr = np.ascontiguousarray(arr.reshape(shape[::-1]).T)
    else:
        arr = arr.reshape(shape)
    if not dt.isnative:
        arr = arr.astype(dt.newbyteorder("="))
    return arr
