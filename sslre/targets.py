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
* **Size.** ``width`` shrinks ResNet-18's channels (standard 64; the quick profile uses a narrower net so a
  generator trains in well under a minute on 2 CPU cores) and ``vit_dim``/``vit_depth``/``vit_heads`` the ViT
  (standard 384 / 10 / 8, App. A.2).
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
* **Degenerate levels.** Even so, an untrained classifier can put most images in a few classes. Every level
  records the number of distinct predicted classes and the class counts per split; a level whose predictions
  on the ``train`` split use fewer than 2 classes, or give some predicted class fewer than 2 images, is marked
  ``usable=False`` with the reason, so downstream probes skip it instead of crashing.

Files in ``out_dir`` (all written atomically): ``targets.pt`` (labels per level and split), ``targets.json``
(metadata; its presence with ``"complete": true`` marks a finished generator) and, while training,
``generator_state.pt`` (resume point, removed at the end). A finished ``out_dir`` is loaded, not retrained.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "GENERATOR_KINDS",
    "TARGETS_FORMAT",
    "TargetError",
    "TargetLevel",
    "TargetSet",
    "randomness_level",
    "check_usable",
    "train_target_generator",
    "load_targets",
]

log = logging.getLogger(__name__)

TARGETS_FORMAT = "sslre-targets/1"
GENERATOR_KINDS = ("resnet18", "vit")
# App. A.3 "Random targets".
PAPER_LR = {"resnet18": 0.05, "vit": 0.001}
PAPER_WEIGHT_DECAY = {"resnet18": 0.0, "vit": 5e-5}
MIN_CLASSES = 2           # a probe needs at least two classes
MIN_PER_CLASS = 2         # ... and two images of every class it is asked about (NCC means, CDNV variances)


class TargetError(ValueError):
    """A random-target request or file is invalid; the message names the argument or file and the problem."""


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
def _atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    from sslre.checkpoint import atomic_write

    atomic_write(path, mode, write)  # the shared writer: atomic, and the file gets the umask's mode (not 0600)


def _save_torch(obj: Any, path: Path) -> None:
    _atomic_write(path, lambda f: torch.save(obj, f))


def _save_json(obj: Any, path: Path) -> None:
    _atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n"), mode="w")


def _fingerprint(t: Tensor) -> str:
    t = t.detach().cpu().contiguous()
    return hashlib.blake2b(t.view(torch.uint8).reshape(-1).numpy().tobytes(), digest_size=12).hexdigest()


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
        levels.append(TargetLevel(
            name=lv["name"], kind=meta["kind"], generator_epoch=int(lv["generator_epoch"]),
            randomness=float(lv["randomness"]), labels={s: labels[s] for s in order},
            accuracy=dict(lv["accuracy"]), n_classes_used=dict(lv["n_classes_used"]),
            class_counts={k: list(v) for k, v in lv["class_counts"].items()},
            usable=bool(lv["usable"]), reason=lv.get("reason", ""),
        ))
    return TargetSet(
        kind=meta["kind"], epochs=int(meta["epochs"]), snapshot_epochs=tuple(meta["snapshot_epochs"]),
        seed=int(meta["seed"]), num_classes=int(meta["num_classes"]), levels=tuple(levels), meta=meta, out_dir=out,
    )


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


def _validate(kind, train, eval_sets, epochs, snapshot_epochs, batch_size, lr) -> tuple[int, ...]:
    from sslre.data.base import ImageSet

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
    if snapshot_epochs is None:
        from sslre.config import scale_epochs

        snaps = scale_epochs(epochs)
    else:
        snaps = tuple(sorted({int(e) for e in snapshot_epochs}))
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


