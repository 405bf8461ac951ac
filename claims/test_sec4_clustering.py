"""Section 4 claims: the clustering process, compression, the role of regularization, SSL vs supervised.

Every test reads its series from the measurements table (``measurements`` fixture, ``claims/conftest.py``),
reduces them per seed (:mod:`sslre.claims.statistics`), decides against a threshold taken from the paper's
words (written next to it), runs its negative control, and records the evidence on ``claim_record``.
Below the full profile the tests check the *direction* of each effect, never the paper's absolute numbers.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sslre.claims.statistics import (MissingSeries, curve, decide_diff_aux, decide_series, early_share, fig_curves,
                                     gain, guarded, main_noise, nearest_epoch, normalized, per_seed, pick_run,
                                     rows, scaled_epoch, wide)
from sslre.claims.verdict import Verdict, decide_seeds, seed_noise

PROTOCOL_NCC = ("NCC accuracy (Sec. 2.2): class means from the train split, raw final-layer features (globally "
                "average-pooled), eval mode; per seed, then mean and seed std over seeds")


def _early(w: pd.DataFrame) -> int:
    """The checkpoint nearest to the paper's epoch 100 of 1000 (Sec. 4: '>= 0.9 at epoch 100')."""
    return nearest_epoch(w.index, scaled_epoch(100, int(w.index.max())))


@pytest.mark.claim(id="sample-clusters-first", paper="Sec. 4, Fig. 2 left")
def test_sample_clusters_first(measurements, claim_record):
    """Sec. 4, Fig. 2 (left): "most of the clustering process with respect to the augmentations ... occurs at the
    beginning of the training process and then plateaus, while the clustering with respect to semantic classes
    ... continues to improve throughout the training process."

    Statistic (per seed, normalized NCC train accuracy): (a) share of the total sample-level gain reached at the
    scaled epoch 100 minus the same share for classes (> 0: sample clustering happens earlier); (b) class NCC train
    gain from that epoch to the end (> 0: keeps improving). Control: ``class-shuffled`` labels in place of classes.
    """
    m, rec = measurements, claim_record
    rec.use(m)                      # profile and dataset, even where the claim ends early
    run = pick_run(m, "vicreg-deep", "vicreg")
    if run is None:
        rec.inconclusive("neither vicreg-deep nor vicreg was measured at this profile")
    rec.use(m, run)
    ws = curve(m, run, "ncc_train_acc", "sample")
    wc = curve(m, run, "ncc_train_acc", "class")
    early, last = _early(ws), int(ws.index.max())
    src_a = "Sec. 4: sample clustering 'occurs at the beginning ... and then plateaus' (early = paper epoch 100/1000)"
    src_b = "Sec. 4: class clustering 'continues to improve throughout the training process'"
    rec.part(decide_series(early_share(ws, early) - early_share(wc, early), 0.0, ">",
                           name=f"early share(sample) - early share(class), early = epoch {early}", source=src_a))
    rec.part(decide_series(gain(wc, early, last), 0.0, ">", name=f"class NCC train gain, epoch {early} -> {last}",
                           source=src_b))
    try:
        wsh = curve(m, run, "ncc_train_acc", "class-shuffled")
        rec.control("class labels replaced by a fixed random permutation (class-shuffled) in place of class", [
            decide_series(early_share(ws, early) - early_share(wsh, early), 0.0, ">",
                          name="early share(sample) - early share(class-shuffled)"),
            decide_series(gain(wsh, early, last), 0.0, ">", name="class-shuffled NCC train gain after early epoch"),
        ])
        frames = {"sample": normalized(ws), "class": normalized(wc), "class-shuffled (control)": normalized(wsh)}
    except MissingSeries as exc:
        rec.control("class-shuffled labels", verdict=Verdict.NOT_RUN, reason=str(exc))
        frames = {"sample": normalized(ws), "class": normalized(wc)}
    rec.figure("fig2-left", "Normalized NCC train accuracy", fig_curves(frames), x_label="epoch",
               y_label="NCC train acc / value at init")
    rec.set(protocol=f"run {run}; {PROTOCOL_NCC}; normalized by the epoch-0 value (Fig. 2 left)",
            paper_value="sample level plateaus early; class level keeps growing (RES-10-250, CIFAR-100)")
    rec.conclude()


