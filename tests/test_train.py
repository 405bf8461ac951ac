import json
import math
import os
import socket
import subprocess
import sys
import warnings

import pytest
import torch

import sslre.train as train_mod
from sslre.checkpoint import CheckpointError, list_checkpoints, load_checkpoint, read_checkpoint
from sslre.config import ConfigError, profile_config
from sslre.data.base import ImageSet
from sslre.methods import build_method
from sslre.train import ResumeWarning, RunDirError, RunDirLockedError, lr_factor, run_lock, train


def tiny_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    return ImageSet(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g), labels, labels // 2,
                    ("a", "b", "c", "d"), ("x", "y"), "tiny/train")


def tiny_config(**kw):
    base = dict(arch="RES-1-8", proj_hidden=16, proj_out=8, batch_size=16, epochs=3, checkpoint_epochs=(0, 2, 3),
                num_threads=1, device="cpu", lr=0.01, warmup_epochs=0)
    base.update(kw)
    return profile_config("quick", **base)


def final_state(run_dir):
    return read_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def test_run_layout_history_and_checkpoints(tmp_path):
    cfg = tiny_config()
    run = train(cfg, tmp_path / "run", progress=False, data=tiny_data())
    assert (run / "DONE").exists()
    assert json.loads((run / "config.json").read_text()) == cfg.to_dict()
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    for r in rows:
        for k in ("loss_invariance", "loss_regularization", "loss_total", "loss_variance", "loss_covariance",
                  "lr", "seconds", "images_per_s", "cpu_seconds"):
            assert r[k] is not None and math.isfinite(r[k]), (r["epoch"], k)
        assert 0 < r["cpu_seconds"]
        assert r["loss_total"] == pytest.approx(r["loss_invariance"] + r["loss_regularization"], rel=1e-6)
        assert r["steps"] == 4 and r["images"] == 64  # 64 images / batch 16, drop_last
    assert rows[0]["lr"] == 0.0  # epoch 0 measures without updates
    assert rows[1]["lr"] == pytest.approx(0.01) and rows[1]["lr"] > rows[2]["lr"] > rows[3]["lr"] > 0
    assert list(list_checkpoints(run)) == [0, 2, 3]
    assert (run / "checkpoints" / "last.pt").exists()
    assert not [p for p in run.rglob("*.tmp")]
    ck = load_checkpoint(run / "checkpoints" / "epoch_0003.pt")
    assert ck.epoch == 3 and ck.config == cfg and [h["epoch"] for h in ck.history] == [0, 1, 2, 3]


def test_epoch0_checkpoint_is_the_initialization(tmp_path):
    cfg = tiny_config(seed=7)
    run = train(cfg, tmp_path / "run", progress=False, data=tiny_data())
    torch.manual_seed(7)
    init = build_method(cfg).state_dict()
    saved = load_checkpoint(run / "checkpoints" / "epoch_0000.pt").method.state_dict()
    for k, v in init.items():
        assert torch.equal(saved[k], v), k  # includes BN running stats: the epoch-0 pass did not move them
    trained = load_checkpoint(run / "checkpoints" / "epoch_0003.pt").method.state_dict()
    assert not torch.equal(trained["backbone.blocks.0.conv1.weight"], init["backbone.blocks.0.conv1.weight"])


