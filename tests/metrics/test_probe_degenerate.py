"""The linear probe on degenerate features: few samples and many dimensions (D > N), duplicate rows, constant and
near-constant columns, rank deficiency, scales at the ends of the dtype. It returns a valid accuracy on any finite
input and a one-line :class:`MetricInputError` on non-finite input.

Regression: ResNet-18-like features of a 30-image train split failed in ``torch.linalg.cholesky`` ("not
positive-definite"). Two causes: (1) a column constant within rounding kept scale 1 *and* its rounding residue
``x - mean``, whose size grows with ``|mean|`` (~1e20 per entry at |x| ~ 1e26 in float32), so the Gram matrix of the
standardized design held entries no precision can factor; (2) float64 features beyond float32's range became inf in
the float32 solve.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from sslre.metrics import MetricInputError, linear_probe_accuracy, linear_probe_predict
from sslre.metrics import _l2svm
from sslre.metrics._l2svm import fit_ovr_l2svm, standardize


def resnet_like(n=30, d=512, k=10, seed=0):
    """Post-ReLU features of an n-image split: sparse, non-negative, D > N, a few dead (all-zero) units."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    centers = torch.randn(k, d, generator=g, dtype=torch.float64)
    x = (centers[y] + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64)).clamp(min=0)
    x[:, :40] = 0  # dead units
    return x, y


def valid(acc: torch.Tensor, m: int) -> bool:
    """A test accuracy: finite, in [0, 1], a whole number of the m test samples."""
    v = acc.item()
    return acc.dtype == torch.float64 and 0.0 <= v <= 1.0 and abs(v * m - round(v * m)) < 1e-9


@pytest.mark.parametrize("method", ["svc", "fast"])
def test_near_constant_columns_at_large_magnitude(method):
    """The failing case: columns whose spread is within float32 rounding of a large mean (offset 1e8, columns
    scaled 1e-20..1e20) next to informative ones. Was: linalg.cholesky 'not positive-definite'."""
    x, y = resnet_like()
    g = torch.Generator().manual_seed(1)
    const = (1e8 + torch.randn(30, 200, generator=g, dtype=torch.float64)) * torch.logspace(-20, 20, 200,
                                                                                            dtype=torch.float64)
    xc = torch.cat([x, const], 1).float()  # (30, 712): 200 columns constant to float32's rounding
    xs, = standardize(xc)
    assert bool((xs[:, 512:] == 0).all())  # constant columns are exactly 0, not their rounding residue
    acc = linear_probe_accuracy(xc, y, xc, y, method)
    assert valid(acc, 30)
    # the constant columns carry nothing: the same predictions as without them
    assert torch.equal(linear_probe_predict(xc, y, xc, method), linear_probe_predict(x.float(), y, x.float(), method))


