"""The training loop (App. A.3): resumable, deterministic on CPU, every file written atomically.

Layout of a run folder ``RUN``::

    RUN/config.json                  the Config (a RUN holding another config is refused)
    RUN/history.jsonl                one JSON object per epoch, epoch 0 = untrained model (no updates)
    RUN/checkpoints/epoch_NNNN.pt    kept checkpoints at config.checkpoint_epochs (always with 0 and the last)
    RUN/checkpoints/last.pt          rolling checkpoint after every epoch, for resume
    RUN/checkpoints/index.json       content hash of every checkpoint written (verified on load)
    RUN/DONE                         written when the last epoch finished
    RUN/.lock                        held (flock) by the one trainer that owns the folder; names its pid and host

One owner: a trainer takes an exclusive ``fcntl.flock`` on ``RUN/.lock`` before it touches anything and holds it
to the end; the OS releases it when the process dies (``kill -9`` included). A second trainer on the same folder
fails at once with :class:`RunDirLockedError` naming the holder's pid and host.

Validation before writing: the data, the model and optimizer, and the checkpoint to resume from are all checked
before ``config.json`` is written, so a start that fails on a user error leaves a fresh folder as it was and the
corrected command runs there. Resume reads ``last.pt`` only if it verifies (content hash, index) and its config
equals the run's; otherwise the newest valid ``epoch_NNNN.pt`` is used, with a :class:`ResumeWarning` naming
what was skipped and why.

Determinism and exact resume: model init comes from ``torch.manual_seed(config.seed)``; every epoch draws its
batch permutation and all augmentation parameters from one CPU ``torch.Generator`` seeded from
``(config.seed, epoch)`` alone. Restoring model + optimizer + scheduler state from ``last.pt`` therefore
continues the exact same trajectory as an uninterrupted run, whatever happened before the kill.

``history.jsonl`` rows: ``epoch``, ``loss_total``, ``loss_invariance``, ``loss_regularization``,
``loss_variance``, ``loss_covariance``, ``accuracy`` (mean over the epoch's steps; ``null`` where the method has
no such term), ``lr`` (learning rate at the epoch's first step), ``steps``, ``images``, ``seconds`` (wall time of
the epoch), ``images_per_s``, ``cpu_seconds`` (CPU time of this process in the epoch, all its threads: what a run
costs on a shared or paused machine, where wall time overstates it).

Devices (one code path): every epoch runs :func:`train_step` on :class:`StepModule` whatever the device.
``config.device`` picks where the uint8 split and the model live (the batched augmentation runs on the images'
device); ``amp`` (bf16 autocast, CUDA only -- ignored on CPU), ``cpu_amp`` (bf16 autocast on CPU, opt-in, changes
the numbers), ``channels_last`` (any device) and ``compile`` (CUDA only) change only *how* the same step runs.

Several processes (``torchrun --nproc_per_node=N -m sslre.cli train ...``, ``WORLD_SIZE > 1``): the run joins
the process group (:func:`sslre.distributed.setup_from_env`; NCCL on CUDA, gloo on CPU) and wraps
:class:`StepModule` in ``DistributedDataParallel`` -- one forward (both views, backbone + head + loss) per
backward. ``config.batch_size`` stays the *global* batch: every rank draws the same permutation from the epoch
generator and takes its contiguous shard of each global batch, so the union of the shards is the 1-process
batch; the losses gather projections over ranks (:func:`sslre.distributed.gather_cat`). Augmentations come from
a per-rank generator seeded from ``(seed, epoch, rank)`` (:func:`rank_seed`). BatchNorm becomes
``SyncBatchNorm`` on CUDA only (it has no CPU kernel): on CPU each rank normalises over its own shard. Only rank
0 writes ``config.json``, history, checkpoints (the unwrapped ``SSLMethod`` state, same keys as one process)
and progress bars; resume reads ``last.pt`` on every rank. History rows are the mean over ranks.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import errno
import json
import math
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import torch

from sslre import io
from sslre.checkpoint import (
    CheckpointError,
    checkpoint_path,
    list_checkpoints,
    make_checkpoint,
    read_checkpoint,
    save_checkpoint,
    set_rng_states,
)
from sslre.config import Config, ConfigError
from sslre.distributed import DistInfo, setup_from_env
from sslre.methods import STEP_KEYS, SSLMethod, build_method

# Fields that do not change a CPU run's numbers: a resumed run may differ in these.
RUNTIME_KEYS = ("num_threads",)


class RunDirError(ConfigError):
    """The run folder holds a run of a different config (or is otherwise unusable)."""


class RunDirLockedError(RunDirError):
    """Another trainer holds the run folder's lock; the message names its pid and host."""