@pytest.mark.claim(id="sample-neural-collapse", paper="Sec. 4")
def test_sample_neural_collapse(measurements, claim_record):
    """Sec. 4: "the SSL-trained representation exhibits neural collapse at a sample level (with an NCC train
    accuracy near 1.0), yet the clustering with respect to the semantic classes is also significant (≈ 0.41 on
    the original targets)."

    Statistic: at the full profile, (a) sample NCC train accuracy at the last epoch >= 0.9 ('near 1.0');
    below full (direction only) (a) its gain over training > 0. (b) class NCC train accuracy at the last epoch
    minus its value at initialization > 0 (clustering made by training, 'significant'). Control: the
    ``sample-shuffled`` / ``class-shuffled`` levels in place of sample / class.
    """
    m, rec = measurements, claim_record
    rec.use(m)                      # profile and dataset, even where the claim ends early
    run = pick_run(m, "vicreg-deep", "vicreg")
    if run is None:
        rec.inconclusive("neither vicreg-deep nor vicreg was measured at this profile")
    rec.use(m, run)
    full = m.profile == "full"

    def parts(sample_level: str, class_level: str, tag: str = ""):
        ws = curve(m, run, "ncc_train_acc", sample_level)
        wc = curve(m, run, "ncc_train_acc", class_level)
        if full:
            a = decide_series(ws.loc[ws.index.max()], 0.9, ">",
                              name=f"{tag}{sample_level} NCC train acc at the last epoch",
                              source="Sec. 4: 'NCC train accuracy near 1.0' -> >= 0.9 (full profile)")
        else:
            a = decide_series(gain(ws), 0.0, ">", name=f"{tag}{sample_level} NCC train acc gain over training",
                              source="Sec. 4: sample-level collapse; below full only its direction is tested")
        b = decide_series(gain(wc), 0.0, ">", name=f"{tag}{class_level} NCC train acc gain over training",
                          source="Sec. 4: class clustering 'also significant' (0.41 vs chance) after training")
        return [a, b], ws, wc

    decisions, ws, wc = parts("sample", "class")
    for d in decisions:
        rec.part(d)
    try:
        ctrl, wss, wcs = parts("sample-shuffled", "class-shuffled", tag="control: ")
        rec.control("labels permuted across images (sample-shuffled, class-shuffled)", ctrl)
    except MissingSeries as exc:
        rec.control("shuffled labels", verdict=Verdict.NOT_RUN, reason=str(exc))
    last = int(ws.index.max())
    rec.figure("sec4-ncc-train", "NCC train accuracy at initialization and at the end", [
        {"label": lvl, "x": [0, last], "y": [float(w.loc[0].mean()), float(w.loc[last].mean())],
         "yerr": [float(np.nan_to_num(w.loc[0].std())), float(np.nan_to_num(w.loc[last].std()))]}
        for lvl, w in (("sample", ws), ("class", wc))], kind="bar", x_label="epoch", y_label="NCC train acc",
        paper=[{"label": "paper, sample (RES-10-250)", "x": [1000], "y": [1.0]},
               {"label": "paper, class (RES-10-250)", "x": [1000], "y": [0.41]}])
    rec.set(protocol=f"run {run}; {PROTOCOL_NCC}; last epoch vs initialization",
            paper_value="sample ≈ 1.0; class ≈ 0.41 (NCC train acc, RES-10-250, CIFAR-100, 1000 epochs)")
    if not full:
        rec.note("below the full profile the absolute 'near 1.0' is not tested, only the direction")
    rec.conclude()


def _ratio_frames(m, run: str, level: str) -> pd.DataFrame:
    """NCC test / linear test accuracy, epoch x seed (Sec. 4, Fig. 2 middle)."""
    ncc = curve(m, run, "ncc_test_acc", level)
    lin = curve(m, run, "linear_test_acc", level)
    return ncc / lin.where(lin > 0)


