"""set_flush_denormal: flush subnormal floats to zero on x86-64 (MXCSR's FTZ and DAZ bits).

MXCSR is the SSE control register; NumPy's float arithmetic runs on SSE/AVX and obeys it. Bit
15 (FTZ) makes results that would be subnormal zero, bit 6 (DAZ) makes subnormal inputs read
as zero. Python cannot reach the register, and ember needs no compiler at run time, so two
tiny functions are written as machine code into an executable page (mmap/mprotect, or
VirtualAlloc on Windows) and called through ctypes:

    get:  stmxcsr [stack slot]; mov eax, [stack slot]; ret
    set:  mov [stack slot], <first argument>; ldmxcsr [stack slot]; ret

The register is per thread: the setting applies to the calling thread, as in PyTorch.
"""
from __future__ import annotations

import ctypes
import platform
import sys

_FTZ = 1 << 15
_DAZ = 1 << 6

# System V (Linux, macOS): first argument in edi; the 128-byte red zone below rsp is ours.
_SYSV_GET = bytes.fromhex("0fae5c24fc" "8b4424fc" "c3")
_SYSV_SET = bytes.fromhex("897c24fc" "0fae5424fc" "c3")
# Windows x64: first argument in ecx; the caller's 32-byte home space above rsp is ours.
_WIN_GET = bytes.fromhex("0fae5c2408" "8b442408" "c3")
_WIN_SET = bytes.fromhex("894c2408" "0fae542408" "c3")

_state = {"fns": None, "tried": False}


def _is_x86_64() -> bool:
    return (platform.machine().lower() in ("x86_64", "amd64", "x64")
            and sys.maxsize > 2 ** 32)


def _executable(code: bytes):
    """Copy ``code`` into a fresh executable page; return (address, keep-alive object)."""
    size = 4096
    if sys.platform == "win32":
        k32 = ctypes.WinDLL("kernel32", use_last_error=True)
        k32.VirtualAlloc.restype = ctypes.c_void_p
        k32.VirtualAlloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_ulong,
                                     ctypes.c_ulong]
        k32.VirtualProtect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_ulong,
                                       ctypes.POINTER(ctypes.c_ulong)]
        addr = k32.VirtualAlloc(None, size, 0x3000, 0x04)  # MEM_COMMIT|MEM_RESERVE, READWRITE
        if not addr:
            raise OSError("VirtualAlloc failed")
        ctypes.memmove(addr, code, len(code))
        old = ctypes.c_ulong()
        if not k32.VirtualProtect(addr, size, 0x20, ctypes.byref(old)):  # EXECUTE_READ
            raise OSError("VirtualProtect failed")
        return addr, None
    import mmap  # (only on this platform's path)

    # Write, then make it read+execute (W^X); fall back to one read-write-execute mapping.
    mm = mmap.mmap(-1, size, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    mm.write(code)
    buf = ctypes.c_char.from_buffer(mm)
    addr = ctypes.addressof(buf)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if libc.mprotect(addr, size, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
        del buf
        mm.close()
        mm = mmap.mmap(-1, size, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        mm.write(code)
        buf = ctypes.c_char.from_buffer(mm)
        addr = ctypes.addressof(buf)
    return addr, (mm, buf)


def _functions():
    """(get_mxcsr, set_mxcsr) as ctypes functions, or None where this cannot work."""
    if _state["tried"]:
        return _state["fns"]
    _state["tried"] = True
    if not _is_x86_64():
        return None
    win = sys.platform == "win32"
    try:
        get_addr, keep_get = _executable(_WIN_GET if win else _SYSV_GET)
        set_addr, keep_set = _executable(_WIN_SET if win else _SYSV_SET)
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    get = ctypes.CFUNCTYPE(ctypes.c_uint32)(get_addr)
    put = ctypes.CFUNCTYPE(None, ctypes.c_uint32)(set_addr)
    _state["fns"] = (get, put)
    _state["keep"] = (keep_get, keep_set)  # the pages must outlive the functions
    return _state["fns"]


def get_mxcsr():
    """The calling thread's MXCSR, or None where unsupported."""
    fns = _functions()
    return None if fns is None else int(fns[0]())


def set_flush_denormal(mode: bool) -> bool:
    """Flush subnormal floats to zero (mode=True) or not; returns whether it is supported."""
    fns = _functions()
    if fns is None:
        return False
    get, put = fns
    csr = int(get())
    csr = csr | _FTZ | _DAZ if mode else csr & ~(_FTZ | _DAZ)
    put(csr)
    return True
