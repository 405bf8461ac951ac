"""The embedded default dataset: synthetic, hierarchical 32x32 RGB textures, generated in code.

No files, no downloads: :func:`make_synthetic` renders ``S`` superclasses x ``C / S`` classes
deterministically from a seed with torch ops (10,000 images in about a second on one core).

What carries the labels, and what does not
------------------------------------------
* **Superclass = family of structure.** Even superclasses are *gratings* (a crosshatch of two
  cosine waves at angles +theta and -theta), odd superclasses are *spots* (blobs or rings scattered
  over the image). Superclasses of the same type differ by their frequency band / spot scale.
* **Class = parameters inside the family**: for gratings the angle theta (spread over the family's
  range) and a slight frequency shift; for spots the spot radius, count and filled-vs-ring profile.
  Classes of one superclass share the family's structure, so they are more alike than classes of
  different superclasses (checked in ``tests/data/test_synthetic.py`` on phase-free power spectra).
* **Nuisance, per image**: foreground and background colours (uniform RGB), contrast, a linear
  illumination gradient, translation/phase and spot positions (uniform), scale (x0.8-1.25) and
  pixel noise (sigma 8/255). These are what the SimCLR augmentations (colour jitter, grayscale,
  crops, blur, solarize) perturb; the label-carrying structure (orientation, frequency band, spot
  shape) survives them. Every pattern is mirror-symmetric in distribution (+-theta pairs, isotropic
  spots), so horizontal flips do not change the class.

Because the phases and positions are uniform, the label is not a linear function of the pixels.
Measured raw-pixel linear probe (sklearn ``LogisticRegression(max_iter=500)`` on standardized
pixels, seed 0, defaults 10 classes / 2 superclasses): with 4,000 train / 2,000 test images,
class accuracy 0.136 (chance 0.10) and superclass accuracy 0.497 (chance 0.50); with 1,000 / 500,
class 0.184 and superclass 0.474. The same probe on the phase-free log power spectrum of the gray
image reaches class 0.594 (1,000 / 500), so the labels are learnable from translation-invariant
structure, which is what SSL training has to find.
(``tests/data/test_synthetic.py::test_raw_pixel_probe_is_weak_but_structure_is_learnable``, marked
``small``, re-measures the 1,000 / 500 numbers.)
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


def _class_params(n_classes: int, n_superclasses: int) -> dict[str, torch.Tensor]:
    """Deterministic per-class structure parameters (independent of the seed: the seed draws images)."""
    sup = synthetic_hierarchy(n_classes, n_superclasses)
    kind = sup % 2  # 0 gratings, 1 spots
    family = sup // 2  # index among superclasses of the same kind
    # Rank of each class inside its superclass, and that superclass's size.
    rank = torch.zeros(n_classes, dtype=torch.long)
    size = torch.zeros(n_classes, dtype=torch.long)
    for s in range(n_superclasses):
        members = torch.nonzero(sup == s).flatten()
        rank[members] = torch.arange(members.numel())
        size[members] = members.numel()
    frac = (rank.float() + 0.5) / size.float()  # position of the class inside its family, (0, 1)
    # Gratings: families own a frequency band (cycles per image); classes spread theta over (0, pi/2).
    freq = 2.5 + 2.0 * family.float() + 0.6 * frac
    theta = frac * (math.pi / 2)
    # Spots: families own a radius scale; classes vary radius, count and filled vs ring profile.
    radius = (0.22 / (1.0 + 0.6 * family.float())) * (0.5 + 1.0 * frac)
    count = torch.round(3 + 5 * (1 - frac)).long()
    ring = (rank % 2).bool()
    return dict(sup=sup, kind=kind, freq=freq, theta=theta, radius=radius, count=count, ring=ring)


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
    for start in range(0, n, _CHUNK):
        # One seeded stream per fixed-size block: bounded memory, output independent of any batching knob.
        g = torch.Generator().manual_seed((int(seed) << 24) + start // _CHUNK)
        y = labels[start : start + _CHUNK]
        out[start : start + y.numel()] = _render(y, prm, g, image_size)
    return ImageSet(
        images=out,
        labels=labels,
        superlabels=prm["sup"][labels],
        class_names=tuple(f"{'grating' if int(k) == 0 else 'spots'}{int(s)}-c{c}" for c, (k, s) in
                          enumerate(zip(prm["kind"], prm["sup"]))),
        superclass_names=tuple(f"{'gratings' if s % 2 == 0 else 'spots'}-{s}" for s in range(n_superclasses)),
        name=name,
    )


def _render(y: torch.Tensor, prm: dict[str, torch.Tensor], g: torch.Generator, S: int) -> torch.Tensor:
    """uint8 (B, 3, S, S) images for class ids ``y`` (B,), nuisance drawn from ``g``."""
    B = y.numel()
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731 - local shorthand
    # Pixel-centre coordinates in [-1, 1]; per-image scale and translation are the geometric nuisance.
    ax = (torch.arange(S, dtype=torch.float32) + 0.5) / S * 2 - 1  # (S,)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")  # (S, S) each
    scale = torch.exp(math.log(0.8) + (math.log(1.25) - math.log(0.8)) * u(B)).view(B, 1, 1)
    shift = (u(B, 2) * 2 - 1).view(B, 2, 1, 1)
    X = xx.view(1, S, S) * scale + shift[:, 0]  # (B, S, S)
    Y = yy.view(1, S, S) * scale + shift[:, 1]

    # Random draws for every image in a fixed order (determinism), used by the images that need them.
    ph = u(B, 2) * 2 * math.pi
    K = 8
    pos = u(B, K, 2) * 2.2 - 1.1  # (B, K, 2) spot centres, may sit slightly outside the frame
    kind = prm["kind"][y]
    pattern = torch.empty(B, S, S)
    gi = torch.nonzero(kind == 0).flatten()
    si = torch.nonzero(kind == 1).flatten()

    if gi.numel():
        # Gratings: crosshatch of waves at +theta and -theta (mirror symmetric), random phases.
        yg = y[gi]
        Xg, Yg = X[gi], Y[gi]  # (G, S, S)
        f = prm["freq"][yg].view(-1, 1, 1) * math.pi  # radians per unit (coords span 2 units)
        th = prm["theta"][yg].view(-1, 1, 1)
        a, c = f * torch.cos(th), f * torch.sin(th)
        w1 = torch.cos(a * Xg + c * Yg + ph[gi, 0].view(-1, 1, 1))
        w2 = torch.cos(a * Xg - c * Yg + ph[gi, 1].view(-1, 1, 1))
        pattern[gi] = (0.5 + 0.25 * (w1 + w2)).clamp_(0, 1)

    if si.numel():
        # Spots: blobs (Gaussian) or rings (Gaussian profile around radius r) at uniform positions.
        ys = y[si]
        Xs, Ys = X[si].unsqueeze(1), Y[si].unsqueeze(1)  # (P, 1, S, S)
        p = pos[si]
        present = torch.arange(K).view(1, K) < prm["count"][ys].view(-1, 1)  # (P, K)
        # Absent spots are moved far away, where their profile underflows to 0.
        p = torch.where(present.unsqueeze(-1), p, torch.full_like(p, 1e3))
        d = torch.sqrt((Xs - p[..., 0, None, None]) ** 2 + (Ys - p[..., 1, None, None]) ** 2)  # (P, K, S, S)
        r = prm["radius"][ys].view(-1, 1, 1, 1) * scale[si].unsqueeze(1)
        is_ring = prm["ring"][ys].view(-1, 1, 1, 1)
        # One formula for both: distance to the radius (ring) or to the centre (blob), over a width.
        width = torch.where(is_ring, 0.2 * r, 0.6 * r)
        t = ((d - is_ring * r) / width).abs_()
        pattern[si] = torch.exp(-0.5 * t.amin(1) ** 2)  # nearest spot wins: exp is monotone, so amin first

    # Colour nuisance: pattern maps between a random background and foreground colour.
    contrast = 0.5 + 0.5 * u(B, 1, 1, 1)
    fg, bg = u(B, 3, 1, 1), u(B, 3, 1, 1)
    # Push fg away from bg so the structure is always visible, whatever the colours drawn.
    fg = torch.where((fg - bg).abs().sum(1, keepdim=True) < 0.6, 1 - bg, fg)
    img = bg + contrast * (fg - bg) * pattern.unsqueeze(1)  # (B, 3, S, S)
    grad = (u(B, 2) * 2 - 1) * 0.15  # illumination gradient, up to +-15% across the frame
    img = img + grad[:, 0].view(B, 1, 1, 1) * xx + grad[:, 1].view(B, 1, 1, 1) * yy
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
