"""sslre.report.html: reproduction.json -> one self-contained reproduction.html."""
import base64
import copy
import json
import re
import struct
from pathlib import Path

import pytest

from sslre.report import ReportError, render_report
from sslre.report.html import render_html
from sslre.report.load import CATALOGUE_IDS

ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT / "fixtures" / "reproduction-quick.json"
PARTIAL = ROOT / "fixtures" / "reproduction-partial.json"


@pytest.fixture(scope="module")
def quick_data():
    return json.loads(QUICK.read_text())


@pytest.fixture(scope="module")
def quick_html(tmp_path_factory):
    out = render_report(QUICK, tmp_path_factory.mktemp("r") / "reproduction.html")
    return out.read_text(encoding="utf-8")


def write_json(tmp_path, obj, name="reproduction.json"):
    p = tmp_path / name
    p.write_text(json.dumps(obj), encoding="utf-8")
    return p


def test_fixture_covers_catalogue_and_every_kind(quick_data):
    # The fixture is only useful if it exercises what the renderer must handle.
    assert [c["id"] for c in quick_data["claims"]] == list(CATALOGUE_IDS)
    verdicts = {c["verdict"] for c in quick_data["claims"]}
    assert {"supported", "refuted", "inconclusive", "not run", "error"} <= verdicts
    kinds = {f["kind"] for c in quick_data["claims"] for f in (c.get("figures") or [])}
    assert kinds == {"line", "bar", "scatter"}
    assert any(c.get("figures") == [] for c in quick_data["claims"])
    assert quick_data["fixture"] is True


def test_every_claim_has_row_link_and_section(quick_html):
    for cid in CATALOGUE_IDS:
        assert f'href="#claim-{cid}"' in quick_html, cid
        assert f'<section class="claim" id="claim-{cid}">' in quick_html, cid
        assert f'id="row-claim-{cid}"' in quick_html, cid
    assert "Catalogue claims not recorded" not in quick_html


def test_summary_counts_come_from_the_claims(quick_html, quick_data):
    summary = re.search(r'<div class="summary" id="summary">(.*?)</div></div>', quick_html, re.S).group(0)
    for verdict in ("supported", "refuted", "inconclusive", "not run", "error"):
        n = sum(c["verdict"] == verdict for c in quick_data["claims"])
        assert re.search(rf"<b>{n}</b><span class=\"verdict v-{verdict.replace(' ', '-')}\"", summary), verdict


def test_metadata_block(quick_html):
    meta = re.search(r'<dl class="meta" id="run-metadata">(.*?)</dl>', quick_html, re.S).group(1)
    for text in ("quick", "synthetic", "RES-3-32", "0, 1, 2, 3, 4", "2 cores", "torch 2.14.1", "lightly 1.6.0",
                 "0000000fixture", "13 min 32 s", "make_fixtures.py", "10 runs"):
        assert text in meta, text


def test_verdicts_readable_without_colour(quick_html):
    # Word + symbol in every badge, so greyscale / print still distinguishes them.
    for word, sym in (("supported", "✔"), ("refuted", "✘"), ("inconclusive", "≈"), ("not run", "○"), ("error", "⚠")):
        assert f"{sym} {word}</span>" in quick_html


def test_fixture_banner_and_sections(quick_html):
    assert "FIXTURE — hand-made test data" in quick_html
    for anchor in ('id="how-to-read"', 'id="protocol"', 'id="protocol-table"', 'id="runs-table"', 'id="claims-table"'):
        assert anchor in quick_html
    assert "small profiles" in quick_html.lower() or "test the <em>direction</em>" in quick_html
    # Protocol texts are collected in the protocol section.
    protocol = quick_html.split('id="protocol-table"')[1]
    assert "MINE (5 seeds), shuffled-pairs null" in protocol


def test_figures_are_embedded_nonempty_pngs(quick_html, quick_data):
    srcs = re.findall(r'<img src="([^"]+)"', quick_html)
    n_figures = sum(len(c.get("figures") or []) for c in quick_data["claims"])
    assert len(srcs) == n_figures > 0
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        w, h = struct.unpack(">II", png[16:24])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and w > 100 and h > 100
    assert "Fig. 2 (left) — normalized NCC train accuracy" in quick_html
    assert "Fig. 1 — UMAP" in quick_html


def test_no_network_resources(quick_html):
    assert "<script" not in quick_html.lower()
    assert "<link" not in quick_html.lower()
    assert not re.search(r"""(src|href|srcset|poster|data)\s*=\s*["']?\s*(https?:)?//""", quick_html, re.I)
    assert not re.search(r"(url\(|@import)\s*['\"]?\s*(https?:)?//", quick_html, re.I)


