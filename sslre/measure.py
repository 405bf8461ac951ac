"""The measurements table: every metric of every run, checkpoint, layer and label level, in one tidy DataFrame.

Flow (``docs/ARCHITECTURE.md``): run dirs -> per-layer features (:class:`sslre.features.FeatureCache`, each
(checkpoint, split) extracted once) -> metric kernels (:mod:`sslre.metrics`) -> ``<run_dir>/measurements.csv``
-> :class:`Measurements` (what the claim tests read; they never recompute what the table holds).

Columns (the pipeline contract)::

    run, method, arch, dataset, seed, epoch, layer, level, target, randomness, metric, value, features, probe

- ``layer``: 0 = stem, i = block i; NaN for per-run rows (losses). The last layer is the arch's depth.
- ``level``: ``sample`` (Sec. 3 sample-level set), ``class``, ``superclass``, ``random`` (``target`` =
  ``resnet18@k``/``vit@k``, ``randomness`` = 1 - k/K), the negative controls ``sample-shuffled``,
  ``class-shuffled``, ``superclass-shuffled``, ``random-shuffled`` (labels permuted across images with a fixed
  seed), and ``""`` for losses / MINE.
- ``metric``: ``ncc_train_acc``, ``ncc_test_acc`` (Sec. 2.2; class means from the train split),
  ``linear_test_acc`` (probe ``svc``: LinearSVC's objective), ``linear_test_kappa`` (that accuracy chance-corrected
  against the train split's majority label, ``(acc - maj) / (1 - maj)``: random targets are imbalanced), ``cdnv``,
  ``within_var``, ``mean_dist2`` (train split; Galanti et al.),
  ``loss_*`` (``history.jsonl``), ``mine_mi`` / ``mine_null`` (one row per MINE seed, ``target`` =
  ``mine-seed<k>``), ``umap_silhouette`` / ``umap_ncc`` (epoch 0 and last; coordinates in ``umap.npz``).
- ``features``: ``raw`` (Sec. 2.2, default) or ``l2`` (L2-normalized, NCC/CDNV only); ``""`` for losses.
- ``probe``: the probe method (``svc``) for ``linear_test_acc`` / ``linear_test_kappa``, ``""`` otherwise.

Splits: ``class``/``superclass``/``random`` levels use the run's train split (probe / class means / CDNV) and
its test split (held-out accuracy); the ``sample`` level uses the Sec. 3 set (``n_images`` source images,
``n_train_aug`` augmentations each for train, ``n_test_aug`` for test; labels = source image).

Random targets: SSL run ``<name>-s<k>`` reads the target sets of generator seed ``k`` only (one generator per
seed and family, so generator variance is part of the seed spread); a seed without a generator of its own gets
no ``random`` rows (it never borrows another seed's generator). Levels excluded by the degeneracy rule
(:func:`sslre.targets.exclusion_reason`) give no ``random`` rows either; :meth:`Measurements.target_levels`
lists every level of every generator with its diagnostics and whether (and why) it was excluded.

Caching: ``measure_run`` writes ``measurements.csv`` plus ``measurements.meta.json`` holding a fingerprint of
the checkpoints (name, size, mtime), ``history.jsonl``, the target sets (generator run, seed, files and the
degeneracy rule's thresholds), the measurement settings and :data:`MEASUREMENT_VERSION`; a run is recomputed
only when that fingerprint changes.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from sslre.config import Config, parse_arch
from sslre.experiments import (PartialRuns, RunSpec, RunsDivergedError, default_runs_dir, ensure_runs, lacking,
                               partial_runs, runs_for)
from sslre.profiles import MeasureSettings, Run, SampleLevelSettings, profile as get_profile

log = logging.getLogger(__name__)

#: Bump when the meaning or computation of any row changes: every cached ``measurements.csv`` is recomputed.
MEASUREMENT_VERSION = 4

COLUMNS = ["run", "method", "arch", "dataset", "seed", "epoch", "layer", "level", "target", "randomness",
           "metric", "value", "features", "probe"]
_STR_COLS = ("run", "method", "arch", "dataset", "level", "target", "metric", "features", "probe")
LEVELS = ("sample", "class", "superclass", "random")
SHUFFLED = {lvl: f"{lvl}-shuffled" for lvl in LEVELS}
LOSS_KEYS = ("loss_invariance", "loss_regularization", "loss_total", "loss_variance", "loss_covariance")
#: Columns of :meth:`Measurements.target_levels` (one row per generator seed and target level).
_DIAG_COLUMNS = ["n_classes_train", "n_classes_test", "majority_share_train", "majority_share_test",
                 "train_true_acc", "test_true_acc", "true_acc_gap", "fit_true_acc"]  # sslre.targets.level_diagnostics
TARGET_LEVEL_COLUMNS = ["run", "seed", "family", "target", "generator_epoch", "randomness", *_DIAG_COLUMNS,
                        "num_classes", "dropped_train", "dropped_test", "excluded", "reason"]
#: Seed of the label permutations of the ``*-shuffled`` controls (fixed: controls are reproducible).
SHUFFLE_SEED = 20_230_000


@dataclass
class RunInfo:
    """One trained (run, seed): what the claims cite as evidence.

    ``layers``, ``arch``, ``method``: set for a run imported from someone else's checkpoints (:mod:`sslre.imported`):
    its tap names (table layer ``i`` = ``layers[i]``, the last is the deepest), backbone spec and method label, which
    its ``config`` (data fields only) cannot hold. Empty for sslre's own runs: the config's RES-L-H gives them.
    """

    name: str
    seed: int
    config: Config
    run_dir: Path
    checkpoints: dict[int, Path]
    layers: tuple[str, ...] = ()
    arch: str = ""
    method: str = ""

    @property
    def depth(self) -> int:
        """The last layer's index in the table: the arch's depth, or the last tap of an imported run."""
        return len(self.layers) - 1 if self.layers else self.config.depth


# ------------------------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------------------------


def _atomic_write_text(path: Path, text: str) -> None:
    from sslre import io

    io.write_text(text, path)  # the shared writer: atomic, and the file gets the umask's mode (not 0600)


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from sslre import io

    io.atomic_write(path, "wb", lambda f: np.savez_compressed(f, **arrays))


def _file_fp(path: Path) -> list:
    st = path.stat()
    return [path.name, st.st_size, st.st_mtime_ns]


def _permuted(labels: torch.Tensor, salt: int) -> torch.Tensor:
    """``labels`` randomly permuted across images (a fixed-seed control: same input -> same permutation)."""
    g = torch.Generator().manual_seed(SHUFFLE_SEED + salt)
    return labels[torch.randperm(labels.numel(), generator=g)]


def _salt(name: str) -> int:
    return int(hashlib.sha1(name.encode()).hexdigest()[:6], 16)


def read_table(path: Path) -> pd.DataFrame:
    """Read a ``measurements.csv`` back with the contract's dtypes (``""`` stays ``""``, never NaN)."""
    df = pd.read_csv(path, dtype={c: str for c in _STR_COLS}, keep_default_na=False)
    for col in ("seed", "epoch"):
        df[col] = pd.to_numeric(df[col]).astype("int64")
    for col in ("layer", "randomness", "value"):
        df[col] = pd.to_numeric(df[col].replace("", np.nan), errors="coerce").astype("float64")
    return df[COLUMNS]


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("layer", "randomness", "value") else
                                      ("int64" if c in ("seed", "epoch") else "object")) for c in COLUMNS})


