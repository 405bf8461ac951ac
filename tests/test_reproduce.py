"""`sslre reproduce` and the end-to-end pipeline (train -> features -> metrics -> Measurements) at tiny sizes."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import sslre.reproduce as R
from sslre import experiments as ex
from sslre.experiments import Coverage, TargetSettings
from sslre.profiles import MeasureSettings, SampleLevelSettings


def tiny_specs(names=("vicreg", "targets-resnet18"), seeds=(0, 1)) -> dict[str, ex.RunSpec]:
    """The quick registry shrunk to seconds: 96 train / 48 test images, RES-1-8, 2 epochs."""
    out = {}
    for name in names:
        spec = ex.runs_for("quick")[name]
        use = seeds if spec.kind == "train" else (0,)
        cfgs = tuple(spec.config.replace(seed=s, arch="RES-1-8", proj_hidden=16, proj_out=16, train_subset=96,
                                         test_subset=48, epochs=2, checkpoint_epochs=(0, 1, 2), batch_size=32,
                                         synthetic_classes=4, synthetic_superclasses=2) for s in use)
        tgt = TargetSettings(spec.target.kind, 2, (0, 1, 2), 32, 0.001, width=4, vit_dim=16, vit_depth=1,
                             vit_heads=2) if spec.target else None
        cov = dataclasses.replace(spec.coverage, umap=False)  # umap-learn's import + JIT alone take ~30 s
        out[name] = dataclasses.replace(spec, configs=cfgs, seeds=use, target=tgt, coverage=cov)
    return out


@pytest.mark.small  # ~1.5 min on an idle 2-core CPU (6 tiny trainings + MINE); far longer on a loaded one
def test_end_to_end_tiny_pipeline_is_deterministic(tmp_path, monkeypatch):
    from sslre.claims.statistics import curve
    from sslre.measure import build_measurements

    monkeypatch.setenv("SSLRE_JOBS", "2")  # the parallel pass, whatever the CPU count

    kw = dict(specs=tiny_specs(), progress=False, train_missing=True,
              settings=MeasureSettings(mine_seeds=(0, 1), mine_null_seeds=(0,), mine_images=64, mine_run_seeds=(0,),
                                       mine_kwargs=(("steps", 20), ("batch_size", 32))),
              sample_settings=SampleLevelSettings(6, 4, 2))
    lines = []
    m = build_measurements("quick", tmp_path / "a", status=lines.append, **kw)
    # the parallel pass says what it does: runs and checkpoints done out of total
    assert lines[0] == "measuring 2 runs (6 checkpoints) in 2 worker processes", lines
    assert any(line.startswith("measured 2/2 runs, 6/6 checkpoints") for line in lines), lines
    t = m.table
    assert set(t["run"]) == {"vicreg"} and m.seeds("vicreg") == [0, 1]
    assert set(t["epoch"]) == {0, 1, 2} and set(t["layer"].dropna()) == {0.0, 1.0}
    assert {"sample", "class", "superclass", "class-shuffled"} <= set(t["level"])
    assert {"ncc_train_acc", "ncc_test_acc", "linear_test_acc", "cdnv", "mine_mi", "mine_null", "loss_total"} <= \
        set(t["metric"])
    rnd = t[t.level == "random"]
    assert rnd["target"].str.startswith("resnet18@").all() and rnd["randomness"].between(0, 1).all()
    # random rows: the generator of the same seed (only seed 0 has one), only the levels the rule keeps (this
    # 96-image generator is mostly degenerate, so possibly none)
    lv = m.target_levels()
    assert sorted(zip(lv.seed, lv.target)) == [(0, "resnet18@0"), (0, "resnet18@1"), (0, "resnet18@2")]
    assert set(rnd.seed) <= {0} and set(rnd.target) == set(lv[~lv.excluded].target)
    assert len(m.checkpoints("vicreg")) == 6 and all(Path(p).exists() for p in m.checkpoints("vicreg"))
    s = curve(m, "vicreg", "ncc_test_acc", "class")
    assert list(s.index) == [0, 1, 2] and list(s.columns) == [0, 1]
    for d in ("vicreg-s0", "vicreg-s1"):
        assert (tmp_path / "a" / d / "measurements.csv").exists()
        assert (tmp_path / "a" / d / "features").is_dir()
    # determinism: the same seeds in a fresh runs dir give the same table
    m2 = build_measurements("quick", tmp_path / "b", **kw)
    pd.testing.assert_frame_equal(m.table, m2.table)


def test_small_never_trains_by_surprise(tmp_path):
    from sslre.measure import build_measurements

    with pytest.raises(ex.MissingRunsError, match="sslre train --profile small"):
        build_measurements("small", tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


def test_reproduce_runs_pytest_with_env(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(R, "ensure_runs", lambda profile, runs_dir, train_missing, progress, evidence: seen.update(
        profile=profile, runs_dir=runs_dir, train=train_missing, evidence=evidence))

    import json

    from sslre.claims.catalogue import CLAIM_IDS

    verdicts = ["refuted"] + ["supported"] * (len(CLAIM_IDS) - 1)

    def fake_call(cmd, cwd, env):
        seen.update(cmd=cmd, env=env)
        report = {"profile": "quick", "claims": [{"id": c, "verdict": v} for c, v in zip(CLAIM_IDS, verdicts)]}
        (Path(env["SSLRE_REPORT_DIR"]) / "reproduction.json").write_text(json.dumps(report))
        return 1  # pytest fails the refuted claim's test

    monkeypatch.setattr(subprocess, "call", fake_call)
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"claims": [{"id": c, "verdict": v} for c, v in zip(CLAIM_IDS, verdicts)]}))
    rc = R.reproduce("quick", tmp_path / "out", runs_dir=tmp_path / "runs", pytest_args=["-x"], against=ref, methods=["vicreg"])
    assert rc == 0  # every claim has a verdict: a refuted claim is a finding, not a failed reproduction run
    assert seen["profile"] == "quick" and seen["train"] is True
    assert seen["env"]["SSLRE_RUNS"] == str((tmp_path / "runs").resolve())
    assert seen["env"]["SSLRE_REPORT_DIR"] == str((tmp_path / "out").resolve())
    cmd = seen["cmd"]
    assert cmd[1:3] == ["-m", "pytest"] and cmd[cmd.index("-m", 3) + 1] == "quick" and cmd[-1] == "-x"
    assert cmd[3].endswith("claims")
    verdicts[1] = "error"
    assert R.reproduce("quick", tmp_path / "out", runs_dir=tmp_path / "runs", against=ref, methods=["vicreg"]) == 1
    # a supported <-> refuted flip against the reference fails the reproduction; a reference is read before the run
    verdicts[1] = "supported"
    ref.write_text(json.dumps({"claims": [{"id": c, "verdict": "supported"} for c in CLAIM_IDS]}))
    assert R.reproduce("quick", tmp_path / "out", runs_dir=tmp_path / "runs", against=ref, methods=["vicreg"]) == 1
    assert R.reproduce("quick", tmp_path / "out", runs_dir=tmp_path / "runs", against=tmp_path / "none.json", methods=["vicreg"]) == 2
    # quick publishes nothing; medium publishes each finished run under OUT/runs and the claims read it there
    assert seen["evidence"] is None
    R.reproduce("medium", tmp_path / "med", runs_dir=tmp_path / "runs", against=ref)
    assert seen["evidence"] == (tmp_path / "med").resolve() / "runs"
    assert seen["env"]["SSLRE_EVIDENCE"] == str((tmp_path / "med").resolve() / "runs")


def test_reproduce_missing_runs_returns_3_after_a_partial_report(tmp_path, capsys, monkeypatch):
    import json

    from sslre.claims.catalogue import CLAIM_IDS

    verdicts = {"rc": 0, "first": "supported"}

    def fake_call(cmd, cwd, env):   # the claims of the runs that exist are decided, the others are not run
        claims = [{"id": c, "verdict": "supported"} for c in CLAIM_IDS]
        claims[0].update(verdict=verdicts["first"], missing_runs=["vicreg-deep"])
        (Path(env["SSLRE_REPORT_DIR"]) / "reproduction.json").write_text(json.dumps({"profile": "small", "claims": claims}))
        return verdicts["rc"]

    monkeypatch.setattr(subprocess, "call", fake_call)
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"claims": [{"id": c, "verdict": "supported"} for c in CLAIM_IDS]}))
    rc = R.reproduce("small", tmp_path / "out", runs_dir=tmp_path / "runs", train=False, against=ref)
    assert rc == 3
    err = capsys.readouterr().err
    assert "sslre train --profile small --method vicreg --seed 0" in err and "a partial report" in err
    verdicts["first"] = "not run"
    assert R.reproduce("small", tmp_path / "out", runs_dir=tmp_path / "runs", train=False, against=ref) == 3
    verdicts["first"] = "error"        # a claim that errored is said as before
    assert R.reproduce("small", tmp_path / "out", runs_dir=tmp_path / "runs", train=False, against=ref) == 1


def test_reproduce_exit_code_ignores_xfail(tmp_path):
    """pytest maps inconclusive claims to xfail; a session of passes + xfails exits 0, a refuted claim exits 1."""
    (tmp_path / "test_x.py").write_text(
        "import pytest\n"
        "def test_ok(): pass\n"
        "def test_inconclusive(): pytest.xfail('within noise')\n")
    env = {**os.environ}
    rc = subprocess.call(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:sslre_claims",
                          str(tmp_path)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL)
    assert rc == 0
    (tmp_path / "test_y.py").write_text("def test_refuted(): assert False\n")
    rc = subprocess.call(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:sslre_claims",
                          str(tmp_path)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL)
    assert rc == 1


def test_reproduce_methods_writes_one_report_per_method_and_the_matrix(tmp_path, monkeypatch):
    """--methods: each method's claims run with SSLRE_METHOD set into its own folder; the first report (VICReg)
    gains the method x claim matrix; the check reads every method's report; a flip in one method's report against
    the reference's report of that method fails the reproduction."""
    import json

    from sslre.claims import check as C
    from sslre.claims.catalogue import CLAIM_IDS, CLAIM_METHOD

    trained = []
    monkeypatch.setattr(R, "ensure_matrix", lambda profile, methods, runs_dir, train, progress, evidence:
                        trained.extend(methods))
    verdict = {"byol": "refuted"}

    def fake_call(cmd, cwd, env, **kw):
        m = env[ex.METHOD_ENV]
        claims = [{"id": c, "verdict": "not applicable" if CLAIM_METHOD.get(c, m) != m else
                   verdict.get(m, "supported"), "profile": "quick"} for c in CLAIM_IDS]
        folder = Path(env["SSLRE_REPORT_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "reproduction.json").write_text(json.dumps({"profile": "quick", "method": m, "claims": claims}))
        return 1

    monkeypatch.setattr(subprocess, "call", fake_call)
    out = tmp_path / "out"
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"claims": []}))
    rc = R.reproduce("quick", out, runs_dir=tmp_path / "runs", against=empty, methods=["byol", "vicreg", "byol"])
    assert rc == 0
    assert trained == ["vicreg", "byol"]                       # VICReg first, repeats dropped
    doc = json.loads((out / "reproduction.json").read_text())
    assert doc["methods"]["order"] == ["vicreg", "byol"]
    assert doc["methods"]["reports"]["byol"] == "methods/byol/reproduction.html"
    assert doc["methods"]["verdicts"]["sample-clusters-first"] == {"vicreg": "supported", "byol": "refuted"}
    assert doc["methods"]["verdicts"]["mu-ablation"] == {"vicreg": "supported", "byol": "not applicable"}
    page = (out / "reproduction.html").read_text()
    assert 'id="methods-matrix"' in page and 'href="methods/byol/reproduction.html#claim-sample-clusters-first"' in page
    assert "vicreg ablation" in page                          # mu-ablation's byol cell: not a verdict of byol
    assert [m for m, _, _ in C.method_reports(out / "reproduction.json")] == ["byol"]
    assert C.main([str(out / "reproduction.json"), "--profile", "quick"]) == 0
    # the reference now holds this matrix: byol flipping from refuted to supported fails, VICReg's report is fine
    ref = tmp_path / "ref"
    import shutil

    shutil.copytree(out, ref)
    verdict["byol"] = "supported"
    assert R.reproduce("quick", out, runs_dir=tmp_path / "runs", against=ref / "reproduction.json",
                       methods=["vicreg", "byol"]) == 1
    assert C.main([str(out / "reproduction.json"), "--profile", "quick", "--against", str(ref / "reproduction.json")]) == 1
    verdict["byol"] = "refuted"
    assert R.reproduce("quick", out, runs_dir=tmp_path / "runs", against=ref / "reproduction.json",
                       methods=["vicreg", "byol"]) == 0


