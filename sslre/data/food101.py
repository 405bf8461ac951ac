"""Food-101 (App. B.2) from torchvision's on-disk layout, resized to ``image_size``.

Layout (what ``torchvision.datasets.Food101`` downloads): ``<root>/food-101/images/<class>/<id>.jpg``
with ``<root>/food-101/meta/{train,test}.json`` (class -> ["<class>/<id>", ...]) and
``meta/classes.txt``. 75,750 train / 25,250 test images, 101 classes.

Images (up to 512 px) are resized with the shorter side to ``image_size`` and centre-cropped, then
cached as ``<root>/food101-<S>px.pt`` (atomic write), because decoding 101,000 JPEGs takes minutes.

Hierarchy: Food-101 has none and the paper uses none for it (it reports sample-level and class
NCC only, Fig. 9), so every class is its own superclass (``superlabels == labels``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from sslre import io

from .base import DataError, DatasetNotFoundError, DataSplits, ImageSet

from .imagefolder import _fit, read_rgb

__all__ = ["load_food101"]

_CACHE_VERSION = 1


def load_food101(root: str | os.PathLike, *, download: bool = False, image_size: int = 32) -> DataSplits:
    """Food-101 train/test as uint8 ``ImageSet`` s of ``image_size`` px; see the module docstring."""
    root = Path(root).expanduser()
    base = root / "food-101"
    if not (base / "meta").is_dir() and download:
        import torchvision

        torchvision.datasets.Food101(str(root), split="train", download=True)
    if not (base / "meta").is_dir() or not (base / "images").is_dir():
        raise DatasetNotFoundError(
            f"food101 not found: looked for {base}/images and {base}/meta. Pass download=True (5 GB, needs a "
            "network) or unpack food-101.tar.gz under the data root (argument root, $SSLRE_DATA or "
            "~/.cache/sslre/data)."
        )
    cache = root / f"food101-{image_size}px.pt"
    if cache.is_file():
        try:
            blob = torch.load(cache, map_location="cpu", weights_only=True)
            if blob.get("version") == _CACHE_VERSION:
                return _splits(blob)
        except Exception:  # unreadable cache: rebuild
            pass
    classes_file = base / "meta" / "classes.txt"
    classes = tuple(line.strip() for line in classes_file.read_text().splitlines() if line.strip())
    blob: dict = {"version": _CACHE_VERSION, "classes": list(classes)}
    for split in ("train", "test"):
        meta = base / "meta" / f"{split}.json"
        if not meta.is_file():
            raise DatasetNotFoundError(f"food101: {meta} is missing (incomplete download?)")
        table = json.loads(meta.read_text())
        imgs, labels = [], []
        for c, cls in enumerate(classes):
            for rel in table.get(cls, []):
                p = base / "images" / f"{rel}.jpg"
                try:
                    imgs.append(_fit(read_rgb(p), image_size))
                except FileNotFoundError as e:
                    raise DatasetNotFoundError(f"food101: image {p} listed in {meta} is missing") from e
                except OSError as e:  # PIL's UnidentifiedImageError and truncated files
                    raise DataError(f"food101: cannot decode {p}: {e}") from e
                labels.append(c)
        blob[f"{split}_images"] = (
            torch.stack(imgs) if imgs else torch.empty(0, 3, image_size, image_size, dtype=torch.uint8)
        )
        blob[f"{split}_labels"] = torch.tensor(labels, dtype=torch.int64)
    io.save_torch(blob, cache)
    return _splits(blob)


def _splits(blob: dict) -> DataSplits:
    classes = tuple(blob["classes"])
    return DataSplits(
        **{
            split: ImageSet(
                blob[f"{split}_images"], blob[f"{split}_labels"], blob[f"{split}_labels"].clone(),
                classes, classes, f"food101/{split}",
            )
            for split in ("train", "test")
        }
    )