def test_claim_without_figures_and_not_run_and_error(quick_html):
    section = quick_html.split('id="claim-sample-neural-collapse"')[1].split("</section>")[0]
    assert "No figure for this claim." in section and "<img" not in section
    not_run = quick_html.split('id="claim-cnn-targets-aligned"')[1].split("</section>")[0]
    assert "○ not run" in not_run and "Not run: not selected in this session" in not_run
    assert "Nothing was measured" in not_run and "<dl" not in not_run  # compact coverage entry
    err = quick_html.split('id="claim-width-and-depth"')[1].split("</section>")[0]
    assert "⚠ error" in err and "CheckpointError" in err and "Figures: not recorded." in err


def test_partial_fixture_renders_with_gaps_marked(tmp_path):
    out = render_report(PARTIAL, tmp_path / "partial.html")
    text = out.read_text(encoding="utf-8")
    for cid in ("sample-clusters-first", "mine-compression", "ncc-linear-ratio"):
        assert f'id="claim-{cid}"' in text
    assert "not recorded" in text and "—" in text
    assert "○ not run" in text  # "not_run" normalized
    assert "Figure not drawn" in text and "2 x values and 2 y values" not in text
    assert "3 x values and 2 y values" in text and "heatmap" in text
    assert "Catalogue claims not recorded in this file (13 of 16)" in text
    assert "this renderer knows version 1" in text
    # Missing statement / paper reference come from the embedded catalogue, marked as such.
    section = text.split('id="claim-mine-compression"')[1].split("</section>")[0]
    assert "Mutual information between input and representation decreases" in section
    assert "Sec. 4, Fig. 3 middle" in section and "(from the catalogue; not in this file)" in section
    # A claim ID unknown to the catalogue gets the plain placeholders.
    odd = render_html({"claims": [{"id": "not-in-catalogue"}]})
    assert "Statement not recorded." in odd and "paper reference not recorded" in odd
    # One valid figure still drawn.
    assert text.count('<img src="data:image/png;base64,') == 1


@pytest.mark.parametrize("data", [
    {}, {"claims": []}, {"schema_version": 99, "claims": [{}]}, {"claims": [None, 3, {"id": "x"}]},
    {"claims": [{"id": "a", "statistic": 3, "threshold": "big", "seeds": "0", "control": "none", "figures": {}}]},
    {"environment": {"hardware": "laptop", "wall_time_s": "long"}, "runs": {"r": "not a dict"}},
    {"claims": [{"id": "a", "figures": [None, {"kind": "line"}, {"kind": "bar", "series": [{"y": [1, 2]}]}]}]},
])
def test_odd_files_render_never_crash(tmp_path, data):
    out = render_report(write_json(tmp_path, data), tmp_path / "out.html")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    if not data.get("claims"):
        assert "No claims recorded" in text


def test_empty_claims_with_summary_says_so(tmp_path):
    text = render_report(write_json(tmp_path, {"claims": [], "summary": {"supported": 3}}), tmp_path / "o.html").read_text()
    assert "No claims are recorded in this file; its summary says: supported: 3" in text
    assert "(16 of 16)" in text


def test_summary_mismatch_is_flagged():
    data = {"summary": {"supported": 99, "refuted": 0}, "claims": [{"id": "a", "verdict": "supported"}]}
    text = render_html(data)
    assert "supported: file says 99, claims list has 1" in text and "refuted: file says" not in text


def test_supported_control_is_flagged():
    data = {"claims": [{"id": "x", "verdict": "supported",
                        "control": {"description": "perm", "verdict": "supported"}}]}
    assert "The control came out supported" in render_html(data)


def test_text_is_escaped():
    data = {"claims": [{"id": "x<y", "statement": "<script>alert(1)</script>", "reason": "a & b"}],
            "command": "pytest -k 'a<b'"}
    text = render_html(data)
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "a &amp; b" in text and 'id="claim-x-y"' in text


def test_duplicate_ids_get_unique_anchors():
    text = render_html({"claims": [{"id": "dup"}, {"id": "dup"}]})
    assert 'id="claim-dup"' in text and 'id="claim-dup-2"' in text


def test_default_output_beside_json_and_deterministic(tmp_path, quick_data):
    # A slice of the fixture (line with paper series, bar, scatter) keeps this fast.
    data = copy.deepcopy(quick_data)
    data["claims"] = [c for c in data["claims"] if c["id"] in ("sample-clusters-first", "mu-ablation", "umap-hierarchy")]
    src = write_json(tmp_path, data)
    out = render_report(src)
    assert out == tmp_path / "reproduction.html"
    first = out.read_bytes()
    assert render_report(src).read_bytes() == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_failed_render_keeps_previous_report(tmp_path):
    out = tmp_path / "reproduction.html"
    out.write_text("previous report")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ReportError):
        render_report(bad, out)
    assert out.read_text() == "previous report"


def test_output_may_not_overwrite_input(tmp_path):
    src = write_json(tmp_path, {"claims": []})
    with pytest.raises(ReportError, match="output path is the input JSON"):
        render_report(src, src)