# ------------------------------------------------------------------------------------------------------------
# label sets
# ------------------------------------------------------------------------------------------------------------


@dataclass
class LabelSet:
    """Labels of one level on a (train split, test split) pair of feature splits."""

    level: str
    train_split: str                # FeatureCache split names: train/test or sample-train/sample-test
    test_split: str
    train_labels: torch.Tensor
    test_labels: torch.Tensor
    target: str = ""
    randomness: float = math.nan
    everywhere: bool = True         # every layer x every epoch; else last layer x epochs + layers x last epoch
    train_index: torch.Tensor | None = None  # (n,) rows of the train split's features that the labels are for
    test_index: torch.Tensor | None = None   # (m,) same for the test split (None = every row)


def _label_sets(spec: RunSpec, data, sample, targets: Sequence[Any]) -> list[LabelSet]:
    cov = spec.coverage
    sets: list[LabelSet] = []
    if cov.sample and sample is not None:
        sets.append(LabelSet("sample", "sample-train", "sample-test", sample.train.labels, sample.test.labels))
    sets.append(LabelSet("class", "train", "test", data.train.labels, data.test.labels))
    sets.append(LabelSet("superclass", "train", "test", data.train.superlabels, data.test.superlabels))
    if cov.random:
        for tset in targets:
            for lvl in tset.levels:
                if getattr(lvl, "excluded", False):
                    # The protocol's degeneracy rule; counted in Measurements.target_levels(), not measured.
                    log.info("random target %s excluded: %s", lvl.name, getattr(lvl, "exclusion", ""))
                    continue
                idx = {"train": None, "test": None}
                if not getattr(lvl, "usable", True):
                    if not hasattr(lvl, "measure_mask"):
                        log.warning("random target %s skipped: %s", lvl.name, getattr(lvl, "reason", "not usable"))
                        continue
                    # Not excluded: >= 2 classes remain once the images of rare predicted classes are left out.
                    idx = {s: torch.nonzero(lvl.measure_mask(s)).flatten() for s in idx}
                tr_y, te_y = (lvl.labels[s] if idx[s] is None else lvl.labels[s][idx[s]] for s in ("train", "test"))
                sets.append(LabelSet("random", "train", "test", tr_y, te_y, target=lvl.name,
                                     randomness=float(lvl.randomness), everywhere=False,
                                     train_index=idx["train"], test_index=idx["test"]))
    if cov.controls:
        for ls in list(sets):
            salt = _salt(ls.level + ls.target)
            sets.append(LabelSet(SHUFFLED[ls.level], ls.train_split, ls.test_split,
                                 _permuted(ls.train_labels, salt), _permuted(ls.test_labels, salt + 1),
                                 target=ls.target, randomness=ls.randomness, everywhere=False,
                                 train_index=ls.train_index, test_index=ls.test_index))
    return sets


# ------------------------------------------------------------------------------------------------------------
# measuring one run
# ------------------------------------------------------------------------------------------------------------


def _metrics_for(train_x, train_y, test_x, test_y, *, probe: str | None) -> dict[str, float]:
    """The per-cell metrics (Sec. 2.2): NCC train/test accuracy, CDNV and its parts, linear probe."""
    from sslre.metrics import cdnv_parts, chance_corrected, majority_accuracy, ncc_accuracy

    # Random targets: a generator can predict a class on the test split that it never predicts on the train split.
    # No classifier fitted on the train split can output it, so those test images count as errors: accuracy on the
    # seen classes times their share of the test split.
    base_acc = majority_accuracy(train_y, test_y)  # chance level of this label set (before unseen classes go)
    seen = torch.isin(test_y, torch.unique(train_y))  # (N_test,) bool
    seen_share = float(seen.float().mean())
    if seen_share < 1.0:
        test_x, test_y = test_x[seen], test_y[seen]
    out = {"ncc_train_acc": float(ncc_accuracy(train_x, train_y)),
           "ncc_test_acc": float(ncc_accuracy(train_x, train_y, test_x, test_y)) * seen_share}
    try:
        parts = cdnv_parts(train_x, train_y)
        out.update({k: float(parts[k]) for k in ("cdnv", "within_var", "mean_dist2")})
    except Exception as exc:  # identical class means (e.g. a collapsed untrained layer): no CDNV for this cell
        log.debug("cdnv skipped: %s", exc)
    if probe:
        from sslre.metrics import linear_probe_accuracy

        out["linear_test_acc"] = float(linear_probe_accuracy(train_x, train_y, test_x, test_y, method=probe)) * seen_share
        out["linear_test_kappa"] = float(chance_corrected(out["linear_test_acc"], base_acc))
    return out


def _history_rows(run_dir: Path) -> list[dict]:
    path = run_dir / "history.jsonl"
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        for key in LOSS_KEYS:
            v = rec.get(key)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            rows.append(dict(epoch=int(rec["epoch"]), metric=key, value=float(v)))
    return rows


def _fingerprint(spec: RunSpec, info: RunInfo, settings: MeasureSettings, sample_settings: SampleLevelSettings,
                 targets: Sequence[Any], target_fps: Sequence[Any]) -> dict:
    hist = info.run_dir / "history.jsonl"
    extra: dict[str, Any] = {}
    if info.layers:  # an imported run (a key only then: other caches stay valid)
        extra["imported"] = {"layers": list(info.layers), "arch": info.arch, "method": info.method}
    if info.config.hierarchy:  # its content sets the superclass labels (a key only then: other caches stay valid)
        hfile = Path(info.config.hierarchy).expanduser()
        extra["hierarchy"] = _file_fp(hfile) if hfile.exists() else None
    return {
        **extra,
        "measurement_version": MEASUREMENT_VERSION,
        # Fields at their default are left out, so a new Config field keeps every cache valid.
        "run": spec.name, "seed": info.seed, "config": info.config.changed(),
        "checkpoints": {str(e): _file_fp(p) for e, p in sorted(info.checkpoints.items())},
        "history": _file_fp(hist) if hist.exists() else None,
        "coverage": asdict(spec.coverage),
        "settings": settings.fingerprint(),
        "sample_level": asdict(sample_settings),
        "targets": list(target_fps),
    }


