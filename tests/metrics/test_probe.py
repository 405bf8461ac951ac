"""Tests for sslre.metrics.probe: svc (LinearSVC's objective in torch), fast, sklearn reference."""
import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from sslre.metrics import MetricInputError, linear_probe_accuracy, linear_probe_predict
from sslre.metrics._l2svm import _active_hessians, _line_search, _steering_matmuls, _update_hessians
from sslre.metrics.probe import fit_ovr_l2svm, standardize

REAL_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "features" / "cifar10-simclr-sample-level.pt"


def mixture(n, dim, n_classes, sep, seed, relu=True):
    """Gaussian-mixture features pushed through a random linear map and a ReLU (non-Gaussian, overlapping)."""
    g = torch.Generator().manual_seed(1000 + n_classes * 7 + dim)  # class structure shared by train and test
    centers = torch.randn(n_classes, dim, generator=g, dtype=torch.float64) * sep  # (C, D)
    mixing = torch.randn(dim, dim, generator=g, dtype=torch.float64) / dim**0.5  # (D, D)
    gs = torch.Generator().manual_seed(seed)
    y = torch.randint(0, n_classes, (n,), generator=gs)
    h = (centers[y] + torch.randn(n, dim, generator=gs, dtype=torch.float64)) @ mixing  # (N, D)
    return (torch.relu(h + 0.1) if relu else h), y


def objective(w, x, y_idx, k, C=1.0):
    """Sum over classes of 0.5||w_k||^2 + C sum_i max(0, 1 - y_ik w_k.x~_i)^2 (w (P, K), bias last)."""
    xt = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)  # (N, P)
    y = torch.where(y_idx[:, None] == torch.arange(k)[None], 1.0, -1.0).to(x.dtype)  # (N, K)
    margin = (1 - y * (xt @ w)).clamp(min=0)  # (N, K)
    return (0.5 * (w * w).sum(0) + C * (margin**2).sum(0))  # (K,)


def sklearn_fit(x, y):
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    xs = StandardScaler().fit_transform(x.numpy())
    clf = LinearSVC().fit(xs, y.numpy())
    w = np.concatenate([clf.coef_, clf.intercept_[:, None]], 1).T  # (P, K)
    return clf, torch.as_tensor(w)


@pytest.fixture(scope="module")
def overlap_data():
    xtr, ytr = mixture(600, 20, 5, sep=0.6, seed=1)
    xte, yte = mixture(400, 20, 5, sep=0.6, seed=2)
    return xtr, ytr, xte, yte


@pytest.fixture(scope="module")
def sklearn_pred(overlap_data):
    xtr, ytr, xte, _ = overlap_data
    return linear_probe_predict(xtr, ytr, xte, "sklearn")


def test_svc_matches_linearsvc_predictions(overlap_data, sklearn_pred):
    xtr, ytr, xte, yte = overlap_data
    pred = linear_probe_predict(xtr, ytr, xte, "svc")
    agree = (pred == sklearn_pred).double().mean().item()
    assert agree >= 0.99
    acc_svc = linear_probe_accuracy(xtr, ytr, xte, yte, "svc").item()
    acc_skl = (sklearn_pred == yte).double().mean().item()
    assert 0.4 < acc_skl < 0.95  # the data really overlap: the comparison is not trivial
    assert acc_svc == pytest.approx(acc_skl, abs=0.01)


def test_svc_reaches_the_linearsvc_objective(overlap_data):
    xtr, ytr, _, _ = overlap_data
    xs, = standardize(xtr)
    w, info = fit_ovr_l2svm(xs, ytr, 5)
    assert info["converged"]
    _, w_skl = sklearn_fit(xtr, ytr)
    f_svc, f_skl = objective(w, xs, ytr, 5), objective(w_skl, xs, ytr, 5)
    # same objective, same optimum: ours is at least as low (liblinear stops at a relative gradient tolerance)
    assert (f_svc <= f_skl * (1 + 1e-6)).all()
    assert f_svc.sum().item() == pytest.approx(f_skl.sum().item(), rel=1e-4)
    torch.testing.assert_close(w, w_skl, rtol=0, atol=5e-3 * w.abs().max().item())


