"""GPU path = CPU path: ``device``, ``amp``, ``channels_last`` and ``compile`` change only *how* the same training
step runs (``sslre.train.train_step`` on ``StepModule`` for every device), never which code computes the loss.

CPU tests pin: the step function is the same object whatever the config asks for; ``amp`` is ignored on CPU
(bit-identical run); ``cpu_amp`` is bf16 autocast on CPU, deterministic and within a few percent of fp32;
``channels_last`` gives the same losses within float round-off. The ``gpu`` test trains two
quick-profile steps on CUDA through the same function (skipped without CUDA).
"""
from __future__ import annotations

import json

import pytest
import torch

import sslre.train as train_mod
from sslre.checkpoint import read_checkpoint
from sslre.config import profile_config
from sslre.data.base import ImageSet


def _data(n=64, seed=0) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)  # (N, 3, 32, 32)
    return ImageSet(images, labels, labels // 2, ("a", "b", "c", "d"), ("x", "y"), "tiny/train")


def _config(**kw):
    base = dict(arch="RES-1-8", proj_hidden=16, proj_out=8, batch_size=16, epochs=1, checkpoint_epochs=(0, 1),
                num_threads=1, device="cpu", lr=0.01, warmup_epochs=0)
    base.update(kw)
    return profile_config("quick", **base)


def _rows(run):
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


class _Spy:
    """Wraps train_step, recording the device and model type of every call."""

    def __init__(self):
        self.real = train_mod.train_step
        self.calls = []

    def __call__(self, model, images, *args, **kw):
        self.calls.append((images.device.type, type(model).__name__, images.dtype))
        return self.real(model, images, *args, **kw)


@pytest.mark.parametrize("kw", [{}, {"amp": True}, {"cpu_amp": True}, {"channels_last": True}, {"compile": True},
                                {"method": "simclr"}, {"method": "supervised"}])
def test_every_setting_runs_the_one_train_step(tmp_path, monkeypatch, kw):
    spy = _Spy()
    monkeypatch.setattr(train_mod, "train_step", spy)
    train_mod.train(_config(**kw), tmp_path / "run", progress=False, data=_data())
    # epoch 0 (measure only) + epoch 1: 64 / 16 = 4 steps each, all through train_step on a StepModule, uint8 in
    assert spy.calls == [("cpu", "StepModule", torch.uint8)] * 8


def test_amp_is_ignored_on_cpu(tmp_path):
    data = _data()
    a = train_mod.train(_config(), tmp_path / "a", progress=False, data=data)
    b = train_mod.train(_config(amp=True), tmp_path / "b", progress=False, data=data)
    wa, wb = (read_checkpoint(r / "checkpoints" / "last.pt")["model"] for r in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [r["loss_total"] for r in _rows(a)] == [r["loss_total"] for r in _rows(b)]


def test_autocast_is_a_no_op_off_cuda():
    config = _config(amp=True)
    with train_mod._autocast(torch.device("cpu"), config):
        assert not torch.is_autocast_enabled("cpu")
        y = torch.ones(2, 2) @ torch.ones(2, 2)  # (2, 2)
    assert y.dtype == torch.float32


def test_cpu_amp_autocasts_to_bf16_on_cpu_only():
    config = _config(cpu_amp=True)
    with train_mod._autocast(torch.device("cpu"), config):
        assert torch.is_autocast_enabled("cpu")
        y = torch.ones(2, 2) @ torch.ones(2, 2)  # (2, 2)
    assert y.dtype == torch.bfloat16


def test_cpu_amp_is_deterministic_and_close_to_fp32(tmp_path):
    data = _data()
    cfg = _config(epochs=2, checkpoint_epochs=(0, 2))
    ref = train_mod.train(cfg, tmp_path / "fp32", progress=False, data=data)
    a = train_mod.train(cfg.replace(cpu_amp=True), tmp_path / "a", progress=False, data=data)
    b = train_mod.train(cfg.replace(cpu_amp=True), tmp_path / "b", progress=False, data=data)
    wa, wb = (read_checkpoint(r / "checkpoints" / "last.pt")["model"] for r in (a, b))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # same config and seed: bit-identical
    x, y = _rows(ref)[0], _rows(a)[0]  # epoch 0: the same initial weights, forward passes only
    for k in ("loss_total", "loss_invariance", "loss_regularization"):
        # bf16 keeps 8 mantissa bits: the loss terms agree to a few percent (the CUDA amp test's tolerance).
        # Trained epochs drift apart further (different round-off, different trajectory): their quality is
        # compared by training the quick profile both ways (commit message / config comment), not here.
        assert y[k] == pytest.approx(x[k], rel=5e-2), k


def test_channels_last_on_cpu_gives_the_same_losses(tmp_path):
    data = _data()
    a = train_mod.train(_config(epochs=2, checkpoint_epochs=(0, 2), channels_last=False), tmp_path / "a",
                        progress=False, data=data)
    b = train_mod.train(_config(epochs=2, checkpoint_epochs=(0, 2), channels_last=True), tmp_path / "b",
                        progress=False, data=data)
    ra, rb = _rows(a), _rows(b)
    assert len(ra) == len(rb) == 3
    for x, y in zip(ra, rb):
        for k in ("loss_total", "loss_invariance", "loss_regularization"):
            # Different convolution kernels sum in another order: equal up to float32 round-off.
            assert y[k] == pytest.approx(x[k], rel=1e-4), (x["epoch"], k)
    wa = read_checkpoint(a / "checkpoints" / "last.pt")["model"]
    wb = read_checkpoint(b / "checkpoints" / "last.pt")["model"]
    for k in wa:
        # Checkpoint tensors are plain (contiguous) CPU tensors whatever the memory format in training.
        assert wb[k].shape == wa[k].shape
        assert torch.allclose(wb[k].contiguous(), wa[k], rtol=1e-3, atol=1e-5), k


@pytest.mark.gpu
@pytest.mark.parametrize("amp", [True, False])
def test_two_quick_profile_steps_on_cuda(tmp_path, monkeypatch, amp):
    """2 training steps of the quick profile on CUDA: the uint8 split lives on the GPU, the augmentation runs there,
    the same train_step is called, and the losses match a CPU run of the same config (bf16: loosely)."""
    spy = _Spy()
    monkeypatch.setattr(train_mod, "train_step", spy)
    data = _data(n=256)
    kw = dict(arch="RES-3-32", proj_hidden=256, proj_out=256, batch_size=128, channels_last=True, amp=amp)
    gpu = train_mod.train(_config(device="cuda", **kw), tmp_path / "gpu", progress=False, data=data)
    assert spy.calls == [("cuda", "StepModule", torch.uint8)] * 4  # epoch 0: 2 steps, epoch 1: 2 steps
    monkeypatch.setattr(train_mod, "train_step", spy.real)
    cpu = train_mod.train(_config(device="cpu", **kw), tmp_path / "cpu", progress=False, data=data)
    rg, rc = _rows(gpu), _rows(cpu)
    assert rg[1]["steps"] == 2 and all(torch.isfinite(torch.tensor(r["loss_total"])) for r in rg)
    # The augmentation draws come from the same CPU generator, so both devices see the same views; the numbers
    # differ only by kernel round-off (fp32) or by bf16 rounding.
    rel = 5e-2 if amp else 1e-3
    for x, y in zip(rc, rg):
        assert y["loss_total"] == pytest.approx(x["loss_total"], rel=rel), x["epoch"]
    ckpt = read_checkpoint(gpu / "checkpoints" / "last.pt")
    assert all(v.device.type == "cpu" for v in ckpt["model"].values())  # loadable anywhere


@pytest.mark.gpu
def test_reproduce_device_cuda_trains_runs_side_by_side_and_reads_them_on_the_gpu(tmp_path, monkeypatch):
    """`sslre reproduce --device cuda`'s training and reading at tiny sizes: two runs train at once on the one GPU,
    each in bf16 with its split on the GPU, and their features read there agree with a CPU read."""
    from sslre import experiments as ex
    from sslre.checkpoint import load_checkpoint
    from sslre.measure import _feature_cache
    from tests.test_reproduce import tiny_specs

    monkeypatch.setenv(ex.DEVICE_ENV, "cuda")
    specs = tiny_specs(names=("vicreg",), seeds=(0, 1))
    assert all(c.device == "cuda" and c.amp for c in specs["vicreg"].configs)
    ex.ensure_runs("quick", tmp_path, True, specs=specs, progress=False)   # GPU_JOBS at once: both seeds
    for seed in (0, 1):
        run = specs["vicreg"].run_dir(tmp_path, seed)
        assert json.loads((run / "config.json").read_text())["device"] == "cuda"
        assert all(torch.isfinite(torch.tensor(r["loss_total"])) for r in _rows(run))
    run = specs["vicreg"].run_dir(tmp_path, 0)
    images = _data(n=64).images
    ckpt = run / "checkpoints" / "epoch_0002.pt"
    gpu = _feature_cache(run / "gpu", None, "cuda").get(ckpt, "x", images)
    cpu = _feature_cache(run / "cpu", None, "cpu").get(ckpt, "x", images)
    for g, c in zip(gpu, cpu):
        assert g.device.type == "cpu" and torch.allclose(g, c, rtol=1e-2, atol=1e-3)
    assert load_checkpoint(ckpt).model is not None


def test_the_gpu_slice_tool_runs_its_cpu_smoke(tmp_path):
    """tools/gpu_medium_slice.py (what sizes `sslre reproduce --device cuda` to a device's time) in its CPU smoke
    mode: one and two runs at once, a summary with an estimate, written to $OUT."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OUT": str(tmp_path), "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(root / "tools" / "gpu_medium_slice.py"), "--smoke", "--epochs", "2",
                           "--jobs", "1,2"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads((tmp_path / "gpu_medium_slice.json").read_text())
    assert out["smoke"] and [r["jobs"] for r in out["results"]] == [1, 2]
    assert all(r["aggregate_images_per_s"] > 0 for r in out["results"]) and out["training_hours_estimate"] > 0
