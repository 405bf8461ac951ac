"""Fig. 1 / Sec. 4: UMAP of the embedding before and after training, at three levels of the hierarchy."""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from sslre.claims.statistics import MissingSeries, absent_hierarchy, decide_all, rows

LEVELS = ("sample", "class", "superclass")
MAX_POINTS = 600     # points per panel kept in the JSON figure (the report draws them; the statistic uses all)


def _silhouette(xy: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import silhouette_score
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(silhouette_score(xy, labels))


def _points(m, run: str, seed: int, lowest: int) -> dict | None:
    """The UMAP points of training seed ``seed`` (None where that seed has none). An accessor without a ``seed``
    argument serves the lowest seed's points only."""
    try:
        if "seed" in inspect.signature(m.umap).parameters:
            return m.umap(run, seed=seed)
        return m.umap(run) if seed == lowest else None
    except KeyError:
        return None


@pytest.mark.claim(id="umap-hierarchy", paper="Sec. 4, Fig. 1")
def test_umap_hierarchy(measurements, claim_record):
    """Sec. 4, Fig. 1: "the training process successfully clusters together samples at the per-sample level ...
    the training process also clusters the original 'semantic classes' ... the high-level hierarchy (the
    superclasses) is also effectively clustered."

    Part (silhouette-gain, one family over the three levels): per training seed, the silhouette of the 2-D UMAP
    embedding (table rows ``umap_silhouette``) after training minus before, > 0 at every level (Student t over
    seeds; >= 3 seeds with a UMAP, else inconclusive). Control: the same points of each seed with the labels
    permuted (a permutation seeded by the training seed), silhouette after - before, the same family test.
    """
    m, rec = measurements, claim_record
    run = "vicreg"
    rec.require(m, run)
    no_hierarchy = absent_hierarchy(m, run)
    if no_hierarchy:                # a user's data without a hierarchy file: no superclass to test
        rec.not_applicable(no_hierarchy)
    try:
        sil = rows(m, run, "umap_silhouette", None, features=None)
    except MissingSeries as exc:
        rec.inconclusive(f"UMAP was not measured at this profile: {exc}")
    seeds = sorted(int(s) for s in sil["seed"].unique())
    gain: dict[str, dict[int, float]] = {lv: {} for lv in LEVELS}
    phases: dict[int, tuple[int, int]] = {}
    for sd in seeds:
        ss = sil[sil["seed"] == sd]
        first, last = int(ss["epoch"].min()), int(ss["epoch"].max())
        if first == last:
            continue
        phases[sd] = (first, last)
        for lv in LEVELS:
            v = ss[ss["level"] == lv].groupby("epoch")["value"].mean()
            if first in v.index and last in v.index:
                gain[lv][sd] = float(v.loc[last] - v.loc[first])
    cells = {lv: pd.Series(g, dtype=float) for lv, g in gain.items()}
    src = "Sec. 4 / Fig. 1: not clustered before training, clustered after, at every level"
    part = decide_all(cells, 0.0, ">", name="UMAP silhouette after - before", source=src, runs=[run])

    ctrl_cells: dict[str, dict[int, float]] = {lv: {} for lv in LEVELS}
    series, shown = [], None
    for sd in seeds:
        pts = _points(m, run, sd, seeds[0])
        if not pts:
            continue
        rng = np.random.default_rng(sd)                 # the permutation is re-drawn with the training seed
        for lv in LEVELS:
            if ("before", lv) not in pts or ("after", lv) not in pts:
                continue
            (xb, lb), (xa, la) = pts[("before", lv)], pts[("after", lv)]
            ctrl_cells[lv][sd] = _silhouette(xa, rng.permutation(la)) - _silhouette(xb, rng.permutation(lb))
            if shown in (None, sd):
                shown = sd
                for phase, xy, lab in (("before", xb, lb), ("after", xa, la)):
                    keep = np.sort(rng.choice(len(lab), size=min(MAX_POINTS, len(lab)), replace=False))
                    series.append({"label": lv, "panel": phase, "x": xy[keep, 0], "y": xy[keep, 1],
                                   "c": lab[keep]})
    control = None
    if any(ctrl_cells.values()):
        control = decide_all({lv: pd.Series(c, dtype=float) for lv, c in ctrl_cells.items()}, 0.0, ">",
                             name="permuted labels: UMAP silhouette after - before", runs=[run])
    rec.part("silhouette-gain", part, control=control)
    n_umap = len({sd for c in ctrl_cells.values() for sd in c})
    rec.note(f"UMAP silhouette rows for {len(phases)} training seed(s) {sorted(phases)}; UMAP points for "
             f"{n_umap} seed(s)")
    if series:
        rec.figure("fig1", f"UMAP of the embedding before and after training (seed {shown})", series, kind="scatter",
                   x_label="UMAP 1", y_label="UMAP 2")

    def _mean_sd(lv: str, which: int) -> tuple[float, float]:
        v = [float(sil[(sil["seed"] == sd) & (sil["level"] == lv) & (sil["epoch"] == ph[which])]["value"].mean())
             for sd, ph in phases.items()]
        v = [x for x in v if np.isfinite(x)]
        return (float(np.mean(v)) if v else float("nan"),
                float(np.std(v, ddof=1)) if len(v) > 1 else 0.0)

    rec.figure("fig1-silhouette", "Silhouette of the UMAP embedding (mean ± seed sd)", [
        {"label": phase, "x": list(LEVELS), "y": [_mean_sd(lv, k)[0] for lv in LEVELS],
         "yerr": [_mean_sd(lv, k)[1] for lv in LEVELS]}
        for k, phase in ((0, "before"), (1, "after"))], kind="bar", x_label="level", y_label="silhouette")
    rec.set(protocol="run vicreg; per training seed, 2-D UMAP of raw final-layer train embeddings at the first and "
                     "last checkpoint; silhouette (Euclidean) in the UMAP plane w.r.t. each level's labels; Student t "
                     "over seeds (>= 3 seeds with a UMAP); control: labels permuted with a permutation seeded by the "
                     "training seed",
            paper_value="visual: unclustered before, clustered at sample/class/superclass level after (Fig. 1)")
    rec.conclude()
