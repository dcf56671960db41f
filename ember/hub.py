"""ember.hub: the checkpoint cache of torch.hub; running code from hub repositories is not offered."""
from __future__ import annotations

import os

__all__ = ["download_url_to_file", "get_dir", "help", "list", "load",
           "load_state_dict_from_url", "set_dir"]

_hub_dir: list = [None]


def get_dir() -> str:
    """``set_dir``'s directory, else ``$TORCH_HOME/hub`` (by default ~/.cache/torch/hub)."""
    if _hub_dir[0] is not None:
        return _hub_dir[0]
    # ember.vision.models loads ember.nn and the model zoo (~60 modules): only on first use
    from .vision.models._api import get_dir as _default

    return _default()


def set_dir(d) -> None:
    _hub_dir[0] = os.path.expanduser(os.fspath(d))


def download_url_to_file(url: str, dst: str, hash_prefix: str | None = None,
                         progress: bool = True) -> None:
    """Download ``url`` to ``dst`` (checking the SHA-256 prefix when given)."""
    from .vision.models._api import _download  # heavy, as in get_dir

    dst = os.path.expanduser(dst)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    _download(url, dst, hash_prefix, progress)


def load_state_dict_from_url(url: str, model_dir: str | None = None, map_location=None,
                             progress: bool = True, check_hash: bool = False,
                             file_name: str | None = None, weights_only: bool = True):
    """Load a checkpoint from ``url``, downloading it into ``get_dir()/checkpoints`` once."""
    from .vision.models._api import load_state_dict_from_url as _load  # heavy, as in get_dir

    if model_dir is None:
        model_dir = os.path.join(get_dir(), "checkpoints")
    return _load(url, model_dir, map_location, progress, check_hash, file_name, weights_only)


def _unsupported(api: str, repo_or_dir) -> NotImplementedError:
    return NotImplementedError(
        f"torch.hub.{api}({repo_or_dir!r}, ...): ember does not download and run code from hub "
        "repositories. Build the model from its Python class (torchvision's models are in "
        "ember.vision.models) and load weights with torch.hub.load_state_dict_from_url.")


def load(repo_or_dir, model, *args, source: str = "github", trust_repo=None,
         force_reload: bool = False, verbose: bool = True, skip_validation: bool = False,
         **kwargs):
    raise _unsupported("load", repo_or_dir)


def list(github, force_reload: bool = False, skip_validation: bool = False,
         trust_repo=None, verbose: bool = True):
    raise _unsupported("list", github)


def help(github, model, force_reload: bool = False, skip_validation: bool = False,
         trust_repo=None):
    raise _unsupported("help", github)
