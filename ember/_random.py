"""Random numbers that are bit-for-bit PyTorch's CPU streams.

PyTorch's CPU generator is a plain mt19937 seeded with ``init_genrand(seed & 0xffffffff)``,
which is exactly NumPy's legacy seeding, so the raw 32-bit stream comes from NumPy's MT19937
and everything else here is PyTorch's transforms of it, vectorised:

* ``random()`` is one 32-bit draw, ``random64()`` two draws, the first the high word;
* a float32 uniform is ``(r & (2**24 - 1)) * 2**-24`` from one draw; a float64 uniform is the
  low 53 bits of ``random64()`` times ``2**-53``; ``uniform_(a, b)`` is ``fma(u, b - a, a)``
  (PyTorch's kernels are compiled with FMA contraction), in float for float32/float16;
* ``normal_`` on a contiguous tensor of 16 or more elements draws all uniforms first and runs
  Box-Muller on blocks of 16 (the last, partial block is recomputed from 16 fresh uniforms);
  for float32/float16 it is the AVX2 kernel built on ``avx_mathfun.h``'s float polynomials,
  reproduced here operation by operation (with its FMA contractions); for float64 it uses
  glibc's ``log``/``cos``/``sin`` (Python's ``math`` calls the same libm);
* every other normal (fewer than 16 elements, non-contiguous) is the scalar double Box-Muller
  with a cached second sample that lives in the generator (and in its state).

Checked against PyTorch 2.13 (x86-64, AVX512 build) on millions of samples per path.
Cost: the float32 Box-Muller emulation is ~10x PyTorch's time for large tensors and float64
normals call libm per element (~100 ns each); uniforms and integers are close to PyTorch.

Known limits (where ember still reproduces itself under ``manual_seed``, but not PyTorch):
PyTorch builds without AVX2 (e.g. ARM) compute float normals with libm instead of the AVX2
polynomials; on Intel CPUs PyTorch's MKL builds may draw ``bernoulli_(p)``/``exponential_``
(and so dropout) from MKL's own stream instead of mt19937; ``randperm`` for n >= 2**32/20
follows PyTorch's algorithm but is not practical at that size in Python.
"""
from __future__ import annotations

import math
import os
import warnings

from . import _dtype
from ._backend import xp
from ._creation import _finish as _new_tensor
from ._device import check_device
from ._ops._shape import broadcast_shape
from ._ops.elementwise import _rebase
from ._tensor import Tensor, _make, register_methods
from .autograd import grad_mode as _grad_mode
from .autograd.function import Function

_grad_state = _grad_mode._state
_f32, _f64 = xp.float32, xp.float64
_DEFAULT_SEED = 67280421310721  # c10::detail::default_rng_seed_val, the seed of a new Generator
_N = 624  # mt19937 state words

# torch.get_rng_state()'s layout: CPUGeneratorImplState (legacy THGenerator POD + float cache)
_STATE = xp.dtype([("seed", "<u8"), ("left", "<i4"), ("seeded", "<i4"), ("next", "<u8"),
                   ("state", "<u8", (_N,)), ("normal_x", "<f8"), ("normal_y", "<f8"),
                   ("normal_rho", "<f8"), ("normal_is_valid", "<i4"), ("_pad", "<i4"),
                   ("next_float", "<f4"), ("next_float_valid", "u1"), ("_pad2", "u1", (3,))])
assert _STATE.itemsize == 5056

_TORCH_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double", "int64": "Long",
                "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
_C_NAMES = {"float16": "c10::Half", "float32": "float", "float64": "double", "int64": "long",
            "int32": "int", "int16": "short", "int8": "signed char", "uint8": "unsigned char",
            "bool": "bool"}


def _not_implemented(kernel: str, dt: xp.dtype):
    return NotImplementedError(f'"{kernel}" not implemented for \'{_TORCH_NAMES[dt.name]}\'')


# ---- the generator ----------------------------------------------------------------------------
class Generator:
    """PyTorch's CPU generator: mt19937 plus the cached second normal sample."""

    def __init__(self, device="cpu"):
        self.device = check_device(device)
        self._set_seed(_DEFAULT_SEED)

    @property
    def _bg(self):
        """The mt19937 bit generator, keyed on first use (numpy.random loads only then)."""
        bg = self.__dict__.get("_bg_obj")
        if bg is None:
            bg = self._bg_obj = xp.random.MT19937()
            key = xp.random.RandomState(self._seed & 0xFFFFFFFF).get_state(legacy=False)["state"]
            bg.state = {"bit_generator": "MT19937", "state": key}
        return bg

    def _set_seed(self, seed: int):
        self._seed = seed
        self._bg_obj = None  # keyed lazily by _bg
        self._fresh = True  # seeded and not drawn from: PyTorch's state then says next=0
        self._next_double = None
        self._next_float = None

    def _raw(self, n: int) -> xp.ndarray:
        """n raw 32-bit draws (mt19937's tempered outputs), as uint64."""
        self._fresh = False
        return self._bg.random_raw(n)

    def manual_seed(self, seed) -> Generator:
        """Seed the generator (any 64-bit integer; negative seeds wrap as in PyTorch)."""
        if isinstance(seed, bool) or not isinstance(seed, (int, xp.integer)):
            raise RuntimeError(  # noqa: TRY004 - PyTorch raises RuntimeError here
                f"manual_seed expected a long, but got {type(seed).__name__}")
        seed = int(seed)
        if not -(1 << 63) <= seed < (1 << 64):
            raise ValueError("Overflow when unpacking long long")
        self._set_seed(seed & 0xFFFFFFFFFFFFFFFF)
        return self

    def seed(self) -> int:
        """Seed from the OS entropy pool and return the (53-bit) seed."""
        s = int.from_bytes(os.urandom(8), "little") & 0x1FFFFFFFFFFFFF
        self._set_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed the generator was last seeded with."""
        return self._seed

    def get_state(self) -> Tensor:
        """The state as a uint8 tensor, byte for byte torch.Generator.get_state()'s layout."""
        st = self._bg.state["state"]
        pos = int(st["pos"])
        rec = xp.zeros((), _STATE)
        rec["seed"] = self._seed
        rec["left"] = _N + 1 - pos
        rec["seeded"] = 1
        rec["next"] = 0 if self._fresh else pos
        rec["state"] = st["key"]
        if self._next_double is not None:
            rec["normal_is_valid"] = 1
            rec["normal_y"] = self._next_double
        if self._next_float is not None:
            rec["next_float_valid"] = 1
            rec["next_float"] = self._next_float
        return _make(xp.frombuffer(rec.tobytes(), xp.uint8).copy(), False, None, 0)

    def set_state(self, new_state) -> Generator:
        """Restore a state from get_state() (also accepts PyTorch's)."""
        if not isinstance(new_state, Tensor) or new_state._data.dtype != xp.uint8:
            raise TypeError(f"RNG state must be a {_dtype._names['prefix']}.ByteTensor")
        raw = xp.ascontiguousarray(new_state._data).reshape(-1)
        if raw.size != _STATE.itemsize:
            raise RuntimeError(f"Expected a CPUGeneratorImplState of size {_STATE.itemsize} but "
                               f"found the input RNG state size to be {raw.size}")
        rec = raw.view(_STATE)[0]
        left, nxt = int(rec["left"]), int(rec["next"])
        if not (rec["seeded"] and 0 < left <= _N and nxt <= _N):
            raise RuntimeError("Invalid mt19937 state")
        key = (rec["state"] & 0xFFFFFFFF).astype(xp.uint32)
        self._bg.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": _N + 1 - left}}
        self._seed = int(rec["seed"])
        self._fresh = left == 1 and nxt == 0
        self._next_double = float(rec["normal_y"]) if rec["normal_is_valid"] else None
        self._next_float = float(rec["next_float"]) if rec["next_float_valid"] else None
        return self

    def clone_state(self) -> Generator:
        """A new generator in the same state."""
        g = Generator()
        g.set_state(self.get_state())
        return g


