"""The training loop (App. A.3): resumable, deterministic on CPU, every file written atomically.

Layout of a run folder ``RUN``::

    RUN/config.json                  the Config (a RUN holding another config is refused)
    RUN/history.jsonl                one JSON object per epoch, epoch 0 = untrained model (no updates)
    RUN/checkpoints/epoch_NNNN.pt    kept checkpoints at config.checkpoint_epochs (always with 0 and the last)
    RUN/checkpoints/last.pt          rolling checkpoint after every epoch, for resume
    RUN/DONE                         written when the last epoch finished

Determinism and exact resume: model init comes from ``torch.manual_seed(config.seed)``; every epoch draws its
batch permutation and all augmentation parameters from one CPU ``torch.Generator`` seeded from
``(config.seed, epoch)`` alone. Restoring model + optimizer + scheduler state from ``last.pt`` therefore
continues the exact same trajectory as an uninterrupted run, whatever happened before the kill.

``history.jsonl`` rows: ``epoch``, ``loss_total``, ``loss_invariance``, ``loss_regularization``,
``loss_variance``, ``loss_covariance``, ``accuracy`` (mean over the epoch's steps; ``null`` where the method has
no such term), ``lr`` (learning rate at the epoch's first step), ``steps``, ``images``, ``seconds`` (wall time of
the epoch), ``images_per_s``.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Optional

import torch

from sslre.checkpoint import (
    atomic_save,
    atomic_write_text,
    checkpoint_path,
    make_checkpoint,
    read_checkpoint,
    set_rng_states,
)
from sslre.config import Config, ConfigError
from sslre.methods import STEP_KEYS, SSLMethod, build_method

# Fields that do not change a CPU run's numbers: a resumed run may differ in these.
RUNTIME_KEYS = ("num_threads",)


class RunDirError(ConfigError):
    """The run folder holds a run of a different config (or is otherwise unusable)."""


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the epoch's generator (batch order + augmentations): a fixed function of (seed, epoch) only."""
    return (int(seed) * 1_000_003 + int(epoch) * 7_919 + 12_345) % (2**63 - 1)


def resolve_device(config: Config) -> torch.device:
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch.cuda.is_available() is False; use device=auto or cpu")
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Multiplier of the base lr at optimizer step ``step`` (0-based): linear warm-up, then cosine to 0.

    ``factor = (step + 1) / warmup`` during warm-up, then ``0.5 * (1 + cos(pi * t))`` with ``t`` the fraction of
    the post-warm-up steps done (CosineAnnealingLR with eta_min = 0, stepped per iteration; App. A.3).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup_steps) / span)))


def build_optimizer(config: Config, params) -> torch.optim.Optimizer:
    """SGD(lr, momentum, weight_decay) (App. A.3, SSL) or Adam(lr, weight_decay) when ``optimizer == "adam"``."""
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def steps_per_epoch(config: Config, n_images: int) -> int:
    """Optimizer steps per epoch: full batches only for SSL (``drop_last``); supervised keeps a last batch >= 2."""
    b = config.batch_size
    if config.method == "supervised":
        full, rest = divmod(n_images, b)
        return full + (1 if rest >= 2 else 0)
    return n_images // b


def _batches(n: int, config: Config, generator: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=generator)  # (N,) this epoch's order, from the epoch generator
    k = steps_per_epoch(config, n)
    return [perm[i * config.batch_size:(i + 1) * config.batch_size] for i in range(k)]


def _json_value(v: Any) -> Any:
    # NaN is not JSON: write null (pandas reads it back as NaN).
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _write_history(run_dir: Path, history: list[dict]) -> None:
    text = "".join(json.dumps({k: _json_value(v) for k, v in row.items()}) + "\n" for row in history)
    atomic_write_text(text, run_dir / "history.jsonl")


def _check_run_dir(run_dir: Path, config: Config) -> None:
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        return
    try:
        old = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise RunDirError(f"{cfg_path} is not valid JSON ({e}); remove the run folder or pick another --run-dir") from e
    new = config.to_dict()
    diff = sorted(k for k in set(old) | set(new) if k not in RUNTIME_KEYS and old.get(k) != new.get(k))
    if diff:
        detail = ", ".join(f"{k}: {old.get(k)!r} (run) vs {new.get(k)!r} (asked)" for k in diff[:8])
        raise RunDirError(
            f"run folder {str(run_dir)!r} holds a run with a different config ({detail}); "
            "use another --run-dir or delete this one"
        )


def _autocast(device: torch.device, config: Config):
    if device.type == "cuda" and config.amp:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _load_train_set(config: Config):
    from sslre.data import load_dataset_for

    return load_dataset_for(config).train


