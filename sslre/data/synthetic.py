"""The embedded default dataset: synthetic, hierarchical 32x32 RGB shape images, generated in code.

No files, no downloads: :func:`make_synthetic` renders ``S`` superclasses x ``C / S`` classes
deterministically from a seed with torch ops (10,000 images in about 1.1 s on one core).

What carries the labels, and what does not
------------------------------------------
* **Class = a shape** (disc, ring, ellipse, crescent, peanut, target / square, triangle, plus,
  hexagram, diamond, tee), repeated on a jittered 2x2 grid. The repetition makes the label
  survive the App. A.1 views: even an 8%-area crop zoomed 3.5x still shows (part of) a copy of the
  class shape, and a shape's identity does not depend on its size (zoom), colour (jitter,
  grayscale, solarize) or a horizontal flip (every shape is mirror-symmetric about the vertical
  axis; checked in the tests).
* **Superclass = a family of shapes**: curved outlines vs angular (polygon) outlines; superclasses
  2, 3, ... reuse the families in another style (outline, holed). Classes of one superclass are
  closer than across on a rotation-invariant edge-orientation descriptor, and every angular class
  has more concentrated edge orientations than every curved one (``tests/data/test_synthetic.py``).
* **Nuisance, per image / per copy**: grid phase (translation), per copy size (x0.6-0.85 of its
  cell), offset and rotation jitter (+-15 deg) and pixel noise (8/255). Every image has the same grey
  background (0.3) and the same brighter grey object level (0.6).
  **Why no colour nuisance**: SSL keeps whatever an image shares between its two views. Every
  image-level property that survives the augmentations and is not the class is learned first and
  pushes the class out -- even inside what ColorJitter(0.4, 0.4, 0.2, 0.1) perturbs: with a +-0.01
  per-image tint and background / contrast levels 0.1 / 0.2 wide, 4 of 5 quick VICReg seeds ended
  below their initial class probe (0.64 -> 0.30-0.41) and their features encoded the tint. Earlier,
  wider nuisances (polarity, a random 2-or-3 grid, an illumination gradient) did the same.

Measured (CPU, one thread, RES-3-32 VICReg; class level, last block, test split, init -> last
epoch; per seed in ``docs/PERFORMANCE.md``): at the quick recipe of ``sslre.config`` (1,000 train
images, 15 epochs) the linear probe goes 0.65-0.69 -> 0.81-0.88 and NCC 0.48-0.55 -> 0.66-0.73 on
seeds 0-4; at the earlier 2,000-image / 20-epoch recipe 0.65-0.72 -> 0.95-0.97 and NCC
0.53-0.60 -> 0.87-0.91 (seeds 1-4).
"""
from __future__ import annotations

import math

import torch

from .base import DataError, DataSplits, ImageSet

__all__ = ["make_synthetic", "synthetic_splits", "synthetic_hierarchy"]

_SIZE_DEFAULT = 32
_CHUNK = 1024  # images rendered per block (peak memory ~ 1024 x 8 spots x S x S floats)


def synthetic_hierarchy(n_classes: int, n_superclasses: int) -> torch.Tensor:
    """``(n_classes,)`` int64 superclass of each class: contiguous, as equal as possible.

    >>> synthetic_hierarchy(10, 2).tolist()
    [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    """
    if n_superclasses < 1 or n_classes < n_superclasses:
        raise DataError(
            f"synthetic data needs 1 <= n_superclasses <= n_classes, got {n_superclasses} superclasses "
            f"for {n_classes} classes"
        )
    return torch.arange(n_classes) * n_superclasses // n_classes


# Shape catalogue: (name, family). Family 0 = curved outlines, family 1 = angular outlines. Every shape is
# mirror-symmetric about the vertical axis, so a horizontal flip maps each class onto itself. Order matters: the
# first shapes of each family are the most distinct ones and are what the default 5 classes per superclass use.
_SHAPES = (
    ("disc", 0), ("ring", 0), ("ellipse", 0), ("crescent", 0), ("peanut", 0), ("target", 0),
    ("square", 1), ("triangle", 1), ("plus", 1), ("hexagram", 1), ("diamond", 1), ("tee", 1),
)
_PER_FAMILY = 6
_STYLES = ("filled", "outline", "holed")  # superclasses 2, 3 reuse the families with another style, and so on