def measure_run(spec: RunSpec, info: RunInfo, *, data=None, sample=None, targets: Sequence[Any] = (),
                target_fps: Sequence[Any] = (), settings: MeasureSettings | None = None,
                sample_settings: SampleLevelSettings | None = None, loader=None, force: bool = False,
                progress: bool = True, on_checkpoint: Callable[[int], None] | None = None) -> pd.DataFrame:
    # Ten keyword options, each defaulting to what the run dir / profile gives: callers pass only what they hold.
    """The tidy table of one trained (run, seed), cached as ``<run_dir>/measurements.csv``.

    Args:
        spec: the registry entry (:func:`sslre.experiments.runs_for`): which cells to measure.
        info: the run's seed, config, directory and checkpoints ``{epoch: path}``.
        data: the run's ``DataSplits`` (default: ``load_dataset_for(info.config)``).
        sample: the Sec. 3 sample-level ``DataSplits`` (default: ``make_sample_level`` of ``data.train``).
        targets: ``TargetSet`` s (:mod:`sslre.targets`) whose levels become ``random`` rows (if the coverage asks).
        target_fps: fingerprints of those target sets (part of the cache key).
        loader: ``checkpoint_path -> backbone`` for the feature cache (default: ``load_checkpoint(p).model``).
        force: recompute even when the cached table is current.
        on_checkpoint: called with the epoch after each checkpoint is measured (progress of a parallel pass).

    Returns the table (columns :data:`COLUMNS`). Each (checkpoint, split) is extracted once
    (``<run_dir>/features``); the second call with unchanged inputs reads the CSV and computes nothing.
    """
    settings = settings or get_profile(info.config.profile).measure
    sample_settings = sample_settings or get_profile(info.config.profile).sample_level
    csv_path, meta_path = info.run_dir / "measurements.csv", info.run_dir / "measurements.meta.json"
    fp = _fingerprint(spec, info, settings, sample_settings, targets, target_fps)
    if not info.checkpoints:
        from sslre.evidence import published_table

        published = published_table(info.run_dir, fp)  # a published run folder: the table, no checkpoints
        if published is not None:
            return read_table(published)
        raise FileNotFoundError(f"run {spec.name}-s{info.seed} has no checkpoints under {info.run_dir/'checkpoints'}"
                                " and no published table measured under the current settings")
    if not force and _cache_is_current(csv_path, meta_path, fp):
        return read_table(csv_path)
    t0 = time.perf_counter()
    if data is None:
        from sslre.data import load_dataset_for

        data = load_dataset_for(info.config)
    if sample is None and spec.coverage.sample:
        sample = _sample_level(data, sample_settings, info.config)
    job = _Job(spec, info, settings, data, sample, _label_sets(spec, data, sample, targets))
    job.measure_checkpoints(_feature_cache(info.run_dir, loader, info.config.device), progress, on_checkpoint)
    for r in _history_rows(info.run_dir):
        job.add(**r)
    if spec.coverage.umap and info.seed in settings.umap_run_seeds:
        with job.timed("umap"):
            for row in _umap(info.run_dir, data, sample, job.ends, job.epochs[0], job.epochs[-1], settings):
                job.add(layer=job.depth, features="raw", **row)
    return _write_table(job, csv_path, meta_path, fp, time.perf_counter() - t0)


def _cache_is_current(csv_path: Path, meta_path: Path, fp: dict) -> bool:
    """The cached table was made from exactly ``fp``'s inputs (an unreadable cache is recomputed)."""
    if not (csv_path.exists() and meta_path.exists()):
        return False
    try:
        return json.loads(meta_path.read_text()).get("fingerprint") == fp
    except (json.JSONDecodeError, OSError, ValueError, KeyError) as exc:
        log.warning("cached measurements of %s unreadable (%s); recomputing", csv_path.parent, exc)
        return False


def _sample_level(data, s: SampleLevelSettings, config: Config):
    """The Sec. 3 sample-level ``DataSplits`` of ``data``'s train split."""
    from sslre.data import make_sample_level

    return make_sample_level(data.train, n_images=s.n_images, n_train_aug=s.n_train_aug, n_test_aug=s.n_test_aug,
                             seed=s.seed, image_size=config.image_size)


def _feature_cache(run_dir: Path, loader, device: str = "cpu"):
    """The run's feature cache; its model loader holds one checkpoint at a time (loaded only on a cache miss).
    A run trained on the GPU (``device == "cuda"``) is read there too, in float32; any other is read on the CPU."""
    from sslre.features import FeatureCache

    loaded: dict[Path, Any] = {}

    def load_model(path: Path):
        if path not in loaded:
            loaded.clear()
            if loader is not None:
                loaded[path] = loader(path)
            else:
                from sslre.checkpoint import load_checkpoint

                loaded[path] = load_checkpoint(path).model
        return loaded[path]

    return FeatureCache(run_dir / "features", loader=load_model, progress=False,
                        device="cuda" if device == "cuda" else None)


