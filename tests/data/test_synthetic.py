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
    # Superclass family and style show in the names: curved and angular alternate, styles change every 2.
    assert s.superclass_names == ("curved-filled", "angular-filled", "curved-outline-2")
    assert len(set(s.class_names)) == 12


@pytest.mark.parametrize("n_classes,n_superclasses", [(10, 2), (20, 4), (100, 20), (40, 3), (7, 7)])
def test_every_class_is_a_distinct_shape(n_classes, n_superclasses):
    s = make_synthetic(0, n_classes=n_classes, n_superclasses=n_superclasses)
    assert len(set(s.class_names)) == n_classes


def test_every_shape_is_mirror_symmetric_so_flips_keep_the_class():
    """App. A.1 flips views horizontally: each class shape must equal its mirror image (u -> -u)."""
    from sslre.data.synthetic import _SHAPES, _shape_sdf

    ax = torch.linspace(-1.3, 1.3, 53)
    v, u = torch.meshgrid(ax, ax, indexing="ij")
    for name, _ in _SHAPES:
        d = _shape_sdf(name, u, v)
        assert torch.allclose(d, _shape_sdf(name, -u, v), atol=1e-5), name
        assert (d < 0).any() and (d > 0).any(), name  # a real shape, inside the probed window
    # and a non-symmetric control would be caught: the triangle is not symmetric under v -> -v
    assert not torch.allclose(_shape_sdf("triangle", u, v), _shape_sdf("triangle", u, -v), atol=1e-3)


def _spectrum(images: torch.Tensor) -> np.ndarray:
    """Phase-free feature: log power spectrum of the gray image (ignores translation)."""
    gray = images.float().mean(1)
    gray = gray - gray.mean((1, 2), keepdim=True)
    p = torch.fft.fftshift(torch.fft.fft2(gray).abs().pow(2), dim=(-2, -1))  # (N, S, S)
    return torch.log1p(p).flatten(1).numpy()


def _orientation_harmonics(images: torch.Tensor, k_max: int = 6) -> torch.Tensor:
    """``(N, k_max)`` rotation-invariant edge-orientation descriptor.

    |k-th circular Fourier coefficient| of the gradient-magnitude-weighted edge orientation (edge sign ignored),
    k = 1..k_max. Curved outlines spread their edges over all orientations (small coefficients); polygons
    concentrate them: a square or plus on the 2nd harmonic (4-fold), a triangle or hexagram on the 3rd (6-fold).
    """
    g = images.float().mean(1)  # (N, S, S) gray
    gx = g[:, 1:-1, 2:] - g[:, 1:-1, :-2]  # (N, S-2, S-2) central differences
    gy = g[:, 2:, 1:-1] - g[:, :-2, 1:-1]
    w = torch.sqrt(gx**2 + gy**2).flatten(1)  # (N, P)
    th = torch.atan2(gy, gx).flatten(1)  # (N, P)
    ks = torch.arange(1, k_max + 1, dtype=torch.float32).view(1, -1, 1)  # (1, K, 1)
    c = (w[:, None] * torch.cos(2 * ks * th[:, None])).sum(-1)  # (N, K)
    s = (w[:, None] * torch.sin(2 * ks * th[:, None])).sum(-1)
    return torch.sqrt(c**2 + s**2) / w.sum(1, keepdim=True)


def test_superclasses_are_curved_versus_angular_shapes():
    s = make_synthetic(1000, n_classes=10, n_superclasses=2, seed=0)
    f = _orientation_harmonics(s.images)
    means = torch.stack([f[s.labels == c].mean(0) for c in range(10)])  # (C, K) class means
    sup = synthetic_hierarchy(10, 2)
    # Corner-ness (2- or 3-fold edge concentration): every angular class above every curved class.
    corner = means[:, 1:3].amax(1)  # (C,)
    assert corner[sup == 1].min() > corner[sup == 0].max()
    # and on the whole descriptor, classes of one superclass are closer to each other than across
    d = torch.cdist(means, means)  # (C, C)
    same = sup[:, None] == sup[None, :]
    off = ~torch.eye(10, dtype=torch.bool)
    assert d[same & off].mean() < d[~same].mean()


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
    cls_spec = _probe(_spectrum(tr.images), tr.labels.numpy(), _spectrum(te.images), te.labels.numpy())
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
