"""MINE timings at the sizes the claims use, and the shared-trunk contract.

Run the timings with ``pytest tests/metrics/test_mine_bench.py -m benchmark --benchmark-enable``.
The trunk-count test is a plain unit test (no timing) and runs with the library tests.
"""
from __future__ import annotations

import math
import time

import pytest
import torch
import torch.nn.functional as F

from sslre.metrics.mine import make_statistics_network, mine_estimate


def claim_sized_inputs(n: int, dim: int, device: str = "cpu"):
    """(n, 3, 32, 32) images and (n, dim) embeddings that depend on them (a fixed random projection).

    The images are 8x8 noise upsampled, so that, like natural images, they have far fewer degrees of
    freedom than pixels and a statistics network can learn the x -> z relation from a few thousand pairs.
    """
    g = torch.Generator().manual_seed(0)
    x = F.interpolate(torch.rand(n, 3, 8, 8, generator=g), size=32, mode="bilinear", align_corners=False)
    proj = torch.randn(3 * 32 * 32, dim, generator=g) / math.sqrt(3 * 32 * 32)
    z = torch.tanh(x.reshape(n, -1) @ proj)  # (n, 3072) @ (3072, dim) -> (n, dim)
    return x.to(device), z.to(device)


def test_trunk_runs_once_per_batch():
    # The joint and the marginal term share one trunk pass per batch; only the z side is permuted.
    net = make_statistics_network((3, 32, 32), 8, hidden=16, seed=0)
    trunk_batches: list[int] = []
    z_batches: list[int] = []
    net.trunk.register_forward_hook(lambda m, inp, out: trunk_batches.append(inp[0].shape[0]))
    net.z_encoder.register_forward_hook(lambda m, inp, out: z_batches.append(inp[0].shape[0]))
    x = torch.rand(40, 3, 32, 32)
    z = torch.randn(40, 8)
    r = mine_estimate(x, z, seed=0, steps=6, batch_size=16, eval_every=3, eval_fraction=0.2, network=net)
    assert r.n_eval == 8 and r.eval_steps.tolist() == [3, 6]
    # 6 training steps of 16 images + 2 held-out evaluations of the 8 held-out images (one chunk each).
    assert trunk_batches == [16, 16, 16, 8, 16, 16, 16, 8]
    assert z_batches == trunk_batches


def _step_seconds(net, x, z, shared: bool, steps: int = 5, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds per MINE training step; ``shared=False`` recomputes the trunk."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    shuffle = torch.roll(torch.arange(x.shape[0], device=x.device), 1)
    best = math.inf
    for _ in range(repeats):
        if x.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            hx = net.encode_x(x)  # (B, H)
            hz = net.encode_z(z)  # (B, H)
            t_joint = net.score(hx, hz)
            hx_marg = hx if shared else net.encode_x(x)  # naive baseline: a second trunk pass
            t_marg = net.score(hx_marg, hz[shuffle])
            loss = -(t_joint.mean() - torch.logsumexp(t_marg, 0))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if x.is_cuda:
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


@pytest.mark.benchmark
def test_bench_shared_trunk_vs_recomputed(benchmark):
    # Ratio against a baseline measured in the same run: sharing the trunk must save clearly.
    x, z = claim_sized_inputs(256, 32)
    net = make_statistics_network((3, 32, 32), 32, seed=0)
    naive = _step_seconds(net, x, z, shared=False)
    shared = benchmark.pedantic(_step_seconds, args=(net, x, z, True), rounds=1, iterations=1)
    benchmark.extra_info.update(shared_step_s=shared, recomputed_step_s=naive, ratio=shared / naive)
    assert shared < 0.9 * naive, f"shared {shared * 1e3:.1f} ms vs recomputed {naive * 1e3:.1f} ms per step"


@pytest.mark.benchmark
def test_bench_estimate_quick_size(benchmark):
    # The quick claim size: 2,000 images 32x32, D = 32, default settings (400 steps of 256).
    x, z = claim_sized_inputs(2000, 32)
    r = benchmark.pedantic(mine_estimate, args=(x, z), kwargs=dict(seed=0), rounds=1, iterations=1)
    benchmark.extra_info.update(seconds=r.seconds, mi=r.mi)
    assert math.isfinite(r.mi) and r.mi > 0.1


@pytest.mark.benchmark
@pytest.mark.small
def test_bench_estimate_small_size(benchmark):
    # The small claim size: 10,000 images 32x32, D = 64, default settings.
    x, z = claim_sized_inputs(10000, 64)
    r = benchmark.pedantic(mine_estimate, args=(x, z), kwargs=dict(seed=0), rounds=1, iterations=1)
    benchmark.extra_info.update(seconds=r.seconds, mi=r.mi)
    assert math.isfinite(r.mi) and r.mi > 0.1


@pytest.mark.benchmark
@pytest.mark.gpu
def test_bench_estimate_small_size_cuda(benchmark):
    x, z = claim_sized_inputs(10000, 64, device="cuda")
    r = benchmark.pedantic(mine_estimate, args=(x, z), kwargs=dict(seed=0), rounds=1, iterations=1)
    benchmark.extra_info.update(seconds=r.seconds, mi=r.mi)
    assert math.isfinite(r.mi) and r.mi > 0.1
