"""Helpers the layer files share (PyTorch keeps their like in torch/nn/modules/utils.py)."""
from __future__ import annotations

from ... import _creation
from .. import functional as F
from ..parameter import Parameter
from .module import Module

_SPATIAL_DIMS = {1: "L", 2: "H, W", 3: "D, H, W"}


def _ntuple(v, n: int) -> tuple:
    """``v`` as an n-tuple: a list or tuple is kept as given, a scalar is repeated n times."""
    if isinstance(v, (list, tuple)):
        return tuple(v)
    return (v,) * n


def _reverse_repeat_tuple(t, n: int) -> tuple:
    """(a, b) -> (b, b, a, a) for n=2: F.pad's last-dim-first order."""
    return tuple(x for x in reversed(t) for _ in range(n))


class _SettingsModule(Module):
    """A module whose plain settings (numbers, flags, shapes) come to __init__ as keywords and
    are kept as the attributes of those names."""

    def __init__(self, **settings) -> None:
        super().__init__()
        for name, value in settings.items():
            setattr(self, name, value)


class _FunctionalLayer(_SettingsModule):
    """A layer that is one nn.functional call: forward is ``F.<_functional>(input, *settings)``,
    the settings being the attributes named in ``__constants__``, in that order; the repr lists
    them as name=value, ``inplace`` only when True (PyTorch's style). The functional is looked
    up when called, so a patched one is seen."""

    def forward(self, input):
        fn = getattr(F, self._functional)
        return fn(input, *[getattr(self, name) for name in self.__constants__])

    def extra_repr(self) -> str:
        return ", ".join("inplace=True" if name == "inplace" else f"{name}={getattr(self, name)}"
                         for name in self.__constants__
                         if name != "inplace" or self.inplace)


def _non_defaults(module, defaults: dict) -> str:
    """", name={name}" for each setting of ``module`` that is not its default in ``defaults``, a
    template for str.format(**module.__dict__), as PyTorch's reprs build it. None and bool
    defaults are compared by identity, numbers by value, as those reprs compare them."""
    s = ""
    for name, default in defaults.items():
        value = getattr(module, name)
        if default is None or isinstance(default, bool):
            differs = value is not default
        else:
            differs = value != default
        if differs:
            s += f", {name}={{{name}}}"
    return s


def _add_weight_and_bias(module, weight_shape, bias_features, device, dtype) -> None:
    """``module.weight`` of ``weight_shape`` and ``module.bias`` of ``bias_features`` entries (or
    None, where that is None), then the module's reset_parameters() fills them."""
    module.weight = Parameter(_creation.empty(*weight_shape, device=device, dtype=dtype))
    if bias_features is not None:
        module.bias = Parameter(_creation.empty(bias_features, device=device, dtype=dtype))
    else:
        module.register_parameter("bias", None)
    module.reset_parameters()


def _functional_classes(*rows) -> tuple:
    """A table of public layers that differ from their base only in the functional they call:
    one class per row (name, base, [the nn.functional's name,] docstring; the name lowercased
    when left out: SiLU calls silu), made in the base's module under its own name, as the class
    statement it replaces would be."""
    classes = []
    for name, base, *functional, doc in rows:
        namespace = {"__doc__": doc, "__module__": base.__module__, "__qualname__": name,
                     "_functional": functional[0] if functional else name.lower()}
        classes.append(type(base)(name, (base,), namespace))
    return tuple(classes)


def _nd_family(base: type, functional: str = "", *, name: str = "", doc: str = "",
               ns=(1, 2, 3), **attrs) -> tuple:
    """The public 1-D, 2-D and 3-D subclasses of ``base`` (Conv1d, Conv2d, Conv3d, ...), which
    differ only in class attributes: ``_n`` (from ``ns``), ``_functional`` (the name of the
    nn.functional each calls, ``functional`` formatted with n; ``base`` looks it up when called,
    so a patched functional is seen, as in PyTorch) and ``attrs`` (the same for all of them).

    ``name`` (by default ``base``'s: _MaxPoolNd -> MaxPool{n}d) and ``doc`` (by default
    ``base._doc``) are formatted with ``n`` and ``dims``, the spatial dims' letters ("H, W" for
    n=2). Each class is made in ``base``'s module under its own name, so it pickles, prints and
    subclasses as the class statement it replaces would.
    """
    name = name or base.__name__.lstrip("_").removesuffix("Nd") + "{n}d"
    doc = doc or base._doc
    classes = []
    for n in ns:
        cls_name = name.format(n=n)
        namespace = {"__doc__": doc.format(n=n, dims=_SPATIAL_DIMS[n]),
                     "__module__": base.__module__, "__qualname__": cls_name, "_n": n, **attrs}
        if functional:
            namespace["_functional"] = functional.format(n=n)
        classes.append(type(base)(cls_name, (base,), namespace))
    return tuple(classes)


def _lazy_variants(lazy_base: type, *classes, inferred: str, base: type | None = None) -> tuple:
    """Lazy<cls> for each of ``classes`` (LazyConv1d, ...): ``lazy_base`` holds the lazy logic,
    ``inferred`` names what the first input fixes, and the module becomes ``cls`` once it has.
    The lazy class subclasses ``cls`` (LazyConv2d is a Conv2d, as PyTorch's) or, given ``base``,
    only that, with ``cls``'s ``_n`` (PyTorch's LazyBatchNorm2d is a _BatchNorm, no BatchNorm2d)."""
    out = []
    for cls in classes:
        name = "Lazy" + cls.__name__
        doc = f"{cls.__name__} with its {inferred} inferred from the first input."
        namespace = {"__doc__": doc, "__module__": cls.__module__, "__qualname__": name,
                     "cls_to_become": cls, "_n": cls._n}
        out.append(type(cls)(name, (lazy_base, base or cls), namespace))
    return tuple(out)
