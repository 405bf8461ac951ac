"""Throughput of BatchSSLAugment vs the per-image PIL/lightly reference (32x32, batch 256).

Run: ``pytest tests/data/test_augment_bench.py -m benchmark --benchmark-enable``.
Both sides run in this process, one after the other, on one CPU thread (the PIL path is
single-threaded; on a shared 2-core machine torch's threads would only contend), and the ratio of
medians is stored in ``extra_info`` and printed.

Target: batched >= 5x the per-image path, asserted here on one CPU thread (and on CUDA, ``gpu``
marker). Measured figures: docs/PERFORMANCE.md.
"""
import statistics
import time

import pytest
import torch
from PIL import Image

from sslre.data.augment import BatchSSLAugment, ssl_view_transform
from sslre.data.synthetic import make_synthetic

pytestmark = pytest.mark.benchmark

BATCH = 256


@pytest.fixture(scope="module")
def batch():
    return make_synthetic(BATCH, seed=0).images


def _median_seconds(fn, repeats=7):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _require_enabled(benchmark):
    if benchmark.disabled:
        pytest.skip("timing benchmark: run with -m benchmark --benchmark-enable")


def test_batch_augment_vs_per_image_reference(benchmark, batch):
    _require_enabled(benchmark)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        aug = BatchSSLAugment(32)
        g = torch.Generator().manual_seed(0)
        ref = ssl_view_transform(32)
        pils = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in batch]

        def per_image():
            return torch.stack([ref(p) for p in pils])

        baseline = _median_seconds(per_image)
        benchmark.pedantic(lambda: aug(batch, g), rounds=7, iterations=1, warmup_rounds=1)
        ours = benchmark.stats.stats.median
    finally:
        torch.set_num_threads(threads)
    ratio = baseline / ours
    benchmark.extra_info.update(
        baseline_ms=baseline * 1e3, batched_ms=ours * 1e3, speedup=ratio,
        baseline_img_per_s=BATCH / baseline, batched_img_per_s=BATCH / ours,
    )
    print(f"\nper-image PIL/lightly: {baseline * 1e3:.1f} ms/batch ({BATCH / baseline:.0f} img/s); "
          f"BatchSSLAugment: {ours * 1e3:.1f} ms/batch ({BATCH / ours:.0f} img/s); speedup {ratio:.2f}x")
    assert ratio >= 5.0, f"BatchSSLAugment on CPU is {ratio:.2f}x the per-image path; target >= 5x"


@pytest.mark.gpu
def test_batch_augment_cuda_vs_per_image_reference(benchmark, batch):
    _require_enabled(benchmark)
    ref = ssl_view_transform(32)
    pils = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in batch]
    baseline = _median_seconds(lambda: torch.stack([ref(p) for p in pils]))
    aug = BatchSSLAugment(32)
    x = batch.cuda()
    g = torch.Generator(device="cuda").manual_seed(0)

    def run():
        out = aug(x, g)
        torch.cuda.synchronize()  # time the work, not the launch
        return out

    benchmark.pedantic(run, rounds=20, iterations=1, warmup_rounds=3)
    ours = benchmark.stats.stats.median
    ratio = baseline / ours
    benchmark.extra_info.update(baseline_ms=baseline * 1e3, batched_ms=ours * 1e3, speedup=ratio)
    print(f"\nper-image PIL (CPU): {baseline * 1e3:.1f} ms; BatchSSLAugment (CUDA): {ours * 1e3:.2f} ms; {ratio:.1f}x")
    assert ratio >= 5.0, f"BatchSSLAugment on CUDA is {ratio:.2f}x the per-image path; target >= 5x"