def test_same_config_same_weights_other_seed_other_weights(tmp_path):
    data = tiny_data()
    a = final_state(train(tiny_config(), tmp_path / "a", progress=False, data=data))
    b = final_state(train(tiny_config(), tmp_path / "b", progress=False, data=data))
    c = final_state(train(tiny_config(seed=1), tmp_path / "c", progress=False, data=data))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_after_interruption_is_exact(tmp_path, monkeypatch):
    data = tiny_data()
    cfg = tiny_config(epochs=4, checkpoint_epochs=(0, 1, 4))
    ref_run = train(cfg, tmp_path / "ref", progress=False, data=data)
    ref = final_state(ref_run)

    real = train_mod.run_epoch

    def dying(method, images, labels, config, epoch, **kw):
        if epoch == 3:
            raise KeyboardInterrupt("simulated kill during epoch 3")
        return real(method, images, labels, config, epoch, **kw)

    monkeypatch.setattr(train_mod, "run_epoch", dying)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", progress=False, data=data)
    assert not (tmp_path / "run" / "DONE").exists()
    assert read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"] == 2
    monkeypatch.setattr(train_mod, "run_epoch", real)
    run = train(cfg, tmp_path / "run", progress=False, data=data)
    got = final_state(run)
    assert all(torch.equal(got[k], ref[k]) for k in ref)
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    ref_rows = [json.loads(line) for line in (ref_run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["loss_total"] for r in rows] == [r["loss_total"] for r in ref_rows]


def test_other_config_in_run_dir_is_refused(tmp_path):
    train(tiny_config(), tmp_path / "run", progress=False, data=tiny_data())
    with pytest.raises(RunDirError, match=r"vicreg_mu: 25.0 \(run\) vs 5.0"):
        train(tiny_config(vicreg_mu=5.0), tmp_path / "run", progress=False, data=tiny_data())


def test_finished_run_is_not_retrained(tmp_path):
    run = train(tiny_config(), tmp_path / "run", progress=False, data=tiny_data())
    before = (run / "checkpoints" / "last.pt").stat().st_mtime_ns
    train(tiny_config(num_threads=1), run, progress=False, data=tiny_data())
    assert (run / "checkpoints" / "last.pt").stat().st_mtime_ns == before


@pytest.mark.parametrize("method", ["simclr", "supervised"])
def test_other_methods_train(tmp_path, method):
    run = train(tiny_config(method=method, epochs=2, checkpoint_epochs=(0, 2)), tmp_path / method,
                progress=False, data=tiny_data())
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    if method == "supervised":
        assert rows[-1]["loss_invariance"] is None and 0 <= rows[-1]["accuracy"] <= 1
        assert load_checkpoint(run / "checkpoints" / "epoch_0002.pt").method.head.num_classes == 4
    else:
        assert rows[-1]["loss_variance"] is None and math.isfinite(rows[-1]["loss_regularization"])


def _history(run):
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method", ["barlowtwins", "byol"])
def test_barlowtwins_and_byol_train_with_their_loss_terms(tmp_path, method):
    cfg = tiny_config(method=method, epochs=2, checkpoint_epochs=(0, 2), byol_pred_hidden=16)
    run = train(cfg, tmp_path / method, progress=False, data=tiny_data())
    rows = _history(run)
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    for r in rows:
        assert math.isfinite(r["loss_total"]) and math.isfinite(r["loss_invariance"])
        assert r["loss_variance"] is None and r["loss_covariance"] is None and r["accuracy"] is None
        if method == "barlowtwins":
            assert r["loss_total"] == pytest.approx(r["loss_invariance"] + r["loss_regularization"], rel=1e-6)
        else:  # BYOL: all invariance, no regularizer
            assert r["loss_regularization"] is None and r["loss_total"] == r["loss_invariance"]
    ck = load_checkpoint(run / "checkpoints" / "epoch_0002.pt")
    assert ck.model is ck.method.backbone  # measurements use the online backbone
    if method == "byol":
        assert ck.method.target_step == 2 * 4  # 2 epochs x 4 steps: one momentum update per optimizer step
        online, target = ck.method.backbone.state_dict(), ck.method.target_backbone.state_dict()
        assert not torch.equal(online["blocks.0.conv1.weight"], target["blocks.0.conv1.weight"])
        init = load_checkpoint(run / "checkpoints" / "epoch_0000.pt").method
        assert init.target_step == 0  # the epoch-0 pass (no updates) left the target at the initialization


def test_byol_resume_after_interruption_is_exact(tmp_path, monkeypatch):
    # The target network and the momentum step live in the checkpoint: an interrupted-and-resumed BYOL run ends
    # bitwise equal to an uninterrupted one (online, predictor, target, counter and history).
    data = tiny_data()
    cfg = tiny_config(method="byol", epochs=3, checkpoint_epochs=(0, 1, 3), byol_pred_hidden=16)
    ref_run = train(cfg, tmp_path / "ref", progress=False, data=data)
    ref = final_state(ref_run)
    real = _kill_after_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", progress=False, data=data)
    assert read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"] == 1
    monkeypatch.setattr(train_mod, "run_epoch", real)
    run = train(cfg, tmp_path / "run", progress=False, data=data)
    got = final_state(run)
    assert set(got) == set(ref) and any(k.startswith("target_backbone.") for k in ref) and "_extra_state" in ref
    assert all(torch.equal(got[k], ref[k]) for k in ref)
    assert [r["loss_total"] for r in _history(run)] == [r["loss_total"] for r in _history(ref_run)]


def test_adam_and_warmup(tmp_path):
    cfg = tiny_config(optimizer="adam", lr=1e-3, warmup_epochs=1, epochs=2, checkpoint_epochs=(0, 2))
    run = train(cfg, tmp_path / "run", progress=False, data=tiny_data())
    raw = read_checkpoint(run / "checkpoints" / "last.pt")
    assert "betas" in raw["optimizer"]["param_groups"][0]  # Adam, not SGD
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert rows[1]["lr"] == pytest.approx(1e-3 / 4)  # warm-up: first of 4 steps gets 1/4 of the lr


def test_lr_factor_schedule():
    assert lr_factor(0, 100, 0) == 1.0
    assert lr_factor(50, 100, 0) == pytest.approx(0.5)
    assert lr_factor(99, 100, 0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.99)))
    assert [lr_factor(s, 100, 4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(4, 100, 4) == 1.0


def test_batch_larger_than_data_and_size_mismatch(tmp_path):
    with pytest.raises(ConfigError, match="batch_size=128 is larger than the 64"):
        train(tiny_config(batch_size=128), tmp_path / "a", progress=False, data=tiny_data())
    with pytest.raises(ConfigError, match="image_size=16"):
        train(tiny_config(image_size=16), tmp_path / "b", progress=False, data=tiny_data())


@pytest.mark.gpu
def test_cuda_path_amp_channels_last_matches_cpu_at_init(tmp_path):
    data = tiny_data()
    cpu_cfg = tiny_config(epochs=1, checkpoint_epochs=(0, 1))
    gpu_cfg = tiny_config(epochs=1, checkpoint_epochs=(0, 1), device="cuda", amp=True, channels_last=True)
    cpu_run = train(cpu_cfg, tmp_path / "cpu", progress=False, data=data)
    gpu_run = train(gpu_cfg, tmp_path / "gpu", progress=False, data=data)
    h_cpu = [json.loads(line) for line in (cpu_run / "history.jsonl").read_text().splitlines()]
    h_gpu = [json.loads(line) for line in (gpu_run / "history.jsonl").read_text().splitlines()]
    # Same init and the same views (CPU generator): the untrained loss agrees up to bf16 round-off.
    assert h_gpu[0]["loss_total"] == pytest.approx(h_cpu[0]["loss_total"], rel=0.05)
    assert all(math.isfinite(r["loss_total"]) for r in h_gpu)
    ck = load_checkpoint(gpu_run / "checkpoints" / "epoch_0001.pt")  # saved from CUDA, loads on CPU
    assert next(ck.model.parameters()).device.type == "cpu"
    init_cpu = load_checkpoint(cpu_run / "checkpoints" / "epoch_0000.pt").method.state_dict()
    init_gpu = load_checkpoint(gpu_run / "checkpoints" / "epoch_0000.pt").method.state_dict()
    assert all(torch.equal(init_cpu[k], init_gpu[k]) for k in init_cpu)


# --- a run folder has one owner; resume trusts only checkpoints that prove what they are ----------------------

def _train(cfg, run):
    return train(cfg, run, progress=False, data=tiny_data())


def test_second_trainer_fails_at_once_naming_the_holder(tmp_path):
    # Was: two trainers in one folder both "finished OK"; the second overwrote the first.
    run = tmp_path / "run"
    with run_lock(run):
        with pytest.raises(RunDirLockedError, match=f"pid {os.getpid()} on host {socket.gethostname()}"):
            _train(tiny_config(), run)
    assert not (run / "config.json").exists()
    _train(tiny_config(), run)  # released with the with-block
    assert (run / "DONE").exists()


def test_lock_is_released_when_the_holder_dies(tmp_path):
    run = tmp_path / "run"
    code = ("import sys, os; from sslre.train import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('locked', flush=True); os._exit(0)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code, str(run)], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "locked"
    with run_lock(run):
        pass


def test_second_trainer_does_not_delete_the_savers_temp_file(tmp_path):
    # Was: the second trainer's start-up clean-up deleted the temp file of a trainer that was saving
    # (FileNotFoundError on os.replace in the first).
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    tmp = run / "checkpoints" / ".last.pt.abc123.tmp"
    with run_lock(run):
        tmp.write_bytes(b"being written")  # by the lock's holder (its own stale temporaries went at locking)
        with pytest.raises(RunDirLockedError):
            _train(tiny_config(), run)
        assert tmp.exists()


def test_taking_the_lock_removes_stale_temporaries(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    stale = [run / ".history.jsonl.x1.tmp", run / "checkpoints" / ".last.pt.x2.tmp"]
    for p in stale:
        p.write_bytes(b"left by a killed writer")
    with run_lock(run):
        assert not any(p.exists() for p in stale)
    assert sorted(p.name for p in run.iterdir()) == [".lock", "checkpoints"]


def test_run_dir_that_is_a_file_is_a_run_dir_error(tmp_path):
    f = tmp_path / "run"
    f.write_text("not a folder")
    with pytest.raises(RunDirError, match="is a file, not a folder"):
        _train(tiny_config(), f)


def _kill_after_epoch(monkeypatch, n):
    real = train_mod.run_epoch

    def dying(*a, **kw):
        if a[4] > n:
            raise KeyboardInterrupt("killed")
        return real(*a, **kw)

    monkeypatch.setattr(train_mod, "run_epoch", dying)
    return real


def test_last_pt_of_another_seed_is_not_resumed(tmp_path, monkeypatch):
    # Was: a last.pt copied in from a seed-1 run resumed a seed-0 folder without a word.
    cfg0, cfg1 = tiny_config(seed=0), tiny_config(seed=1)
    _train(cfg1, tmp_path / "s1")
    run = tmp_path / "s0"
    real = _kill_after_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg0, run)
    monkeypatch.setattr("sslre.train.run_epoch", real)
    (run / "checkpoints" / "last.pt").write_bytes((tmp_path / "s1" / "checkpoints" / "last.pt").read_bytes())
    with pytest.warns(ResumeWarning, match="last.pt") as rec:
        _train(cfg0, run)
    assert "epoch_0000.pt" in str(rec[0].message)
    _train(cfg0, tmp_path / "ref")
    for k, v in final_state(tmp_path / "ref").items():
        assert torch.equal(final_state(run)[k], v), k
    history = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    ref = [json.loads(x) for x in (tmp_path / "ref" / "history.jsonl").read_text().splitlines()]
    assert [r["loss_total"] for r in history] == [r["loss_total"] for r in ref]


def test_checkpoint_config_must_equal_config_json(tmp_path, monkeypatch):
    # A last.pt whose config differs from config.json (its index entry rewritten to match, so only the config
    # comparison can catch it) is skipped, never resumed.
    from sslre.checkpoint import content_digest, record_in_index

    cfg = tiny_config()
    run = tmp_path / "run"
    real = _kill_after_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, run)
    monkeypatch.setattr("sslre.train.run_epoch", real)
    last = run / "checkpoints" / "last.pt"
    raw = read_checkpoint(last)
    raw["config"]["vicreg_mu"] = 5.0
    raw["sha256"] = content_digest(raw)
    torch.save(raw, last)
    record_in_index(last, raw["sha256"], raw["epoch"])
    with pytest.warns(ResumeWarning, match=r"written by another config \(vicreg_mu: 5.0 \(checkpoint\) vs 25.0 \(config.json\)"):
        _train(cfg, run)
    assert read_checkpoint(last)["epoch"] == 3


def test_truncated_last_pt_falls_back_to_the_newest_epoch_checkpoint(tmp_path, monkeypatch):
    # Was: a traceback; the advice "delete last.pt" then retrained from epoch 0 although epoch_0002.pt was intact.
    cfg = tiny_config()
    run = tmp_path / "run"
    real = _kill_after_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, run)
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    epochs = []

    def counting(*a, **kw):
        epochs.append(a[4])
        return real(*a, **kw)

    monkeypatch.setattr(train_mod, "run_epoch", counting)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        _train(cfg, run)
    msgs = [str(w.message) for w in rec if issubclass(w.category, ResumeWarning)]
    assert len(msgs) == 1 and "last.pt" in msgs[0] and "truncated or corrupt" in msgs[0]
    assert "epoch_0002.pt (epoch 2)" in msgs[0]
    assert epochs == [3]  # resumed after epoch 2, not from 0
    _train(cfg, tmp_path / "ref")
    for k, v in final_state(tmp_path / "ref").items():
        assert torch.equal(final_state(run)[k], v), k


def test_no_usable_checkpoint_is_a_checkpoint_error(tmp_path, monkeypatch):
    cfg = tiny_config()
    run = tmp_path / "run"
    real = _kill_after_epoch(monkeypatch, 0)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, run)
    monkeypatch.setattr("sslre.train.run_epoch", real)
    for p in (run / "checkpoints").glob("*.pt"):
        p.write_bytes(os.urandom(100))
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        _train(cfg, run)


def test_failed_start_leaves_no_config_and_the_corrected_retry_runs(tmp_path):
    # Was: config.json was written before the data were checked, so the corrected retry was refused
    # ("holds a run with a different config").
    run = tmp_path / "run"
    with pytest.raises(Exception, match="larger than the 64 training images"):
        _train(tiny_config(batch_size=1000), run)
    assert not (run / "config.json").exists()
    _train(tiny_config(), run)
    assert (run / "DONE").exists()


def test_file_system_without_flock_trains_with_a_warning(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    with pytest.warns(ResumeWarning, match="this file system has no flock"):
        _train(tiny_config(), tmp_path / "run")
    assert (tmp_path / "run" / "DONE").exists()
