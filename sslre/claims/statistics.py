"""Claim statistics: reading series from the measurements table and reducing them per seed.

Two layers:

* **access** (:func:`rows`, :func:`curve`, :func:`by_layer`, :func:`random_grid`, ...) reads the tidy
  table through ``Measurements.select`` only (columns of ``docs/ARCHITECTURE.md``), so claims never
  recompute what the table holds. Wide frames have one column per seed.
* **statistics** (:func:`early_share`, :func:`gain`, :func:`slope`, ...) are pure functions on those
  frames returning one value per seed (a ``pd.Series`` indexed by seed); the verdict then takes the
  mean over seeds as the effect and the seed spread as the noise (:mod:`sslre.claims.verdict`).

Conventions: ``epoch`` 0 is initialization; layers of the paper's layer figures are the residual blocks
``1..L`` (Figs. 5, 7, 11, 12 plot layers 1-5); the stem (layer 0) is measured but not part of those
comparisons. Paper epochs are scaled to a run's length with :func:`scaled_epoch`.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from sslre.claims.verdict import Decision, decide, decide_seeds, seed_noise

PAPER_LAST_EPOCH = 1000


class MissingSeries(LookupError):
    """The table has no rows for a requested series (run absent at this profile, or not measured)."""


# ----------------------------------------------------------------------------------------- access
def rows(m: Any, run: str, metric: str, level: str | None = None, *, features: str | None = "raw",
         target: str | None = None) -> pd.DataFrame:
    """Rows of ``run`` / ``metric`` (/ ``level`` / ``target``), one probe kind, ``features`` variant.

    Where both linear probes were measured, the paper's (``svc``, scikit-learn LinearSVC) is preferred.
    Rows whose ``features`` is empty (losses, MINE) are kept whatever ``features`` asks for.
    """
    df = m.select(run=run, metric=metric)
    if level is not None:
        df = df[df["level"].fillna("") == level]
    if target is not None:
        df = df[df["target"].fillna("") == target]
    if features is not None and "features" in df:
        f = df["features"].fillna("")
        df = df[(f == features) | (f == "")]
    if "probe" in df and df["probe"].fillna("").nunique() > 1:
        probes = set(df["probe"].fillna(""))
        keep = "svc" if "svc" in probes else sorted(probes)[0]
        df = df[df["probe"].fillna("") == keep]
    if df.empty:
        raise MissingSeries(f"no rows for run={run!r} metric={metric!r} level={level!r} target={target!r} "
                            f"features={features!r}")
    return df


def last_layer(m: Any, run: str) -> int:
    """The deepest layer of ``run`` (its arch's depth): from the run config, else the table."""
    infos = getattr(m, "runs", {}).get(run) or []
    for info in infos:
        depth = getattr(getattr(info, "config", None), "depth", None)
        if depth is not None:
            return int(depth)
    layers = m.select(run=run)["layer"].dropna()
    if layers.empty:
        raise MissingSeries(f"run {run!r} has no per-layer rows")
    return int(layers.max())


def wide(df: pd.DataFrame, index: str = "epoch") -> pd.DataFrame:
    """Pivot tidy rows to ``index`` x seed (mean over duplicate rows, e.g. MINE seeds)."""
    out = df.pivot_table(index=index, columns="seed", values="value", aggfunc="mean")
    out.columns = [int(c) for c in out.columns]
    return out.sort_index()


def curve(m: Any, run: str, metric: str, level: str = "", *, layer: int | str | None = "last",
          target: str | None = None, features: str | None = "raw") -> pd.DataFrame:
    """epoch x seed for one layer (``"last"`` = the run's last layer, ``None`` = per-run metric)."""
    df = rows(m, run, metric, level, features=features, target=target)
    if layer is not None:
        L = last_layer(m, run) if layer == "last" else int(layer)
        df = df[df["layer"] == L]
        if df.empty:
            raise MissingSeries(f"run {run!r} metric {metric!r} level {level!r}: no rows at layer {L}")
    return wide(df, "epoch")


def by_layer(m: Any, run: str, metric: str, level: str, *, epoch: int | str = "last",
             features: str | None = "raw", target: str | None = None, blocks_only: bool = True) -> pd.DataFrame:
    """layer x seed at one epoch (``"last"`` = the run's last measured epoch); blocks 1..L by default."""
    df = rows(m, run, metric, level, features=features, target=target).dropna(subset=["layer"])
    e = int(df["epoch"].max()) if epoch == "last" else int(epoch)
    df = df[df["epoch"] == e]
    if blocks_only:
        df = df[df["layer"] >= 1]
    if df.empty or df["layer"].nunique() < 1:
        raise MissingSeries(f"run {run!r} metric {metric!r} level {level!r}: no per-layer rows at epoch {e}")
    out = wide(df, "layer")
    out.index = out.index.astype(int)
    return out


def layer_epoch(m: Any, run: str, metric: str, level: str, *, features: str | None = "raw") -> pd.DataFrame:
    """Tidy (seed, epoch, layer, value) for every measured layer (blocks 1..L) and epoch."""
    df = rows(m, run, metric, level, features=features).dropna(subset=["layer"])
    df = df[df["layer"] >= 1]
    return df.groupby(["seed", "epoch", "layer"], as_index=False)["value"].mean()


RANDOM_TARGET_METRIC = "linear_test_kappa"
KAPPA_LABEL = "linear acc over majority, κ"
KAPPA_PROTOCOL = ("chance-corrected: κ = (acc - maj) / (1 - maj), maj = accuracy of the train split's majority "
                  "target (a protocol change from the paper's raw accuracy: random targets are imbalanced)")


def random_grid(m: Any, run: str, family: str, metric: str = RANDOM_TARGET_METRIC, *, level: str = "random",
                features: str | None = "raw") -> pd.DataFrame:
    """Tidy (seed, epoch, layer, randomness, target, value) for random targets ``<family>@k``.

    The default metric is the *chance-corrected* linear accuracy ``(acc - maj) / (1 - maj)`` (``maj``: accuracy of
    always answering the train split's majority target). Random targets from a generator near initialization are
    imbalanced -- it predicts few classes -- so raw accuracy rewards class balance, not alignment: at the quick and
    small profiles the label-permuted control reproduced the raw-accuracy effects (a confound). The paper reports
    raw accuracy; the thresholds of the claims are unchanged, only the statistic is corrected.
    """
    df = rows(m, run, metric, level, features=features).dropna(subset=["layer"])
    df = df[df["target"].fillna("").str.startswith(f"{family}@")]
    if df.empty:
        raise MissingSeries(f"run {run!r}: no {level!r} rows for targets {family}@k ({metric})")
    return df.groupby(["seed", "epoch", "layer", "randomness", "target"], as_index=False)["value"].mean()


def per_seed(m: Any, run: str, metric: str, level: str, *, epoch: int | str = "last", layer: int | str = "last",
             features: str | None = "raw") -> pd.Series:
    """seed -> value at one epoch and layer."""
    w = curve(m, run, metric, level, layer=layer, features=features)
    if epoch == "last":
        e = w.index.max()
    elif int(epoch) in w.index:
        e = int(epoch)
    else:
        e = nearest_epoch(w.index, int(epoch), exclude_zero=False)
    return w.loc[e]


# ----------------------------------------------------------------------------------------- epochs
def scaled_epoch(paper_epoch: int, last_epoch: int, paper_last: int = PAPER_LAST_EPOCH) -> float:
    """A paper epoch (of 1000) on a run of ``last_epoch`` epochs, e.g. 100 of 1000 -> 2 of 20."""
    return paper_epoch * last_epoch / paper_last


def nearest_epoch(epochs: Iterable[int], target: float, *, exclude_zero: bool = True) -> int:
    """The measured epoch closest to ``target`` (ties: the later one); epoch 0 only if asked."""
    cands = sorted(int(e) for e in epochs if (e > 0 or not exclude_zero))
    if not cands:
        raise MissingSeries("no measured epoch > 0")
    return min(cands, key=lambda e: (abs(e - target), -e))


# ----------------------------------------------------------------------------------------- statistics
def normalized(w: pd.DataFrame) -> pd.DataFrame:
    """Each seed's curve divided by its value at initialization (the paper's 'normalized', Fig. 2)."""
    if 0 not in w.index:
        raise MissingSeries("the series has no epoch-0 (initialization) value to normalize by")
    init = w.loc[0].replace(0, np.nan)
    return w / init


def gain(w: pd.DataFrame, start: int | None = None, end: int | None = None) -> pd.Series:
    """seed -> w[end] - w[start] (defaults: first and last measured epoch)."""
    s = w.index.min() if start is None else start
    e = w.index.max() if end is None else end
    return w.loc[e] - w.loc[s]


def early_share(w: pd.DataFrame, early: int) -> pd.Series:
    """seed -> share of the total gain reached by epoch ``early``: (w[early]-w[0]) / (w[last]-w[0]).

    NaN where the total gain is zero (no gain to share). 1 means all of the gain came early.
    """
    total = gain(w)
    part = w.loc[early] - w.loc[w.index.min()]
    return part / total.where(total.abs() > 1e-12)


def slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope dy/dx (NaN with fewer than two distinct x)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2 or np.ptp(x) == 0:
        return float("nan")
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc * xc).sum())


