"""Benchmarks of the metric kernels (marker ``benchmark``; run with ``--benchmark-enable``).

Run:  pytest tests/metrics/test_bench_metrics.py -m benchmark --benchmark-enable
GPU variants carry the ``gpu`` marker and skip without CUDA.

Linear probe: a grid of sizes and separabilities (``PROBE_CELLS``), each timed against scikit-learn's
``LinearSVC(dual=False)`` measured in the *same* run; speed-up, accuracies and agreement go to
``extra_info``. The cells: the pipeline's own (10,000 x 64, 10 classes), the paper-size one
(50,000 x 250, 100 classes; ``SSLRE_BENCH_PROBE_N`` sets its train rows, test rows = N / 5, because
its baseline takes minutes), each at an easy and a hard class separation, and real SimCLR
sample-level features (the fixture of ``tests/metrics/test_probe.py``). NCC and CDNV at 50,000 x 250
with 500 and 100 classes; and the cost of evaluating one checkpoint (every layer x every target
level x NCC train/test, CDNV parts, svc probe) at quick and small sizes. CPU timings use however
many threads torch has; liblinear is single-threaded, so set ``OMP_NUM_THREADS=1`` for a
like-for-like CPU ratio. Measured figures: docs/PERFORMANCE.md.

Probe targets (issue 3), asserted on the paper-size easy cell only, where they were set: ``svc``
>= 20x LinearSVC, ``fast`` >= 100x, at its full size. Every cell asserts correctness: ``svc`` >= 99% identical
predictions, ``fast`` at most 1 point below LinearSVC's accuracy.
"""
import os
import time
from pathlib import Path

import pytest
import torch

from sslre.metrics import cdnv_parts, linear_probe_accuracy, linear_probe_predict, ncc_accuracy

pytestmark = pytest.mark.benchmark

PROBE_N = int(os.environ.get("SSLRE_BENCH_PROBE_N", "50000"))
REAL_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "features" / "cifar10-simclr-sample-level.pt"
PROBE_CELLS = {
    # id: (train rows, dims, classes, class-centre spread ``sep``; larger = easier), or "fixture"
    "pipeline-easy": (10000, 64, 10, 0.35),
    "pipeline-hard": (10000, 64, 10, 0.15),
    "paper-easy": (PROBE_N, 250, 100, 0.35),
    "paper-hard": (PROBE_N, 250, 100, 0.15),
    "real-sample-level": "fixture",
}
TARGET_CELL = "paper-easy"  # the issue-3 speed targets were set for this cell, at 50,000 train rows


def gaussian_mixture(n, dim, n_classes, *, sep=0.35, seed=0, structure_seed=1234, device="cpu", dtype=torch.float32):
    """Synthetic "network-like" features with realistic class overlap.

    Class centers ~ N(0, sep^2 I) in ``dim`` dims, unit isotropic noise, then a fixed random mixing
    matrix (correlated features) and a ReLU (non-negative, skewed, like pooled ReLU activations).
    Train and test share the class structure (``structure_seed``) and differ in ``seed``.
    """
    g = torch.Generator().manual_seed(structure_seed + 31 * n_classes + dim)
    centers = torch.randn(n_classes, dim, generator=g) * sep  # (C, D)
    mixing = torch.randn(dim, dim, generator=g) / dim**0.5  # (D, D)
    gs = torch.Generator().manual_seed(seed)
    y = torch.randint(0, n_classes, (n,), generator=gs)  # (N,)
    h = (centers[y] + torch.randn(n, dim, generator=gs)) @ mixing  # (N, D)
    return torch.relu(h + 0.1).to(device=device, dtype=dtype), y.to(device)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# --- linear probe: sklearn vs svc vs fast, same run, over the grid ---------------------------------------
