"""The claims pytest plugin (sslre/claims/plugin.py), exercised through pytester sessions."""
import json

import pytest

from sslre.claims import protocol as _protocol   # imported here: pytester's runs keep modules imported before them
from sslre.claims.catalogue import CLAIM_IDS
from sslre.claims.plugin import ClaimRecord, build_report

pytest_plugins = ["pytester"]

HEADER = """
import pytest
from sslre.claims import protocol
from sslre.claims.protocol import ClaimSpec, PartSpec
from sslre.claims.verdict import Verdict, decide_seeds

# A test protocol: every claim used here has part "a" (x > 0, with a null) and part "b" (x > 0, no null).
protocol._CACHE.clear()
protocol._CACHE.update({cid: ClaimSpec(cid, (PartSpec("a", "s", "x", control="labels permuted"),
                                              PartSpec("b", "s", "x", no_null="none exists", profiles=("full",))))
                        for cid in ("mu-ablation", "depth-ordering", "mine-compression", "umap-hierarchy",
                                    "width-and-depth", "other-datasets")})
UP, DOWN, FLAT = [0.5, 0.6, 0.55], [-0.5, -0.6, -0.55], [0.1, -0.1, 0.02]
"""


@pytest.fixture(autouse=True)
def _real_protocol_afterwards():
    """The sessions below install a test protocol; the real one is reloaded lazily afterwards."""
    yield
    _protocol._CACHE.clear()


def _run(pytester, body, *args):
    pytester.makepyfile(test_c=HEADER + body)
    report_dir = pytester.path / "out"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--sslre-report-dir={report_dir}", *args)
    path = report_dir / "reproduction.json"
    return result, (json.loads(path.read_text()) if path.exists() else None)


UP_ = [0.5, 0.6, 0.55]


def _claim(doc, cid):
    (c,) = [c for c in doc["claims"] if c["id"] == cid]
    return c


def test_unknown_keyword_is_a_usage_error(pytester):
    result, _ = _run(pytester, """
@pytest.mark.claim(id="mu-ablation", figure="10")
def test_x(claim_record):
    pass
""")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown keyword(s) ?'figure'?; allowed: id, paper*"])


def test_id_must_be_in_catalogue(pytester):
    result, _ = _run(pytester, """
@pytest.mark.claim(id="made-up-claim", paper="Sec. 9")
def test_x(claim_record):
    pass
""")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*id='made-up-claim' is not a catalogue ID*"])


@pytest.mark.parametrize("marker,message", [
    ('@pytest.mark.claim("mu-ablation")', "*keywords only*"),
    ('@pytest.mark.claim(paper="Sec. 4")', "*needs the keyword id=*"),
])
def test_positional_or_missing_id(pytester, marker, message):
    result, _ = _run(pytester, f"""
{marker}
def test_x(claim_record):
    pass
""")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


OUTCOMES = """
@pytest.mark.claim(id="mu-ablation", paper="App. B.3")
def test_supported(claim_record):
    claim_record.part("a", decide_seeds(UP, name="gap", source="paper words"), control=decide_seeds(FLAT, name="c"))
    claim_record.set(paper_value="0.41", protocol="p")
    claim_record.figure("f", "t", [{"label": "a", "x": [0, 1], "y": [0.1, float("nan")]}])
    claim_record.conclude()

@pytest.mark.claim(id="depth-ordering")
def test_refuted(claim_record):
    claim_record.part("a", decide_seeds(DOWN, name="slope"), control=decide_seeds(FLAT, name="c"))
    claim_record.conclude()

@pytest.mark.claim(id="mine-compression")
def test_inconclusive(claim_record):
    claim_record.part("a", decide_seeds(FLAT, name="drop"), control=decide_seeds(FLAT, name="c"))
    claim_record.conclude()

@pytest.mark.claim(id="umap-hierarchy")
def test_control_supported(claim_record):
    claim_record.part("a", decide_seeds(UP, name="gain"), control=decide_seeds(UP, name="ctrl gain"))
    claim_record.conclude()

@pytest.mark.claim(id="width-and-depth")
def test_crashes(claim_record):
    raise RuntimeError("boom in the statistic")

@pytest.mark.claim(id="other-datasets")
def test_absent_run(claim_record):
    claim_record.inconclusive("vicreg-other is absent at this profile")
"""


