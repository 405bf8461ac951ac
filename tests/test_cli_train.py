"""``sslre train`` end to end, its config errors, and exact resume after ``kill -9``."""
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from hypothesis import given, settings, strategies as st

from sslre.checkpoint import list_checkpoints, read_checkpoint
from sslre.cli import main

TINY = ["--profile", "quick", "--method", "vicreg", "--arch", "RES-1-8", "--set", "proj_hidden=16",
        "--set", "proj_out=8", "--set", "train_subset=256", "--set", "test_subset=64", "--set", "batch_size=32",
        "--set", "lr=0.01", "--device", "cpu", "--no-progress"]


def test_cli_train_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "2", "--seed", "3", "--mu", "5", "--run-dir", str(run)]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["epochs"], cfg["seed"], cfg["vicreg_mu"], cfg["arch"], cfg["train_subset"]) == (2, 3, 5.0, "RES-1-8", 256)
    assert (run / "DONE").exists()
    assert list(list_checkpoints(run)) == [0, 1, 2]
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2] and all(r["images"] == 256 for r in rows)


def test_unknown_set_key_is_named(tmp_path, capsys):
    assert main(["train", *TINY, "--set", "batchsize=3", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'batchsize'" in err and "batch_size" in err
    assert not (tmp_path / "r").exists()


def test_bad_arch_names_the_format(tmp_path, capsys):
    assert main(["train", *TINY, "--arch", "RES-5", "--run-dir", str(tmp_path / "r")]) == 2
    assert "RES-L-H" in capsys.readouterr().err


def test_bad_value_names_allowed_values(tmp_path, capsys):
    assert main(["train", *TINY, "--set", 'optimizer="lamb"', "--run-dir", str(tmp_path / "r")]) == 2
    assert "allowed values: sgd, adam" in capsys.readouterr().err


def test_unknown_method_is_a_one_line_config_error(tmp_path, capsys):
    assert main(["train", "--profile", "quick", "--method", "dino", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "allowed values: vicreg, simclr, supervised, barlowtwins, byol" in err and "package.module:ClassName" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_plugin_method_that_does_not_import_is_a_one_line_config_error(tmp_path, capsys):
    assert main(["train", "--profile", "quick", "--method", "no_such_pkg.mod:Cls", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "module 'no_such_pkg.mod' cannot be imported" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_run_dir_with_other_config_is_a_config_error(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "1", "--run-dir", str(run)]) == 0
    assert main(["train", *TINY, "--epochs", "1", "--mu", "5", "--run-dir", str(run)]) == 2
    assert "different config" in capsys.readouterr().err


def _cmd(run_dir):
    # every epoch a checkpoint: the kill lands after epoch 1 whatever the lr-integral schedule keeps
    return [sys.executable, "-m", "sslre.cli", "train", *TINY, "--epochs", "6", "--set",
            "checkpoint_epochs=[0,1,2,3,4,5,6]", "--run-dir", str(run_dir)]


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")


@pytest.mark.small  # three training subprocesses: ~30 s alone, minutes on a busy machine
def test_resume_after_kill_minus_9_gives_identical_weights(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    subprocess.run(_cmd(ref), check=True, env=_env(), timeout=600, capture_output=True)

    proc = subprocess.Popen(_cmd(run), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = run / "checkpoints" / "epoch_0001.pt"
    deadline = time.monotonic() + 300
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert first.exists(), "the training subprocess never wrote its epoch-1 checkpoint"
    assert not (run / "DONE").exists(), "the run finished before it could be killed; the test proves nothing"
    killed_at = read_checkpoint(run / "checkpoints" / "last.pt")["epoch"]
    assert killed_at < 6

    subprocess.run(_cmd(run), check=True, env=_env(), timeout=600, capture_output=True)
    assert (run / "DONE").exists()
    a = read_checkpoint(ref / "checkpoints" / "last.pt")
    b = read_checkpoint(run / "checkpoints" / "last.pt")
    assert a["epoch"] == b["epoch"] == 6
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    ha = [json.loads(x) for x in (ref / "history.jsonl").read_text().splitlines()]
    hb = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    assert [r["loss_total"] for r in ha] == [r["loss_total"] for r in hb]
    assert not list(run.rglob("*.tmp")), "a temporary file survived the kill"


# --- user errors: one line and a documented exit code, never a traceback ------------------------------------
def _one_line_error(capsys, code_expected, rc, *needles):
    err = capsys.readouterr().err
    assert rc == code_expected, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    return err


@pytest.mark.parametrize("args, needle", [
    (["--set", "lr=-1"], "lr must be > 0"),
    (["--set", "batch_size=abc"], "batch_size must be an integer"),
    (["--set", "checkpoint_epochs=50"], "checkpoint_epochs [50] lie outside"),
    (["--set", 'vicreg_mu="25"'], "vicreg_mu must be a number"),
    (["--set", "amp=maybe"], "amp must be true or false"),
    (["--set", "num_threads=-3"], "num_threads must be >= 0"),
    (["--set", "warmup_epochs=-4"], "warmup_epochs must be >= 0"),
    (["--mu", "-5"], "vicreg_mu must be >= 0"),
    (["--set", "lr=nan"], "lr must be a finite number"),
])
def test_bad_values_are_one_line_config_errors(tmp_path, capsys, args, needle):
    # Were Python tracebacks (lr=-1, batch_size=abc, checkpoint_epochs=5, vicreg_mu="25") or accepted silently.
    rc = main(["train", *TINY, *args, "--run-dir", str(tmp_path / "r")])
    _one_line_error(capsys, 2, rc, "sslre: config error: ", needle)
    assert not (tmp_path / "r" / "config.json").exists()


@pytest.mark.parametrize("raw, value", [
    ("amp=yes", True), ("amp=false", False), ("channels_last=1", True), ("checkpoint_epochs=5", (5,)),
    ("checkpoint_epochs=0,1,4", (0, 1, 4)), ("checkpoint_epochs=[0, 2]", (0, 2)), ("lr=1e-3", 0.001),
    ("vicreg_mu=25", 25.0), ("optimizer=adam", "adam"), ('optimizer="adam"', "adam"), ("seed=7", 7),
])
def test_set_values_are_parsed_by_the_field_type(raw, value):
    from sslre.cli import _parse_set

    key = raw.split("=", 1)[0]
    got = _parse_set([raw])[key]
    assert got == value and type(got) is type(value)  # amp=yes was stored as the string "yes"


def test_debug_shows_the_traceback(tmp_path):
    from sslre.config import ConfigError

    with pytest.raises(ConfigError, match="lr must be > 0"):
        main(["train", *TINY, "--set", "lr=-1", "--debug", "--run-dir", str(tmp_path / "r")])


def test_missing_and_corrupt_imagefolder_are_data_errors(tmp_path, capsys):
    rc = main(["train", *TINY, "--dataset", f"imagefolder:{tmp_path / 'nope'}", "--run-dir", str(tmp_path / "r")])
    _one_line_error(capsys, 3, rc, "sslre: data error: ", "has no 'train/' directory")
    tree = tmp_path / "bad"
    for split in ("train", "test"):
        (tree / split / "a").mkdir(parents=True)
        (tree / split / "a" / "x.jpg").write_text("not an image")
    rc = main(["train", *TINY, "--dataset", f"imagefolder:{tree}", "--run-dir", str(tmp_path / "r")])
    _one_line_error(capsys, 3, rc, "cannot decode image")
    assert not (tmp_path / "r" / "config.json").exists()


def test_run_dir_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "r"
    f.write_text("x")
    rc = main(["train", *TINY, "--epochs", "1", "--run-dir", str(f)])
    assert rc == 2
    _one_line_error(capsys, 2, rc, "is a file, not a folder")


def test_unwritable_run_dir_is_a_file_system_error(tmp_path, capsys, monkeypatch):
    # chmod cannot make a folder read-only for root, so the OS's answer is simulated.
    from pathlib import Path

    def refuse(self, *a, **kw):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    rc = main(["train", *TINY, "--epochs", "1", "--run-dir", str(tmp_path / "ro" / "r")])
    assert rc == 6
    _one_line_error(capsys, 6, rc, "sslre: file system error: ", "Permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_run_dir_is_a_file_system_error(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    rc = main(["train", *TINY, "--epochs", "1", "--run-dir", str(ro / "r")])
    assert rc == 6
    _one_line_error(capsys, 6, rc, "file system error")


def test_busy_run_dir_exit_code(tmp_path, capsys):
    from sslre.train import run_lock

    with run_lock(tmp_path / "r"):
        rc = main(["train", *TINY, "--epochs", "1", "--run-dir", str(tmp_path / "r")])
    assert rc == 5
    _one_line_error(capsys, 5, rc, "sslre: run folder busy: ", f"pid {os.getpid()}")


def test_corrupt_last_pt_resumes_from_the_newest_epoch_checkpoint(tmp_path, capsys):
    # Was: a traceback ("a torch file that holds Python objects" for random bytes).
    run = tmp_path / "r"
    assert main(["train", *TINY, "--epochs", "2", "--run-dir", str(run)]) == 0
    (run / "DONE").unlink()
    (run / "checkpoints" / "last.pt").write_bytes(os.urandom(3000))
    assert main(["train", *TINY, "--epochs", "2", "--run-dir", str(run)]) == 0
    err = capsys.readouterr().err
    assert "sslre: warning: resume skipped a checkpoint" in err and "not a torch checkpoint file" in err
    assert "epoch_0002.pt (epoch 2)" in err and "Traceback" not in err


def test_corrected_retry_after_a_failed_start_runs(tmp_path, capsys):
    # Was: config.json written before the data were checked; the retry was refused ("different config").
    run = tmp_path / "r"
    assert main(["train", *TINY, "--epochs", "1", "--set", "batch_size=100000", "--run-dir", str(run)]) == 2
    assert main(["train", *TINY, "--epochs", "1", "--run-dir", str(run)]) == 0
    assert (run / "DONE").exists()


_FIELDS = sorted(f.name for f in __import__("dataclasses").fields(__import__("sslre.config").config.Config))


@settings(max_examples=150, deadline=None)
@given(key=st.one_of(st.sampled_from(_FIELDS), st.text(max_size=12)),
       value=st.one_of(st.text(max_size=20), st.integers(-10**20, 10**20).map(str),
                       st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.sampled_from(["true", "no", "[0,1]", "0,5,300", "[]", '"x"', "1e999", "-0", ""])))
def test_fuzz_set_never_shows_a_traceback(key, value):
    """Whatever KEY=VALUE is given, the CLI returns 0 (valid: training is stubbed) or the config error code."""
    import sslre.train

    real = sslre.train.train
    sslre.train.train = lambda config, run_dir, **kw: run_dir  # no training: only parsing and validation
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            rc = main(["train", "--profile", "quick", "--method", "vicreg", "--set", f"{key}={value}",
                       "--run-dir", "unused-run-dir"])
    except SystemExit as e:  # argparse's usage error (e.g. "--set -=": an option, not a value)
        rc = e.code
    finally:
        sslre.train.train = real
    assert rc in (0, 2), err.getvalue()
    assert "Traceback" not in err.getvalue()


@pytest.mark.small  # two training subprocesses: ~20 s on a 2-core CPU
def test_two_trainers_started_together_never_both_finish(tmp_path):
    # Was: two trainers with different configs in one folder both "finished OK" (1 of 5 tries); the second
    # overwrote the first. Now one owns the folder; the other fails at once (busy, 5) or, if it starts after the
    # first finished, on the different config (2).
    run = tmp_path / "r"
    cmds = [[sys.executable, "-m", "sslre.cli", "train", *TINY, "--epochs", "2", "--mu", mu, "--run-dir", str(run)]
            for mu in ("5", "10")]
    procs = [subprocess.Popen(c, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for c in cmds]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes in ([0, 2], [0, 5]), results
    loser = next(err for rc, err in results if rc != 0)
    assert "Traceback" not in loser and ("in use by another trainer (pid " in loser or "different config" in loser)
    winner_mu = 5.0 if results[0][0] == 0 else 10.0
    assert json.loads((run / "config.json").read_text())["vicreg_mu"] == winner_mu
    assert read_checkpoint(run / "checkpoints" / "last.pt")["config"]["vicreg_mu"] == winner_mu


def test_a_random_target_error_is_one_line(monkeypatch, capsys, tmp_path):
    """A generator folder of another request (e.g. after the registry's snapshots changed) is a user error."""
    import sslre.reproduce as R
    from sslre.targets import TargetError

    def stale(*a, **k):
        raise TargetError("'runs/targets-resnet18-s1' holds finished targets from a different request")

    monkeypatch.setattr(R, "reproduce", stale)
    assert main(["reproduce", "--profile", "quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "random-target error" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _png_tree(root, classes=("a", "b"), n=16):
    """``root/{train,test}/<class>/i.png``: 8x8 images of one colour per class, a little noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for k, cls in enumerate(classes):
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                arr = np.clip(60 + 120 * k + rng.normal(0, 10, (8, 8, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(arr).save(root / split / cls / f"{i}.png")
    return root


def test_relative_imagefolder_and_hierarchy_paths_are_stored_absolute(tmp_path, monkeypatch):
    """A run folder's config names its data from anywhere: `sslre reproduce` measures it in the repository root."""
    _png_tree(tmp_path / "pets")
    (tmp_path / "h.json").write_text(json.dumps({"all": ["a", "b"]}))
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY, "--epochs", "1", "--dataset", "imagefolder:pets", "--hierarchy", "h.json",
                 "--run-dir", "run"]) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["dataset"] == f"imagefolder:{(tmp_path / 'pets').resolve()}"
    assert cfg["hierarchy"] == str((tmp_path / "h.json").resolve())
    # `--set` spells the same fields: the same rule
    assert main(["train", *TINY, "--epochs", "1", "--set", "dataset=imagefolder:pets", "--run-dir", "run2"]) == 0
    assert json.loads((tmp_path / "run2" / "config.json").read_text())["dataset"] == cfg["dataset"]
