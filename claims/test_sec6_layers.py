"""Section 6 claims: class hierarchies and intermediate layers (Fig. 2 right, Fig. 5).

Layers are the residual blocks 1..L (the paper's Fig. 5 x-axis); the stem is measured but not compared.
Below the full profile the tests check directions only.
"""
from __future__ import annotations

import pandas as pd
import pytest

from sslre.claims.statistics import (MissingSeries, by_layer, curve, decide_all, decide_series, fig_curves, layer_epoch,
                                     layer_slope, normalized, pick_run)
from sslre.claims.verdict import Verdict


def _norm_gain(w: pd.DataFrame) -> pd.Series:
    """seed -> (value at the last epoch / value at init) - 1."""
    n = normalized(w)
    return n.iloc[-1] - 1.0


@pytest.mark.claim(id="semantic-gains-not-sample", paper="Sec. 6, Fig. 2 right")
def test_semantic_gains_not_sample(measurements, claim_record):
    """Sec. 6, Fig. 2 (right): "We observed that, in contrast to the sample-level classes, the performance with
    respect to both the original classes and the superclasses significantly increased during training."

    Statistic: normalized linear test accuracy gain g = acc(last)/acc(init) - 1 per seed. Parts: g(class) > 0,
    g(superclass) > 0, g(class) - g(sample) > 0, g(superclass) - g(sample) > 0. Control: ``class-shuffled`` in
    place of class (its gain must not exceed the sample level's).
    """
    m, rec = measurements, claim_record
    run = "vicreg"
    rec.require(m, run)
    w = {lvl: curve(m, run, "linear_test_acc", lvl) for lvl in ("sample", "class", "superclass")}
    g = {lvl: _norm_gain(x) for lvl, x in w.items()}
    src_up = "Sec. 6: performance for classes and superclasses 'significantly increased during training'"
    src_vs = "Sec. 6: 'in contrast to the sample-level classes'"
    for lvl in ("class", "superclass"):
        rec.part(decide_series(g[lvl], 0.0, ">", name=f"normalized linear gain ({lvl})", source=src_up))
        rec.part(decide_series(g[lvl] - g["sample"], 0.0, ">", name=f"normalized gain ({lvl}) - (sample)",
                               source=src_vs))
    frames = {lvl: normalized(x) for lvl, x in w.items()}
    try:
        sh = curve(m, run, "linear_test_acc", "class-shuffled")
        gs = _norm_gain(sh)
        rec.control("class-shuffled labels in place of class", [
            decide_series(gs, 0.0, ">", name="normalized linear gain (class-shuffled)"),
            decide_series(gs - g["sample"], 0.0, ">", name="normalized gain (class-shuffled) - (sample)")])
        frames["class-shuffled (control)"] = normalized(sh)
    except MissingSeries as exc:
        rec.control("class-shuffled labels", verdict=Verdict.NOT_RUN, reason=str(exc))
    rec.figure("fig2-right", "Normalized linear test accuracy", fig_curves(frames), x_label="epoch",
               y_label="linear test acc / value at init")
    rec.figure("fig6-left", "Linear test accuracy (un-normalized, App. B Fig. 6)", fig_curves(w), x_label="epoch",
               y_label="linear test acc")
    rec.set(protocol="run vicreg; linear probe test accuracy on raw final-layer features at three levels "
                     "(sample-level set of Sec. 3, classes, superclasses), normalized by the epoch-0 value",
            paper_value="classes and superclasses rise substantially, sample level far less (RES-5-250)")
    rec.conclude()


@pytest.mark.claim(id="depth-ordering", paper="Sec. 6, Fig. 5")
def test_depth_ordering(measurements, claim_record):
    """Sec. 6, Fig. 5: "we observe a consistent improvement in clustering as we move from earlier to deeper
    layers, becoming more prominent during the course of training. Furthermore ... the linear accuracy of the
    network improves in each layer during SSL training. Of note, we find that for the original classes, the final
    layers are not the optimal ones ... the accuracy of the superclasses improves more than that of the original
    classes in the deeper layers of the network."

    Parts (class linear test accuracy per block, per seed): (a) slope over layers at the last epoch > 0;
    (b) that slope minus the slope at initialization > 0; (c) min over layers of the training gain > 0;
    (d) slope over layers of superclass/class accuracy ratio at the last epoch > 0. "The final layer is not
    necessarily the best" is a possibility, not a testable direction: the best layer is recorded as a note.
    Control: the ``class-shuffled`` / ``superclass-shuffled`` levels for (a) and (d).
    """
    m, rec = measurements, claim_record
    rec.use(m)                      # profile and dataset, even where the claim ends early
    run = pick_run(m, "vicreg-deep", "vicreg")
    if run is None:
        rec.inconclusive("neither vicreg-deep nor vicreg was measured at this profile")
    rec.use(m, run)
    cls_last = by_layer(m, run, "linear_test_acc", "class")
    cls_init = by_layer(m, run, "linear_test_acc", "class", epoch=0)
    sup_last = by_layer(m, run, "linear_test_acc", "superclass")
    src = "Sec. 6: 'a consistent improvement in clustering as we move from earlier to deeper layers'"
    rec.part(decide_series(layer_slope(cls_last), 0.0, ">", name="d(class linear acc)/d(layer), last epoch",
                           source=src))
    rec.part(decide_series(layer_slope(cls_last) - layer_slope(cls_init), 0.0, ">",
                           name="layer slope at the last epoch - at init",
                           source="Sec. 6: '... becoming more prominent during the course of training'"))
    le = layer_epoch(m, run, "linear_test_acc", "class")
    piv = le.pivot_table(index=["seed", "layer"], columns="epoch", values="value")
    layer_gain = (piv[piv.columns.max()] - piv[0]).unstack("layer")          # seed x layer
    rec.part(decide_all({l: layer_gain[l] for l in layer_gain.columns}, 0.0, ">",
                        name="class linear-acc training gain at every layer",
                           source="Sec. 6: 'the linear accuracy of the network improves in each layer'"))
    rec.part(decide_series(layer_slope(sup_last / cls_last), 0.0, ">",
                           name="d(superclass/class accuracy ratio)/d(layer), last epoch",
                           source="Sec. 6: 'the accuracy of the superclasses improves more than that of the "
                                  "original classes in the deeper layers'"))
    best = cls_last.mean(axis=1)
    rec.note(f"best layer for classes at the last epoch: {int(best.idxmax())} of {int(best.index.max())} "
             f"(final-layer gap to best: {float(best.iloc[-1] - best.max()):.4f}); the paper reports the final "
             "layer is not necessarily the best -- recorded, not tested")
    try:
        cs = by_layer(m, run, "linear_test_acc", "class-shuffled")
        ss = by_layer(m, run, "linear_test_acc", "superclass-shuffled")
        rec.control("class/superclass labels permuted across images (class-shuffled, superclass-shuffled)", [
            decide_series(layer_slope(cs), 0.0, ">", name="d(class-shuffled acc)/d(layer), last epoch"),
            decide_series(layer_slope(ss / cs), 0.0, ">", name="d(shuffled superclass/class ratio)/d(layer)")])
    except MissingSeries as exc:
        rec.control("shuffled labels", verdict=Verdict.NOT_RUN, reason=str(exc))
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
                     "1..L), every checkpoint epoch",
            paper_value="deeper is better, more so later; every layer improves (RES-10-250, CIFAR-100)")
    rec.conclude()
