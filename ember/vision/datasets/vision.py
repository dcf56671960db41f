"""VisionDataset: the base of ember.vision's datasets (root, transforms, torchvision's repr)."""
from __future__ import annotations

import os

from ...utils.data import Dataset
from .utils import default_root


class VisionDataset(Dataset):
    """A dataset under ``root`` with an optional ``transform``/``target_transform`` (or joint ``transforms``)."""

    _repr_indent = 4

    def __init__(self, root=None, transforms=None, transform=None, target_transform=None) -> None:
        if isinstance(root, str):
            root = os.path.expanduser(root)
        self.root = root
        has_transforms = transforms is not None
        has_separate_transform = transform is not None or target_transform is not None
        if has_transforms and has_separate_transform:
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        self.transform = transform
        self.target_transform = target_transform
        if has_separate_transform:
            transforms = StandardTransform(transform, target_transform)
        self.transforms = transforms

    def __getitem__(self, index):
        raise NotImplementedError

    def _transformed(self, sample, target):
        """``transform(sample), target_transform(target)``, each only where it is set."""
        return StandardTransform(self.transform, self.target_transform)(sample, target)

    def __len__(self) -> int:
        raise NotImplementedError

    def __repr__(self) -> str:
        head = "Dataset " + self.__class__.__name__
        body = [f"Number of datapoints: {self.__len__()}"]
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body += self.extra_repr().splitlines()
        if hasattr(self, "transforms") and self.transforms is not None:
            body += [repr(self.transforms)]
        lines = [head] + [" " * self._repr_indent + line for line in body]
        return "\n".join(lines)

    def _format_transform_repr(self, transform, head):
        return _format_transform_repr(transform, head)

    def extra_repr(self) -> str:
        return ""


def _format_transform_repr(transform, head):
    """repr(transform) after ``head``, its later lines indented to line up."""
    lines = transform.__repr__().splitlines()
    return [f"{head}{lines[0]}"] + ["{}{}".format(" " * len(head), line) for line in lines[1:]]


class StandardTransform:
    """Applies ``transform`` to the input and ``target_transform`` to the target."""

    def __init__(self, transform=None, target_transform=None) -> None:
        self.transform = transform
        self.target_transform = target_transform

    def __call__(self, input, target):
        if self.transform is not None:
            input = self.transform(input)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return input, target

    def _format_transform_repr(self, transform, head):
        return _format_transform_repr(transform, head)

    def __repr__(self) -> str:
        body = [self.__class__.__name__]
        if self.transform is not None:
            body += self._format_transform_repr(self.transform, "Transform: ")
        if self.target_transform is not None:
            body += self._format_transform_repr(self.target_transform, "Target transform: ")
        return "\n".join(body)


class _Split(VisionDataset):
    """A train or test split under ``root`` (None: :func:`default_root`), fetched first when
    ``download`` (MNIST, CIFAR)."""

    def __init__(self, root, train: bool, transform, target_transform, download: bool) -> None:
        super().__init__(default_root() if root is None else root, transform=transform,
                         target_transform=target_transform)
        self.train = train
        if download:
            self.download()

    def download(self) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        split = "Train" if self.train is True else "Test"
        return f"Split: {split}"