def _class_params(n_classes: int, n_superclasses: int) -> dict[str, torch.Tensor]:
    """Deterministic per-class structure parameters (independent of the seed: the seed draws images).

    Superclass ``s`` owns shape family ``s % 2`` (curved / angular) drawn in style ``(s // 2) % 3``
    (filled / outline / holed), with a horizontal stretch for ``s >= 6``; class ``r`` of the superclass is
    shape ``r % 6`` of that family, stretched vertically for ``r >= 6``. So every class is a distinct
    (shape, style, stretch) for any hierarchy up to 36 classes per superclass.
    """
    sup = synthetic_hierarchy(n_classes, n_superclasses)
    family = sup % 2
    rank = torch.zeros(n_classes, dtype=torch.long)
    for s in range(n_superclasses):
        members = torch.nonzero(sup == s).flatten()
        rank[members] = torch.arange(members.numel())
    shape = family * _PER_FAMILY + rank % _PER_FAMILY  # index into _SHAPES
    style = (sup // 2) % len(_STYLES)
    stretch_u = 1.0 + 0.35 * (sup // (2 * len(_STYLES))).float()  # only for > 6 superclasses
    stretch_v = 1.0 + 0.35 * (rank // _PER_FAMILY).float()  # only for > 6 classes per superclass
    return dict(sup=sup, family=family, shape=shape, style=style, stretch_u=stretch_u, stretch_v=stretch_v)


def _box(u: torch.Tensor, v: torch.Tensor, cu: float, cv: float, hu: float, hv: float) -> torch.Tensor:
    # Chebyshev-style box distance: exact inside and on the edges, which is all the 1-px antialiasing needs.
    return torch.maximum((u - cu).abs() - hu, (v - cv).abs() - hv)


def _triangle(u: torch.Tensor, v: torch.Tensor, up: bool) -> torch.Tensor:
    # Regular triangle, circumradius 1, centroid at 0: max over the 3 edge half-planes minus the apothem 0.5.
    s = -1.0 if up else 1.0  # image rows grow downwards: "up" = apex at v = -1
    c = math.sqrt(3) / 2
    e0 = -s * v
    e1 = c * u + 0.5 * s * v
    e2 = -c * u + 0.5 * s * v
    return torch.maximum(torch.maximum(e0, e1), e2) - 0.5


def _shape_sdf(name: str, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Signed distance (negative inside) of shape ``name`` in unit object coordinates (u right, v down)."""
    r = torch.sqrt(u * u + v * v)
    if name == "disc":
        return r - 0.9
    if name == "ring":
        return (r - 0.75).abs() - 0.22
    if name == "ellipse":  # wide ellipse, semi-axes 1 x 0.5 (scaled distance; exact on the boundary)
        return (torch.sqrt(u * u + (2 * v) ** 2) - 1.0) * 0.5
    if name == "crescent":  # a disc minus a disc shifted up: a bowl opening upwards
        return torch.maximum(r - 0.95, 0.8 - torch.sqrt(u * u + (v + 0.45) ** 2))
    if name == "peanut":  # two overlapping discs side by side
        return torch.minimum(torch.sqrt((u - 0.45) ** 2 + v * v), torch.sqrt((u + 0.45) ** 2 + v * v)) - 0.55
    if name == "target":  # outer ring and a central dot
        return torch.minimum((r - 0.8).abs() - 0.16, r - 0.3)
    if name == "square":
        return _box(u, v, 0.0, 0.0, 0.78, 0.78)
    if name == "triangle":
        return _triangle(u, v * 1.0 - 0.1, up=True) * 1.0
    if name == "plus":
        return torch.minimum(_box(u, v, 0.0, 0.0, 0.95, 0.28), _box(u, v, 0.0, 0.0, 0.28, 0.95))
    if name == "hexagram":  # star of David: union of an up and a down triangle
        return torch.minimum(_triangle(u, v, up=True), _triangle(u, v, up=False))
    if name == "diamond":
        return (u.abs() + v.abs() - 1.05) / math.sqrt(2)
    if name == "tee":
        return torch.minimum(_box(u, v, 0.0, -0.68, 0.95, 0.25), _box(u, v, 0.0, 0.15, 0.25, 0.8))
    raise AssertionError(name)


def make_synthetic(
    n: int,
    *,
    n_classes: int = 10,
    n_superclasses: int = 2,
    seed: int = 0,
    image_size: int = _SIZE_DEFAULT,
    name: str = "synthetic",
) -> ImageSet:
    """``n`` synthetic images, classes balanced (class of image k is ``k % n_classes``), from ``seed``.

    Returns an :class:`ImageSet` with ``images (n, 3, S, S) uint8``. Same arguments -> identical bytes.
    """
    if n < 0:
        raise DataError(f"n must be >= 0, got {n}")
    if image_size < 4:
        raise DataError(f"image_size must be >= 4 pixels, got {image_size}")
    prm = _class_params(n_classes, n_superclasses)
    labels = torch.arange(n, dtype=torch.int64) % n_classes
    out = torch.empty(n, 3, image_size, image_size, dtype=torch.uint8)
    # One intra-op thread while rendering: ~150 small elementwise ops per block, and on a busy 2-core machine each
    # multi-threaded op paid ~5 ms of thread wake-up (10k images: 9.5 s with 2 threads vs ~1.5 s with 1).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for start in range(0, n, _CHUNK):
            # One seeded stream per fixed-size block: bounded memory, output independent of any batching knob.
            g = torch.Generator().manual_seed((int(seed) << 24) + start // _CHUNK)
            y = labels[start : start + _CHUNK]
            out[start : start + y.numel()] = _render(y, prm, g, image_size)
    finally:
        torch.set_num_threads(threads)
    fam = ("curved", "angular")
    return ImageSet(
        images=out,
        labels=labels,
        superlabels=prm["sup"][labels],
        class_names=tuple(_class_name(prm, c) for c in range(n_classes)),
        superclass_names=tuple(
            f"{fam[s % 2]}-{_STYLES[(s // 2) % len(_STYLES)]}" + (f"-{s}" if s >= 2 else "")
            for s in range(n_superclasses)
        ),
        name=name,
    )


def _class_name(prm: dict[str, torch.Tensor], c: int) -> str:
    base = f"{_SHAPES[int(prm['shape'][c])][0]}-{_STYLES[int(prm['style'][c])]}"
    su, sv = float(prm["stretch_u"][c]), float(prm["stretch_v"][c])
    if su != 1.0 or sv != 1.0:
        base += f"-x{su:.2f}y{sv:.2f}"
    return base


def _render(y: torch.Tensor, prm: dict[str, torch.Tensor], g: torch.Generator, S: int) -> torch.Tensor:
    """uint8 (B, 3, S, S) images for class ids ``y`` (B,), nuisance drawn from ``g``."""
    B = y.numel()
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731 - local shorthand
    # Pixel-centre coordinates in [-1, 1] (x right, y down).
    ax = (torch.arange(S, dtype=torch.float32) + 0.5) / S * 2 - 1  # (S,)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")  # (S, S) each
    # Geometric layout: the class shape is repeated on a jittered n x n grid (n = 2 or 3 per image) with a random
    # grid phase, so every crop of the App. A.1 protocol (down to 8% of the area) still holds whole or partial
    # copies of the class shape: the label is crop-invariant. One large object was not: two small crops of it share
    # only the colours, and VICReg learned colours (class probe 0.15 -> 0.15 after a quick run).
    # Nuisance per copy: size (half-extent 0.6-0.85 of its cell), offset in the cell, rotation jitter (symmetric, so
    # the class distribution stays mirror-symmetric; +-15 deg, so a square never becomes a diamond).
    # A fixed 2 x 2 grid: a random 2-or-3 grid size was an image-level, crop-surviving nuisance that VICReg latched
    # onto instead of the shape (quick run: class probe 0.28 -> 0.14).
    n = torch.full((B, 1, 1), 2)  # (B, 1, 1) grid cells per side
    phase = (u(B, 2) * 2 / n.view(B, 1)).view(B, 2, 1, 1)  # up to one cell, in frame units
    G = 4  # cells per side that can be visible with a phase shift: n + 1 <= 4
    size = torch.exp(math.log(0.6) + (math.log(0.85) - math.log(0.6)) * u(B, G, G))  # (B, G, G)
    jit = (u(B, G, G, 2) * 2 - 1) * 0.12  # (B, G, G, 2) offsets in cell units
    rot = (u(B, G, G) * 2 - 1) * math.radians(15)  # (B, G, G)
    gx = (xx.view(1, S, S) + 1 + phase[:, 0]) * n / 2  # (B, S, S) frame -> cell coordinates
    gy = (yy.view(1, S, S) + 1 + phase[:, 1]) * n / 2
    ix, iy = gx.floor().long().clamp_(max=G - 1), gy.floor().long().clamp_(max=G - 1)  # (B, S, S) cell index
    # Flat cell index + torch.take: the same gather as size[b, iy, ix], but multi-index advanced indexing measured
    # ~30x slower with 2 busy threads.
    cell = (torch.arange(B).view(B, 1, 1) * G + iy) * G + ix  # (B, S, S) index into (B, G, G)
    sz, rt = size.take(cell), rot.take(cell)  # (B, S, S) per-pixel parameters of its cell's copy
    dx = (gx - ix) * 2 - 1 - jit[..., 0].take(cell)  # (B, S, S) in cell units [-1, 1], copy-centred
    dy = (gy - iy) * 2 - 1 - jit[..., 1].take(cell)
    cr, sr = torch.cos(rt), torch.sin(rt)
    U = (cr * dx + sr * dy) / sz  # (B, S, S) object coordinates: rotate by -rot, divide by size
    V = (-sr * dx + cr * dy) / sz
    U = U / prm["stretch_u"][y].view(B, 1, 1)
    V = V / prm["stretch_v"][y].view(B, 1, 1)

    sdf = torch.empty(B, S, S)
    shape = prm["shape"][y]
    for k in torch.unique(shape).tolist():
        idx = torch.nonzero(shape == k).flatten()
        sdf[idx] = _shape_sdf(_SHAPES[k][0], U[idx], V[idx])
    style = prm["style"][y].view(B, 1, 1)
    # Outline: a stroke 0.14 units wide along the boundary; holed: the filled shape minus a central disc.
    outline = sdf.abs() - 0.14
    holed = torch.maximum(sdf, 0.35 - torch.sqrt(U * U + V * V))
    sdf = torch.where(style == 1, outline, torch.where(style == 2, holed, sdf))
    # Distance back in cell units, then a 1-pixel linear ramp (pixel = 2 n / S cell units): antialiased edges.
    pattern = (0.5 - sdf * sz * S / (2 * n)).clamp_(0, 1)  # (stretched shapes: ramp width approximate)

    # No image-level colour nuisance: one grey background (0.3) and one brighter grey object (0.6) in every image.
    # Anything an image keeps across its two views that is not its class is a shortcut VICReg learns first, even
    # inside ColorJitter's range: with a +-0.01 per-image tint and 0.1 / 0.2 wide background / contrast levels,
    # 4 of 5 quick seeds ended below their initial class probe (0.64 -> 0.30-0.41; the features held the tint).
    bg, fg = 0.3, 0.6
    img = torch.full((B, 3, 1, 1), bg) + (fg - bg) * pattern.unsqueeze(1)  # (B, 3, S, S)
    img = img + torch.randn(img.shape, generator=g) * (8 / 255)
    return img.mul(255).round_().clamp_(0, 255).to(torch.uint8)


def synthetic_splits(
    n_train: int = 10000,
    n_test: int = 2000,
    *,
    n_classes: int = 10,
    n_superclasses: int = 2,
    seed: int = 0,
    image_size: int = _SIZE_DEFAULT,
) -> DataSplits:
    """Train and test sets from independent streams of the same seed (test never repeats train)."""
    # Distinct derived seeds: the test split must not reproduce the first train images.
    kw = dict(n_classes=n_classes, n_superclasses=n_superclasses, image_size=image_size)
    return DataSplits(
        train=make_synthetic(n_train, seed=2 * int(seed), name="synthetic/train", **kw),
        test=make_synthetic(n_test, seed=2 * int(seed) + 1, name="synthetic/test", **kw),
    )
