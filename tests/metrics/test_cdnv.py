"""Tests for sslre.metrics.cdnv: within-class variance, mean distances, CDNV (Section 2.2)."""
import math

import pytest
import torch
from hypothesis import given, strategies as st

from sslre.metrics import (
    MetricInputError,
    cdnv,
    cdnv_matrix,
    cdnv_parts,
    class_mean_distance,
    within_class_variance,
)


# --- plain per-class-loop references (float64) ------------------------------------------------
def ref_means(x, y):
    classes = sorted(set(y.tolist()))
    return [x[y == c].mean(0) for c in classes]


def ref_within_var(x, y):
    out = []
    for c in sorted(set(y.tolist())):
        xc = x[y == c]
        mu = xc.mean(0)
        out.append(sum(float(((row - mu) ** 2).sum()) for row in xc) / len(xc))
    return torch.tensor(out, dtype=torch.float64)


def ref_dist2(x, y):
    means = ref_means(x, y)
    return torch.tensor([[float(((a - b) ** 2).sum()) for b in means] for a in means], dtype=torch.float64)


def ref_cdnv_matrix(x, y):
    var, d2 = ref_within_var(x, y), ref_dist2(x, y)
    c = len(var)
    v = torch.full((c, c), float("nan"), dtype=torch.float64)
    for i in range(c):
        for j in range(c):
            if i != j:
                v[i, j] = (var[i] + var[j]) / (2 * d2[i, j])
    return v


def ref_cdnv(x, y):
    v = ref_cdnv_matrix(x, y)
    c = v.shape[0]
    return sum(float(v[i, j]) for i in range(c) for j in range(c) if i != j) / (c * (c - 1))


def blobs(n_per_class, n_classes, dim, sep=1.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(n_classes, dim, generator=g, dtype=dtype) * sep  # (C, D)
    y = torch.arange(n_classes).repeat_interleave(n_per_class)  # (N,)
    x = centers[y] + torch.randn(len(y), dim, generator=g, dtype=dtype)  # (N, D)
    return x, y


def random_orthogonal(d, seed):
    q, r = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))  # (D, D)


# --- equality with the references ---------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_kernels_match_loop_references(seed):
    x, y = blobs(6, 5, 4, seed=seed)
    y = torch.tensor([8, 2, 30, -1, 5])[y]  # non-contiguous labels
    torch.testing.assert_close(within_class_variance(x, y), ref_within_var(x, y), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(class_mean_distance(x, y), ref_dist2(x, y), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(cdnv_matrix(x, y), ref_cdnv_matrix(x, y), rtol=1e-10, atol=0, equal_nan=True)
    assert cdnv(x, y).item() == pytest.approx(ref_cdnv(x, y), rel=1e-10)


def test_parts_are_consistent_with_kernels():
    x, y = blobs(8, 4, 3, seed=5)
    parts = cdnv_parts(x, y)
    assert set(parts) == {"cdnv", "within_var", "mean_dist2"}
    assert parts["cdnv"].item() == pytest.approx(cdnv(x, y).item(), rel=1e-12)
    assert parts["within_var"].item() == pytest.approx(ref_within_var(x, y).mean().item(), rel=1e-12)
    d2 = ref_dist2(x, y)
    assert parts["mean_dist2"].item() == pytest.approx((d2.sum() / (4 * 3)).item(), rel=1e-12)
    assert all(v.dim() == 0 for v in parts.values())


def test_matrix_is_symmetric_with_nan_diagonal():
    x, y = blobs(5, 4, 3, seed=2)
    v = cdnv_matrix(x, y)
    assert torch.isnan(torch.diagonal(v)).all()
    off = ~torch.eye(4, dtype=torch.bool)
    torch.testing.assert_close(v[off], v.T[off], rtol=0, atol=0)
    assert (v[off] > 0).all()


# --- known answers ----------------------------------------------------------------------------
def test_hand_computed_example():
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0], [5.0, 7.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert within_class_variance(x, y).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert class_mean_distance(x, y)[0, 1].item() == pytest.approx(52.0, abs=1e-5)  # (1,0) vs (5,6)
    assert cdnv(x, y).item() == pytest.approx(2.0 / (2 * 52.0), rel=1e-6)


def test_collapsed_classes_have_zero_cdnv():
    means = torch.tensor([[0.0, 1.0], [1.0, 0.0], [5.0, 5.0]], dtype=torch.float64)
    y = torch.arange(3).repeat(4)
    assert cdnv(means[y], y).item() == pytest.approx(0.0, abs=0)
    assert within_class_variance(means[y], y).tolist() == pytest.approx([0.0, 0.0, 0.0], abs=0)


def test_cdnv_goes_to_zero_as_clusters_separate():
    values = [cdnv(*blobs(10, 4, 3, sep=s, seed=0)).item() for s in (1.0, 10.0, 100.0, 1000.0)]
    assert values == sorted(values, reverse=True)
    assert values[-1] < 1e-5


def test_identical_class_means_give_inf():
    # documented behaviour: coinciding means -> V_ij = +inf, hence CDNV = +inf (no exception)
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0], [5.0, 5.0], [5.0, 6.0]])
    y = torch.tensor([0, 0, 1, 1, 2, 2])  # classes 0 and 1 both have mean (0, 0)
    v = cdnv_matrix(x, y)
    assert math.isinf(v[0, 1].item()) and v[0, 1].item() > 0
    assert math.isfinite(v[0, 2].item())
    assert math.isinf(cdnv(x, y).item())
    parts = cdnv_parts(x, y)
    assert math.isinf(parts["cdnv"].item()) and math.isfinite(parts["mean_dist2"].item())