def layer_slope(w: pd.DataFrame) -> pd.Series:
    """seed -> slope of a layer x seed frame over layers (per block)."""
    return pd.Series({s: slope(w.index.values, w[s].values) for s in w.columns})


def paired_diff(a: pd.Series, b: pd.Series) -> tuple[float, float, list[float]]:
    """Effect and noise of ``a - b`` for two per-seed series (seed -> value).

    With >= 2 common seeds: per-seed differences (paired, the seeds share data order);
    otherwise the difference of means with noise sqrt(sd_a^2 + sd_b^2) (NaN where a side has one seed).
    """
    common = sorted(set(a.dropna().index) & set(b.dropna().index))
    if len(common) >= 2:
        d = [float(a[s] - b[s]) for s in common]
        return float(np.mean(d)), seed_noise(d), d
    ea, eb = float(a.mean()), float(b.mean())
    na, nb = seed_noise(list(a.dropna())), seed_noise(list(b.dropna()))
    return ea - eb, float(np.hypot(na, nb)), [ea - eb]


def decide_diff(a: pd.Series, b: pd.Series, threshold: float = 0.0, direction: str = ">", **kw: Any) -> Decision:
    """:func:`decide` on ``a - b`` with :func:`paired_diff`'s noise."""
    eff, noise, per = paired_diff(a, b)
    return decide(eff, noise, threshold, direction, per_seed=per, **kw)