@dataclass
class _Job:
    """One (run, seed) being measured: what it is measured on and with, and the rows gathered so far."""

    spec: RunSpec
    info: RunInfo
    settings: MeasureSettings
    data: Any                                   # the run's DataSplits
    sample: Any                                 # the sample-level DataSplits, or None
    label_sets: list[LabelSet]
    rows: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("features", "metrics", "mine", "umap"),
                                                                           0.0))
    ends: dict[int, dict[str, list[torch.Tensor]]] = field(default_factory=dict)  # first/last epoch: last layer

    @property
    def depth(self) -> int:
        return self.info.depth

    @property
    def epochs(self) -> list[int]:
        return sorted(self.info.checkpoints)

    @property
    def layers(self) -> list[int]:
        return list(range(self.depth + 1)) if self.spec.coverage.all_layers else [self.depth]

    @contextlib.contextmanager
    def timed(self, stage: str):
        t = time.perf_counter()
        yield
        self.timings[stage] += time.perf_counter() - t

    def add(self, **kw: Any) -> None:
        self.rows.append({"run": self.spec.name, "method": self.info.method or self.info.config.method,
                          "arch": self.info.arch or self.info.config.arch,
                          "dataset": self.info.config.dataset, "seed": self.info.seed, "layer": math.nan,
                          "level": "", "target": "", "randomness": math.nan, "features": "", "probe": "", **kw})

    def measure_checkpoints(self, cache, progress: bool, on_checkpoint: Callable[[int], None] | None) -> None:
        """Every checkpoint in epoch order: features of the splits the label sets need, then every cell, then MINE."""
        images = {"train": self.data.train.images, "test": self.data.test.images}
        if self.sample is not None:
            images.update({"sample-train": self.sample.train.images, "sample-test": self.sample.test.images})
        splits = sorted({s for ls in self.label_sets for s in (ls.train_split, ls.test_split)})
        epochs = self.epochs
        if progress:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc=f"measure {self.spec.name}-s{self.info.seed}", unit="ckpt", leave=False)
        for epoch in epochs:
            with self.timed("features"):
                feats = {split: cache.get(self.info.checkpoints[epoch], split, images[split]) for split in splits}
            with self.timed("metrics"):
                for ls in self.label_sets:
                    for layer in self._layers_of(ls, epoch):
                        self._cell(ls, epoch, layer, feats)
            if self._mine_at(epoch):
                with self.timed("mine"):
                    for row in _mine_rows(self.data.train.images, feats["train"][self.depth], self.settings):
                        self.add(epoch=epoch, layer=self.depth, features="raw", **row)
            if epoch in (self.epochs[0], self.epochs[-1]):
                self.ends[epoch] = {k: [v[self.depth]] for k, v in feats.items()}
            if on_checkpoint is not None:
                on_checkpoint(epoch)

    def _mine_at(self, epoch: int) -> bool:
        """Whether this checkpoint gets MINE: the run and seed have it, and the profile measures it at every
        checkpoint or this is the first or the last one (``mine_epochs="ends"``)."""
        if not (self.spec.coverage.mine and self.info.seed in self.settings.mine_run_seeds):
            return False
        return self.settings.mine_epochs == "all" or epoch in (self.epochs[0], self.epochs[-1])

    def _layers_of(self, ls: LabelSet, epoch: int) -> list[int]:
        """Main levels: every layer. Controls / random targets: the last layer at every epoch, every layer at the
        last epoch (controls: and at the first, for the per-part nulls of the "more so as training proceeds"
        layer statements)."""
        if ls.everywhere:
            return self.layers
        ends = (self.epochs[0], self.epochs[-1]) if ls.level.endswith("-shuffled") else (self.epochs[-1],)
        return self.layers if epoch in ends else [self.depth]

    def _cell(self, ls: LabelSet, epoch: int, layer: int, feats: dict) -> None:
        """The metrics of one (label set, epoch, layer) cell: raw features, and L2-normalized for the main levels."""
        from sslre.features import l2_normalize

        tr, te = feats[ls.train_split][layer], feats[ls.test_split][layer]
        if ls.train_index is not None:  # a random level without its rare predicted classes
            tr, te = tr[ls.train_index], te[ls.test_index]
        variants = [("raw", tr, te)]
        if self.settings.l2_variant and ls.level in ("sample", "class", "superclass"):
            variants.append(("l2", l2_normalize(tr), l2_normalize(te)))
        probe = self.settings.probe
        for fname, x_tr, x_te in variants:
            vals = _metrics_for(x_tr, ls.train_labels, x_te, ls.test_labels, probe=probe if fname == "raw" else None)
            for metric, value in vals.items():
                self.add(epoch=epoch, layer=layer, level=ls.level, target=ls.target, randomness=ls.randomness,
                         metric=metric, value=value, features=fname,
                         probe=probe if metric.startswith("linear_test_") else "")


def _write_table(job: _Job, csv_path: Path, meta_path: Path, fp: dict, elapsed: float) -> pd.DataFrame:
    """Write the job's rows and the cache's meta file; the table as read back (the contract's dtypes)."""
    df = pd.DataFrame(job.rows, columns=COLUMNS) if job.rows else _empty_table()
    _atomic_write_text(csv_path, df.to_csv(index=False))
    _atomic_write_text(meta_path, json.dumps({"fingerprint": fp, "seconds": round(elapsed, 2),
                                              "timings": {k: round(v, 2) for k, v in job.timings.items()},
                                              "rows": len(df)}, indent=1))
    log.info("measured %s-s%d: %d rows in %.1f s (%s)", job.spec.name, job.info.seed, len(df), elapsed,
             ", ".join(f"{k} {v:.1f}s" for k, v in job.timings.items()))
    return read_table(csv_path)


def _mine_rows(images: torch.Tensor, z: torch.Tensor, settings: MeasureSettings) -> list[dict]:
    """MINE I(X;Z) at the final layer (Sec. 4, Fig. 3 middle): one row per MINE seed, plus the shuffled null."""
    from sslre.metrics.mine import mine_multi_seed, mine_shuffled_null

    n = min(settings.mine_images, images.shape[0])
    # A fixed subset (the first n of a seeded permutation): the same images at every checkpoint.
    idx = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))[:n]
    x, zz = images[idx], z[idx]  # uint8 images: MINE standardizes them per channel itself
    kw = dict(settings.mine_kwargs)
    res = mine_multi_seed(x, zz, seeds=settings.mine_seeds, **kw)
    rows = [dict(metric="mine_mi", target=f"mine-seed{s}", value=float(v))
            for s, v in zip(res["seeds"], res["values"])]
    for s in settings.mine_null_seeds:
        null = mine_shuffled_null(x, zz, seed=s, **kw)  # a MineResult
        rows.append(dict(metric="mine_null", target=f"mine-seed{s}", value=float(null.mi)))
    return rows


def _umap_points(labels: torch.Tensor, groups: int, per_group: int, seed: int) -> torch.Tensor:
    """Indices of ``per_group`` points from each of ``groups`` label values (seeded; Fig. 1 shows 5 groups)."""
    g = torch.Generator().manual_seed(seed)
    values = torch.unique(labels)
    chosen = values[torch.randperm(values.numel(), generator=g)[:groups]]
    idx = []
    for v in chosen.tolist():
        members = torch.nonzero(labels == v).flatten()
        idx.append(members[torch.randperm(members.numel(), generator=g)[:per_group]])
    return torch.cat(idx)