@pytest.mark.parametrize("relu", [True, False])
def test_fast_no_more_than_one_point_below_linearsvc_overlapping(relu):
    xtr, ytr = mixture(1500, 24, 6, sep=0.5, seed=3, relu=relu)
    xte, yte = mixture(1000, 24, 6, sep=0.5, seed=4, relu=relu)
    acc_skl = linear_probe_accuracy(xtr, ytr, xte, yte, "sklearn").item()
    acc_fast = linear_probe_accuracy(xtr, ytr, xte, yte, "fast").item()
    assert 0.3 < acc_skl < 0.95
    assert acc_fast >= acc_skl - 0.01


def test_fast_and_svc_on_separable_data():
    xtr, ytr = mixture(500, 10, 4, sep=6.0, seed=5, relu=False)
    xte, yte = mixture(300, 10, 4, sep=6.0, seed=6, relu=False)
    acc_skl = linear_probe_accuracy(xtr, ytr, xte, yte, "sklearn").item()
    assert acc_skl >= 0.99
    assert linear_probe_accuracy(xtr, ytr, xte, yte, "fast").item() >= acc_skl - 0.01
    assert linear_probe_accuracy(xtr, ytr, xte, yte, "svc").item() == pytest.approx(acc_skl, abs=0.005)


@pytest.mark.parametrize("method", ["svc", "fast"])
def test_deterministic_and_label_values_preserved(overlap_data, method):
    xtr, ytr, xte, yte = overlap_data
    names = torch.tensor([40, -2, 7, 1000, 3])  # non-contiguous, unsorted
    a = linear_probe_predict(xtr, names[ytr], xte, method)
    b = linear_probe_predict(xtr, names[ytr], xte, method)
    assert torch.equal(a, b)
    assert set(a.tolist()) <= set(names.tolist())
    acc_named = linear_probe_accuracy(xtr, names[ytr], xte, names[yte], method).item()
    assert acc_named == pytest.approx(linear_probe_accuracy(xtr, ytr, xte, yte, method).item(), abs=0.0026)


@pytest.mark.parametrize("method", ["svc", "fast"])
def test_float32_inputs_and_two_classes(overlap_data, method):
    xtr, ytr, xte, yte = overlap_data
    two_tr, two_te = ytr % 2, yte % 2  # binary problem (superclass-like level)
    acc64 = linear_probe_accuracy(xtr, two_tr, xte, two_te, method)
    acc32 = linear_probe_accuracy(xtr.float(), two_tr, xte.float(), two_te, method)
    assert acc64.dtype == torch.float64 and acc64.dim() == 0
    assert 0.5 < acc64.item() <= 1.0
    assert acc32.item() == pytest.approx(acc64.item(), abs=0.01)


def test_constant_feature_is_harmless(overlap_data):
    xtr, ytr, xte, yte = overlap_data
    pad = lambda x: torch.cat([x, torch.full((len(x), 1), 3.0, dtype=x.dtype)], 1)  # noqa: E731
    base = linear_probe_accuracy(xtr, ytr, xte, yte, "svc").item()
    assert linear_probe_accuracy(pad(xtr), ytr, pad(xte), yte, "svc").item() == pytest.approx(base, abs=0.0026)


def test_bad_inputs(overlap_data):
    xtr, ytr, xte, yte = overlap_data
    with pytest.raises(MetricInputError, match="unknown probe method 'svm'"):
        linear_probe_accuracy(xtr, ytr, xte, yte, "svm")
    with pytest.raises(MetricInputError, match="absent from the train classes"):
        linear_probe_accuracy(xtr, ytr, xte, yte + 10, "fast")
    with pytest.raises(MetricInputError, match="dims"):
        linear_probe_accuracy(xtr, ytr, xte[:, :3], yte)
    with pytest.raises(MetricInputError, match="at least 2"):
        linear_probe_accuracy(xtr, torch.zeros_like(ytr), xte, yte)
    with pytest.raises(MetricInputError, match="NaN or inf"):
        linear_probe_accuracy(xtr, ytr, xte * float("nan"), yte)
    with pytest.raises(MetricInputError, match="length"):
        linear_probe_accuracy(xtr, ytr, xte, yte[:-1])


