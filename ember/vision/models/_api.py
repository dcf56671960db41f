"""Weights enums, the model registry and the checkpoint download (torchvision.models._api).

A ``weights=`` argument never gives a random model: it downloads torchvision's official file
(checking the sha256 prefix in its name, as ``torch.hub`` does) or raises saying why it cannot.
"""
from __future__ import annotations

import fnmatch
import functools
import hashlib
import inspect
import os
import re
import sys
import tempfile
import typing
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import ModuleType
from typing import Any

from ...serialization import UnpicklingError, load

__all__ = ["Weights", "WeightsEnum", "get_model", "get_model_builder", "get_model_weights",
           "get_weight", "list_models", "register_model"]


@dataclass
class Weights:
    """Where a set of pretrained weights lives, how to preprocess for it, and its metadata."""

    url: str
    transforms: Callable
    meta: dict[str, Any] = field(default_factory=dict)

    def __eq__(self, other: Any) -> bool:
        # functools.partial has no __eq__, so compare what it wraps
        if not isinstance(other, Weights):
            return NotImplemented
        if self.url != other.url or self.meta != other.meta:
            return False
        a, b = self.transforms, other.transforms
        if isinstance(a, functools.partial) and isinstance(b, functools.partial):
            return a.func == b.func and a.args == b.args and a.keywords == b.keywords
        return a == b


class WeightsEnum(Enum):
    """Base class of the ``*_Weights`` enums; each member's value is a :class:`Weights`."""

    @classmethod
    def verify(cls, obj: Any) -> Any:
        """Turn ``None``, a member, or a name ("DEFAULT", "Cls.NAME") into a member of cls."""
        if obj is not None:
            if isinstance(obj, str):
                obj = cls[obj.replace(cls.__name__ + ".", "")]
            elif not isinstance(obj, cls):
                raise TypeError(f"Invalid Weight class provided; expected {cls.__name__} but "
                                f"received {obj.__class__.__name__}.")
        return obj

    def get_state_dict(self, *args: Any, **kwargs: Any) -> Mapping[str, Any]:
        """Download (once) and load this member's checkpoint."""
        return load_state_dict_from_url(self.url, *args, **kwargs)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}.{self._name_}"

    @property
    def url(self) -> str:
        return self.value.url

    @property
    def transforms(self) -> Callable:
        return self.value.transforms

    @property
    def meta(self) -> dict[str, Any]:
        return self.value.meta


# ---- download -----------------------------------------------------------------------------------

_HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")


def get_dir() -> str:
    """The hub directory: ``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub`` (~/.cache)."""
    home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(
        os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch")))
    return os.path.join(home, "hub")


def _download(url: str, dst: str, hash_prefix: str | None, progress: bool) -> None:
    where = (f"With no network, download {url} elsewhere and put it at {dst} (the directory is "
             "$TORCH_HOME/hub/checkpoints, by default ~/.cache/torch/hub/checkpoints).")
    tmp = None
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "ember"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            fd, tmp = tempfile.mkstemp(prefix=os.path.basename(dst) + ".", suffix=".partial",
                                       dir=os.path.dirname(dst))
            sha = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                    sha.update(chunk)
        if hash_prefix is not None:
            digest = sha.hexdigest()
            if digest[:len(hash_prefix)] != hash_prefix:
                raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{digest}")')
        os.replace(tmp, dst)
        tmp = None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(f"Cannot download the pretrained weights: {url} could not be fetched "
                           f"({reason}). {where}") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def load_state_dict_from_url(url: str, model_dir: str | None = None, map_location: Any = None,
                             progress: bool = True, check_hash: bool = False,
                             file_name: str | None = None,
                             weights_only: bool = True) -> dict[str, Any]:
    """Load a checkpoint from ``url``, downloading it into the hub cache the first time."""
    if model_dir is None:
        model_dir = os.path.join(get_dir(), "checkpoints")
    os.makedirs(model_dir, exist_ok=True)
    filename = file_name or os.path.basename(url.split("?")[0])
    cached_file = os.path.join(model_dir, filename)
    if not os.path.exists(cached_file):
        if progress:
            sys.stderr.write(f'Downloading: "{url}" to {cached_file}\n')
        match = _HASH_REGEX.search(filename) if check_hash else None
        _download(url, cached_file, match.group(1) if match else None, progress)
    try:
        return load(cached_file, map_location=map_location, weights_only=True)
    except UnpicklingError as exc:
        raise RuntimeError(f"{cached_file} could not be loaded ({exc}). If the file is damaged, "
                           "delete it and it will be downloaded again.") from exc


# ---- the registry -------------------------------------------------------------------------------

BUILTIN_MODELS: dict[str, Callable] = {}


def register_model(name: str | None = None) -> Callable:
    """Decorator that adds a model builder to the registry under ``name`` (default: its own)."""
    def wrapper(fn: Callable) -> Callable:
        key = name if name is not None else fn.__name__
        if key in BUILTIN_MODELS:
            raise ValueError(f"An entry is already registered under the name '{key}'.")
        BUILTIN_MODELS[key] = fn
        return fn

    return wrapper


def list_models(module: ModuleType | None = None, include: Iterable[str] | str | None = None,
                exclude: Iterable[str] | str | None = None) -> list[str]:
    """Sorted names of the registered models, optionally of one module, filtered by globs."""
    all_models = {k for k, v in BUILTIN_MODELS.items()
                  if module is None or v.__module__.rsplit(".", 1)[0] == module.__name__}
    if include:
        models: set[str] = set()
        for pat in [include] if isinstance(include, str) else include:
            models |= set(fnmatch.filter(all_models, pat))
    else:
        models = all_models
    if exclude:
        for pat in [exclude] if isinstance(exclude, str) else exclude:
            models -= set(fnmatch.filter(all_models, pat))
    return sorted(models)


def get_model_builder(name: str) -> Callable:
    """The builder function registered under ``name``."""
    name = name.lower()
    try:
        return BUILTIN_MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name}") from None


