"""A synthetic measurements table with a known answer, for testing the claim machinery.

:func:`synthetic_measurements` builds a :class:`sslre.measure.Measurements` whose table follows the
pipeline contract (same runs, columns, levels, metrics and coverage) but whose values come from a
closed-form model of the paper's findings, scaled by ``effect``:

* ``effect=+1``: every claim's pattern is present (sample clustering saturates early, class clustering
  keeps improving, accuracy falls with target randomness, deeper/wider is better, ...);
* ``effect=-1``: every pattern is reversed;
* ``effect=0``: flat curves plus noise (nothing to find).

The ``*-shuffled`` control levels and the MINE null are flat at every ``effect``: a claim test whose
control comes out supported on this table is broken (beyond the tests' alpha: the controls carry the same
noise as the rest of the table). Every run has every one of ``seeds`` (3 by default), as every run of a
profile has >= 3 seeds of its own. Loss rows start at epoch 0 (the untrained model, as in ``history.jsonl``),
where they do not depend on the run's μ or quality. No training, no files: it runs in a second.
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd

from sslre.config import profile_config, scale_epochs

# quality factor per run: how much of the pattern a run shows (width, mu, method, depth)
_RUNS = {
    # name: (method, depth, width_factor, quality, mu); every run has every seed of ``seeds``
    "vicreg": ("vicreg", 3, 1, 1.0, 25.0),
    "vicreg-deep": ("vicreg", 6, 1, 1.15, 25.0),
    "vicreg-mu5": ("vicreg", 3, 1, 0.5, 5.0),
    "vicreg-mu100": ("vicreg", 3, 1, 1.0, 100.0),
    "vicreg-narrow": ("vicreg", 3, 0.25, 0.6, 25.0),
    "vicreg-wide": ("vicreg", 3, 4, 1.4, 25.0),
    "simclr": ("simclr", 3, 1, 0.7, 25.0),
    "supervised": ("supervised", 6, 1, 1.0, 25.0),
    "supervised-aa": ("supervised", 6, 1, 1.0, 25.0),
    "vicreg-other": ("vicreg", 3, 1, 1.0, 25.0),
}
_BASE = {"sample": 0.2, "class": 0.3, "superclass": 0.5}
_AMP = {"sample": 0.05, "class": 0.2, "superclass": 0.45}          # linear-accuracy gain at full depth
_CHANCE = {"sample-shuffled": 0.01, "class-shuffled": 0.1, "superclass-shuffled": 0.5, "random-shuffled": 0.1}
RANDOMNESS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _g(level: str, t: float) -> float:
    """Progress over training: the sample level saturates early, semantic levels grow linearly."""
    return 1.0 - math.exp(-t / 0.08) if level == "sample" else t


def _acc_values(level, run_q, d, t, s, target=None, randomness=float("nan")):
    """(linear, ncc_test, ncc_train, within_var, mean_dist2) for one cell of the model."""
    if level in _CHANCE:                                   # negative controls: no structure at all
        lin = _CHANCE[level]
        return lin, lin, lin, 1.0, 1.0
    if level == "random":
        r = randomness
        fam = 1.0 if target.startswith("resnet18") else 0.0
        # accuracy falls with randomness, grows with training and depth; ResNet-18 targets align better (r > 0)
        lin = 0.1 + s * run_q * ((1 - r) * (0.1 + 0.5 * t) * (0.3 + 0.7 * d) + 0.05 * d
                                 + 0.04 * fam * (r > 0) * (0.5 + 0.5 * t))
        k = (1 - r) * (0.2 + 0.8 * d)
        rho = 0.6 + s * 0.3 * (1 - r) * t
        return lin, lin * rho, min(1.0, lin * rho * 1.05), 1.0, math.exp(s * k * t * 0.2)
    h = (0.2 + 0.8 * d) * (0.2 + 0.8 * _g(level, t))
    lin = _BASE[level] + s * run_q * _AMP[level] * h
    rho = 0.6 + s * 0.3 * _g(level, t)                     # NCC / linear ratio
    k = {"sample": 1.5, "class": 1.0, "superclass": 1.2}[level] * (0.2 + 0.8 * d)
    return lin, lin * rho, min(1.0, lin * rho * 1.05), 1.0, math.exp(s * k * _g(level, t) * run_q)


def synthetic_measurements(effect: float = 1.0, *, seeds: tuple[int, ...] = (0, 1, 2), noise: float = 0.001,
                           epochs: int = 20, seed: int = 0, profile: str = "quick"):
    """The synthetic :class:`~sslre.measure.Measurements` (see the module docstring)."""
    # One long builder on purpose: every run's rows are written side by side, so the planted pattern reads in one place.
    from sslre.measure import Measurements, RunInfo

    rng = np.random.default_rng(seed)
    s = float(effect)
    ep = scale_epochs(epochs)
    last = ep[-1]
    rows: list[tuple] = []

    def add(run, method, arch, sd, e, layer, level, target, r, metric, value, features="raw", probe=""):
        # one argument per column of the tidy table (sslre.measure.COLUMNS), in its order
        rows.append((run, method, arch, "synthetic", sd, e, layer, level, target, r, metric, value, features, probe))

    infos: dict[str, list] = {}
    for run, (method, depth, wf, q, mu) in _RUNS.items():
        arch = f"RES-{depth}-{int(32 * wf)}"
        run_seeds = tuple(seeds)
        infos[run] = [RunInfo(run, sd, profile_config(profile, method=method, arch=arch, vicreg_mu=mu, seed=sd),
                              Path(f"/synthetic/{run}-s{sd}"),
                              {e: Path(f"/synthetic/{run}-s{sd}/checkpoints/epoch_{e:04d}.pt") for e in ep})
                      for sd in run_seeds]
        all_layers = run not in ("vicreg-mu5", "vicreg-mu100", "supervised", "supervised-aa")
        controls = run in ("vicreg", "vicreg-deep", "simclr", "vicreg-other", "vicreg-narrow", "vicreg-wide")
        random = run in ("vicreg", "simclr")
        levels = ["sample", "class", "superclass"] if method != "supervised" else ["class", "superclass"]
        for sd in run_seeds:
            for e in ep:
                t = e / last
                layers = range(depth + 1) if all_layers else [depth]
                cells = [(lv, None, float("nan"), L) for lv in levels for L in layers]
                # random targets: last layer x every epoch + every layer x last epoch (controls: and x epoch 0)
                ctrl_layers = range(depth + 1) if (e == last and all_layers) else [depth]
                shuffled_layers = range(depth + 1) if (e in (0, last) and all_layers) else [depth]
                if controls:
                    cells += [(f"{lv}-shuffled", None, float("nan"), L) for lv in levels for L in shuffled_layers]
                if random:
                    for fam, r, L in itertools.product(("resnet18", "vit"), RANDOMNESS, ctrl_layers):
                        tgt = f"{fam}@{int(round((1 - r) * 4))}"
                        cells.append(("random", tgt, r, L))
                        if controls:
                            cells.append(("random-shuffled", tgt, r, L))
                for lv, tgt, r, L in cells:
                    d = L / depth
                    if method == "supervised":
                        vals = _supervised(run, s if e > 0 else 0.0, t, lv)
                    else:
                        # untrained networks carry no pattern: epoch 0 is the same at every effect
                        vals = _acc_values(lv, q if e > 0 else 1.0, d, t, s if e > 0 else 0.0, tgt, r)
                    lin, ncc_te, ncc_tr, wv, md = (v + rng.normal(0, noise) for v in vals)
                    for metric, v in (("ncc_train_acc", ncc_tr), ("ncc_test_acc", ncc_te), ("cdnv", wv / md),
                                      ("within_var", wv), ("mean_dist2", md)):
                        add(run, method, arch, sd, e, L, lv, tgt or "", r, metric, v)
                    add(run, method, arch, sd, e, L, lv, tgt or "", r, "linear_test_acc", lin, probe="svc")
                    # chance-corrected twin: a fixed majority baseline per label set keeps every planted ordering
                    add(run, method, arch, sd, e, L, lv, tgt or "", r, "linear_test_kappa", (lin - 0.1) / 0.9, probe="svc")
                if method != "supervised":
                    # losses: invariance flat; regularization falls with training (mu=100: higher invariance once
                    # trained); epoch 0 = the untrained model: its invariance term is the same for every mu
                    inv = 1.0 + s * 0.5 * (mu == 100.0) + rng.normal(0, noise * 10) if e > 0 else 1.0
                    reg = 20.0 - s * 15.0 * t * q + rng.normal(0, noise * 10)
                    for metric, v in (("loss_invariance", inv), ("loss_regularization", reg), ("loss_total", inv + reg)):
                        add(run, method, arch, sd, e, float("nan"), "", "", float("nan"), metric, v, features="")
                if run == "vicreg":
                    for k in range(5):
                        mi = 5.0 - s * 2.0 * t + rng.normal(0, 0.02)
                        add(run, method, arch, sd, e, depth, "", f"mine-seed{k}", float("nan"), "mine_mi", mi)
                        add(run, method, arch, sd, e, depth, "", f"mine-seed{k}", float("nan"), "mine_null",
                            0.3 + rng.normal(0, 0.02))
    cols = ["run", "method", "arch", "dataset", "seed", "epoch", "layer", "level", "target", "randomness",
            "metric", "value", "features", "probe"]
    table = pd.DataFrame(rows, columns=cols)
    umaps = {sd: _umap(s, rng) for sd in seeds}                       # one UMAP per training seed, as measured
    for sd, umap in umaps.items():
        for (phase, level), (xy, labels) in umap.items():
            from sklearn.metrics import silhouette_score
            e = 0 if phase == "before" else last
            rows2 = [("vicreg", "vicreg", "RES-3-32", "synthetic", sd, e, 3, level, "", float("nan"),
                      "umap_silhouette", float(silhouette_score(xy, labels)), "raw", "")]
            table = pd.concat([table, pd.DataFrame(rows2, columns=cols)], ignore_index=True)
    m = SyntheticMeasurements(profile, "synthetic", table, infos)
    m._umap = umaps
    return m


def _supervised(run: str, s: float, t: float, level: str):
    """Fig. 3 right pattern around vicreg-deep's flat (s=0) class values: supervised NCC train -> ~1.0 and
    above SSL's; SSL NCC test slightly above supervised; AutoAugment lowers train a little, raises test a lot."""
    tr = 0.189 + s * 0.75 * t
    te = 0.18 + s * 0.25 * t
    if run == "supervised-aa":
        tr -= s * 0.05 * t
        te += s * 0.15 * t
    return te, te, tr, 1.0, 1.0


