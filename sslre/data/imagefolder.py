"""ImageFolder trees (``train/<class>/*.jpg``, ``test/<class>/*.jpg``) and the CIFAR-10 JPEG archive.

:func:`load_imagefolder` reads any such tree into memory (classes in ImageFolder's sorted order,
images resized to ``image_size`` by shorter-side resize + centre crop when they differ) with an
optional hierarchy file (:mod:`sslre.data.hierarchy`: JSON ``{"superclass": ["class", ...]}`` or CSV
``class,superclass``); without one every class is its own superclass.

:func:`load_cifar10_jpeg` is dataset ``cifar10-jpeg``: the real CIFAR-10 images shipped as a
JPEG archive in ``../shared`` (see its README). The archive's sha256 is verified, it is extracted
once into ``<root>/cifar10-jpeg/`` (extract into a temp folder, then rename: never half a tree),
and the decoded uint8 tensors are cached as ``<root>/cifar10-jpeg-<S>px.pt`` (written atomically)
so later loads take about a second.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sslre import io

from .base import DataError, DatasetNotFoundError, DataSplits, ImageSet
from .cifar import CIFAR10_CLASSES, CIFAR10_SUPERCLASSES
from .hierarchy import superclasses_of

__all__ = ["load_imagefolder", "load_cifar10_jpeg", "cifar10_jpeg_archive", "CIFAR10_JPEG_SHA256", "IMAGE_EXTENSIONS"]

CIFAR10_JPEG_SHA256 = "17e5ce101ca948c5febc5b70df6cd73f5ee7e810110dd0fda76271d248c872df"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
_CACHE_VERSION = 1


def read_rgb(path: Path) -> torch.Tensor:
    """Decode one image file with PIL -> uint8 (3, h, w) RGB (palette/gray/alpha converted)."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)  # (h, w, 3)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def _fit(img: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (3, h, w) -> (3, size, size): shorter side to ``size`` (antialiased bilinear), centre crop."""
    _, h, w = img.shape
    if h == size and w == size:
        return img
    s = size / min(h, w)
    nh, nw = max(size, round(h * s)), max(size, round(w * s))
    x = F.interpolate(img[None].float(), size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[:, top : top + size, left : left + size].round_().clamp_(0, 255).to(torch.uint8)


def _read_split(split_dir: Path, classes: tuple[str, ...], image_size: int, *,
                allow_external_symlinks: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """All images under ``split_dir/<class>/`` -> ((N, 3, S, S) uint8, (N,) int64), sorted by class then file.

    A class folder without images is a :class:`DataError` naming it (it would become a class of 0 images); so is
    an image reached through a symbolic link that leaves the tree (``split_dir``'s parent), unless
    ``allow_external_symlinks``.
    """
    imgs: list[torch.Tensor] = []
    labels: list[int] = []
    tree = split_dir.parent.resolve()
    for c, cls in enumerate(classes):
        folder = split_dir / cls
        if not folder.is_dir():
            continue  # a class may be absent from one split
        files = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
        if not files:
            raise DataError(f"class folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
                            "add images or remove the folder")
        for p in files:
            target = p.resolve()
            if not allow_external_symlinks and not target.is_relative_to(tree):
                raise DataError(
                    f"{p} links to {target}, outside the image folder {tree}; links that leave the tree are refused "
                    "(copy the file in, or pass allow_external_symlinks=True to load_dataset)"
                )
            try:
                img = read_rgb(p)
            except Exception as e:  # decode errors name the file, not just the codec
                raise DataError(f"cannot decode image {p}: {e}") from e
            imgs.append(_fit(img, image_size))
            labels.append(c)
    if not imgs:
        return torch.empty(0, 3, image_size, image_size, dtype=torch.uint8), torch.empty(0, dtype=torch.int64)
    return torch.stack(imgs), torch.tensor(labels, dtype=torch.int64)


def load_imagefolder(
    path: str | os.PathLike,
    *,
    hierarchy: str | os.PathLike | dict | None = None,
    image_size: int = 32,
    name: str | None = None,
    allow_external_symlinks: bool = False,
) -> DataSplits:
    """An ImageFolder tree with ``train/`` and ``test/`` splits; see the module docstring.

    Every class folder must hold at least one image; symbolic links are followed only while they stay inside
    the tree, unless ``allow_external_symlinks`` (an explicit choice: a link out of the tree silently mixes
    in another dataset's files).
    """
    root = Path(path).expanduser()
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise DatasetNotFoundError(
                f"image folder {root} has no '{split}/' directory; expected {root}/train/<class>/*.jpg "
                f"and {root}/test/<class>/*.jpg"
            )
    # ImageFolder's rule: classes are the sorted sub-folder names (of train, the defining split).
    classes = tuple(sorted(d.name for d in (root / "train").iterdir() if d.is_dir()))
    if not classes:
        raise DatasetNotFoundError(f"image folder {root}/train has no class sub-directories")
    extra = sorted({d.name for d in (root / "test").iterdir() if d.is_dir()} - set(classes))
    if extra:
        raise DataError(f"test/ has class folder(s) {extra} that train/ lacks")
    to_super, sup_names = superclasses_of(classes, hierarchy)
    name = name or f"imagefolder:{root.name}"
    sets = {}
    for split in ("train", "test"):
        x, y = _read_split(root / split, classes, image_size, allow_external_symlinks=allow_external_symlinks)
        sets[split] = ImageSet(x, y, to_super[y], classes, sup_names, f"{name}/{split}")
    return DataSplits(train=sets["train"], test=sets["test"])


# --------------------------------------------------------------------------------------------
# CIFAR-10 JPEG archive
# --------------------------------------------------------------------------------------------
def cifar10_jpeg_archive() -> Path:
    """Where the archive is: ``$SSLRE_CIFAR10_JPEG``, else ``../shared/data/cifar10-jpeg/...`` beside the
    repository (returned whether or not it exists; callers check)."""
    env = os.environ.get("SSLRE_CIFAR10_JPEG")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    rel = Path("shared") / "data" / "cifar10-jpeg" / "cifar10-jpeg.tar.gz"
    return repo.parent / rel



def _extract_once(archive: Path, dest: Path) -> None:
    """Extract ``archive`` to ``dest`` unless it is there; atomic: temp folder beside ``dest``, then rename."""
    if dest.is_dir():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # The 'data' filter refuses absolute paths, links out of the tree and device files.
            tar.extractall(tmp, filter="data")
        try:
            os.replace(tmp, dest)
        except OSError:
            if not dest.is_dir():  # another process won the race: keep theirs, drop ours
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_cifar10_jpeg(
    root: str | os.PathLike, *, archive: str | os.PathLike | None = None, image_size: int = 32
) -> DataSplits:
    """Dataset ``cifar10-jpeg``: real CIFAR-10 (50,000 / 10,000 images) with the animal/vehicle hierarchy."""
    arch = Path(archive) if archive else cifar10_jpeg_archive()
    if not arch.is_file():
        raise DatasetNotFoundError(
            f"CIFAR-10 JPEG archive not found at {arch}. Set $SSLRE_CIFAR10_JPEG to the path of "
            "cifar10-jpeg.tar.gz (sha256 " + CIFAR10_JPEG_SHA256[:12] + "...), or put it at "
            "../shared/data/cifar10-jpeg/ beside the repository."
        )
    digest = io.file_sha256(arch)
    if digest != CIFAR10_JPEG_SHA256:
        raise DataError(f"{arch} has sha256 {digest}, expected {CIFAR10_JPEG_SHA256} (corrupt or different file)")
    root = Path(root).expanduser()
    cache = root / f"cifar10-jpeg-{image_size}px.pt"
    if cache.is_file():
        try:
            blob = torch.load(cache, map_location="cpu", weights_only=True)
            if blob.get("version") == _CACHE_VERSION and blob.get("sha256") == digest:
                return _cifar10_jpeg_splits(blob)
        except Exception:  # an unreadable cache is rebuilt, never trusted
            pass
    tree = root / "cifar10-jpeg"
    _extract_once(arch, tree)
    for cls in CIFAR10_CLASSES:
        if not (tree / "train" / cls).is_dir():
            raise DataError(f"{tree} does not hold train/{cls}/ (a stale or foreign tree? delete it to re-extract)")
    blob = {"version": _CACHE_VERSION, "sha256": digest}
    for split in ("train", "test"):
        x, y = _read_split(tree / split, CIFAR10_CLASSES, image_size)
        blob[f"{split}_images"], blob[f"{split}_labels"] = x, y
    io.save_torch(blob, cache)
    return _cifar10_jpeg_splits(blob)


def _cifar10_jpeg_splits(blob: dict) -> DataSplits:
    to_super = torch.tensor(
        [list(CIFAR10_SUPERCLASSES).index(next(s for s, m in CIFAR10_SUPERCLASSES.items() if c in m))
         for c in CIFAR10_CLASSES]
    )
    sets = {
        split: ImageSet(
            blob[f"{split}_images"], blob[f"{split}_labels"], to_super[blob[f"{split}_labels"]],
            CIFAR10_CLASSES, tuple(CIFAR10_SUPERCLASSES), f"cifar10-jpeg/{split}",
        )
        for split in ("train", "test")
    }
    return DataSplits(**sets)
