"""CIFAR10 and CIFAR100 from the pickled python batches (torchvision's classes)."""
from __future__ import annotations

import os
import pickle
import tarfile
import urllib.error

import numpy as np

from .mnist import _pil
from .utils import check_integrity, download_url
from .vision import _Split

__all__ = ["CIFAR10", "CIFAR100"]


class CIFAR10(_Split):
    """CIFAR-10: 32x32 colour images in 10 classes, from ``<root>/cifar-10-batches-py``.

    ``data`` is a uint8 ndarray [N, 32, 32, 3] and ``targets`` a list of ints, as in torchvision;
    ``root=None`` means ``$EMBER_DATA`` or ``~/.cache/ember/data``.
    """

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [
        ["data_batch_1", "c99cafc152244af753f735de768cd75f"],
        ["data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"],
        ["data_batch_3", "54ebc095f3ab1f0389bbae665268c751"],
        ["data_batch_4", "634d18415352ddfa80567beed471001a"],
        ["data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"],
    ]
    test_list = [["test_batch", "40351d587109b95175f43aff81a1287e"]]
    meta = {"filename": "batches.meta", "key": "label_names",
            "md5": "5ff9c542aee3614f3951f8cda6e48888"}

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None,
                 download: bool = False) -> None:
        super().__init__(root, train, transform, target_transform, download)
        if not self._check_integrity():
            raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")
        downloaded_list = self.train_list if self.train else self.test_list
        data, targets = [], []
        for file_name, _checksum in downloaded_list:
            with open(os.path.join(self.root, self.base_folder, file_name), "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            data.append(entry["data"])
            targets.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
        self.data = np.vstack(data).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1))  # HWC
        self.targets = targets
        self._load_meta()

    def _load_meta(self) -> None:
        path = os.path.join(self.root, self.base_folder, self.meta["filename"])
        if not check_integrity(path, self.meta["md5"]):
            raise RuntimeError("Dataset metadata file not found or corrupted. You can use "
                               "download=True to download it")
        with open(path, "rb") as infile:
            data = pickle.load(infile, encoding="latin1")
        self.classes = data[self.meta["key"]]
        self.class_to_idx = {_class: i for i, _class in enumerate(self.classes)}

    def __getitem__(self, index):
        img, target = self.data[index], self.targets[index]
        img = _pil().fromarray(img)
        return self._transformed(img, target)

    def __len__(self) -> int:
        return len(self.data)

    def _check_integrity(self) -> bool:
        for filename, md5 in self.train_list + self.test_list:
            if not check_integrity(os.path.join(self.root, self.base_folder, filename), md5):
                return False
        return True

    def download(self) -> None:
        """Fetch and unpack the archive (MD5-checked) unless the batches are already here."""
        if self._check_integrity():
            return
        try:
            print(f"Downloading {self.url}")
            path = download_url(self.url, self.root, self.filename, self.tgz_md5)
        except (urllib.error.URLError, OSError, RuntimeError) as error:
            raise RuntimeError(
                f"Error downloading {self.url}: {error}\nWithout network access, download it "
                f"elsewhere and unpack it so that {os.path.join(self.root, self.base_folder)} "
                f"holds {', '.join(n for n, _ in self.train_list + self.test_list)} and "
                f"{self.meta['filename']}.") from None
        with tarfile.open(path, "r:gz") as tar:
            tar.extractall(path=self.root, filter="data")


class CIFAR100(CIFAR10):
    """CIFAR-100: like CIFAR10 with 100 fine classes."""

    base_folder = "cifar-100-python"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list = [["train", "16019d7e3df5f24257cddd939b257f8d"]]
    test_list = [["test", "f0ef6b0ae62326f3e7ffdfab6717acfc"]]
    meta = {"filename": "meta", "key": "fine_label_names", "md5": "7973b15100ade9c7d40fb424638fde48"}
