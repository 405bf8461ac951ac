"""Operating characteristics (sslre/claims/calibration.py): the null-rate bound holds at the profiles' seed counts."""
import json

import pytest

from sslre.claims.calibration import calibrate, main, markdown, mc_error, within_bound
from sslre.claims.catalogue import CLAIM_IDS
from sslre.claims.verdict import ALPHA


@pytest.mark.parametrize("profile", ["quick", "small"])
def test_no_claim_breaks_the_null_bound(profile):
    """A few hundred simulations per claim: false support and false refutation <= alpha within MC error."""
    table = calibrate(profile, 300, reference=None, seed=1)
    assert set(table) == set(CLAIM_IDS)
    assert within_bound(table) == []
    for row in table.values():
        assert sum(row["null"].values()) == pytest.approx(1.0)


def test_planted_effects_are_found_more_often_than_reversed_ones():
    table = calibrate("quick", 200, reference=None, seed=2, claim_ids=["sample-clusters-first"])
    row = table["sample-clusters-first"]
    assert row["planted"]["supported"] > row["null"]["supported"] + 5 * mc_error(ALPHA, 200)
    assert row["reversed"]["refuted"] > row["null"]["refuted"] + 5 * mc_error(ALPHA, 200)
    assert row["reversed"]["supported"] == pytest.approx(0.0)


def test_a_rule_without_correction_would_break_the_bound():
    """The check can fail: an uncorrected 'any part refutes' rule over 5 parts exceeds the bound."""
    table = {"x": {"sims": 1000, "null": {"supported": 0.0, "refuted": 0.226}}}
    assert within_bound(table) != []


def test_cli_writes_the_json_contract(tmp_path):
    out = tmp_path / "cal.json"
    md = tmp_path / "cal.md"
    assert main(["--profile", "quick", "--sims", "20", "--json", str(out), "--markdown", str(md),
                 "--reference", str(tmp_path / "none.json")]) == 2          # a named reference must exist
    main(["--profile", "quick", "--sims", "20", "--json", str(out), "--markdown", str(md)])
    doc = json.loads(out.read_text())
    row = doc["sample-clusters-first"]
    assert set(row) >= {"null", "reversed", "planted", "sims"} and row["sims"] == 20
    assert set(row["null"]) == {"supported", "refuted", "inconclusive"}
    assert "| `sample-clusters-first`" in md.read_text()
    assert markdown({}, "quick", None).startswith("### Profile `quick`")
