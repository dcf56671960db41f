"""``torch.return_types``: the named tuples that ``max(dim)``, ``sort``, ``topk``... return.

The classes are made by ``ember._ops.indexing._return_type`` and carry this module's name, so
that ``pickle`` finds them here by name.
"""
from __future__ import annotations

from ._ops.indexing import _RETURN_TYPES, _return_type

# made on first use by their ops: made here too, so that unpickling never depends on call order
sort = _return_type("sort")
topk = _return_type("topk")


def __getattr__(name: str):
    cls = _RETURN_TYPES.get(name)
    if cls is None and not name.startswith("__"):
        from . import linalg  # noqa: F401  (ember.linalg makes the linalg_* types on import)

        cls = _RETURN_TYPES.get(name)
    if cls is None:
        raise AttributeError(f"module 'ember.return_types' has no attribute '{name}'")
    return cls


def __dir__():
    return sorted(set(globals()) | set(_RETURN_TYPES))