class ResumeWarning(UserWarning):
    """A checkpoint was skipped on resume (corrupt, or of another config), or the run folder could not be locked;
    the message says which and why."""


LOCK_NAME = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike):
    """Hold the exclusive lock of ``run_dir`` (created if needed) for the ``with`` block; the trainers of SSL runs
    and of target generators (:mod:`sslre.targets`) take it before they touch their folder.

    ``fcntl.flock`` on ``RUN/.lock``: released by the OS when the process ends however it ends, so a killed
    trainer never leaves a stale lock. The file keeps the holder's pid and host for the next one's message; it is
    never deleted (deleting a lock file lets two processes lock two different files). Once held, the temporaries
    of atomic writes a killed trainer left in ``RUN`` and ``RUN/checkpoints`` are deleted.
    """
    import fcntl

    run_dir = Path(run_dir)
    _require_folder(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "an unknown process"
            raise RunDirLockedError(
                f"run folder {str(run_dir)!r} is in use by another trainer ({holder}); wait for it to finish or "
                "stop it, or pick another --run-dir"
            ) from None
        except OSError as e:
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            # Some cluster file systems (Lustre without -o flock, old NFS) cannot lock at all: refusing to train
            # there would make the package unusable on them, so say it and go on unguarded.
            warnings.warn(f"cannot lock {path} ({e.strerror}): this file system has no flock; make sure only one "
                          "trainer uses this run folder", ResumeWarning, stacklevel=3)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        io.remove_stale_temps(run_dir, run_dir / "checkpoints")  # left by a killed writer; no other one now
        yield path
    finally:
        os.close(fd)  # releases the flock


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the epoch's generator (batch order + augmentations): a fixed function of (seed, epoch) only."""
    return (int(seed) * 1_000_003 + int(epoch) * 7_919 + 12_345) % (2**63 - 1)


def rank_seed(seed: int, epoch: int, rank: int) -> int:
    """Seed of rank ``rank``'s augmentation generator in a multi-process run: a fixed function of (seed, epoch, rank).

    Different from :func:`epoch_seed` (which every rank uses for the shared batch order), so the ranks' views are
    independent draws.
    """
    return (epoch_seed(seed, epoch) * 31 + 1_000_000_007 * (int(rank) + 1)) % (2**63 - 1)


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


def steps_per_epoch(config: Config, n_images: int, world: int = 1) -> int:
    """Optimizer steps per epoch: full batches only for SSL (``drop_last``); supervised keeps a last batch >= 2
    (and, with ``world`` processes, >= ``world`` so that no rank's shard is empty)."""
    b = config.batch_size
    if config.method == "supervised":
        full, rest = divmod(n_images, b)
        return full + (1 if rest >= max(2, world) else 0)
    return n_images // b


def _batches(n: int, config: Config, generator: torch.Generator, world: int = 1) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=generator)  # (N,) this epoch's order, from the epoch generator
    k = steps_per_epoch(config, n, world)
    return [perm[i * config.batch_size:(i + 1) * config.batch_size] for i in range(k)]


def _shard(idx: torch.Tensor, info: DistInfo) -> torch.Tensor:
    # Contiguous equal shards (the last supervised batch may split unevenly, never empty): rank r's rows are
    # rows r*B/W..(r+1)*B/W of the global batch, the order in which gather_cat concatenates the projections.
    return idx.tensor_split(info.world_size)[info.rank] if info.enabled else idx


