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
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from sslre.experiments import RunSpec

#: Overrides where a profile's runs are published (``sslre reproduce`` sets it to ``<out>/runs``).
ENV = "SSLRE_EVIDENCE"

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
    """Where ``profile`` publishes: ``$SSLRE_EVIDENCE`` if set, else ``<root>/reports/<report>/runs`` (root: the
    repository), or ``None`` if the profile publishes none (quick: its runs take minutes)."""
    if os.environ.get(ENV) and root is None:
        return Path(os.environ[ENV])
    rel = EVIDENCE_DIRS.get(profile)
    return None if rel is None else Path(root if root is not None else _REPO_ROOT) / rel


def is_published(spec: "RunSpec", seed: int, evidence: Path | None) -> bool:
    """Whether ``evidence`` holds run ``spec`` at ``seed``, made with exactly the registry's config: a measured
    table for a trained run, the targets for a generator."""
    if evidence is None:
        return False
    folder = spec.run_dir(evidence, seed)
    try:
        config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else None
    except (OSError, ValueError):
        return False
    if spec.kind == "targets":
        from sslre.targets import is_complete

        return is_complete(folder)
    if config is None or not all((folder / f).is_file() for f in ("measurements.csv", "measurements.meta.json")):
        return False
    from sslre.config import Config

    return Config.from_dict(config).changed() == spec.config_for(seed).changed()


def conflicts(specs: Mapping[str, "RunSpec"], evidence: Path | None) -> list[str]:
    """Published folders of ``specs``' trained runs whose config is not the registry's (``"<folder>: <what
    differs>"``), e.g. the profile's CPU runs seen from a ``--device cuda`` reproduction. Training would publish
    over them, so :func:`sslre.reproduce.reproduce` refuses to start while there are any."""
    from sslre.config import Config
    from sslre.train import _config_diff

    out = []
    if evidence is None:
        return out
    for spec in specs.values():
        if spec.kind != "train":
            continue
        for seed in spec.seeds:
            path = spec.run_dir(evidence, seed) / "config.json"
            try:
                published = Config.from_dict(json.loads(path.read_text())) if path.is_file() else None
            except (OSError, ValueError):
                published = None   # unreadable: not a published run, training replaces it
            want = spec.config_for(seed)
            if published is not None and published.changed() != want.changed():
                detail = _config_diff(published.to_dict(), want.to_dict(), ("published", "asked"))
                out.append(f"{path.parent}: {detail}")
    return out


def resolve(spec: "RunSpec", seed: int, runs_dir: Path, evidence: Path | None) -> Path:
    """The folder run ``spec`` at ``seed`` is read from: the runs folder when the run is finished there, else its
    published folder when there is one, else the runs folder (where it will be trained)."""
    from sslre.experiments import run_is_complete

    local = spec.run_dir(runs_dir, seed)
    if run_is_complete(spec, local) or not is_published(spec, seed, evidence):
        return local
    return spec.run_dir(evidence, seed)


def publish(run_dir: Path | str, dest: Path | str) -> list[str]:
    """Copy the published files of ``run_dir`` into ``dest`` (created), each written atomically; returns the
    names copied. A folder with neither ``config.json`` (a trained run) nor ``targets.json`` (a random-target
    generator) is not a run: :class:`EvidenceError`."""
    from sslre.io import atomic_write

    run_dir, dest = Path(run_dir), Path(dest)
    if not ((run_dir / "config.json").is_file() or (run_dir / "targets.json").is_file()):
        raise EvidenceError(f"{run_dir} has neither config.json nor targets.json: not a run folder, nothing published")
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


def recorded_cost(evidence: Path | str | None) -> dict[str, float]:
    """Seconds that the published runs under ``evidence`` record: ``training`` (the histories' epochs: CPU seconds
    where recorded, else wall seconds, an upper bound for one-thread runs that shared or paused a machine),
    ``generators`` and ``measurement`` (wall seconds), and ``wall_only`` (the training seconds that are wall time),
    ``runs`` (folders read)."""
    from sslre.train import read_history

    out = dict(training=0.0, generators=0.0, measurement=0.0, wall_only=0.0, runs=0.0)
    if evidence is None or not Path(evidence).is_dir():
        return out
    for folder in sorted(p for p in Path(evidence).iterdir() if p.is_dir()):
        out["runs"] += 1
        for r in read_history(folder):
            cpu = r.get("cpu_seconds")
            out["training"] += float(cpu if cpu is not None else r.get("seconds") or 0.0)
            out["wall_only"] += 0.0 if cpu is not None else float(r.get("seconds") or 0.0)
        for name, key in (("measurements.meta.json", "measurement"), ("targets.json", "generators")):
            try:
                out[key] += float(json.loads((folder / name).read_text()).get("seconds") or 0.0)
            except (OSError, ValueError, AttributeError):
                pass
    return out


def published_runs(profile: str, root: Path | str | None = None) -> list[str]:
    """Folder names (``<run>-s<seed>``) published for ``profile``, sorted; ``[]`` if none."""
    base = evidence_dir(profile, root)
    if base is None or not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and (p / "config.json").is_file())
