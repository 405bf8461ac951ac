"""Section 6 claims: class hierarchies and intermediate layers (Fig. 2 right, Fig. 5).

Layers are the residual blocks 1..L (the paper's Fig. 5 x-axis); the stem is measured but not compared.
Every part is decided per training seed (Student t, >= 3 seeds; claims/PROTOCOL.md) with its own control (the
``*-shuffled`` levels: labels permuted across images) through the same test.
"""
from __future__ import annotations

import pandas as pd
import pytest

from sslre.claims.statistics import (MissingSeries, absent_hierarchy, by_layer, curve, decide_all, decide_series,
                                     fig_curves, guarded, layer_epoch, layer_slope, normalized, pick_run)


def _norm_gain(w: pd.DataFrame) -> pd.Series:
    """seed -> (value at the last epoch / value at init) - 1."""
    n = normalized(w)
    return n.loc[n.index.max()] - 1.0


def _opt(fn):
    """``fn()``, or None where a series is absent (a control that was not measured is recorded as 'not run')."""
    try:
        return fn()
    except (MissingSeries, KeyError):
        return None


@pytest.mark.claim(id="semantic-gains-not-sample", paper="Sec. 6, Fig. 2 right")
def test_semantic_gains_not_sample(measurements, claim_record):
    """Sec. 6, Fig. 2 (right): "We observed that, in contrast to the sample-level classes, the performance with
    respect to both the original classes and the superclasses significantly increased during training."

    Statistic: normalized linear test accuracy gain g = acc(last)/acc(init) - 1 per seed (last layer, run vicreg).
    Parts: (class-gain) g(class) > 0; (superclass-gain) g(superclass) > 0; (class-vs-sample) g(class) - g(sample)
    > 0; (superclass-vs-sample) g(superclass) - g(sample) > 0. Controls (same test): ``class-shuffled`` /
    ``superclass-shuffled`` in place of class / superclass for the gains; for the differences, the shuffled levels
    on both sides (g(class-shuffled) - g(sample-shuffled), g(superclass-shuffled) - g(sample-shuffled)).
    """
    m, rec = measurements, claim_record
    run = "vicreg"
    rec.require(m, run)
    runs = [run]
    no_hierarchy = absent_hierarchy(m, run)
    if no_hierarchy:                # a user's data without a hierarchy file: no superclass to test
        rec.not_applicable(no_hierarchy)
    w = {lvl: curve(m, run, "linear_test_acc", lvl) for lvl in ("sample", "class", "superclass")}
    g = {lvl: _norm_gain(x) for lvl, x in w.items()}
    src_up = "Sec. 6: performance for classes and superclasses 'significantly increased during training'"
    src_vs = "Sec. 6: 'in contrast to the sample-level classes'"
    frames = {lvl: normalized(x) for lvl, x in w.items()}
    g_sample_sh = _opt(lambda: _norm_gain(curve(m, run, "linear_test_acc", "sample-shuffled")))
    for lvl in ("class", "superclass"):
        sh_level = f"{lvl}-shuffled"
        sh = _opt(lambda: curve(m, run, "linear_test_acc", sh_level))
        gs = _norm_gain(sh) if sh is not None else None
        if sh is not None:
            frames[f"{sh_level} (control)"] = normalized(sh)

        def up(x, name):
            return decide_series(x, 0.0, ">", runs=runs, name=f"normalized linear gain ({name})", source=src_up)

        def vs(x, base, name, base_name):
            return decide_series(x - base, 0.0, ">", runs=runs, name=f"normalized gain ({name}) - ({base_name})",
                                 source=src_vs)

        rec.part(f"{lvl}-gain", up(g[lvl], lvl), control=up(gs, sh_level) if gs is not None else None)
        rec.part(f"{lvl}-vs-sample", vs(g[lvl], g["sample"], lvl, "sample"),
                 control=(vs(gs, g_sample_sh, sh_level, "sample-shuffled")
                          if gs is not None and g_sample_sh is not None else None))
    rec.figure("fig2-right", "Normalized linear test accuracy", fig_curves(frames), x_label="epoch",
               y_label="linear test acc / value at init")
    rec.figure("fig6-left", "Linear test accuracy (un-normalized, App. B Fig. 6)", fig_curves(w), x_label="epoch",
               y_label="linear test acc")
    rec.set(protocol="run vicreg; linear probe test accuracy on raw final-layer features at three levels "
                     "(sample-level set of Sec. 3, classes, superclasses), normalized by the epoch-0 value; per "
                     "training seed, Student t",
            paper_value="classes and superclasses rise substantially, sample level far less (RES-5-250)")
    rec.conclude()


