"""DDP equality: 2 processes (gloo, CPU) give the same loss and gradients as 1 process on the same global batch.

VICReg's variance/covariance terms and SimCLR's negatives are batch statistics, so under DDP they must be computed
over the *global* batch (gathered across ranks, as the original VICReg code does). BatchNorm is per-rank on CPU
(SyncBatchNorm needs CUDA; ``sslre.train`` converts to it there), so the 1-process reference runs the backbone on
each rank's shard separately and computes the loss on the concatenated global batch: what differs between the two
is exactly the gathering this test is about.
"""
from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sslre.config import profile_config
from sslre.methods import build_method

WORLD = 2
GLOBAL_BATCH = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setup(method: str):
    config = profile_config("quick", method=method, arch="RES-2-8", proj_hidden=16, proj_out=16)
    torch.manual_seed(0)
    model = build_method(config)
    g = torch.Generator().manual_seed(1)
    v1 = torch.randn(GLOBAL_BATCH, 3, 32, 32, generator=g)  # (B, 3, 32, 32) first views of the global batch
    v2 = torch.randn(GLOBAL_BATCH, 3, 32, 32, generator=g) * 0.5 + v1  # (B, 3, 32, 32) correlated second views
    return model, v1, v2


class _TwoViews(torch.nn.Module):
    """One forward call for both views (DDP expects one forward per backward), backbone + head as in training."""

    def __init__(self, method):
        super().__init__()
        self.method = method

    def forward(self, v1, v2):
        return self.method._embed(v1), self.method._embed(v2)


def _worker(rank: int, method: str, port: int, out_path: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        model, v1, v2 = _setup(method)
        ddp = torch.nn.parallel.DistributedDataParallel(_TwoViews(model))
        b = GLOBAL_BATCH // WORLD
        shard = slice(rank * b, (rank + 1) * b)
        z1, z2 = ddp(v1[shard], v2[shard])  # (B/W, D) local projections of each view
        terms = model.loss(z1, z2)
        terms["loss_total"].backward()  # DDP averages the gradients over ranks
        losses = torch.stack([terms["loss_total"].detach(), terms["loss_regularization"].detach()])
        gathered = [torch.zeros_like(losses) for _ in range(WORLD)]
        dist.all_gather(gathered, losses)
        if rank == 0:
            grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
            torch.save({"losses": torch.stack(gathered), "grads": grads}, out_path)
    finally:
        dist.destroy_process_group()


def _reference(method: str):
    model, v1, v2 = _setup(method)
    b = GLOBAL_BATCH // WORLD
    # BN statistics per shard, as on the ranks; the loss then sees the whole global batch at once.
    z1 = torch.cat([model._embed(v1[r * b:(r + 1) * b]) for r in range(WORLD)])  # (B, D)
    z2 = torch.cat([model._embed(v2[r * b:(r + 1) * b]) for r in range(WORLD)])  # (B, D)
    terms = model.loss(z1, z2)
    terms["loss_total"].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return terms, grads


@pytest.mark.parametrize("method", ["vicreg", "simclr", "barlowtwins"])
def test_two_process_loss_and_gradients_equal_one_process(method, tmp_path):
    out = tmp_path / "rank0.pt"
    mp.start_processes(_worker, args=(method, _free_port(), str(out)), nprocs=WORLD, start_method="spawn")
    got = torch.load(out)
    ref_terms, ref_grads = _reference(method)
    per_rank_total, per_rank_reg = got["losses"][:, 0], got["losses"][:, 1]
    ref_reg = ref_terms["loss_regularization"].item()
    if method in ("vicreg", "barlowtwins"):
        # Variance/covariance (Barlow Twins: the cross-correlation) are global-batch statistics: every rank sees
        # the reference value itself.
        assert per_rank_reg.tolist() == pytest.approx([ref_reg] * WORLD, rel=1e-5)
    else:
        # SimCLR: local anchors against global negatives; the ranks' mean is the global mean over anchors.
        assert float(per_rank_reg.mean()) == pytest.approx(ref_reg, rel=1e-5)
    # The invariance term is a per-pair mean: the ranks' mean equals the global mean.
    assert float(per_rank_total.mean()) == pytest.approx(ref_terms["loss_total"].item(), rel=1e-5)
    assert set(got["grads"]) == set(ref_grads)
    # float32 summation order differs between the all-reduce and one big batch: errors relative to the gradient's
    # overall scale (some gradients are analytically 0, e.g. the last bias under VICReg's shift invariance).
    scale = torch.sqrt(sum(g.pow(2).sum() for g in ref_grads.values()))
    for name, g in ref_grads.items():
        rel_err = float((got["grads"][name] - g).norm() / scale)
        assert rel_err == pytest.approx(0.0, abs=1e-5), name


def test_gather_cat_is_identity_in_one_process():
    from sslre.distributed import gather_cat, setup_from_env

    x = torch.randn(4, 3)
    assert gather_cat(x) is x
    assert setup_from_env().world_size == 1