@pytest.mark.claim(id="ncc-linear-ratio", paper="Sec. 4, Fig. 2 middle")
def test_ncc_linear_ratio(measurements, claim_record):
    """Sec. 4, Fig. 2 (middle): "As SSL training progresses, the gap between NCC accuracy and linear accuracy
    narrows ... the sample-level ratio is initially higher ... (the ratio ... is ≥ 0.9 at epoch 100). However, as
    training continues, the sample-level ratio saturates while the class-level ratio continues to grow and
    converges to ≈ 0.75."

    Statistic (ratio = NCC test acc / linear test acc, per seed): (a) sample ratio rises over training;
    (b) full: sample ratio at epoch 100 >= 0.9; below full: sample reaches more of its total gain by the scaled
    epoch 100 than class (saturates first); (c) class ratio still grows after that epoch. Control: class-shuffled.
    """
    m, rec = measurements, claim_record
    rec.use(m)                      # profile and dataset, even where the claim ends early
    run = pick_run(m, "vicreg-deep", "vicreg")
    if run is None:
        rec.inconclusive("neither vicreg-deep nor vicreg was measured at this profile")
    rec.use(m, run)
    rs, rc = _ratio_frames(m, run, "sample"), _ratio_frames(m, run, "class")
    early, last = _early(rs), int(rs.index.max())
    rec.part(decide_series(gain(rs), 0.0, ">", name="sample NCC/linear ratio gain over training",
                           source="Sec. 4: 'the gap between NCC accuracy and linear accuracy narrows'"))
    if m.profile == "full":
        rec.part(decide_series(rs.loc[early], 0.9, ">", name=f"sample NCC/linear ratio at epoch {early}",
                               source="Sec. 4: 'is >= 0.9 at epoch 100'"))
    else:
        rec.part(decide_series(early_share(rs, early) - early_share(rc, early), 0.0, ">",
                               name=f"early share(sample ratio) - early share(class ratio), early = {early}",
                               source="Sec. 4: 'the sample-level ratio saturates while the class-level ratio "
                                      "continues to grow' (direction of '>= 0.9 at epoch 100')"))
    rec.part(decide_series(gain(rc, early, last), 0.0, ">", name=f"class ratio gain, epoch {early} -> {last}",
                           source="Sec. 4: 'the class-level ratio continues to grow'"))
    frames = {"sample": normalized(rs), "class": normalized(rc)}
    try:
        rsh = _ratio_frames(m, run, "class-shuffled")
        rec.control("class-shuffled labels in place of class: its NCC/linear ratio must not keep growing",
                    decide_series(gain(rsh, early, last), 0.0, ">", name="class-shuffled ratio gain after early"))
        frames["class-shuffled (control)"] = normalized(rsh)
    except MissingSeries as exc:
        rec.control("class-shuffled labels", verdict=Verdict.NOT_RUN, reason=str(exc))
    rec.figure("fig2-middle", "NCC test / linear test accuracy, normalized by init", fig_curves(frames),
               x_label="epoch", y_label="ratio / value at init")
    rec.figure("fig2-middle-raw", "NCC test / linear test accuracy", fig_curves({"sample": rs, "class": rc}),
               x_label="epoch", y_label="NCC / linear",
               paper=[{"label": "paper, sample (epoch 100)", "x": [100], "y": [0.9]},
                      {"label": "paper, class (end)", "x": [1000], "y": [0.75]}])
    rec.set(protocol=f"run {run}; NCC test accuracy / linear test accuracy (linear probe on frozen raw final-layer "
                     "features), per seed",
            paper_value="sample ratio >= 0.9 at epoch 100; class ratio converges to ≈ 0.75")
    rec.conclude()