@pytest.mark.parametrize("methods, problem", [(["supervised"], "not an SSL method"), (["nosuch"], "nosuch")])
def test_reproduce_methods_bad_method_is_one_line(methods, problem):
    from sslre.config import ConfigError

    with pytest.raises(ConfigError, match=problem):
        R._method_order(methods)

def _tree(root: Path, n_train: int, n_test: int = 2, classes=("a", "b")) -> Path:
    """``root/{train,test}/<class>/i.png``: tiny one-colour images, ``n_train`` / ``n_test`` per class."""
    import numpy as np
    from PIL import Image

    for split, n in (("train", n_train), ("test", n_test)):
        for k, cls in enumerate(classes):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(np.full((8, 8, 3), 50 * k + i, np.uint8)).save(root / split / cls / f"{i}.png")
    return root


def _one_line(capsys, rc, needle):
    err = capsys.readouterr().err.strip()
    assert rc == 3 and needle in err and "\n" not in err and err.startswith("sslre: data error: "), (rc, err)


@pytest.mark.parametrize("n_train, n_test, classes, needle", [
    (20, 2, ("a", "b"), "train holds 40 images; profile quick needs at least 64 (SSL batches of 64"),
    (40, 2, ("a",), "holds 1 class folder; the probes and the claims need at least 2"),
    (40, 0, ("a", "b"), "test holds no image"),
])
def test_reproduce_refuses_a_tree_too_small_before_training(tmp_path, capsys, n_train, n_test, classes, needle):
    """A user's tree the profile cannot train or measure on is one line (exit code 3) before any run folder exists."""
    from sslre.cli import main

    tree = _tree(tmp_path / "tree", n_train, n_test, classes)
    if n_test == 0:
        for cls in classes:
            (tree / "test" / cls).rmdir()
    rc = main(["reproduce", "--profile", "quick", "--dataset", f"imagefolder:{tree}", "--runs-dir",
               str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    _one_line(capsys, rc, needle)
    assert not any((tmp_path / "runs").glob("*-s*"))


def test_reproduce_names_a_bad_hierarchy_before_training(tmp_path, capsys):
    from sslre.cli import main

    tree = _tree(tmp_path / "tree", 40)
    (tmp_path / "h.json").write_text(json.dumps({"letters": ["a"]}))
    rc = main(["reproduce", "--profile", "quick", "--dataset", f"imagefolder:{tree}", "--hierarchy",
               str(tmp_path / "h.json"), "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    _one_line(capsys, rc, f"hierarchy file {tmp_path / 'h.json'}: no superclass for class 'b' of the tree")
    assert not any((tmp_path / "runs").glob("*-s*"))


# --- --device cuda ------------------------------------------------------------------------------------------------


def test_device_cuda_without_a_gpu_is_one_config_error_before_anything(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(R, "ensure_runs", lambda *a, **k: pytest.fail("nothing may train"))
    with pytest.raises(R.ConfigError, match=r"--device cuda, but torch.cuda.is_available\(\) is False"):
        R.reproduce("medium", tmp_path / "out", tmp_path / "runs", device="cuda")
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()
    with pytest.raises(R.ConfigError, match="allowed: cuda"):
        R.device_env("tpu")
    assert R.device_env(None) == {}


def test_a_gpu_reproduction_never_publishes_over_the_cpu_runs(tmp_path, monkeypatch):
    """--device cuda into a report folder that holds the profile's CPU runs is refused before anything trains:
    publishing would replace them."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(R, "ensure_runs", lambda *a, **k: pytest.fail("nothing may train"))
    monkeypatch.delenv(ex.DEVICE_ENV, raising=False)
    spec = ex.runs_for("medium")["supervised"]
    folder = spec.run_dir(tmp_path / "out" / "runs", 2)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(spec.config_for(2).to_dict()))
    with pytest.raises(R.ConfigError, match=r"holds 1 published run\(s\) of another config.*supervised-s2.*own --out"):
        R.reproduce("medium", tmp_path / "out", tmp_path / "runs", device="cuda")
    assert ex.DEVICE_ENV not in os.environ   # the environment is restored
    assert json.loads((folder / "config.json").read_text())["device"] == "auto"


def test_the_cli_says_in_one_line_that_there_is_no_gpu(tmp_path, monkeypatch, capsys):
    import torch

    from sslre import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["reproduce", "--profile", "medium", "--out", str(tmp_path / "o"), "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "torch.cuda.is_available() is False" in err
