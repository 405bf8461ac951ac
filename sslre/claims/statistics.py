"""Claim statistics: reading series from the measurements table and reducing them per seed.

Two layers:

* **access** (:func:`rows`, :func:`curve`, :func:`by_layer`, :func:`random_grid`, ...): the one reader of
  series from the tidy table, through ``Measurements.select`` and ``Measurements.last_layer`` only (columns of
  ``docs/ARCHITECTURE.md``), so claims never recompute what the table holds. Wide frames have one column per
  seed.
* **statistics** (:func:`early_share`, :func:`gain`, :func:`slope`, ...) are pure functions on those
  frames returning one value per seed (a ``pd.Series`` indexed by seed); the verdict then takes the
  mean over seeds as the effect and the seed spread as the noise (:mod:`sslre.claims.verdict`).

Conventions: ``epoch`` 0 is initialization; layers of the paper's layer figures are the residual blocks
``1..L`` (Figs. 5, 7, 11, 12 plot layers 1-5); the stem (layer 0) is measured but not part of those
comparisons. Paper epochs map to a run's checkpoints by the share of the lr integral (:func:`early_epoch`).
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from sslre.claims.verdict import Decision, Verdict, decide_equivalent, decide_family, decide_seeds

PAPER_LAST_EPOCH = 1000


class MissingSeries(LookupError):
    """The table has no rows for a requested series (run absent at this profile, or not measured)."""


# ----------------------------------------------------------------------------------------- access
def rows(m: Any, run: str, metric: str, level: str | None = None, *, features: str | None = "raw",
         target: str | None = None) -> pd.DataFrame:
    """Rows of ``run`` / ``metric`` (/ ``level`` / ``target``), one probe kind, ``features`` variant.

    Where both linear probes were measured, the paper's (``svc``: LinearSVC's objective, solved in torch) is
    preferred.
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


def absent_loss_terms(m: Any, run: str, terms: Sequence[str]) -> str:
    """Why ``run``'s loss cannot be split into ``terms`` (e.g. ``("invariance", "regularization")``), or ``""``.

    Decided from the data, never from a list of method names: the method's ``loss_terms``
    (:class:`sslre.methods.SSLMethod`, through the run's config), else the table -- the run has loss rows
    (``loss_total``) but none of ``loss_<term>`` (NaN in every epoch of ``history.jsonl``). A run without any
    loss rows is not decided here (its series is missing, not inapplicable).
    """
    infos = getattr(m, "runs", {}).get(run) or []
    if infos and getattr(infos[0], "layers", ()) and m.select(run=run, metric="loss_total").empty:
        return (f"run {run} is imported checkpoints ({infos[0].arch or 'a user backbone'}): it has no per-epoch loss "
                "history, so its loss cannot be split into " + " and ".join(terms))
    method = getattr(getattr(infos[0], "config", None), "method", None) if infos else None
    if method is not None:
        from sslre.config import ConfigError
        from sslre.methods import method_class

        try:
            have = tuple(method_class(method).loss_terms)
        except ConfigError:
            have = None                 # a plug-in that does not import here: the table decides
        lack = [t for t in terms if have is not None and t not in have]
        if lack:
            return (f"method {method} has no {' or '.join(lack)} term (loss_terms = {have!r}): its loss is not split "
                    f"into {' and '.join(terms)}")
    if m.select(run=run, metric="loss_total").empty:
        return ""
    lack = [t for t in terms if m.select(run=run, metric=f"loss_{t}").empty]
    if lack:
        return (f"the loss history of run {run} has no {' or '.join(f'loss_{t}' for t in lack)} value (NaN in every "
                f"epoch{f', method {method}' if method else ''}): its loss is not split into {' and '.join(terms)}")
    return ""


def absent_hierarchy(m: Any, run: str) -> str:
    """Why ``run``'s data has no superclass level above its classes, or ``""``.

    Decided from the run's data config (:meth:`sslre.config.Config.has_hierarchy`): an ``imagefolder:`` tree
    without a hierarchy file, or a synthetic set with as many superclasses as classes, makes every class its own
    superclass, so a claim about superclasses cannot apply to it.
    """
    infos = getattr(m, "runs", {}).get(run) or []
    config = getattr(infos[0], "config", None) if infos else None
    if config is None or config.has_hierarchy:
        return ""
    return (f"the data of run {run} ({config.dataset}) has no superclass level: every class is its own superclass "
            "(give a hierarchy file with --hierarchy)")


