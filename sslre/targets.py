"""Random targets with a controlled degree of randomness (Sec. 5, App. A.3, App. B.5).

Sec. 5: "We train a neural network classifier on the same dataset for classification and use its target
predictions at different epochs as targets with varying degrees of randomness. At epoch 0, the network is
random, generating deterministic yet seemingly arbitrary labels. [...] We normalize the degree of randomness
between 0 (non-random, end of training) and 1 (random, initialization)."

:func:`train_target_generator` trains such a classifier (ResNet-18, or the ViT of App. B.5) on the SSL train
split's class labels and records its **class predictions** (``argmax`` of the logits, eval mode) on every
evaluation split at each snapshot epoch ``k``; snapshot ``k`` of ``K`` training epochs becomes the target
level ``<kind>@<k>`` with randomness ``1 - k/K`` (:func:`randomness_level`).

Choices the paper leaves open, and what this module does
--------------------------------------------------------
* **Optimiser.** App. A.3: Adam + cosine annealing; ResNet-18 lr 0.05, ViT lr 0.001 with weight decay 5e-5.
  Those are the defaults here (``lr=None``). At tiny scale (a few thousand images, a few epochs) Adam with
  lr 0.05 makes ResNet-18 diverge or stall on one class, so :mod:`sslre.experiments` passes lr 1e-3 for the
  quick/small profiles; the lr used is recorded in ``targets.json``. (Measured: standard ResNet-18, 2,000
  images, batch 256, 4 epochs: lr 0.05 predicted a single class after epochs 1 and 2 and reached 19% train
  accuracy at epoch 4; lr 1e-3 reached 100%.) A non-finite loss stops training with
  a :class:`TargetError` naming the lr.
* **No augmentation** while training the generator (the paper does not mention any; the targets are a
  function of the un-augmented images, which is what the probes read).
* **Size.** ``width`` shrinks ResNet-18's channels (standard 64; the quick and small profiles use narrower
  nets, :class:`TargetSettings`) and ``vit_dim``/``vit_depth``/``vit_heads`` the ViT (standard 384 / 10 / 8,
  App. A.2).
* **Epoch 0 and BatchNorm.** A freshly initialised ResNet's BatchNorm layers hold placeholder running
  statistics (mean 0, variance 1) that were never estimated from data, so its eval-mode predictions are
  often the same class for (almost) every image -- degenerate targets. With ``calibrate_init_bn=True``
  (default) the epoch-0 predictions come from a copy of the initial network whose BatchNorm running statistics
  are first estimated on the train split (one pass in train mode, cumulative average, no weight changes);
  the predictions are still the network's deterministic class predictions at initialisation, now with data
  statistics like every later snapshot. Training itself is untouched (it starts from the original network).
  ``targets.json`` records ``init_bn`` = ``calibrated`` or ``placeholder``. Measured on a 2,000-image
  10-class synthetic set: a standard-width ResNet-18 at initialisation with placeholder statistics predicted
  one class for all 2,000 images; with calibrated statistics it used 6 classes (one of them for 1,711 images).
* **Training images.** Sec. 5 trains the generator "on the same dataset". Trained on the very images it then
  labels, a generator memorises them: its train-split targets are the true labels while its test-split targets
  are its (much weaker) generalising function, so the probe is fitted to one labelling and scored on another.
  :func:`generator_data` therefore draws the generator's training images from the same dataset but disjoint
  from the SSL run's train and test splits (synthetic data: another seeded stream; a subset of a real dataset:
  the rest of its train split), re-drawn per generator seed; only when no disjoint images exist (the full
  profile uses the whole train split) does it fall back to the SSL train split. ``targets.json`` records the
  source and how many labelled images coincide with a training image (``generator_train``). Measured (small
  profile data: CIFAR-10 10,000 / 2,000, ResNet-18 width 16, lr 1e-3, 4 epochs, seed 0): trained on the SSL
  train split, the train-minus-test true-label accuracy of its targets grew 0.020 -> 0.080 -> 0.146 over epochs
  1, 2, 4 (0.609 / 0.463 at epoch 4); trained on 10,000 disjoint images it stayed within +-0.015 (0.489 / 0.482).
* **Degenerate levels.** Even so, an untrained classifier can put most images in a few classes. Every level
  records the number of distinct predicted classes and the class counts per split; a level whose predictions
  on the ``train`` split use fewer than 2 classes, or give some predicted class fewer than 2 images, is marked
  ``usable=False`` with the reason. Such a level is measured without the images of its rare classes (1 to
  ``MIN_PER_CLASS - 1`` train images; :meth:`TargetLevel.measure_mask`, on both splits; ``dropped`` counts
  them): a class seen once has no within-class variance (CDNV), and one image in 2,000 must not remove a
  whole level. It is excluded only if fewer than 2 classes survive.
* **Diagnostics and the degeneracy rule.** Every level also records :func:`level_diagnostics` (distinct
  predicted classes, majority share and true-label accuracy per split, their train-minus-test gap, and the
  accuracy on the generator's own training images). :func:`exclusion_reason` is the protocol's rule, fixed
  before any run, that excludes a level from the measurements; it is applied when a target set is loaded,
  so the thresholds of the code in use decide (:data:`DEGENERACY_RULE`, part of the measurements cache key).

Files in ``out_dir`` (all written atomically, :mod:`sslre.io`): ``targets.pt`` (labels per level and split),
``targets.json`` (metadata; its presence with ``"complete": true`` marks a finished generator), ``.lock`` (held
while training, :func:`sslre.train.run_lock`, as in an SSL run folder) and, while training, ``generator_state.pt``
(resume point with its content hash, :func:`sslre.checkpoint.read_state`; removed at the end). A finished
``out_dir`` is loaded, not retrained.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sslre import io

__all__ = [
    "GENERATOR_KINDS",
    "TARGETS_FORMAT",
    "TargetError",
    "TargetSettings",
    "TargetLevel",
    "TargetSet",
    "randomness_level",
    "check_usable",
    "level_diagnostics",
    "exclusion_reason",
    "DEGENERACY_RULE",
    "generator_data",
    "train_target_generator",
    "load_targets",
    "is_complete",
]

log = logging.getLogger(__name__)

# /2: per-level diagnostics and the generator's training-image record (files of /1 must be retrained).
TARGETS_FORMAT = "sslre-targets/2"
GENERATOR_KINDS = ("resnet18", "vit")
# App. A.3 "Random targets".
PAPER_LR = {"resnet18": 0.05, "vit": 0.001}
PAPER_WEIGHT_DECAY = {"resnet18": 0.0, "vit": 5e-5}
MIN_CLASSES = 2           # a probe needs at least two classes
MIN_PER_CLASS = 2         # ... and two images of every class it is asked about (NCC means, CDNV variances)

# The degeneracy rule of the protocol, fixed before any generator was trained; stated in exclusion_reason.
MIN_CLASS_FRACTION = 0.5  # a level must predict at least half of the classes on each split ...
MAX_MAJORITY_SHARE = 0.5  # ... no predicted class may hold more than half of a split ...
MAX_TRUE_ACC_GAP = 0.15   # ... and true-label accuracy on train may exceed that on test by at most this much
RULE_SPLITS = ("train", "test")
#: The rule's thresholds as one record (written to targets.json and into the measurements cache key).
DEGENERACY_RULE = {"min_class_fraction": MIN_CLASS_FRACTION, "max_majority_share": MAX_MAJORITY_SHARE,
                   "max_true_acc_gap": MAX_TRUE_ACC_GAP, "splits": list(RULE_SPLITS),
                   "rare_class_images_dropped_below": MIN_PER_CLASS}
#: Seed offset of the generator's own training images (synthetic stream / draw from the rest of a real train
#: split): far from the streams the SSL splits use (synthetic seeds 0 and 1), plus the generator seed.
GENERATOR_DATA_SEED = 7_000_000


class TargetError(ValueError):
    """A random-target request or file is invalid; the message names the argument or file and the problem."""


@dataclass(frozen=True)
class TargetSettings:
    """How a random-target generator (Sec. 5, App. A.3 'Random targets', App. B.5) is trained.

    ``snapshot_epochs`` are the generator epochs whose class predictions become targets (0 and ``epochs`` are
    always added; ``None`` = :func:`sslre.config.scale_epochs`); generator epoch k of K has randomness
    ``1 - k/K`` (1 = initialization, 0 = end of training). ``width`` shrinks ResNet-18's channels (None = the
    standard 64) and ``vit_dim``/``vit_depth``/``vit_heads`` the ViT (None = App. A.2's 384 / 10 / 8), so the
    quick and small profiles train narrow generators; full uses the paper's A.2 sizes.
    """

    kind: str                       # resnet18 | vit
    epochs: int
    snapshot_epochs: tuple[int, ...] | None
    batch_size: int
    lr: float | None                # None = App. A.3: ResNet-18 Adam 0.05; ViT Adam 0.001
    width: int | None = None        # ResNet-18 base width (None = 64)
    vit_dim: int | None = None      # ViT size (None = App. A.2: 384 / 10 / 8)
    vit_depth: int | None = None
    vit_heads: int | None = None
    weight_decay: float | None = None  # None = App. A.3: ResNet-18 0, ViT 5e-5
    calibrate_init_bn: bool = True  # epoch-0 predictions with BatchNorm statistics of the train split (see above)


# ------------------------------------------------------------------------------------------------
# Randomness bookkeeping
# ------------------------------------------------------------------------------------------------
def randomness_level(epoch: int, last_epoch: int) -> float:
    """Degree of randomness of the targets at generator epoch ``k`` of ``K`` (Sec. 5): ``1 - k/K``.

    1 = the classifier at initialisation (random), 0 = at the end of its training (non-random).

    >>> randomness_level(0, 10), randomness_level(4, 10), randomness_level(10, 10)
    (1.0, 0.6, 0.0)
    """
    if isinstance(epoch, bool) or isinstance(last_epoch, bool):
        raise TargetError("epoch and last_epoch must be ints, not bools")
    if int(last_epoch) != last_epoch or last_epoch < 1:
        raise TargetError(f"last_epoch must be an int >= 1 (the generator's number of epochs), got {last_epoch!r}")
    if int(epoch) != epoch or not 0 <= epoch <= last_epoch:
        raise TargetError(f"epoch must be an int in 0..last_epoch={last_epoch}, got {epoch!r}")
    return 1.0 - int(epoch) / int(last_epoch)


def check_usable(labels: Tensor, *, min_classes: int = MIN_CLASSES, min_per_class: int = MIN_PER_CLASS) -> tuple[bool, str]:
    """Whether predicted labels ``(N,)`` can be probed: >= ``min_classes`` distinct classes and every
    predicted class with >= ``min_per_class`` images. Returns ``(usable, reason)``; reason is ``""`` if usable.

    >>> check_usable(torch.tensor([0, 0, 1, 1]))
    (True, '')
    >>> check_usable(torch.tensor([3, 3, 3]))
    (False, 'predictions use 1 distinct class(es); a probe needs at least 2')
    """
    classes, counts = torch.unique(labels, return_counts=True)  # (U,), (U,) distinct predicted classes
    if classes.numel() < min_classes:
        return False, f"predictions use {classes.numel()} distinct class(es); a probe needs at least {min_classes}"
    small = classes[counts < min_per_class].tolist()
    if small:
        return False, (
            f"predicted class(es) {small} have fewer than {min_per_class} images; "
            "per-class means/variances and stratified probes need at least that many"
        )
    return True, ""


def level_diagnostics(pred: Mapping[str, Tensor], true: Mapping[str, Tensor], num_classes: int,
                      fit_true_acc: float = math.nan) -> dict[str, float]:
    """How random and how consistent one level's targets are, per split (Sec. 5 targets; review diagnostics).

    Args:
        pred: split name -> ``(N_split,)`` int64 predicted class ids of the generator.
        true: split name -> ``(N_split,)`` int64 true class labels of the same images.
        num_classes: C, the number of classes the generator can predict.
        fit_true_acc: the generator's true-label accuracy on its own training images (NaN if unknown).

    Returns a flat dict; for every split ``s``:

    * ``n_classes_<s>``: distinct predicted classes (int, 1..C);
    * ``majority_share_<s>``: share of the images predicted as the most frequent class (in [1/C, 1]);
    * ``<s>_true_acc``: share of the images whose predicted class is their true class (agreement with the
      semantic labels);

    plus ``true_acc_gap`` = ``train_true_acc - test_true_acc`` when both splits exist (0 for a generator that
    labels both splits by one function it did not fit on either; memorising the train split makes it large)
    and ``fit_true_acc``.

    >>> d = level_diagnostics({"train": torch.tensor([0, 0, 0, 1])}, {"train": torch.tensor([0, 1, 0, 1])}, 3)
    >>> d["n_classes_train"], d["majority_share_train"], d["train_true_acc"]
    (2, 0.75, 0.75)
    """
    out: dict[str, float] = {}
    for split, y in pred.items():
        counts = torch.bincount(y, minlength=num_classes)  # (C,) images per predicted class
        out[f"n_classes_{split}"] = int((counts > 0).sum())
        out[f"majority_share_{split}"] = float(counts.max()) / max(int(y.numel()), 1)
        out[f"{split}_true_acc"] = float((y == true[split]).double().mean())
    if "train" in pred and "test" in pred:
        out["true_acc_gap"] = out["train_true_acc"] - out["test_true_acc"]
    out["fit_true_acc"] = float(fit_true_acc)
    return out


def exclusion_reason(diag: Mapping[str, float], num_classes: int, splits: Sequence[str] = RULE_SPLITS) -> str:
    """The protocol's degeneracy rule for one target level; ``""`` keeps the level, else why it is excluded.

    A level is excluded when, on either split the measurements read (``train``: probe fit, ``test``: score):

    1. it predicts fewer than ``MIN_CLASS_FRACTION`` = half of the C classes. Sec. 5 compares C-way labellings
       that differ only in randomness; a coarser partition is an easier task (fewer, larger classes), which would
       confound randomness with granularity;
    2. its most frequent predicted class holds more than ``MAX_MAJORITY_SHARE`` = half of the images. Then the
       target is mostly one constant ("class k or not"), the majority baseline already exceeds 0.5, and the
       chance-corrected accuracy divides by ``1 - majority`` < 0.5, amplifying noise;
    3. the generator's true-label accuracy on train exceeds that on test by more than ``MAX_TRUE_ACC_GAP`` =
       0.15. A generator that labels both splits by the same function it did not fit on them has a gap of
       sampling noise only (standard error ~0.02 at 2,000 / 1,000 images, ~0.012 at 10,000 / 2,000); a larger
       gap means it memorised the train split, so the probe would be fitted to one labelling and scored on
       another.

    The thresholds were written down before any generator was trained and are not tuned on results. The rule
    reads all images of the level; separately, classes predicted for fewer than ``MIN_PER_CLASS`` train images
    are dropped from the measurement, and a level with fewer than 2 classes left is excluded (:func:`_judge`).

    >>> exclusion_reason({"n_classes_train": 3, "majority_share_train": 0.2}, 10, splits=("train",))
    'train: predicts 3 of 10 classes (< 5)'
    """
    why = []
    need = math.ceil(MIN_CLASS_FRACTION * num_classes)
    for split in splits:
        n = diag.get(f"n_classes_{split}")
        if n is not None and n < need:
            why.append(f"{split}: predicts {int(n)} of {num_classes} classes (< {need})")
        share = diag.get(f"majority_share_{split}")
        if share is not None and share > MAX_MAJORITY_SHARE:
            why.append(f"{split}: majority share {share:.3f} > {MAX_MAJORITY_SHARE}")
    gap = diag.get("true_acc_gap")
    if gap is not None and math.isfinite(gap) and gap > MAX_TRUE_ACC_GAP:
        why.append(f"train-test true-label accuracy gap {gap:.3f} > {MAX_TRUE_ACC_GAP} (memorised train split)")
    return "; ".join(why)


# ------------------------------------------------------------------------------------------------
# Result types
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TargetLevel:
    """One set of random targets: the generator's class predictions at one of its epochs.

    Attributes:
        name: ``"<kind>@<epoch>"``, e.g. ``"resnet18@3"`` (the ``target`` column of the measurements table).
        kind: ``resnet18`` | ``vit``.
        generator_epoch: k, training epochs of the generator when it predicted.
        randomness: ``1 - k/K`` in [0, 1] (the ``randomness`` column).
        labels: split name -> ``(N_split,)`` int64 predicted class ids.
        accuracy: split name -> agreement of the predictions with the split's true class labels.
        n_classes_used: split name -> number of distinct predicted classes.
        class_counts: split name -> images predicted as each class id ``0..C-1``.
        usable: False if the train-split predictions cannot be probed (see :func:`check_usable`).
        reason: why not usable (``""`` if usable).
        diagnostics: :func:`level_diagnostics` of the level (``n_classes_train``, ``majority_share_test``, ...).
        excluded: True if the degeneracy rule (:func:`exclusion_reason`) rejects it or fewer than 2 classes
            have ``MIN_PER_CLASS`` train images; measurements make no ``random`` rows for it.
        exclusion: why excluded (``""`` if kept).
        dropped: split name -> images left out of the measurement because their predicted class is rare on
            ``train`` (all 0 for a ``usable`` level; see :meth:`measure_mask`).
    """

    name: str
    kind: str
    generator_epoch: int
    randomness: float
    labels: Mapping[str, Tensor]
    accuracy: Mapping[str, float]
    n_classes_used: Mapping[str, int]
    class_counts: Mapping[str, list[int]]
    usable: bool
    reason: str = ""
    diagnostics: Mapping[str, float] = field(default_factory=dict)
    excluded: bool = False
    exclusion: str = ""
    dropped: Mapping[str, int] = field(default_factory=dict)

    def measure_mask(self, split: str, *, reference: str = "train") -> Tensor:
        """``(N_split,)`` bool: the images the measurements use. All but those whose predicted class has 1 to
        ``MIN_PER_CLASS - 1`` images on ``reference`` (a class never predicted there stays: its test images are
        errors of any classifier fitted on ``reference``, as for every level)."""
        counts = torch.bincount(self.labels[reference], minlength=len(self.class_counts[reference]))  # (C,)
        rare = (counts > 0) & (counts < MIN_PER_CLASS)  # (C,) classes too rare for a within-class variance
        return ~rare[self.labels[split]]

    def probe_mask(self, split: str, *, reference: str = "train", min_per_class: int = MIN_PER_CLASS) -> Tensor:
        """``(N_split,)`` bool: images of ``split`` whose predicted class has >= ``min_per_class`` images
        on the ``reference`` split.

        For callers that want to probe a level that is not ``usable`` only because of a few rare predicted
        classes: restricting both splits to this mask drops those classes and keeps the labels unchanged.
        Returns all-False if fewer than 2 classes survive.
        """
        counts = torch.bincount(self.labels[reference], minlength=len(self.class_counts[reference]))  # (C,)
        keep = counts >= min_per_class  # (C,) classes frequent enough on the reference split
        if int(keep.sum()) < MIN_CLASSES:
            return torch.zeros_like(self.labels[split], dtype=torch.bool)
        return keep[self.labels[split]]  # (N_split,) predicted ids index the per-class flags


@dataclass(frozen=True)
class TargetSet:
    """All target levels of one generator, ordered from random (epoch 0) to trained (last epoch).

    ``levels`` is what measurements iterate over; ``meta`` is the content of ``targets.json``.
    """

    kind: str
    epochs: int
    snapshot_epochs: tuple[int, ...]
    seed: int
    num_classes: int
    levels: tuple[TargetLevel, ...]
    meta: Mapping[str, Any] = field(repr=False)
    out_dir: Path | None = None

    @property
    def splits(self) -> tuple[str, ...]:
        """Names of the splits every level has labels for (e.g. ``("train", "test")``)."""
        return tuple(self.levels[0].labels) if self.levels else ()

    @property
    def usable_levels(self) -> tuple[TargetLevel, ...]:
        return tuple(lv for lv in self.levels if lv.usable)

    @property
    def kept_levels(self) -> tuple[TargetLevel, ...]:
        """The levels the measurements use (not ``excluded``; rare classes of a non-``usable`` one left out)."""
        return tuple(lv for lv in self.levels if not lv.excluded)

    def level(self, key: int | str) -> TargetLevel:
        """A level by generator epoch (``3``) or name (``"resnet18@3"``)."""
        for lv in self.levels:
            if key == lv.name or (isinstance(key, int) and not isinstance(key, bool) and key == lv.generator_epoch):
                return lv
        raise KeyError(f"no target level {key!r}; have {[lv.name for lv in self.levels]}")

    @classmethod
    def load(cls, out_dir: str | os.PathLike) -> "TargetSet":
        return load_targets(out_dir)


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------
def _fingerprint(t: Tensor) -> str:
    t = t.detach().cpu().contiguous()
    return hashlib.blake2b(t.view(torch.uint8).reshape(-1).numpy().tobytes(), digest_size=12).hexdigest()


def _judge(level: TargetLevel, num_classes: int) -> TargetLevel:
    """``level`` with ``excluded`` / ``exclusion`` / ``dropped`` set: the degeneracy rule on its diagnostics, and
    for a level that is not ``usable``, whether >= 2 classes keep ``MIN_PER_CLASS`` train images."""
    why = []
    dropped = {s: 0 for s in level.labels}
    if not level.usable:
        ref = "train" if "train" in level.labels else next(iter(level.labels))
        masks = {s: level.measure_mask(s, reference=ref) for s in level.labels}  # (N_s,) bool per split
        if torch.unique(level.labels[ref][masks[ref]]).numel() >= MIN_CLASSES:
            dropped = {s: int((~m).sum()) for s, m in masks.items()}
        else:
            why.append(level.reason)
    rule = exclusion_reason(level.diagnostics, num_classes, [s for s in RULE_SPLITS if s in level.labels])
    if rule:
        why.append(rule)
    return replace(level, excluded=bool(why), exclusion="; ".join(why), dropped=dropped)


def is_complete(out_dir: str | os.PathLike) -> bool:
    """Whether ``out_dir`` holds a finished generator of the current :data:`TARGETS_FORMAT` (older formats are
    retrained, not silently measured)."""
    out = Path(out_dir)
    try:
        meta = json.loads((out / "targets.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("format") == TARGETS_FORMAT and bool(meta.get("complete")) and (out / "targets.pt").is_file()


def load_targets(out_dir: str | os.PathLike) -> TargetSet:
    """The :class:`TargetSet` of a finished generator directory; :class:`TargetError` if it is not one."""
    out = Path(out_dir)
    meta_path, pt_path = out / "targets.json", out / "targets.pt"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise TargetError(f"{str(meta_path)!r} does not exist: no finished target generator in {str(out)!r}") from None
    except json.JSONDecodeError as exc:
        raise TargetError(f"{str(meta_path)!r} is not valid JSON ({exc})") from None
    if meta.get("format") != TARGETS_FORMAT or not meta.get("complete"):
        raise TargetError(f"{str(meta_path)!r} is not a complete {TARGETS_FORMAT} file")
    try:
        blob = torch.load(pt_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
        raise TargetError(f"{str(pt_path)!r} is missing or unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(blob, dict) or blob.get("format") != TARGETS_FORMAT:
        raise TargetError(f"{str(pt_path)!r} is not a {TARGETS_FORMAT} file")
    # JSON objects are written with sorted keys; the caller's split order is kept separately.
    order = list(meta.get("split_order") or meta["splits"])
    levels = []
    for lv in meta["levels"]:
        labels = blob["labels"].get(str(lv["generator_epoch"]))
        if labels is None or set(labels) != set(meta["splits"]):
            raise TargetError(f"{str(pt_path)!r} lacks the labels of level {lv['name']} for splits {meta['splits']}")
        for split, y in labels.items():
            if y.dtype != torch.int64 or y.shape != (meta["splits"][split]["n"],):
                raise TargetError(f"{str(pt_path)!r}: labels of {lv['name']} on {split} have the wrong shape/dtype")
        # The rule of the code in use decides (not a verdict stored with the file).
        levels.append(_judge(TargetLevel(
            name=lv["name"], kind=meta["kind"], generator_epoch=int(lv["generator_epoch"]),
            randomness=float(lv["randomness"]), labels={s: labels[s] for s in order},
            accuracy=dict(lv["accuracy"]), n_classes_used=dict(lv["n_classes_used"]),
            class_counts={k: list(v) for k, v in lv["class_counts"].items()},
            usable=bool(lv["usable"]), reason=lv.get("reason", ""), diagnostics=dict(lv["diagnostics"]),
        ), int(meta["num_classes"])))
    return TargetSet(
        kind=meta["kind"], epochs=int(meta["epochs"]), snapshot_epochs=tuple(meta["snapshot_epochs"]),
        seed=int(meta["seed"]), num_classes=int(meta["num_classes"]), levels=tuple(levels), meta=meta, out_dir=out,
    )


def _overlap(train_images: Tensor, images: Tensor) -> int:
    """How many of ``images`` ``(N, 3, H, W)`` are byte-identical to one of ``train_images`` ``(M, 3, H, W)``."""
    seen = {hashlib.blake2b(x.numpy().tobytes(), digest_size=16).digest() for x in train_images.contiguous()}
    return sum(hashlib.blake2b(x.numpy().tobytes(), digest_size=16).digest() in seen for x in images.contiguous())


def generator_data(config: Any, seed: int) -> tuple[Any, "ImageSet", str]:  # noqa: F821
    """The SSL run's splits and the generator's own training images for generator ``seed``.

    Returns ``(ssl, train, source)``: ``ssl`` = ``sslre.data.load_dataset_for(config)`` (the images the targets
    label), ``train`` = an :class:`ImageSet` of ``len(ssl.train)`` images of the same dataset that lie in neither
    SSL split, drawn per ``seed`` (class-balanced), and ``source`` describing it. Synthetic data: the stream
    ``GENERATOR_DATA_SEED + seed`` (the SSL splits use streams 0 and 1). A real dataset whose SSL train split is a
    subset: a balanced draw from the rest of its train split (the SSL test split comes from the test split).
    With no images left (the whole train split is the SSL train split) ``train`` is the SSL train split itself,
    as in the paper, and the degeneracy rule's gap test guards against memorisation.
    """
    from sslre.data import load_dataset, load_dataset_for
    from sslre.data.base import balanced_subset
    from sslre.data.synthetic import make_synthetic

    draw = GENERATOR_DATA_SEED + int(seed)
    if config.dataset == "synthetic":
        ssl = load_dataset_for(config)
        train = make_synthetic(len(ssl.train), n_classes=config.synthetic_classes,
                               n_superclasses=config.synthetic_superclasses, seed=draw,
                               image_size=config.image_size, name="synthetic/generator")
        return ssl, train, f"synthetic stream {draw} (disjoint from the SSL splits)"
    from sslre.data import subset_splits

    full = load_dataset(config.dataset, config.data_root or None, image_size=config.image_size)
    # The same subsets load_dataset_for takes (seed 0), so the complement is exactly what the SSL run never sees.
    ssl = subset_splits(full, config.train_subset, config.test_subset, 0)
    used = torch.zeros(len(full.train), dtype=torch.bool)
    if config.train_subset:
        used[balanced_subset(full.train.labels, config.train_subset, 0)] = True
    rest = torch.nonzero(~used).flatten()  # (R,) train-split images outside the SSL train subset
    if config.train_subset and rest.numel() >= 2:
        pick = rest[balanced_subset(full.train.labels[rest], len(ssl.train), draw)]
        return ssl, full.train.subset(pick), (
            f"{pick.numel()} images of the {config.dataset} train split outside the SSL subset (draw {draw})")
    return ssl, ssl.train, "the SSL train split (no disjoint images: the run uses the whole train split)"


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------
def _build_classifier(kind: str, num_classes: int, model_kwargs: Mapping[str, Any]) -> nn.Module:
    from sslre.models import ResNet18Cifar, ViT

    if kind == "resnet18":
        return ResNet18Cifar(num_classes, **model_kwargs)
    return ViT(num_classes, **model_kwargs)


def _normalize(images_uint8: Tensor) -> Tensor:
    from sslre.data.augment import normalize

    return normalize(images_uint8)  # (B, 3, H, W) float32, ImageNet mean/std (App. A.1)


@torch.inference_mode()
def _predict(model: nn.Module, images: Tensor, batch_size: int, device: torch.device) -> Tensor:
    """``(N,)`` int64 argmax class predictions of ``model`` in eval mode."""
    was = model.training
    model.eval()
    try:
        out = []
        for s in range(0, images.shape[0], batch_size):
            logits = model(_normalize(images[s:s + batch_size].to(device)))  # (B, C)
            if not torch.isfinite(logits).all():
                raise TargetError("the generator produced non-finite logits; its training diverged (lower lr)")
            out.append(logits.argmax(1).cpu())
        return torch.cat(out).to(torch.int64)
    finally:
        model.train(was)


@torch.no_grad()
def _calibrated_copy(model: nn.Module, images: Tensor, batch_size: int, device: torch.device) -> nn.Module | None:
    """A copy whose BatchNorm running statistics are estimated on ``images`` (cumulative average over one
    ordered pass in train mode; weights unchanged). ``None`` if the model has no BatchNorm."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return None
    net = copy.deepcopy(model)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average: the plain mean over the pass's batches
    net.train()
    for s in range(0, images.shape[0], batch_size):
        batch = images[s:s + batch_size]
        if batch.shape[0] < 2:
            break  # a one-image batch has no variance to estimate
        net(_normalize(batch.to(device)))
    return net


def _batches(perm: Tensor, batch_size: int) -> list[Tensor]:
    chunks = list(torch.split(perm, batch_size))
    # A trailing batch of one breaks BatchNorm in train mode; fold it into the previous batch.
    if len(chunks) > 1 and chunks[-1].numel() == 1:
        chunks[-2] = torch.cat([chunks[-2], chunks.pop()])
    return chunks


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TargetError(f"device {dev} requested but torch.cuda.is_available() is False")
    return dev


def _validate(settings: TargetSettings, train: Any, eval_sets: Any) -> tuple[int, ...]:
    """The snapshot epochs of a valid request (0 and K always in); :class:`TargetError` naming a bad argument."""
    from sslre.data.base import ImageSet

    kind, epochs, batch_size, lr = settings.kind, settings.epochs, settings.batch_size, settings.lr
    if kind not in GENERATOR_KINDS:
        raise TargetError(f"generator kind {kind!r} is unknown; allowed: {', '.join(GENERATOR_KINDS)}")
    if not isinstance(train, ImageSet):
        raise TargetError(f"train must be an sslre.data.ImageSet, got {type(train).__name__}")
    if len(train) < 2:
        raise TargetError(f"train split {train.name!r} has {len(train)} image(s); a generator needs at least 2")
    if not isinstance(eval_sets, Mapping) or not eval_sets:
        raise TargetError("eval_sets must be a non-empty dict {split name: ImageSet}, e.g. {'train': ..., 'test': ...}")
    for name, s in eval_sets.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise TargetError(f"eval split name {name!r} must be a non-empty string without '/'")
        if not isinstance(s, ImageSet):
            raise TargetError(f"eval_sets[{name!r}] must be an ImageSet, got {type(s).__name__}")
        if len(s) == 0:
            raise TargetError(f"eval_sets[{name!r}] is empty")
        if s.images.shape[1:] != train.images.shape[1:]:
            raise TargetError(
                f"eval_sets[{name!r}] images are {tuple(s.images.shape[1:])}, train images {tuple(train.images.shape[1:])}"
            )
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise TargetError(f"epochs must be an int >= 1, got {epochs!r}")
    if settings.snapshot_epochs is None:
        from sslre.config import scale_epochs

        snaps = scale_epochs(epochs)
    else:
        snaps = tuple(sorted({int(e) for e in settings.snapshot_epochs}))
        bad = [e for e in snaps if not 0 <= e <= epochs]
        if bad:
            raise TargetError(f"snapshot_epochs {bad} lie outside 0..epochs={epochs}")
        # Randomness 1 and 0 anchor every curve (Sec. 5): both ends are always recorded.
        snaps = tuple(sorted(set(snaps) | {0, epochs}))
    if not isinstance(batch_size, int) or batch_size < 2:
        raise TargetError(f"batch_size must be an int >= 2 (BatchNorm needs a batch), got {batch_size!r}")
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise TargetError(f"lr must be a positive finite number, got {lr!r}")
    return snaps


@dataclass(frozen=True)
class _Job:
    """One generator request, resolved: what the training loop and ``targets.json`` read."""

    settings: TargetSettings
    train: Any  # sslre.data.ImageSet: the generator's training images
    eval_sets: Mapping[str, Any]  # split name -> ImageSet whose predictions become targets
    out: Path
    seed: int
    snaps: tuple[int, ...]
    lr: float
    weight_decay: float
    model_kwargs: Mapping[str, Any]
    classifier: Callable[[int], nn.Module] | None
    request: Mapping[str, Any]  # recorded in targets.json; a finished out_dir must hold the same one

    @property
    def num_classes(self) -> int:
        return self.train.num_classes

    @property
    def probe_split(self) -> str:
        """The split whose predictions decide ``usable``: ``train`` (where probes fit), else the first."""
        return "train" if "train" in self.eval_sets else next(iter(self.eval_sets))


def _job(settings: TargetSettings, train: Any, eval_sets: Mapping[str, Any], out_dir: str | os.PathLike, seed: int,
         train_source: str, classifier: Callable[[int], nn.Module] | None) -> _Job:
    snaps = _validate(settings, train, eval_sets)
    kind = settings.kind
    lr = float(PAPER_LR[kind] if settings.lr is None else settings.lr)
    wd = float(PAPER_WEIGHT_DECAY[kind] if settings.weight_decay is None else settings.weight_decay)
    model_kwargs: dict[str, Any] = {}
    if classifier is None:
        if kind == "resnet18" and settings.width is not None:
            model_kwargs["width"] = int(settings.width)
        if kind == "vit":
            for key, val in (("dim", settings.vit_dim), ("depth", settings.vit_depth), ("heads", settings.vit_heads)):
                if val is not None:
                    model_kwargs[key] = int(val)
            model_kwargs.setdefault("image_size", train.image_size)
    request = {
        "kind": kind, "epochs": settings.epochs, "snapshot_epochs": list(snaps), "seed": int(seed),
        "batch_size": settings.batch_size, "lr": lr, "weight_decay": wd,
        "model_kwargs": model_kwargs if classifier is None else {"custom": getattr(classifier, "__name__", "factory")},
        "calibrate_init_bn": bool(settings.calibrate_init_bn), "num_classes": train.num_classes,
        "train": {"n": len(train), "images": _fingerprint(train.images), "labels": _fingerprint(train.labels)},
        "splits": {name: {"n": len(s), "images": _fingerprint(s.images)} for name, s in eval_sets.items()},
        "train_source": str(train_source),
    }
    return _Job(settings, train, eval_sets, Path(out_dir), int(seed), snaps, lr, wd, model_kwargs, classifier,
                request)


def train_target_generator(  # one settings object; the rest say what to label, where, and how to run
    settings: TargetSettings,
    train: "ImageSet",  # noqa: F821 - sslre.data.ImageSet, imported lazily
    eval_sets: Mapping[str, "ImageSet"],  # noqa: F821
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    train_source: str = "",
    device: str | torch.device | None = None,
    num_threads: int | None = None,
    progress: bool = True,
    classifier: Callable[[int], nn.Module] | None = None,
) -> TargetSet:
    """Train a random-target generator and record its class predictions at its snapshot epochs (Sec. 5).

    Args:
        settings: the generator (:class:`TargetSettings`: kind, epochs K, snapshot epochs, batch size, Adam lr
            and weight decay, network size, epoch-0 BatchNorm calibration).
        train: the generator's training images; it learns their class labels (cross-entropy, no augmentation).
            :func:`generator_data` draws them disjoint from the SSL splits (the paper's "same dataset").
        eval_sets: split name -> ImageSet whose predictions become targets, at least the SSL ``train`` and
            ``test`` splits (``{"train": ssl.train, "test": ssl.test}``). The ``train`` split's predictions
            decide ``usable`` (where probes fit; the first split when there is no ``train``).
        out_dir: where ``targets.pt`` / ``targets.json`` go; a finished directory with the same request is
            loaded instead of retrained, an unfinished one is resumed from ``generator_state.pt``. Training holds
            the folder's lock (:func:`sslre.train.run_lock`), as an SSL run does.
        seed: seeds the initialisation and the data order (runs are deterministic on CPU for a seed).
        train_source: where ``train`` came from, in words (recorded in ``targets.json``; see :func:`generator_data`).
        device: ``None``/``"auto"`` = CUDA if available else CPU.
        num_threads: torch CPU threads while training (restored afterwards); ``None`` = leave as is.
        progress: a tqdm bar over epochs.
        classifier: optional ``num_classes -> nn.Module`` factory replacing the built-in ResNet-18/ViT
            (tests, custom generators); the settings' network size is then ignored, and the factory is identified
            by its ``__name__`` when a finished ``out_dir`` is matched against the request.

    Returns:
        The :class:`TargetSet`: levels ``<kind>@<k>`` for each snapshot epoch, randomness ``1 - k/K``.

    Raises:
        TargetError: bad arguments; an ``out_dir`` finished with a different request; divergence (non-finite loss).
    """
    job = _job(settings, train, eval_sets, out_dir, seed, train_source, classifier)
    done = _finished(job)
    if done is not None:
        return done
    dev = _resolve_device(device)
    if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
        raise TargetError(f"num_threads must be an int >= 1 or None, got {num_threads!r}")
    from sslre.train import run_lock

    prev_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        with run_lock(job.out):
            done = _finished(job)  # again under the lock: another trainer may have just finished it
            return done if done is not None else _train(job, dev, progress)
    finally:
        torch.set_num_threads(prev_threads)


def _finished(job: _Job) -> TargetSet | None:
    """The finished targets of ``job.out`` if they answer ``job.request``; ``None`` if there are none (or they are
    unreadable: retrained); :class:`TargetError` if they answer another request."""
    out = job.out
    if not (out / "targets.json").exists():
        return None
    try:
        done = load_targets(out)
    except TargetError as exc:
        log.warning("%s; retraining the generator", exc)
        return None
    if done.meta.get("request") == job.request:
        log.info("random targets in %s are complete; loaded, not retrained", out)
        return done
    diff = sorted(k for k in job.request if done.meta.get("request", {}).get(k) != job.request[k])
    raise TargetError(
        f"{str(out)!r} holds finished targets from a different request (differs in: {', '.join(diff)}); "
        "use another out_dir or delete this one"
    )


STATE_NAME = "generator_state.pt"
STATE_FORMAT = "sslre-generator-state"
_STATE_KEYS = ("request", "epoch", "model", "optimizer", "scheduler", "shuffle_rng", "cpu_rng", "labels", "fit_acc")


class _Training:
    """The generator's training state and its epochs: model, Adam + cosine schedule, the data-order generator,
    and the predictions recorded so far. Resumes from a verified ``generator_state.pt``
    (:func:`sslre.checkpoint.read_state`, the content hash of SSL checkpoints) and continues the same draws."""

    def __init__(self, job: _Job, dev: torch.device) -> None:
        self.job, self.dev = job, dev
        self.steps_per_epoch = len(_batches(torch.arange(len(job.train)), job.settings.batch_size))
        self.fresh()

    def fresh(self) -> None:
        """Initial model, optimiser, schedule and data-order RNG for the seed; nothing recorded yet."""
        job = self.job
        torch.manual_seed(job.seed)
        net = (job.classifier(job.num_classes) if job.classifier is not None else
               _build_classifier(job.settings.kind, job.num_classes, job.model_kwargs)).to(self.dev)
        self.model = net
        self.opt = torch.optim.Adam(net.parameters(), lr=job.lr, weight_decay=job.weight_decay)
        # Cosine annealing to 0 over every step of the run (App. A.3), stepped per batch.
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.opt, T_max=job.settings.epochs * self.steps_per_epoch)
        self.shuffle = torch.Generator().manual_seed(job.seed)
        self.labels: dict[int, dict[str, Tensor]] = {}
        self.fit_acc: dict[int, float] = {}  # epoch -> true-label accuracy on the generator's own training images
        self.epoch = 0
        self.init_bn = "calibrated" if job.settings.calibrate_init_bn else "placeholder"

    def state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT, "format_version": 1, "request": self.job.request, "epoch": self.epoch,
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "shuffle_rng": self.shuffle.get_state(), "cpu_rng": torch.get_rng_state(), "init_bn": self.init_bn,
            "labels": {str(k): v for k, v in self.labels.items()},
            "fit_acc": {str(k): v for k, v in self.fit_acc.items()},
        }

    def resume(self, path: Path) -> None:
        """Continue from the state at ``path`` if it verifies and answers this request; else start afresh."""
        from sslre.checkpoint import read_state

        if not path.exists():
            return
        try:
            st = read_state(path, STATE_FORMAT, 1, _STATE_KEYS)
            if st["request"] != self.job.request:
                raise ValueError("it was written for a different request")
            self.model.load_state_dict(st["model"])
            self.opt.load_state_dict(st["optimizer"])
            self.sched.load_state_dict(st["scheduler"])
            self.shuffle.set_state(st["shuffle_rng"])
            torch.set_rng_state(st["cpu_rng"])
            self.labels = {int(k): dict(v) for k, v in st["labels"].items()}
            self.fit_acc = {int(k): float(v) for k, v in st["fit_acc"].items()}
            self.epoch = int(st["epoch"])
            self.init_bn = st.get("init_bn", self.init_bn)
            log.info("resuming target generator %s from epoch %d", self.job.settings.kind, self.epoch)
        except Exception as exc:  # noqa: BLE001 - an unusable resume point means: start again
            log.warning("ignoring resume state %s (%s: %s); training from scratch", path, type(exc).__name__, exc)
            self.fresh()  # nothing half-loaded survives

    def snapshot(self, epoch: int) -> None:
        """Record the predictions on every split (and on the generator's own training images) at ``epoch``."""
        job, net = self.job, self.model
        size = max(job.settings.batch_size, 256)
        if epoch == 0 and job.settings.calibrate_init_bn:
            net = _calibrated_copy(self.model, job.train.images, job.settings.batch_size, self.dev) or self.model
            if net is self.model:
                self.init_bn = "no-batchnorm"
        self.labels[epoch] = {name: _predict(net, s.images, size, self.dev) for name, s in job.eval_sets.items()}
        own = _predict(net, job.train.images, size, self.dev)  # (N_train,) on its own training images
        self.fit_acc[epoch] = float((own == job.train.labels).double().mean())

    def train_epoch(self, epoch: int) -> float:
        """One pass over the training images in the data-order generator's next permutation; the mean loss."""
        job, train = self.job, self.job.train
        self.model.train()
        total, count = 0.0, 0
        for idx in _batches(torch.randperm(len(train), generator=self.shuffle), job.settings.batch_size):
            x = _normalize(train.images[idx].to(self.dev))  # (B, 3, H, W) float32
            y = train.labels[idx].to(self.dev)  # (B,)
            loss = F.cross_entropy(self.model(x), y)
            if not torch.isfinite(loss):
                raise TargetError(
                    f"{job.settings.kind} generator diverged at epoch {epoch} (loss {loss.item()}) with Adam lr "
                    f"{job.lr}; pass a smaller lr (App. A.3's 0.05 is too large for small data)"
                )
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            total += loss.item() * idx.numel()
            count += idx.numel()
        self.epoch = epoch
        return total / max(count, 1)


