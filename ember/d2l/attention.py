"""d2l.torch names of the book's later chapters (see ember/d2l/__init__.py)."""
from __future__ import annotations

__all__: list = []
