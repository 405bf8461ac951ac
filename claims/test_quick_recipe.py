"""The quick profile's recipe check: SSL learns for every seed of the main run (not a claim test).

A claim's direction means nothing on runs that did not learn. So every seed of the quick ``vicreg`` run must end
clearly above its own initialization on the class level: last layer, last epoch vs epoch 0, for both the linear
probe and the NCC test accuracy. The margin is fixed from the pilots (``docs/PERFORMANCE.md``: the smallest gains
over seeds 0-4 were 0.13 linear / 0.14 NCC; the margin is about half of that), so a recipe or generator change
that leaves one seed behind fails here, not silently in the claims.
"""
from __future__ import annotations

import pytest

from sslre.claims.statistics import curve

#: Minimum gain (absolute accuracy, last epoch minus epoch 0) of every seed, for each metric.
MIN_GAIN = 0.06
#: Seeds the quick main run must have (sslre.experiments: 5 at quick, so the check has teeth).
MIN_SEEDS = 5


@pytest.mark.parametrize("metric", ["linear_test_acc", "ncc_test_acc"])
def test_vicreg_learns_for_every_seed(profile, metric, request):
    """Every quick ``vicreg`` seed gains >= MIN_GAIN class-level test accuracy from init to the last epoch."""
    if profile != "quick":
        pytest.skip("the recipe check is about the quick profile's recipe")
    from sslre.experiments import matrix_method

    if matrix_method() != "vicreg":  # another column of the method matrix: the recipe under test is VICReg's
        pytest.skip(f"the recipe check is about VICReg's quick recipe, not {matrix_method()}'s")
    m = request.getfixturevalue("measurements")  # only now: small/full would need their trained runs
    w = curve(m, "vicreg", metric, "class")  # epoch x seed, last layer, raw features
    assert w.shape[1] >= MIN_SEEDS, f"vicreg has seeds {list(w.columns)}; the check needs >= {MIN_SEEDS}"
    first, last = int(w.index.min()), int(w.index.max())
    assert first == 0, f"no epoch-0 checkpoint (first is {first})"
    gains = (w.loc[last] - w.loc[first]).round(3).to_dict()
    low = {s: g for s, g in gains.items() if not g >= MIN_GAIN}
    assert not low, (f"class {metric}: seeds {sorted(low)} gained {low} from epoch 0 to {last}, below {MIN_GAIN} "
                     f"(all gains: {gains})")
