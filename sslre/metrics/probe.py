"""Linear probes on frozen features: test accuracy of a linear classifier (paper Sec. 3).

The paper measures "linear accuracy" with scikit-learn's ``LinearSVC`` on frozen embeddings.
Three interchangeable methods, all fitted on the train split and scored on the test split:

``"sklearn"`` -- the paper's protocol, the reference (slow at paper size):
    features standardized with the train split's per-feature mean and standard deviation
    (``StandardScaler``: population std, constant features get scale 1), then
    ``sklearn.svm.LinearSVC()`` with its defaults: ``C=1``, squared hinge loss, L2 penalty,
    one-vs-rest, ``fit_intercept=True`` with ``intercept_scaling=1`` (the bias is a constant
    feature of value 1 and is regularized like every weight), ``tol=1e-4``, ``max_iter=1000``,
    ``dual="auto"`` (= the primal trust-region/line-search Newton solver of liblinear when
    N > D), float64. Runs on the CPU; tensors are moved there.

``"svc"`` -- the *same objective* solved in torch, for all classes at once (CPU or CUDA):
    the same standardization (except that a feature constant within rounding is exactly 0 on the
    train split, where ``StandardScaler`` keeps ``x - mean``: its rounding residue, which grows with
    the feature's magnitude; see :func:`~sslre.metrics._l2svm.standardize`); for every class k,
    with ``y_ik = +1`` if ``y_i = k`` else ``-1`` and ``x~_i = [x_i, intercept_scaling]``::

        min_w  0.5 ||w||^2 + C * sum_i max(0, 1 - y_ik w . x~_i)^2        (w includes the bias)

    Solver (:func:`~sslre.metrics._l2svm.fit_ovr_l2svm`), from w = 0 like liblinear: preconditioned
    nonlinear conjugate gradient while the active sets ``A = {i : y_ik w.x~_i < 1}`` still move a lot
    (preconditioner ``I + 2C X~^T X~``, so the first step is the ridge solution), then the finite
    Newton method for L2-loss SVMs (Keerthi & DeCoste, JMLR 2005): generalized Hessians
    ``I + 2C X~_A^T X~_A`` updated by the rows whose active status changed, batched Cholesky
    solves. Every Newton step ends with an *exact* line search on the piecewise-quadratic
    objective; conjugate-gradient steps search exactly too, on a fixed random subset of samples
    for large N (they only steer). Stopping rule is liblinear's, always read from an exact float32
    gradient: ``||grad_k|| <= tol * max(min(n_pos, n_neg), 1) / N * ||grad_k(0)||`` with
    ``tol=1e-4``, ``max_iter=1000`` iterations. Precision: the ``(N, *)`` arrays and matmuls in
    float32 (``SVC_DTYPE``), factorizations and line-search sums in float64 where it matters; a
    class whose float32 iterations stall above the tolerance is finished in float64. On CPUs with
    bf16 matmuls (AMX / AVX512-BF16), the matmuls that only steer the iterations -- the
    conjugate-gradient phase and the Newton Hessians -- take bfloat16 products with float32
    accumulation; the Newton phase recomputes margins and gradients in float32, so the stopping
    rule and the optimum are the float32 ones. Prediction: argmax of the K scores. Checked against
    ``LinearSVC``: >= 99% identical test predictions (tests and benchmark), the same objective value.

``"fast"`` -- the same objective, solver and precision as ``"svc"``, stopped at liblinear's rule
    with ``tol = FAST_TOL = 1e-2`` (100x looser) and without the float64 finish: nearly the
    ``"svc"`` solution at a fraction of the Newton steps. ``tests/metrics/test_probe.py`` checks it
    is at most 1 point below ``LinearSVC`` on hard many-class data, real sample-level features included.

All methods return the test accuracy as a 0-dim float64 tensor in [0, 1] (higher = the labels are
more linearly decodable from the features). Determinism: identical inputs give identical results
on the CPU (no randomness is used). Speed against ``LinearSVC``: docs/PERFORMANCE.md.
"""
from __future__ import annotations

import torch

from ._l2svm import SolverSettings, check_solver_args, fit_ovr_l2svm, fit_padded, padded_design, standardize, \
    standardize_into
from .validation import MetricInputError, as_features, as_labels, encode_labels, map_to_classes

__all__ = ["PROBE_METHODS", "linear_probe_accuracy", "linear_probe_predict", "standardize", "fit_ovr_l2svm",
           "check_solver_args"]