def run_epoch(
    method: SSLMethod,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: Config,
    epoch: int,
    *,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Any = None,
    progress: bool = False,
) -> dict[str, float]:
    """One pass over ``images`` (``(N, 3, H, W)`` uint8 on the training device) in this epoch's order.

    With ``optimizer`` it trains (one step per batch, scheduler stepped per batch); without, it only measures
    the loss terms under ``torch.no_grad`` (used for epoch 0). Returns the epoch's row for ``history.jsonl``.
    """
    from tqdm.auto import tqdm

    device = images.device
    gen = torch.Generator().manual_seed(epoch_seed(config.seed, epoch))
    batches = _batches(images.shape[0], config, gen)
    if not batches:
        raise ConfigError(
            f"batch_size={config.batch_size} is larger than the {images.shape[0]} training images; "
            "lower batch_size or raise train_subset"
        )
    train = optimizer is not None
    lr = optimizer.param_groups[0]["lr"] if train else 0.0
    sums = {k: 0.0 for k in STEP_KEYS}
    n_images = 0
    t0 = time.perf_counter()
    bar = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", disable=not progress, leave=False,
               dynamic_ncols=True, unit="batch")
    grad = contextlib.nullcontext() if train else torch.no_grad()
    with grad:
        for i, idx in enumerate(bar):
            idx_dev = idx.to(device)
            with _autocast(device, config):
                out = method.step(images[idx_dev], labels[idx_dev], gen)
            if train:
                optimizer.zero_grad(set_to_none=True)
                out["loss_total"].backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            vals = {k: float(out[k].detach()) for k in STEP_KEYS}
            if not math.isfinite(vals["loss_total"]):
                raise FloatingPointError(
                    f"loss became {vals['loss_total']} at epoch {epoch}, step {i}; lower lr (now {config.lr})"
                )
            for k in STEP_KEYS:
                sums[k] += vals[k]
            n_images += len(idx)
            if progress:
                bar.set_postfix({k.replace("loss_", ""): f"{v:.3g}" for k, v in vals.items() if math.isfinite(v)})
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    row = {"epoch": int(epoch)}
    row.update({k: sums[k] / len(batches) for k in STEP_KEYS})
    row.update({"lr": lr, "steps": len(batches), "images": n_images, "seconds": seconds,
                "images_per_s": n_images / seconds if seconds > 0 else float("nan")})
    return row


def train(config: Config, run_dir: str | os.PathLike, *, progress: bool = True, data=None) -> Path:
    """Train ``config`` into ``run_dir`` (resuming from ``RUN/checkpoints/last.pt`` if present); return ``run_dir``.

    Args:
        config: the run's Config (App. A.3 optimisation: SGD or Adam, cosine annealing over ``config.epochs``
            per step, optional linear warm-up of ``warmup_epochs``).
        run_dir: the run folder (layout in the module docstring). A folder finished earlier (``DONE``) with the
            same config is returned at once; one with another config raises :class:`RunDirError`.
        progress: tqdm bar per epoch with the loss terms as postfix.
        data: optional :class:`~sslre.data.base.ImageSet` to train on instead of ``load_dataset_for(config).train``
            (tests, benchmarks).
    """
    run_dir = Path(run_dir)
    _check_run_dir(run_dir, config)
    if (run_dir / "DONE").exists():
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n", run_dir / "config.json")
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config)

    train_set = data if data is not None else _load_train_set(config)
    if train_set.image_size != config.image_size:
        raise ConfigError(
            f"image_size={config.image_size} but the training images are {train_set.image_size} px; "
            "set image_size to match the dataset"
        )
    num_classes = train_set.num_classes if config.method == "supervised" else None
    images = train_set.images.to(device)  # (N, 3, H, W) uint8, the whole split held on the device
    labels = train_set.labels.to(device)  # (N,) int64
    n_steps = steps_per_epoch(config, len(train_set))
    if n_steps == 0:
        raise ConfigError(
            f"batch_size={config.batch_size} is larger than the {len(train_set)} training images; "
            "lower batch_size or raise train_subset"
        )

    torch.manual_seed(config.seed)  # weight init
    method = build_method(config, num_classes=num_classes)
    optimizer = build_optimizer(config, method.parameters())
    total, warm = config.epochs * n_steps, config.warmup_epochs * n_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, warm))

    keep = set(config.checkpoint_epochs) | {0, config.epochs}
    last = run_dir / "checkpoints" / "last.pt"
    history: list[dict] = []
    start = 0
    if last.exists():
        raw = read_checkpoint(last)
        method.load_state_dict(raw["model"])
        optimizer.load_state_dict(raw["optimizer"])
        scheduler.load_state_dict(raw["scheduler"])
        set_rng_states(raw["rng"])
        history = [row for row in raw["history"] if row["epoch"] <= raw["epoch"]]
        start = int(raw["epoch"]) + 1
    method.to(device)
    if device.type == "cuda" and config.channels_last:
        method.to(memory_format=torch.channels_last)
        method.memory_format = torch.channels_last
    if device.type == "cuda" and config.compile:
        method.backbone = torch.compile(method.backbone)
        method.head = torch.compile(method.head)

    def save(epoch: int) -> None:
        ckpt = make_checkpoint(method, optimizer, scheduler, epoch, config, num_classes=num_classes, history=history)
        if epoch in keep:
            atomic_save(ckpt, checkpoint_path(run_dir, epoch))
        atomic_save(ckpt, last)  # last.pt after the kept one: resume never skips a kept checkpoint
        _write_history(run_dir, history)

    if start == 0:
        # Epoch 0: the untrained model's loss, one pass in train mode (batch statistics, as in later epochs) without
        # updates. Train-mode BatchNorm would still move its running statistics, so they are restored afterwards:
        # the epoch-0 checkpoint is exactly the initialization.
        method.train()
        init_state = copy.deepcopy(method.state_dict())
        row = run_epoch(method, images, labels, config, 0, progress=progress)
        method.load_state_dict(init_state)
        history.append(row)
        save(0)
        start = 1

    for epoch in range(start, config.epochs + 1):
        method.train()
        row = run_epoch(method, images, labels, config, epoch, optimizer=optimizer, scheduler=scheduler,
                        progress=progress)
        history.append(row)
        save(epoch)
        if progress:
            from tqdm.auto import tqdm

            terms = ", ".join(f"{k.replace('loss_', '')}={row[k]:.4g}" for k in STEP_KEYS
                              if k.startswith("loss_") and math.isfinite(row[k]))
            tqdm.write(f"epoch {epoch}/{config.epochs}: {terms} ({row['images_per_s']:.0f} img/s)")
    atomic_write_text(f"finished {config.epochs} epochs\n", run_dir / "DONE")
    return run_dir
