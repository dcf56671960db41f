"""Shape helpers: broadcasting and the error messages PyTorch users know."""
from __future__ import annotations

from .._backend import ndarray

__all__ = []


def broadcast_shape(a: tuple, b: tuple, op: str = "op") -> tuple:
    """The broadcast of two shapes, or PyTorch's RuntimeError naming the clashing sizes."""
    n = max(len(a), len(b))
    a2 = (1,) * (n - len(a)) + tuple(a)
    b2 = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a2, b2):
        if x != y and x != 1 and y != 1:
            raise broadcast_error(a, b, op)
        out.append(y if x == 1 else x)
    return tuple(out)


def broadcast_error(a: tuple, b: tuple, op: str = "op") -> RuntimeError:
    n = max(len(a), len(b))
    a2 = (1,) * (n - len(a)) + tuple(a)
    b2 = (1,) * (n - len(b)) + tuple(b)
    for i in range(n - 1, -1, -1):
        x, y = a2[i], b2[i]
        if x != y and x != 1 and y != 1:
            return RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                f"non-singleton dimension {i}")
    return RuntimeError(f"{op}: shapes {list(a)} and {list(b)} cannot be broadcast together")


def broadcast_value_error(exc, op, arrays):
    """NumPy's broadcasting ValueError as PyTorch's RuntimeError naming both sizes (other
    ValueErrors pass through)."""
    if "broadcast" not in str(exc):
        return exc
    shapes = [a.shape for a in arrays if isinstance(a, ndarray)]
    if len(shapes) >= 2:
        return broadcast_error(shapes[0], shapes[1], op)
    return RuntimeError(f"{op}: {exc}")
