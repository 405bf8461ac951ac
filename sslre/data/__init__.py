"""Data layer: in-memory uint8 image sets, dataset loaders, SSL augmentations, sample-level sets.

Entry points: :func:`load_dataset` (by name) and :func:`load_dataset_for` (from a
:class:`sslre.config.Config`). Loaders for real datasets live in their own modules
(``cifar``, ``food101``, ``imagefolder``) and are imported only when used.
"""
from __future__ import annotations

import os
from typing import Any

from .base import DataError, DatasetNotFoundError, DataSplits, ImageSet, balanced_subset, default_data_root

__all__ = [
    "ImageSet",
    "DataSplits",
    "DataError",
    "DatasetNotFoundError",
    "load_dataset",
    "load_dataset_for",
    "make_sample_level",
    "DATASET_NAMES",
]

DATASET_NAMES = ("synthetic", "cifar10", "cifar100", "food101", "cifar10-jpeg", "imagefolder:<path>")


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    train_subset: int = 0,
    test_subset: int = 0,
    seed: int = 0,
    download: bool = False,
    image_size: int = 32,
    **kw: Any,
) -> DataSplits:
    """Load dataset ``name`` as uint8 train/test :class:`ImageSet` s.

    ``name``: ``synthetic`` | ``cifar10`` | ``cifar100`` | ``food101`` | ``cifar10-jpeg`` |
    ``imagefolder:<path>``. ``root``: where datasets live (else ``$SSLRE_DATA``, else
    ``~/.cache/sslre/data``). ``train_subset`` / ``test_subset`` > 0 keep that many images,
    class-balanced and deterministic for ``seed``. ``download`` lets torchvision fetch
    CIFAR/Food-101 when missing. Synthetic options in ``kw``: ``n_train`` (10000), ``n_test``
    (2000), ``n_classes`` (10), ``n_superclasses`` (2); ``hierarchy`` (a hierarchy file, :mod:`sslre.data.hierarchy`) and
    ``allow_external_symlinks`` (follow links out of the tree; refused by default) for
    ``imagefolder:``. A dataset not on disk raises :class:`DatasetNotFoundError` saying where it
    looked and how to get it.
    """
    if not isinstance(name, str) or not name:
        raise DataError(f"dataset name must be a non-empty string, got {name!r}; known: {', '.join(DATASET_NAMES)}")
    if train_subset < 0 or test_subset < 0:
        raise DataError(f"train_subset/test_subset must be >= 0 (0 = all), got {train_subset}/{test_subset}")
    key = name.lower()
    if key == "synthetic":
        from .synthetic import synthetic_splits

        allowed = {"n_train", "n_test", "n_classes", "n_superclasses"}
        _reject_unknown(name, kw, allowed)
        # Generate only what the subsets keep: the synthetic classes are balanced by construction.
        n_train = kw.get("n_train", 10000)
        n_test = kw.get("n_test", 2000)
        splits = synthetic_splits(
            n_train=train_subset or n_train,
            n_test=test_subset or n_test,
            n_classes=kw.get("n_classes", 10),
            n_superclasses=kw.get("n_superclasses", 2),
            seed=seed,
            image_size=image_size,
        )
        return splits
    root_path = default_data_root(root)
    if key in ("cifar10", "cifar100"):
        from .cifar import load_cifar

        _reject_unknown(name, kw, set())
        splits = load_cifar(key, root_path, download=download, image_size=image_size)
    elif key == "food101":
        from .food101 import load_food101

        _reject_unknown(name, kw, set())
        splits = load_food101(root_path, download=download, image_size=image_size)
    elif key == "cifar10-jpeg":
        from .imagefolder import load_cifar10_jpeg

        _reject_unknown(name, kw, {"archive"})
        splits = load_cifar10_jpeg(root_path, archive=kw.get("archive"), image_size=image_size)
    elif key.startswith("imagefolder:"):
        from .imagefolder import load_imagefolder

        _reject_unknown(name, kw, {"hierarchy", "allow_external_symlinks"})
        path = name.split(":", 1)[1]
        if not path:
            raise DataError("imagefolder dataset needs a path: 'imagefolder:/path/to/tree'")
        splits = load_imagefolder(path, hierarchy=kw.get("hierarchy"), image_size=image_size,
                                  allow_external_symlinks=bool(kw.get("allow_external_symlinks", False)))
    else:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
    return subset_splits(splits, train_subset, test_subset, seed)


def subset_splits(splits: DataSplits, train_subset: int, test_subset: int, seed: int) -> DataSplits:
    """Class-balanced seeded subsets of both splits (0 = keep all)."""
    train, test = splits.train, splits.test
    if train_subset:
        train = train.subset(balanced_subset(train.labels, train_subset, seed))
    if test_subset:
        # A different stream for the test split so its choice does not mirror the train choice.
        test = test.subset(balanced_subset(test.labels, test_subset, seed + 1_000_003))
    return DataSplits(train=train, test=test)


def load_dataset_for(config: Any, *, download: bool = False) -> DataSplits:
    """:func:`load_dataset` with the data fields of a :class:`sslre.config.Config`."""
    kw: dict[str, Any] = {}
    if config.dataset == "synthetic":
        kw = dict(n_classes=config.synthetic_classes, n_superclasses=config.synthetic_superclasses)
    elif getattr(config, "hierarchy", ""):
        kw = dict(hierarchy=config.hierarchy)  # Config allows it for imagefolder: only
    return load_dataset(
        config.dataset,
        config.data_root or None,
        train_subset=config.train_subset,
        test_subset=config.test_subset,
        seed=0,  # subsets are "chosen by seed 0 per class" (Config.train_subset), whatever the run seed
        download=download,
        image_size=config.image_size,
        **kw,
    )


def make_sample_level(*args: Any, **kwargs: Any) -> DataSplits:
    """See :func:`sslre.data.samples.make_sample_level`."""
    from .samples import make_sample_level as _impl

    return _impl(*args, **kwargs)


def _reject_unknown(name: str, kw: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise DataError(
            f"unknown option(s) {unknown} for dataset {name!r}; allowed: {sorted(allowed) or 'none'}"
        )
