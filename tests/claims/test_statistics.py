"""Claim statistics (sslre/claims/statistics.py) on small hand-made tables and series."""
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sslre.claims.statistics import (MissingSeries, by_layer, curve, decide_all, decide_diff, early_epoch, early_share,
                                     gain, layer_slope, nearest_epoch, normalized, paired, rows, scaled_epoch, slope)
from sslre.claims.verdict import Verdict
from sslre.measure import Measurements

COLS = ["run", "method", "arch", "dataset", "seed", "epoch", "layer", "level", "target", "randomness", "metric",
        "value", "features", "probe"]


def _table(values: dict, level="class", metric="ncc_train_acc", layer=2, probe=""):
    """{(seed, epoch): value} -> a Measurements with one run 'r' (RES-2-8)."""
    rows_ = [("r", "vicreg", "RES-2-8", "synthetic", s, e, layer, level, "", float("nan"), metric, v, "raw", probe)
             for (s, e), v in values.items()]
    return Measurements("quick", "synthetic", pd.DataFrame(rows_, columns=COLS), runs={})


def _wide(curves: dict[int, list[float]], epochs=(0, 1, 2, 8, 20)) -> pd.DataFrame:
    return pd.DataFrame({s: v for s, v in curves.items()}, index=list(epochs))


def test_curve_reads_table_wide_per_seed():
    m = _table({(0, 0): 0.1, (0, 20): 0.5, (1, 0): 0.2, (1, 20): 0.6})
    w = curve(m, "r", "ncc_train_acc", "class")
    assert list(w.columns) == [0, 1] and list(w.index) == [0, 20]
    assert w.loc[20, 1] == pytest.approx(0.6)
    with pytest.raises(MissingSeries, match="metric='cdnv'"):
        curve(m, "r", "cdnv", "class")


def test_rows_prefers_svc_probe_when_both_exist():
    t = pd.concat([_table({(0, 0): 0.1}, metric="linear_test_acc", probe="fast").table,
                   _table({(0, 0): 0.3}, metric="linear_test_acc", probe="svc").table])
    m = Measurements("quick", "synthetic", t, runs={})
    assert rows(m, "r", "linear_test_acc", "class")["value"].tolist() == [pytest.approx(0.3)]


def test_by_layer_blocks_only():
    t = []
    for L in range(3):
        t.append(_table({(0, 20): 0.1 * L, (1, 20): 0.1 * L + 0.01}, layer=L).table)
    m = Measurements("quick", "synthetic", pd.concat(t), runs={})
    w = by_layer(m, "r", "ncc_train_acc", "class")
    assert list(w.index) == [1, 2]
    assert layer_slope(w).tolist() == pytest.approx([0.1, 0.1])


def test_early_share_and_gain():
    w = _wide({0: [0.1, 0.8, 0.9, 0.95, 1.0], 1: [0.1, 0.2, 0.3, 0.6, 1.0]})
    assert early_share(w, 2).tolist() == pytest.approx([8 / 9, 2 / 9])
    assert gain(w).tolist() == pytest.approx([0.9, 0.9])
    assert gain(w, 2, 20).tolist() == pytest.approx([0.1, 0.7])
    flat = _wide({0: [0.5] * 5})
    assert math.isnan(early_share(flat, 2).iloc[0])      # no gain to share


def test_normalized_needs_init():
    w = _wide({0: [0.2, 0.4, 0.4, 0.4, 0.6]})
    assert normalized(w)[0].tolist() == pytest.approx([1, 2, 2, 2, 3])
    with pytest.raises(MissingSeries, match="epoch-0"):
        normalized(w.drop(index=0))


def test_epoch_scaling():
    assert scaled_epoch(100, 20) == pytest.approx(2.0)
    assert nearest_epoch([0, 1, 2, 8, 20], 2.0) == 2
    assert nearest_epoch([0, 5, 10], 0.1) == 5           # epoch 0 is never the 'early' checkpoint
    with pytest.raises(MissingSeries):
        nearest_epoch([0], 1)


def test_slope():
    assert slope([0, 1, 2], [1, 3, 5]) == pytest.approx(2.0)
    assert math.isnan(slope([1, 1], [0, 1]))