@pytest.fixture
def outcome_session(pytester):
    return _run(pytester, OUTCOMES, "-rA")


def test_outcome_mapping(outcome_session):
    result, _ = outcome_session
    result.assert_outcomes(passed=1, failed=2, xfailed=3)
    out = result.stdout.str()
    assert "refuted: part a is on the wrong side" in out
    assert "inconclusive: part a is not supported: drop = 0.006667" in out   # the xfail reason is shown
    assert "part a is void: its control came out supported" in out
    assert "boom in the statistic" in out


def test_json_verdicts_and_evidence(outcome_session):
    _, doc = outcome_session
    assert doc["schema_version"] == 2
    assert doc["protocol"]["version"] and len(doc["protocol"]["sha256"]) == 64
    assert _claim(doc, "mu-ablation")["verdict"] == "supported"
    assert _claim(doc, "depth-ordering")["verdict"] == "refuted"
    assert _claim(doc, "mine-compression")["verdict"] == "inconclusive"
    ctrl = _claim(doc, "umap-hierarchy")
    assert ctrl["verdict"] == "inconclusive" and "void" in ctrl["reason"]
    assert ctrl["control"]["verdict"] == "supported" and ctrl["parts"][0]["void"]
    err = _claim(doc, "width-and-depth")
    assert err["verdict"] == "error" and "RuntimeError: boom" in err["reason"]
    assert _claim(doc, "other-datasets")["reason"] == "vicreg-other is absent at this profile"
    sup = _claim(doc, "mu-ablation")
    assert sup["statistic"]["value"] == pytest.approx(0.55) and sup["statistic"]["noise"] == pytest.approx(0.05)
    assert sup["statistic"]["per_seed"] == pytest.approx(UP_) and sup["seeds"] == [0, 1, 2]
    assert sup["threshold"] == {"op": ">", "value": 0.0, "source": "paper words"}
    (part,) = sup["parts"]                                  # part b is full-only: not part of this profile
    assert part["part_id"] == "a" and part["test"]["df"] == 2 and part["test"]["p_support"] < 0.05
    assert sup["paper_value"] == "0.41" and sup["paper_ref"] == "App. B.3"
    assert sup["control"]["verdict"] == "inconclusive"
    assert sup["figures"][0]["series"][0]["y"] == [pytest.approx(0.1), None]     # NaN -> null
    assert sup["nodeid"].endswith("test_supported") and sup["duration_s"] >= 0


def test_json_lists_every_catalogue_claim(outcome_session):
    _, doc = outcome_session
    assert {c["id"] for c in doc["claims"]} == set(CLAIM_IDS)
    not_run = [c for c in doc["claims"] if c["verdict"] == "not run"]
    assert len(not_run) == 16 - 6
    assert all(c["statistic"] is None and c["statement"] for c in not_run)
    assert doc["summary"] == {"supported": 1, "refuted": 1, "inconclusive": 3, "not run": 10, "error": 1,
                             "not applicable": 0}
    assert "no part b" not in json.dumps(doc)
    env = doc["environment"]
    for key in ("python", "torch", "hardware", "git_sha", "git_dirty", "wall_time_s"):
        assert key in env
    assert env["hardware"]["cores"] >= 1
    assert doc["command"].startswith("pytest")


def test_no_claims_no_report(pytester):
    result, doc = _run(pytester, "def test_plain():\n    assert 1 + 1 == 2\n")
    result.assert_outcomes(passed=1)
    assert doc is None