def seed_min(df: pd.DataFrame, group: Sequence[str], value: str = "value") -> pd.Series:
    """seed -> the minimum over cells ``group`` of ``value`` (a 'for every cell' statement's worst case)."""
    return df.groupby("seed")[value].min()


def seed_max(df: pd.DataFrame, value: str = "value") -> pd.Series:
    return df.groupby("seed")[value].max()


def decide_series(s: pd.Series, threshold: float = 0.0, direction: str = ">", **kw: Any) -> Decision:
    """:func:`decide_seeds` on a seed -> value series."""
    return decide_seeds([float(v) for v in s.values], threshold, direction, **kw)


def errbar_series(w: pd.DataFrame, label: str) -> dict:
    """A figure series from an index x seed frame: mean over seeds with the seed std as error bar."""
    mean = w.mean(axis=1)
    err = w.std(axis=1, ddof=1) if w.shape[1] > 1 else pd.Series(np.nan, index=w.index)
    return {"label": label, "x": [float(x) for x in w.index], "y": [float(v) for v in mean.values],
            "yerr": [float(v) for v in err.fillna(0.0).values]}


# ----------------------------------------------------------------------------------------- claim helpers
def pick_run(m: Any, *names: str) -> str | None:
    """The first of ``names`` present in the table (e.g. ``vicreg-deep``, falling back to ``vicreg``)."""
    for n in names:
        if m.has(n):
            return n
    return None


def missing(name: str, exc: Exception | str, source: str = "", op: str = ">", threshold: float = 0.0) -> Decision:
    """An inconclusive part whose series is absent at this profile (never a fake pass)."""
    from sslre.claims.verdict import Verdict
    return Decision(name, float("nan"), float("nan"), threshold, op, Verdict.INCONCLUSIVE,
                    f"{name}: series absent at this profile ({exc})", source, [])


def guarded(name: str, fn, *, source: str = "", op: str = ">", threshold: float = 0.0) -> Decision:
    """``fn()`` (returning a Decision), or an inconclusive :func:`missing` part if a series is absent."""
    try:
        return fn()
    except (MissingSeries, KeyError) as exc:
        return missing(name, exc, source, op, threshold)


def main_noise(fn, m: Any, run: str = "vicreg") -> float:
    """Fallback noise for a single-seed auxiliary run: the seed spread of the same statistic ``fn(m, run)``
    (seed -> value) on the main run, which carries the profile's seed-to-seed noise estimate."""
    try:
        return seed_noise(list(fn(m, run).values))
    except (MissingSeries, KeyError):
        return float("nan")


