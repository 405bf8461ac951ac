"""A partial run set and a method without a loss split, through the product's claims conftest and claim files.

The claims' own ``conftest.py`` and two claim files run in a pytester session whose ``build_measurements`` returns
the synthetic known-answer table (``sslre.claims.synthetic``) with run ``vicreg-deep`` missing and the main run
trained with BYOL (its loss has only an invariance term).
"""
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import sklearn.metrics  # noqa: F401 - imported here: pytester's in-process runs restore sys.modules after each
import sslre.methods  # noqa: F401      run, and C extensions / torch's compiler modules import once per process

import sslre.measure
from sslre.claims.check import PARTIAL, check
from sslre.claims.synthetic import synthetic_measurements
from sslre.experiments import PartialRuns, claims_served

pytest_plugins = ["pytester"]

CLAIMS_DIR = Path(__file__).resolve().parents[2] / "claims"
DEEP_COMMAND = "sslre train --profile small --method vicreg --seed 0 --run-dir runs/small/vicreg-deep-s0"


def _fake_build(profile, runs_dir, **kw):
    m = synthetic_measurements(1.0)
    m.profile = profile
    m.table = m.table[m.table["run"] != "vicreg-deep"]
    m.runs.pop("vicreg-deep", None)
    m.runs["vicreg"] = [dataclasses.replace(i, config=i.config.replace(method="byol")) for i in m.runs["vicreg"]]
    m.partial = PartialRuns(profile, {"vicreg-deep": [DEEP_COMMAND]}, [("vicreg-deep", 0)], 32,
                            claims_served(profile))
    return m


@pytest.fixture
def session(pytester, monkeypatch):
    monkeypatch.setattr(sslre.measure, "build_measurements", _fake_build)
    shutil.copy(CLAIMS_DIR / "conftest.py", pytester.path / "conftest.py")
    for name in ("test_sec4_clustering.py", "test_sec6_layers.py"):
        shutil.copy(CLAIMS_DIR / name, pytester.path / name)
    out = pytester.path / "out"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--import-mode=importlib", "-m", "small",
                                          f"--sslre-report-dir={out}", "-rs")
    return result, json.loads((out / "reproduction.json").read_text()), out / "reproduction.json"


#: the claims of the two files whose code reads vicreg-deep
DEEP_CLAIMS = {"sample-clusters-first", "sample-neural-collapse", "ncc-linear-ratio", "ssl-vs-supervised-ncc",
               "depth-ordering"}


def test_claims_of_present_runs_decided_the_rest_not_run_with_commands(session):
    result, doc, _ = session
    v = {c["id"]: c for c in doc["claims"]}
    for cid in DEEP_CLAIMS:
        assert v[cid]["verdict"] == "not run", cid
        assert v[cid]["commands"] == [DEEP_COMMAND] and v[cid]["missing_runs"] == ["vicreg-deep"]
        assert "vicreg-deep" in v[cid]["reason"]
    assert v["semantic-gains-not-sample"]["verdict"] == "supported"
    assert v["mine-compression"]["verdict"] in ("supported", "inconclusive")
    assert "commands" not in v["semantic-gains-not-sample"]
    assert doc["missing_runs"] == {"small": {"missing": ["vicreg-deep-s0"], "total": 32, "commands": [DEEP_COMMAND]}}
    line = ("sslre: 1 of 32 runs of profile small are missing; 5 claims not run "
            "(their commands are in reproduction.json)")
    assert result.stdout.str().count(line) == 1
    result.assert_outcomes(passed=2, skipped=6)


def test_method_without_regularization_term_is_not_applicable(session):
    result, doc, _ = session
    (c,) = [c for c in doc["claims"] if c["id"] == "regularization-drives-learning"]
    assert c["verdict"] == "not applicable"
    assert "method byol has no regularization term (loss_terms = ('invariance',))" in c["reason"]
    assert doc["summary"]["not applicable"] == 1 and doc["summary"]["inconclusive"] == sum(
        x["verdict"] == "inconclusive" for x in doc["claims"])
    result.stdout.fnmatch_lines(["SKIPPED*not applicable: method byol has no regularization term*"])


def test_gate_tells_a_partial_reproduction_apart(session):
    _, doc, path = session
    problems, _, verdicts = check(path)
    assert verdicts["regularization-drives-learning"] == "not applicable"
    assert any("runs missing: vicreg-deep" in p for p in problems)
    assert PARTIAL == 3


def test_a_claim_of_a_diverged_run_says_why(pytester, monkeypatch):
    """A run whose training diverged (``PartialRuns.reasons``): its claims are not run, and say why."""
    def build(profile, runs_dir, **kw):
        m = _fake_build(profile, runs_dir, **kw)
        m.partial = dataclasses.replace(m.partial, reasons={
            "vicreg-deep": "vicreg-deep-s0 diverged: loss became nan at epoch 3, step 1; lower lr (now 0.025)"})
        return m

    monkeypatch.setattr(sslre.measure, "build_measurements", build)
    shutil.copy(CLAIMS_DIR / "conftest.py", pytester.path / "conftest.py")
    shutil.copy(CLAIMS_DIR / "test_sec6_layers.py", pytester.path / "test_sec6_layers.py")
    out = pytester.path / "out"
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "--import-mode=importlib", "-m", "small",
                                 f"--sslre-report-dir={out}", "-k", "depth")
    (c,) = [c for c in json.loads((out / "reproduction.json").read_text())["claims"] if c["id"] == "depth-ordering"]
    assert c["verdict"] == "not run" and c["commands"] == [DEEP_COMMAND]
    assert ("run(s) vicreg-deep of profile small are missing or unfinished (vicreg-deep-s0 diverged: loss became nan "
            "at epoch 3, step 1; lower lr (now 0.025); its folder keeps the reason: delete it to train again)") \
        in c["reason"]