@pytest.mark.small
def test_svc_matches_linearsvc_medium():
    xtr, ytr = mixture(6000, 64, 20, sep=0.4, seed=11)
    xte, yte = mixture(2000, 64, 20, sep=0.4, seed=12)
    p_skl = linear_probe_predict(xtr, ytr, xte, "sklearn")
    p_svc = linear_probe_predict(xtr, ytr, xte, "svc")
    assert (p_svc == p_skl).double().mean().item() >= 0.99
    acc_skl = (p_skl == yte).double().mean().item()
    assert (p_svc == yte).double().mean().item() == pytest.approx(acc_skl, abs=0.005)
    assert linear_probe_accuracy(xtr, ytr, xte, yte, "fast").item() >= acc_skl - 0.01


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["svc", "fast"])
def test_gpu_matches_cpu(overlap_data, method):
    xtr, ytr, xte, yte = overlap_data
    cpu = linear_probe_predict(xtr, ytr, xte, method)
    gpu = linear_probe_predict(xtr.cuda(), ytr.cuda(), xte.cuda(), method)
    assert gpu.device.type == "cuda"
    assert (gpu.cpu() == cpu).double().mean().item() >= 0.99
    acc = linear_probe_accuracy(xtr.cuda(), ytr.cuda(), xte.cuda(), yte.cuda(), method)
    assert acc.device.type == "cuda"


# --- the exact line search against a plain sorted-breakpoint reference ----------------------------
def line_search_reference(m, b, w, d, C):
    """argmin_{t >= 0} 0.5||w + t d||^2 + C sum_i max(0, 1 - m_i - t b_i)^2 for one class, by brute force.

    phi'(t) = w.d + t d.d - 2C sum_i b_i max(0, 1 - m_i - t b_i) is piecewise linear between the sorted
    breakpoints; evaluate it at each and solve the one linear piece that crosses zero.
    """
    m, b, w, d = (np.asarray(a, dtype=np.float64) for a in (m, b, w, d))

    def dphi(t):
        return w @ d + t * (d @ d) - 2 * C * np.sum(b * np.maximum(0.0, 1 - m - t * b))

    if dphi(0.0) >= 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        bps = np.sort([t for t in (1 - m) / b if np.isfinite(t) and t > 0])
    prev = 0.0
    for t in list(bps) + [None]:
        if t is None:  # past the last breakpoint: one linear piece to infinity
            slope = d @ d + 2 * C * np.sum(b**2 * ((m + (prev + 1.0) * b) < 1))
            return prev - dphi(prev) / slope
        if dphi(t) >= 0:
            lo_v, hi_v = dphi(prev), dphi(t)
            return prev - lo_v * (t - prev) / (hi_v - lo_v)
        prev = t


@st.composite
def line_search_case(draw):
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 4))
    p = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p, generator=g, dtype=torch.float64) * draw(st.sampled_from([0.1, 1.0, 5.0]))
    y = torch.where(torch.rand(n, k, generator=g) < 0.3, 1.0, -1.0).to(torch.float64)  # (N, K)
    w = torch.randn(p, k, generator=g, dtype=torch.float64) * draw(st.sampled_from([0.0, 0.5, 2.0]))
    d = torch.randn(p, k, generator=g, dtype=torch.float64)
    return x, y, w, d, draw(st.sampled_from([0.1, 1.0, 10.0]))


@settings(max_examples=60, deadline=None)
@given(line_search_case(), st.sampled_from([0.0, 1.0]))
def test_line_search_is_exact(case, dense_frac):
    """Both paths (dense 1-D Newton: dense_frac=0; breakpoint histograms: dense_frac=1) hit the exact minimizer."""
    x, y, w, d, C = case
    m, b = y * (x @ w), y * (x @ d)  # (N, K) margins and their change per unit step
    h = (1 - m).clamp(min=0)
    grad = w - 2 * C * (x.T @ (h * y))  # (P, K)
    # the solver works class-major: (K, N) arrays, one class per row
    t = _line_search(m.T.contiguous(), b.T.contiguous(), (w * d).sum(0), (d * d).sum(0), (grad * d).sum(0), C,
                     act0=(m < 1).T.contiguous().double(), dense_frac=dense_frac)
    for j in range(y.shape[1]):
        ref = line_search_reference(m[:, j], b[:, j], w[:, j], d[:, j], C)
        assert t[j].item() == pytest.approx(ref, rel=1e-6, abs=1e-9)


# --- precision: float32 work, float64 finish -------------------------------------------------------
def test_float32_svc_reaches_the_float64_optimum(overlap_data):
    xtr, ytr, _, _ = overlap_data
    xs, = standardize(xtr)
    w64, info64 = fit_ovr_l2svm(xs, ytr, 5)
    w32, info32 = fit_ovr_l2svm(xs.float(), ytr, 5, dtype=torch.float32)
    assert info64["converged"] and info32["converged"]
    f64, f32 = objective(w64, xs, ytr, 5), objective(w32.double(), xs, ytr, 5)
    assert f32.sum().item() == pytest.approx(f64.sum().item(), rel=1e-5)


