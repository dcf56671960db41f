"""MNIST, FashionMNIST, KMNIST and EMNIST from their raw IDX files (torchvision's classes)."""
from __future__ import annotations

import os
import string
import urllib.error
import warnings
import zipfile

import numpy as np

from ..._tensor import _make
from .utils import calculate_md5, download_url, read_idx, verify_str_arg
from .vision import _Split

__all__ = ["EMNIST", "KMNIST", "MNIST", "FashionMNIST"]

_IMAGES_MAGIC = 0x00000803  # IDX, unsigned bytes, 3 dimensions
_LABELS_MAGIC = 0x00000801  # IDX, unsigned bytes, 1 dimension

_Image = None


def _pil():
    global _Image
    if _Image is None:
        try:
            from PIL import Image  # Pillow: optional
        except ImportError:  # pragma: no cover - Pillow is the `vision` extra
            raise ImportError("ember.vision datasets return PIL images: pip install pillow "
                              "(or ember[vision])") from None
        _Image = Image
    return _Image


def _idx_files(*md5s: str) -> list[tuple[str, str]]:
    """MNIST's four gzip files (train and t10k images and labels) with their MD5s."""
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return list(zip(names, md5s))


def _renamed_attribute(old: str, new: str) -> property:
    """torchvision's deprecated name ``old`` for ``new``: it warns, then reads ``new``."""
    def get(self):
        warnings.warn(f"{old} has been renamed {new}")
        return getattr(self, new)

    return property(get)


class MNIST(_Split):
    """The MNIST digits, read from ``<root>/MNIST/raw/*-idx?-ubyte[.gz]``.

    ember extension: ``root=None`` means ``$EMBER_DATA``, else ``~/.cache/ember/data``. With
    ``download=True`` an offline copy under ``$EMBER_DATA`` is used in place (no copy, no
    network) before the mirrors are tried.
    """

    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    resources = _idx_files("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                           "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")
    training_file = "training.pt"
    test_file = "test.pt"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]

    train_labels = _renamed_attribute("train_labels", "targets")
    test_labels = _renamed_attribute("test_labels", "targets")
    train_data = _renamed_attribute("train_data", "data")
    test_data = _renamed_attribute("test_data", "data")

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None,
                 download: bool = False) -> None:
        self._raw_override = None  # download() may point raw_folder at $EMBER_DATA's copy
        super().__init__(root, train, transform, target_transform, download)
        if not self._check_exists():
            raise RuntimeError("Dataset not found. You can use download=True to download it")
        self.data, self.targets = self._load_data()

    # ---- files -------------------------------------------------------------------------------
    @property
    def raw_folder(self) -> str:
        if self._raw_override is not None:
            return self._raw_override
        return os.path.join(self.root, self.__class__.__name__, "raw")

    @property
    def processed_folder(self) -> str:
        return os.path.join(self.root, self.__class__.__name__, "processed")

    @property
    def class_to_idx(self) -> dict:
        return {_class: i for i, _class in enumerate(self.classes)}

    def _required(self) -> list[str]:
        """The raw file names (without .gz) that must exist."""
        return [os.path.splitext(name)[0] for name, _ in self.resources]

    def _split_files(self) -> tuple[str, str]:
        prefix = "train" if self.train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    @staticmethod
    def _find(folder: str, name: str) -> str | None:
        """``folder/name`` uncompressed or gzip-compressed, whichever exists."""
        for candidate in (name, name + ".gz"):
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                return path
        return None

    def _check_exists(self, folder: str | None = None) -> bool:
        folder = self.raw_folder if folder is None else folder
        return all(self._find(folder, name) is not None for name in self._required())

    def _load_data(self):
        image_name, label_name = self._split_files()
        data = read_idx(self._find(self.raw_folder, image_name), _IMAGES_MAGIC)
        targets = read_idx(self._find(self.raw_folder, label_name), _LABELS_MAGIC)
        if len(data) != len(targets):
            raise RuntimeError(f"{self.raw_folder}: {image_name} holds {len(data)} images but "
                               f"{label_name} holds {len(targets)} labels")
        return _make(data, False, None, 0), _make(targets.astype(np.int64), False, None, 0)

    # ---- download ----------------------------------------------------------------------------
    def _offline_copy(self) -> str | None:
        """``$EMBER_DATA/<Name>/raw`` when it holds every file (gzip ones with the right MD5)."""
        env = os.environ.get("EMBER_DATA")
        if not env:
            return None
        folder = os.path.join(os.path.abspath(os.path.expanduser(env)),
                              self.__class__.__name__, "raw")
        if os.path.abspath(folder) == os.path.abspath(self.raw_folder) or \
                not self._check_exists(folder):
            return None
        md5s = dict(self.resources)
        for name in self._required():
            path = self._find(folder, name)
            if path.endswith(".gz") and name + ".gz" in md5s and \
                    calculate_md5(path) != md5s[name + ".gz"]:
                return None
        return folder

    def download(self) -> None:
        """Fetch the raw files (MD5-checked) unless they are here or in ``$EMBER_DATA``."""
        if self._check_exists():
            return
        offline = self._offline_copy()
        if offline is not None:
            self._raw_override = offline
            return
        os.makedirs(self.raw_folder, exist_ok=True)
        self._fetch()

    def _fetch(self) -> None:
        """Each missing raw file from the first mirror that serves it."""
        for filename, md5 in self.resources:
            if self._find(self.raw_folder, os.path.splitext(filename)[0]) is not None:
                continue
            failures = []
            for mirror in self.mirrors:
                url = f"{mirror}{filename}"
                try:
                    print(f"Downloading {url}")
                    download_url(url, self.raw_folder, filename=filename, md5=md5)
                except (urllib.error.URLError, OSError, RuntimeError) as error:
                    print(f"Failed to download (trying next):\n{error}")
                    failures.append(f"{url}: {error}")
                    continue
                break
            else:
                raise RuntimeError(self._download_error(filename, failures))

    def _download_error(self, filename, failures) -> str:
        names = "\n".join(f"    {os.path.join(self.raw_folder, name)}  (MD5 {md5})"
                          for name, md5 in self.resources)
        tried = "\n".join(f"    {f}" for f in failures)
        return (f"Error downloading {filename}: every mirror failed:\n{tried}\n"
                f"Without network access, download the files elsewhere and place them (gzip-"
                f"compressed or not) at:\n{names}\n"
                f"or set EMBER_DATA to a directory holding {self.__class__.__name__}/raw/.")

    # ---- samples -----------------------------------------------------------------------------
    def __getitem__(self, index):
        img, target = self.data._data[index], int(self.targets._data[index])
        img = _pil().fromarray(img)  # mode "L" (uint8, 2-D): the PIL image torchvision returns
        return self._transformed(img, target)

    def __len__(self) -> int:
        return len(self.data)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 greyscale clothes in 10 classes, MNIST's file layout."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = _idx_files("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                           "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