@pytest.mark.claim(id="regularization-drives-learning", paper="Sec. 4, Fig. 3 left")
def test_regularization_drives_learning(measurements, claim_record):
    """Sec. 4, Fig. 3 (left): "Contrary to popular belief, the invariance loss does not significantly improve
    during the training process. Instead, the improvement in loss (and downstream semantic accuracy) is achieved
    due to minimizing the regularization loss."

    Statistic (per seed, first vs last logged epoch): (a) decrease of the regularization loss minus decrease of
    the invariance loss > 0 (the improvement comes from regularization); (b) class linear test accuracy gain > 0.
    Control: ``class-shuffled`` linear accuracy in place of class for (b) (no semantic gain to explain).
    """
    m, rec = measurements, claim_record
    run = "vicreg"
    rec.require(m, run)
    inv = wide(rows(m, run, "loss_invariance", ""))
    reg = wide(rows(m, run, "loss_regularization", ""))
    tot = wide(rows(m, run, "loss_total", ""))
    loss_part = decide_series((reg.iloc[0] - reg.iloc[-1]) - (inv.iloc[0] - inv.iloc[-1]), 0.0, ">",
                              name="regularization-loss decrease - invariance-loss decrease (first -> last epoch)",
                              source="Sec. 4: 'the invariance loss does not significantly improve ... the "
                                     "improvement in loss is achieved due to minimizing the regularization loss'")
    rec.part(loss_part)
    lin = curve(m, run, "linear_test_acc", "class")
    rec.part(decide_series(gain(lin), 0.0, ">", name="class linear test acc gain over training",
                           source="Sec. 4: '(and downstream semantic accuracy)' improves"))
    try:
        lsh = curve(m, run, "linear_test_acc", "class-shuffled")
        rec.control("class-shuffled labels for the accuracy part (losses unchanged)", [
            loss_part, decide_series(gain(lsh), 0.0, ">", name="class-shuffled linear test acc gain")])
    except MissingSeries as exc:
        rec.control("class-shuffled labels", verdict=Verdict.NOT_RUN, reason=str(exc))
    rec.figure("fig3-left", "Loss terms and class linear accuracy", fig_curves(
        {"invariance loss": inv, "regularization loss": reg, "total loss": tot}), x_label="epoch", y_label="loss")
    rec.figure("fig3-left-acc", "Class linear test accuracy", fig_curves({"class": lin}), x_label="epoch",
               y_label="linear test acc")
    rec.set(protocol="run vicreg (λ=μ=25, ν=1); per-epoch loss terms from history.jsonl (invariance = λ·s, "
                     "regularization = variance + covariance); linear probe on raw final-layer features",
            paper_value="invariance loss roughly flat; regularization loss falls (RES-5-250, CIFAR-100)")
    rec.conclude()


@pytest.mark.claim(id="mine-compression", paper="Sec. 4, Fig. 3 middle")
def test_mine_compression(measurements, claim_record):
    """Sec. 4, Fig. 3 (middle): "we report the average mutual information computed across 5 different MINE
    initialization seeds. As demonstrated, the training process manifests significant compression".

    Statistic: MINE estimate of I(X;Z) (averaged over MINE seeds) at initialization minus at the last epoch
    (> 0: information decreases); noise = spread over training seeds (one training seed: spread over MINE seeds,
    the documented fallback). Also (b) the last-epoch estimate lies above the shuffled-pairs null.
    Control: the shuffled-pairs null ``mine_null`` in place of ``mine_mi`` must not show compression.
    """
    m, rec = measurements, claim_record
    run = "vicreg"
    rec.require(m, run)
    try:
        mi = rows(m, run, "mine_mi", "")
    except MissingSeries as exc:
        rec.inconclusive(f"MINE was not measured at this profile: {exc}")

    def drop(df: pd.DataFrame, name: str, source: str):
        first, last = df["epoch"].min(), df["epoch"].max()
        piv = df.pivot_table(index=["seed", "target"], columns="epoch", values="value")
        per_unit = piv[first] - piv[last]                      # (seed, mine-seed) -> decrease
        per_seed = per_unit.groupby(level="seed").mean()
        fallback = seed_noise(list(per_unit.values))            # spread over MINE seeds (one training seed)
        return decide_seeds(list(per_seed.values), 0.0, ">", name=name, source=source, fallback_noise=fallback)

    rec.part(drop(mi, "I(X;Z) at init - at the last epoch (MINE)", "Sec. 4: 'the training process manifests "
                                                                      "significant compression'"))
    fig = {"mine_mi": wide(mi)}
    try:
        null = rows(m, run, "mine_null", "")
        last = mi["epoch"].max()
        a = mi[mi["epoch"] == last].groupby("seed")["value"].mean()
        b = null[null["epoch"] == last].groupby("seed")["value"].mean()
        rec.part(decide_diff_aux(a, b, seed_noise(list(mi[mi["epoch"] == last]["value"])), 0.0, ">",
                                 name="MINE estimate - shuffled-pairs null at the last epoch",
                                 source="catalogue: MINE values are relative; check them against a shuffled null"))
        rec.control("shuffled-pairs null (mine_null) in place of the MINE estimate",
                    drop(null, "null at init - null at the last epoch", ""))
        fig["shuffled-pairs null"] = wide(null)
    except MissingSeries as exc:
        rec.control("shuffled-pairs null", verdict=Verdict.NOT_RUN, reason=str(exc))
    rec.figure("fig3-middle", "MINE estimate of I(X;Z)", fig_curves(fig), x_label="epoch", y_label="nats")
    rec.set(protocol="MINE (Belghazi et al.) on the final-layer embedding, averaged over MINE seeds; values are "
                     "relative (bounded by log N, biased): only the trend is tested",
            paper_value="I(X;Z) decreases during training (average of 5 MINE seeds)")
    rec.conclude()


