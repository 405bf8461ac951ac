"""In-memory image sets: the one data type every later stage consumes.

An :class:`ImageSet` holds a whole split as one ``uint8`` tensor ``(N, 3, H, W)``
(not normalized; augmentations and normalization happen per batch on the
training device), the fine labels, the superclass labels and their names.
The paper measures clustering at several hierarchies (Sec. 3: samples, classes,
superclasses), so every set carries both label levels.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

__all__ = ["ImageSet", "DataSplits", "DatasetNotFoundError", "DataError", "default_data_root", "balanced_subset"]


class DataError(ValueError):
    """Data given to the data layer is malformed; the message names the field and the problem."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not on disk; the message says where it looked and how to get it."""


def uint8_images_problem(images, batch: str = "B") -> tuple[str, str] | None:
    """What is wrong with ``images`` as a uint8 ``(batch, 3, H, W)`` image tensor: ``("type" | "shape", message)``,
    or ``None``. One check for the data sets and the augmentations, each raising its own error class."""
    if not isinstance(images, torch.Tensor):
        return "type", f"must be a torch.Tensor, got {type(images).__name__}"
    if images.dtype != torch.uint8:
        return "type", f"must be torch.uint8 (0..255, not normalized), got {images.dtype}"
    if images.ndim != 4 or images.shape[1] != 3:
        return "shape", f"must have shape ({batch}, 3, H, W), got {tuple(images.shape)}"
    return None


@dataclass(frozen=True)
class ImageSet:
    """One split of a labelled image dataset, held in memory.

    Attributes:
        images: ``(N, 3, H, W)`` ``torch.uint8``, RGB, values 0..255, not normalized.
        labels: ``(N,)`` ``torch.int64`` class ids in ``0..len(class_names)-1``.
        superlabels: ``(N,)`` ``torch.int64`` superclass ids in ``0..len(superclass_names)-1``.
        class_names: one name per class id.
        superclass_names: one name per superclass id.
        name: dataset name plus split, e.g. ``"cifar100/train"``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    superlabels: torch.Tensor
    class_names: tuple[str, ...]
    superclass_names: tuple[str, ...]
    name: str

    def __post_init__(self) -> None:
        imgs, y, sy = self.images, self.labels, self.superlabels
        for field_name, t in (("labels", y), ("superlabels", sy)):
            if not isinstance(t, torch.Tensor):
                raise DataError(f"ImageSet {self.name!r}: {field_name} must be a torch.Tensor, got {type(t).__name__}")
        problem = uint8_images_problem(imgs, "N")
        if problem:
            raise DataError(f"ImageSet {self.name!r}: images {problem[1]}")
        n = imgs.shape[0]
        for field_name, t in (("labels", y), ("superlabels", sy)):
            if t.dtype != torch.int64:
                raise DataError(f"ImageSet {self.name!r}: {field_name} must be torch.int64, got {t.dtype}")
            if t.shape != (n,):
                raise DataError(
                    f"ImageSet {self.name!r}: {field_name} must have shape ({n},) to match images, got {tuple(t.shape)}"
                )
        # Tuples keep the dataclass hashable-ish and immutable; accept lists from callers.
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "superclass_names", tuple(str(c) for c in self.superclass_names))
        for field_name, t, names in (
            ("labels", y, self.class_names),
            ("superlabels", sy, self.superclass_names),
        ):
            if n and (int(t.min()) < 0 or int(t.max()) >= len(names)):
                raise DataError(
                    f"ImageSet {self.name!r}: {field_name} range [{int(t.min())}, {int(t.max())}] lies outside "
                    f"0..{len(names) - 1} ({len(names)} names)"
                )
        if n:
            # Every class must map to exactly one superclass, otherwise the hierarchy is not a hierarchy.
            pairs = torch.unique(torch.stack([y, sy], 1), dim=0)  # (P, 2) distinct (class, superclass) pairs
            if torch.unique(pairs[:, 0]).numel() != pairs.shape[0]:
                raise DataError(f"ImageSet {self.name!r}: some class appears under more than one superclass")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_size(self) -> int:
        """Side length in pixels (images are square in every loader here)."""
        return int(self.images.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_superclasses(self) -> int:
        return len(self.superclass_names)

    @property
    def has_hierarchy(self) -> bool:
        """Whether the superclass level groups classes (fewer superclasses than classes).

        ``False`` for an ImageFolder tree loaded without a hierarchy file (every class its own superclass:
        superlabels = labels): the superclass level then repeats the class level and the superclass claims do not
        apply. ``True`` for CIFAR-10/100, Food-101 (their published groupings) and the synthetic set with
        ``n_superclasses < n_classes``.
        """
        return self.num_superclasses < self.num_classes

    def class_to_superclass(self) -> torch.Tensor:
        """``(C,)`` int64: superclass id of each class id (-1 for classes absent from this set)."""
        out = torch.full((self.num_classes,), -1, dtype=torch.int64)
        out[self.labels] = self.superlabels
        return out

    def subset(self, indices: Sequence[int] | torch.Tensor) -> "ImageSet":
        """The images at ``indices`` (in that order), names kept."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        if idx.ndim != 1:
            raise DataError(f"subset indices must be 1-D, got shape {tuple(idx.shape)}")
        if idx.numel() and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise DataError(f"subset indices out of range for ImageSet {self.name!r} of length {len(self)}")
        return ImageSet(
            images=self.images[idx],
            labels=self.labels[idx],
            superlabels=self.superlabels[idx],
            class_names=self.class_names,
            superclass_names=self.superclass_names,
            name=self.name,
        )


@dataclass(frozen=True)
class DataSplits:
    """The train and test split of one dataset."""

    train: ImageSet
    test: ImageSet


def default_data_root(root: str | os.PathLike | None = None) -> Path:
    """Root resolution: the argument, else ``$SSLRE_DATA``, else ``~/.cache/sslre/data``."""
    if root:
        return Path(root).expanduser()
    env = os.environ.get("SSLRE_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "sslre" / "data"


def balanced_subset(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of a class-balanced random subset of ``n`` items, deterministic for ``seed``.

    Each class gets ``n // C`` items; the remaining ``n % C`` go one each to the
    first classes in a seeded random class order. ``n <= 0`` or ``n >= len(labels)``
    returns all indices. Classes with too few items give all of theirs and the
    shortfall is filled from the other classes. Returned indices are sorted.
    """
    total = labels.shape[0]
    if n <= 0 or n >= total:
        return torch.arange(total)
    g = torch.Generator().manual_seed(int(seed))
    classes = torch.unique(labels)
    order = classes[torch.randperm(classes.numel(), generator=g)]
    per_class = {int(c): torch.nonzero(labels == c).flatten() for c in classes}
    # Shuffle each class's pool once; taking prefixes keeps subsets nested as n grows.
    pools = {c: idx[torch.randperm(idx.numel(), generator=g)] for c, idx in per_class.items()}
    quota = {int(c): n // classes.numel() for c in classes}
    for c in order[: n % classes.numel()]:
        quota[int(c)] += 1
    # Redistribute quota from classes that are too small, round-robin over the others.
    deficit = sum(max(0, quota[c] - pools[c].numel()) for c in quota)
    quota = {c: min(q, pools[c].numel()) for c, q in quota.items()}
    while deficit > 0:
        progressed = False
        for c in order.tolist():
            if deficit and quota[c] < pools[c].numel():
                quota[c] += 1
                deficit -= 1
                progressed = True
        if not progressed:
            break
    chosen = torch.cat([pools[c][: quota[c]] for c in sorted(quota)])
    return torch.sort(chosen).values
