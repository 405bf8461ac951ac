"""Tests for sslre.metrics.probe: svc (LinearSVC's objective in torch), fast, sklearn reference."""
import numpy as np
import pytest
import torch

from sslre.metrics import MetricInputError, linear_probe_accuracy, linear_probe_predict
from sslre.metrics.probe import fit_ovr_l2svm, standardize


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
