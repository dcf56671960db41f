"""ember.device, ember.Size and the CUDA stubs: ember computes on the CPU."""
from __future__ import annotations

from ._dtype import _names


class device:
    """A device description. ember runs on ``cpu``; ``cuda`` devices can be named, not used."""

    __slots__ = ("index", "type")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type  # an ordinal names an accelerator, as in PyTorch
        if not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments - got ({type!r})")
        kind, _, idx = type.partition(":")
        if kind not in ("cpu", "cuda", "mps", "meta"):
            raise RuntimeError(
                "Expected one of cpu, cuda, mps, meta device type at start of device string: " + type
            )
        if idx:
            if index is not None:
                raise RuntimeError("type (string) must not include an index because index was passed explicitly: " + type)
            index = int(idx)
        self.type, self.index = kind, index

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        # as in PyTorch, a device never equals a string: compare with torch.device('cpu')
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))

    def __enter__(self):
        # `with torch.device('cpu'):` sets the default device for the block, as in PyTorch
        check_device(self)
        return self

    def __exit__(self, *exc):
        return False


CPU = device("cpu")


class _NoCUDA(AssertionError, RuntimeError):
    """PyTorch raises AssertionError here; a RuntimeError handler catches it as well."""


_NoCUDA.__qualname__ = _NoCUDA.__name__ = "AssertionError"  # tracebacks read as PyTorch's
_NoCUDA.__module__ = "builtins"


def check_device(d) -> device:
    """Resolve a device argument; anything but the CPU is a clear error."""
    if d is None:
        return CPU
    d = d if isinstance(d, device) else device(d)
    if d.type == "mps":
        raise RuntimeError("PyTorch is not linked with support for mps devices: ember computes on "
                           "the CPU only")
    if d.type != "cpu":
        raise _NoCUDA(
            f"Torch not compiled with CUDA enabled: ember computes on the CPU only, so device "
            f"'{d}' is not available. Guard accelerator code with "
            "`device = 'cuda' if torch.cuda.is_available() else 'cpu'`."
        )
    return CPU


class Size(tuple):
    """A tensor's shape: a tuple that prints as ``ember.Size([2, 3])``."""

    __slots__ = ()

    def __repr__(self):
        return f"{_names['prefix']}.Size({list(self)})"

    __str__ = __repr__

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, key):
        r = tuple.__getitem__(self, key)
        return Size(r) if isinstance(key, slice) else r

    def __add__(self, other):
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self))

    def __reduce__(self):
        return (Size, (tuple(self),))