def last_layer(m: Any, run: str) -> int:
    """The deepest layer of ``run`` (its arch's depth; :meth:`sslre.measure.Measurements.last_layer`)."""
    try:
        return int(m.last_layer(run))
    except KeyError as exc:
        raise MissingSeries(f"run {run!r} is not in the table ({exc})") from None


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
def early_epoch(m: Any, run: str, epochs: Iterable[int], paper_epoch: int = 100) -> int:
    """The measured epoch of ``run`` that stands for the paper's ``paper_epoch`` of 1000: the same share of the
    learning-rate integral, never a warm-up epoch (:func:`sslre.schedule.paper_epoch_to_run`)."""
    from sslre.schedule import paper_epoch_to_run

    infos = getattr(m, "runs", {}).get(run) or []
    cfg = getattr(infos[0], "config", None) if infos else None
    measured = sorted(int(e) for e in epochs)
    if cfg is None:
        return nearest_epoch(measured, scaled_epoch(paper_epoch, max(measured)))
    return paper_epoch_to_run(paper_epoch, int(cfg.epochs), int(cfg.warmup_epochs), candidates=measured)


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


def paired(a: pd.Series, b: pd.Series) -> pd.Series:
    """seed -> a - b on the seeds both runs have (seed k of two runs shares data order and subset draw)."""
    common = sorted(set(a.dropna().index) & set(b.dropna().index))
    return pd.Series({s: float(a[s] - b[s]) for s in common}, dtype=float)


def decide_diff(a: pd.Series, b: pd.Series, threshold: float = 0.0, direction: str = ">", **kw: Any) -> Decision:
    """:func:`decide_seeds` on the per-seed differences ``a - b`` (paired by seed; >= 3 common seeds)."""
    return decide_series(paired(a, b), threshold, direction, **kw)


def decide_series(s: pd.Series, threshold: float = 0.0, direction: str = ">", **kw: Any) -> Decision:
    """:func:`decide_seeds` on a seed -> value series (keeps the seed labels)."""
    return decide_seeds({int(k): float(v) for k, v in s.items()}, threshold, direction, **kw)


def decide_all(cells: dict[Any, pd.Series], threshold: float = 0.0, direction: str = ">", *, name: str,
               source: str = "", runs: Sequence[str] = ()) -> Decision:
    """A "for every cell" statement (every layer, epoch, randomness level) as one family part
    (:func:`sslre.claims.verdict.decide_family`): each cell a t-test on its own per-seed values."""
    if not cells:
        raise MissingSeries(f"{name}: no cells to decide")
    return decide_family({k: {int(sd): float(v) for sd, v in s.items()} for k, s in cells.items()}, threshold,
                         direction, name=name, source=source, runs=runs)


def decide_equal(s: pd.Series, margin: float, center: float = 0.0, **kw: Any) -> Decision:
    """:func:`decide_equivalent` (TOST) on a seed -> value series."""
    return decide_equivalent({int(k): float(v) for k, v in s.items()}, margin, center, **kw)


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
    return Decision(name, float("nan"), float("nan"), threshold, op, Verdict.INCONCLUSIVE,
                    f"{name}: series absent at this profile ({exc})", source, [])


def guarded(name: str, fn, *, source: str = "", op: str = ">", threshold: float = 0.0) -> Decision:
    """``fn()`` (returning a Decision), or an inconclusive :func:`missing` part if a series is absent."""
    try:
        return fn()
    except (MissingSeries, KeyError) as exc:
        return missing(name, exc, source, op, threshold)


def fig_curves(frames: dict[str, pd.DataFrame]) -> list[dict]:
    """Figure series (mean +- seed std) from ``{label: index x seed frame}``."""
    return [errbar_series(w, label) for label, w in frames.items()]


def cells(df: pd.DataFrame, by: str | Sequence[str], value: str = "value") -> dict[Any, pd.Series]:
    """``{cell key: seed -> value}`` from a tidy frame with a ``seed`` column."""
    out = {}
    for key, g in df.groupby(by):
        out[key] = g.groupby("seed")[value].mean()
    return out


def note_excluded_targets(rec: Any, m: Any, families: Sequence[str]) -> None:
    """Count, in the claim's notes, the random-target levels of ``families`` that the fixed degeneracy rule of
    :mod:`sslre.targets` excluded before any claim read them (``Measurements.target_levels()``), with the reasons."""
    t = m.target_levels() if hasattr(m, "target_levels") else None
    if t is None or t.empty:
        rec.note(f"random-target levels ({', '.join(families)}): no generator diagnostics in this table")
        return
    t = t[t["family"].isin(list(families))]
    ex = t[t["excluded"].fillna(False).astype(bool)]
    why = "; ".join(f"{r.target} s{int(r.seed)}: {r.reason}" for r in ex.itertuples())
    rec.note(f"{len(ex)} of {len(t)} random-target levels ({', '.join(families)}; {t['seed'].nunique()} generator "
             f"seeds) excluded as degenerate by the fixed rule, before any claim read them" + (f" ({why})" if why else ""))