def test_report_dir_from_environment(pytester, monkeypatch):
    target = pytester.path / "from-env"
    monkeypatch.setenv("SSLRE_REPORT_DIR", str(target))
    pytester.makepyfile(test_c=HEADER + """
@pytest.mark.claim(id="mu-ablation")
def test_s(claim_record):
    claim_record.conclude(Verdict.SUPPORTED, "given")
""")
    pytester.runpytest_inprocess("-p", "no:cacheprovider")
    doc = json.loads((target / "reproduction.json").read_text())
    assert _claim(doc, "mu-ablation")["verdict"] == "supported"


def test_test_without_conclude_is_an_error(pytester):
    result, doc = _run(pytester, """
@pytest.mark.claim(id="mu-ablation")
def test_forgot(claim_record):
    claim_record.part("a", decide_seeds(UP), control=decide_seeds(FLAT))
""")
    result.assert_outcomes(failed=1)
    assert _claim(doc, "mu-ablation")["verdict"] == "error"


def test_html_failure_is_a_warning_not_a_loss(pytester, monkeypatch):
    import sslre.report.html as html

    def broken(json_path, output_path):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(html, "render_report", broken)
    result, doc = _run(pytester, """
@pytest.mark.claim(id="mu-ablation")
def test_s(claim_record):
    claim_record.conclude(Verdict.SUPPORTED, "given")
""")
    assert result.ret == 0
    assert _claim(doc, "mu-ablation")["verdict"] == "supported"
    result.stdout.fnmatch_lines(["*HTML report not rendered*renderer exploded*"])


def test_build_report_without_records_lists_all_as_not_run():
    doc = build_report([], command="pytest claims", env={})
    assert [c["id"] for c in doc["claims"]] == list(CLAIM_IDS)
    assert doc["summary"]["not run"] == 16 and doc["profile"] is None


def test_not_run_entries_have_the_record_fields_in_order_without_parts_and_notes():
    doc = build_report([], command="pytest claims", env={})
    record = ClaimRecord(CLAIM_IDS[0], "n").data
    assert list(doc["claims"][0]) == [k for k in record if k not in ("parts", "notes")]
    assert doc["claims"][0]["statement"] == record["statement"] and doc["claims"][0]["verdict"] == "not run"


def test_a_part_decided_against_its_protocol_is_an_error(pytester):
    result, doc = _run(pytester, """
@pytest.mark.claim(id="mu-ablation")
def test_wrong(claim_record):
    claim_record.part("a", decide_seeds(UP, 0.0, "<"), control=decide_seeds(FLAT, 0.0, "<"))
    claim_record.conclude()

@pytest.mark.claim(id="depth-ordering")
def test_missing_part(claim_record):
    claim_record.part("z", decide_seeds(UP))
""")
    result.assert_outcomes(failed=2)
    assert "decided as < 0.0, protocol says > 0.0" in _claim(doc, "mu-ablation")["reason"]
    assert "no part 'z'" in _claim(doc, "depth-ordering")["reason"]


def test_an_undecided_protocol_part_counts_as_unsupported(pytester):
    result, doc = _run(pytester, """
@pytest.mark.claim(id="mu-ablation")
def test_half(claim_record):
    claim_record.data["profile"] = "full"                 # at full the protocol also has part b (no null)
    claim_record.part("a", decide_seeds(UP), control=decide_seeds(FLAT))
    claim_record.conclude()
""")
    c = _claim(doc, "mu-ablation")
    assert c["verdict"] == "inconclusive" and [p["part_id"] for p in c["parts"]] == ["a", "b"]
    assert "part b is not supported" in c["reason"]


def test_report_paths_are_portable(tmp_path, monkeypatch):
    from pathlib import Path

    from sslre.claims.plugin import portable_path

    monkeypatch.setenv("SSLRE_RUNS", str(tmp_path))
    assert portable_path(tmp_path / "vicreg-s0" / "checkpoints" / "epoch_0000.pt") == \
        "$SSLRE_RUNS/vicreg-s0/checkpoints/epoch_0000.pt"
    repo = Path(__file__).resolve().parents[2]
    assert portable_path(repo / "claims") == "claims"


