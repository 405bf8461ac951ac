"""Checkpoints: what one saved training state holds, atomic writing, and safe loading.

A checkpoint is a ``torch.save`` dict with a format marker, so a file that merely *is* a torch file (someone's
``state_dict``) is told apart from an sslre checkpoint. Keys:

``format`` (= :data:`FORMAT`), ``format_version`` (= :data:`FORMAT_VERSION`), ``epoch``, ``seed``,
``config`` (``Config.to_dict()``), ``num_classes`` (classifier size for ``supervised``; else ``None``),
``model`` (``SSLMethod.state_dict()``: ``backbone.*`` and ``head.*``), ``optimizer``, ``scheduler``,
``rng`` (torch CPU / CUDA, Python ``random``), ``versions`` (torch, torchvision, lightly, sslre, python),
``history`` (the per-epoch rows written so far, so a resumed run can rewrite ``history.jsonl`` exactly).

Everything in it is a tensor or a plain Python value, so it loads with ``torch.load(weights_only=True)``: loading
a checkpoint never executes code from the file.
"""
from __future__ import annotations

import os
import pickle
import platform
import random
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslre.config import Config, ConfigError

FORMAT = "sslre-checkpoint"
FORMAT_VERSION = 1
_EPOCH_RE = re.compile(r"^epoch_(\d{4,})\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated/corrupt, of another format, or of an unsupported version."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries that determine the numbers: torch, torchvision, lightly, sslre, python."""
    import lightly
    import torchvision

    import sslre

    return {
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "lightly": str(getattr(lightly, "__version__", "unknown")),
        "sslre": str(sslre.__version__),
        "python": platform.python_version(),
    }


def rng_states() -> dict[str, Any]:
    """Global RNG states (torch CPU, every CUDA device, Python ``random``), as weights-only-loadable values."""
    py = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "python": [py[0], list(py[1]), py[2]],
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`rng_states` (CUDA states only if the same number of devices is visible)."""
    torch.set_rng_state(states["torch"])
    if states.get("cuda") and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    py = states["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then ``os.replace`` onto ``path``.

    A reader (or a resumed run after ``kill -9``) sees either the old file or the complete new one, never a
    partial write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def make_checkpoint(
    method: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epoch: int,
    config: Config,
    *,
    num_classes: int | None = None,
    history: list[dict] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict for ``method`` after ``epoch`` (tensors moved to CPU so any device can load it)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "epoch": int(epoch),
        "seed": int(config.seed),
        "config": config.to_dict(),
        "num_classes": num_classes,
        "model": {k: v.detach().cpu() for k, v in _plain_state_dict(method).items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_states(),
        "versions": library_versions(),
        "history": list(history or []),
    }


def _plain_state_dict(method: nn.Module) -> dict[str, torch.Tensor]:
    # torch.compile wraps modules as ``_orig_mod``; strip it so the keys are the same compiled or not.
    return {k.replace("_orig_mod.", ""): v for k, v in method.state_dict().items()}


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dict at ``path``, validated; :class:`CheckpointError` for missing/corrupt/foreign files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {str(path)!r}" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" not in str(e):
            raise CheckpointError(f"checkpoint {str(path)!r} is truncated or corrupt and cannot be read ({e})") from e
        # A complete torch file that pickles arbitrary Python objects: sslre checkpoints never do.
        raise CheckpointError(
            f"{str(path)!r} is a torch file but not an sslre checkpoint: it holds Python objects beyond tensors "
            f"and plain values (refused without executing them)"
        ) from e
    except Exception as e:  # torch.load on damaged bytes raises many types (EOFError, RuntimeError, IndexError...)
        raise CheckpointError(
            f"checkpoint {str(path)!r} is truncated or corrupt and cannot be read ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:200] if str(e) else 'no detail'}); delete it and resume from another checkpoint"
        ) from e
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        what = f"a {type(raw).__name__}" if not isinstance(raw, dict) else f"a dict with keys {sorted(map(str, raw))[:6]}"
        raise CheckpointError(
            f"{str(path)!r} is a torch file but not an sslre checkpoint (found {what}, expected a dict with "
            f"format={FORMAT!r})"
        )
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format_version {version!r}; this sslre reads version {FORMAT_VERSION}"
        )
    missing = [k for k in ("epoch", "config", "model") if k not in raw]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks the keys {missing}; it is incomplete")
    return raw


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        config: the :class:`~sslre.config.Config` of the run.
        epoch: the epoch after which it was saved (0 = initialization).
        model: the backbone (:class:`~sslre.models.resnet_lh.ResLH`) in eval mode, on CPU.
        method: the whole :class:`~sslre.methods.SSLMethod` (backbone + head) in eval mode, on CPU.
        versions: library versions it was written with.
        path: where it was read from.
        history: per-epoch history rows up to ``epoch``.
        raw: the full checkpoint dict (optimizer, scheduler, RNG states) for resuming.
    """

    config: Config
    epoch: int
    model: nn.Module
    method: nn.Module
    versions: dict[str, str]
    path: Path
    history: list[dict] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load the checkpoint at ``path`` into a :class:`Checkpoint` (models in eval mode, on CPU).

    Raises :class:`CheckpointError` naming the problem for a missing file, a truncated or corrupt file, a torch
    file that is not an sslre checkpoint, or weights that do not fit the recorded config.
    """
    from sslre.methods import build_method

    raw = read_checkpoint(path)
    try:
        config = Config.from_dict(raw["config"])
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} holds a config this sslre cannot read: {e}") from e
    method = build_method(config, num_classes=raw.get("num_classes"))
    try:
        method.load_state_dict(raw["model"])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {str(path)!r}: weights do not fit its config {config.arch}: {e}") from e
    method.eval()
    return Checkpoint(
        config=config, epoch=int(raw["epoch"]), model=method.backbone, method=method,
        versions=dict(raw.get("versions", {})), path=Path(path), history=list(raw.get("history", [])), raw=raw,
    )


def checkpoint_path(run_dir: str | os.PathLike, epoch: int) -> Path:
    """``RUN/checkpoints/epoch_NNNN.pt``."""
    return Path(run_dir) / "checkpoints" / f"epoch_{int(epoch):04d}.pt"


def list_checkpoints(run_dir: str | os.PathLike) -> dict[int, Path]:
    """``{epoch: path}`` of the kept ``epoch_NNNN.pt`` checkpoints of a run, sorted by epoch (``last.pt`` excluded)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return {}
    found = {}
    for p in folder.iterdir():
        m = _EPOCH_RE.match(p.name)
        if m and p.is_file():
            found[int(m.group(1))] = p
    return dict(sorted(found.items()))