def test_parts_table_shows_the_procedure(quick_data):
    """Per part: the per-seed statistic with its seeds, the test with df, p-values, Holm p, control and decision;
    the protocol section shows the version and the operating characteristics."""
    from sslre.claims.verdict import combine, decide_seeds, with_control

    data = copy.deepcopy(quick_data)
    part = with_control(decide_seeds({0: 0.5, 3: 0.6, 4: 0.55}, name="gain"),
                        decide_seeds({0: 0.01, 3: -0.02, 4: 0.0}, name="ctrl"), description="labels permuted")
    part.part_id = "a"
    combine([part])
    data["claims"][0]["parts"] = [part.to_json()]
    data["protocol"] = {"version": "9.9", "sha256": "ab" * 32, "alpha": 0.05, "min_seeds": 3,
                        "changelog": [{"date": "2026-12-02", "version": "9.9", "change": "a change"}]}
    data["calibration"] = {"source": "docs/calibration/quick.json",
                           "table": {"sample-clusters-first": {"null": {"supported": 0.01, "refuted": 0.04},
                                                               "planted": {"supported": 0.5},
                                                               "reversed": {"refuted": 0.6}, "sims": 300}}}
    page = render_html(data)
    assert 'class="parts"' in page and "s3: 0.6" in page and "df = 2" in page
    assert "labels permuted" in page and "Holm p" in page
    assert "protocol <b>v9.9</b>" in page and "a change" in page
    assert 'id="calibration-table"' in page and "0.04" in page
    old = copy.deepcopy(quick_data)
    old.pop("protocol", None)
    assert "decided by an older rule" in render_html(old)


def test_warnings_count_is_shown():
    from sslre.report.html import render_html

    page = render_html({"claims": [], "warnings": {"count": 2, "first": ["target level vit@0 is not usable: x"],
                                                   "logs": ["runs/quick/sslre.log"]}})
    assert "<dt>Warnings</dt><dd>2 " in page and "vit@0 is not usable" in page and "runs/quick/sslre.log" in page
    assert "<dt>Warnings</dt><dd>not recorded</dd>" in render_html({"claims": []})


def test_not_applicable_and_runs_missing_are_shown_apart(quick_data):
    data = copy.deepcopy(quick_data)
    na, nr = data["claims"][0], data["claims"][1]
    na.update(verdict="not applicable", statistic=None, figures=[], parts=[],
              reason="method byol has no regularization term (loss_terms = ('invariance',))")
    nr.update(verdict="not run", statistic=None, figures=[], parts=[], missing_runs=["vicreg-deep"],
              reason="run(s) vicreg-deep of profile full are missing",
              commands=["sslre train --profile full --method vicreg --seed 0 --run-dir x/vicreg-deep-s0"])
    nr["profile"] = "full"
    data["missing_runs"] = {"full": {"missing": ["vicreg-deep-s0"], "total": 32, "commands": nr["commands"]}}
    page = render_html(data)
    summary = page.split('id="summary"')[1].split("</div></div>")[0]
    assert '<div class="count"><b>1</b><span class="verdict v-not-applicable"' in summary
    sec_na = page.split(f'id="claim-{na["id"]}"')[1].split("</section>")[0]
    assert "∅ not applicable" in sec_na and "Not applicable: method byol has no regularization term" in sec_na
    sec_nr = page.split(f'id="claim-{nr["id"]}"')[1].split("</section>")[0]
    assert "○ not run" in sec_nr and "<code>sslre train --profile full --method vicreg --seed 0" in sec_nr
    assert (f"Partial run set: 1 of 32 runs of profile full are missing; 1 claim not run (<code>{nr['id']}</code>)"
            in page)
    assert ".v-not-applicable" in page


def test_regime_table_states_each_criterion(quick_data):
    """``regime`` (sslre.regime) is drawn as a table: each criterion met / NOT met / not measurable yet, with its
    values per run and what is missing."""
    from sslre.regime import Criterion

    data = copy.deepcopy(quick_data)
    crits = [Criterion("sample-plateau", "plateau", {"vicreg-s0": 0.05}, 0.02, False, "level 0.73"),
             Criterion("loss-flat", "flat", {"vicreg-s0": 0.001}, 0.02, True),
             Criterion("width-enough", "width", {}, 0.02, False, "", ("vicreg-wide-s0",))]
    data["regime"] = {"criteria": [c.to_dict() for c in crits], "met": False, "source": "test"}
    page = render_html(data)
    table = page[page.index('id="regime-table"'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr>") == 4
    assert "NOT met" in table and "<b>met</b>" in table and "not measurable yet" in table
    assert "vicreg-s0 0.050" in table and "missing: vicreg-wide-s0" in table
    assert 'id="regime-table"' not in render_html(quick_data)