class StepModule(torch.nn.Module):
    """``forward(images_uint8, labels, generator) -> method.step(...)``: the whole training step's forward as one
    module call, so ``DistributedDataParallel`` sees one forward (both views) per backward. Holds ``method``
    itself (no copy): its parameters and state dict are the method's, prefixed ``method.``."""

    def __init__(self, method: SSLMethod) -> None:
        super().__init__()
        self.method = method

    def forward(self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict:
        return self.method.step(images, labels, generator)


def train_step(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    config: Config,
    *,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Any = None,
) -> dict[str, torch.Tensor]:
    """One step on any device: forward of ``model`` (a :class:`StepModule`, possibly inside DDP / compiled parts)
    under bf16 autocast when ``config.amp`` and the batch is on CUDA, then -- with ``optimizer`` -- backward,
    optimizer step and per-step scheduler step. ``images``: ``(B, 3, H, W)`` uint8 on the training device.
    Returns the method's step dict (scalar tensors, not synchronised to the host)."""
    with _autocast(images.device, config):
        out = model(images, labels, generator)
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)
        out["loss_total"].backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return out


def _json_value(v: Any) -> Any:
    # NaN is not JSON: write null (pandas reads it back as NaN).
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _write_history(run_dir: Path, history: list[dict]) -> None:
    text = "".join(json.dumps({k: _json_value(v) for k, v in row.items()}) + "\n" for row in history)
    io.write_text(text, run_dir / "history.jsonl")


def read_history(run_dir: str | os.PathLike) -> list[dict]:
    """The rows of ``RUN/history.jsonl`` (module docstring); ``[]`` when it is missing or unreadable, as for a
    folder that is no run or a history caught mid-replace on a file system without atomic renames."""
    try:
        return [json.loads(x) for x in (Path(run_dir) / "history.jsonl").read_text().splitlines() if x.strip()]
    except (OSError, ValueError):
        return []


def _config_diff(old: dict, new: dict, names: tuple[str, str] = ("run", "asked")) -> str:
    """``"key: old (run) vs new (asked), ..."`` for the fields that change a run's numbers; ``""`` if none."""
    # A run written before a Config field existed ran with that field's default (e.g. cpu_amp=False).
    defaults = {f.name: f.default for f in dataclasses.fields(Config) if f.default is not dataclasses.MISSING}
    old, new = {**defaults, **old}, {**defaults, **new}
    diff = sorted(k for k in set(old) | set(new) if k not in RUNTIME_KEYS and old.get(k) != new.get(k))
    return ", ".join(f"{k}: {old.get(k)!r} ({names[0]}) vs {new.get(k)!r} ({names[1]})" for k in diff[:8])


def _require_folder(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"run folder {str(run_dir)!r} is a file, not a folder; pick another --run-dir")