def _umap(run_dir: Path, data, sample, feats: dict, first: int, last: int, settings: MeasureSettings) -> list[dict]:
    """Fig. 1: 2-D UMAP of the final-layer embedding before/after training at 3 levels.

    The same points are embedded before and after. Testable numbers per panel: silhouette score and NCC
    accuracy of the 2-D coordinates w.r.t. the panel's labels. Coordinates go to ``<run_dir>/umap.npz``
    (keys ``<before|after>/<level>/xy`` and ``.../labels``).
    """
    import umap  # umap-learn
    from sklearn.metrics import silhouette_score

    from sslre.metrics import ncc_accuracy

    panels = []
    if sample is not None:
        panels.append(("sample", "sample-train", sample.train.labels))
    panels += [("class", "train", data.train.labels), ("superclass", "train", data.train.superlabels)]
    arrays, rows = {}, []
    for level, split, labels in panels:
        idx = _umap_points(labels, settings.umap_groups, settings.umap_points_per_group, seed=_salt(level))
        y = labels[idx]
        for phase, epoch in (("before", first), ("after", last)):
            x = feats[epoch][split][0][idx].double().numpy()
            reducer = umap.UMAP(n_components=2, n_neighbors=min(settings.umap_neighbors, len(idx) - 1),
                                random_state=0, n_jobs=1)
            xy = reducer.fit_transform(x).astype(np.float32)
            arrays[f"{phase}/{level}/xy"], arrays[f"{phase}/{level}/labels"] = xy, y.numpy()
            rows.append(dict(epoch=epoch, level=level, metric="umap_silhouette",
                             value=float(silhouette_score(xy, y.numpy()))))
            rows.append(dict(epoch=epoch, level=level, metric="umap_ncc",
                             value=float(ncc_accuracy(torch.from_numpy(xy), y))))
    _atomic_savez(run_dir / "umap.npz", arrays)
    return rows


# ------------------------------------------------------------------------------------------------------------
# the profile-wide view the claims read
# ------------------------------------------------------------------------------------------------------------


class Measurements:
    """All runs of a profile in one table: rows by column values (:meth:`select`), each run's last layer, seeds
    and checkpoints. Series (wide by seed) are read through :mod:`sslre.claims.statistics` (:func:`curve`,
    :func:`rows`, ...), the one reader on top of :meth:`select`."""

    def __init__(self, profile: str, dataset: str, table: pd.DataFrame, runs: dict[str, list[RunInfo]],
                 timings: dict[str, float] | None = None, target_levels: pd.DataFrame | None = None,
                 partial: PartialRuns | None = None):
        self.profile = profile
        self.partial = partial          # runs of a partial run set that are not trained (None: none missing)
        self.dataset = dataset
        self.table = table
        self.runs = runs
        self.timings = timings or {}
        self._target_levels = (target_levels if target_levels is not None else
                               pd.DataFrame(columns=TARGET_LEVEL_COLUMNS))
        self._depth = {}
        for name, infos in runs.items():
            if infos:
                self._depth[name] = infos[0].depth
        # Runs absent from ``runs`` (hand-made tables): the arch column gives the depth.
        for name, arch in table[["run", "arch"]].drop_duplicates().itertuples(index=False):
            if name not in self._depth:  # (an imported run's arch is a backbone spec, not RES-L-H: never parsed)
                self._depth[name] = parse_arch(arch)[0]

    def __repr__(self) -> str:
        return f"Measurements(profile={self.profile!r}, dataset={self.dataset!r}, runs={sorted(self.runs)}, rows={len(self.table)})"

    def last_layer(self, run: str) -> int:
        if run not in self._depth:
            raise KeyError(f"run {run!r} is not in the measurements; runs: {sorted(self._depth)}")
        return self._depth[run]

    def select(self, **eq: Any) -> pd.DataFrame:
        """Rows where ``column == value`` for every keyword (a list/tuple/set value means "is in").

        ``layer="last"`` means each run's last layer (its arch's depth). Unknown column names raise.
        """
        df = self.table
        mask = pd.Series(True, index=df.index)
        for col, want in eq.items():
            if col not in df.columns:
                raise KeyError(f"select(): no column {col!r}; columns: {list(df.columns)}")
            if col == "layer" and isinstance(want, str):
                if want != "last":
                    raise ValueError(f"layer must be an int or 'last', got {want!r}")
                last = df["run"].map(lambda r: self._depth.get(r, -1))
                mask &= df["layer"] == last
            elif isinstance(want, (list, tuple, set, frozenset)):
                mask &= df[col].isin(list(want))
            elif isinstance(want, float) and math.isnan(want):
                mask &= df[col].isna()
            else:
                mask &= df[col] == want
        return df[mask]

    def seeds(self, run: str) -> list[int]:
        if run in self.runs:
            return sorted(i.seed for i in self.runs[run])
        return sorted(int(s) for s in self.table.loc[self.table["run"] == run, "seed"].unique())

    def checkpoints(self, run: str) -> list[str]:
        """Paths of every checkpoint of every seed of ``run`` (the evidence a verdict cites)."""
        return [str(p) for info in self.runs.get(run, []) for _, p in sorted(info.checkpoints.items())]

    def has(self, run: str) -> bool:
        return bool((self.table["run"] == run).any())

    @property
    def method(self) -> str:
        """The SSL method of the main run (the generality matrix's column): from its config, else its rows."""
        infos = self.runs.get(Run.MAIN) or []
        if infos:
            return infos[0].config.method
        rows = self.table.loc[self.table["run"] == Run.MAIN, "method"].unique()
        return str(rows[0]) if len(rows) else "vicreg"

    @property
    def absent(self) -> dict[str, list[str]]:
        """``{run: commands that make it}`` of the runs missing from a partial run set (empty when complete)."""
        return dict(self.partial.commands) if self.partial is not None else {}

    def missing_for(self, claim_id: str) -> dict[str, list[str]]:
        """``{run: commands}`` of the missing runs that ``claim_id`` reads; empty when the claim can run."""
        return self.partial.for_claim(claim_id) if self.partial is not None else {}

    def target_levels(self) -> pd.DataFrame:
        """Every random-target level of every generator seed, with its diagnostics (:data:`TARGET_LEVEL_COLUMNS`).

        One row per (generator run, seed, level): ``run`` (``targets-resnet18``), ``seed`` (= the SSL seed that
        reads it), ``family`` (``resnet18``/``vit``), ``target`` (``resnet18@k``), ``generator_epoch``,
        ``randomness``, ``n_classes_<split>`` / ``majority_share_<split>`` (of the predicted targets),
        ``<split>_true_acc`` (generator accuracy on the true labels), ``true_acc_gap`` (train - test),
        ``fit_true_acc`` (on its own training images), ``num_classes``, ``dropped_train`` / ``dropped_test``
        (images of rare predicted classes left out of its rows), ``excluded`` (bool: no ``random`` rows) and
        ``reason``. Read from ``targets.json`` when the measurements were built; count exclusions with
        ``m.target_levels()["excluded"].sum()``. A copy: callers may modify it.
        """
        return self._target_levels.copy()

    def umap(self, run: str = Run.MAIN, seed: int | None = None) -> dict:
        """``{("before"|"after", level): (xy (N, 2), labels (N,))}`` from ``umap.npz`` of training seed ``seed``
        (default: the lowest seed that has one)."""
        infos = [i for i in self.runs.get(run, []) if (i.run_dir / "umap.npz").exists()
                 and (seed is None or int(i.seed) == int(seed))]
        if not infos:
            raise KeyError(f"no umap.npz for run {run!r}" + ("" if seed is None else f" seed {seed}"))
        info = min(infos, key=lambda i: i.seed)
        out = {}
        with np.load(info.run_dir / "umap.npz") as z:
            for key in z.files:
                phase, level, kind = key.split("/")
                if kind == "xy":
                    out[(phase, level)] = (z[key], z[f"{phase}/{level}/labels"])
        return out