def _umap(s: float, rng: np.random.Generator, n_per: int = 40) -> dict:
    """Before/after 2-D points at 3 levels; clustered after training when s > 0 (before when s < 0)."""
    out = {}
    for level, k in (("sample", 5), ("class", 5), ("superclass", 2)):
        labels = np.repeat(np.arange(k), n_per)
        centres = rng.normal(0, 6, size=(k, 2))
        for phase in ("before", "after"):
            clustered = (s > 0 and phase == "after") or (s < 0 and phase == "before")
            xy = rng.normal(0, 1, size=(labels.size, 2)) + (centres[labels] if clustered else 0)
            out[(phase, level)] = (xy.astype(np.float32), labels)
    return out


def _measurements_base():
    from sslre.measure import Measurements
    return Measurements


class SyntheticMeasurements(_measurements_base()):  # type: ignore[misc]
    """:class:`sslre.measure.Measurements` with the UMAP coordinates held in memory."""

    def umap(self, run: str = "vicreg", seed: int | None = None) -> dict:
        if run != "vicreg":
            raise KeyError(f"no umap for run {run!r}")
        if seed is None:
            seed = min(self._umap)
        if seed not in self._umap:
            raise KeyError(f"no umap for run {run!r} seed {seed}")
        return self._umap[seed]