@pytest.mark.parametrize("scale", [1e-320, 1e-60, 1e50, 1e300])
def test_float64_features_beyond_float32_range(scale, method="svc"):
    """float64 features outside float32's range (overflowing to inf, or subnormal) give the unit-scale answer."""
    x, y = resnet_like(seed=2)
    xt, yt = resnet_like(seed=3)
    ref = linear_probe_predict(x, y, xt, method)
    got = linear_probe_predict(x * scale, y, xt * scale, method)
    assert (got == ref).double().mean().item() >= 29 / 30  # subnormals keep fewer bits: a tie may break otherwise
    if scale in (1e-60, 1e50, 1e300):
        assert torch.equal(got, ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float32_near_its_maximum(dtype):
    """|x| ~ 1e38 in float32: column sums overflow unless the column is brought into range first."""
    x, y = resnet_like(seed=4)
    big = (x * 3e37 / x.max()).to(dtype)  # largest entry 3e37; sums of 30 of them exceed float32's 3.4e38
    assert torch.isfinite(big).all()
    assert torch.equal(linear_probe_predict(big, y, big), linear_probe_predict(x, y, x))


@st.composite
def degenerate_features(draw):
    """``(x (N, D), y (N,), k, constant column ids)`` with D > N and every degeneracy the strategy can draw."""
    n = draw(st.integers(4, 40))
    d = draw(st.integers(n + 1, 600))  # D > N: the Gram matrix is rank-deficient
    k = draw(st.integers(2, min(10, n)))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    rank = draw(st.sampled_from([None, 1, 3]))
    x = (torch.randn(n, rank, generator=g, dtype=torch.float64) @ torch.randn(rank, d, generator=g, dtype=torch.float64)
         if rank else torch.randn(n, d, generator=g, dtype=torch.float64))
    if draw(st.booleans()):
        x = x.clamp(min=0)  # ReLU: sparse, some columns all zero
    dup = draw(st.integers(0, n // 2))
    if dup:
        x[n - dup:] = x[:dup]  # duplicate rows (labels may differ)
    n_const = draw(st.integers(0, d // 2))
    x[:, :n_const] = draw(st.sampled_from([0.0, 1.0, -7.5, 1e3]))  # constant columns
    if draw(st.booleans()):
        x = x + draw(st.sampled_from([1e2, 1e6]))  # a large offset: spreads near rounding of the mean
    if draw(st.booleans()):
        x = x * torch.logspace(-20, 20, d, dtype=torch.float64)  # every column its own scale
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    scales = [1e-30, 1e-6, 1.0, 1e6, 1e30] + ([1e-300, 1e-60, 1e60, 1e300] if dtype == torch.float64 else [])
    x = (x * draw(st.sampled_from(scales))).to(dtype)
    y = torch.randint(0, k, (n,), generator=g)
    y[:k] = torch.arange(k)  # every class present
    return x, y


@settings(max_examples=30, deadline=None)
@given(case=degenerate_features(), method=st.sampled_from(["svc", "fast"]))
def test_probe_is_valid_on_degenerate_features(case, method):
    x, y = case
    if not bool(torch.isfinite(x).all()):  # an offset times a scale can overflow the dtype: not a finite input
        with pytest.raises(MetricInputError):
            linear_probe_accuracy(x, y, x, y, method)
        return
    assert valid(linear_probe_accuracy(x, y, x, y, method), len(y))
    half = len(y) // 2
    assert valid(linear_probe_accuracy(x, y, x[half:], y[half:], method), len(y) - half)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), value=st.sampled_from([0.0, 3.0, -1e5, 1e20]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_constant_columns_change_no_prediction(seed, value, dtype):
    """Columns constant on the train split, of any value, leave the predictions of the converged probe as they were
    (D > N included), but for a near-tie (one of 24; LinearSVC itself differs from svc there). Not ``fast``: its
    loose stop lands elsewhere when the shapes change the bf16 rounding."""
    x, y = resnet_like(n=24, d=60, k=4, seed=seed % 1000)
    xt, _ = resnet_like(n=24, d=60, k=4, seed=seed % 1000 + 1)
    pad = lambda a: torch.cat([a, torch.full((len(a), 8), value, dtype=a.dtype)], 1)  # noqa: E731
    x, xt = x.to(dtype), xt.to(dtype)
    differ = linear_probe_predict(pad(x), y, pad(xt), "svc") != linear_probe_predict(x, y, xt, "svc")
    assert int(differ.sum()) <= 1


@pytest.mark.parametrize("where", ["train", "test"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_finite_features_are_one_line_errors(where, bad, dtype):
    x, y = resnet_like()
    x = x.to(dtype)
    xt = x.clone()
    (x if where == "train" else xt)[3, 7] = bad
    with pytest.raises(MetricInputError, match="NaN or inf") as exc:
        linear_probe_accuracy(x, y, xt, y)
    assert "\n" not in str(exc.value)


# --- the factorizations: exact float64 fallbacks when rounding has left a matrix indefinite --------------
def test_preconditioner_recomputes_an_indefinite_gram_exactly():
    x, _ = resnet_like()
    xt = torch.cat([standardize(x.float())[0], torch.ones(30, 1)], 1)  # (30, 513) X~
    exact = torch.linalg.cholesky(torch.eye(513, dtype=torch.float64) + 2 * (xt.double().T @ xt.double()))
    spoiled = xt.T @ xt - 10 * torch.eye(513)  # as if rounding had pushed eigenvalues far below -1 / 2C
    torch.testing.assert_close(_l2svm._preconditioner(xt, spoiled, 1.0), exact)


def test_newton_rebuilds_an_indefinite_hessian_exactly(monkeypatch):
    """Generalized Hessians that drifted below -I / 2C are rebuilt in float64: same optimum, no LinAlgError."""
    x, y = resnet_like()
    xs = standardize(x.float())[0]
    w_ref, info_ref = fit_ovr_l2svm(xs, y, 10, dtype=torch.float32)
    real = _l2svm._active_hessians

    def drifted(xt_pad, act, work=None):
        return real(xt_pad, act, work) - 10 * torch.eye(xt_pad.shape[1])

    monkeypatch.setattr(_l2svm, "_active_hessians", drifted)
    w, info = fit_ovr_l2svm(xs, y, 10, dtype=torch.float32)
    assert info["converged"] and info_ref["converged"]
    f = lambda w_: _objective(w_.double(), xs.double(), y, 10)  # noqa: E731
    assert f(w).item() == pytest.approx(f(w_ref).item(), rel=1e-5)


def _objective(w, x, y_idx, k, C=1.0):
    """Sum over classes of 0.5||w_k||^2 + C sum_i max(0, 1 - y_ik w_k.x~_i)^2 (w (P, K), bias last)."""
    xt = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    yy = torch.where(y_idx[:, None] == torch.arange(k)[None], 1.0, -1.0).to(x.dtype)
    return (0.5 * (w * w).sum() + C * ((1 - yy * (xt @ w)).clamp(min=0) ** 2).sum())
