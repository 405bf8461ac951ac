"""CIFAR-10 and CIFAR-100 from torchvision's on-disk format, with their superclass hierarchies.

The files are torchvision's (``<root>/cifar-10-batches-py/`` and ``<root>/cifar-100-python/``:
pickled batches). They are read directly with :mod:`pickle` rather than through
``torchvision.datasets.CIFAR*`` so that any file set in that layout loads (torchvision insists on
the official md5 sums); torchvision is used to *download* them when ``download=True``.

Hierarchies:

* CIFAR-100: the standard fixed 20 superclasses ("coarse labels") of 5 classes each
  (:data:`CIFAR100_SUPERCLASSES`, Sec. 3 of the paper: 'fish' = aquarium_fish, flatfish, ray,
  shark, trout).
* CIFAR-10: animal vs vehicle (App. B.2): vehicle = airplane, automobile, ship, truck.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .base import DataError, DatasetNotFoundError, DataSplits, ImageSet

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_SUPERCLASSES",
    "CIFAR100_CLASSES",
    "CIFAR100_SUPERCLASSES",
    "cifar100_fine_to_coarse",
    "load_cifar",
]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_SUPERCLASSES = {
    "animal": ("bird", "cat", "deer", "dog", "frog", "horse"),
    "vehicle": ("airplane", "automobile", "ship", "truck"),
}

# Fine class names in CIFAR-100's label order (alphabetical).
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)

# The 20 CIFAR-100 superclasses in coarse-label order, each with its 5 fine classes (Krizhevsky 2009).
CIFAR100_SUPERCLASSES = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}

_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def _mapping(classes: tuple[str, ...], groups: dict[str, tuple[str, ...]]) -> torch.Tensor:
    """(C,) int64 superclass id per class id from a superclass -> classes table."""
    out = torch.full((len(classes),), -1, dtype=torch.int64)
    for s, members in enumerate(groups.values()):
        for m in members:
            out[classes.index(m)] = s
    if (out < 0).any():
        missing = [classes[i] for i in torch.nonzero(out < 0).flatten().tolist()]
        raise AssertionError(f"classes without a superclass: {missing}")  # a table bug, caught by tests
    return out


def cifar100_fine_to_coarse() -> torch.Tensor:
    """``(100,)`` int64: the coarse (superclass) label of each CIFAR-100 fine label."""
    return _mapping(CIFAR100_CLASSES, CIFAR100_SUPERCLASSES)


def cifar10_to_super() -> torch.Tensor:
    """``(10,)`` int64: 0 animal, 1 vehicle for each CIFAR-10 label."""
    return _mapping(CIFAR10_CLASSES, CIFAR10_SUPERCLASSES)


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        # latin1 decodes the Python-2 pickles of the official archives into str keys.
        return pickle.load(f, encoding="latin1")


def _to_images(data: np.ndarray, path: Path) -> torch.Tensor:
    arr = np.asarray(data, dtype=np.uint8)
    if arr.ndim != 2 or arr.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: 'data' must have shape (N, 3072), got {arr.shape}")
    return torch.from_numpy(arr.reshape(-1, 3, 32, 32).copy())  # (N, 3, 32, 32) channel-major rows


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size:
        return images
    x = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round_().clamp_(0, 255).to(torch.uint8)


def load_cifar(name: str, root: Path, *, download: bool = False, image_size: int = 32) -> DataSplits:
    """CIFAR-10 (``name="cifar10"``) or CIFAR-100 (``"cifar100"``) from ``root``; see the module doc."""
    if name not in _FOLDERS:
        raise DataError(f"load_cifar: name must be 'cifar10' or 'cifar100', got {name!r}")
    folder = Path(root) / _FOLDERS[name]
    if not folder.is_dir() and download:
        import torchvision

        cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
        cls(str(root), train=True, download=True)
    if not folder.is_dir():
        raise DatasetNotFoundError(
            f"{name} not found: looked for {folder}. Pass download=True (needs a network) or put torchvision's "
            f"'{_FOLDERS[name]}' folder under the data root (argument root, $SSLRE_DATA or ~/.cache/sslre/data)."
        )
    if name == "cifar10":
        train_files = [folder / f"data_batch_{k}" for k in range(1, 6)]
        test_files = [folder / "test_batch"]
        label_key, classes, sup_names, to_super = "labels", CIFAR10_CLASSES, tuple(CIFAR10_SUPERCLASSES), cifar10_to_super()
    else:
        train_files, test_files = [folder / "train"], [folder / "test"]
        label_key, classes, sup_names = "fine_labels", CIFAR100_CLASSES, tuple(CIFAR100_SUPERCLASSES)
        to_super = cifar100_fine_to_coarse()

    def read(files: list[Path], split: str) -> ImageSet:
        imgs, labels = [], []
        for p in files:
            if not p.is_file():
                raise DatasetNotFoundError(
                    f"{name}: file {p} is missing (incomplete download?). Delete {folder} and pass download=True, "
                    "or copy the complete torchvision folder there."
                )
            d = _unpickle(p)
            if "data" not in d or label_key not in d:
                raise DataError(f"{p}: not a {name} batch (keys {sorted(d)[:6]}; need 'data' and {label_key!r})")
            imgs.append(_to_images(d["data"], p))
            labels.append(torch.as_tensor(d[label_key], dtype=torch.int64))
        y = torch.cat(labels)
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= len(classes)):
            raise DataError(f"{name}/{split}: labels outside 0..{len(classes) - 1}")
        return ImageSet(
            images=_resize(torch.cat(imgs), image_size),
            labels=y,
            superlabels=to_super[y],
            class_names=classes,
            superclass_names=sup_names,
            name=f"{name}/{split}",
        )

    return DataSplits(train=read(train_files, "train"), test=read(test_files, "test"))