def decide_aux(values: pd.Series, fallback: float, threshold: float = 0.0, direction: str = ">", **kw: Any) -> Decision:
    """:func:`decide_series` where a single seed borrows ``fallback`` (from :func:`main_noise`)."""
    return decide_seeds([float(v) for v in values.values], threshold, direction, fallback_noise=fallback, **kw)


def decide_diff_aux(a: pd.Series, b: pd.Series, fallback_sd: float, threshold: float = 0.0,
                    direction: str = ">", **kw: Any) -> Decision:
    """``a - b`` where a side with one seed borrows ``fallback_sd`` (the main run's seed spread)."""
    common = sorted(set(a.dropna().index) & set(b.dropna().index))
    if len(common) >= 2:
        return decide_diff(a, b, threshold, direction, **kw)
    sa = seed_noise(list(a.dropna())) if a.dropna().size > 1 else fallback_sd
    sb = seed_noise(list(b.dropna())) if b.dropna().size > 1 else fallback_sd
    eff = float(a.mean() - b.mean())
    return decide(eff, float(np.hypot(sa, sb)), threshold, direction, per_seed=[eff], **kw)


def fig_curves(frames: dict[str, pd.DataFrame]) -> list[dict]:
    """Figure series (mean +- seed std) from ``{label: index x seed frame}``."""
    return [errbar_series(w, label) for label, w in frames.items()]


def pooled_noise(cells: dict[Any, pd.Series]) -> float:
    """Seed spread pooled over cells: sqrt(mean over cells of the per-cell seed variance); NaN if none."""
    variances = [seed_noise(list(s.dropna().values)) ** 2 for s in cells.values()]
    variances = [v for v in variances if np.isfinite(v)]
    return float(np.sqrt(np.mean(variances))) if variances else float("nan")


def decide_all(cells: dict[Any, pd.Series], threshold: float = 0.0, direction: str = ">", *, name: str,
               source: str = "", fallback_noise: float | None = None, noise_scale: float = 1.0) -> Decision:
    """A 'for every cell' statement (every layer, epoch, randomness level): each cell decided on its own
    per-seed values, then combined (all supported -> supported; any refuted -> refuted; else inconclusive).

    Why not the per-seed min/max over cells: under no effect at all, the minimum of several noisy cells is
    biased below zero by more than its seed spread, so a flat series would be "refuted" (and a max "supported").
    The returned statistic is the worst cell (smallest margin toward the claimed direction).

    Noise: the seed spread **pooled over cells** (root mean of the per-cell variances). A std from 2-3 seeds
    is itself very noisy; with one such estimate per cell, some cell of a flat series gets a tiny std by chance
    and is wrongly decided. Pooling gives cells x (seeds - 1) degrees of freedom. ``noise_scale`` widens it,
    e.g. sqrt(2) when cells are differences against a single-seed run assumed to share the main run's spread.
    """
    from sslre.claims.verdict import Verdict, combine
    if not cells:
        raise MissingSeries(f"{name}: no cells to decide")
    pooled = pooled_noise(cells)
    if not np.isfinite(pooled) and fallback_noise is not None:
        pooled = float(fallback_noise)
    pooled *= noise_scale
    decs = {}
    for k, s in cells.items():
        vals = [float(v) for v in s.dropna().values]
        decs[k] = decide(float(np.mean(vals)) if vals else float("nan"), pooled, threshold, direction,
                         name=f"{name} [{k}]", source=source, per_seed=vals)
    v = combine(decs.values())
    sign = 1.0 if direction == ">" else -1.0
    worst_key = min(decs, key=lambda k: sign * (decs[k].value - threshold) if np.isfinite(decs[k].value) else -np.inf)
    w = decs[worst_key]
    counts = {s.value: sum(d.verdict is s for d in decs.values()) for s in (Verdict.SUPPORTED, Verdict.REFUTED,
                                                                             Verdict.INCONCLUSIVE)}
    reason = (f"{name}: {counts['supported']}/{len(decs)} cells supported, {counts['refuted']} refuted; "
              f"worst cell {worst_key}: {w.reason}")
    return Decision(f"{name} (worst of {len(decs)} cells: {worst_key})", w.value, w.noise, threshold, direction, v,
                    reason, source, w.per_seed)


def cells(df: pd.DataFrame, by: str | Sequence[str], value: str = "value") -> dict[Any, pd.Series]:
    """``{cell key: seed -> value}`` from a tidy frame with a ``seed`` column."""
    out = {}
    for key, g in df.groupby(by):
        out[key] = g.groupby("seed")[value].mean()
    return out