def _nondeterministic_generator() -> Generator:
    g = Generator()
    g.seed()
    return g


default_generator = _nondeterministic_generator()


def _gen(generator) -> Generator:
    if generator is None:
        return default_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"expected a torch.Generator as 'generator', but got "
                        f"{type(generator).__name__}")
    return generator


def manual_seed(seed) -> Generator:
    """Seed the default generator (PyTorch converts with int() first)."""
    return default_generator.manual_seed(int(seed))


def seed() -> int:
    """Seed the default generator non-deterministically and return the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The default generator's seed."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The default generator's state (a 5056-byte uint8 tensor, PyTorch's layout)."""
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    """Restore the default generator from get_rng_state() (ember's or PyTorch's)."""
    default_generator.set_state(new_state)


# ---- uniform bits -> numbers ------------------------------------------------------------------
def _u24(g: Generator, n: int) -> xp.ndarray:
    """n float32 uniforms in [0, 1): 24 bits of one draw each."""
    return (g._raw(n) & 0xFFFFFF).astype(_f32) * _f32(2.0 ** -24)


def _r64(g: Generator, n: int) -> xp.ndarray:
    """n random64() values: two draws each, the first one the high word."""
    r = g._raw(2 * n).reshape(n, 2)
    return (r[:, 0] << xp.uint64(32)) | r[:, 1]


def _u53(g: Generator, n: int) -> xp.ndarray:
    """n float64 uniforms in [0, 1): the low 53 bits of random64()."""
    return (_r64(g, n) & xp.uint64((1 << 53) - 1)).astype(_f64) * 2.0 ** -53