def _train(job: _Job, dev: torch.device, progress: bool) -> TargetSet:
    from tqdm.auto import tqdm

    from sslre.checkpoint import save_state

    t_start = time.perf_counter()
    state_path = job.out / STATE_NAME
    epochs = job.settings.epochs
    # fork_rng: the generator's seeding must not disturb the caller's global RNG (nor be disturbed by it).
    fork_devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        run = _Training(job, dev)
        run.resume(state_path)
        if run.epoch == 0 and 0 not in run.labels:
            run.snapshot(0)
        bar = tqdm(range(run.epoch + 1, epochs + 1), disable=not progress, desc=f"targets-{job.settings.kind}",
                   unit="epoch", leave=False)
        for epoch in bar:
            bar.set_postfix(loss=f"{run.train_epoch(epoch):.3f}")
            if epoch in job.snaps:
                run.snapshot(epoch)
            if epoch < epochs:
                save_state(run.state(), state_path)
    _write_targets(job, run, dev, time.perf_counter() - t_start)
    with contextlib.suppress(FileNotFoundError):
        state_path.unlink()
    return load_targets(job.out)


def _write_targets(job: _Job, run: _Training, dev: torch.device, seconds: float) -> None:
    """``targets.pt`` (the labels per level) and then ``targets.json`` (the metadata, marking the folder finished)."""
    s, kind, num_classes, epochs = job.settings, job.settings.kind, job.num_classes, job.settings.epochs
    levels_meta = []
    for k in job.snaps:
        preds = run.labels[k]
        acc, used, counts = {}, {}, {}
        for name, es in job.eval_sets.items():
            acc[name] = float((preds[name] == es.labels).double().mean())
            used[name] = int(torch.unique(preds[name]).numel())
            counts[name] = torch.bincount(preds[name], minlength=num_classes).tolist()
        ok, why = check_usable(preds[job.probe_split])
        diag = level_diagnostics(preds, {name: es.labels for name, es in job.eval_sets.items()}, num_classes,
                                 fit_true_acc=run.fit_acc[k])
        reason = f"{job.probe_split}: {why}" if why else ""
        judged = _judge(TargetLevel(f"{kind}@{k}", kind, k, randomness_level(k, epochs), preds, acc, used, counts,
                                    ok, reason, diag), num_classes)
        levels_meta.append({
            "name": f"{kind}@{k}", "generator_epoch": k, "randomness": randomness_level(k, epochs),
            "accuracy": acc, "n_classes_used": used, "class_counts": counts, "usable": ok,
            "reason": reason, "diagnostics": diag,
            # For readers of the file; loading re-applies the rule of the code in use.
            "excluded": judged.excluded, "exclusion": judged.exclusion, "dropped": judged.dropped,
        })
        if judged.excluded:
            log.warning("target level %s@%d is excluded: %s", kind, k, judged.exclusion)
        elif not ok:
            log.warning("target level %s@%d: rare predicted classes left out (%s): %s", kind, k, judged.dropped, why)
    meta = {
        "format": TARGETS_FORMAT, "complete": True, "kind": kind, "epochs": epochs, "snapshot_epochs": list(job.snaps),
        "seed": job.seed, "batch_size": s.batch_size, "lr": job.lr, "weight_decay": job.weight_decay,
        "optimizer": "adam+cosine", "augmentation": "none", "model_kwargs": job.request["model_kwargs"],
        "init_bn": run.init_bn, "num_classes": num_classes, "class_names": list(job.train.class_names),
        "probe_split": job.probe_split, "splits": job.request["splits"], "split_order": list(job.eval_sets),
        "levels": levels_meta,
        "generator_train": {"n": len(job.train), "source": job.request["train_source"],
                            # labelled images byte-identical to a training image (0 = the generator never saw them)
                            "overlap": {name: _overlap(job.train.images, es.images)
                                        for name, es in job.eval_sets.items()}},
        "degeneracy_rule": DEGENERACY_RULE, "request": job.request,
        "device": str(dev), "seconds": round(seconds, 3), "torch": torch.__version__,
    }
    io.save_torch({"format": TARGETS_FORMAT, "labels": {str(k): v for k, v in run.labels.items()}},
                  job.out / "targets.pt")
    io.write_json(meta, job.out / "targets.json", indent=2, sort_keys=True)  # last: marks the folder finished
