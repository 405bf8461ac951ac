"""``sslre plan``: every registry run listed once in each format, commands that the CLI parses back into exactly the
registry's config, GPU-hour estimates only from the measured table, and a runnable SLURM array script."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess

import pytest

import sslre.plan as plan_mod
from sslre.cli import main as cli_main
from sslre.experiments import runs_for
from sslre.plan import plan, plan_runs


def _expected(profile):
    return [(n, s) for n, spec in runs_for(profile).items() if spec.kind != "alias" for s in spec.seeds]


def _body(text):
    return [ln.split("\t") for ln in text.splitlines() if not ln.startswith("#")]


@pytest.fixture
def unmeasured(monkeypatch):
    monkeypatch.setattr(plan_mod, "GPU_SECONDS_PER_IMAGE_EPOCH", {})
    monkeypatch.setattr(plan_mod, "GPU_MEASUREMENT", {})


@pytest.mark.parametrize("profile", ["quick", "small", "full"])
def test_lines_list_every_run_once_with_dir_hours_and_both_commands(profile, tmp_path):
    rows = _body(plan(profile, tmp_path))
    assert [r[0] for r in rows] == [f"{n}-s{s}" for n, s in _expected(profile)]
    specs = runs_for(profile)
    for (name, seed), row in zip(_expected(profile), rows):
        assert len(row) == 6
        assert row[3] == str(specs[name].run_dir(tmp_path, seed))
        assert row[2] == "todo"
        assert row[1] == "unmeasured" or float(row[1]) > 0
        if specs[name].kind == "targets":
            assert row[5] == "-"
        else:
            assert row[5].startswith("torchrun --nproc_per_node=$GPUS -m sslre.cli train ")
            assert shlex.split(row[5])[5:] == shlex.split(row[4])[2:]  # same train arguments


@pytest.mark.parametrize("profile", ["small", "full"])
def test_every_command_parses_into_the_registry_config(profile, tmp_path, monkeypatch):
    got = []
    monkeypatch.setattr("sslre.train.train", lambda config, run_dir, progress=True: got.append((config, run_dir)))
    import sslre.experiments as ex

    monkeypatch.setattr(ex, "train_run", lambda spec, seed, runs_dir, progress=True: got.append((spec.name, seed)))
    specs = runs_for(profile)
    for run in plan_runs(profile, tmp_path):
        args = shlex.split(run.command)
        got.clear()
        if args[:2] == ["sslre", "train"]:
            assert cli_main(args[1:]) == 0
            (config, run_dir), = got
            assert config == specs[run.name].config_for(run.seed)
            assert str(run_dir) == run.run_dir
        else:
            assert args[:2] == ["sslre", "train-run"]
            assert cli_main(args[1:]) == 0
            assert got == [(run.name, run.seed)]


def test_unmeasured_table_prints_unmeasured_never_a_number(tmp_path, unmeasured):
    text = plan("full", tmp_path)
    assert "estimated GPU-hours still to do: unmeasured" in text
    assert all(r[1] == "unmeasured" for r in _body(text))
    doc = json.loads(plan("full", tmp_path, "json"))
    assert doc["total_gpu_hours_todo"] is None and doc["unmeasured_runs_todo"] == len(_expected("full"))
    assert all(r["gpu_hours"] is None and r["estimate"] == "unmeasured" for r in doc["runs"])


def test_estimates_come_from_the_table(tmp_path):
    per = 2e-4
    runs = {r.label: r for r in plan_runs("full", tmp_path, table={"vicreg/RES-5-250/fp32": per})}
    # measured: 50,000 CIFAR-100 images x 1000 epochs x 2e-4 s = 2.78 h
    assert runs["vicreg-s0"].gpu_hours == pytest.approx(per * 50_000 * 1000 / 3600)
    assert runs["vicreg-s0"].estimate == "measured"
    # a wider net scales up with its MACs; a narrower one is floored at the measured time
    assert runs["vicreg-wide-s0"].gpu_hours > 10 * runs["vicreg-s0"].gpu_hours
    assert runs["vicreg-wide-s0"].estimate == "scaled from vicreg/RES-5-250/fp32"
    assert runs["vicreg-narrow-s0"].gpu_hours == pytest.approx(runs["vicreg-s0"].gpu_hours)
    assert runs["vicreg-narrow-s0"].estimate.startswith("floor")
    # bf16 runs are not estimated from an fp32 measurement, and generators have their own key
    bf16 = plan_runs("full", tmp_path, table={"vicreg/RES-5-250/bf16": per})
    assert all(r.gpu_hours is None for r in bf16)
    assert runs["targets-vit-s0"].gpu_hours is None


def test_json_marks_finished_runs_and_totals_only_what_is_left(tmp_path):
    specs = runs_for("full")
    done_dir = specs["vicreg"].run_dir(tmp_path, 0)
    done_dir.mkdir(parents=True)
    (done_dir / "DONE").write_text("finished\n")
    doc = json.loads(plan("full", tmp_path, "json"))
    assert [r["run"] for r in doc["runs"]] == [f"{n}-s{s}" for n, s in _expected("full")]
    assert [r["run"] for r in doc["runs"] if r["done"]] == ["vicreg-s0"]
    todo = sum(r["gpu_hours"] for r in doc["runs"] if not r["done"] and r["gpu_hours"] is not None)
    assert doc["total_gpu_hours_todo"] == pytest.approx(todo)
    assert doc["gpu_measurement"]["device"]  # where the numbers came from is recorded


def _fake_bin(tmp_path, name, log):
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(f'#!/bin/bash\necho "{name} $*" >> {shlex.quote(str(log))}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_slurm_script_is_well_formed_and_task_i_runs_plan_line_i(tmp_path):
    runs = plan_runs("full", tmp_path / "runs")
    script = plan("full", tmp_path / "runs", "slurm")
    path = tmp_path / "job.sh"
    path.write_text(script)
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    first_cmd = next(i for i, ln in enumerate(lines) if ln and not ln.startswith("#"))
    sbatch = [ln for ln in lines if ln.startswith("#SBATCH")]
    assert all(lines.index(ln) < first_cmd for ln in sbatch)  # SLURM reads directives only before the first command
    assert f"#SBATCH --array=0-{len(runs) - 1}" in sbatch and "#SBATCH --requeue" in sbatch
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0

    log = tmp_path / "calls.log"
    for name in ("sslre", "python", "torchrun", "scontrol"):
        _fake_bin(tmp_path, name, log)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("SSLRE_GPUS", None)
    for task in (0, 4, len(runs) - 1):
        log.unlink(missing_ok=True)
        r = subprocess.run(["bash", str(path)], env={**env, "SLURM_ARRAY_TASK_ID": str(task)},
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert shlex.split(log.read_text()) == shlex.split(runs[task].command)
    # several GPUs: the torchrun variant, $GPUS filled in
    log.unlink()
    r = subprocess.run(["bash", str(path)], env={**env, "SLURM_ARRAY_TASK_ID": "4", "SSLRE_GPUS": "4"},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert shlex.split(log.read_text()) == shlex.split(runs[4].torchrun_command.replace("$GPUS", "4"))
    bad = subprocess.run(["bash", str(path)], env={**env, "SLURM_ARRAY_TASK_ID": str(len(runs))},
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "outside" in bad.stderr


def test_cli_plan_prints_each_format(tmp_path, capsys):
    for fmt in ("lines", "json", "slurm"):
        assert cli_main(["plan", "--profile", "small", "--runs-dir", str(tmp_path), "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert out.strip() == plan("small", tmp_path, fmt).strip()


def test_unknown_format_is_named():
    with pytest.raises(ValueError, match="plan format 'xml' is unknown; allowed: lines, json, slurm"):
        plan("quick", fmt="xml")


def test_medium_plan_counts_cpu_hours_left_partial_runs_and_published_runs(tmp_path, monkeypatch):
    import json as _json

    from sslre.experiments import runs_for
    from sslre.plan import CPU_SECONDS_PER_IMAGE_EPOCH, plan, plan_runs

    monkeypatch.setenv("SSLRE_EVIDENCE", str(tmp_path / "published"))
    runs = tmp_path / "runs"
    (runs / "vicreg-s0").mkdir(parents=True)
    (runs / "vicreg-s0" / "history.jsonl").write_text("".join(_json.dumps({"epoch": e}) + "\n" for e in range(11)))
    spec = runs_for("medium")["vicreg"]
    pub = spec.run_dir(tmp_path / "published", 1)      # seed 1 published elsewhere: done here too
    pub.mkdir(parents=True)
    (pub / "config.json").write_text(_json.dumps(spec.config_for(1).to_dict()))
    (pub / "measurements.csv").write_text("run\n")
    (pub / "measurements.meta.json").write_text("{}")
    by = {r.label: r for r in plan_runs("medium", runs)}
    per = CPU_SECONDS_PER_IMAGE_EPOCH["vicreg/RES-3-64/fp32"]
    assert by["vicreg-s0"].epochs_done == 10 and not by["vicreg-s0"].done
    assert by["vicreg-s0"].cpu_hours_left == pytest.approx(per * 10000 * 54 / 3600)
    assert by["vicreg-s1"].done and by["vicreg-s1"].cpu_hours_left == 0.0
    assert by["vicreg-s2"].cpu_hours_left == pytest.approx(per * 10000 * 64 / 3600)
    # a smaller net is scaled down on a CPU (no GPU floor): the narrow run is cheaper than the main one
    assert 0 < by["vicreg-narrow-s0"].cpu_hours_left < by["vicreg-s2"].cpu_hours_left
    text = plan("medium", runs)
    assert "partial 10/64" in text and "estimated CPU training still to do" in text and "hours on 2 cores" in text


def test_cpu_estimate_scales_other_methods_by_their_measured_factor():
    """A method without a CPU figure of its own costs VICReg's on the same net times CPU_METHOD_FACTOR; a method
    without a factor (a plug-in) is unmeasured, never guessed."""
    from sslre.config import profile_config
    from sslre.plan import CPU_METHOD_FACTOR, _cpu_seconds_per_image_epoch

    vic = _cpu_seconds_per_image_epoch(profile_config("medium", method="vicreg"))
    for method in ("simclr", "barlowtwins", "byol"):
        got = _cpu_seconds_per_image_epoch(profile_config("medium", method=method))
        assert got == pytest.approx(vic * CPU_METHOD_FACTOR[method])
    assert _cpu_seconds_per_image_epoch(profile_config("medium", method="tests.methods.toy_method:ToyMethod")) is None


def test_cpu_estimate_takes_this_machines_speed_from_epochs_trained_here(tmp_path, monkeypatch):
    """A run with epochs trained here finishes at its own measured pace; the runs not started here are scaled by
    the median ratio of those paces to the reference CPU's; the header says which speed the estimate is at."""
    from sslre.plan import CPU_SECONDS_PER_IMAGE_EPOCH, plan, plan_runs, speed_factor

    monkeypatch.setenv("SSLRE_EVIDENCE", str(tmp_path / "published"))
    runs = tmp_path / "runs"
    ref = CPU_SECONDS_PER_IMAGE_EPOCH["vicreg/RES-3-64/fp32"] * 10000          # reference seconds per epoch
    rows = [{"epoch": 0, "seconds": 999.0}] + [{"epoch": e, "seconds": 1.5 * ref} for e in range(1, 5)]
    (runs / "vicreg-s0").mkdir(parents=True)
    (runs / "vicreg-s0" / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = {r.label: r for r in plan_runs("medium", tmp_path / "empty")}
    by = {r.label: r for r in plan_runs("medium", runs)}
    assert by["vicreg-s0"].cpu_s_per_epoch_here == pytest.approx(1.5 * ref)   # epoch 0 (no updates) left out
    assert speed_factor(list(by.values())) == (pytest.approx(1.5), 1)
    assert by["vicreg-s0"].cpu_hours_left == pytest.approx(1.5 * ref * 60 / 3600)
    for label in ("vicreg-s1", "vicreg-wide-s2", "supervised-aa-s1"):
        assert by[label].cpu_hours_left == pytest.approx(1.5 * base[label].cpu_hours_left), label
    assert speed_factor(list(base.values())) == (None, 0)
    assert "1.50x the reference CPU's seconds, from 1 run(s) trained here" in plan("medium", runs)
    assert "no epoch trained here yet" in plan("medium", tmp_path / "empty")


def test_plan_states_what_the_published_runs_cost(tmp_path, monkeypatch):
    pub = tmp_path / "published" / "vicreg-s0"
    pub.mkdir(parents=True)
    (pub / "config.json").write_text("{}")
    (pub / "history.jsonl").write_text('{"epoch": 1, "seconds": 7200.0, "cpu_seconds": 3600.0}\n')
    (pub / "measurements.meta.json").write_text('{"seconds": 1800}')
    monkeypatch.setenv("SSLRE_EVIDENCE", str(tmp_path / "published"))
    text = plan("medium", tmp_path / "runs")
    assert "# spent on the 1 published runs: 1.50 core-hours (training 1.00, generators 0.00, measurement 0.50)\n" in text
    monkeypatch.setenv("SSLRE_EVIDENCE", str(tmp_path / "none"))
    assert "# spent on" not in plan("medium", tmp_path / "runs")


def test_a_reader_that_leaves_early_is_not_an_error(monkeypatch, capfd):
    """`sslre plan | head -1`: the closed pipe ends the command quietly, exit 0, nothing on stderr, and stdout
    pointed at devnull so that the interpreter's flush at exit stays quiet too."""
    from sslre import cli

    def closed(args):
        raise BrokenPipeError(32, "Broken pipe")

    moved = []
    monkeypatch.setattr(cli, "_run", closed)
    monkeypatch.setattr(os, "dup2", lambda fd, fd2: moved.append(fd2))
    assert cli_main(["plan", "--profile", "quick"]) == 0
    assert capfd.readouterr().err == "" and len(moved) == 1


def test_a_finished_profile_says_nothing_is_left_not_unmeasured(tmp_path):
    from dataclasses import replace

    runs = [replace(r, done=True) for r in plan_runs("quick", tmp_path)]
    head = [ln for ln in plan_mod.format_lines("quick", runs, tmp_path).splitlines() if ln.startswith("#")]
    assert "(0 to do)" in head[0]
    still = [ln for ln in head if "still to do" in ln]
    assert len(still) == 2 and all(ln.endswith("none (every run is done)") for ln in still)