@pytest.mark.claim(id="ssl-vs-supervised-ncc", paper="Sec. 4, Fig. 3 right")
def test_ssl_vs_supervised_ncc(measurements, claim_record):
    """Sec. 4, Fig. 3 (right): "While the NCC train accuracy of the supervised classifier is 1.0, which is
    significantly higher than the NCC train accuracy of the SSL-trained model, the NCC test accuracy of the SSL
    model is slightly higher than the NCC test accuracy of the supervised model ... when training the supervised
    model with augmentation slightly decreases the NCC train accuracy, yet significantly improves the NCC test
    accuracy."

    Parts at the last epoch, class level, final layer: (a) sup train - SSL train > 0; (b) SSL test - sup test > 0;
    (c) sup+AA train - sup train < 0; (d) sup+AA test - sup test > 0. Single-seed runs borrow the main run's seed
    spread as noise. Control: the same four statements on the untrained (epoch-0) networks.
    """
    m, rec = measurements, claim_record
    rec.use(m)                      # profile and dataset, even where the claim ends early
    ssl = pick_run(m, "vicreg-deep", "vicreg")
    need = [r for r in ("supervised", "supervised-aa") if not m.has(r)]
    if ssl is None or need:
        rec.inconclusive(f"runs absent at this profile: {need or ['vicreg-deep']}")
    rec.use(m, ssl, "supervised", "supervised-aa")

    def at(run, metric, epoch):
        return per_seed(m, run, metric, "class", epoch=epoch)

    def statements(epoch, tag=""):
        out = []
        for metric, a, b, op, name, src in (
            ("ncc_train_acc", "supervised", ssl, ">", "supervised - SSL NCC train acc",
             "Sec. 4: supervised NCC train acc 1.0 'significantly higher' than SSL's"),
            ("ncc_test_acc", ssl, "supervised", ">", "SSL - supervised NCC test acc",
             "Sec. 4: SSL NCC test acc 'slightly higher' than supervised"),
            ("ncc_train_acc", "supervised-aa", "supervised", "<", "supervised+AA - supervised NCC train acc",
             "Sec. 4: augmentation 'slightly decreases the NCC train accuracy'"),
            ("ncc_test_acc", "supervised-aa", "supervised", ">", "supervised+AA - supervised NCC test acc",
             "Sec. 4: augmentation 'significantly improves the NCC test accuracy'"),
        ):
            sd = main_noise(lambda mm, rr: per_seed(mm, rr, metric, "class", epoch=epoch), m, ssl)
            out.append(guarded(tag + name, lambda: decide_diff_aux(at(a, metric, epoch), at(b, metric, epoch), sd,
                                                                   0.0, op, name=tag + name, source=src),
                               source=src, op=op))
        return out

    for d in statements("last"):
        rec.part(d)
    rec.control("untrained networks (epoch 0) in place of the trained ones", statements(0, tag="epoch 0: "))
    series = []
    for run in (ssl, "supervised", "supervised-aa"):
        tr, te = at(run, "ncc_train_acc", "last"), at(run, "ncc_test_acc", "last")
        series.append({"label": run, "x": ["NCC train", "NCC test"], "y": [float(tr.mean()), float(te.mean())],
                       "yerr": [float(np.nan_to_num(tr.std())), float(np.nan_to_num(te.std()))]})
    rec.figure("fig3-right", "NCC train and test accuracy at the end of training", series, kind="bar",
               x_label="", y_label="NCC accuracy", paper=[{"label": "paper, supervised NCC train", "x": ["NCC train"],
                                                           "y": [1.0]}])
    rec.set(protocol=f"SSL run {ssl} vs supervised / supervised+AutoAugment (same arch); {PROTOCOL_NCC}; "
                     "single-seed runs borrow the SSL run's seed spread",
            paper_value="supervised NCC train = 1.0; SSL NCC test slightly above supervised (RES-10-250)")
    rec.conclude()
