"""Checkpoints: what one saved training state holds, its content hash, and safe loading (written by :mod:`sslre.io`).

A checkpoint is a ``torch.save`` dict with a format marker, so a file that merely *is* a torch file (someone's
``state_dict``) is told apart from an sslre checkpoint. Keys:

``format`` (= :data:`FORMAT`), ``format_version`` (= :data:`FORMAT_VERSION`), ``epoch``, ``seed``,
``config`` (``Config.to_dict()``), ``num_classes`` (classifier size for ``supervised``; else ``None``),
``model`` (``SSLMethod.state_dict()``: ``backbone.*`` and ``head.*``), ``optimizer``, ``scheduler``,
``rng`` (torch CPU / CUDA, Python ``random``), ``versions`` (torch, torchvision, lightly, sslre, python),
``history`` (the per-epoch rows written so far, so a resumed run can rewrite ``history.jsonl`` exactly),
``sha256`` (:func:`content_digest` of everything else in the dict: every tensor's bytes, dtype and shape, and every
plain value).

Integrity: :func:`read_checkpoint` recomputes the digest and refuses a file whose content does not match it (bit
rot that still unpickles). A run's ``checkpoints/index.json`` (:data:`INDEX_NAME`) records the digest of every
file written there; a file whose digest is not the one recorded for its name (say, a ``last.pt`` copied in from
another run) is refused too. Checkpoints written before the digest existed load without the check.

Everything in it is a tensor or a plain Python value, so it loads with ``torch.load(weights_only=True)``: loading
a checkpoint never executes code from the file.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import random
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslre import io
from sslre.config import Config, ConfigError

FORMAT = "sslre-checkpoint"
FORMAT_VERSION = 1
#: Beside the checkpoints: ``{file name: {"sha256": [accepted digests], "epoch": int}}``.
INDEX_NAME = "index.json"
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
    ckpt = {
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
    ckpt["sha256"] = content_digest(ckpt)
    return ckpt


def content_digest(ckpt: dict[str, Any]) -> str:
    """sha256 over a checkpoint dict's content, ``sha256`` key excluded: every tensor's dtype, shape and bytes and
    every plain value, in a fixed order (dict keys sorted). The same content gives the same digest wherever it was
    saved, so a loaded file can be checked against the digest written into it."""
    h = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)  # raw bytes, no copy
        elif isinstance(value, dict):
            h.update(f"D{len(value)}".encode())
            for k in sorted(value, key=repr):
                feed(k)
                feed(value[k])
        elif isinstance(value, (list, tuple)):
            h.update(f"L{len(value)}".encode())
            for v in value:
                feed(v)
        else:  # int, float, str, bool, None: repr is exact and stable
            h.update(f"V{type(value).__name__}:{value!r};".encode())

    feed({k: v for k, v in ckpt.items() if k != "sha256"})
    return h.hexdigest()


def read_index(folder: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint index of ``folder`` (``{}`` when absent or unreadable: the files' own digests still hold)."""
    try:
        data = json.loads((Path(folder) / INDEX_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_in_index(path: str | os.PathLike, digest: str, epoch: int, *, keep_previous: bool = False) -> None:
    """Record ``digest`` as the content of ``path`` in its folder's index (atomically).

    ``keep_previous``: also keep accepting the (up to two) digests recorded before, for the moment between this call
    and the ``os.replace`` of the new file: a kill in that window leaves the old file, which must still verify
    (two, so that a second kill in the same window of the resumed run still finds the file on disk accepted).
    """
    path = Path(path)
    index = read_index(path.parent)
    old = index.get(path.name, {}).get("sha256", []) if isinstance(index.get(path.name), dict) else []
    accepted = [digest] + ([d for d in old if d != digest][:2] if keep_previous else [])
    index[path.name] = {"sha256": accepted, "epoch": int(epoch)}
    io.write_json(index, path.parent / INDEX_NAME, indent=1, sort_keys=True)


def save_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike) -> Path:
    """Save ``ckpt`` to ``path`` atomically and record its digest in the folder's index, so that at every
    instant (a kill anywhere included) the file on disk is one the index accepts."""
    digest = ckpt.get("sha256") or content_digest(ckpt)
    record_in_index(path, digest, ckpt.get("epoch", -1), keep_previous=True)
    io.save_torch(ckpt, path)
    record_in_index(path, digest, ckpt.get("epoch", -1))
    return Path(path)


def _plain_state_dict(method: nn.Module) -> dict[str, torch.Tensor]:
    # torch.compile wraps modules as ``_orig_mod``; strip it so the keys are the same compiled or not.
    return {k.replace("_orig_mod.", ""): v for k, v in method.state_dict().items()}


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dict at ``path``, validated; :class:`CheckpointError` for missing/corrupt/foreign files."""
    return read_state(path, FORMAT, FORMAT_VERSION, ("epoch", "config", "model"))


def save_state(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a resume state (tensors and plain values, with ``format`` and ``format_version``) atomically with its
    :func:`content_digest`, for :func:`read_state`. No index: for states that name their own request."""
    return io.save_torch({**state, "sha256": content_digest(state)}, path)


def read_state(path: str | os.PathLike, fmt: str, version: int, required: tuple[str, ...]) -> dict[str, Any]:
    """The state dict at ``path`` (a checkpoint, or a :func:`save_state` file) loaded weights-only, of format
    ``fmt`` / ``version`` with the keys ``required``, its content digest verified (and the folder's index, if
    any); :class:`CheckpointError` naming the problem otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {str(path)!r}" + (" (it is a directory)" if path.is_dir() else ""))
    _check_container(path)
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
            f"{str(e).splitlines()[0][:200] if str(e) else 'no detail'})"
        ) from e
    if not isinstance(raw, dict) or raw.get("format") != fmt:
        what = f"a {type(raw).__name__}" if not isinstance(raw, dict) else f"a dict with keys {sorted(map(str, raw))[:6]}"
        raise CheckpointError(
            f"{str(path)!r} is a torch file but not an sslre checkpoint (found {what}, expected a dict with "
            f"format={fmt!r})"
        )
    found = raw.get("format_version")
    if found != version:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format_version {found!r}; this sslre reads version {version}"
        )
    missing = [k for k in required if k not in raw]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks the keys {missing}; it is incomplete")
    _verify_digest(path, raw)
    return raw


def _check_container(path: Path) -> None:
    """Tell random bytes, an empty file and a truncated zip apart before ``torch.load`` guesses at them."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise CheckpointError(f"checkpoint {str(path)!r} is empty (0 bytes): truncated or corrupt")
    if head != b"PK\x03\x04":  # torch.save's zip container; sslre never writes the legacy format
        raise CheckpointError(
            f"{str(path)!r} is not a torch checkpoint file: it does not start with torch's zip header "
            f"(first bytes {head!r}; random bytes, text or another format), so it is corrupt or not a checkpoint"
        )
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"checkpoint {str(path)!r} is truncated or corrupt: its zip directory is missing")


def _verify_digest(path: Path, raw: dict[str, Any]) -> None:
    stored = raw.get("sha256")
    entry = read_index(path.parent).get(path.name)
    accepted = entry.get("sha256") if isinstance(entry, dict) else None
    if stored is None:
        if isinstance(accepted, list) and accepted:  # this folder's files all carry one: this one came from elsewhere
            raise CheckpointError(
                f"checkpoint {str(path)!r} carries no content hash, but {INDEX_NAME} records one for it "
                f"({str(accepted[0])[:12]}); copied in from an older run?"
            )
        return  # written before checkpoints carried a digest
    actual = content_digest(raw)
    if actual != stored:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt: its content hash {actual[:12]} differs from the one written "
            f"into it ({str(stored)[:12]}; bit rot or a damaged copy)"
        )
    if isinstance(accepted, list) and accepted and stored not in accepted:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not the file this run wrote there: its hash {stored[:12]} is not the one "
            f"recorded in {INDEX_NAME} ({str(accepted[0])[:12]}); copied in from another run?"
        )


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
