"""Sample-level datasets (Sec. 3): each source image is its own class, its augmentations the samples.

The paper measures how well a representation separates *augmentations of the same image* from
those of other images ("sample-level" classes, Fig. 1 top, Fig. 2 right). :func:`make_sample_level`
builds that label set: ``K`` random training images, each augmented ``A`` times for the train
split and ``B`` times for the test split with the App. A.1 protocol (without the final
normalization, rounded back to uint8 so the result is an ordinary :class:`ImageSet`).
"""
from __future__ import annotations

import torch

from .augment import BatchSSLAugment, to_uint8
from .base import DataError, DataSplits, ImageSet

__all__ = ["make_sample_level"]


def make_sample_level(
    train: ImageSet,
    n_images: int = 500,
    n_train_aug: int = 100,
    n_test_aug: int = 20,
    seed: int = 0,
    image_size: int = 32,
    *,
    batch_size: int = 4096,
) -> DataSplits:
    """Sample-level train/test sets from ``n_images`` random images of ``train``.

    Returns ``DataSplits`` with ``n_images * n_train_aug`` train and ``n_images * n_test_aug`` test
    images ``(., 3, image_size, image_size) uint8``; ``labels`` = index ``0..K-1`` of the source
    image, ``superlabels`` = the source image's class; class names ``"sample<k>"``, superclass
    names = ``train.class_names``. Images are ordered source-major (all views of image 0 first).
    Same arguments -> identical bytes.
    """
    if not isinstance(train, ImageSet):
        raise DataError(f"train must be an ImageSet, got {type(train).__name__}")
    if not 1 <= n_images <= len(train):
        raise DataError(f"n_images must be in 1..{len(train)} (images in {train.name!r}), got {n_images}")
    if n_train_aug < 1 or n_test_aug < 1:
        raise DataError(f"n_train_aug and n_test_aug must be >= 1, got {n_train_aug} and {n_test_aug}")
    g = torch.Generator().manual_seed(int(seed))
    src = torch.randperm(len(train), generator=g)[:n_images]  # (K,) chosen source images
    aug = BatchSSLAugment(image_size=image_size, normalize=False)

    def views(n_aug: int, split: str) -> ImageSet:
        idx = src.repeat_interleave(n_aug)  # (K * n_aug,) source-major
        out = torch.empty(idx.numel(), 3, image_size, image_size, dtype=torch.uint8)
        for s in range(0, idx.numel(), batch_size):
            part = idx[s : s + batch_size]
            out[s : s + part.numel()] = to_uint8(aug(train.images[part], g))
        return ImageSet(
            images=out,
            labels=torch.arange(n_images, dtype=torch.int64).repeat_interleave(n_aug),
            superlabels=train.labels[idx].clone(),
            class_names=tuple(f"sample{k}" for k in range(n_images)),
            superclass_names=train.class_names,
            name=f"{train.name.split('/')[0]}/samples-{split}",
        )

    return DataSplits(train=views(n_train_aug, "train"), test=views(n_test_aug, "test"))