def _fma64(a, b, c) -> xp.ndarray:
    """Correctly rounded a*b + c in float64 (Dekker's exact product, then an exact sum)."""
    a = xp.asarray(a, _f64)
    b = xp.asarray(b, _f64)
    p = a * b
    split = 134217729.0  # 2**27 + 1
    t = split * a
    ah = t - (t - a)
    al = a - ah
    t = split * b
    bh = t - (t - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl  # p + e == a*b exactly
    s = p + c
    bb = s - p
    err = (p - (s - bb)) + (c - bb)  # s + err == p + c exactly
    return s + (err + e)


def _fma32(a, b, c) -> xp.ndarray:
    """float32 fma: the float32 product is exact in float64, so one more rounding suffices."""
    t = xp.multiply(a, b, dtype=_f64)
    t += c
    return t.astype(_f32)


def _libm(fn, x: xp.ndarray, exact: bool) -> xp.ndarray:
    """Apply a math-module function (glibc's libm, as PyTorch calls it) elementwise.

    NumPy's SIMD log/log1p can differ from glibc's in the last bit; where the result is
    stored as float64 (``exact``) or the array is small, call libm itself.
    """
    if exact or x.size <= 4096:
        return xp.fromiter(map(fn, x.ravel().tolist()), _f64, x.size).reshape(x.shape)
    return _NP_LIBM[fn](x)


_NP_LIBM = {math.log: xp.log, math.log1p: xp.log1p, math.cos: xp.cos, math.sin: xp.sin,
            math.exp: xp.exp}


# ---- the AVX2 Box-Muller of PyTorch's float normal_fill --------------------------------------
# Constants of avx_mathfun.h (Cephes polynomials), rounded to float as the kernel holds them.
_LOG_P = [_f32(v) for v in (7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1,
                             -1.2420140846E-1, 1.4249322787E-1, -1.6668057665E-1,
                             2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1)]
_LOG_Q1, _LOG_Q2 = _f32(-2.12194440e-4), _f32(0.693359375)
_SQRTHF = _f32(0.707106781186547524)
_DP = [_f32(-0.78515625), _f32(-2.4187564849853515625e-4), _f32(-3.77489497744594108e-8)]
_SIN_P = [_f32(-1.9515295891E-4), _f32(8.3321608736E-3), _f32(-1.6666654611E-1)]
_COS_P = [_f32(2.443315711809948E-005), _f32(-1.388731625493765E-003),
          _f32(4.166664568298827E-002)]
_FOPI = _f32(1.27323954473516)
_TWO_PI_F = _f32(2.0 * math.pi)


def _log256(x: xp.ndarray) -> xp.ndarray:
    """log256_ps for x in (0, 1], with the FMAs GCC contracts in PyTorch's AVX2 build."""
    bits = x.view(xp.int32)
    e = ((bits >> 23) - 0x7E).astype(_f32)  # exponent + 1
    x = ((bits & ~0x7F800000) | 0x3F000000).view(_f32)  # mantissa in [0.5, 1)
    small = x < _SQRTHF
    x = xp.where(small, x + x, x) - _f32(1)  # exact, as the kernel's x - 1 (+ x)
    e -= small
    z = x * x
    y = _fma32(_LOG_P[0], x, _LOG_P[1])
    for p in _LOG_P[2:]:
        y = _fma32(y, x, p)
    y *= x
    y = _fma32(y, z, e * _LOG_Q1)
    y -= z * _f32(0.5)
    y += x
    return _fma32(e, _LOG_Q2, y)


def _sincos256(x: xp.ndarray):
    """sincos256_ps for x in [0, 2*pi), with the same contractions."""
    j = (x * _FOPI).astype(xp.int32)
    j = (j + 1) & ~1
    y = j.astype(_f32)
    x = _fma32(y, _DP[0], x)
    x = _fma32(y, _DP[1], x)
    x = _fma32(y, _DP[2], x)
    z = x * x
    yc = _fma32(_COS_P[0], z, _COS_P[1])
    yc = _fma32(yc, z, _COS_P[2])
    yc = yc * z
    yc = _fma32(yc, z, -(z * _f32(0.5))) + _f32(1)
    ys = _fma32(_SIN_P[0], z, _SIN_P[1])
    ys = _fma32(ys, z, _SIN_P[2])
    ys = _fma32(ys * z, x, x)
    first = (j & 2) == 0
    s = xp.where(first, ys, yc)
    c = xp.where(first, yc, ys)
    s = xp.where((j & 4) != 0, -s, s)
    c = xp.where(((j - 2) & 4) == 0, -c, c)
    return s, c


def _box_muller16_f32(u: xp.ndarray, mean, std) -> xp.ndarray:
    """NormalFill16 (AVX2) over consecutive blocks of 16 float32 uniforms."""
    u = u.reshape(-1, 2, 8)
    u1 = (_f32(1) - u[:, 0]).reshape(-1)  # [0, 1) -> (0, 1] for the log
    u2 = u[:, 1].reshape(-1)
    m, sd = _f32(mean), _f32(std)
    out = xp.empty(u.shape, _f32)
    cos_out = xp.empty(u1.size, _f32)
    sin_out = xp.empty(u1.size, _f32)
    step = 1 << 15  # chunks that stay in cache: this is ~40 passes over the data
    for i in range(0, u1.size, step):
        radius = xp.sqrt(_f32(-2) * _log256(u1[i:i + step]))
        s, c = _sincos256(_TWO_PI_F * u2[i:i + step])
        cos_out[i:i + step] = _fma32(radius * c, sd, m)
        sin_out[i:i + step] = _fma32(radius * s, sd, m)
    out[:, 0] = cos_out.reshape(-1, 8)
    out[:, 1] = sin_out.reshape(-1, 8)
    return out.reshape(-1)


def _box_muller16_f64(u: xp.ndarray, mean, std) -> xp.ndarray:
    """NormalFill16<double>: glibc log/cos/sin, then fma with std and mean."""
    u = u.reshape(-1, 2, 8)
    radius = xp.sqrt(-2.0 * _libm(math.log, 1.0 - u[:, 0], True))
    theta = 2.0 * math.pi * u[:, 1]
    out = xp.empty(u.shape, _f64)
    out[:, 0] = _fma64(radius * _libm(math.cos, theta, True), std, mean)
    out[:, 1] = _fma64(radius * _libm(math.sin, theta, True), std, mean)
    return out.reshape(-1)


def _normal_fill(g: Generator, n: int, dt: xp.dtype, mean: float, std: float) -> xp.ndarray:
    """PyTorch's normal_fill: n >= 16 normals of dtype dt, in memory order."""
    if dt == xp.float64:
        u, bm = _u53, _box_muller16_f64
    else:  # float32, and float16 through float (its opmath type)
        u, bm = _u24, _box_muller16_f32
    full = n - n % 16
    out = xp.empty(n, _f64 if dt == xp.float64 else _f32)
    # float/double draw all n uniforms up front; float16 (computed in a 16-float buffer)
    # draws only the full blocks before the tail's 16
    uni = u(g, full if dt == xp.float16 else n)
    out[:full] = bm(uni[:full], mean, std)
    if n % 16:  # recompute the last 16 values from 16 fresh uniforms
        out[n - 16:] = bm(u(g, 16), mean, std)
    return out if out.dtype == dt else out.astype(dt)


def _normal_scalar(g: Generator, n: int, mean: float, std: float) -> xp.ndarray:
    """n samples of at::normal_distribution<double>: Box-Muller pairs, one cached in g."""
    cached = g._next_double
    first = 0 if cached is None or n == 0 else 1
    m = n - first
    pairs = (m + 1) // 2
    if m and m < 16:
        # a handful of pairs: Python floats and libm beat a dozen tiny array operations
        u = _u53(g, 2 * pairs).tolist()
        vals = []
        for k in range(pairs):
            r = math.sqrt(-2.0 * math.log1p(-u[2 * k + 1]))
            theta = 2.0 * math.pi * u[2 * k]
            vals += (r * math.cos(theta), r * math.sin(theta))
        out = xp.array(([cached] if first else []) + vals[:m], _f64)
        last = vals[-1]
    else:
        out = xp.empty(n, _f64)
        last = None
        if m:
            u = _u53(g, 2 * pairs).reshape(pairs, 2)
            r = xp.sqrt(-2.0 * _libm(math.log1p, -u[:, 1], True))
            theta = 2.0 * math.pi * u[:, 0]
            vals = xp.empty((pairs, 2), _f64)
            vals[:, 0] = r * _libm(math.cos, theta, True)
            vals[:, 1] = r * _libm(math.sin, theta, True)
            vals = vals.reshape(-1)
            out[first:] = vals[:m]
            last = float(vals[-1])
        if first:
            out[0] = cached
    if first:
        g._next_double = None
    if m % 2:
        g._next_double = last
    # transformation::normal: val * std + mean, contracted to an fma
    if std == 1.0:
        return out + mean
    if mean == 0.0:
        return out * std + 0.0
    return _fma64(out, std, mean)


# ---- in-place kernels on ndarrays (the order is PyTorch's: memory order) ----------------------
def _serial_view(arr: xp.ndarray) -> xp.ndarray:
    """A view whose C order is the order PyTorch's TensorIterator visits ``arr``."""
    if arr.flags.c_contiguous or arr.ndim < 2:
        return arr
    order = sorted(range(arr.ndim), key=lambda d: -abs(arr.strides[d]))
    return arr.transpose(order)


def _write(arr: xp.ndarray, vals: xp.ndarray) -> None:
    view = _serial_view(arr)
    view[...] = vals.reshape(view.shape)


def _check_float(dt: xp.dtype, kernel: str):
    if dt.kind != "f":
        raise _not_implemented(kernel, dt)


def _check_uniform(dt: xp.dtype, a, b):
    _check_float(dt, "check_uniform_bounds")
    a, b = float(a), float(b)
    if (a, b) == (0.0, 1.0):
        return a, b
    info = xp.finfo(dt)
    lo, hi = float(info.min), float(info.max)
    for v, name in ((a, "from"), (b, "to")):
        if not lo <= v <= hi:
            raise RuntimeError(f"{name} is out of bounds for {_C_NAMES[dt.name]}")
    if not a <= b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={_num(a)} > to={_num(b)}")
    if b - a > hi:
        raise RuntimeError(
            f"uniform_ expects to-from <= std::numeric_limits<{_TORCH_NAMES[dt.name]}>"
            f"::max(), but found to={_num(b)} and from={_num(a)} which result in to-from to "
            "exceed the limit")
    return a, b


def _uniform_values(g: Generator, n: int, dt: xp.dtype, a: float, b: float) -> xp.ndarray:
    """n uniform_(a, b) samples of dtype dt, in visiting order (bounds already checked)."""
    if dt == xp.float64:
        x = _u53(g, n)
        if (a, b) == (0.0, 1.0):
            return x
        v = _fma64(x, b - a, a)
    else:
        fa, fb = _f32(a), _f32(b)  # float opmath, also for float16
        x = _u24(g, n)
        if (a, b) == (0.0, 1.0) and dt == xp.float32:
            return x
        v = _fma32(x, fb - fa, fa) if (a, b) != (0.0, 1.0) else x
        v = v.astype(dt, copy=False)
    # a sample that rounded up to `to` becomes `from`
    top = dt.type(b)
    if (v == top).any():
        v[v == top] = dt.type(a)
    return v


def _normal_values(g: Generator, n: int, dt: xp.dtype, mean, std, contiguous=True) -> xp.ndarray:
    """n normal_(mean, std) samples of dtype dt in visiting order (after PyTorch's checks)."""
    mean, std = float(mean), float(std)
    if not std >= 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(std)}")
    if n == 0:
        return xp.empty(0, dt)
    _check_float(dt, "normal_kernel_cpu")
    if n >= 16 and contiguous:
        return _normal_fill(g, n, dt, mean, std)
    return _normal_scalar(g, n, mean, std).astype(dt, copy=False)


