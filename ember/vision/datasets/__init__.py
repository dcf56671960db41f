"""ember.vision.datasets: MNIST-family, CIFAR and folder datasets (torchvision's API)."""
from .cifar import CIFAR10, CIFAR100
from .fakedata import FakeData
from .folder import DatasetFolder, ImageFolder
from .mnist import EMNIST, KMNIST, MNIST, FashionMNIST
from .vision import StandardTransform, VisionDataset

__all__ = [
           "CIFAR10",
           "CIFAR100",
           "EMNIST",
           "KMNIST",
           "MNIST",
           "DatasetFolder",
           "FakeData",
           "FashionMNIST",
           "ImageFolder",
           "StandardTransform",
           "VisionDataset",
]
