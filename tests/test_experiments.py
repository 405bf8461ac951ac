"""The run registry: every claim is served, every config is valid, commands reproduce the registry configs."""
from __future__ import annotations

import json
import re
import shlex
import sys
import types
from pathlib import Path

import pytest

from sslre import experiments as ex
from sslre.config import PROFILES_NAMES, Config, parse_arch, profile_config
from sslre.profiles import SampleLevelSettings, profile

CATALOGUE = Path(__file__).resolve().parents[2] / "shared" / "claims-catalogue.md"  # ../shared beside the repo
PROFILES = PROFILES_NAMES


def _catalogue_ids() -> set[str]:
    if CATALOGUE.exists():
        return set(re.findall(r"^\|\s*`([a-z0-9-]+)`\s*\|", CATALOGUE.read_text(), flags=re.M))
    return set(ex.CLAIM_IDS)


def test_claim_ids_match_catalogue():
    assert set(ex.CLAIM_IDS) == _catalogue_ids()
    assert len(ex.CLAIM_IDS) == 16


@pytest.mark.parametrize("profile", PROFILES)
def test_every_claim_is_served(profile):
    served = ex.claims_served(profile)
    unserved = sorted(c for c in _catalogue_ids() if not served.get(c))
    # quick without the CIFAR-10 archive has no vicreg-other: the claim records inconclusive, never fakes.
    allowed = {"other-datasets"} if profile == "quick" and not ex._cifar10_archive_present() else set()
    assert set(unserved) <= allowed, f"claims without a run at {profile}: {unserved}"
    unknown = {c for spec in ex.runs_for(profile).values() for c in spec.claims} - _catalogue_ids()
    assert not unknown


@pytest.mark.parametrize("profile", PROFILES)
def test_registry_configs_valid_and_related(profile):
    specs = ex.runs_for(profile)
    for name, spec in specs.items():
        assert spec.name == name
        assert len(spec.configs) == len(spec.seeds) > 0
        for seed, cfg in zip(spec.seeds, spec.configs):
            assert isinstance(cfg, Config) and cfg.seed == seed and cfg.profile == profile
            assert Config.from_dict(cfg.to_dict()) == cfg          # valid and round-trips
            assert 0 in cfg.checkpoint_epochs and cfg.epochs in cfg.checkpoint_epochs
    base_depth, base_width = parse_arch(specs["vicreg"].config.arch)
    assert specs["vicreg"].config.arch == profile_config(profile).arch
    assert parse_arch(specs["vicreg-deep"].config.arch)[0] > base_depth
    assert parse_arch(specs["vicreg-narrow"].config.arch)[1] < base_width < parse_arch(specs["vicreg-wide"].config.arch)[1]
    assert [specs[n].config.vicreg_mu for n in ("vicreg-mu5", "vicreg", "vicreg-mu100")] == [5.0, 25.0, 100.0]
    v = specs["vicreg"].config
    assert (v.vicreg_lambda, v.vicreg_nu, v.method) == (25.0, 1.0, "vicreg")
    assert specs["vicreg"].seeds == ((0, 1, 2, 3, 4) if profile == "quick" else (0, 1, 2))
    # PROTOCOL.md: every run a decision reads has >= 3 seeds of its own (generators: one per seed and family)
    assert all(len(s.seeds) >= 3 for s in specs.values())
    # one random-target generator per seed and family, the seeds of the other runs
    assert specs["targets-resnet18"].seeds == specs["targets-vit"].seeds == specs["simclr"].seeds == (0, 1, 2)
    assert specs["supervised"].config.arch == specs["vicreg-deep"].config.arch      # Fig. 3 right: same arch
    assert specs["supervised-aa"].config.autoaugment and not specs["supervised"].config.autoaugment
    assert specs["simclr"].config.method == "simclr"
    assert {specs[n].target.kind for n in ("targets-resnet18", "targets-vit")} == {"resnet18", "vit"}
    for n in ("targets-resnet18", "targets-vit"):
        t = specs[n].target
        assert t.snapshot_epochs[0] == 0 and t.snapshot_epochs[-1] == t.epochs
    assert specs["vicreg"].coverage.mine and specs["vicreg"].coverage.umap
    assert not any(s.coverage.mine for n, s in specs.items() if n != "vicreg")