# ------------------------------------------------------------------------------------------------------------
# measuring a profile
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pass:
    """One measuring pass over a profile's runs: where they live, which runs, and the sizes of what is measured."""

    profile: str
    runs_dir: Path
    specs: dict[str, RunSpec]
    settings: MeasureSettings
    sample_level: SampleLevelSettings
    evidence: Path | None = None        # where finished runs are published and read from (sslre.evidence)

    def folder(self, name: str, seed: int) -> Path:
        from sslre.evidence import resolve

        return resolve(self.specs[name], seed, self.runs_dir, self.evidence)

    def todo(self) -> list[tuple[str, int]]:
        """Every measured (run, seed), in registry order (generators and aliases are not measured themselves)."""
        return [(spec.name, seed) for spec in self.specs.values() if spec.kind not in ("targets", "alias")
                for seed in spec.seeds]

    def is_current(self, name: str, seed: int) -> bool:
        """Whether (run, seed) needs no measuring here: its cached table was made from its current inputs, or it
        has no checkpoints (a published folder, or a run not trained: the serial pass reads it or names it).
        File stamps only, nothing loaded, so a pass whose caches are all current starts no worker."""
        spec, info = self.specs[name], self.info(name, seed)
        if not info.checkpoints:
            return True
        fps = _paired_targets(self.specs, info.config, seed,
                              lambda o, s: (None, _target_fp(o, s, self.folder(o.name, s))))[1] \
            if spec.coverage.random else []
        fp = _fingerprint(spec, info, self.settings, self.sample_level, (), fps)
        return _cache_is_current(info.run_dir / "measurements.csv", info.run_dir / "measurements.meta.json", fp)

    def info(self, name: str, seed: int) -> RunInfo:
        from sslre.checkpoint import list_checkpoints

        spec = self.specs[name]
        run_dir = self.folder(name, seed)
        return RunInfo(spec.name, seed, spec.config_for(seed), run_dir, dict(list_checkpoints(run_dir)))

    def publish(self, name: str, seed: int) -> None:
        """Copy a run measured in the runs folder to the evidence folder (nothing without one)."""
        from sslre.evidence import publish

        local = self.specs[name].run_dir(self.runs_dir, seed)
        if self.evidence is not None and self.folder(name, seed) == local:
            publish(local, self.specs[name].run_dir(self.evidence, seed))


class _Datasets:
    """Each dataset, and its sample-level set, loaded once per pass (keyed by the data settings of a config)."""

    def __init__(self, sample_level: SampleLevelSettings):
        self.sample_level = sample_level
        self._data: dict[tuple, Any] = {}
        self._sample: dict[tuple, Any] = {}

    def data(self, config: Config):
        from sslre.data import load_dataset_for

        key = _data_key(config)
        if key not in self._data:
            self._data[key] = load_dataset_for(config)
        return self._data[key]

    def sample(self, config: Config):
        key = _data_key(config)
        if key not in self._sample:
            self._sample[key] = _sample_level(self.data(config), self.sample_level, config)
        return self._sample[key]


def _measure_parallel(p: _Pass, progress: bool, status: Callable[[str], None] | None = None) -> bool:
    """Fill every run's ``measurements.csv`` cache in parallel worker processes (one thread each); ``False`` when
    there is one job only (the serial pass measures).

    The serial pass of :func:`build_measurements` then only reads the caches. Each (run, seed) is measured by
    the same :func:`measure_run` as in one process, so parallelism changes no number. ``status`` gets a line
    per finished run, and every :data:`_STATUS_EVERY_S` seconds while checkpoints get measured: runs and
    checkpoints done out of total (the workers report each checkpoint through a queue).
    """
    from sslre import parallel
    from sslre.checkpoint import list_checkpoints
    from sslre.runlog import add_counted

    if parallel.jobs() <= 1:
        return False
    todo = [(n, s) for n, s in p.todo() if not p.is_current(n, s)]   # the serial pass reads the current ones
    jobs = min(parallel.jobs(), len(todo))
    if jobs <= 1:
        return False
    n_ckpt = {(n, s): len(list_checkpoints(p.specs[n].run_dir(p.runs_dir, s))) for n, s in todo}
    total_ckpt, done_runs = sum(n_ckpt.values()), 0
    if status is not None:
        status(f"measuring {len(todo)} runs ({total_ckpt} checkpoints) in {jobs} worker processes")
    # The main run measures the most (MINE, UMAP, random targets): start it first so the pool stays balanced.
    todo.sort(key=lambda ns: (ns[0] != Run.MAIN, ns[0] != Run.DEEP))
    done_queue = parallel.CONTEXT.Queue()  # (name, seed) per measured checkpoint
    ckpt_done = dict.fromkeys(n_ckpt, 0)
    last_said = time.monotonic()
    for finished in parallel.run_parallel(_measure_worker, [(p, n, s) for n, s in todo], jobs, desc="measuring",
                                          progress=progress, label=lambda r: f"{r[0]}-s{r[1]}",
                                          init=(_init_worker, (done_queue,)), poll_s=1.0):
        moved = _count_checkpoints(done_queue, ckpt_done, n_ckpt)
        for name, seed, warned, first in finished:
            add_counted(warned, first)
            ckpt_done[(name, seed)] = n_ckpt[(name, seed)]  # cached runs report no checkpoint
        done_runs += len(finished)
        names = [f"{name}-s{seed}" for name, seed, _, _ in finished]
        if status is not None and (names or (moved and time.monotonic() - last_said >= _STATUS_EVERY_S)):
            last_said = time.monotonic()
            status(f"measured {done_runs}/{len(todo)} runs, {sum(ckpt_done.values())}/{total_ckpt} checkpoints"
                   + (f" ({', '.join(names)})" if names else ""))
    return True