def get_model(name: str, **config: Any) -> Any:
    """Build the registered model ``name`` with keyword arguments ``config``."""
    return get_model_builder(name)(**config)


def get_model_weights(name: Callable | str) -> type[WeightsEnum]:
    """The weights enum class of a model (given by name or by builder)."""
    model = get_model_builder(name) if isinstance(name, str) else name
    ann = inspect.signature(model).parameters["weights"].annotation
    if isinstance(ann, str):  # postponed annotations: "ResNet18_Weights | None"
        ann = sys.modules[model.__module__].__dict__[ann.split("|")[0].strip()]
    for arg in typing.get_args(ann):  # WeightsEnum subclass | None
        if isinstance(arg, type) and issubclass(arg, WeightsEnum):
            return arg
    return ann


def get_weight(name: str) -> WeightsEnum:
    """The weights member named "EnumClass.MEMBER", e.g. "ResNet50_Weights.IMAGENET1K_V2"."""
    try:
        enum_name, value_name = name.split(".")
    except ValueError:
        raise ValueError(f"Invalid weight name provided: '{name}'.") from None
    enum = vars(sys.modules[__name__.rpartition(".")[0]]).get(enum_name)  # the package namespace
    if not (isinstance(enum, type) and issubclass(enum, WeightsEnum)):
        raise ValueError(f"The weight enum '{enum_name}' for the specific method couldn't be "
                         "retrieved.")
    return enum[value_name]


# ---- helpers for the builders -------------------------------------------------------------------

def _ovewrite_named_param(kwargs: dict[str, Any], param: str, new_value: Any) -> None:
    if param in kwargs:
        if kwargs[param] != new_value:
            raise ValueError(f"The parameter '{param}' expected value {new_value} but got "
                             f"{kwargs[param]} instead.")
    else:
        kwargs[param] = new_value


def handle_legacy_interface(**weights: tuple[str, Any]) -> Callable:
    """Accept the pre-0.13 ``pretrained=True`` (with torchvision's deprecation warnings)."""
    def outer(builder: Callable) -> Callable:
        @functools.wraps(builder)
        def inner(*args: Any, **kwargs: Any) -> Any:
            for weights_param, (pretrained_param, default) in weights.items():
                if pretrained_param in kwargs:
                    value = kwargs.pop(pretrained_param)
                    warnings.warn(f"The parameter '{pretrained_param}' is deprecated since 0.13 "
                                  "and may be removed in the future, please use "
                                  f"'{weights_param}' instead.")
                    if kwargs.get(weights_param) is not None:
                        continue  # an explicit weights= wins
                elif isinstance(kwargs.get(weights_param), bool):
                    value = kwargs[weights_param]
                else:
                    continue
                if not isinstance(value, bool):
                    raise ValueError(f"Unknown value {value!r} for the parameter "
                                     f"'{pretrained_param}'")
                new_value = default if value else None
                msg = (f"Arguments other than a weight enum or `None` for '{weights_param}' are "
                       "deprecated since 0.13 and may be removed in the future. The current "
                       f"behavior is equivalent to passing `{weights_param}={new_value}`.")
                if value:
                    msg += (f" You can also use `{weights_param}={type(default).__name__}"
                            ".DEFAULT` to get the most up-to-date weights.")
                warnings.warn(msg)
                kwargs[weights_param] = new_value
            return builder(*args, **kwargs)

        return inner

    return outer