def test_float32_stall_is_finished_in_float64(overlap_data):
    """A tolerance float32 cannot reach: the stalled classes are polished in float64 and converge."""
    xtr, ytr, _, _ = overlap_data
    xs, = standardize(xtr)
    w, info = fit_ovr_l2svm(xs.float(), ytr, 5, dtype=torch.float32, tol=1e-10)
    assert info["polished"] > 0
    assert info["converged"]
    w_ref, _ = fit_ovr_l2svm(xs, ytr, 5, tol=1e-10)
    torch.testing.assert_close(w.double(), w_ref, rtol=0, atol=1e-4 * w_ref.abs().max().item())


def test_bf16_steering_reaches_the_same_optimum(overlap_data):
    """bf16 products only steer (CG phase, Hessians): the float32 optimum and its objective are unchanged."""
    xtr, ytr, _, _ = overlap_data
    xs, = standardize(xtr.float())
    w_on, info_on = fit_ovr_l2svm(xs, ytr, 5, dtype=torch.float32, bf16_products=True)
    w_off, info_off = fit_ovr_l2svm(xs, ytr, 5, dtype=torch.float32, bf16_products=False)
    assert info_on["converged"] and info_off["converged"]
    f_on, f_off = objective(w_on.double(), xs.double(), ytr, 5), objective(w_off.double(), xs.double(), ytr, 5)
    assert f_on.sum().item() == pytest.approx(f_off.sum().item(), rel=1e-5)


def liblinear_rule_holds(w, x, y_idx, k, tol, C=1.0):
    """Per class: liblinear's stopping rule ||g|| <= tol * max(min(n_pos, n_neg), 1) / N * ||g(0)||, on the exact
    float64 gradient g = w - 2C X~^T [y max(0, 1 - y w.x~)] of the returned weights (w (P, K), bias last)."""
    xt = torch.cat([x.double(), torch.ones(len(x), 1, dtype=torch.float64)], 1)  # (N, P)
    y = torch.where(y_idx[:, None] == torch.arange(k)[None], 1.0, -1.0).double()  # (N, K)
    w = w.double()
    h = (1 - y * (xt @ w)).clamp(min=0)  # (N, K)
    g = w - 2 * C * xt.T @ (h * y)  # (P, K)
    g0 = (2 * C * xt.T @ y).norm(dim=0)  # (K,)
    n_pos = (y > 0).sum(0)
    eps = tol * torch.clamp(torch.minimum(n_pos, len(x) - n_pos), min=1) / len(x)
    return g.norm(dim=0) <= 1.01 * eps * g0  # 1% slack for the solver's float32 arithmetic


@pytest.mark.parametrize("tol", [0.3, 1e-2, 1e-4])
def test_converged_means_the_exact_rule_holds(overlap_data, tol):
    """Loose tolerances end inside the (bf16-steered) CG phase: "converged" must still mean the float32/64 rule."""
    xtr, ytr, _, _ = overlap_data
    xs, = standardize(xtr.float())
    w, info = fit_ovr_l2svm(xs, ytr, 5, dtype=torch.float32, tol=tol, polish=False)
    assert info["converged"]
    assert bool(liblinear_rule_holds(w, xs, ytr, 5, tol).all())


def test_sampled_cg_line_search_reaches_the_same_optimum(overlap_data, monkeypatch):
    """The CG phase's line search on a sample subset (used above 2 x _CG_SEARCH_SAMPLES rows) only steers: the
    optimum is the one found with exact CG line searches."""
    import sslre.metrics._l2svm as solver_mod

    xtr, ytr, _, _ = overlap_data
    xs, = standardize(xtr.float())
    w_exact, _ = fit_ovr_l2svm(xs, ytr, 5, dtype=torch.float32)
    calls = []
    real = solver_mod._sampled_step
    monkeypatch.setattr(solver_mod, "_CG_SEARCH_SAMPLES", 100)  # 600 rows > 2 x 100: the sampled search runs
    monkeypatch.setattr(solver_mod, "_sampled_step", lambda *a: calls.append(1) or real(*a))
    w_sampled, info = fit_ovr_l2svm(xs, ytr, 5, dtype=torch.float32)
    assert calls and info["converged"]
    f_s = objective(w_sampled.double(), xs.double(), ytr, 5).sum().item()
    f_e = objective(w_exact.double(), xs.double(), ytr, 5).sum().item()
    assert f_s == pytest.approx(f_e, rel=1e-5)
    assert bool(liblinear_rule_holds(w_sampled, xs, ytr, 5, 1e-4).all())


