"""The embedded synthetic hierarchical dataset: determinism, hierarchy, balance, difficulty."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sslre.data import load_dataset
from sslre.data.base import DataError
from sslre.data.synthetic import make_synthetic, synthetic_hierarchy, synthetic_splits


def test_same_seed_same_bytes_and_different_seed_differs():
    a = make_synthetic(40, seed=1)
    b = make_synthetic(40, seed=1)
    c = make_synthetic(40, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    assert a.images.dtype == torch.uint8 and a.images.shape == (40, 3, 32, 32)


def test_hierarchy_consistency_and_balance():
    s = make_synthetic(120, n_classes=12, n_superclasses=3, seed=0)
    assert torch.bincount(s.labels).tolist() == [10] * 12
    sup = synthetic_hierarchy(12, 3)
    assert torch.equal(s.superlabels, sup[s.labels])
    assert torch.bincount(sup).tolist() == [4, 4, 4]
    assert len(s.class_names) == 12 and len(s.superclass_names) == 3
    # Superclass kind shows in the names: gratings and spots alternate.
    assert s.superclass_names[0].startswith("gratings") and s.superclass_names[1].startswith("spots")


def test_bad_hierarchy_sizes_raise():
    with pytest.raises(DataError, match="n_superclasses"):
        make_synthetic(10, n_classes=2, n_superclasses=3)


def test_splits_do_not_share_images():
    sp = synthetic_splits(n_train=20, n_test=20, seed=0)
    assert not torch.equal(sp.train.images, sp.test.images)
    assert sp.train.name == "synthetic/train" and sp.test.name == "synthetic/test"


def test_load_dataset_synthetic_options():
    sp = load_dataset("synthetic", n_train=50, n_test=20, n_classes=5, n_superclasses=5)
    assert len(sp.train) == 50 and len(sp.test) == 20 and sp.train.num_superclasses == 5
    sp2 = load_dataset("synthetic", train_subset=30, test_subset=10)
    assert len(sp2.train) == 30 and len(sp2.test) == 10
    with pytest.raises(DataError, match="unknown option"):
        load_dataset("synthetic", n_clases=3)


def _spectrum(images: torch.Tensor, smooth: bool = True) -> np.ndarray:
    """Phase-free feature: log of the (slightly smoothed) power spectrum of the gray image.

    The power spectrum ignores translation; smoothing it (Gaussian, sigma 1 frequency bin) makes
    nearby orientations/frequencies count as similar instead of as disjoint peaks.
    """
    gray = images.float().mean(1)
    gray = gray - gray.mean((1, 2), keepdim=True)
    p = torch.fft.fftshift(torch.fft.fft2(gray).abs().pow(2), dim=(-2, -1))[:, None]  # (N, 1, S, S)
    if not smooth:
        return torch.log1p(p).flatten(1).numpy()
    k = torch.exp(-0.5 * torch.arange(-4.0, 5.0) ** 2)
    k = k / k.sum()
    p = F.conv2d(F.conv2d(p, k.view(1, 1, 1, -1), padding=(0, 4)), k.view(1, 1, -1, 1), padding=(4, 0))
    return torch.log1p(p).flatten(1).numpy()


def test_classes_within_a_superclass_are_closer_than_across():
    s = make_synthetic(600, n_classes=10, n_superclasses=2, seed=0)
    f = torch.from_numpy(_spectrum(s.images))
    means = torch.stack([f[s.labels == c].mean(0) for c in range(10)])  # (C, D) class means
    d = torch.cdist(means, means)  # (C, C)
    sup = synthetic_hierarchy(10, 2)
    same = sup[:, None] == sup[None, :]
    off = ~torch.eye(10, dtype=torch.bool)
    assert d[same & off].mean() < d[~same].mean()
    # and for every class, its nearest other class is in its own superclass
    nearest = (d + torch.eye(10) * 1e9).argmin(1)
    assert torch.equal(sup[nearest], sup)


def _probe(xtr, ytr, xte, yte):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from threadpoolctl import threadpool_limits

    # One BLAS thread: on a shared 2-core machine threaded BLAS contends and slows down 100-fold.
    with threadpool_limits(1):
        sc = StandardScaler().fit(xtr)
        clf = LogisticRegression(max_iter=500).fit(sc.transform(xtr), ytr)
        return clf.score(sc.transform(xte), yte)


@pytest.mark.small
def test_raw_pixel_probe_is_weak_but_structure_is_learnable():
    """Re-measures the numbers quoted in the module docstring, at a smaller size."""
    sp = synthetic_splits(n_train=1000, n_test=500, seed=0)
    tr, te = sp.train, sp.test
    raw = lambda s: s.images.flatten(1).float().numpy()  # noqa: E731
    cls_raw = _probe(raw(tr), tr.labels.numpy(), raw(te), te.labels.numpy())
    sup_raw = _probe(raw(tr), tr.superlabels.numpy(), raw(te), te.superlabels.numpy())
    cls_spec = _probe(_spectrum(tr.images, False), tr.labels.numpy(), _spectrum(te.images, False), te.labels.numpy())
    print(f"raw-pixel probe: class {cls_raw:.3f}, superclass {sup_raw:.3f}; spectrum probe: class {cls_spec:.3f}")
    assert cls_raw < 0.4  # chance 0.1: far from separable from raw pixels
    assert sup_raw < 0.75  # chance 0.5
    assert cls_spec > cls_raw + 0.25  # the labels live in translation-invariant structure


@pytest.mark.benchmark
def test_ten_thousand_images_in_five_seconds(benchmark):
    """Run: pytest tests/data/test_synthetic.py -m benchmark --benchmark-enable."""
    if benchmark.disabled:
        pytest.skip("timing benchmark: run with -m benchmark --benchmark-enable")
    out = benchmark.pedantic(lambda: make_synthetic(10000, seed=0), rounds=3, iterations=1)
    assert len(out) == 10000
    print(f"\nmake_synthetic(10000): median {benchmark.stats.stats.median:.2f} s")
    assert benchmark.stats.stats.median <= 5.0
