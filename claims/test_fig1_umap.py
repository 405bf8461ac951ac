"""Fig. 1 / Sec. 4: UMAP of the embedding before and after training, at three levels of the hierarchy."""
from __future__ import annotations

import numpy as np
import pytest

from sslre.claims.statistics import MissingSeries, rows
from sslre.claims.verdict import Verdict, combine, decide, subsample_noise

LEVELS = ("sample", "class", "superclass")
MAX_POINTS = 600     # points per panel kept in the JSON figure (the report draws them; the statistic uses all)


def _silhouette(xy: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import silhouette_score
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(silhouette_score(xy, labels))


def _noise(xy: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette spread over random half-subsamples of the points (one seed: the documented fallback)."""
    return subsample_noise(lambda idx: _silhouette(xy[idx], labels[idx]), len(labels), repeats=10)


@pytest.mark.claim(id="umap-hierarchy", paper="Sec. 4, Fig. 1")
def test_umap_hierarchy(measurements, claim_record):
    """Sec. 4, Fig. 1: "the training process successfully clusters together samples at the per-sample level ...
    the training process also clusters the original 'semantic classes' ... the high-level hierarchy (the
    superclasses) is also effectively clustered."

    Statistic per level: silhouette of the 2-D UMAP embedding (from the table, ``umap_silhouette``) after
    training minus before (> 0 at all three levels). vicreg seed 0 only, so the noise is the silhouette's spread
    over random half-subsamples of the stored UMAP points (``umap.npz``), before and after combined.
    Control: the same points with labels permuted (fixed seed) must not show a gain.
    """
    m, rec = measurements, claim_record
    run = "vicreg"
    rec.require(m, run)
    try:
        sil = rows(m, run, "umap_silhouette", None, features=None)
        pts = m.umap(run)
    except (MissingSeries, KeyError) as exc:
        rec.inconclusive(f"UMAP was not measured at this profile: {exc}")
    seed0 = int(sil["seed"].min())
    sil = sil[sil["seed"] == seed0]
    first, last = int(sil["epoch"].min()), int(sil["epoch"].max())
    rng = np.random.default_rng(0)
    controls, series = [], []
    for level in LEVELS:
        s = sil[sil["level"] == level].groupby("epoch")["value"].mean()
        if (("before", level) not in pts or ("after", level) not in pts or first not in s.index
                or last not in s.index or first == last):
            rec.part(decide(float("nan"), float("nan"), name=f"silhouette gain ({level})"))
            continue
        (xb, lb), (xa, la) = pts[("before", level)], pts[("after", level)]
        noise = float(np.hypot(_noise(xb, lb), _noise(xa, la)))
        rec.part(decide(float(s.loc[last] - s.loc[first]), noise, 0.0, ">",
                        name=f"UMAP silhouette after - before ({level})",
                        source="Sec. 4 / Fig. 1: not clustered before training, clustered after, at every level"))
        pb, pa = rng.permutation(lb), rng.permutation(la)
        controls.append(decide(_silhouette(xa, pa) - _silhouette(xb, pb),
                               float(np.hypot(_noise(xb, pb), _noise(xa, pa))), 0.0, ">",
                               name=f"permuted labels: silhouette after - before ({level})"))
        for phase, xy, lab in (("before", xb, lb), ("after", xa, la)):
            keep = np.sort(rng.choice(len(lab), size=min(MAX_POINTS, len(lab)), replace=False))
            series.append({"label": level, "panel": phase, "x": xy[keep, 0], "y": xy[keep, 1], "c": lab[keep]})
    if controls:
        rec.control("labels permuted across the same UMAP points", controls)
    else:
        rec.control("permuted labels", verdict=Verdict.NOT_RUN, reason="no UMAP points")
    rec.figure("fig1", "UMAP of the embedding before and after training", series, kind="scatter",
               x_label="UMAP 1", y_label="UMAP 2")
    rec.figure("fig1-silhouette", "Silhouette of the UMAP embedding", [
        {"label": phase, "x": list(LEVELS),
         "y": [float(sil[(sil["level"] == lv) & (sil["epoch"] == e)]["value"].mean()) for lv in LEVELS]}
        for phase, e in (("before", first), ("after", last))], kind="bar", x_label="level", y_label="silhouette")
    rec.set(protocol=f"run vicreg seed {seed0}; 2-D UMAP of raw final-layer train embeddings at epoch {first} and "
                     f"{last}; silhouette (Euclidean) in the UMAP plane; noise from 10 random half-subsamples",
            paper_value="visual: unclustered before, clustered at sample/class/superclass level after (Fig. 1)")
    rec.conclude()