@pytest.mark.parametrize("fails", [False, True])
def test_steering_matmuls_restore_the_precision_flag(fails):
    """The process-wide oneDNN flag is set only inside the block and restored, also on an exception."""
    flag = torch.backends.mkldnn.matmul
    before = flag.fp32_precision
    steer = _steering_matmuls(torch.device("cpu"), torch.float32)
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
        with steer:
            assert flag.fp32_precision == ("bf16" if steer.active else before)
            if fails:
                raise RuntimeError("inside")
    assert flag.fp32_precision == before
    assert not _steering_matmuls(torch.device("cpu"), torch.float64).active  # float64 is never rounded


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([0.01, 0.2, 0.6, 0.95]), st.sampled_from([0.0, 0.05, 0.5, 1.0]))
def test_hessian_update_equals_rebuild(seed, density, change):
    """Updating S_k = X_A^T X_A by the changed rows (or rebuilding from the smaller of the active/inactive
    sets) gives the Hessian built from scratch, for every mix of small and large changes."""
    g = torch.Generator().manual_seed(seed)
    n, p, k = 300, 7, 4
    xt_pad = torch.cat([torch.randn(n, p, generator=g, dtype=torch.float64), torch.zeros(1, p, dtype=torch.float64)])
    gram = xt_pad[:n].T @ xt_pad[:n]  # (P, P)
    act_prev = (torch.rand(k, n, generator=g) < density).double()  # (K, N) 0/1 masks
    flip = (torch.rand(k, n, generator=g) < change * torch.rand(k, 1, generator=g)).double()
    act = (act_prev - flip).abs()  # (K, N): each class changes a different fraction of its rows
    s_mat = _active_hessians(xt_pad, act_prev)
    _update_hessians(s_mat, xt_pad, gram, act, act_prev)
    torch.testing.assert_close(s_mat, _active_hessians(xt_pad, act), rtol=1e-10, atol=1e-9)
    ref = torch.stack([xt_pad[:n][act[j] > 0].T @ xt_pad[:n][act[j] > 0] for j in range(k)])  # plain loop
    torch.testing.assert_close(s_mat, ref, rtol=1e-10, atol=1e-9)


def test_standardize_float32_large_offset_small_spread():
    """Offset 1000, spread 0.01 in float32 (a one-pass variance is useless there): matches sklearn in float64."""
    from sklearn.preprocessing import StandardScaler

    g = torch.Generator().manual_seed(0)
    x = 1000 + 0.01 * torch.randn(5000, 6, generator=g)
    x[:, 2] = 7.0  # a constant feature stays 0, never NaN
    xs, = standardize(x)
    ref = torch.as_tensor(StandardScaler().fit_transform(x.double().numpy()))
    assert xs.dtype == torch.float32
    assert (xs.double() - ref).abs().max().item() < 1e-3
    assert xs[:, 2].abs().max().item() == 0.0


# --- real features: CIFAR-10 sample level (200 classes), the case that exposed the old "fast" -------
@pytest.fixture(scope="module")
def real_sample_level():
    data = torch.load(REAL_FIXTURE)
    return data


def test_svc_and_fast_on_real_sample_level_features(real_sample_level):
    """Real SSL features, 200 classes x 50 views: svc = LinearSVC, fast <= 1 point below (a truncated solver
    falls short here: the data can tell)."""
    d = real_sample_level
    xtr, xte = d["train_features"].float(), d["test_features"].float()
    ytr, yte, p_skl = d["train_labels"].long(), d["test_labels"].long(), d["sklearn_pred"].long()
    acc_skl = (p_skl == yte).double().mean().item()
    p_svc = linear_probe_predict(xtr, ytr, xte, "svc")
    assert (p_svc == p_skl).double().mean().item() >= 0.99
    assert linear_probe_accuracy(xtr, ytr, xte, yte, "fast").item() >= acc_skl - 0.01
    # the data are hard enough to tell: the solver's first step from w = 0 (the ridge solution
    # (I + 2C X~^T X~)^-1 2C X~^T Y) falls short by more than a point
    xs, xts = standardize(xtr, xte)
    xt = torch.cat([xs, torch.ones(len(xs), 1)], 1).double()  # (N, P) with the bias feature
    y_pm = torch.where(ytr[:, None] == torch.arange(200)[None], 1.0, -1.0).double()  # (N, K) one-vs-rest targets
    w = torch.linalg.solve(torch.eye(xt.shape[1], dtype=torch.float64) + 2 * xt.T @ xt, 2 * xt.T @ y_pm)  # (P, K)
    acc_ridge = ((xts.double() @ w[:-1] + w[-1]).argmax(1) == yte).double().mean().item()
    assert acc_ridge < acc_skl - 0.01