def _check_run_dir(run_dir: Path, config: Config) -> None:
    _require_folder(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        return
    try:
        old = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise RunDirError(f"{cfg_path} is not valid JSON ({e}); remove the run folder or pick another --run-dir") from e
    detail = _config_diff(old, config.to_dict())
    if detail:
        raise RunDirError(
            f"run folder {str(run_dir)!r} holds a run with a different config ({detail}); "
            "use another --run-dir or delete this one"
        )


def _resume_point(run_dir: Path, config: Config) -> Optional[dict]:
    """The checkpoint dict to resume from, or ``None`` for a fresh start.

    ``last.pt`` if it reads, verifies and holds this run's config; otherwise the newest kept ``epoch_NNNN.pt``
    that does, with a :class:`ResumeWarning` for each file skipped. Raises :class:`CheckpointError` when
    checkpoints exist but none is usable (restarting from scratch would discard them silently).
    """
    folder = run_dir / "checkpoints"
    candidates = [folder / "last.pt"] + [p for _, p in sorted(list_checkpoints(run_dir).items(), reverse=True)]
    candidates = [p for p in candidates if p.exists()]
    problems = []
    for path in candidates:
        try:
            raw = read_checkpoint(path)
            detail = (_config_diff(raw["config"], config.to_dict(), ("checkpoint", "config.json"))
                      if isinstance(raw["config"], dict) else "its config is not a mapping")
            if detail:
                raise CheckpointError(f"checkpoint {str(path)!r} was written by another config ({detail})")
        except CheckpointError as e:
            problems.append(str(e))
            continue
        for why in problems:
            warnings.warn(f"resume skipped a checkpoint: {why}; resuming from {path.name} (epoch {raw['epoch']})",
                          ResumeWarning, stacklevel=3)
        return raw
    if problems:
        raise CheckpointError(
            f"run folder {str(run_dir)!r} has no usable checkpoint to resume from: {'; '.join(problems)}. "
            "Move the checkpoints folder away to retrain from scratch"
        )
    return None


def prepare_method(method: SSLMethod, config: Config, device: torch.device) -> SSLMethod:
    """Move ``method`` to ``device`` and apply the config's execution options, in place, as :func:`train` does.

    ``channels_last`` (any device): the conv weights and the views in NHWC memory layout; the arithmetic is the
    same up to float round-off (tests/test_gpu_path.py), and on CPU mkldnn's NHWC convolutions are faster.
    ``compile`` (CUDA only): ``torch.compile`` on backbone and head. Returns ``method``.
    """
    method.to(device)
    if config.channels_last:
        method.to(memory_format=torch.channels_last)
        method.memory_format = torch.channels_last
    if device.type == "cuda" and config.compile:
        method.backbone = torch.compile(method.backbone)
        method.head = torch.compile(method.head)
    return method


def _autocast(device: torch.device, config: Config):
    if device.type == "cuda" and config.amp:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and config.cpu_amp:
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _load_train_set(config: Config):
    from sslre.data import load_dataset_for

    return load_dataset_for(config).train


def run_epoch(  # ten parameters: the epoch's data and config, plus optional trainer parts (none when only measuring)
    method: SSLMethod,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: Config,
    epoch: int,
    *,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Any = None,
    progress: bool = False,
    model: Optional[torch.nn.Module] = None,
    dist_info: Optional[DistInfo] = None,
) -> dict[str, float]:
    """One pass over ``images`` (``(N, 3, H, W)`` uint8 on the training device) in this epoch's order.

    With ``optimizer`` it trains (one step per batch, scheduler stepped per batch); without, it only measures
    the loss terms under ``torch.no_grad`` (used for epoch 0). Returns the epoch's row for ``history.jsonl``.
    ``model``: what :func:`train_step` calls (default ``StepModule(method)``; the DDP wrapper under torchrun);
    ``dist_info``: this rank's place (default: one process). Under DDP every rank returns the same row: the
    mean of the ranks' loss terms, images counted over all ranks.
    """
    from tqdm.auto import tqdm

    info = dist_info if dist_info is not None else DistInfo()
    model = model if model is not None else StepModule(method)
    device = images.device
    gen = torch.Generator().manual_seed(epoch_seed(config.seed, epoch))
    batches = _batches(images.shape[0], config, gen, info.world_size)
    # One process: the epoch generator also drives the augmentations (unchanged single-process trajectory).
    # Several: the shared generator only orders the batches; each rank augments with its own stream.
    aug_gen = torch.Generator().manual_seed(rank_seed(config.seed, epoch, info.rank)) if info.enabled else gen
    if not batches:
        raise ConfigError(
            f"batch_size={config.batch_size} is larger than the {images.shape[0]} training images; "
            "lower batch_size or raise train_subset"
        )
    train = optimizer is not None
    lr = optimizer.param_groups[0]["lr"] if train else 0.0
    # Reading a loss to the host waits for the GPU; on CUDA without a progress bar the per-step terms stay on
    # the device and are checked once at the end of the epoch, so the host can queue the next steps meanwhile.
    eager = device.type != "cuda" or progress
    per_step: list[torch.Tensor] = []
    n_images = 0
    t0, c0 = time.perf_counter(), time.process_time()
    bar = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", disable=not progress, leave=False,
               dynamic_ncols=True, unit="batch")
    grad = contextlib.nullcontext() if train else torch.no_grad()
    with grad:
        for i, idx in enumerate(bar):
            local = _shard(idx, info).to(device)  # (B/W,) this rank's rows of the global batch
            out = train_step(model, images[local], labels[local], aug_gen, config,
                             optimizer=optimizer, scheduler=scheduler)
            terms = torch.stack([out[k].detach().float() for k in STEP_KEYS])  # (K,) this step's terms
            per_step.append(terms)
            n_images += len(idx)
            if eager:
                vals = dict(zip(STEP_KEYS, terms.tolist()))
                _check_finite(vals["loss_total"], epoch, i, config)
                if progress:
                    bar.set_postfix({k.replace("loss_", ""): f"{v:.3g}" for k, v in vals.items() if math.isfinite(v)})
    bar.close()
    steps = torch.stack(per_step)  # (S, K) per-step terms of this rank
    if info.enabled:
        import torch.distributed as dist

        dist.all_reduce(steps)  # (S, K) summed over ranks, then the ranks' mean
        steps /= info.world_size
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    steps = steps.cpu().double()
    if not eager or info.enabled:
        for i, v in enumerate(steps[:, 0].tolist()):
            _check_finite(v, epoch, i, config)
    means = [sum(col) / len(col) for col in zip(*steps.tolist())]  # (K,) epoch means, summed in step order
    row = {"epoch": int(epoch)}
    row.update(dict(zip(STEP_KEYS, means)))
    row.update({"lr": lr, "steps": len(batches), "images": n_images, "seconds": seconds,
                "images_per_s": n_images / seconds if seconds > 0 else float("nan"), "cpu_seconds": cpu_seconds})
    return row