def _uniform_(g, arr, a, b):
    a, b = _check_uniform(arr.dtype, a, b)
    if arr.size:
        _write(arr, _uniform_values(g, arr.size, arr.dtype, a, b))


def _normal_(g, arr, mean, std):
    vals = _normal_values(g, arr.size, arr.dtype, mean, std, arr.flags.c_contiguous)
    if arr.size:
        _write(arr, vals)


def _num(v) -> str:
    """A number as PyTorch's C++ messages print it (1 not 1.0, 0.5 as 0.5)."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e16 else repr(float(v))


def _limits(dt: xp.dtype):
    if dt == xp.bool_:
        return 0, 1
    if dt.kind == "f":
        info = xp.finfo(dt)
        return float(info.min), float(info.max)
    info = xp.iinfo(dt)
    return int(info.min), int(info.max)


def _digits(dt: xp.dtype) -> int:
    return xp.finfo(dt).nmant + 1


def _cast_int(v: int, dt: xp.dtype):
    """int(dtype(v)), or None where the cast overflows (then the range check reports it)."""
    with xp.errstate(over="ignore"):
        c = dt.type(v)
    return int(c) if xp.isfinite(c) else None


def _update_from(frm: int, dt: xp.dtype) -> int:
    # move `from` right until it survives the cast to dt (PyTorch's update_from)
    plus1 = _cast_int(frm + 1, dt)
    if plus1 is not None and plus1 < frm:
        n = abs(frm + 1).bit_length() - 1
        frm = plus1 + (1 << (n - _digits(dt) + 1))
    return frm


def _update_to(to: int, dt: xp.dtype) -> int:
    minus1 = _cast_int(to - 1, dt)
    if minus1 is not None and minus1 >= to:
        n = abs(to - 1).bit_length() - 1
        to = minus1 - (1 << (n - _digits(dt) + 1))
    return to


def _check_from_to(frm: int, to_inc: int, dt: xp.dtype):
    lo, hi = _limits(dt)
    if not lo <= frm <= hi:
        raise RuntimeError(f"from is out of bounds for {_C_NAMES[dt.name]}")
    if not lo <= to_inc <= hi:
        raise RuntimeError(f"to - 1 is out of bounds for {_C_NAMES[dt.name]}")
    if dt.kind == "f":
        d = _digits(dt)
        for v, name in ((frm, "from"), (to_inc, "to - 1")):
            if not -(1 << d) <= v <= 1 << d:
                warnings.warn(
                    f"{name} is out of bounds [-(2^{d}), 2^{d}]. Due to precision limitations "
                    f"{_C_NAMES[dt.name]} can support discrete uniform distribution only within "
                    "this range. This warning will become an error in version 1.7 release, "
                    "please fix the code in advance", UserWarning, stacklevel=4)


def _from_to_values(g: Generator, n: int, rng: int, base: int) -> xp.ndarray:
    """uniform_int_from_to_distribution: (random() or random64()) % range + base, as int64."""
    if rng >= 1 << 28:
        v = _r64(g, n) % xp.uint64(rng)
    else:
        v = g._raw(n) % xp.uint64(rng)
    # base + v wraps like PyTorch's int64 arithmetic
    return (v + xp.uint64(base & 0xFFFFFFFFFFFFFFFF)).view(xp.int64)


def _random_values(g: Generator, n: int, dt: xp.dtype, frm=None, to=None) -> xp.ndarray:
    """random_() / random_(to) / random_(from, to) samples of dtype dt (PyTorch's checks)."""
    if frm is None and to is None:  # uniform_int_distribution over the dtype's range
        if dt == xp.bool_:
            return (g._raw(n) & 1).astype(xp.bool_)
        if dt in (xp.int64, xp.float64):
            top = (1 << 63) if dt == xp.int64 else (1 << 53) + 1
            return (_r64(g, n) % xp.uint64(top)).astype(dt)
        top = (1 << _digits(dt)) + 1 if dt.kind == "f" else int(xp.iinfo(dt).max) + 1
        return (g._raw(n) % xp.uint64(top)).astype(dt)
    frm = 0 if frm is None else int(frm)
    if to is not None:
        to = int(to)
        if not frm < to:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got "
                               f"from={frm} >= to={to}")
        if dt.kind == "f":
            frm, to = _update_from(frm, dt), _update_to(to, dt)
            if not frm < to:
                raise RuntimeError("random_ expects 'from' casted to dtype to be less than 'to' "
                                   f"casted to dtype, but got from={frm} >= to={to}")
        _check_from_to(frm, to - 1, dt)
        rng = to - frm
    elif frm == -(1 << 63):  # the full 64-bit range
        return _r64(g, n).view(xp.int64).astype(dt)
    else:
        if dt.kind == "f":
            to_inc = min(1 << _digits(dt), (1 << 63) - 1)
            frm = _update_from(frm, dt)
        else:
            to_inc = 1 if dt == xp.bool_ else int(xp.iinfo(dt).max)
        _check_from_to(frm, to_inc, dt)
        rng = to_inc - frm + 1
    return _from_to_values(g, n, rng, frm).astype(dt)