def measure_matrix(profile: str, methods: Sequence[str], runs_dir: Path | str, *, progress: bool = True,
                   evidence: Path | None = None) -> int:
    """Fill the measurement caches of every method's runs (the generality matrix) in one pool of workers, a run
    shared between methods once, the heaviest (main runs: MINE, UMAP) first, so that no core idles between
    methods and each worker pays the UMAP/numba start-up once. Each claims session then reads its caches.
    Returns the number of (run, seed) measured; runs not trained yet, and runs whose cached table is current, are
    left out (checking a stamp starts no worker)."""
    from sslre import parallel
    from sslre.experiments import run_is_complete

    prof = get_profile(profile)
    items, seen = [], set()
    for method in methods:
        p = _Pass(profile, Path(runs_dir), runs_for(profile, method), prof.measure, prof.sample_level, evidence)
        for name, seed in p.todo():
            folder = p.folder(name, seed)
            if folder in seen or not run_is_complete(p.specs[name], folder) or p.is_current(name, seed):
                continue
            seen.add(folder)
            items.append((p, name, seed))
    items.sort(key=lambda it: (it[1] != Run.MAIN, it[1] != Run.DEEP))
    jobs = min(parallel.jobs(), len(items))
    if jobs <= 1:
        for it in items:
            _measure_worker(it)
        return len(items)
    done_queue = parallel.CONTEXT.Queue()
    for _ in parallel.run_parallel(_measure_worker, items, jobs, desc="measuring the matrix", progress=progress,
                                   label=lambda r: f"{r[0]}-s{r[1]}", init=(_init_worker, (done_queue,)),
                                   poll_s=1.0):
        pass
    return len(items)


def _count_checkpoints(done_queue, done: dict, total: dict) -> bool:
    """Count the checkpoints the workers reported since the last call into ``done``; True if there were any."""
    import queue

    moved = False
    while True:
        try:
            key = done_queue.get_nowait()
        except queue.Empty:
            return moved
        done[key] = min(done[key] + 1, total[key])
        moved = True


def _target_fp(spec: RunSpec, seed: int, run_dir: Path) -> list:
    """Cache-key part of one generator: its run and seed, its files, and the degeneracy rule's thresholds."""
    from sslre.targets import DEGENERACY_RULE

    return [spec.name, int(seed), _file_fp(run_dir / "targets.pt"), _file_fp(run_dir / "targets.json"),
            DEGENERACY_RULE]


def _paired_targets(specs: dict[str, RunSpec], config: Config, seed: int, load) -> tuple[list, list]:
    """Target sets (and their fingerprints) that SSL seed ``seed`` reads: generator seed ``seed`` of every
    ``targets`` run on the same data, in registry order. ``load(spec, seed) -> (TargetSet, fp)``."""
    tsets, fps = [], []
    for other in specs.values():
        if other.kind == "targets" and seed in other.seeds and _data_key(other.config) == _data_key(config):
            tset, fp = load(other, seed)
            tsets.append(tset)
            fps.append(fp)
    return tsets, fps


def _level_rows(run: str, seed: int, tset) -> list[dict]:
    """Rows of :meth:`Measurements.target_levels` for one generator."""
    out = []
    for lv in tset.levels:
        d = lv.diagnostics
        out.append({"run": run, "seed": int(seed), "family": tset.kind, "target": lv.name,
                    "generator_epoch": lv.generator_epoch, "randomness": float(lv.randomness),
                    **{c: d.get(c, math.nan) for c in _DIAG_COLUMNS},
                    "num_classes": int(tset.num_classes), "dropped_train": int(lv.dropped.get("train", 0)),
                    "dropped_test": int(lv.dropped.get("test", 0)), "excluded": bool(lv.excluded),
                    "reason": lv.exclusion})
    return out


_STATUS_EVERY_S = 10.0  # at most one checkpoint-progress line per this many seconds (plus one per finished run)
_DONE_QUEUE = None  # a worker's queue to the parent: (name, seed) per measured checkpoint


def _init_worker(done_queue) -> None:
    global _DONE_QUEUE
    _DONE_QUEUE = done_queue


def _measure_worker(args: tuple) -> tuple[str, int, int, list[str]]:
    """Measure one (run, seed) in a worker; returns ``(name, seed, warnings logged, first warnings)``."""
    from sslre.runlog import run_log

    p, name, seed = args
    with run_log(p.runs_dir) as warned:  # this worker's warnings go to the runs folder's log, not between bars
        _measure_one(p, name, seed)
    return name, seed, warned.count, warned.first


def _measure_one(p: _Pass, name: str, seed: int) -> None:
    from sslre.data import load_dataset_for

    torch.set_num_threads(1)
    spec = p.specs[name]
    info = p.info(name, seed)
    data = load_dataset_for(info.config)
    sample = _sample_level(data, p.sample_level, info.config) if spec.coverage.sample else None
    targets, fps = [], []
    if spec.coverage.random:
        def load(other, s):
            tdir = p.folder(other.name, s)
            return _load_targets(tdir, data, seed=s), _target_fp(other, s, tdir)

        targets, fps = _paired_targets(p.specs, info.config, seed, load)
    tell = None if _DONE_QUEUE is None else (lambda epoch: _DONE_QUEUE.put((name, seed)))
    measure_run(spec, info, data=data, sample=sample, targets=targets, target_fps=fps, settings=p.settings,
                sample_settings=p.sample_level, progress=False, on_checkpoint=tell)


def measure_and_publish(profile: str, name: str, seed: int, runs_dir: Path, evidence: Path,
                        method: str | None = None) -> bool:
    """Measure one run of ``profile``'s registry (``method``'s, for the generality matrix) as soon as it is
    trained, and publish it under ``evidence`` (:mod:`sslre.evidence`). A run whose random-target generators are
    not finished yet is left to the final pass (returns False); a generator is published as it is (it has no
    table of its own)."""
    from sslre.evidence import publish

    prof = get_profile(profile)
    p = _Pass(profile, Path(runs_dir), runs_for(profile, method), prof.measure, prof.sample_level, Path(evidence))
    spec = p.specs[name]
    if spec.kind == "targets":
        publish(spec.run_dir(p.runs_dir, seed), spec.run_dir(p.evidence, seed))
        return True
    if spec.coverage.random:
        from sslre.experiments import run_is_complete
        from sslre.evidence import is_published

        for other in p.specs.values():
            if other.kind == "targets" and seed in other.seeds and not (
                    run_is_complete(other, other.run_dir(p.runs_dir, seed)) or is_published(other, seed, p.evidence)):
                return False
    _measure_one(p, name, seed)
    p.publish(name, seed)
    return True


def _data_key(config: Config) -> tuple:
    return (config.dataset, config.data_root, config.train_subset, config.test_subset, config.image_size,
            config.synthetic_classes, config.synthetic_superclasses, config.hierarchy)


def _load_targets(run_dir: Path, data, *, seed: int | None = None):
    """The finished generator's ``TargetSet`` (checked to label exactly this train/test split, and to be the
    generator of ``seed``)."""
    from sslre.targets import load_targets

    tset = load_targets(run_dir)
    if seed is not None and tset.seed != seed:
        raise ValueError(f"targets in {run_dir} were trained with seed {tset.seed}, expected seed {seed}")
    for split, ims in (("train", data.train), ("test", data.test)):
        n = len(ims.labels)
        if tset.levels and tset.levels[0].labels[split].numel() != n:
            raise ValueError(f"targets in {run_dir} label {tset.levels[0].labels[split].numel()} {split} images, "
                             f"the run's {split} split has {n}: retrain the generator (delete {run_dir})")
    return tset


