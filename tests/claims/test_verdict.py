"""The decision procedure (sslre/claims/verdict.py): t-tests, TOST, families, Holm, controls, combination."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sslre.claims.verdict import (ALPHA, MIN_SEEDS, Decision, Verdict, combine, decide_equivalent, decide_family,
                                  decide_seeds, holm, one_sided_t, seed_noise, with_control)


def test_t_test_pins_scipy():
    """One-sided p-values equal scipy's one-sample t-test (reference maths)."""
    x = [0.12, 0.05, 0.09, 0.2]
    mean, sd, n, t, p_gt, p_lt = one_sided_t(x, 0.03)
    ref = stats.ttest_1samp(x, 0.03, alternative="greater")
    assert t == pytest.approx(ref.statistic) and p_gt == pytest.approx(ref.pvalue)
    assert p_lt == pytest.approx(stats.ttest_1samp(x, 0.03, alternative="less").pvalue)
    assert (mean, sd, n) == (pytest.approx(np.mean(x)), pytest.approx(np.std(x, ddof=1)), 4)


def test_three_verdicts_and_directions():
    assert decide_seeds([0.5, 0.6, 0.55]).verdict is Verdict.SUPPORTED
    assert decide_seeds([-0.5, -0.6, -0.55]).verdict is Verdict.REFUTED
    assert decide_seeds([0.1, -0.1, 0.05]).verdict is Verdict.INCONCLUSIVE
    assert decide_seeds([-0.5, -0.6, -0.55], 0.0, "<").verdict is Verdict.SUPPORTED
    assert decide_seeds([0.95, 0.96, 0.97], 0.9, ">", test="level").verdict is Verdict.SUPPORTED


def test_fewer_than_three_seeds_is_inconclusive_and_names_the_run():
    assert MIN_SEEDS == 3
    d = decide_seeds([0.5, 0.6], name="gain", runs=["vicreg-mu5"])
    assert d.verdict is Verdict.INCONCLUSIVE
    assert "needs >= 3 seeds of run vicreg-mu5" in d.reason
    assert decide_seeds([0.5, 0.6, float("nan")]).verdict is Verdict.INCONCLUSIVE   # NaN seeds do not count


def test_seed_labels_are_kept():
    d = decide_seeds({0: 0.5, 2: 0.6, 4: 0.55})
    assert d.seeds == [0, 2, 4] and d.per_seed == [0.5, 0.6, 0.55]
    assert d.df == 2 and d.n == 3


def test_identical_seeds_decide_by_sign():
    assert decide_seeds([0.2, 0.2, 0.2]).verdict is Verdict.SUPPORTED
    assert decide_seeds([0.0, 0.0, 0.0]).verdict is Verdict.INCONCLUSIVE


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="direction"):
        decide_seeds([1.0, 2.0, 3.0], direction=">=")
    with pytest.raises(ValueError, match="margin"):
        decide_equivalent([1.0, 2.0, 3.0], 0.0)


def test_equivalence_tost():
    assert decide_equivalent([0.001, -0.002, 0.0015, 0.0], 0.02).verdict is Verdict.SUPPORTED
    assert decide_equivalent([0.2, 0.21, 0.19], 0.02).verdict is Verdict.REFUTED
    assert decide_equivalent([-0.2, -0.21, -0.19], 0.02).verdict is Verdict.REFUTED
    assert decide_equivalent([0.0, 0.05, -0.05], 0.02).verdict is Verdict.INCONCLUSIVE   # too noisy to tell
    d = decide_equivalent([0.01, 0.0, 0.005], 0.02)
    lo = stats.ttest_1samp(d.per_seed, -0.02, alternative="greater").pvalue
    hi = stats.ttest_1samp(d.per_seed, 0.02, alternative="less").pvalue
    assert d.p_support == pytest.approx(max(lo, hi))


def test_holm_matches_the_textbook_example():
    adj, rej = holm([0.01, 0.04, 0.03, 0.005])
    assert adj == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert rej == [True, False, False, True]


def _part(vals, control_vals=None, name="p"):
    d = decide_seeds(vals, name=name)
    return with_control(d, decide_seeds(control_vals, name="ctrl") if control_vals is not None else None,
                        description="null", no_null="" if control_vals is not None else "no null here")


def test_combine_intersection_union():
    up, flat = [0.5, 0.6, 0.55], [0.1, -0.1, 0.02]
    assert combine([_part(up, flat), _part(up, flat)]).verdict is Verdict.SUPPORTED
    assert combine([_part(up, flat), _part(flat, flat)]).verdict is Verdict.INCONCLUSIVE


def test_a_supported_control_voids_its_part():
    up = [0.5, 0.6, 0.55]
    cd = combine([_part(up, up)])
    assert cd.verdict is Verdict.INCONCLUSIVE and "void" in cd.reason


def test_a_part_without_null_caps_the_claim():
    up, flat = [0.5, 0.6, 0.55], [0.1, -0.1, 0.02]
    cd = combine([_part(up, flat), _part(up)])
    assert cd.verdict is Verdict.INCONCLUSIVE and "no null" in cd.reason


