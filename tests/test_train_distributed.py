"""Training under ``torchrun`` on CPU (gloo): sharding of the global batch, rank-0-only writes, loadable checkpoints,
exact resume, and the in-process pieces (shards, per-rank seeds, batch-size check).

The loss/gradient equality of 2 processes vs 1 process is pinned by ``tests/test_distributed.py``; here the whole
loop runs as ``torchrun --nproc_per_node=2 -m sslre.cli train ...``.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sslre.train as train_mod
from sslre.checkpoint import list_checkpoints, read_checkpoint
from sslre.config import ConfigError, profile_config
from sslre.distributed import DistInfo
from sslre.train import _batches, _shard, rank_seed, steps_per_epoch

REPO = Path(__file__).resolve().parent.parent
# Tiny run: 128 synthetic images, global batch 32 (16 per rank), RES-1-8.
TINY = ["--profile", "quick", "--method", "vicreg", "--arch", "RES-1-8", "--set", "proj_hidden=16",
        "--set", "proj_out=8", "--set", "train_subset=128", "--set", "test_subset=32", "--set", "batch_size=32",
        "--set", "lr=0.01", "--device", "cpu", "--no-progress"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(run_dir: Path, *extra: str, nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", "-m", "sslre.cli", "train", *TINY, *extra, "--run-dir", str(run_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


@pytest.mark.small
def test_torchrun_two_processes_trains_and_resumes_exactly(tmp_path):
    run = tmp_path / "run"
    _torchrun(run, "--epochs", "2")
    assert (run / "DONE").exists()
    assert list(list_checkpoints(run)) == [0, 1, 2]
    # Only rank 0 writes, atomically: no temporary files left over, one history row per epoch.
    leftovers = [p.name for p in run.rglob(".*.tmp")]
    assert leftovers == []
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    # images counts the global batch: 128 // 32 = 4 steps of 32 images (both ranks' shards).
    assert all(r["steps"] == 4 and r["images"] == 128 for r in rows)
    assert all(r["loss_total"] == pytest.approx(r["loss_invariance"] + r["loss_regularization"], rel=1e-5)
               for r in rows)

    # The checkpoint holds the unwrapped method (no DDP "module." prefix) and loads like a 1-process one.
    ckpt = train_mod.read_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 2
    assert not any(k.startswith(("module.", "method.")) for k in ckpt["model"])
    from sslre import load_checkpoint

    loaded = load_checkpoint(run / "checkpoints" / "epoch_0002.pt")
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8).float() / 255
    assert loaded.model(x).shape == (4, 8)
    init = read_checkpoint(run / "checkpoints" / "epoch_0000.pt")["model"]
    assert any(not torch.equal(init[k], ckpt["model"][k]) for k in init)  # it did train

    # Resume: roll the run back to the end of epoch 1 and finish it again under torchrun. Every rank reads last.pt;
    # gloo's 2-rank all-reduce is deterministic, so the second epoch is replayed bit for bit.
    final = {k: v.clone() for k, v in ckpt["model"].items()}
    # A new file, not an in-place overwrite: checkpoints may be memory-mapped by the reader.
    shutil.copy(run / "checkpoints" / "epoch_0001.pt", run / "checkpoints" / "rollback.tmp")
    os.replace(run / "checkpoints" / "rollback.tmp", run / "checkpoints" / "last.pt")
    (run / "checkpoints" / "epoch_0002.pt").unlink()
    (run / "DONE").unlink()
    _torchrun(run, "--epochs", "2")
    again = read_checkpoint(run / "checkpoints" / "last.pt")
    assert again["epoch"] == 2 and (run / "DONE").exists()
    assert all(torch.equal(again["model"][k], final[k]) for k in final)
    assert [r["epoch"] for r in _rows(run)] == [0, 1, 2]
    assert _rows(run)[2]["loss_total"] == pytest.approx(rows[2]["loss_total"], rel=1e-6)


def test_shards_of_every_rank_make_up_the_one_process_batch():
    config = profile_config("quick", batch_size=32)
    one = _batches(100, config, torch.Generator().manual_seed(5))
    for world in (2, 4):
        # every rank draws the same permutation from the epoch generator
        per_rank = [_batches(100, config, torch.Generator().manual_seed(5), world) for _ in range(world)]
        for step, idx in enumerate(one):
            shards = [_shard(per_rank[r][step], DistInfo(rank=r, world_size=world)) for r in range(world)]
            assert [len(s) for s in shards] == [32 // world] * world
            assert torch.equal(torch.cat(shards), idx)  # rank order = the order gather_cat concatenates


def test_last_supervised_batch_is_kept_only_if_every_rank_gets_an_image():
    config = profile_config("quick", method="supervised", batch_size=32)
    assert steps_per_epoch(config, 32 * 3 + 3) == 4
    assert steps_per_epoch(config, 32 * 3 + 3, world=2) == 4
    assert steps_per_epoch(config, 32 * 3 + 3, world=4) == 3  # 3 leftover images cannot feed 4 ranks


def test_rank_seeds_differ_between_ranks_and_epochs_and_are_stable():
    seeds = {rank_seed(0, e, r) for e in range(3) for r in range(4)}
    assert len(seeds) == 12
    assert rank_seed(3, 2, 1) == rank_seed(3, 2, 1)
    assert all(0 <= s < 2**63 - 1 for s in seeds)


def test_global_batch_must_divide_by_the_process_count(tmp_path, monkeypatch):
    # Pretend to be one of 3 ranks: the check fires before any collective is needed.
    monkeypatch.setattr(train_mod, "setup_from_env", lambda backend=None: DistInfo(rank=0, world_size=3))
    config = profile_config("quick", arch="RES-1-8", batch_size=32, device="cpu")
    with pytest.raises(ConfigError, match="not divisible by the 3 processes"):
        train_mod.train(config, tmp_path / "run", progress=False)