class KMNIST(MNIST):
    """Kuzushiji-MNIST: cursive Japanese characters, MNIST's file layout."""

    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = _idx_files("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
                           "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134")
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


class EMNIST(MNIST):
    """EMNIST (``split=`` byclass, bymerge, balanced, letters, digits or mnist)."""

    url = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
    md5 = "58c8d27c78d21e728a6bc7b3cc06412e"
    splits = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
    _merged_classes = {"c", "i", "j", "k", "l", "m", "o", "p", "s", "u", "v", "w", "x", "y", "z"}
    _all_classes = set(string.digits + string.ascii_letters)
    classes_split_dict = {
        "byclass": sorted(_all_classes),
        "bymerge": sorted(_all_classes - _merged_classes),
        "balanced": sorted(_all_classes - _merged_classes),
        "letters": ["N/A"] + list(string.ascii_lowercase),
        "digits": list(string.digits),
        "mnist": list(string.digits),
    }

    def __init__(self, root=None, split: str = None, **kwargs) -> None:
        self.split = verify_str_arg(split, "split", self.splits)
        self.training_file = f"training_{split}.pt"
        self.test_file = f"test_{split}.pt"
        super().__init__(root, **kwargs)
        self.classes = self.classes_split_dict[self.split]

    @property
    def _file_prefix(self) -> str:
        return f"emnist-{self.split}-{'train' if self.train else 'test'}"

    def _split_files(self):
        return f"{self._file_prefix}-images-idx3-ubyte", f"{self._file_prefix}-labels-idx1-ubyte"

    def _required(self):
        return list(self._split_files())

    @property
    def images_file(self) -> str:
        return os.path.join(self.raw_folder, self._split_files()[0])

    @property
    def labels_file(self) -> str:
        return os.path.join(self.raw_folder, self._split_files()[1])

    def _offline_copy(self):
        env = os.environ.get("EMBER_DATA")
        if not env:
            return None
        folder = os.path.join(os.path.abspath(os.path.expanduser(env)), "EMNIST", "raw")
        return folder if self._check_exists(folder) else None

    def _fetch(self) -> None:
        """NIST's gzip.zip, its .gz members unpacked into the raw folder."""
        try:
            print(f"Downloading {self.url}")
            path = download_url(self.url, self.raw_folder, md5=self.md5)
        except (urllib.error.URLError, OSError, RuntimeError) as error:
            raise RuntimeError(
                f"Error downloading {self.url}: {error}\nWithout network access, download it "
                f"elsewhere and unpack the emnist-*-idx?-ubyte.gz files of its gzip/ folder into "
                f"{self.raw_folder}") from None
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                if member.endswith(".gz"):
                    target = os.path.join(self.raw_folder, os.path.basename(member))
                    tmp = target + ".part"
                    with zf.open(member) as src, open(tmp, "wb") as dst:
                        while chunk := src.read(1 << 20):
                            dst.write(chunk)
                    os.replace(tmp, target)
        os.unlink(path)