def _random_(g, arr, frm=None, to=None):
    vals = _random_values(g, arr.size, arr.dtype, frm, to)
    if arr.size:
        _write(arr, vals)


def _bernoulli_scalar_(g, arr, p):
    p = float(p)
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={_num(p)}")
    if arr.size:
        _write(arr, (_u53(g, arr.size) < p).astype(arr.dtype))


def _bernoulli_tensor_(g, arr, p: xp.ndarray):
    if p.dtype.kind != "f":
        raise _not_implemented("bernoulli_tensor_cpu_p_", p.dtype)
    try:
        p = xp.broadcast_to(p, arr.shape)
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({arr.shape[-1] if arr.ndim else 1}) must match "
                           f"the size of tensor b ({p.shape[-1] if p.ndim else 1}) at non-singleton "
                           "dimension") from None
    if arr.size == 0:
        return
    view = _serial_view(arr)
    pv = p.transpose(_order_of(arr)) if view is not arr else p
    pflat = pv.reshape(-1)
    if not ((pflat >= 0) & (pflat <= 1)).all():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  (Could "
                           "this error message be improved?  If so, please report an enhancement "
                           "request to PyTorch.)")
    # double p: uniform<double> (random64); float/half p: uniform<float> (24 bits)
    u = _u53(g, arr.size) if p.dtype == xp.float64 else _u24(g, arr.size)
    view[...] = (u < pflat.astype(u.dtype)).astype(arr.dtype).reshape(view.shape)


def _order_of(arr):
    return sorted(range(arr.ndim), key=lambda d: -abs(arr.strides[d]))


def _exponential_values(g, n, lambd, exact):
    u = _u53(g, n)
    return (-1.0 / lambd) * _libm(math.log1p, -u, exact)


def _exponential_(g, arr, lambd):
    lambd = float(lambd)
    if not lambd > 0.0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={_num(lambd)}")
    if arr.dtype.kind != "f":
        raise RuntimeError("Exponential distribution is a continuous probability distribution. "
                           "dtype must be a floating point but you specified "
                           f"{_TORCH_NAMES[arr.dtype.name]}")
    if arr.size:
        _write(arr, _exponential_values(g, arr.size, lambd, arr.dtype == xp.float64).astype(arr.dtype))


def _geometric_(g, arr, p):
    p = float(p)
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={_num(p)}")
    if arr.size:
        u = _u53(g, arr.size)
        v = xp.ceil(_libm(math.log, u, True) / math.log1p(-p))
        _write(arr, v.astype(arr.dtype))


def _log_normal_(g, arr, mean, std):
    mean, std = float(mean), float(std)
    if not std > 0.0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={_num(std)}")
    _check_float(arr.dtype, "log_normal_cpu")
    if arr.size:
        v = _libm(math.exp, _normal_scalar(g, arr.size, mean, std), arr.dtype == xp.float64)
        _write(arr, v.astype(arr.dtype))


# ---- autograd: sampling ops have zero gradients, under PyTorch's node names --------------------
_NODES: dict = {}


def _node(name: str):
    cls = _NODES.get(name)
    if cls is None:
        def forward(ctx, *args):
            return args[-1]

        def backward(ctx, grad):
            return tuple(xp.zeros_like(grad) if need else None for need in ctx.needs_input_grad)

        cls = type(name, (Function,), {"forward": staticmethod(forward),
                                       "backward": staticmethod(backward),
                                       "_node_name": name, "_raw": True,
                                       "__module__": __name__})
        _NODES[name] = cls
    return cls