def build_measurements(profile: str, runs_dir: Path | str | None = None, *, train_missing: bool | None = None,
                       names: Iterable[str] | None = None, progress: bool = True,
                       specs: dict[str, RunSpec] | None = None, settings: MeasureSettings | None = None,
                       sample_settings: SampleLevelSettings | None = None,
                       status: Callable[[str], None] | None = None, partial: bool = False) -> Measurements:
    # Ten options, each defaulting to the profile's: tests shrink the registry and the sizes, the CLI adds status.
    """Train (quick only, unless ``train_missing``) / check the runs, measure each, assemble :class:`Measurements`.

    small/full never train here: a missing run raises :class:`sslre.experiments.MissingRunsError` with the
    commands, unless ``partial``: then the runs that exist are measured and the missing ones are kept in
    ``.partial`` (:class:`sslre.experiments.PartialRuns`: their commands, and which claims read them); so are
    runs whose training diverged (:class:`sslre.experiments.RunsDivergedError` without ``partial``). A run with
    a seed missing counts as missing; an SSL run whose random-target generators are missing is measured without
    their levels (its cached table is measured again once they exist). Timings per stage are in ``.timings`` and logged. ``specs`` / ``settings`` / ``sample_settings``
    replace the profile's registry and sizes (tests use shrunken ones). ``status``: called with one line per
    measured run (runs and checkpoints done out of total) and a warning count at the end; sslre's log records go
    to ``RUNS/sslre.log`` meanwhile (:func:`sslre.runlog.run_log`), not between progress bars.
    """
    from sslre.runlog import run_log

    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir(profile)
    with run_log(runs_dir, say=status):
        train_missing = (profile == "quick") if train_missing is None else train_missing
        registry = specs is None
        specs = runs_for(profile) if specs is None else dict(specs)
        if names is not None:  # the named runs, and the runs they are aliases of
            names = list(names)
            specs = {k: v for k, v in specs.items() if k in names or
                     any(specs[n].alias_of == k for n in names if n in specs)}
        from sslre.evidence import evidence_dir

        # Published runs belong to the profile's own registry; a shrunken registry (tests) publishes nothing.
        evidence = evidence_dir(profile) if registry else None
        gaps = None
        if partial and not train_missing:
            gaps = partial_runs(profile, specs, runs_dir, evidence)
            specs = {k: v for k, v in specs.items() if k not in gaps.commands} if gaps.missing else specs
            gaps = gaps if gaps.missing else None
        t0 = time.perf_counter()
        try:
            ensure_runs(profile, runs_dir, train_missing, names=list(specs), progress=progress, specs=specs,
                        evidence=evidence)
        except RunsDivergedError as exc:  # the other runs are trained; the claims that read these cannot run
            if not partial:
                raise
            gaps = lacking(profile, specs, exc.missing, runs_dir, exc.reasons)
            specs = {k: v for k, v in specs.items() if k not in gaps.commands}
        timings = {"train": time.perf_counter() - t0}
        p = _Pass(profile, runs_dir, specs, settings or get_profile(profile).measure,
                  sample_settings or get_profile(profile).sample_level, evidence)
        return _measure_all(p, timings, progress, status, gaps)


def _measure_all(p: _Pass, timings: dict[str, float], progress: bool,
                 status: Callable[[str], None] | None, partial: PartialRuns | None = None) -> Measurements:
    """Measure every run of the pass (in parallel workers first, if more than one job), then assemble the table."""
    datasets = _Datasets(p.sample_level)
    t = time.perf_counter()
    generators, target_levels = _load_generators(p, datasets)
    timings["targets"] = time.perf_counter() - t
    runs: dict[str, list[RunInfo]] = {}
    frames = []
    t = time.perf_counter()
    parallel = _measure_parallel(p, progress, status)
    todo = p.todo()
    for name, seed in todo:
        spec, info = p.specs[name], p.info(name, seed)
        runs.setdefault(name, []).append(info)
        tsets, fps = (_paired_targets(p.specs, info.config, seed, lambda o, s: generators[(o.name, s)])
                      if spec.coverage.random else ([], []))
        ts = time.perf_counter()
        frames.append(measure_run(spec, info, data=datasets.data(info.config),
                                  sample=datasets.sample(info.config) if spec.coverage.sample else None,
                                  targets=tsets, target_fps=fps, settings=p.settings,
                                  sample_settings=p.sample_level, progress=progress))
        timings[f"measure:{name}-s{seed}"] = time.perf_counter() - ts
        p.publish(name, seed)
        if status is not None and not parallel:
            done = sum(len(v) for v in runs.values())
            status(f"measured {done}/{len(todo)} runs ({name}-s{seed}, {len(info.checkpoints)} checkpoints)")
    for spec in p.specs.values():  # an alias reads the runs (and rows) of the run it names
        if spec.kind == "alias" and spec.alias_of in runs:
            runs[spec.name] = [RunInfo(spec.name, i.seed, i.config, i.run_dir, i.checkpoints)
                               for i in runs[spec.alias_of]]
            src = [f for f in frames if not f.empty and f["run"].iloc[0] == spec.alias_of]
            frames += [f.assign(run=spec.name) for f in src]
    timings["measure"] = time.perf_counter() - t
    filled = [f for f in frames if not f.empty]
    table = pd.concat(filled, ignore_index=True) if filled else _empty_table()
    log.info("measurements of %s: %d rows; timings %s", p.profile, len(table),
             {k: round(v, 1) for k, v in timings.items()})
    main = p.specs.get(Run.MAIN)
    dataset = main.config.dataset if main else get_profile(p.profile).config.dataset
    return Measurements(p.profile, dataset, table, runs, timings, target_levels, partial)


def _load_generators(p: _Pass, datasets: _Datasets) -> tuple[dict[tuple[str, int], tuple[Any, list]], pd.DataFrame]:
    """``{(targets run, seed): (TargetSet, fingerprint)}`` of every generator, and their levels' diagnostics."""
    generators, level_rows = {}, []
    for spec in p.specs.values():
        if spec.kind != "targets":
            continue
        for seed in spec.seeds:
            run_dir = p.folder(spec.name, seed)
            tset = _load_targets(run_dir, datasets.data(spec.config), seed=seed)
            p.publish(spec.name, seed)
            generators[(spec.name, seed)] = (tset, _target_fp(spec, seed, run_dir))
            level_rows += _level_rows(spec.name, seed, tset)
    return generators, pd.DataFrame(level_rows, columns=TARGET_LEVEL_COLUMNS)
