"""Tests for sslre.metrics.ncc: class means and NCC accuracy (Section 2.2)."""
import math

import pytest
import torch
from hypothesis import given, strategies as st

from sslre.metrics import MetricInputError, class_means, ncc_accuracy, ncc_predict


# --- plain per-class-loop references (float64) ------------------------------------------------
def ref_class_means(x, y):
    classes = sorted(set(y.tolist()))
    return torch.stack([x[y == c].mean(0) for c in classes]), classes


def ref_ncc_accuracy(xtr, ytr, xev, yev):
    means, classes = ref_class_means(xtr, ytr)
    correct = 0
    for row, label in zip(xev, yev.tolist()):
        d = [float(((row - m) ** 2).sum()) for m in means]
        correct += classes[d.index(min(d))] == label
    return correct / len(yev)


def blobs(n_per_class, n_classes, dim, sep=1.0, seed=0, dtype=torch.float64):
    """Gaussian blobs with overlapping classes: centers ~ N(0, sep^2), unit noise."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_classes, dim, generator=g, dtype=dtype) * sep  # (C, D)
    y = torch.arange(n_classes).repeat_interleave(n_per_class)  # (N,)
    x = centers[y] + torch.randn(len(y), dim, generator=g, dtype=dtype)  # (N, D)
    return x, y


def random_orthogonal(d, seed):
    q, r = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))  # (D, D) orthogonal


# --- class means ------------------------------------------------------------------------------
def test_class_means_matches_loop_reference_noncontiguous_labels():
    x, y = blobs(7, 5, 4, seed=1)
    y = torch.tensor([10, -3, 7, 99, 42])[y]  # non-contiguous, unsorted, negative
    means, classes = class_means(x, y)
    ref, ref_classes = ref_class_means(x, y)
    assert classes.tolist() == ref_classes
    torch.testing.assert_close(means, ref, rtol=1e-12, atol=1e-12)
    assert means.dtype == torch.float64


def test_class_means_keeps_float32_and_is_accurate_with_large_offset():
    g = torch.Generator().manual_seed(0)
    x = 1000.0 + 0.01 * torch.randn(20000, 3, generator=g, dtype=torch.float64)
    y = torch.arange(20000) % 2
    means, _ = class_means(x.float(), y)
    assert means.dtype == torch.float32
    ref, _ = ref_class_means(x, y)
    assert (means.double() - ref).abs().max().item() < 1e-4  # float32 resolution at 1000 is 6e-5


# --- NCC accuracy -----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ncc_matches_loop_reference_train_and_test(seed):
    xtr, ytr = blobs(20, 6, 5, seed=seed)
    xte, yte = blobs(10, 6, 5, seed=seed + 100)
    assert ncc_accuracy(xtr, ytr).item() == pytest.approx(ref_ncc_accuracy(xtr, ytr, xtr, ytr), abs=1e-12)
    assert ncc_accuracy(xtr, ytr, xte, yte).item() == pytest.approx(ref_ncc_accuracy(xtr, ytr, xte, yte), abs=1e-12)


def test_ncc_chunking_does_not_change_result():
    xtr, ytr = blobs(30, 7, 6, seed=3)
    full = ncc_predict(xtr, ytr)
    for chunk in (1, 5, 29, 1000):
        assert torch.equal(ncc_predict(xtr, ytr, chunk_size=chunk), full)
    assert ncc_accuracy(xtr, ytr, chunk_size=3).item() == pytest.approx(ncc_accuracy(xtr, ytr).item(), abs=0)


def test_ncc_well_separated_is_one_and_returns_0dim():
    x, y = blobs(10, 4, 3, sep=100.0)
    acc = ncc_accuracy(x, y)
    assert acc.dim() == 0 and acc.dtype == torch.float64
    assert acc.item() == pytest.approx(1.0, abs=0)


def test_ncc_collapsed_classes_is_one():
    means = torch.tensor([[0.0, 1.0], [1.0, 0.0], [5.0, 5.0]])
    y = torch.tensor([0, 1, 2]).repeat(5)
    assert ncc_accuracy(means[y], y).item() == pytest.approx(1.0, abs=0)


def test_ncc_identical_class_means_is_chance_by_lowest_index_tiebreak():
    # All classes have the same mean: every point ties, argmin picks the first class -> 1/C exactly.
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]]).repeat(6, 1)  # (12, 2), pairs sum to 0
    y = torch.arange(3).repeat_interleave(4)  # each class holds 2 pairs -> every mean is (0, 0)
    assert ncc_accuracy(x, y).item() == pytest.approx(1 / 3, abs=1e-7)


def test_ncc_predict_returns_original_labels():
    x, y = blobs(10, 3, 2, sep=50.0)
    y = torch.tensor([5, 17, 3])[y]
    assert torch.equal(ncc_predict(x, y), y)
    assert torch.equal(ncc_predict(x, y, x[:4]), y[:4])


def test_ncc_float32_large_offset_small_spread():
    # Classes 0.1 apart, features offset by 1000, float32: the naive ||x||^2 - 2x.mu + ||mu||^2
    # expansion cancels (x.mu ~ 3e6, float32 eps * 3e6 ~ 0.2); centering keeps it exact.
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0]], dtype=torch.float64)
    y = torch.arange(3).repeat(300)
    x = 1000.0 + centers[y] + 0.01 * torch.randn(900, 3, generator=g, dtype=torch.float64)
    acc64 = ncc_accuracy(x, y).item()
    acc32 = ncc_accuracy(x.float(), y).item()
    assert acc64 == pytest.approx(1.0, abs=0)
    assert acc32 == pytest.approx(acc64, abs=2 / 900)


def test_ncc_float32_equals_float64_on_ordinary_data():
    xtr, ytr = blobs(50, 5, 8, seed=4)
    a64 = ncc_accuracy(xtr, ytr).item()
    a32 = ncc_accuracy(xtr.float(), ytr)
    assert a32.dtype == torch.float32
    assert a32.item() == pytest.approx(a64, abs=1 / 250 + 1e-6)  # at most one near-tie flips


# --- properties -------------------------------------------------------------------------------
@st.composite
def labelled_data(draw):
    n_classes = draw(st.integers(2, 5))
    per = draw(st.integers(2, 6))
    dim = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**16))
    sep = draw(st.sampled_from([0.3, 1.0, 3.0]))
    x, y = blobs(per, n_classes, dim, sep=sep, seed=seed)
    return x, y, seed


@given(labelled_data())
def test_ncc_bounds_and_invariances(data):
    x, y, seed = data
    g = torch.Generator().manual_seed(seed)
    acc = ncc_accuracy(x, y).item()
    assert 0.0 <= acc <= 1.0
    assert acc == pytest.approx(ref_ncc_accuracy(x, y, x, y), abs=1e-12)
    perm_classes = torch.randperm(int(y.max()) + 1, generator=g) * 3 + 1  # relabel, non-contiguous
    assert ncc_accuracy(x, perm_classes[y]).item() == pytest.approx(acc, abs=1e-12)
    order = torch.randperm(len(y), generator=g)
    assert ncc_accuracy(x[order], y[order]).item() == pytest.approx(acc, abs=1e-12)
    rot = random_orthogonal(x.shape[1], seed)
    shift = torch.randn(1, x.shape[1], generator=g, dtype=torch.float64) * 10
    # exact ties are measure-zero for Gaussian data; transformed results must match
    assert ncc_accuracy(x * 7.5, y).item() == pytest.approx(acc, abs=1e-12)
    assert ncc_accuracy(x + shift, y).item() == pytest.approx(acc, abs=1e-12)
    assert ncc_accuracy(x @ rot, y).item() == pytest.approx(acc, abs=1e-12)


# --- bad input --------------------------------------------------------------------------------
def test_ncc_bad_inputs_are_named():
    x, y = blobs(3, 2, 2)
    with pytest.raises(MetricInputError, match="2-D"):
        ncc_accuracy(x[:, 0], y)
    with pytest.raises(MetricInputError, match="1-D"):
        ncc_accuracy(x, y[:, None])
    with pytest.raises(MetricInputError, match="length"):
        ncc_accuracy(x, y[:-1])
    with pytest.raises(MetricInputError, match="NaN or inf"):
        ncc_accuracy(x.index_fill(0, torch.tensor([1]), math.nan), y)
    with pytest.raises(MetricInputError, match="NaN or inf"):
        ncc_accuracy(x.index_fill(0, torch.tensor([1]), math.inf), y)
    with pytest.raises(MetricInputError, match="at least 2"):
        ncc_accuracy(x, torch.zeros_like(y))
    with pytest.raises(MetricInputError, match="integer"):
        ncc_accuracy(x, y.double())
    with pytest.raises(MetricInputError, match="float32 or float64"):
        ncc_accuracy(y[:, None].repeat(1, 2), y)
    with pytest.raises(MetricInputError, match="absent from the train classes: \\[7\\]"):
        ncc_accuracy(x, y, x[:2], torch.tensor([0, 7]))
    with pytest.raises(MetricInputError, match="dims"):
        ncc_accuracy(x, y, x[:, :1], y)
    with pytest.raises(MetricInputError, match="without eval_labels"):
        ncc_accuracy(x, y, x)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gpu_matches_cpu(dtype):
    xtr, ytr = blobs(100, 9, 12, seed=8, dtype=dtype)
    xte, yte = blobs(40, 9, 12, seed=9, dtype=dtype)
    cpu = ncc_accuracy(xtr, ytr, xte, yte)
    gpu = ncc_accuracy(xtr.cuda(), ytr.cuda(), xte.cuda(), yte.cuda())
    assert gpu.device.type == "cuda" and gpu.dtype == dtype
    assert gpu.item() == pytest.approx(cpu.item(), abs=2 / 360)
    means, _ = class_means(xtr.cuda(), ytr.cuda())
    torch.testing.assert_close(means.cpu(), class_means(xtr, ytr)[0], rtol=1e-5, atol=1e-5)


# --- scale-proof ---------------------------------------------------------------------------------------------
def _blobs():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 16, generator=g, dtype=torch.float64)

    def draw(n):
        y = torch.arange(n) % 4
        return centers[y] + 0.8 * torch.randn(n, 16, generator=g, dtype=torch.float64), y

    return (*draw(200), *draw(80))


BLOBS = _blobs()


def test_ncc_float32_huge_features_are_not_chance():
    # Was 0.25 at 1e19 in float32: ||mu||^2 overflowed to inf.
    xtr, ytr, xte, yte = BLOBS
    ref = ncc_accuracy(xtr, ytr, xte, yte).item()
    got = ncc_accuracy((xtr * 1e19).float(), ytr, (xte * 1e19).float(), yte).item()
    assert got == pytest.approx(ref, abs=1.5 / 80)


@given(log_scale=st.floats(-12, 12), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_ncc_accuracy_is_scale_invariant(log_scale, dtype):
    xtr, ytr, xte, yte = BLOBS
    base = ncc_accuracy(xtr.to(dtype), ytr, xte.to(dtype), yte).item()
    s = 10.0 ** log_scale  # scaled in float64, then cast
    got = ncc_accuracy((xtr * s).to(dtype), ytr, (xte * s).to(dtype), yte).item()
    assert got == pytest.approx(base, abs=1e-6)
