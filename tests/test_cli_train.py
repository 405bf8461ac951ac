"""``sslre train`` end to end, its config errors, and exact resume after ``kill -9``."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

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


def test_unknown_method_is_rejected_by_argparse(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--profile", "quick", "--method", "byol", "--run-dir", str(tmp_path / "r")])
    assert e.value.code == 2
    assert "vicreg" in capsys.readouterr().err


def test_run_dir_with_other_config_is_a_config_error(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "1", "--run-dir", str(run)]) == 0
    assert main(["train", *TINY, "--epochs", "1", "--mu", "5", "--run-dir", str(run)]) == 2
    assert "different config" in capsys.readouterr().err


def _cmd(run_dir):
    return [sys.executable, "-m", "sslre.cli", "train", *TINY, "--epochs", "6", "--run-dir", str(run_dir)]


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