@pytest.fixture(scope="module", params=list(PROBE_CELLS))
def probe_data(request):
    """``(cell id, xtr, ytr, xte, yte)`` of one grid cell."""
    cell = PROBE_CELLS[request.param]
    if cell == "fixture":
        if not REAL_FIXTURE.exists():
            pytest.skip(f"{REAL_FIXTURE.name} is absent")
        d = torch.load(REAL_FIXTURE)
        return (request.param, d["train_features"].float(), d["train_labels"].long(), d["test_features"].float(),
                d["test_labels"].long())
    n, dim, k, sep = cell
    xtr, ytr = gaussian_mixture(n, dim, k, sep=sep, seed=1)
    xte, yte = gaussian_mixture(n // 5, dim, k, sep=sep, seed=2)
    return request.param, xtr, ytr, xte, yte


@pytest.fixture(scope="module")
def sklearn_baseline(probe_data):
    """LinearSVC(dual=False) on standardized features, timed once per cell (minutes at paper size)."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    _, xtr, ytr, xte, yte = probe_data
    t0 = time.perf_counter()
    scaler = StandardScaler().fit(xtr.double().numpy())
    clf = LinearSVC(dual=False).fit(scaler.transform(xtr.double().numpy()), ytr.numpy())
    pred = torch.as_tensor(clf.predict(scaler.transform(xte.double().numpy())))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "pred": pred, "acc": (pred == yte).double().mean().item()}


def _probe_case(benchmark, probe_data, sklearn_baseline, method, device):
    """Time one probe fit+predict against the same-run sklearn baseline; returns (speed-up, accuracy, agreement)."""
    cell, xtr, ytr, xte, yte = probe_data
    xtr, ytr, xte, yte = (t.to(device) for t in (xtr, ytr, xte, yte))
    linear_probe_predict(xtr[:2000], ytr[:2000], xte[:10], method)  # warm-up (CUDA context, kernels)

    def run():
        out = linear_probe_predict(xtr, ytr, xte, method)
        _sync(device)
        return out

    t0 = time.perf_counter()
    pred = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0).cpu()
    seconds = time.perf_counter() - t0  # one round; own timer so the check also runs under --benchmark-disable
    acc = (pred == yte.cpu()).double().mean().item()
    agree = (pred == sklearn_baseline["pred"]).double().mean().item()
    ratio = sklearn_baseline["seconds"] / seconds
    benchmark.extra_info.update(
        cell=cell, shape=list(xtr.shape), classes=int(ytr.max()) + 1, sklearn_seconds=round(sklearn_baseline["seconds"], 2),
        seconds=round(seconds, 3), speedup=round(ratio, 2), acc=acc, sklearn_acc=sklearn_baseline["acc"],
        agreement=agree, threads=torch.get_num_threads(),
    )
    print(f"\n[{cell} {method}/{device}] {tuple(xtr.shape)} {int(ytr.max()) + 1} classes: {seconds:.2f}s vs sklearn "
          f"{sklearn_baseline['seconds']:.2f}s -> {ratio:.2f}x; acc {acc:.4f} vs {sklearn_baseline['acc']:.4f}; "
          f"agreement {agree:.4f}")
    return ratio, acc, agree


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_bench_probe_svc(benchmark, probe_data, sklearn_baseline, device):
    ratio, acc, agree = _probe_case(benchmark, probe_data, sklearn_baseline, "svc", device)
    assert agree >= 0.99  # the paper's objective: >= 99% identical test predictions
    if probe_data[0] == TARGET_CELL and PROBE_N == 50000:
        assert ratio >= 20, f"svc on {device}: only {ratio:.1f}x faster than LinearSVC (target 20x)"


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_bench_probe_fast(benchmark, probe_data, sklearn_baseline, device):
    ratio, acc, agree = _probe_case(benchmark, probe_data, sklearn_baseline, "fast", device)
    assert acc >= sklearn_baseline["acc"] - 0.01  # at most 1 point below LinearSVC
    if probe_data[0] == TARGET_CELL and PROBE_N == 50000:
        assert ratio >= 100, f"fast on {device}: only {ratio:.1f}x faster than LinearSVC (target 100x)"


# --- NCC and CDNV at 50,000 x 250 -------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [500, 100])
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_bench_ncc(benchmark, n_classes, device):
    x, y = gaussian_mixture(50000, 250, n_classes, seed=3, device=device)
    ncc_accuracy(x[:1000], y[:1000])  # warm-up

    def run():
        out = ncc_accuracy(x, y)
        _sync(device)
        return out

    acc = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(acc=acc.item(), n_classes=n_classes)
    assert 1.0 / n_classes < acc.item() <= 1.0


@pytest.mark.parametrize("n_classes", [500, 100])
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_bench_cdnv(benchmark, n_classes, device):
    x, y = gaussian_mixture(50000, 250, n_classes, seed=4, device=device)
    cdnv_parts(x[:2000], y[:2000] % 5)  # warm-up

    def run():
        out = cdnv_parts(x, y)
        _sync(device)
        return out

    parts = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update({k: v.item() for k, v in parts.items()}, n_classes=n_classes)
    assert 0 < parts["cdnv"].item() < float("inf")


# --- cost of evaluating one checkpoint --------------------------------------------------------------
CHECKPOINT_SIZES = {
    # profile: (layers, dims, n_train, n_test)
    "quick": (4, 32, 2000, 1000),
    "small": (4, 64, 10000, 2000),
}
LEVELS = {"sample": 100, "class": 10, "superclass": 2}


def evaluate_checkpoint(layers):
    """Every layer x level: NCC train and test accuracy, CDNV parts, svc linear probe (what measure.py runs)."""
    out = {}
    for li, (xtr, xte, labels) in enumerate(layers):
        for level, (ytr, yte) in labels.items():
            out[li, level, "ncc_train_acc"] = ncc_accuracy(xtr, ytr)
            out[li, level, "ncc_test_acc"] = ncc_accuracy(xtr, ytr, xte, yte)
            out.update({(li, level, k): v for k, v in cdnv_parts(xtr, ytr).items()})
            out[li, level, "linear_test_acc"] = linear_probe_accuracy(xtr, ytr, xte, yte, "svc")  # as the table
    return out


@pytest.mark.parametrize("profile", list(CHECKPOINT_SIZES))
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_bench_checkpoint_evaluation(benchmark, profile, device):
    n_layers, dim, n_train, n_test = CHECKPOINT_SIZES[profile]
    layers = []
    for li in range(n_layers):
        labels = {}
        for level, k in LEVELS.items():
            xtr, ytr = gaussian_mixture(n_train, dim, k, seed=10 + li, structure_seed=li)
            xte, yte = gaussian_mixture(n_test, dim, k, seed=100 + li, structure_seed=li)
            labels[level] = (ytr.to(device), yte.to(device))
        # one feature matrix per layer: features of the "sample" structure, all levels read it
        layers.append((xtr.to(device), xte.to(device), labels))

    def run():
        out = evaluate_checkpoint(layers)
        _sync(device)
        return out

    t0 = time.perf_counter()
    out = benchmark.pedantic(run, rounds=2, iterations=1, warmup_rounds=1)
    elapsed = time.perf_counter() - t0
    seconds = benchmark.stats.stats.min if benchmark.stats else elapsed
    benchmark.extra_info.update(seconds=round(seconds, 3), profile=profile, evaluations=len(out))
    print(f"\n[checkpoint {profile}/{device}] {len(out)} numbers in {seconds:.2f}s")
    assert len(out) == n_layers * len(LEVELS) * 6
