"""The CI gate on the claims: every catalogue claim must have a verdict; refuted is a finding, not a failure."""
import json

from sslre.claims.catalogue import CLAIM_IDS
from sslre.claims.check import check, main


def _report(tmp_path, verdicts, profile="quick", control=None):
    claims = [{"id": cid, "verdict": v, "control": control or {"verdict": "inconclusive"}}
              for cid, v in zip(CLAIM_IDS, verdicts)]
    path = tmp_path / "reproduction.json"
    path.write_text(json.dumps({"profile": profile, "claims": claims}))
    return path


def test_all_decided_passes_even_when_refuted(tmp_path):
    verdicts = ["refuted", "supported", "inconclusive"] * 6
    path = _report(tmp_path, verdicts[: len(CLAIM_IDS)])
    problems, warns, got = check(path, "quick")
    assert problems == [] and warns == []
    assert main([str(path), "--profile", "quick"]) == 0


def test_error_not_run_and_missing_claims_are_problems(tmp_path):
    verdicts = ["supported"] * len(CLAIM_IDS)
    verdicts[0], verdicts[1] = "error", "not run"
    path = _report(tmp_path, verdicts[:-1])  # the last claim is missing
    problems, _, _ = check(path, "quick")
    assert len(problems) == 3
    assert any(CLAIM_IDS[0] in p and "error" in p for p in problems)
    assert any(CLAIM_IDS[-1] in p and "missing" in p for p in problems)
    assert main([str(path)]) == 1


def test_wrong_profile_unreadable_and_supported_control(tmp_path):
    path = _report(tmp_path, ["supported"] * len(CLAIM_IDS), profile="small", control={"verdict": "supported"})
    problems, warns, _ = check(path, "quick")
    assert problems == ["report profile is 'small', expected 'quick'"]
    assert len(warns) == len(CLAIM_IDS)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    problems, _, _ = check(bad)
    assert len(problems) == 1 and "cannot read" in problems[0]


def _named(tmp_path, name, verdicts, version="2.0"):
    path = _report(tmp_path, verdicts)
    doc = json.loads(path.read_text())
    doc["protocol"] = {"version": version}
    target = tmp_path / name
    target.write_text(json.dumps(doc))
    return target


def test_against_fails_only_on_a_supported_refuted_flip(tmp_path, capsys):
    n = len(CLAIM_IDS)
    ref = _named(tmp_path, "ref.json", ["supported"] * n)
    same = _named(tmp_path, "same.json", ["supported"] * n)
    assert main([str(same), "--against", str(ref)]) == 0
    softer = _named(tmp_path, "softer.json", ["inconclusive"] + ["supported"] * (n - 1))
    assert main([str(softer), "--against", str(ref)]) == 0
    assert f"changed (allowed): {CLAIM_IDS[0]}: supported -> inconclusive" in capsys.readouterr().out
    flipped = _named(tmp_path, "flip.json", ["supported"] * (n - 1) + ["refuted"])
    assert main([str(flipped), "--against", str(ref)]) == 1
    assert f"{CLAIM_IDS[-1]}: supported in the reference, refuted here" in capsys.readouterr().err


def test_against_warns_on_another_protocol_and_refuses_a_missing_reference(tmp_path, capsys):
    n = len(CLAIM_IDS)
    ref = _named(tmp_path, "ref.json", ["supported"] * n, version="1")
    new = _named(tmp_path, "new.json", ["supported"] * n)
    assert main([str(new), "--against", str(ref)]) == 0
    assert "protocol v1" in capsys.readouterr().out
    assert main([str(new), "--against", str(tmp_path / "nope.json")]) == 2


def test_not_applicable_is_a_verdict_and_no_flip(tmp_path, capsys):
    n = len(CLAIM_IDS)
    path = _named(tmp_path, "na.json", ["not applicable"] + ["supported"] * (n - 1))
    problems, _, got = check(path, "quick")
    assert problems == [] and got[CLAIM_IDS[0]] == "not applicable"
    ref = _named(tmp_path, "ref.json", ["supported"] * n)
    assert main([str(path), "--against", str(ref)]) == 0
    out = capsys.readouterr().out
    assert f"changed (allowed): {CLAIM_IDS[0]}: supported -> not applicable" in out
    assert "1 not applicable" in out


def test_claims_not_run_for_missing_runs_give_their_own_status(tmp_path, capsys):
    path = _report(tmp_path, ["supported"] * len(CLAIM_IDS))
    doc = json.loads(path.read_text())
    doc["claims"][0].update(verdict="not run", reason="run(s) vicreg-deep are missing", missing_runs=["vicreg-deep"],
                            commands=["sslre train --seed 0"])
    path.write_text(json.dumps(doc))
    problems, _, _ = check(path)
    assert problems == [f"{CLAIM_IDS[0]}: runs missing: vicreg-deep (run(s) vicreg-deep are missing)"]
    assert main([str(path)]) == 3                        # a partial reproduction, told apart from a complete one
    doc["claims"][1]["verdict"] = "error"                # any other problem: 1, as before
    path.write_text(json.dumps(doc))
    assert main([str(path)]) == 1
