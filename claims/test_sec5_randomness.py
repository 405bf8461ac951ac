"""Section 5 claims: semantic targets are learned over random ones (Fig. 4).

Random targets: the predictions of a supervised ResNet-18 at successive epochs of its own training
(``level="random"``, ``target="resnet18@k"``, ``randomness`` = 1 - k/K: 1 = its initialization, 0 = its end).
Every part is decided per training seed (Student t, >= 3 seeds; claims/PROTOCOL.md) with its own control: the
``random-shuffled`` level (those labels permuted across images) or ``class-shuffled``, through the same test.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sslre.claims.statistics import (KAPPA_LABEL, KAPPA_PROTOCOL, MissingSeries, cells, curve, decide_all,
                                     decide_equal, decide_series, fig_curves, guarded, missing, random_grid, slope,
                                     note_excluded_targets, wide)

FAMILY = "resnet18"


def _slopes_over_randomness(df: pd.DataFrame, by: str) -> pd.DataFrame:
    """(seed, by) -> slope of accuracy over randomness level."""
    return (df.groupby(["seed", by])[["randomness", "value"]]
              .apply(lambda g: slope(g["randomness"], g["value"])).rename("slope").reset_index())


#: part ids of ``randomness-ordering`` in the order :func:`randomness_parts` returns them
RANDOMNESS_PART_IDS = ("every-epoch", "every-layer", "training-gain", "depth", "depth-gap")


def randomness_parts(m, run: str, level: str = "random", tag: str = "") -> list:
    """The parts of ``randomness-ordering`` for one run, in the order of :data:`RANDOMNESS_PART_IDS` (also used by
    ``simclr-like-vicreg``). ``level="random-shuffled"`` gives each part's control (same cells, same test).
    Every decision is per training seed (Student t, >= 3 seeds of ``run``); families are one part each."""
    g = random_grid(m, run, FAMILY, level=level)
    L, last = int(g["layer"].max()), int(g["epoch"].max())
    blocks = g[(g["epoch"] == last) & (g["layer"] >= 1)]
    rmin, rmax = g["randomness"].min(), g["randomness"].max()
    runs = [run]

    def a():
        ep = g[(g["layer"] == L) & (g["epoch"] > 0)]
        return decide_all(cells(_slopes_over_randomness(ep, "epoch"), "epoch", "slope"), 0.0, "<", runs=runs,
                          name=f"{tag}d(κ)/d(randomness) at every epoch > 0, last layer",
                          source="Sec. 5: the model captures less random classes better 'throughout training'")

    def b():
        return decide_all(cells(_slopes_over_randomness(blocks, "layer"), "layer", "slope"), 0.0, "<", runs=runs,
                          name=f"{tag}d(κ)/d(randomness) at every layer, last epoch",
                          source="Sec. 5: 'accuracy consistently improves at all layers as randomness decreases'")

    def c():
        ll = g[g["layer"] == L]
        piv = ll.pivot_table(index=["seed", "randomness"], columns="epoch", values="value")
        gain = (piv[last] - piv[0]).unstack("randomness")              # seed x randomness
        return decide_series(gain[rmin] - gain[rmax], 0.0, ">", runs=runs,
                             name=f"{tag}training gain at randomness {rmin:g} - gain at randomness {rmax:g}",
                             source="Sec. 5: 'captures classes closer to semantic ones more effectively ... while "
                                    "not showing significant performance improvement on highly random targets'")

    def d():
        piv = blocks.pivot_table(index=["seed", "randomness"], columns="layer", values="value")
        gap = (piv[L] - piv[1]).unstack("randomness")                   # seed x randomness
        return decide_all({r: gap[r] for r in gap.columns}, 0.0, ">", runs=runs,
                          name=f"{tag}κ(layer {L}) - κ(layer 1) at every randomness, last epoch",
                          source="Sec. 5: 'deeper layers outperforming across all class types'")

    def e():
        piv = blocks.pivot_table(index=["seed", "randomness"], columns="layer", values="value")
        gap = (piv[L] - piv[1]).unstack("randomness")
        return decide_series(gap[rmin] - gap[rmax], 0.0, ">", runs=runs,
                             name=f"{tag}depth gap at randomness {rmin:g} - at {rmax:g}",
                             source="Sec. 5: 'the performance gap broadening for classes closer to semantic ones'")

    return [guarded(tag + pid, fn, op=op) for pid, fn, op in zip(RANDOMNESS_PART_IDS, (a, b, c, d, e),
                                                                 ("<", "<", ">", ">", ">"))]


def randomness_figures(rec, m, run: str, suffix: str = "") -> None:
    g = random_grid(m, run, FAMILY)
    L, last = int(g["layer"].max()), int(g["epoch"].max())
    by_epoch = {f"epoch {e}": wide(g[(g["layer"] == L) & (g["epoch"] == e)], "randomness")
                for e in sorted(g["epoch"].unique())}
    by_layer = {f"layer {l}": wide(g[(g["epoch"] == last) & (g["layer"] == l)], "randomness")
                for l in sorted(g["layer"].unique()) if l >= 1}
    rec.figure(f"fig4-left{suffix}", f"{run}: chance-corrected linear test accuracy vs target randomness, by epoch "
               "(last layer)", fig_curves(by_epoch), x_label="randomness (1 = generator at init)", y_label=KAPPA_LABEL)
    rec.figure(f"fig4-middle{suffix}", f"{run}: chance-corrected linear test accuracy vs target randomness, by layer "
               "(last epoch)", fig_curves(by_layer), x_label="randomness", y_label=KAPPA_LABEL)


@pytest.mark.claim(id="randomness-ordering", paper="Sec. 5, Fig. 4 left and middle")
def test_randomness_ordering(measurements, claim_record):
    """Sec. 5, Fig. 4 (left, middle): "the model captures classes closer to 'semantic' ones (lower degrees of
    randomness) more effectively throughout training while not showing significant performance improvement on
    highly random targets" and "the linear test accuracy consistently improves at all layers as randomness
    decreases, with deeper layers outperforming across all class types and the performance gap broadening for
    classes closer to semantic ones."

    Parts (claims/PROTOCOL.md; run vicreg, ResNet-18 targets, chance-corrected accuracy κ, per seed):
    (every-epoch) the slope of κ over randomness is < 0 at every epoch > 0, last layer (one family);
    (every-layer) the same at every block, last epoch (one family); (training-gain) the training gain of κ at the
    least random level minus at the most random > 0; (depth) κ(last block) - κ(block 1) > 0 at every randomness
    level (one family); (depth-gap) that gap at the least random level minus at the most random > 0.
    Each part's control: the ``random-shuffled`` level (the same targets permuted across images), same test.
    """
    m, rec = measurements, claim_record
    run = "vicreg"
    rec.require(m, run)
    try:
        parts = randomness_parts(m, run)
    except MissingSeries as exc:
        rec.inconclusive(f"random targets absent at this profile: {exc}")
    try:
        ctrls = randomness_parts(m, run, level="random-shuffled", tag="random-shuffled: ")
    except MissingSeries:
        ctrls = [None] * len(parts)
    for pid, d, c in zip(RANDOMNESS_PART_IDS, parts, ctrls):
        rec.part(pid, d, control=c if c is not None and c.n else None)
    note_excluded_targets(rec, m, (FAMILY,))
    randomness_figures(rec, m, run)
    rec.set(protocol="linear probe test accuracy on raw features, " + KAPPA_PROTOCOL + "; targets = ResNet-18 "
                     "predictions at successive epochs of its own training on the SSL train set (randomness 1 = init, "
                     "0 = end); slopes by least squares over randomness levels; layers = residual blocks; per "
                     "training seed, Student t (claims/PROTOCOL.md)",
            paper_value="accuracy falls with randomness at every epoch and layer (RES-5-250, CIFAR-100)")
    rec.conclude()


def _ratio(m, run: str, metric: str, num_level: str, target: str | None) -> pd.DataFrame:
    """metric(num_level) / metric(random target), epoch x seed, last layer."""
    num = curve(m, run, metric, num_level)
    den = curve(m, run, metric, "random", target=target)
    return num / den.where(den.abs() > 0)


def _most_random_target(m, run: str) -> str:
    """The most random target level that every seed kept (else the one most seeds kept): the degeneracy rule may
    exclude a level for some generator seeds only, and the part is decided per seed."""
    g = random_grid(m, run, FAMILY, metric="ncc_train_acc")
    seeds = g.groupby(["target", "randomness"])["seed"].nunique().reset_index()
    best = seeds.sort_values(["seed", "randomness"], ascending=False).iloc[0]
    return str(best["target"])


def _dlog(w: pd.DataFrame) -> pd.Series:
    """seed -> log(value at the last epoch) - log(value at init) (NaN where a value is not positive)."""
    w = w.where(w > 0)
    return np.log(w.loc[w.index.max()]) - np.log(w.loc[0])


@pytest.mark.claim(id="semantic-vs-random-ratios", paper="Sec. 5, Fig. 4 right")
def test_semantic_vs_random_ratios(measurements, claim_record):
    """Sec. 5, Fig. 4 (right): "the representation increasingly clusters the data with respect to semantic targets
    compared to random ones, as the ratio of the NCC, CDNV, increases during training. Interestingly, we see that
    the decrease in the CDNV ... is caused solely by the increase in squared distance. The variance ratio stays
    fairly constant during training."

    Ratios semantic (class level) / random (the most random ResNet-18 target), last layer, per seed, init vs end:
    (ncc-ratio) the NCC train ratio rises; (cdnv-ratio) the CDNV ratio falls; (distance-ratio) the log
    squared-distance ratio rises; (variance-constant) the log within-class variance ratio changes by less than
    ln 1.25 either way (TOST). Controls: ``class-shuffled`` in place of class for the first three (same test);
    for the equivalence, a sensitivity null that must not come out constant: the class within-class variance
    alone (not divided by the random target's), log end - log init, by the same TOST.
    """
    from sslre.claims.protocol.sec5 import VAR_MARGIN

    m, rec = measurements, claim_record
    run = "vicreg"
    rec.require(m, run)
    try:
        tgt = _most_random_target(m, run)
    except MissingSeries as exc:
        rec.inconclusive(f"random targets absent at this profile: {exc}")
    runs = [run]

    def ncc(level: str, tag: str = ""):
        w = _ratio(m, run, "ncc_train_acc", level, tgt)
        return decide_series(w.loc[w.index.max()] - w.loc[0], 0.0, ">", runs=runs,
                             name=f"{tag}NCC train ratio change (init -> end)",
                             source="Sec. 5: 'the ratio of the NCC ... increases during training'"), w

    def cdnv(level: str, tag: str = ""):
        w = _ratio(m, run, "cdnv", level, tgt)
        return decide_series(w.loc[0] - w.loc[w.index.max()], 0.0, ">", runs=runs,
                             name=f"{tag}CDNV ratio decrease (init -> end)",
                             source="Sec. 5: 'the decrease in the CDNV' of semantic relative to random targets"), w

    def dist(level: str, tag: str = ""):
        w = _ratio(m, run, "mean_dist2", level, tgt)
        return decide_series(_dlog(w), 0.0, ">", runs=runs, name=f"{tag}Δ log squared-distance ratio (init -> end)",
                             source="Sec. 5: 'caused solely by the increase in squared distance'"), w

    def shuffled(fn):
        try:
            return fn("class-shuffled", tag="class-shuffled: ")[0]
        except (MissingSeries, KeyError):
            return None

    frames = {}
    for pid, fn, label, op in (("ncc-ratio", ncc, "NCC", ">"), ("cdnv-ratio", cdnv, "CDNV", ">"),
                               ("distance-ratio", dist, "squared distance between means", ">")):
        try:
            d, w = fn("class")
            frames[label] = w
        except (MissingSeries, KeyError) as exc:
            d = missing(pid, exc, op=op)
        rec.part(pid, d, control=shuffled(fn))
    try:
        var = _ratio(m, run, "within_var", "class", tgt)
        frames["within-class variance"] = var
        eq = decide_equal(_dlog(var), VAR_MARGIN, 0.0, runs=runs,
                          name="Δ log within-class variance ratio (init -> end)",
                          source="Sec. 5: 'The variance ratio stays fairly constant during training'")
    except (MissingSeries, KeyError) as exc:
        eq = missing("variance-constant", exc, op="~")
    try:
        wv = curve(m, run, "within_var", "class")
        sens = decide_equal(_dlog(wv), VAR_MARGIN, 0.0, runs=runs,
                            name="sensitivity null: Δ log class within-class variance alone (init -> end)")
    except (MissingSeries, KeyError):
        sens = None
    rec.part("variance-constant", eq, control=sens)
    note_excluded_targets(rec, m, (FAMILY,))
    if frames:
        rec.figure("fig4-right", "Semantic / random ratios of clustering metrics", fig_curves(frames),
                   x_label="epoch", y_label="class / random target")
    rec.set(protocol=f"last layer, raw features; ratio = metric(class) / metric({tgt}, the most random ResNet-18 "
                     "target); NCC train accuracy, CDNV, mean within-class variance, mean squared distance between "
                     "class means (train split); per training seed, Student t; 'fairly constant' = TOST with margin "
                     f"ln 1.25 = {VAR_MARGIN:.3f} on the change of the log variance ratio",
            paper_value="NCC and CDNV ratios move toward semantic clustering; variance ratio ≈ constant")
    rec.conclude()
