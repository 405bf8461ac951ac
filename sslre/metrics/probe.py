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
    the same standardization; for every class k, with ``y_ik = +1`` if ``y_i = k`` else ``-1``
    and ``x~_i = [x_i, intercept_scaling]``::

        min_w  0.5 ||w||^2 + C * sum_i max(0, 1 - y_ik w . x~_i)^2        (w includes the bias)

    Solver: the finite Newton method for L2-loss SVMs (Keerthi & DeCoste, JMLR 2005): generalized
    Hessian ``I + 2C X~_A^T X~_A`` over the active set ``A = {i : y_ik w.x~_i < 1}``, solved
    exactly by a batched Cholesky, then an *exact* line search on the piecewise-quadratic
    objective (safeguarded 1-D Newton). The Hessians are updated by the rows whose active
    status changed, or recomputed from the smaller of A / not-A. Stopping rule is liblinear's:
    ``||grad_k|| <= tol * max(min(n_pos, n_neg), 1) / N * ||grad_k(0)||`` with ``tol=1e-4``,
    ``max_iter=1000`` Newton iterations; float64 by default. Prediction: argmax of the K scores.

``"fast"`` -- the same objective as ``"svc"`` (standardization, C=1, squared hinge, one-vs-rest,
    regularized intercept feature), solved *approximately* in float32 (CPU or CUDA) by
    ``FAST_MAX_ITER = 10`` iterations of preconditioned nonlinear conjugate gradient with exact
    line search, preconditioner ``I + 2C X~^T X~`` (one float64 Cholesky shared by all classes);
    the first iteration from w = 0 is exactly the closed-form ridge classifier. Stops earlier
    only if liblinear's rule is met with ``tol = FAST_TOL = 1e-3``. Cost: two (N x P) x (P x K)
    matmuls per iteration, no per-class Hessians. Not converged in general: its accuracy
    relative to ``LinearSVC`` is checked in the tests (no more than 1 point below on separable
    and overlapping data) and in the benchmark.

All methods return the test accuracy as a 0-dim float64 tensor in [0, 1] (higher = the labels are
more linearly decodable from the features). Determinism: identical inputs give identical results
on the CPU (no randomness is used).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .validation import MetricInputError, as_features, as_labels, encode_labels, map_to_classes

__all__ = ["PROBE_METHODS", "linear_probe_accuracy", "linear_probe_predict", "standardize", "fit_ovr_l2svm"]

PROBE_METHODS = ("svc", "fast", "sklearn")
FAST_MAX_ITER = 10  # "fast": preconditioned CG iterations (the first one is the ridge solution)
FAST_TOL = 1e-3  # "fast": liblinear-style relative gradient tolerance (rarely reached in 10 steps)

# Classes solved together are grouped so the (K_block, P, P) float64 Hessians stay <= ~512 MiB.
_HESSIAN_BLOCK_ELEMENTS = 1 << 26


@dataclass(frozen=True)
class _SolverSettings:
    C: float = 1.0
    intercept_scaling: float = 1.0
    tol: float = 1e-4
    max_iter: int = 1000
    dtype: torch.dtype = torch.float64


