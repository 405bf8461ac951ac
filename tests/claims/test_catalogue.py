"""The embedded claim catalogue (sslre/claims/catalogue.py) matches the shared catalogue."""
from pathlib import Path

import pytest

from sslre.claims.catalogue import BY_ID, CATALOGUE, CLAIM_IDS, entry, parse_catalogue

SHARED = Path(__file__).resolve().parents[3] / "shared" / "claims-catalogue.md"


def test_sixteen_unique_ids():
    assert len(CLAIM_IDS) == 16
    assert len(set(CLAIM_IDS)) == 16
    assert all(e.statement and e.paper for e in CATALOGUE)


@pytest.mark.skipif(not SHARED.exists(), reason="shared catalogue not present beside the repo")
def test_embedded_copy_matches_shared_file():
    assert parse_catalogue(SHARED.read_text()) == CATALOGUE


def test_parse_rows_and_error():
    text = "| ID | Paper | Claim | What |\n|---|---|---|---|\n| `a-b` | Sec. 1 | It holds. | x |\n"
    (e,) = parse_catalogue(text)
    assert (e.id, e.paper, e.statement, e.measured) == ("a-b", "Sec. 1", "It holds.", "x")
    with pytest.raises(ValueError, match="no claim rows"):
        parse_catalogue("nothing here")


def test_entry_lookup():
    assert entry("mu-ablation") is BY_ID["mu-ablation"]
    with pytest.raises(KeyError, match="not in the catalogue"):
        entry("no-such-claim")