def _inplace(self: Tensor, node: str, kernel, *args):
    """Run an in-place sampling kernel on self, recording a zero-gradient node if needed."""
    self._check_inplace()
    if _grad_state[0] and self._requires_grad:
        tmp = self._data.copy()
        kernel(tmp, *args)
        return _rebase(self, _node(node).apply(self, tmp))
    kernel(self._data, *args)
    self._vc[0] += 1
    return self


# ---- Tensor methods ---------------------------------------------------------------------------
def uniform_(self, *args, generator=None, **kwargs) -> Tensor:
    """Fill with U(from, to) samples: Tensor.uniform_(from=0, to=1, *, generator=None)."""
    a, b = _two_args(args, kwargs, ("from", "to"), (0.0, 1.0), "uniform_")
    g = _gen(generator)
    return _inplace(self, "UniformBackward0", lambda arr: _uniform_(g, arr, a, b))


def normal_(self, mean=0.0, std=1.0, *, generator=None) -> Tensor:
    """Fill with N(mean, std**2) samples."""
    g = _gen(generator)
    return _inplace(self, "NormalBackward0", lambda arr: _normal_(g, arr, mean, std))


def random_(self, *args, generator=None, **kwargs) -> Tensor:
    """random_() / random_(to) / random_(from, to): integers drawn uniformly."""
    frm, to = kwargs.pop("from", None), kwargs.pop("to", None)
    if kwargs:
        raise TypeError(f"random_() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if len(args) == 1:
        if to is None and frm is None:
            to = args[0]
        else:
            frm = args[0]
    elif len(args) == 2:
        frm, to = args
    elif len(args) > 2:
        raise TypeError(f"random_() takes at most 2 positional arguments ({len(args)} given)")
    node = ("RandomBackward2" if frm is None and to is None else
            "RandomBackward1" if frm is None else "RandomBackward0")
    if frm is None and to is not None:
        frm = 0
    g = _gen(generator)
    return _inplace(self, node, lambda arr: _random_(g, arr, frm, to))


def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
    """Fill with 0/1 samples, 1 with probability p (a float or a tensor of probabilities)."""
    g = _gen(generator)
    if isinstance(p, Tensor):
        pd = p._data
        return _inplace(self, "BernoulliBackward1", lambda arr: _bernoulli_tensor_(g, arr, pd))
    return _inplace(self, "BernoulliBackward2", lambda arr: _bernoulli_scalar_(g, arr, p))


def exponential_(self, lambd=1.0, *, generator=None) -> Tensor:
    """Fill with Exp(lambd) samples."""
    g = _gen(generator)
    return _inplace(self, "ExponentialBackward0", lambda arr: _exponential_(g, arr, lambd))


def geometric_(self, p, *, generator=None) -> Tensor:
    """Fill with Geometric(p) samples (number of trials to the first success)."""
    g = _gen(generator)
    return _inplace(self, "GeometricBackward0", lambda arr: _geometric_(g, arr, p))


def log_normal_(self, mean=1.0, std=2.0, *, generator=None) -> Tensor:
    """Fill with samples whose log is N(mean, std**2)."""
    g = _gen(generator)
    return _inplace(self, "LogNormalBackward0", lambda arr: _log_normal_(g, arr, mean, std))


def _two_args(args, kwargs, names, defaults, fname):
    vals = list(defaults)
    for i, v in enumerate(args):
        if i >= 2:
            raise TypeError(f"{fname}() takes at most 2 positional arguments ({len(args)} given)")
        vals[i] = v
    for k, v in kwargs.items():
        if k not in names:
            raise TypeError(f"{fname}() got an unexpected keyword argument '{k}'")
        vals[names.index(k)] = v
    return [v.item() if isinstance(v, Tensor) else v for v in vals]


# ---- factories --------------------------------------------------------------------------------
def _size(args, size, fname) -> tuple:
    """rand(2, 3), rand((2, 3)), rand([2, 3]), rand(Size), rand(size=(2, 3)) -> (2, 3)."""
    if size is not None:
        if args:
            raise TypeError(f"{fname}() received an invalid combination of arguments - got "
                            f"positional sizes and size={size!r}")
        if not isinstance(size, (tuple, list)):
            raise TypeError(f"{fname}(): argument 'size' must be tuple of ints, not "
                            f"{type(size).__name__}")
        args = tuple(size)
    elif len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    shape = []
    for s in args:
        if isinstance(s, Tensor) and s._data.ndim == 0 and s._data.dtype.kind in "iu":
            s = int(s._data)
        if isinstance(s, bool) or not isinstance(s, (int, xp.integer)):
            raise TypeError(f"{fname}(): argument 'size' (position 1) must be tuple of ints, "
                            f"not {type(s).__name__}")
        shape.append(int(s))
    for s in shape:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {shape}")
    return tuple(shape)


def _out_dtype(dtype, default, out) -> xp.dtype:
    if dtype is not None:
        return _dtype.to_dtype(dtype).np
    if out is not None:
        return out._data.dtype
    return default().np if callable(default) else default.np


def _finish(arr: xp.ndarray, requires_grad: bool, out, device=None):
    if out is None:
        return _new_tensor(arr, requires_grad, device)
    if device is not None:
        check_device(device)
    if out._data.shape == arr.shape:
        xp.copyto(out._data, arr, casting="unsafe")  # views of out see the new values
    else:
        out._data = arr.astype(out._data.dtype, copy=False)
    out._vc[0] += 1
    return out


def rand(*size_args, size=None, generator=None, out=None, dtype=None, layout=None, device=None,
         requires_grad=False, pin_memory=False) -> Tensor:
    """Samples from U[0, 1): the stream torch.rand gives after the same manual_seed."""
    shape = _size(size_args, size, "rand")
    dt = _out_dtype(dtype, _dtype.get_default_dtype, out)
    _check_float(dt, "check_uniform_bounds")
    vals = _uniform_values(_gen(generator), _numel(shape), dt, 0.0, 1.0)
    return _finish(vals.reshape(shape), requires_grad, out, device)


def randn(*size_args, size=None, generator=None, out=None, dtype=None, layout=None, device=None,
          requires_grad=False, pin_memory=False) -> Tensor:
    """Samples from N(0, 1): the stream torch.randn gives after the same manual_seed."""
    shape = _size(size_args, size, "randn")
    dt = _out_dtype(dtype, _dtype.get_default_dtype, out)
    vals = _normal_values(_gen(generator), _numel(shape), dt, 0.0, 1.0)
    return _finish(vals.reshape(shape), requires_grad, out, device)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def randint(*args, size=None, low=None, high=None, generator=None, out=None, dtype=None,
            layout=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """randint(high, size) / randint(low, high, size): integers in [low, high)."""
    args = list(args)
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    if low is not None:
        args.insert(0, low)
    if high is not None:
        args.append(high)
    if size is None or not 1 <= len(args) <= 2:
        got = ", ".join(type(a).__name__ for a in args)
        raise TypeError(f"randint() received an invalid combination of arguments - got ({got}), "
                        "but expected one of:\n * (int high, tuple of ints size, *, torch.Generator "
                        "generator, Tensor out, torch.dtype dtype, torch.layout layout, "
                        "torch.device device, bool pin_memory, bool requires_grad)\n * (int low, "
                        "int high, tuple of ints size, *, torch.Generator generator, Tensor out, "
                        "torch.dtype dtype, torch.layout layout, torch.device device, "
                        "bool pin_memory, bool requires_grad)\n")
    lo, hi = (0, args[0]) if len(args) == 1 else args
    shape = _size((), size, "randint")
    dt = _out_dtype(dtype, _dtype.int64, out)
    vals = _random_values(_gen(generator), _numel(shape), dt, _int_arg(lo), _int_arg(hi))
    return _finish(vals.reshape(shape), requires_grad, out, device)


def _int_arg(v):
    if isinstance(v, Tensor):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return int(v)


def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad=False, pin_memory=False) -> Tensor:
    """A random permutation of 0..n-1 (PyTorch's CPU Fisher-Yates, same swaps)."""
    n = int(n)
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    dt = _out_dtype(dtype, _dtype.int64, out)
    if dt == xp.bool_:
        raise _not_implemented("randperm", dt)
    if dt == xp.float16 and n > 2049:
        raise RuntimeError("n cannot be greater than 2049 for Half type.")
    if dt.kind in "iu" and n > 0 and n - 1 > xp.iinfo(dt).max:
        raise RuntimeError(f"n is too large for result tensor type: '{_TORCH_NAMES[dt.name]}'")
    g = _gen(generator)
    if n < 0xFFFFFFFF // 20:
        # step i swaps positions i and i + random() % (n - i), i = 0..n-2
        steps = g._raw(max(n - 1, 0)) % xp.arange(n, 1, -1, dtype=xp.uint64)
        perm = _fisher_yates(n, steps.astype(xp.int64))
    else:  # PyTorch's "inside-out" variant for huge n, with random64()
        perm = [0] * n
        for i in range(n):
            z = int(_r64(g, 1)[0] % xp.uint64(i + 1))
            perm[i] = perm[z]
            perm[z] = i
    return _finish(xp.asarray(perm).astype(dt, copy=False), requires_grad, out, device)


def _fisher_yates(n: int, z: xp.ndarray) -> xp.ndarray:
    """The permutation PyTorch's sequential swaps produce, computed without a loop over n.

    Step i swaps positions i and j[i] = i + z[i] >= i, so position i is final after step i
    and receives what position j[i] held just before it. Position p (> k) changes at step k
    only if j[k] == p, receiving V(k), the value position k held just before step k; so
    V(i) follows the chain of "last k < i with j[k] == i" links back to an untouched index,
    which pointer jumping resolves in O(log n) vector passes.
    """
    if n <= 1:
        return xp.arange(n, dtype=xp.int64)
    m = n - 1
    idx = xp.arange(m)
    j = idx + z
    order = xp.argsort(j, kind="stable")
    js = j[order]
    same = js[1:] == js[:-1]
    prev_same = xp.full(m, -1)  # last k < i with j[k] == j[i]
    prev_same[order[1:][same]] = order[:-1][same]
    ends = xp.append(~same, True)
    last = xp.full(n, -1)  # last k with j[k] == p
    last[js[ends]] = order[ends]
    g = last[:m]
    link = xp.where(g == idx, prev_same, g)  # last k < i with j[k] == i
    v = xp.where(link >= 0, link, idx)
    while True:
        v2 = v[v]
        if xp.array_equal(v2, v):
            break
        v = v2
    out = xp.empty(n, xp.int64)
    out[:m] = xp.where(j == idx, v, xp.where(prev_same >= 0, v[prev_same], j))
    out[m] = v[last[m]] if last[m] >= 0 else m
    return out


def _normal_scalar_args(mean, std):
    return (not isinstance(mean, Tensor)) and (not isinstance(std, Tensor))


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None,
           device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """torch.normal: (Tensor, Tensor), (Tensor, float), (float, Tensor), (float, float, size)."""
    g = _gen(generator)
    if _normal_scalar_args(mean, std):
        if size is None:
            raise TypeError(f"normal() received an invalid combination of arguments - got "
                            f"({type(mean).__name__}, {type(std).__name__}), but expected one of:"
                            "\n * (Tensor mean, Tensor std, *, torch.Generator generator, Tensor out)"
                            "\n * (Tensor mean, float std = 1, *, torch.Generator generator, "
                            "Tensor out)\n * (float mean, Tensor std, *, torch.Generator generator, "
                            "Tensor out)\n * (float mean, float std, tuple of ints size, *, "
                            "torch.Generator generator, Tensor out, torch.dtype dtype, "
                            "torch.layout layout, torch.device device, bool pin_memory, "
                            "bool requires_grad)\n")
        shape = _size((), size, "normal")
        dt = _out_dtype(dtype, _dtype.get_default_dtype, out)
        vals = _normal_values(g, _numel(shape), dt, mean, std)
        return _finish(vals.reshape(shape), requires_grad, out, device)
    if isinstance(mean, Tensor) and isinstance(std, Tensor):
        sd = std._data
        if sd.size and not (sd.min() >= 0):
            raise RuntimeError("normal expects all elements of std >= 0.0")
        shape = broadcast_shape(mean._data.shape, sd.shape)
        arr = xp.empty(shape, mean._data.dtype)
        _normal_(g, arr, 0.0, 1.0)
        # output.mul_(std).add_(mean): each computed in the promoted type, stored in arr's
        xp.multiply(arr, sd, out=arr, casting="unsafe")
        xp.add(arr, mean._data, out=arr, casting="unsafe")
        node, inputs = "NormalBackward3", (mean, std)
    elif isinstance(mean, Tensor):
        s = float(std)
        if not s >= 0.0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(s)}")
        arr = xp.empty(mean._data.shape, mean._data.dtype)
        _normal_(g, arr, 0.0, s)
        xp.add(arr, mean._data, out=arr, casting="unsafe")
        node, inputs = "NormalBackward1", (mean,)
    else:
        sd = std._data
        if sd.size and not (sd.min() >= 0):
            raise RuntimeError("normal expects all elements of std >= 0.0")
        arr = xp.empty(sd.shape, sd.dtype)
        _normal_(g, arr, 0.0, 1.0)
        arr = arr * sd + sd.dtype.type(mean)
        node, inputs = "NormalBackward2", (std,)
    if out is not None:
        return _finish(arr, False, out)
    return _node(node).apply(*inputs, arr)