def test_paired_differences_and_no_borrowed_noise():
    a, b = pd.Series({0: 0.5, 1: 0.6, 2: 0.7, 3: 0.9}), pd.Series({0: 0.4, 1: 0.5, 2: 0.6})
    d = paired(a, b)
    assert d.index.tolist() == [0, 1, 2] and d.tolist() == pytest.approx([0.1, 0.1, 0.1])   # paired by seed
    assert decide_diff(a, b, runs=["x", "y"]).verdict is Verdict.SUPPORTED
    single = pd.Series({0: 0.3})
    dec = decide_diff(a, single, runs=["x", "y"])
    assert dec.verdict is Verdict.INCONCLUSIVE and "needs >= 3 seeds of run x and run y" in dec.reason


def test_early_epoch_is_mapped_by_the_lr_integral_and_never_in_warm_up():
    from sslre.config import profile_config
    from sslre.measure import RunInfo

    class M:
        runs = {"r": [RunInfo("r", 0, profile_config("small", epochs=15, warmup_epochs=4), Path("x"), {})]}

    assert early_epoch(M(), "r", [0, 1, 2, 5, 8, 15]) == 5
    assert early_epoch(M(), "r", [0, 2, 4, 8, 15]) == 8                 # 2 and 4 lie in the warm-up
    assert early_epoch(object(), "r", [0, 1, 2, 8, 20]) == 2           # no config: the linear scale


def _cells(effect, rng, n_cells=6, n_seeds=3, sd=0.01):
    return {c: pd.Series(effect + rng.normal(0, sd, n_seeds), index=range(n_seeds)) for c in range(n_cells)}


def test_decide_all_present_reversed_flat():
    rng = np.random.default_rng(1)
    assert decide_all(_cells(0.2, rng), name="x").verdict is Verdict.SUPPORTED
    assert decide_all(_cells(-0.2, rng), name="x").verdict is Verdict.REFUTED
    assert decide_all(_cells(0.0, rng), name="x").verdict is Verdict.INCONCLUSIVE
    mixed = {**_cells(0.2, rng, 3), 9: pd.Series([0.0, 0.01, -0.01])}
    d = decide_all(mixed, name="x")
    assert d.verdict is Verdict.INCONCLUSIVE and "[9]" not in d.name and "9" in d.name


def test_flat_cells_are_not_refuted_by_chance():
    """A family is refuted only at the Holm level: over many flat draws, rarely decided at all."""
    rng = np.random.default_rng(2)
    refuted = sum(decide_all(_cells(0.0, rng), name="x").verdict is Verdict.REFUTED for _ in range(400))
    supported = sum(decide_all(_cells(0.0, rng), name="x").verdict is Verdict.SUPPORTED for _ in range(400))
    assert refuted / 400 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400)
    assert supported / 400 <= 0.01


def test_per_seed_reads_exact_epochs_including_init():
    from sslre.claims.statistics import per_seed
    m = _table({(0, 0): 0.1, (0, 2): 0.3, (0, 20): 0.5, (1, 0): 0.2, (1, 2): 0.4, (1, 20): 0.6})
    assert per_seed(m, "r", "ncc_train_acc", "class", epoch=0, layer=2).tolist() == pytest.approx([0.1, 0.2])
    assert per_seed(m, "r", "ncc_train_acc", "class", layer=2).tolist() == pytest.approx([0.5, 0.6])
    assert per_seed(m, "r", "ncc_train_acc", "class", epoch=3, layer=2).tolist() == pytest.approx([0.3, 0.4])


def test_absent_loss_terms_from_the_method_then_from_the_table():
    from types import SimpleNamespace

    from sslre.claims.statistics import absent_loss_terms
    from sslre.config import profile_config

    terms = ("invariance", "regularization")
    split = pd.concat([_table({(0, 0): 1.0}, level="", metric=f"loss_{t}", layer=float("nan")).table
                       for t in ("total", "invariance", "regularization")])
    m = Measurements("quick", "synthetic", split, runs={})
    assert absent_loss_terms(m, "r", terms) == ""
    # a plug-in (or any method) whose history has only the total and the invariance loss: decided by the table
    inv_only = Measurements("quick", "synthetic", split[split["metric"] != "loss_regularization"], runs={})
    assert "has no loss_regularization value (NaN in every epoch)" in absent_loss_terms(inv_only, "r", terms)
    # no loss rows at all: a missing series, not an inapplicable claim
    assert absent_loss_terms(_table({(0, 0): 1.0}), "r", terms) == ""
    byol = SimpleNamespace(config=profile_config("quick", method="byol"))
    m.runs = {"r": [byol]}
    assert absent_loss_terms(m, "r", terms).startswith(
        "method byol has no regularization term (loss_terms = ('invariance',))")