NOT_DECIDED = """
class M:
    profile, dataset, runs = "full", "cifar100", {}
    absent = {"vicreg-deep": ["sslre train --profile full --seed 0"]}

    def has(self, run):
        return run == "vicreg"

@pytest.mark.claim(id="depth-ordering")
def test_reads_a_missing_run(claim_record):
    claim_record.require(M(), "vicreg-deep")
    raise AssertionError("not reached")

@pytest.mark.claim(id="mine-compression")
def test_cannot_apply(claim_record):
    claim_record.use(M())
    claim_record.not_applicable("method byol has no regularization term")
"""


def test_not_applicable_and_missing_run_are_skips_with_their_reasons(pytester):
    result, doc = _run(pytester, NOT_DECIDED, "-rs")
    result.assert_outcomes(skipped=2)
    out = result.stdout.str()
    assert "not applicable: method byol has no regularization term" in out
    assert "not run: run(s) vicreg-deep of profile full are missing or unfinished" in out
    na, nr = _claim(doc, "mine-compression"), _claim(doc, "depth-ordering")
    assert na["verdict"] == "not applicable" and na["reason"] == "method byol has no regularization term"
    assert na["profile"] == "full" and "commands" not in na
    assert nr["verdict"] == "not run" and nr["commands"] == ["sslre train --profile full --seed 0"]
    assert doc["summary"]["not applicable"] == 1 and doc["summary"]["inconclusive"] == 0
    assert "missing_runs" not in doc            # no partial run set was noted in this session


def test_portable_command_writes_the_runs_folder_as_a_variable(monkeypatch, tmp_path):
    """Commands in a committed report (a partial run set's missing runs) name no machine's folders."""
    from sslre.claims.plugin import portable_command

    monkeypatch.setenv("SSLRE_RUNS", str(tmp_path / "runs"))
    cmd = f"sslre train --profile medium --seed 0 --run-dir {tmp_path / 'runs' / 'vicreg-deep-s0'}"
    assert portable_command(cmd) == "sslre train --profile medium --seed 0 --run-dir $SSLRE_RUNS/vicreg-deep-s0"
    monkeypatch.delenv("SSLRE_RUNS")
    assert portable_command(cmd) == cmd


def test_a_role_the_profile_leaves_out_of_a_column_says_why():
    """quick's matrix trains main and deep for the other methods: a claim reading their narrow, wide or other run
    says so (and which profiles decide it), where VICReg's column and the small profile have the run."""
    from types import SimpleNamespace

    from sslre.claims.plugin import absent_reason

    byol_quick = SimpleNamespace(method="byol", profile="quick")
    why = absent_reason(byol_quick, "vicreg-narrow")
    assert why is not None and "not trained for byol at the quick profile" in why and "vicreg, vicreg-deep" in why
    assert absent_reason(byol_quick, "vicreg-deep") is None                       # trained in every column
    assert absent_reason(SimpleNamespace(method="vicreg", profile="quick"), "vicreg-narrow") is None
    assert absent_reason(SimpleNamespace(method="byol", profile="small"), "vicreg-wide") is None
    assert absent_reason(SimpleNamespace(method="byol", profile="no-such-profile"), "vicreg-wide") is None


def test_a_published_run_without_checkpoints_lists_the_epochs_it_was_measured_at():
    from types import SimpleNamespace

    from sslre.claims.plugin import _run_entry
    from sslre.config import profile_config

    cfg = profile_config("medium")
    published = SimpleNamespace(config=cfg, seed=0, run_dir="reports/cifar10-medium/runs/vicreg-s0", checkpoints={})
    assert _run_entry("vicreg", published)["checkpoint_epochs"] == sorted(cfg.checkpoint_epochs)
    trained = SimpleNamespace(config=cfg, seed=0, run_dir="r", checkpoints={0: "a", 64: "b"})
    assert _run_entry("vicreg", trained)["checkpoint_epochs"] == [0, 64]
