"""FakeData: random images, the same for a given index and offset on every run (torchvision's)."""
from __future__ import annotations

from ... import _random
from ..transforms import ToPILImage
from .vision import VisionDataset


class FakeData(VisionDataset):
    """``size`` images of ``image_size`` (C, H, W) as PIL images, with a class in [0, num_classes).

    Image ``i`` is drawn from the generator seeded with ``i + random_offset``; the global RNG
    state is restored afterwards.
    """

    def __init__(self, size: int = 1000, image_size=(3, 224, 224), num_classes: int = 10,
                 transform=None, target_transform=None, random_offset: int = 0) -> None:
        super().__init__(None, transform=transform, target_transform=target_transform)
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.random_offset = random_offset

    def __getitem__(self, index: int):
        if index >= len(self):
            raise IndexError(f"{self.__class__.__name__} index out of range")
        rng_state = _random.get_rng_state()
        _random.manual_seed(index + self.random_offset)
        img = _random.randn(*self.image_size)
        target = _random.randint(0, self.num_classes, size=(1,))[0]
        _random.set_rng_state(rng_state)
        img = ToPILImage()(img)
        img, target = self._transformed(img, target)
        return img, target.item()

    def __len__(self) -> int:
        return self.size