def bernoulli(input, p=None, *, generator=None, out=None) -> Tensor:
    """0/1 samples with probabilities ``input`` (or the float ``p``), in input's dtype."""
    g = _gen(generator)
    arr = xp.empty(input._data.shape, input._data.dtype)
    if p is None:
        _bernoulli_tensor_(g, arr, input._data)
        node = "BernoulliBackward0"
    else:
        _bernoulli_scalar_(g, arr, p)
        node = "BernoulliBackward2"
    if out is not None:
        return _finish(arr, False, out)
    return _node(node).apply(input, arr)


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None) -> Tensor:
    """Indices sampled from the rows of ``input`` (PyTorch's CPU algorithms and stream)."""
    g = _gen(generator)
    p = input._data
    if not 1 <= p.ndim <= 2:
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if p.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{_TORCH_NAMES[p.dtype.name]}")
    n_sample = int(num_samples)
    if n_sample <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    n_cat = p.shape[-1]
    if not (replacement or n_sample <= n_cat):
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    if n_cat > 1 << 24:
        raise RuntimeError("number of categories cannot exceed 2^24")
    rows = p.reshape(-1, n_cat)
    shape = (n_sample,) if p.ndim == 1 else (p.shape[0], n_sample)
    if rows.size == 0 or rows.shape[0] == 0:
        return _finish(xp.empty(shape, xp.int64), False, out)
    if not replacement or n_sample == 1:
        # Gumbel-max as p / q with q ~ Exp(1): argmax for one sample, topk for several
        if not (xp.max(rows) < xp.inf and xp.min(rows) >= 0):
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if (rows.sum(axis=1) == 0).any():
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        q = _exponential_values(g, rows.size, 1.0, p.dtype == xp.float64).astype(p.dtype)
        with xp.errstate(divide="ignore", invalid="ignore"):
            q = rows / q.reshape(rows.shape)
        if n_sample == 1:
            res = xp.argmax(q, axis=1)[:, None]
        else:
            res = xp.argsort(-q, axis=1, kind="stable")[:, :n_sample]
    else:
        res = xp.empty((rows.shape[0], n_sample), xp.int64)
        acc = _f32 if p.dtype == xp.float16 else p.dtype
        for i, row in enumerate(rows.astype(acc, copy=False)):
            if (row < 0).any():
                raise RuntimeError("invalid multinomial distribution (encountering probability "
                                   "entry < 0)")
            if not xp.isfinite(row).all():
                raise RuntimeError("invalid multinomial distribution (encountering probability "
                                   "entry = infinity or NaN)")
            cum = xp.cumsum(row, dtype=acc)  # sequential, in the input's precision
            total = cum[-1]
            if not total > 0:
                raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
            cum = cum / total
            cum[-1] = 1
            res[i] = xp.searchsorted(cum.astype(_f64), _u53(g, n_sample), side="left")
    return _finish(res.reshape(shape).astype(xp.int64, copy=False), False, out)