PROBE_METHODS = ("svc", "fast", "sklearn")
SVC_DTYPE = torch.float32  # "svc" and "fast": precision of the (N, *) work; float64 polish where float32 stalls
FAST_TOL = 1e-2  # "fast": liblinear's stopping rule 100x looser than LinearSVC's tol=1e-4
# The two torch methods are presets of one solver: (default tol, float64 polish of stalled classes).
_PRESETS = {"svc": (1e-4, True), "fast": (FAST_TOL, False)}
_DEFAULT_MAX_ITER = 1000  # LinearSVC's max_iter, for every method
# Columns whose largest |x| lies outside [2^-SAFE, 2^SAFE] are brought into range by a power of two before the
# float32 work: beyond it float32 overflows (float64 input) or its column sums do (|x| near 3e38).
_SAFE_EXPONENT = 100


def _prepare(train_features, train_labels, test_features, test_labels):
    train_features = as_features(train_features, "train_features")
    test_features = as_features(test_features, "test_features")
    if test_features.shape[1] != train_features.shape[1]:
        raise MetricInputError(
            f"test_features have {test_features.shape[1]} dims but train_features have {train_features.shape[1]}"
        )
    if test_features.device != train_features.device:
        raise MetricInputError(f"test_features are on {test_features.device} but train_features on {train_features.device}")
    train_labels = as_labels(train_labels, train_features.shape[0], "train_labels", device=train_features.device)
    classes, y_idx = encode_labels(train_labels, min_classes=2, name="train_labels")
    if test_labels is not None:
        test_labels = as_labels(test_labels, test_features.shape[0], "test_labels", device=train_features.device)
        test_idx = map_to_classes(test_labels, classes, "test_labels")
    else:
        test_idx = None
    return train_features, test_features, classes, y_idx, test_idx


def _in_float32_range(xtr: torch.Tensor, xte: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(xtr, xte)`` with every column whose largest train ``|x|`` is outside ``[2^-_SAFE_EXPONENT,
    2^_SAFE_EXPONENT]`` multiplied (in both splits) by the power of two that brings that maximum into [0.5, 1).

    Exact in the input's dtype, and standardization is invariant to a positive scale per column, so the probe
    is unchanged -- but finite features outside float32's range (float64 at 1e50, float32 near 3e38, whose sums
    overflow) no longer turn into inf and NaN in the float32 solve. The other columns are not touched: inputs
    already in range give bit-identical results.
    """
    lo, hi = torch.aminmax(xtr, dim=0)  # (D,) without an (N, D) |x| temporary
    amax = torch.maximum(hi, -lo)
    _, exp = torch.frexp(amax)  # amax = m * 2^exp, m in [0.5, 1)
    out = (amax > 0) & ((exp > _SAFE_EXPONENT) | (exp < -_SAFE_EXPONENT))
    if not bool(out.any()):
        return xtr, xte
    shift = torch.where(out, -exp, 0)  # (D,)
    half = shift // 2  # 2^-exp in two factors: one alone overflows for subnormal float64 columns (exp ~ -1070)
    one = torch.ones_like(amax)
    first, second = torch.ldexp(one, half), torch.ldexp(one, shift - half)  # (D,) powers of two, exact
    return xtr * first * second, xte * first * second


def _sklearn_predict(xtr, y_idx, xte, C, tol, max_iter):
    """``"sklearn"``: StandardScaler + LinearSVC in float64 on the CPU; class indices ``(M,)`` on ``xtr``'s device."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    xtr_np = xtr.detach().cpu().to(torch.float64).numpy()
    xte_np = xte.detach().cpu().to(torch.float64).numpy()
    scaler = StandardScaler().fit(xtr_np)
    clf = LinearSVC(C=C, tol=1e-4 if tol is None else tol, max_iter=_DEFAULT_MAX_ITER if max_iter is None else max_iter)
    clf.fit(scaler.transform(xtr_np), y_idx.cpu().numpy())
    pred = clf.predict(scaler.transform(xte_np))
    return torch.as_tensor(pred, dtype=torch.int64, device=xtr.device)


