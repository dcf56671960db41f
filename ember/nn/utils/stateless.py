"""functional_call: run a module with some parameters and buffers swapped for given tensors."""
from __future__ import annotations

from contextlib import contextmanager

__all__ = ["functional_call"]


def _owner(module, name):
    prefix, _, leaf = name.rpartition(".")
    return (module.get_submodule(prefix) if prefix else module), leaf


@contextmanager
def _swapped(module, tensors: dict, strict: bool):
    saved = []
    try:
        for name, value in tensors.items():
            owner, leaf = _owner(module, name)
            if leaf in owner._parameters:
                store = owner._parameters
            elif leaf in owner._buffers:
                store = owner._buffers
            elif strict:
                raise RuntimeError(f"functional_call got unexpected key: {name}")
            else:
                store = None
            if store is None:  # a plain attribute, as PyTorch allows when not strict
                saved.append((owner.__dict__, leaf, owner.__dict__.get(leaf, _MISSING)))
                owner.__dict__[leaf] = value
            else:
                saved.append((store, leaf, store[leaf]))
                store[leaf] = value  # bypasses the Parameter type check, as intended
        yield
    finally:
        for store, leaf, old in reversed(saved):
            if old is _MISSING:
                del store[leaf]
            else:
                store[leaf] = old


_MISSING = object()


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *,
                    tie_weights: bool = True, strict: bool = False):
    """``module(*args, **kwargs)`` with the named parameters/buffers replaced by the given ones."""
    if isinstance(parameter_and_buffer_dicts, dict):
        tensors = dict(parameter_and_buffer_dicts)
    else:
        tensors = {}
        for d in parameter_and_buffer_dicts:
            overlap = set(tensors) & set(d)
            if overlap:
                raise ValueError(f"{sorted(overlap)} appeared in multiple dictionaries; behavior "
                                 "of functional call is ambiguous")
            tensors.update(d)
    if strict:
        expected = {n for n, _ in module.named_parameters(remove_duplicate=False)}
        expected |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
        missing, unexpected = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        if missing or unexpected:
            raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}:\n\t"
                               f"Missing key(s): {missing}. Unexpected key(s): {unexpected}.")
    if tie_weights:  # a tensor given for one of several tied names replaces all of them
        names_of = {}
        for name, t in list(module.named_parameters(remove_duplicate=False)) + list(
                module.named_buffers(remove_duplicate=False)):
            names_of.setdefault(id(t), []).append(name)
        for names in names_of.values():
            given = [n for n in names if n in tensors]
            if not given:
                continue
            if len({id(tensors[n]) for n in given}) > 1:
                raise ValueError(f"functional_call got multiple values for keys {sorted(given)}, "
                                 "which are tied. Consider using tie_weights=False")
            for n in names:
                tensors.setdefault(n, tensors[given[0]])
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _swapped(module, tensors, strict):
        return module(*args, **(kwargs or {}))