def test_paper_scale_archs():
    specs = ex.runs_for("full")
    assert {n: specs[n].config.arch for n in ("vicreg", "vicreg-deep", "vicreg-narrow", "vicreg-wide")} == {
        "vicreg": "RES-5-250", "vicreg-deep": "RES-10-250", "vicreg-narrow": "RES-5-50", "vicreg-wide": "RES-5-1000"}
    assert specs["vicreg-other"].config.dataset == "cifar10"
    assert profile("full").sample_level == SampleLevelSettings(500, 100, 20)
    assert len(profile("full").measure.mine_seeds) == 5
    small = ex.runs_for("small")
    assert small["vicreg-other"].kind == "alias" and small["vicreg-other"].alias_of == "vicreg"


def test_quick_scaling():
    specs = ex.runs_for("quick")
    d, w = parse_arch(specs["vicreg"].config.arch)
    assert parse_arch(specs["vicreg-deep"].config.arch) == (2 * d, w)
    assert parse_arch(specs["vicreg-narrow"].config.arch) == (d, w // 4)
    assert parse_arch(specs["vicreg-wide"].config.arch) == (d, 2 * w)  # x2 below full: x4 costs 16x compute


def test_unknown_profile_and_seed():
    with pytest.raises(ValueError, match="profile 'huge' is unknown"):
        ex.runs_for("huge")
    with pytest.raises(KeyError, match="no seed 7"):
        ex.runs_for("quick")["vicreg"].config_for(7)


def _config_from_train_command(cmd: str, monkeypatch) -> tuple[Config, Path]:
    """Run the `sslre train ...` command through the real CLI parser with training replaced by a recorder."""
    from sslre import cli

    got = {}
    fake = types.ModuleType("sslre.train")
    fake.train = lambda config, run_dir, progress=True: got.update(config=config, run_dir=Path(run_dir))
    monkeypatch.setitem(sys.modules, "sslre.train", fake)
    argv = shlex.split(cmd)
    assert argv[:2] == ["sslre", "train"]
    assert cli.main(argv[1:]) == 0
    return got["config"], got["run_dir"]


@pytest.mark.parametrize("profile", PROFILES)
def test_train_commands_rebuild_registry_configs(profile, monkeypatch, tmp_path):
    specs = ex.runs_for(profile)
    n = 0
    for spec in specs.values():
        if spec.kind != "train":
            continue
        for seed in spec.seeds:
            cfg, run_dir = _config_from_train_command(ex.train_command(spec, seed, tmp_path), monkeypatch)
            assert cfg == spec.config_for(seed), spec.name
            assert run_dir == tmp_path / f"{spec.name}-s{seed}"
            n += 1
    assert n >= 9


@pytest.mark.parametrize("method", ["simclr", "barlowtwins", "byol"])
def test_matrix_columns_train_commands_rebuild_their_configs(method, monkeypatch, tmp_path):
    """The commands a report lists for another method's column make exactly that column's runs (its method
    settings at the profile included)."""
    specs = ex.runs_for("quick", method)
    for name in ex.GENERIC_ROLES:
        spec = specs.get(name)
        if spec is None or spec.kind != "train":
            continue
        cfg, run_dir = _config_from_train_command(ex.train_command(spec, spec.seeds[0], tmp_path), monkeypatch)
        assert cfg == spec.config_for(spec.seeds[0]) and cfg.method == method, name
        assert run_dir == spec.run_dir(tmp_path, spec.seeds[0])


def test_a_profiles_method_settings_reach_the_registry_and_sslre_train(monkeypatch, tmp_path):
    import dataclasses as dc

    from sslre import profiles

    quick = profiles.profile("quick")
    patched = dc.replace(quick, method_settings={"byol": {"byol_pred_hidden": 96, "lr": 0.07}})
    real = profiles.profile
    pick = lambda name: patched if name == "quick" else real(name)  # noqa: E731
    monkeypatch.setattr(profiles, "profile", pick)
    monkeypatch.setattr(ex, "get_profile", pick)
    assert profile_config("quick", method="byol").byol_pred_hidden == 96
    assert profile_config("quick", method="byol", lr=0.01).lr == 0.01            # an explicit override wins
    assert profile_config("quick", method="barlowtwins").lr == quick.config.lr    # other methods: the preset
    main = ex.runs_for("quick", "byol")["vicreg"]
    assert {c.byol_pred_hidden for c in main.configs} == {96} and {c.lr for c in main.configs} == {0.07}
    assert ex.runs_for("quick", "vicreg")["vicreg"].config.lr == quick.config.lr
    cmd = ex.train_command(main, 0, tmp_path)
    assert "byol_pred_hidden" not in cmd                 # implied by --method byol at this profile
    cfg, _ = _config_from_train_command(cmd, monkeypatch)
    assert cfg == main.config_for(0)


def test_train_command_with_custom_schedule(monkeypatch, tmp_path):
    spec = ex.runs_for("small")["vicreg"]
    custom = ex.RunSpec("x", (spec.config.replace(checkpoint_epochs=(0, 3, 12), batch_size=64),), (0,), (), "t")
    cfg, _ = _config_from_train_command(ex.train_command(custom, 0, tmp_path), monkeypatch)
    assert cfg.checkpoint_epochs == (0, 3, 12) and cfg.batch_size == 64


def test_plan_commands_one_per_run_seed(tmp_path):
    cmds = ex.plan_commands("small", tmp_path)
    specs = ex.runs_for("small")
    assert len(cmds) == sum(len(s.seeds) for s in specs.values() if s.kind != "alias")
    assert len(set(cmds)) == len(cmds)
    # One generator per seed and family (targets-resnet18 / targets-vit).
    assert sum(c.startswith("sslre train-run ") for c in cmds) == sum(
        len(s.seeds) for s in specs.values() if s.kind == "targets")
    assert all(str(tmp_path) in c for c in cmds)


def test_train_run_command_trains_the_registry_run(monkeypatch, tmp_path, capsys):
    from sslre import cli

    calls = []
    monkeypatch.setattr(ex, "train_run", lambda spec, seed, runs_dir, progress=True: calls.append(
        (spec, seed, runs_dir, progress)))
    cmd = ex.train_command(ex.runs_for("small")["targets-vit"], 2, tmp_path)
    assert cmd == f"sslre train-run --profile small --run targets-vit --seed 2 --runs-dir {tmp_path}"
    assert cli.main(shlex.split(cmd)[1:] + ["--no-progress"]) == 0
    assert [(s.name, seed, Path(d), p) for s, seed, d, p in calls] == [("targets-vit", 2, tmp_path, False)]
    assert cli.main(["train-run", "--profile", "small", "--run", "vicreg-huge"]) == 2
    assert "unknown run 'vicreg-huge' of profile 'small'" in capsys.readouterr().err


def test_missing_runs_error_names_commands(tmp_path):
    with pytest.raises(ex.MissingRunsError) as info:
        ex.ensure_runs("small", tmp_path, train_missing=False)
    err = info.value
    msg = str(err)
    assert len(err.commands) == len(err.missing) == len(ex.plan_commands("small", tmp_path))
    for cmd in err.commands:
        assert cmd in msg
    assert f"sslre train --profile small --method vicreg --seed 2 --run-dir {tmp_path}/vicreg-s2" in msg
    assert "never trains by surprise" in msg


def test_ensure_runs_accepts_finished_runs(tmp_path):
    specs = ex.runs_for("small")
    for spec in specs.values():
        for seed in spec.seeds:
            d = spec.run_dir(tmp_path, seed)
            d.mkdir(parents=True, exist_ok=True)
            if spec.kind == "targets":
                t = spec.target
                (d / "targets.json").write_text(json.dumps({"format": "sslre-targets/2", "complete": True, "request": {
                    "epochs": t.epochs, "snapshot_epochs": list(t.snapshot_epochs), "batch_size": t.batch_size}}))
                (d / "targets.pt").write_bytes(b"")
            else:
                (d / "DONE").write_text("")
    out = ex.ensure_runs("small", tmp_path, train_missing=False)
    assert out["vicreg-other"] == out["vicreg"]           # the alias points at the main run's dirs
    (tmp_path / "simclr-s0" / "DONE").unlink()
    with pytest.raises(ex.MissingRunsError) as info:
        ex.ensure_runs("small", tmp_path, train_missing=False)
    assert info.value.missing == [("simclr", 0)]


def test_ensure_runs_trains_missing_when_asked(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(ex, "train_run", lambda spec, seed, runs_dir, progress=True: calls.append((spec.name, seed)))
    monkeypatch.setenv("SSLRE_JOBS", "1")  # in-process, so the patched train_run is the one called
    ex.ensure_runs("quick", tmp_path, train_missing=True, names=["vicreg", "simclr"])
    specs = ex.runs_for("quick")
    assert calls == [("vicreg", s) for s in specs["vicreg"].seeds] + [("simclr", s) for s in specs["simclr"].seeds]


def test_plan_formats(tmp_path):
    import json as _json

    from sslre.plan import plan

    # Format details are pinned in tests/test_plan.py; here: the plan lists exactly plan_commands, in order.
    lines = [ln.split("\t")[4] for ln in plan("small", tmp_path).splitlines() if not ln.startswith("#")]
    assert lines == ex.plan_commands("small", tmp_path)
    entries = _json.loads(plan("small", tmp_path, "json"))["runs"]
    assert [e["command"] for e in entries] == lines and not any(e["done"] for e in entries)
    assert f"--array=0-{len(lines) - 1}" in plan("small", tmp_path, "slurm")
    with pytest.raises(ValueError, match="format 'xml'"):
        plan("small", tmp_path, "xml")


def test_a_generator_with_another_schedule_is_not_complete(tmp_path):
    """Changing the registry's generator snapshots must not leave stale targets measured as if they were new."""
    import dataclasses
    import json

    spec = ex.runs_for("quick")["targets-resnet18"]
    d = tmp_path / "g"
    d.mkdir()
    t = spec.target
    (d / "targets.json").write_text(json.dumps({"format": "x", "request": {
        "epochs": t.epochs, "snapshot_epochs": list(t.snapshot_epochs), "batch_size": t.batch_size}}))
    assert ex._same_generator_schedule(spec, d)
    other = dataclasses.replace(spec, target=dataclasses.replace(t, snapshot_epochs=(0, t.epochs)))
    assert not ex._same_generator_schedule(other, d)
    assert not ex._same_generator_schedule(spec, tmp_path / "missing")


@pytest.mark.parametrize("profile", ["quick", "small", "medium", "full"])
@pytest.mark.parametrize("method", ["simclr", "barlowtwins", "byol"])
def test_another_method_plays_the_generic_roles_in_its_own_folders(profile, method):
    """The generality matrix: the method-generic roles keep their names (the claims read roles) and the vicreg
    registry's configs except the method; they train into ``<method>-main`` / ``-deep`` / ... folders; VICReg's
    ablations (mu, SimCLR) are left out; supervised runs and generators are the very same runs."""
    from sslre.claims.catalogue import CLAIM_METHOD

    from sslre.profiles import profile as get_profile

    vic, other = ex.runs_for(profile, "vicreg"), ex.runs_for(profile, method)
    left_out = {r for r in ex.GENERIC_ROLES if not get_profile(profile).trains_role(method, r)}  # quick: 3 roles
    assert set(other) == set(vic) - {"vicreg-mu5", "vicreg-mu100", "simclr"} - left_out
    assert {ex.Run.MAIN, ex.Run.DEEP} <= set(other)
    sized = get_profile(profile).method_overrides(method)   # the method's recipe at this profile (quick BYOL)
    for name, spec in other.items():
        if name in ex.GENERIC_ROLES:
            ref = vic[name]
            assert spec.seeds == ref.seeds and spec.coverage == ref.coverage
            for a, b in zip(spec.configs, ref.configs):
                assert a.method == method and a == b.replace(method=method, **sized)
            stem = spec.run_dir("R", 0).name
            assert stem.startswith(f"{method}-") and stem != ref.run_dir("R", 0).name
            assert not set(spec.claims) & set(CLAIM_METHOD)
        else:
            assert spec == vic[name]
    dirs = [s.run_dir("R", 0).name for s in other.values() if s.kind != "alias"]
    assert len(dirs) == len(set(dirs))


def test_method_env_selects_the_column(monkeypatch):
    monkeypatch.setenv(ex.METHOD_ENV, "byol")
    assert ex.runs_for("quick")["vicreg"].config.method == "byol"
    monkeypatch.delenv(ex.METHOD_ENV)
    assert ex.runs_for("quick")["vicreg"].config.method == "vicreg"
    assert ex.method_slug("mypkg.methods:MyMethod") == "mymethod"


def test_ensure_matrix_trains_the_union_once(tmp_path, monkeypatch):
    """The matrix's runs train in one pool: each method's roles in their own folders, shared runs once; without
    training, one MissingRunsError lists every command."""
    seen = []
    monkeypatch.setattr(ex, "_train_items", lambda items, runs_dir, progress, jobs, evidence: seen.extend(items) or {})
    ex.ensure_matrix("quick", ["vicreg", "byol"], tmp_path, True)
    dirs = [spec.run_dir(tmp_path, seed).name for spec, seed in seen]
    assert len(dirs) == len(set(dirs))
    vic, byol = ex.runs_for("quick", "vicreg"), ex.runs_for("quick", "byol")
    want = {s.run_dir(tmp_path, seed).name for reg in (vic, byol) for s in reg.values() if s.kind != "alias"
            for seed in s.seeds}
    assert set(dirs) == want and "byol-main-s4" in want and "supervised-s0" in want
    with pytest.raises(ex.MissingRunsError, match="--method byol"):
        ex.ensure_matrix("quick", ["vicreg", "byol"], tmp_path, False)

def _fake_train(calls):
    """``sslre.train.train`` stand-in: mu=100 runs diverge, every other run finishes at once."""
    def train(config, run_dir, progress=True):
        calls.append((config.vicreg_mu, config.seed))
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        if config.vicreg_mu == 100.0:
            raise FloatingPointError(f"loss became nan at epoch 3, step 1; lower lr (now {config.lr})")
        (Path(run_dir) / "DONE").write_text("")
        return Path(run_dir)
    return train


def test_a_diverged_run_stops_no_other_and_is_not_trained_again(tmp_path, monkeypatch):
    import sslre.train

    calls = []
    monkeypatch.setattr(sslre.train, "train", _fake_train(calls))
    monkeypatch.setenv("SSLRE_JOBS", "1")  # in-process, so the patched train is the one called
    names = ["vicreg-mu100", "vicreg", "vicreg-mu5"]
    with pytest.raises(ex.RunsDivergedError) as info:
        ex.ensure_runs("quick", tmp_path, train_missing=True, names=names)
    err = info.value
    assert isinstance(err, ex.MissingRunsError)          # sslre reproduce: a partial report, exit code 3
    assert err.missing == [("vicreg-mu100", s) for s in (0, 1, 2)]
    assert "vicreg-mu100-s0: loss became nan at epoch 3, step 1; lower lr (now 0.025)" in str(err)
    assert len(calls) == 3 + 5 + 3                          # every other run trained
    assert all((tmp_path / f"vicreg-s{s}" / "DONE").exists() for s in range(5))
    record = json.loads((tmp_path / "vicreg-mu100-s1" / ex.DIVERGED).read_text())
    assert record["reason"].startswith("loss became nan") and record["config"]["vicreg_mu"] == 100.0
    # deterministic training diverges again: the record keeps it from being retried, until its folder goes
    calls.clear()
    with pytest.raises(ex.RunsDivergedError) as again:
        ex.ensure_runs("quick", tmp_path, train_missing=True, names=names)
    assert calls == [] and again.value.missing == err.missing
    (tmp_path / "vicreg-mu100-s2" / ex.DIVERGED).unlink()
    with pytest.raises(ex.RunsDivergedError):
        ex.ensure_runs("quick", tmp_path, train_missing=True, names=names)
    assert calls == [(100.0, 2)]
    # without training, the commands of all three are listed as usual
    with pytest.raises(ex.MissingRunsError) as listed:
        ex.ensure_runs("quick", tmp_path, train_missing=False, names=names)
    assert not isinstance(listed.value, ex.RunsDivergedError) and len(listed.value.commands) == 3
    # and a partial run set says why they are missing
    gaps = ex.partial_runs("quick", {n: ex.runs_for("quick")[n] for n in names}, tmp_path)
    assert gaps.for_claim("mu-ablation") == {"vicreg-mu100": listed.value.commands}
    assert gaps.reasons["vicreg-mu100"].startswith("vicreg-mu100-s0 diverged: loss became nan at epoch 3")


def test_a_diverged_registry_run_is_exit_code_7_naming_it(tmp_path, monkeypatch, capsys):
    import sslre.train
    from sslre.cli import main

    monkeypatch.setattr(sslre.train, "train", _fake_train([]))
    rc = main(["train-run", "--profile", "quick", "--run", "vicreg-mu100", "--seed", "1", "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 7 and "\n" not in err
    assert err.startswith("sslre: training diverged: vicreg-mu100-s1 diverged: loss became nan at epoch 3"), err


# --- sslre reproduce --device cuda: the registry on the GPU ---------------------------------------------------------


def test_the_device_env_puts_every_run_on_the_gpu_in_bf16(monkeypatch):
    monkeypatch.delenv(ex.DEVICE_ENV, raising=False)
    cpu = ex.runs_for("medium")
    monkeypatch.setenv(ex.DEVICE_ENV, "cuda")
    gpu = ex.runs_for("medium")
    assert set(gpu) == set(cpu)
    for name, spec in gpu.items():
        for seed in spec.seeds:
            assert spec.config_for(seed) == cpu[name].config_for(seed).replace(**ex.GPU_OVERRIDES), name
    assert {c.device for s in cpu.values() for c in s.configs} == {"auto"}


def test_an_unknown_device_in_the_env_is_a_config_error(monkeypatch):
    monkeypatch.setenv(ex.DEVICE_ENV, "tpu")
    with pytest.raises(ex.ConfigError, match=r"SSLRE_DEVICE='tpu'.*allowed: cuda"):
        ex.runs_for("quick")


def test_gpu_runs_print_commands_that_rebuild_them(monkeypatch, tmp_path):
    monkeypatch.setenv(ex.DEVICE_ENV, "cuda")
    specs = ex.runs_for("medium")
    cmd = ex.train_command(specs["vicreg-wide"], 1, tmp_path)
    assert "--device cuda" in cmd and "amp=true" in cmd
    cfg, _ = _config_from_train_command(cmd, monkeypatch)
    assert cfg == specs["vicreg-wide"].config_for(1)
    # A generator has no `sslre train` form: its `sslre train-run` reads the registry's device from the env.
    assert ex.train_command(specs["targets-vit"], 0, tmp_path).startswith(f"{ex.DEVICE_ENV}=cuda sslre train-run ")


@pytest.mark.parametrize("device, n_items, env, want", [("cuda", 9, None, ex.GPU_JOBS), ("cuda", 2, None, 2),
                                                        ("cuda", 9, "6", 6), ("auto", 9, "3", 3)])
def test_runs_on_the_gpu_train_several_at_once(monkeypatch, tmp_path, device, n_items, env, want):
    from sslre import parallel

    seen = {}

    def fake(fn, work, n_jobs, **kw):
        seen["jobs"] = n_jobs
        return iter([])

    if env is None:
        monkeypatch.delenv("SSLRE_JOBS", raising=False)
    else:
        monkeypatch.setenv("SSLRE_JOBS", env)
    monkeypatch.setattr(parallel, "run_parallel", fake)
    spec = ex.runs_for("quick")["vicreg"]
    spec = ex.RunSpec("vicreg", tuple(spec.config.replace(seed=s, device=device) for s in range(n_items)),
                      tuple(range(n_items)), (), "t")
    ex._train_items([(spec, s) for s in range(n_items)], tmp_path, progress=False, jobs=None)
    assert seen["jobs"] == want