def train_target_generator(
    kind: str,
    train: "ImageSet",  # noqa: F821 - sslre.data.ImageSet, imported lazily
    eval_sets: Mapping[str, "ImageSet"],  # noqa: F821
    *,
    epochs: int,
    out_dir: str | os.PathLike,
    snapshot_epochs: Sequence[int] | None = None,
    seed: int = 0,
    batch_size: int = 128,
    lr: float | None = None,
    weight_decay: float | None = None,
    width: int | None = None,
    vit_dim: int | None = None,
    vit_depth: int | None = None,
    vit_heads: int | None = None,
    calibrate_init_bn: bool = True,
    probe_split: str = "train",
    device: str | torch.device | None = None,
    num_threads: int | None = None,
    progress: bool = True,
    classifier: Callable[[int], nn.Module] | None = None,
) -> TargetSet:
    """Train a random-target generator and record its class predictions at its snapshot epochs (Sec. 5).

    Args:
        kind: ``resnet18`` (Sec. 5) or ``vit`` (App. B.5).
        train: the SSL train split; the generator learns its class labels (cross-entropy, no augmentation).
        eval_sets: split name -> ImageSet whose predictions become targets, at least the SSL ``train`` and
            ``test`` splits (``{"train": train, "test": test}``).
        epochs: K, training epochs of the generator.
        out_dir: where ``targets.pt`` / ``targets.json`` go; a finished directory with the same request is
            loaded instead of retrained, an unfinished one is resumed from ``generator_state.pt``.
        snapshot_epochs: generator epochs whose predictions are recorded (0 and K are always added);
            default :func:`sslre.config.scale_epochs` of ``epochs``.
        seed: seeds the initialisation and the data order (runs are deterministic on CPU for a seed).
        batch_size: images per Adam step.
        lr, weight_decay: Adam settings; ``None`` = App. A.3 (ResNet-18 0.05 / 0; ViT 0.001 / 5e-5).
            Cosine annealing to 0 over all steps.
        width: ResNet-18 base width (None = 64, the standard network; smaller is faster on CPU).
        vit_dim, vit_depth, vit_heads: ViT size (None = App. A.2's 384 / 10 / 8).
        calibrate_init_bn: estimate BatchNorm statistics on ``train`` before the epoch-0 predictions (see the
            module docstring); no effect on training or on later snapshots.
        probe_split: the split whose predictions decide ``usable`` (default ``train``, where probes fit).
        device: ``None``/``"auto"`` = CUDA if available else CPU.
        num_threads: torch CPU threads while training (restored afterwards); ``None`` = leave as is. Narrow
            generators on a busy 2-core machine run faster on 1 thread than on 2 (measured, see report).
        progress: a tqdm bar over epochs.
        classifier: optional ``num_classes -> nn.Module`` factory replacing the built-in ResNet-18/ViT
            (tests, custom generators); ``width``/``vit_*`` are then ignored, and the factory is identified
            by its ``__name__`` when a finished ``out_dir`` is matched against the request.

    Returns:
        The :class:`TargetSet`: levels ``<kind>@<k>`` for each snapshot epoch, randomness ``1 - k/K``.

    Raises:
        TargetError: bad arguments; an ``out_dir`` finished with a different request; divergence (non-finite loss).
    """
    snaps = _validate(kind, train, eval_sets, epochs, snapshot_epochs, batch_size, lr)
    if probe_split not in eval_sets:
        probe_split = next(iter(eval_sets))
    lr_used = float(PAPER_LR[kind] if lr is None else lr)
    wd_used = float(PAPER_WEIGHT_DECAY[kind] if weight_decay is None else weight_decay)
    model_kwargs: dict[str, Any] = {}
    if classifier is None:
        if kind == "resnet18" and width is not None:
            model_kwargs["width"] = int(width)
        if kind == "vit":
            for key, val in (("dim", vit_dim), ("depth", vit_depth), ("heads", vit_heads)):
                if val is not None:
                    model_kwargs[key] = int(val)
            model_kwargs.setdefault("image_size", train.image_size)
    num_classes = train.num_classes
    out = Path(out_dir)
    request = {
        "kind": kind, "epochs": epochs, "snapshot_epochs": list(snaps), "seed": int(seed),
        "batch_size": batch_size, "lr": lr_used, "weight_decay": wd_used,
        "model_kwargs": model_kwargs if classifier is None else {"custom": getattr(classifier, "__name__", "factory")},
        "calibrate_init_bn": bool(calibrate_init_bn), "num_classes": num_classes,
        "train": {"n": len(train), "images": _fingerprint(train.images), "labels": _fingerprint(train.labels)},
        "splits": {name: {"n": len(s), "images": _fingerprint(s.images)} for name, s in eval_sets.items()},
    }

    meta_path = out / "targets.json"
    if meta_path.exists():
        try:
            done = load_targets(out)
        except TargetError as exc:
            log.warning("%s; retraining the generator", exc)
        else:
            if done.meta.get("request") == request:
                log.info("random targets in %s are complete; loaded, not retrained", out)
                return done
            diff = sorted(k for k in request if done.meta.get("request", {}).get(k) != request[k])
            raise TargetError(
                f"{str(out)!r} holds finished targets from a different request (differs in: {', '.join(diff)}); "
                "use another out_dir or delete this one"
            )

    dev = _resolve_device(device)
    if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
        raise TargetError(f"num_threads must be an int >= 1 or None, got {num_threads!r}")
    prev_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _train(kind, train, eval_sets, out, request, snaps, epochs, seed, batch_size, lr_used, wd_used,
                      model_kwargs, calibrate_init_bn, probe_split, dev, progress, classifier, num_classes)
    finally:
        torch.set_num_threads(prev_threads)