def standardize(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(x - mean_train) / std_train`` for train and every other split, like ``StandardScaler``.

    ``train`` ``(N, D)``; statistics in float64, population std (ddof=0); features whose std is
    (numerically) zero keep scale 1, so they become 0 instead of NaN. Returns tensors in the
    input dtype.
    """
    t64 = train.to(torch.float64)
    mean = t64.mean(dim=0)  # (D,)
    std = t64.std(dim=0, unbiased=False)  # (D,)
    # sklearn's _handle_zeros_in_scale: a scale below 10 * eps * max(|mean|, 1)... is treated as 0 -> 1
    tiny = 10 * torch.finfo(torch.float64).eps * mean.abs().clamp(min=1.0)
    std = torch.where(std < tiny, torch.ones_like(std), std)
    return tuple(((x.to(torch.float64) - mean) / std).to(x.dtype) for x in (train, *others))


def _line_search(
    z: torch.Tensor, s: torch.Tensor, y: torch.Tensor, wd: torch.Tensor, dd: torch.Tensor, C: float, max_steps: int = 40
) -> torch.Tensor:
    """Exact step ``t`` ``(K,)`` minimizing ``phi_k(t) = f_k(w_k + t d_k)`` for every class.

    ``z = X~ w`` and ``s = X~ d`` ``(N, K)``, ``y`` ``(N, K)`` in {-1, +1}, ``wd = w.d`` and
    ``dd = d.d`` ``(K,)``. ``phi'(t) = wd + t dd + 2C sum_{active(t)} (z + t s - y) s`` is
    piecewise linear and increasing, so a 1-D Newton step on it is exact once the active set
    stops changing; a bracket [lo, hi] with bisection keeps it safe.
    """
    k = z.shape[1]
    lo = torch.zeros(k, dtype=z.dtype, device=z.device)
    hi = torch.full((k,), float("inf"), dtype=z.dtype, device=z.device)
    # Along the ray u = z + t s: point i is active iff y z + t y s < 1, and its term of phi' is
    # (z - y) s + t s^2. Precomputing these (N, K) pieces once makes every step 3 reductions.
    yz, ys = y * z, y * s  # (N, K)
    zys = (z - y) * s  # (N, K)
    ss = s * s  # (N, K)
    act0 = (yz < 1).to(z.dtype)  # (N, K) active set at t = 0
    slope0 = wd + 2 * C * (act0 * zys).sum(dim=0)  # (K,) phi'(0) < 0 for a descent direction
    curv0 = dd + 2 * C * (act0 * ss).sum(dim=0)  # (K,) phi''(0) > 0
    # First guess: the minimizer of the quadratic piece at t = 0 (t = 1 for an exact Newton direction).
    t = (-slope0 / curv0).clamp(min=torch.finfo(z.dtype).tiny)
    slope0 = slope0.abs()
    # Stop once |phi'(t)| <= rtol * |phi'(0)|: the objective is then within ~rtol^2 of the line minimum.
    # The bound must sit above the rounding noise of the N-term sum in the working precision.
    rtol = max(1e-9, 1e3 * torch.finfo(z.dtype).eps)
    for _ in range(max_steps):
        active = (torch.addcmul(yz, ys, t.unsqueeze(0)) < 1).to(z.dtype)  # (N, K) active at t
        curv = (active * ss).sum(dim=0)  # (K,) sum_active s^2
        dphi = wd + t * dd + 2 * C * ((active * zys).sum(dim=0) + t * curv)  # (K,)
        done = dphi.abs() <= rtol * slope0
        if bool(done.all()):
            break
        d2phi = dd + 2 * C * curv  # (K,) > 0
        lo = torch.where(dphi < 0, t, lo)
        hi = torch.where(dphi > 0, t, hi)
        t_new = t - dphi / d2phi  # exact if the active set does not change on the way
        inside = (t_new > lo) & (t_new < hi)
        fallback = torch.where(torch.isinf(hi), 2 * t, 0.5 * (lo + hi))
        t = torch.where(done, t, torch.where(inside, t_new, fallback))
    return t


def fit_ovr_l2svm(
    x: torch.Tensor, y_idx: torch.Tensor, n_classes: int, *, C: float = 1.0, intercept_scaling: float = 1.0,
    tol: float = 1e-4, max_iter: int = 1000, dtype: torch.dtype = torch.float64, newton: bool = True,
    switch_frac: float = 0.01, max_pcg: int = 25, verbose: bool = False,
) -> tuple[torch.Tensor, dict]:
    """One-vs-rest L2-regularized squared-hinge linear SVMs (liblinear's primal objective), all classes at once.

    Args:
        x: ``(N, D)`` features (already standardized, if wanted); y_idx: ``(N,)`` class indices
        in ``0..n_classes-1``. ``C``, ``intercept_scaling``, ``tol``, ``max_iter`` as in
        liblinear / ``LinearSVC``; ``dtype`` the solver precision.
        newton: finish with finite-Newton steps (exact optimum); ``False`` = preconditioned
            nonlinear CG only (the ``"fast"`` probe: ridge start, then ``max_iter`` CG steps).
        switch_frac, max_pcg: CG -> Newton switch (fraction of flipped active flags; iterations).
        Starts from w = 0 like liblinear.

    Returns:
        ``(W, info)``: ``W`` ``(D + 1, K)``, last row the bias weights (multiply by
        ``intercept_scaling`` for the intercept); ``info`` with ``iterations`` (max over classes)
        and ``converged`` (all classes met the stopping rule).
    """
    n = x.shape[0]
    xt = torch.cat([x.to(dtype), torch.full((n, 1), intercept_scaling, dtype=dtype, device=x.device)], dim=1)  # (N, P)
    p = xt.shape[1]
    gram = xt.T @ xt  # (P, P) full Gram matrix, shared by all classes
    block = max(1, _HESSIAN_BLOCK_ELEMENTS // (p * p))
    ws, iters, converged = [], 0, True
    for k0 in range(0, n_classes, block):
        k1 = min(n_classes, k0 + block)
        w, info = _fit_block(xt, gram, y_idx, k0, k1, C, tol, max_iter, newton, switch_frac, max_pcg, verbose)
        ws.append(w)
        iters = max(iters, info["iterations"])
        converged &= info["converged"]
    return torch.cat(ws, dim=1), {"iterations": iters, "converged": converged}


def _fit_block(xt, gram, y_idx, k0, k1, C, tol, max_iter, newton=True, switch_frac=0.01, max_pcg=25, verbose=False):
    """Solve the one-vs-rest squared-hinge problems for classes ``k0..k1-1`` (see :func:`fit_ovr_l2svm`).

    Two phases, both with the exact line search of :func:`_line_search`:

    1. Preconditioned nonlinear conjugate gradient (Polak-Ribiere+), preconditioner the Hessian
       at w = 0, ``M = I + 2C X~^T X~``, shared by every class (one Cholesky). Every generalized
       Hessian satisfies ``H_k <= M``, and the first step from w = 0 is exactly the ridge
       solution. Each iteration costs two (N, P) x (P, K) matmuls. It runs while the active sets
       still move a lot (more than ``switch_frac`` of the N x K entries changed in the last step).
    2. Finite Newton: exact generalized Hessians ``I + 2C X~_A^T X~_A`` built from the (by then
       small) active sets and updated by the rows that change, batched Cholesky solves.
       Converged classes are frozen and drop out of every later matmul.
    """
    n, p = xt.shape
    k = k1 - k0
    dtype, device = xt.dtype, xt.device
    cls = torch.arange(k0, k1, device=device)
    y = torch.where(y_idx.unsqueeze(1) == cls.unsqueeze(0), 1.0, -1.0).to(dtype)  # (N, K) +-1 targets
    n_pos = (y > 0).sum(dim=0)  # (K,)
    eps_k = tol * torch.clamp(torch.minimum(n_pos, n - n_pos), min=1).to(dtype) / n  # (K,) liblinear's primal tolerance
    eye = torch.eye(p, dtype=dtype, device=device)
    # (P, P) shared preconditioner M = H(w=0), factored in float64: collinear features make it ill-conditioned
    chol_m = torch.linalg.cholesky(eye.double() + 2 * C * gram.double()).to(dtype)
    w = torch.zeros(p, k, dtype=dtype, device=device)  # (P, K)
    z = torch.zeros(n, k, dtype=dtype, device=device)  # (N, K) scores X~ w
    done = torch.zeros(k, dtype=torch.bool, device=device)
    g0 = None
    phase_newton = False
    s_mat = act_prev = None
    d_prev = g_prev = pg_prev = None
    it = 0
    while True:
        cols = (~done).nonzero().flatten()  # classes still being solved
        sel = slice(None) if cols.numel() == k else cols  # a view, not a copy, while every class is open
        zc, yc = z[:, sel], y[:, sel]  # (N, T)
        active = yc * zc < 1  # (N, T)
        r = active.to(dtype) * (zc - yc)  # (N, T)
        grad = w[:, sel] + 2 * C * (xt.T @ r)  # (P, T) gradient of each class objective
        gnorm = grad.norm(dim=0)  # (T,)
        if g0 is None:
            g0 = gnorm.clone()  # (K,) initial gradient norms (w = 0)
        newly_done = gnorm <= eps_k[cols] * g0[cols]
        if it >= max_iter or bool(newly_done.all()):
            done[cols[newly_done]] = True
            break
        if bool(newly_done.any()):
            done[cols[newly_done]] = True
            keep = ~newly_done
            cols, zc, yc, active, grad = cols[keep], zc[:, keep], yc[:, keep], active[:, keep], grad[:, keep]
            if not phase_newton and d_prev is not None:
                d_prev, g_prev, pg_prev = d_prev[:, keep], g_prev[:, keep], pg_prev[:, keep]
            elif phase_newton:
                s_mat, act_prev = s_mat[keep], act_prev[:, keep]
        it += 1
        if not phase_newton:
            pg = torch.cholesky_solve(grad, chol_m)  # (P, T) M^{-1} g
            d = -pg
            if d_prev is not None:
                beta = (((grad - g_prev) * pg).sum(dim=0) / (g_prev * pg_prev).sum(dim=0)).clamp(min=0)  # (T,) PR+
                d = d + beta * d_prev
                bad = (grad * d).sum(dim=0) >= 0  # not a descent direction: restart
                d = torch.where(bad, -pg, d)
            d_prev, g_prev, pg_prev = d, grad, pg
        else:
            _update_hessians(s_mat, xt, gram, active, act_prev)
            act_prev = active
            chol = torch.linalg.cholesky(eye + 2 * C * s_mat)  # (T, P, P) generalized Hessians, SPD (>= I)
            d = -torch.cholesky_solve(grad.T.unsqueeze(2), chol).squeeze(2).T  # (P, T) Newton directions
        sel = slice(None) if cols.numel() == k else cols
        wc = w[:, sel]  # (P, T)
        s = xt @ d  # (N, T) scores of the directions
        t = _line_search(zc, s, yc, (wc * d).sum(dim=0), (d * d).sum(dim=0), C)  # (T,)
        z_new = zc + t * s  # (N, T)
        w[:, sel] = wc + t * d
        z[:, sel] = z_new
        if not phase_newton:
            moved = ((yc * z_new < 1) ^ active).to(dtype).mean().item()  # fraction of active flags flipped
            if verbose:
                print(f"pcg it {it}: flipped {moved:.4f} active {active.to(dtype).mean().item():.4f}")
            if newton and (moved < switch_frac or it >= max_pcg):
                phase_newton = True
                s_mat = gram.unsqueeze(0).repeat(cols.numel(), 1, 1)  # (T, P, P) = S for "all active"
                act_prev = torch.ones(n, cols.numel(), dtype=torch.bool, device=device)  # rebuilt from A next step
        elif verbose:
            print(f"newton it {it}: todo {cols.numel()} active {active.to(dtype).mean().item():.4f}")
    return w, {"iterations": it, "converged": bool(done.all())}


def _update_hessians(s_mat, xt, gram, active, act_prev):
    """Bring ``S_k = X~^T diag(A_k) X~`` ``(P, P)`` (``s_mat`` ``(T, P, P)``) up to date, in place.

    Either add/subtract the outer products of the rows whose status changed, or rebuild from the
    smaller of the active / inactive row sets (``Gram - X_I^T X_I``), whichever touches fewer rows.
    """
    n = xt.shape[0]
    changed = active ^ act_prev  # (N, K)
    n_changed = changed.sum(dim=0).tolist()
    n_active = active.sum(dim=0).tolist()
    for j in range(active.shape[1]):
        if n_changed[j] == 0:
            continue
        n_small = min(n_active[j], n - n_active[j])
        if n_changed[j] <= n_small:
            idx = changed[:, j].nonzero().flatten()
            rows = xt[idx]  # (m, P) rows that entered or left the active set
            sign = torch.where(active[idx, j], 1.0, -1.0).to(xt.dtype).unsqueeze(1)  # (m, 1) +1 entered, -1 left
            s_mat[j] += rows.T @ (rows * sign)  # (P, P)
        elif n_active[j] <= n - n_active[j]:
            rows = xt[active[:, j]]  # (|A|, P)
            s_mat[j] = rows.T @ rows
        else:
            rows = xt[~active[:, j]]  # (|I|, P)
            s_mat[j] = gram - rows.T @ rows


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


def _predict_idx(method, xtr, y_idx, n_classes, xte, C, tol, max_iter):
    """Class indices ``(M,)`` predicted for ``xte`` by a probe fitted on ``(xtr, y_idx)``."""
    if method == "sklearn":
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        xtr_np = xtr.detach().cpu().to(torch.float64).numpy()
        xte_np = xte.detach().cpu().to(torch.float64).numpy()
        scaler = StandardScaler().fit(xtr_np)
        clf = LinearSVC(C=C, tol=1e-4 if tol is None else tol, max_iter=1000 if max_iter is None else max_iter)
        clf.fit(scaler.transform(xtr_np), y_idx.cpu().numpy())
        pred = clf.predict(scaler.transform(xte_np))
        return torch.as_tensor(pred, dtype=torch.int64, device=xtr.device)
    if method == "svc":
        settings = dict(C=C, tol=1e-4 if tol is None else tol, max_iter=1000 if max_iter is None else max_iter,
                        dtype=torch.float64)
    elif method == "fast":
        settings = dict(C=C, tol=FAST_TOL if tol is None else tol, max_iter=FAST_MAX_ITER if max_iter is None else max_iter,
                        dtype=torch.float32, newton=False)
    else:
        raise MetricInputError(f"unknown probe method {method!r}; choose one of {PROBE_METHODS}")
    xtr_s, xte_s = standardize(xtr.to(settings["dtype"]), xte.to(settings["dtype"]))
    w, _ = fit_ovr_l2svm(xtr_s, y_idx, n_classes, **settings)  # (D + 1, K)
    scores = xte_s @ w[:-1] + w[-1]  # (M, K), bias feature value 1 (intercept_scaling)
    return scores.argmax(dim=1)


def linear_probe_predict(
    train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor, method: str = "svc", *,
    C: float = 1.0, tol: float | None = None, max_iter: int | None = None,
) -> torch.Tensor:
    """Labels ``(M,)`` (original label values) predicted for ``test_features`` by the chosen probe."""
    if method not in PROBE_METHODS:
        raise MetricInputError(f"unknown probe method {method!r}; choose one of {PROBE_METHODS}")
    xtr, xte, classes, y_idx, _ = _prepare(train_features, train_labels, test_features, None)
    return classes[_predict_idx(method, xtr, y_idx, classes.numel(), xte, C, tol, max_iter)]


def linear_probe_accuracy(
    train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor, test_labels: torch.Tensor,
    method: str = "svc", *, C: float = 1.0, tol: float | None = None, max_iter: int | None = None,
) -> torch.Tensor:
    """Test accuracy of a linear probe fitted on frozen train features (paper Sec. 3, "linear accuracy").

    Args:
        train_features: ``(N, D)`` float32/float64; train_labels: ``(N,)`` integer, >= 2 classes.
        test_features: ``(M, D)``; test_labels: ``(M,)``, each one of the train classes.
        method: ``"svc"`` (LinearSVC's objective in torch, default), ``"fast"`` or ``"sklearn"``
            (the paper's protocol); see the module docstring for each protocol exactly.
        C: inverse regularization strength (LinearSVC default 1.0).
        tol, max_iter: solver stopping rule for svc/sklearn; ``None`` = 1e-4 / 1000 (LinearSVC's
            defaults); for ``"fast"`` ``None`` = FAST_TOL / FAST_MAX_ITER.

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