@pytest.mark.claim(id="depth-ordering", paper="Sec. 6, Fig. 5")
def test_depth_ordering(measurements, claim_record):
    """Sec. 6, Fig. 5: "we observe a consistent improvement in clustering as we move from earlier to deeper
    layers, becoming more prominent during the course of training. Furthermore ... the linear accuracy of the
    network improves in each layer during SSL training. Of note, we find that for the original classes, the final
    layers are not the optimal ones ... the accuracy of the superclasses improves more than that of the original
    classes in the deeper layers of the network."

    Parts (class linear test accuracy per block, per seed; run vicreg-deep, else vicreg): (layer-slope) slope over
    layers at the last epoch > 0; (slope-grows) that slope minus the slope at initialization > 0;
    (every-layer-improves) the training gain > 0 at every block (one family); (superclass-ratio-slope) slope over
    layers of the superclass/class accuracy ratio at the last epoch > 0. "The final layer is not necessarily the
    best" is a possibility, not a testable direction: the best layer is recorded as a note. Controls: the
    ``class-shuffled`` (and ``superclass-shuffled``) levels in place of class (and superclass), same test; the
    controls of slope-grows and every-layer-improves need the shuffled levels at every block at init ('not run'
    where they are measured at every block only at the last epoch).
    """
    m, rec = measurements, claim_record
    rec.use(m)                      # profile and dataset, even where the claim ends early
    run = pick_run(m, "vicreg-deep", "vicreg")
    if run is None:
        rec.inconclusive("neither vicreg-deep nor vicreg was measured at this profile")
    rec.use(m, run)
    runs = [run]
    no_hierarchy = absent_hierarchy(m, run)
    if no_hierarchy:                # a user's data without a hierarchy file: no superclass/class ratio to test
        rec.not_applicable(no_hierarchy)

    def blocks(level, epoch="last"):
        w = by_layer(m, run, "linear_test_acc", level, epoch=epoch)
        if w.shape[0] < 2:
            raise MissingSeries(f"{level}: fewer than two blocks measured at epoch {epoch}")
        return w

    def slope_last(level, tag=""):
        return decide_series(layer_slope(blocks(level)), 0.0, ">", runs=runs,
                             name=f"{tag}d({level} linear acc)/d(layer), last epoch",
                             source="Sec. 6: 'a consistent improvement in clustering as we move from earlier to "
                                    "deeper layers'")

    def slope_grows(level, tag=""):
        last = layer_slope(blocks(level))
        init = layer_slope(blocks(level, epoch=0))
        return decide_series(last - init, 0.0, ">", runs=runs, name=f"{tag}{level} layer slope, last epoch - init",
                             source="Sec. 6: '... becoming more prominent during the course of training'")

    def every_layer(level, tag=""):
        le = layer_epoch(m, run, "linear_test_acc", level)
        piv = le.pivot_table(index=["seed", "layer"], columns="epoch", values="value")
        if 0 not in piv.columns:
            raise MissingSeries(f"{level}: no epoch-0 rows")
        gain = (piv[piv.columns.max()] - piv[0]).unstack("layer")          # seed x layer
        gain = gain.dropna(axis=1, how="all")
        if gain.shape[1] < blocks(level).shape[0]:
            raise MissingSeries(f"{level}: not every block has both init and last-epoch rows")
        return decide_all({int(l): gain[l] for l in gain.columns}, 0.0, ">", runs=runs,
                          name=f"{tag}{level} linear-acc training gain at every layer",
                          source="Sec. 6: 'the linear accuracy of the network improves in each layer'")

    def ratio_slope(sup, cls, tag=""):
        r = blocks(sup) / blocks(cls)
        return decide_series(layer_slope(r), 0.0, ">", runs=runs,
                             name=f"{tag}d({sup}/{cls} accuracy ratio)/d(layer), last epoch",
                             source="Sec. 6: 'the accuracy of the superclasses improves more than that of the "
                                    "original classes in the deeper layers'")

    sh = "control: "
    rec.part("layer-slope", guarded("layer-slope", lambda: slope_last("class")),
             control=_opt(lambda: slope_last("class-shuffled", sh)))
    rec.part("slope-grows", guarded("slope-grows", lambda: slope_grows("class")),
             control=_opt(lambda: slope_grows("class-shuffled", sh)))
    rec.part("every-layer-improves", guarded("every-layer-improves", lambda: every_layer("class")),
             control=_opt(lambda: every_layer("class-shuffled", sh)))
    rec.part("superclass-ratio-slope", guarded("superclass-ratio-slope", lambda: ratio_slope("superclass", "class")),
             control=_opt(lambda: ratio_slope("superclass-shuffled", "class-shuffled", sh)))
    cls_last = by_layer(m, run, "linear_test_acc", "class")
    sup_last = by_layer(m, run, "linear_test_acc", "superclass")
    best = cls_last.mean(axis=1)
    rec.note(f"best layer for classes at the last epoch: {int(best.idxmax())} of {int(best.index.max())} "
             f"(final-layer gap to best: {float(best.iloc[-1] - best.max()):.4f}); the paper reports the final "
             "layer is not necessarily the best -- recorded, not tested")
    le = layer_epoch(m, run, "linear_test_acc", "class")
    epochs = sorted(le["epoch"].unique())
    for lvl, fid in (("class", "fig5-left"), ("superclass", "fig5-middle")):
        t = layer_epoch(m, run, "linear_test_acc", lvl)
        frames = {f"epoch {e}": t[t["epoch"] == e].pivot_table(index="layer", columns="seed", values="value")
                  for e in epochs}
        rec.figure(fid, f"{run}: {lvl} linear test accuracy per layer", fig_curves(frames), x_label="layer",
                   y_label="linear test acc")
    rec.figure("fig5-right", f"{run}: superclass / class linear accuracy per layer (last epoch)",
               fig_curves({"last epoch": sup_last / cls_last}), x_label="layer", y_label="superclass / class")
    rec.set(protocol=f"run {run}; linear probe test accuracy on raw, globally pooled block outputs (layers "
                     "1..L), every checkpoint epoch; per training seed, Student t",
            paper_value="deeper is better, more so later; every layer improves (RES-10-250, CIFAR-100)")
    rec.conclude()
