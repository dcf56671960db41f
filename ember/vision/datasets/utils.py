"""Dataset file helpers: the IDX reader, MD5 checks, and downloads that never leave half a file."""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zlib

import numpy as np

from ...serialization import _save_atomic

__all__ = [
    "calculate_md5",
    "check_integrity",
    "check_md5",
    "default_root",
    "download_url",
    "read_idx",
    "verify_str_arg",
]

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_NAMES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32",
              0x0E: "float64"}


def _describe(magic: int) -> str:
    return f"IDX {_IDX_NAMES.get((magic >> 8) & 0xFF, '?')} {magic & 0xFF}-D"


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":  # gzip; zlib in one call is twice as fast as gzip.open().read()
        try:
            raw = zlib.decompress(raw, 31)
        except zlib.error as e:
            raise RuntimeError(f"{path}: corrupt gzip data ({e})") from None
    return raw


def read_idx(path: str, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a native-endian, writable ndarray.

    The whole payload is one ``np.frombuffer``; the header is validated (magic number, type,
    dimensions, size) and errors name the file.
    """
    path = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise RuntimeError(f"{path}: truncated: expected at least 4 bytes, got {len(raw)}")
    magic = int.from_bytes(raw[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise RuntimeError(f"{path}: bad magic number 0x{magic:08x}, expected "
                           f"0x{expected_magic:08x} ({_describe(expected_magic)})")
    ndim, code = magic & 0xFF, (magic >> 8) & 0xFF
    if magic >> 16 != 0 or code not in _IDX_TYPES or ndim == 0:
        raise RuntimeError(f"{path}: bad magic number 0x{magic:08x}: not an IDX file")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise RuntimeError(f"{path}: truncated: expected at least {header} bytes, got {len(raw)}")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = _IDX_TYPES[code]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "unexpected trailing data"
        raise RuntimeError(f"{path}: {what}: expected {expected} bytes for dims {list(dims)}, "
                           f"got {len(raw)}")
    data = np.frombuffer(raw, dtype, offset=header).reshape(dims)
    # astype copies: the bytes are immutable, and tensors need writable, native-endian memory.
    return data.astype(dtype.newbyteorder("="))


def calculate_md5(fpath: str, chunk_size: int = 1024 * 1024) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            md5.update(chunk)
    return md5.hexdigest()


def check_md5(fpath: str, md5: str, **kwargs) -> bool:
    return md5 == calculate_md5(fpath, **kwargs)


def check_integrity(fpath: str, md5: str | None = None) -> bool:
    """The file exists and, when ``md5`` is given, has that checksum."""
    if not os.path.isfile(fpath):
        return False
    return True if md5 is None else check_md5(fpath, md5)


def verify_str_arg(value, arg=None, valid_values=None, custom_msg=None):
    """torchvision's check of a string option against its allowed values."""
    if not isinstance(value, str):
        msg = "Expected type str" + ("" if arg is None else f" for argument {arg},") + \
            f" but got type {type(value)}."
        raise ValueError(msg)
    if valid_values is None:
        return value
    if value not in valid_values:
        if custom_msg is not None:
            raise ValueError(custom_msg)
        iterable = ", ".join(repr(v) for v in valid_values)
        raise ValueError(f"Unknown value '{value}' for argument {arg}. "
                         f"Valid values are {{{iterable}}}.")
    return value


def default_root() -> str:
    """Where datasets live when ``root=None``: $EMBER_DATA, else ~/.cache/ember/data."""
    env = os.environ.get("EMBER_DATA")
    if env:
        return os.path.abspath(os.path.expanduser(env))  # relative to the current directory
    return os.path.join(os.path.expanduser("~"), ".cache", "ember", "data")


def download_url(url: str, root: str, filename: str | None = None, md5: str | None = None,
                 timeout: float = 30.0) -> str:
    """Download ``url`` to ``root/filename``, verifying ``md5``; returns the path.

    The bytes go to a temporary file in the same directory, renamed into place only after the
    checksum matched (ember.save's atomic writer), so an interrupted or corrupt download never
    leaves a file behind.
    Raises ``urllib.error.URLError``/``OSError`` on network errors and ``RuntimeError`` on a
    checksum mismatch.
    """
    root = os.path.expanduser(root)
    filename = filename or os.path.basename(url)
    fpath = os.path.join(root, filename)
    os.makedirs(root, exist_ok=True)
    if check_integrity(fpath, md5):
        return fpath
    if os.environ.get("EMBER_OFFLINE"):
        raise urllib.error.URLError("network use disabled by EMBER_OFFLINE")
    request = urllib.request.Request(url, headers={"User-Agent": "ember"})

    def fetch(out):
        digest = hashlib.md5(usedforsecurity=False)
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if md5 is not None and digest.hexdigest() != md5:
            raise RuntimeError(f"checksum mismatch for {url}: MD5 {digest.hexdigest()}, "
                               f"expected {md5}")

    _save_atomic(fpath, fetch)
    return fpath

