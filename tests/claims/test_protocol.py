"""The protocol (sslre/claims/protocol): every claim has one, PROTOCOL.md is generated from it, and the plugin
refuses a part decided otherwise."""
from pathlib import Path

import pytest

from sslre.claims import protocol
from sslre.claims.catalogue import CLAIM_IDS
from sslre.claims.protocol import PartSpec, ProtocolError, check_part
from sslre.claims.verdict import decide_equivalent, decide_seeds

ROOT = Path(__file__).resolve().parents[2]


def test_every_catalogue_claim_has_parts_at_every_profile():
    for cid in CLAIM_IDS:
        for profile in protocol.PROFILES:
            assert protocol.spec(cid).parts_for(profile), (cid, profile)


def test_committed_protocol_file_is_the_generated_one():
    """claims/PROTOCOL.md == render_markdown(); regenerate with `python -m sslre.claims.protocol --write ...`."""
    assert (ROOT / "claims" / "PROTOCOL.md").read_text() == protocol.render_markdown()


def test_header_names_version_and_hash():
    h = protocol.header()
    assert h["version"] == protocol.VERSION and len(h["sha256"]) == 64
    assert h["changelog"][-1]["version"] == protocol.VERSION


def test_part_specs_are_complete():
    with pytest.raises(ProtocolError, match="exactly one of control= and no_null="):
        PartSpec("a", "s", "x")
    with pytest.raises(ProtocolError, match="equivalence"):
        PartSpec("a", "s", "x", test="equivalence", op="~", control="null")


def test_a_part_decided_otherwise_is_refused():
    ps = protocol.spec("sample-clusters-first").part("a", "quick")
    assert check_part("sample-clusters-first", "a", decide_seeds([1.0, 2.0, 3.0], ps.threshold, ps.op), "quick")
    with pytest.raises(ProtocolError, match="decided as <"):
        check_part("sample-clusters-first", "a", decide_seeds([1.0, 2.0, 3.0], ps.threshold, "<"), "quick")
    with pytest.raises(ProtocolError, match="equivalence test"):
        check_part("sample-clusters-first", "a", decide_equivalent([1.0, 2.0, 3.0], 0.1), "quick")
    with pytest.raises(ProtocolError, match="no part"):
        check_part("sample-clusters-first", "z", decide_seeds([1.0, 2.0, 3.0]), "quick")


def test_committed_quick_reference_was_decided_under_this_protocol():
    """CI compares against reports/quick/reproduction.json: a protocol change must re-decide the reference."""
    import json

    ref = json.loads((ROOT / "reports" / "quick" / "reproduction.json").read_text())
    assert ref["protocol"]["version"] == protocol.VERSION
    assert ref["protocol"]["sha256"] == protocol.sha256(), \
        "claims/PROTOCOL.md changed since the reference was decided: rerun sslre reproduce --profile quick --out reports/quick"
    assert {c["id"] for c in ref["claims"]} == set(CLAIM_IDS)
    assert all(c["verdict"] in ("supported", "refuted", "inconclusive") for c in ref["claims"])