def test_identical_collapsed_classes_give_inf_not_nan():
    x = torch.zeros(4, 3)  # 0 / 0 case: both variance and distance are zero
    assert math.isinf(cdnv(x, torch.tensor([0, 0, 1, 1])).item())


# --- numerics -------------------------------------------------------------------------------
def test_float32_offset_1000_small_sigma_variance_within_one_percent():
    g = torch.Generator().manual_seed(0)
    n_per, n_classes, dim = 2000, 5, 16
    y = torch.arange(n_classes).repeat_interleave(n_per)
    centers = torch.randn(n_classes, dim, generator=g, dtype=torch.float64)
    x64 = 1000.0 + centers[y] + 0.01 * torch.randn(len(y), dim, generator=g, dtype=torch.float64)
    x32 = x64.float()
    truth = ref_within_var(x32.double(), y)  # exact variance of the float32 data itself
    assert truth.mean().item() == pytest.approx(dim * 1e-4, rel=0.05)  # sanity: sigma^2 * D
    got = within_class_variance(x32, y)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), truth, rtol=0.01, atol=0)
    ref_c = ref_cdnv(x32.double(), y)
    assert cdnv(x32, y).item() == pytest.approx(ref_c, rel=0.01)


def test_float32_vs_float64_agree():
    x, y = blobs(20, 6, 8, seed=7)
    p64, p32 = cdnv_parts(x, y), cdnv_parts(x.float(), y)
    for k in p64:
        assert p32[k].dtype == torch.float32
        assert p32[k].item() == pytest.approx(p64[k].item(), rel=1e-5)


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
def test_cdnv_bounds_and_invariances(data):
    x, y, seed = data
    g = torch.Generator().manual_seed(seed)
    value = cdnv(x, y).item()
    assert value >= 0.0
    assert value == pytest.approx(ref_cdnv(x, y), rel=1e-9)
    relabel = torch.randperm(int(y.max()) + 1, generator=g) * 5 - 2
    assert cdnv(x, relabel[y]).item() == pytest.approx(value, rel=1e-10)
    order = torch.randperm(len(y), generator=g)
    assert cdnv(x[order], y[order]).item() == pytest.approx(value, rel=1e-10)
    assert cdnv(x * 0.37, y).item() == pytest.approx(value, rel=1e-10)
    shift = torch.randn(1, x.shape[1], generator=g, dtype=torch.float64) * 50
    assert cdnv(x + shift, y).item() == pytest.approx(value, rel=1e-8)
    assert cdnv(x @ random_orthogonal(x.shape[1], seed), y).item() == pytest.approx(value, rel=1e-8)
    var = within_class_variance(x, y)
    assert (var >= 0).all()
    d2 = class_mean_distance(x, y)
    assert (d2 >= 0).all() and (torch.diagonal(d2) == 0).all()


# --- bad input --------------------------------------------------------------------------------
def test_bad_inputs_are_named():
    x, y = blobs(3, 2, 2)
    for fn in (cdnv, cdnv_matrix, cdnv_parts, within_class_variance):
        with pytest.raises(MetricInputError, match="fewer than 2 samples.*\\[9\\]"):
            fn(torch.cat([x, x[:1]]), torch.cat([y, torch.tensor([9])]))
    with pytest.raises(MetricInputError, match="2-D"):
        cdnv(x[None], y)
    with pytest.raises(MetricInputError, match="1-D"):
        cdnv(x, y[None])
    with pytest.raises(MetricInputError, match="length"):
        cdnv(x, y[1:])
    with pytest.raises(MetricInputError, match="NaN or inf"):
        cdnv(x.index_fill(1, torch.tensor([0]), math.nan), y)
    with pytest.raises(MetricInputError, match="at least 2"):
        cdnv(x, torch.full_like(y, 3))
    with pytest.raises(MetricInputError, match="integer"):
        cdnv(x, y.float())
    # the mean distance needs no variance: a singleton class is fine there
    assert class_mean_distance(x[:4], torch.tensor([0, 0, 0, 1])).shape == (2, 2)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gpu_matches_cpu(dtype):
    x, y = blobs(50, 7, 16, seed=3, dtype=dtype)
    cpu = cdnv_parts(x, y)
    gpu = cdnv_parts(x.cuda(), y.cuda())
    for k in cpu:
        assert gpu[k].device.type == "cuda" and gpu[k].dtype == dtype
        assert gpu[k].item() == pytest.approx(cpu[k].item(), rel=1e-5)