def rand_like(input, *, generator=None, dtype=None, layout=None, device=None,
              requires_grad=False, memory_format=None) -> Tensor:
    return rand(input._data.shape, generator=generator, dtype=dtype or input.dtype,
                device=device, requires_grad=requires_grad)


def randn_like(input, *, generator=None, dtype=None, layout=None, device=None,
               requires_grad=False, memory_format=None) -> Tensor:
    return randn(input._data.shape, generator=generator, dtype=dtype or input.dtype,
                 device=device, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, generator=None, dtype=None, layout=None,
                 device=None, requires_grad=False, memory_format=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, input._data.shape, generator=generator,
                   dtype=dtype or input.dtype, device=device, requires_grad=requires_grad)


def _bernoulli_method(self, p=None, *, generator=None) -> Tensor:
    return bernoulli(self, p, generator=generator)


def _multinomial_method(self, num_samples, replacement=False, *, generator=None) -> Tensor:
    return multinomial(self, num_samples, replacement, generator=generator)


register_methods(uniform_=uniform_, normal_=normal_, random_=random_, bernoulli_=bernoulli_,
                 exponential_=exponential_, geometric_=geometric_, log_normal_=log_normal_,
                 bernoulli=_bernoulli_method, multinomial=_multinomial_method)

__all__ = [
    "Generator",
    "bernoulli",
    "default_generator",
    "get_rng_state",
    "initial_seed",
    "manual_seed",
    "multinomial",
    "normal",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "randperm",
    "seed",
    "set_rng_state",
]