def _predict_idx(method, xtr, y_idx, n_classes, xte, C, tol, max_iter):
    """Class indices ``(M,)`` predicted for ``xte`` ``(M, D)`` by a probe fitted on ``(xtr (N, D), y_idx (N,))``."""
    check_solver_args(C, tol, max_iter)
    if method == "sklearn":
        return _sklearn_predict(xtr, y_idx, xte, C, tol, max_iter)
    if method not in _PRESETS:
        raise MetricInputError(f"unknown probe method {method!r}; choose one of {PROBE_METHODS}")
    default_tol, polish = _PRESETS[method]
    cfg = SolverSettings(C=C, tol=default_tol if tol is None else tol,
                         max_iter=_DEFAULT_MAX_ITER if max_iter is None else max_iter, polish=polish)
    xtr, xte = _in_float32_range(xtr, xte)
    xt_pad = padded_design(xtr.shape[0], xtr.shape[1], 1.0, SVC_DTYPE, xtr.device)  # standardized X~ goes in here
    mean, std = standardize_into(xtr.to(SVC_DTYPE), xt_pad[:-1, :-1])
    xte_s = (xte.to(SVC_DTYPE) - mean) / std  # (M, D)
    w, _ = fit_padded(xt_pad, y_idx, n_classes, cfg)  # (D + 1, K)
    scores = xte_s @ w[:-1] + w[-1]  # (M, D) @ (D, K) -> (M, K), bias feature value 1 (intercept_scaling)
    return scores.argmax(dim=1)


def linear_probe_predict(
    train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor, method: str = "svc", *,
    C: float = 1.0, tol: float | None = None, max_iter: int | None = None,
) -> torch.Tensor:
    """Labels ``(M,)`` predicted for ``test_features`` ``(M, D)`` by the probe fitted on the train split.

    Same arguments as :func:`linear_probe_accuracy` without ``test_labels``. Returns the original
    label values (one of ``train_labels``' values per test sample: the argmax of the K one-vs-rest
    scores ``x~ . w_k``), on the features' device.
    """
    if method not in PROBE_METHODS:
        raise MetricInputError(f"unknown probe method {method!r}; choose one of {PROBE_METHODS}")
    xtr, xte, classes, y_idx, _ = _prepare(train_features, train_labels, test_features, None)
    return classes[_predict_idx(method, xtr, y_idx, classes.numel(), xte, C, tol, max_iter)]


def linear_probe_accuracy(
    train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor, test_labels: torch.Tensor,
    method: str = "svc", *, C: float = 1.0, tol: float | None = None, max_iter: int | None = None,
) -> torch.Tensor:
    """Test accuracy of a linear probe fitted on frozen train features (paper Sec. 3, "linear accuracy").

    ``acc = (1 / M) sum_j [argmax_k (x~_j . w_k) = y_j]`` with ``w_k`` the one-vs-rest squared-hinge
    SVMs of the module docstring, fitted on the standardized train features.

    Args:
        train_features: ``(N, D)`` float32/float64; train_labels: ``(N,)`` integer, >= 2 classes.
        test_features: ``(M, D)``; test_labels: ``(M,)``, each one of the train classes.
        method: ``"svc"`` (LinearSVC's objective in torch, default), ``"fast"`` or ``"sklearn"``
            (the paper's protocol); see the module docstring for each protocol exactly.
        C: inverse regularization strength (LinearSVC default 1.0); finite and > 0.
        tol, max_iter: solver stopping rule; ``None`` = 1e-4 / 1000 (LinearSVC's defaults) for
            ``"svc"`` and ``"sklearn"``, ``FAST_TOL`` / 1000 for ``"fast"``. ``tol`` finite and > 0,
            ``max_iter`` an integer >= 1; anything else raises :class:`MetricInputError`.

    Returns:
        0-dim float64 tensor on the features' device: fraction of test samples whose predicted
        class equals the label, in [0, 1]; higher = more linearly separable.

    >>> x = torch.tensor([[0., 0.], [0., 1.], [5., 5.], [5., 6.]])
    >>> float(linear_probe_accuracy(x, torch.tensor([0, 0, 1, 1]), x, torch.tensor([0, 0, 1, 1])))
    1.0
    """
    if method not in PROBE_METHODS:
        raise MetricInputError(f"unknown probe method {method!r}; choose one of {PROBE_METHODS}")
    xtr, xte, classes, y_idx, test_idx = _prepare(train_features, train_labels, test_features, test_labels)
    pred = _predict_idx(method, xtr, y_idx, classes.numel(), xte, C, tol, max_iter)
    return (pred == test_idx).sum().to(torch.float64) / test_idx.numel()