def test_refutation_needs_the_holm_level():
    """A part with p_refute between alpha/M and alpha refutes alone, not among many parts."""
    weak = [-0.2, -0.05, -0.3, -0.1]                       # one-sided p about 0.03
    p = decide_seeds(weak).p_refute
    assert ALPHA / 3 < p < ALPHA
    flat = [0.1, -0.1, 0.02]
    assert combine([_part(weak, flat)]).verdict is Verdict.REFUTED
    parts = [_part(weak, flat), _part(flat, flat, "x"), _part(flat, flat, "y")]
    assert combine(parts).verdict is Verdict.INCONCLUSIVE
    assert parts[0].holm_p == pytest.approx(min(1.0, 3 * p))


def test_family_is_one_part_and_one_cell_never_refutes_alone():
    up = [0.5, 0.6, 0.55]
    fam = decide_family({1: up, 2: up, 3: up}, name="every layer")
    assert fam.verdict is Verdict.SUPPORTED and len(fam.cells) == 3
    weak = [-0.2, -0.05, -0.3, -0.1]
    fam = decide_family({1: up + [0.5], 2: up + [0.5], 3: weak}, name="every layer")
    assert fam.verdict is Verdict.INCONCLUSIVE              # p about 0.03 > alpha / 3
    strong = [-0.5, -0.52, -0.49, -0.51]
    fam = decide_family({1: up + [0.5], 2: strong}, name="every layer")
    assert fam.verdict is Verdict.REFUTED
    assert len(fam.hypotheses) == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=3, max_size=8), st.floats(0.01, 100), st.floats(-5, 5))
def test_decisions_are_invariant_to_scale_and_shift(vals, scale, shift):
    """A t-test verdict depends on the values only through (mean - threshold) / sd."""
    if seed_noise(vals) < 1e-6:
        return
    a = decide_seeds(vals, 0.0)
    b = decide_seeds([v * scale + shift for v in vals], shift)
    assert a.verdict is b.verdict
    assert a.p_support == pytest.approx(b.p_support, rel=1e-6, abs=1e-12)


def test_null_rates_of_one_part_are_alpha():
    """Monte Carlo: under no effect a directional part is supported at rate alpha (n = 3, Gaussian)."""
    rng = np.random.default_rng(0)
    sims = 4000
    sup = sum(decide_seeds(rng.normal(0, 1, 3)).verdict is Verdict.SUPPORTED for _ in range(sims)) / sims
    assert sup == pytest.approx(ALPHA, abs=3 * math.sqrt(ALPHA * (1 - ALPHA) / sims))


def test_json_of_a_part_carries_the_procedure():
    d = _part([0.5, 0.6, 0.55], [0.1, -0.1, 0.02])
    combine([d])
    j = d.to_json()
    assert j["test"]["kind"] == "directional" and j["test"]["df"] == 2 and j["test"]["alpha"] == ALPHA
    assert j["test"]["p_support"] < ALPHA and j["statistic"]["per_seed"] == [0.5, 0.6, 0.55]
    assert j["control"]["verdict"] == "inconclusive" and j["test"]["holm_p_refute"] is not None
    assert isinstance(Decision.to_json(d), dict)


def test_a_refuted_control_blocks_refutation_only():
    up, down, flat = [0.5, 0.6, 0.55], [-0.5, -0.6, -0.55], [0.1, -0.1, 0.02]
    assert combine([_part(down, down)]).verdict is Verdict.INCONCLUSIVE      # the null falls too: no refutation
    assert combine([_part(up, down), _part(up, flat)]).verdict is Verdict.SUPPORTED


def test_an_undecided_control_blocks_support():
    up = [0.5, 0.6, 0.55]
    d = with_control(decide_seeds(up), decide_seeds([0.1, 0.2], name="ctrl"), description="null (2 seeds)")
    cd = combine([d])
    assert cd.verdict is Verdict.INCONCLUSIVE and "control was not decided" in cd.reason


def test_a_level_part_refutes_despite_its_null_falling_below():
    low = decide_seeds([0.5, 0.52, 0.49], 0.9, ">", test="level")
    null = decide_seeds([0.01, 0.02, 0.015], 0.9, ">", test="level")
    assert combine([with_control(low, null, description="untrained")]).verdict is Verdict.REFUTED


def test_a_family_drops_cells_that_lost_seeds_and_says_so():
    up = [0.5, 0.6, 0.55]
    fam = decide_family({0.25: up, 0.5: up, 1.0: [0.5]}, name="every level")
    assert fam.verdict is Verdict.SUPPORTED and len(fam.cells) == 2 and "1 cell(s)" in fam.reason
    assert decide_family({1: [0.5, 0.6], 2: [0.4, 0.5]}, name="f").verdict is Verdict.INCONCLUSIVE


def test_an_equivalence_part_refutes_although_its_sensitivity_null_is_refuted():
    far = decide_equivalent([0.3, 0.31, 0.29], 0.05)
    null = decide_equivalent([0.5, 0.52, 0.49], 0.05)
    assert null.verdict is Verdict.REFUTED
    assert combine([with_control(far, null, description="trained vs untrained")]).verdict is Verdict.REFUTED