def _check_finite(value: float, epoch: int, step: int, config: Config) -> None:
    if not math.isfinite(value):
        raise FloatingPointError(f"loss became {value} at epoch {epoch}, step {step}; lower lr (now {config.lr})")


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

    Under ``torchrun`` (``WORLD_SIZE > 1``) every rank calls this with the same arguments; see the module
    docstring for what is sharded and what only rank 0 does. The process group is set up here (and torn down at
    the end) unless the caller already initialised one. Rank 0 holds the folder's lock (:func:`run_lock`) from
    before the first file is touched until the run ends.
    """
    run_dir = Path(run_dir)
    _check_run_dir(run_dir, config)
    if (run_dir / "DONE").exists():
        return run_dir
    device = resolve_device(config)
    rank = int(os.environ.get("RANK", "0"))
    # Rank 0 owns the folder for the whole run (other ranks of the same job never write in it).
    with run_lock(run_dir) if rank == 0 else contextlib.nullcontext():
        if rank == 0:
            _check_run_dir(run_dir, config)  # again under the lock: another trainer may have just finished
            if (run_dir / "DONE").exists():
                return run_dir
        return _train_locked(config, run_dir, device, progress=progress, data=data)


def _train_locked(config: Config, run_dir: Path, device: torch.device, *, progress: bool, data) -> Path:
    import torch.distributed as dist

    from sslre.distributed import cleanup

    owns_group = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not (dist.is_available() and dist.is_initialized())
    # NCCL only moves CUDA tensors: a CPU run (device=cpu even on a GPU node) uses gloo.
    info = setup_from_env(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        if info.enabled:
            if config.batch_size % info.world_size:
                raise ConfigError(
                    f"batch_size={config.batch_size} (the global batch) is not divisible by the "
                    f"{info.world_size} processes; pick a batch size that is a multiple of --nproc_per_node"
                )
            if device.type == "cuda":
                device = torch.device("cuda", info.local_rank)
        return _train(config, run_dir, device, info, progress=progress and info.is_main, data=data)
    finally:
        if owns_group:
            cleanup()


def _train(config: Config, run_dir: Path, device: torch.device, info: DistInfo, *, progress: bool, data) -> Path:
    # One function: seeding, building, resuming and the epochs in this order are the run's determinism contract.
    main = info.is_main
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)

    train_set = data if data is not None else _load_train_set(config)
    if train_set.image_size != config.image_size:
        raise ConfigError(
            f"image_size={config.image_size} but the training images are {train_set.image_size} px; "
            "set image_size to match the dataset"
        )
    num_classes = train_set.num_classes if config.method == "supervised" else None
    images = train_set.images.to(device)  # (N, 3, H, W) uint8, the whole split held on the device
    labels = train_set.labels.to(device)  # (N,) int64
    n_steps = steps_per_epoch(config, len(train_set), info.world_size)
    if n_steps == 0:
        raise ConfigError(
            f"batch_size={config.batch_size} is larger than the {len(train_set)} training images; "
            "lower batch_size or raise train_subset"
        )

    torch.manual_seed(config.seed)  # weight init
    method = build_method(config, num_classes=num_classes)
    if info.enabled and device.type == "cuda":
        # BN statistics over the global batch, as in one process (SyncBatchNorm has no CPU implementation).
        # Same parameter objects and state-dict keys, so checkpoints do not depend on the process count.
        method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(method)
    optimizer = build_optimizer(config, method.parameters())
    total, warm = config.epochs * n_steps, config.warmup_epochs * n_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, warm))
    method.total_steps = total  # step-dependent schedules of the method (BYOL's momentum)

    keep = set(config.checkpoint_epochs) | {0, config.epochs}
    last = run_dir / "checkpoints" / "last.pt"
    history: list[dict] = []
    start = 0
    raw = _resume_point(run_dir, config)
    if main:
        # Only now, with data, model, optimizer and checkpoint validated: a start that failed on a user error
        # leaves no config.json behind, so the corrected command can use the same folder.
        io.write_json(config.to_dict(), run_dir / "config.json", indent=2, sort_keys=True)
    if raw is not None:
        method.load_state_dict(raw["model"])
        optimizer.load_state_dict(raw["optimizer"])
        scheduler.load_state_dict(raw["scheduler"])
        set_rng_states(raw["rng"])
        history = [row for row in raw["history"] if row["epoch"] <= raw["epoch"]]
        start = int(raw["epoch"]) + 1
    prepare_method(method, config, device)
    model: torch.nn.Module = StepModule(method)
    if info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        # One forward (both views + loss) per backward; DDP averages the gradients, which with the gathered loss
        # terms equals the 1-process gradient of the global batch (tests/test_distributed.py).
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def save(epoch: int) -> None:
        if not main:
            return
        ckpt = make_checkpoint(method, optimizer, scheduler, epoch, config, num_classes=num_classes, history=history)
        if epoch in keep:
            save_checkpoint(ckpt, checkpoint_path(run_dir, epoch))
        save_checkpoint(ckpt, last)  # last.pt after the kept one: resume never skips a kept checkpoint
        _write_history(run_dir, history)

    if start == 0:
        # Epoch 0: the untrained model's loss, one pass in train mode (batch statistics, as in later epochs) without
        # updates. Train-mode BatchNorm would still move its running statistics, so they are restored afterwards:
        # the epoch-0 checkpoint is exactly the initialization.
        method.train()
        init_state = copy.deepcopy(method.state_dict())
        row = run_epoch(method, images, labels, config, 0, progress=progress, model=model, dist_info=info)
        method.load_state_dict(init_state)
        history.append(row)
        save(0)
        start = 1

    for epoch in range(start, config.epochs + 1):
        method.train()
        row = run_epoch(method, images, labels, config, epoch, optimizer=optimizer, scheduler=scheduler,
                        progress=progress, model=model, dist_info=info)
        history.append(row)
        save(epoch)
        if progress:
            from tqdm.auto import tqdm

            terms = ", ".join(f"{k.replace('loss_', '')}={row[k]:.4g}" for k in STEP_KEYS
                              if k.startswith("loss_") and math.isfinite(row[k]))
            tqdm.write(f"epoch {epoch}/{config.epochs}: {terms} ({row['images_per_s']:.0f} img/s)")
    if main:
        io.write_text(f"finished {config.epochs} epochs\n", run_dir / "DONE")
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()  # no rank reports success before rank 0 has written DONE
    return run_dir
