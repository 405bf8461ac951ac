"""Verdict rules (sslre/claims/verdict.py): decide, seed noise, combine, fallbacks."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sslre.claims.verdict import (NOISE_K, Verdict, combine, decide, decide_seeds, seed_noise, subsample_noise)


@pytest.mark.parametrize("effect,noise,expected", [
    (0.5, 0.1, Verdict.SUPPORTED),      # beyond 0 by 0.5 > 2 x 0.1
    (-0.5, 0.1, Verdict.REFUTED),       # wrong side by more than the margin
    (0.15, 0.1, Verdict.INCONCLUSIVE),  # beyond 0 but within 2 x noise
    (-0.15, 0.1, Verdict.INCONCLUSIVE),
    (0.0, 0.0, Verdict.INCONCLUSIVE),   # exactly on the threshold: neither side
])
def test_decide_three_verdicts(effect, noise, expected):
    assert decide(effect, noise).verdict is expected


def test_decide_threshold_and_direction():
    assert decide(0.95, 0.01, 0.9, ">").verdict is Verdict.SUPPORTED
    assert decide(0.85, 0.01, 0.9, ">").verdict is Verdict.REFUTED
    assert decide(-0.3, 0.05, 0.0, "<").verdict is Verdict.SUPPORTED
    assert decide(0.3, 0.05, 0.0, "<").verdict is Verdict.REFUTED


def test_margin_is_k_noise():
    assert NOISE_K == pytest.approx(2.0)
    assert decide(0.21, 0.1).verdict is Verdict.SUPPORTED
    assert decide(0.19, 0.1).verdict is Verdict.INCONCLUSIVE
    assert decide(0.19, 0.1, k=1.0).verdict is Verdict.SUPPORTED


def test_nan_is_inconclusive_with_reason():
    d = decide(0.5, float("nan"), name="gain")
    assert d.verdict is Verdict.INCONCLUSIVE and "no noise estimate" in d.reason
    d = decide(float("nan"), 0.1, name="gain")
    assert d.verdict is Verdict.INCONCLUSIVE and "could not be computed" in d.reason


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="direction"):
        decide(1.0, 0.1, direction=">=")
    with pytest.raises(ValueError, match="noise must be >= 0"):
        decide(1.0, -0.1)
    with pytest.raises(ValueError, match="noise kind"):
        seed_noise([1.0, 2.0], kind="iqr")


def test_seed_noise():
    assert seed_noise([1.0, 3.0]) == pytest.approx(math.sqrt(2.0))
    assert seed_noise([1.0, 3.0, 2.0], kind="half-range") == pytest.approx(1.0)
    assert math.isnan(seed_noise([1.0]))
    assert math.isnan(seed_noise([1.0, float("nan")]))


def test_decide_seeds_one_seed_needs_fallback():
    assert decide_seeds([0.4]).verdict is Verdict.INCONCLUSIVE
    d = decide_seeds([0.4], fallback_noise=0.05)
    assert d.verdict is Verdict.SUPPORTED and d.noise == pytest.approx(0.05)
    d = decide_seeds([0.3, 0.5, 0.4])
    assert d.value == pytest.approx(0.4) and d.noise == pytest.approx(0.1)
    assert d.per_seed == [0.3, 0.5, 0.4]


@pytest.mark.parametrize("parts,expected", [
    ([Verdict.SUPPORTED, Verdict.SUPPORTED], Verdict.SUPPORTED),
    ([Verdict.SUPPORTED, Verdict.INCONCLUSIVE], Verdict.INCONCLUSIVE),
    ([Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE], Verdict.REFUTED),
    ([], Verdict.INCONCLUSIVE),
])
def test_combine(parts, expected):
    assert combine(parts) is expected


def test_combine_accepts_decisions():
    assert combine([decide(1, 0.1), decide(-1, 0.1)]) is Verdict.REFUTED


def test_synthetic_series_present_reversed_flat():
    rng = np.random.default_rng(0)
    present = 0.3 + rng.normal(0, 0.01, 3)     # per-seed gains with an effect
    assert decide_seeds(present).verdict is Verdict.SUPPORTED
    assert decide_seeds(-present).verdict is Verdict.REFUTED
    flat = rng.normal(0, 0.01, 3) * np.array([1, -1, 1])
    flat = flat - flat.mean()                   # exactly zero mean: within any noise
    assert decide_seeds(flat).verdict is Verdict.INCONCLUSIVE


@given(st.floats(-10, 10), st.floats(0, 5))
def test_direction_symmetry(effect, noise):
    a = decide(effect, noise, 0.0, ">").verdict
    b = decide(-effect, noise, 0.0, "<").verdict
    assert a is b


@given(st.lists(st.floats(-1, 1), min_size=2, max_size=6))
def test_verdict_never_supported_and_refuted(vals):
    d = decide_seeds(vals)
    assert d.verdict in (Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE)
    if d.verdict is Verdict.SUPPORTED:
        assert d.value > 0


def test_subsample_noise_deterministic_and_positive():
    x = np.arange(100, dtype=float)
    f = lambda idx: float(x[idx].mean())  # noqa: E731
    a, b = subsample_noise(f, 100, seed=3), subsample_noise(f, 100, seed=3)
    assert a == pytest.approx(b) and a > 0
    assert math.isnan(subsample_noise(f, 3))


def test_decision_json_fields_are_safe():
    d = decide(float("nan"), 0.1, name="x")
    assert d.statistic()["value"] is None
    assert d.threshold_dict() == {"op": ">", "value": 0.0, "source": ""}
    assert str(Verdict.NOT_RUN) == "not run"
