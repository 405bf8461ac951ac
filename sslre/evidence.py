"""Committed evidence: the small files of finished, measured runs, kept in the repository.

A profile whose runs take hours (``small``, ``medium``) commits each run's outputs as soon as the run is trained
and measured, under ``reports/<report>/runs/<run>-s<seed>/``. The claims read those tables on any machine, with
no checkpoints, and ``sslre reproduce`` trains only the runs that have no published folder yet. So a
reproduction that takes several sittings accumulates run by run, and nothing of a finished run is lost.

A published folder holds what the claims read and what says how it was made (never checkpoints or features):

- ``config.json``, ``history.jsonl``: the run's config and per-epoch losses;
- ``measurements.csv`` + ``measurements.meta.json``: the tidy table and the fingerprint it was measured under;
- ``umap.npz``: the Fig. 1 coordinates (main run only);
- ``targets.json`` + ``targets.pt``: a random-target generator's levels and its predicted labels (0.5 MB).

A published table is used only when its fingerprint matches on what was measured (:data:`PORTABLE_KEYS`:
measurement version, run, seed, config, coverage, settings, sample level). The fingerprint's file stamps
(checkpoint and history sizes and times) belong to the machine that measured it and are not compared.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Mapping

#: Where each profile publishes its runs, relative to the repository root.
EVIDENCE_DIRS = {"small": "reports/small-cifar10/runs", "medium": "reports/cifar10-medium/runs"}
#: Files of a run folder that are published (those that exist are copied).
PUBLISHED_FILES = ("config.json", "history.jsonl", "measurements.csv", "measurements.meta.json", "umap.npz",
                   "targets.json", "targets.pt")
#: Fingerprint keys that say what was measured (the rest are file stamps of one machine).
PORTABLE_KEYS = ("measurement_version", "run", "seed", "config", "coverage", "settings", "sample_level")

_REPO_ROOT = Path(__file__).resolve().parent.parent


class EvidenceError(RuntimeError):
    """A published run folder cannot be made or used; the message names the folder and the problem."""


def evidence_dir(profile: str, root: Path | str | None = None) -> Path | None:
    """``<root>/reports/<report>/runs`` of ``profile`` (root: the repository), or ``None`` if it publishes none."""
    rel = EVIDENCE_DIRS.get(profile)
    return None if rel is None else Path(root if root is not None else _REPO_ROOT) / rel


def publish(run_dir: Path | str, dest: Path | str) -> list[str]:
    """Copy the published files of ``run_dir`` into ``dest`` (created), each written atomically; returns the
    names copied. A run folder without ``config.json`` is not a run: :class:`EvidenceError`."""
    from sslre.io import atomic_write

    run_dir, dest = Path(run_dir), Path(dest)
    if not (run_dir / "config.json").is_file():
        raise EvidenceError(f"{run_dir} has no config.json: not a run folder, nothing published")
    dest.mkdir(parents=True, exist_ok=True)
    names = []
    for name in PUBLISHED_FILES:
        src = run_dir / name
        if src.is_file():
            with src.open("rb") as f_in:
                atomic_write(dest / name, "wb", lambda f_out: shutil.copyfileobj(f_in, f_out))
            names.append(name)
    return names


def portable_fingerprint(fingerprint: Mapping) -> dict:
    """The part of a measurement fingerprint that any machine can check (:data:`PORTABLE_KEYS`)."""
    return {k: fingerprint.get(k) for k in PORTABLE_KEYS}


def published_table(folder: Path | str, fingerprint: Mapping) -> Path | None:
    """``folder/measurements.csv`` when ``folder`` holds a table measured under ``fingerprint`` (portable part),
    else ``None`` (absent, unreadable, or measured under other settings: then the run is measured again)."""
    folder = Path(folder)
    csv, meta = folder / "measurements.csv", folder / "measurements.meta.json"
    if not (csv.is_file() and meta.is_file()):
        return None
    try:
        stored = json.loads(meta.read_text()).get("fingerprint", {})
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict):
        return None
    want = json.loads(json.dumps(portable_fingerprint(fingerprint), default=str))
    return csv if portable_fingerprint(stored) == want else None


def published_runs(profile: str, root: Path | str | None = None) -> list[str]:
    """Folder names (``<run>-s<seed>``) published for ``profile``, sorted; ``[]`` if none."""
    base = evidence_dir(profile, root)
    if base is None or not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and (p / "config.json").is_file())