def _train(kind, train, eval_sets, out, request, snaps, epochs, seed, batch_size, lr_used, wd_used, model_kwargs,
           calibrate_init_bn, probe_split, dev, progress, classifier, num_classes) -> TargetSet:
    t_start = time.perf_counter()
    state_path = out / "generator_state.pt"
    # fork_rng: the generator's seeding must not disturb the caller's global RNG (nor be disturbed by it).
    fork_devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    steps_per_epoch = len(_batches(torch.arange(len(train)), batch_size))

    def fresh():
        """Initial model, optimiser, schedule and data-order RNG for ``seed``."""
        torch.manual_seed(seed)
        net = (classifier(num_classes) if classifier is not None else
               _build_classifier(kind, num_classes, model_kwargs)).to(dev)
        adam = torch.optim.Adam(net.parameters(), lr=lr_used, weight_decay=wd_used)
        # Cosine annealing to 0 over every step of the run (App. A.3), stepped per batch.
        cos = torch.optim.lr_scheduler.CosineAnnealingLR(adam, T_max=epochs * steps_per_epoch)
        return net, adam, cos, torch.Generator().manual_seed(seed)

    with torch.random.fork_rng(devices=fork_devices):
        model, opt, sched, shuffle = fresh()
        labels: dict[int, dict[str, Tensor]] = {}
        start_epoch = 0
        init_bn = "calibrated" if calibrate_init_bn else "placeholder"

        if state_path.exists():
            try:
                st = torch.load(state_path, map_location="cpu", weights_only=True)
                if st.get("request") != request:
                    raise ValueError("it was written for a different request")
                model.load_state_dict(st["model"])
                opt.load_state_dict(st["optimizer"])
                sched.load_state_dict(st["scheduler"])
                shuffle.set_state(st["shuffle_rng"])
                torch.set_rng_state(st["cpu_rng"])
                labels = {int(k): dict(v) for k, v in st["labels"].items()}
                start_epoch = int(st["epoch"])
                init_bn = st.get("init_bn", init_bn)
                log.info("resuming target generator %s from epoch %d", kind, start_epoch)
            except Exception as exc:  # noqa: BLE001 - an unusable resume point means: start again
                log.warning("ignoring resume state %s (%s: %s); training from scratch", state_path,
                            type(exc).__name__, exc)
                model, opt, sched, shuffle = fresh()  # nothing half-loaded survives
                labels, start_epoch = {}, 0
                init_bn = "calibrated" if calibrate_init_bn else "placeholder"

        def snapshot(epoch: int) -> None:
            net = model
            nonlocal init_bn
            if epoch == 0 and calibrate_init_bn:
                net = _calibrated_copy(model, train.images, batch_size, dev) or model
                if net is model:
                    init_bn = "no-batchnorm"
            labels[epoch] = {name: _predict(net, s.images, max(batch_size, 256), dev) for name, s in eval_sets.items()}

        if start_epoch == 0 and 0 not in labels:
            snapshot(0)

        from tqdm.auto import tqdm

        bar = tqdm(range(start_epoch + 1, epochs + 1), disable=not progress, desc=f"targets-{kind}", unit="epoch",
                   leave=False)
        for epoch in bar:
            model.train()
            total, count = 0.0, 0
            for idx in _batches(torch.randperm(len(train), generator=shuffle), batch_size):
                x = _normalize(train.images[idx].to(dev))  # (B, 3, H, W) float32
                y = train.labels[idx].to(dev)  # (B,)
                loss = F.cross_entropy(model(x), y)
                if not torch.isfinite(loss):
                    raise TargetError(
                        f"{kind} generator diverged at epoch {epoch} (loss {loss.item()}) with Adam lr {lr_used}; "
                        "pass a smaller lr (App. A.3's 0.05 is too large for small data)"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * idx.numel()
                count += idx.numel()
            bar.set_postfix(loss=f"{total / max(count, 1):.3f}")
            if epoch in snaps:
                snapshot(epoch)
            if epoch < epochs:
                _save_torch({
                    "request": request, "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "shuffle_rng": shuffle.get_state(),
                    "cpu_rng": torch.get_rng_state(), "init_bn": init_bn,
                    "labels": {str(k): v for k, v in labels.items()},
                }, state_path)

    levels_meta = []
    for k in snaps:
        preds = labels[k]
        acc, used, counts = {}, {}, {}
        for name, s in eval_sets.items():
            acc[name] = float((preds[name] == s.labels).double().mean())
            used[name] = int(torch.unique(preds[name]).numel())
            counts[name] = torch.bincount(preds[name], minlength=num_classes).tolist()
        ok, why = check_usable(preds[probe_split])
        levels_meta.append({
            "name": f"{kind}@{k}", "generator_epoch": k, "randomness": randomness_level(k, epochs),
            "accuracy": acc, "n_classes_used": used, "class_counts": counts, "usable": ok,
            "reason": f"{probe_split}: {why}" if why else "",
        })
        if not ok:
            log.warning("target level %s@%d is not usable: %s", kind, k, why)
    meta = {
        "format": TARGETS_FORMAT, "complete": True, "kind": kind, "epochs": epochs, "snapshot_epochs": list(snaps),
        "seed": int(seed), "batch_size": batch_size, "lr": lr_used, "weight_decay": wd_used,
        "optimizer": "adam+cosine", "augmentation": "none", "model_kwargs": request["model_kwargs"],
        "init_bn": init_bn, "num_classes": num_classes, "class_names": list(train.class_names),
        "probe_split": probe_split, "splits": request["splits"], "split_order": list(eval_sets), "levels": levels_meta, "request": request,
        "device": str(dev), "seconds": round(time.perf_counter() - t_start, 3), "torch": torch.__version__,
    }
    _save_torch({"format": TARGETS_FORMAT, "labels": {str(k): v for k, v in labels.items()}}, out / "targets.pt")
    _save_json(meta, out / "targets.json")  # written last: its presence marks the directory finished
    with contextlib.suppress(FileNotFoundError):
        state_path.unlink()
    return load_targets(out)