@pytest.mark.small
def test_real_fixture_sklearn_record_is_current(real_sample_level):
    d = real_sample_level
    p = linear_probe_predict(d["train_features"].float(), d["train_labels"].long(), d["test_features"].float(),
                             "sklearn")
    assert (p == d["sklearn_pred"].long()).double().mean().item() >= 0.995


# --- scale-proof: features of any magnitude the dtype holds give the same probe ------------------------------
def _four_blobs(spread=0.8):
    """200 train / 80 test points, 16 features, 4 classes (the issue's case; overlapping enough that the
    accuracy is not trivially 1)."""
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 16, generator=g, dtype=torch.float64)  # (4, 16)

    def draw(n):
        y = torch.arange(n) % 4
        return centers[y] + spread * torch.randn(n, 16, generator=g, dtype=torch.float64), y

    return (*draw(200), *draw(80))


FOUR_BLOBS = _four_blobs()


@pytest.mark.parametrize("method", ["svc", "fast"])
@pytest.mark.parametrize("scale", [1e-7, 1e18])
def test_small_and_huge_features_are_not_chance(method, scale):
    # Was 0.25 (chance): a std below an absolute 1.2e-6 counted as constant, and squares of 1e18 overflowed.
    xtr, ytr, xte, yte = FOUR_BLOBS
    ref = linear_probe_accuracy(xtr, ytr, xte, yte, "sklearn").item()
    got = linear_probe_accuracy(xtr * scale, ytr, xte * scale, yte, method).item()
    assert got == pytest.approx(ref, abs=1.5 / 80)
    assert got > 0.5


@settings(max_examples=30, deadline=None)
@given(log_scale=st.floats(-12, 12), dtype=st.sampled_from([torch.float32, torch.float64]),
       method=st.sampled_from(["svc", "fast"]))
def test_probe_accuracy_is_scale_invariant(log_scale, dtype, method):
    xtr, ytr, xte, yte = FOUR_BLOBS
    base = linear_probe_accuracy(xtr.to(dtype), ytr, xte.to(dtype), yte, method).item()
    s = 10.0 ** log_scale  # scaled in float64, then cast: the scaled values are representable in the dtype
    got = linear_probe_accuracy((xtr * s).to(dtype), ytr, (xte * s).to(dtype), yte, method).item()
    assert got == pytest.approx(base, abs=1e-12)


@pytest.mark.parametrize("kw, msg", [
    (dict(C=0), "C must be a finite number > 0"),
    (dict(C=-1.0), "C must be a finite number > 0"),
    (dict(C=float("nan")), "C must be a finite number > 0"),
    (dict(tol=0.0), "tol must be a finite number > 0"),
    (dict(tol=-1e-4), "tol must be a finite number > 0"),
    (dict(max_iter=0), "max_iter must be an integer >= 1"),
    (dict(max_iter=2.5), "max_iter must be an integer >= 1"),
])
@pytest.mark.parametrize("method", ["svc", "fast", "sklearn"])
def test_invalid_solver_settings_are_refused(kw, msg, method):
    # C=0 / max_iter=0 used to return chance silently, C=-1 / NaN a raw _LinAlgError.
    xtr, ytr, xte, yte = FOUR_BLOBS
    with pytest.raises(MetricInputError, match=msg):
        linear_probe_accuracy(xtr, ytr, xte, yte, method, **kw)


def test_standardize_small_and_huge_float32_match_sklearn():
    from sklearn.preprocessing import StandardScaler

    xtr = FOUR_BLOBS[0]
    for scale in (1e-9, 1e-20, 1e18):
        xs, = standardize((xtr * scale).float())
        ref = torch.as_tensor(StandardScaler().fit_transform((xtr * scale).float().double().numpy()))
        assert (xs.double() - ref).abs().max().item() < 1e-4, scale
