"""The one-vs-rest L2-loss linear SVM solver behind the ``"svc"`` and ``"fast"`` probes (private).

Objective, per class k (``y_ik = +1`` if ``y_i = k`` else ``-1``, ``x~_i = [x_i, intercept_scaling]``)::

    min_w  0.5 ||w||^2 + C * sum_i max(0, 1 - y_ik w . x~_i)^2        (w includes the bias)

liblinear's primal problem, solved for all classes at once from ``w = 0``: preconditioned nonlinear
conjugate gradient while the active sets ``A = {i : y_ik w.x~_i < 1}`` still move a lot, then the
finite Newton method for L2-loss SVMs (Keerthi & DeCoste, JMLR 2005) with exact line searches on
the piecewise-quadratic objective. Stopping rule (liblinear's, read from an exact float32 gradient):
``||grad_k|| <= tol * max(min(n_pos, n_neg), 1) / N * ||grad_k(0)||``. See :func:`fit_ovr_l2svm`
and :func:`_fit_block` for the phases, :func:`_line_search` for the step.
"""
from __future__ import annotations

import contextlib
import math
import numbers
from dataclasses import dataclass, replace

import torch

from .validation import MetricInputError

# --- tuning constants (speed only: none changes the optimum or the stopping rule) -----------------------------
_HESSIAN_BLOCK_ELEMENTS = 1 << 26  # classes per block keep (K_block, P, P) Hessians <= 256 MiB in float32
_STANDARDIZE_ROWS = 8192  # sum of squares in row blocks: small reusable temporaries instead of one (N, D) square
_SWITCH_FRAC = 0.01  # CG -> Newton once fewer than 1% of the active flags flip in a step (active sets settled)
_MAX_PCG = 25  # CG -> Newton after at most this many CG steps, settled or not
_CG_SEARCH_SAMPLES = 8192  # CG line searches on a fixed random subset of this many samples (exact below 2x this)
_STALL_ITERS = 6  # Newton steps without a better gradient norm before a class counts as stalled (float32 noise)
_STALL_IMPROVEMENT = 0.999  # "better" = at least 0.1% below the best gradient norm so far
_GATHER_ELEMENTS = 1 << 24  # rows gathered at once for Hessian builds: <= 64 MiB in float32
_ROW_QUANTUM = 256  # Hessian row blocks are zero-padded to a multiple of this: oneDNN compiles a kernel per shape
_BINS = 64  # line search: histogram bins per refinement round
_MAX_ROUNDS = 12  # line search: refinement rounds (64^12 bins: far below float64 resolution of the window)
_DENSE_FRAC = 0.125  # line search: above this share of flips in the window, 1-D Newton on the full arrays is cheaper
_DENSE_MAX_STEPS = 40  # line search: safeguarded 1-D Newton steps at most


@dataclass(frozen=True)
class SolverSettings:
    """Stopping rule and precision choices of one solve (see :func:`fit_ovr_l2svm` for each)."""

    C: float = 1.0  # inverse regularization strength
    tol: float = 1e-4  # liblinear's relative gradient tolerance
    max_iter: int = 1000  # iterations (CG and Newton steps together)
    polish: bool = True  # finish float32-stalled classes in float64
    bf16_products: bool = True  # steering matmuls in bfloat16 products where the CPU has them


def check_solver_args(C, tol, max_iter) -> None:
    """Refuse solver settings that would silently give chance (``C=0``, ``max_iter=0``) or crash deep in the
    solver (``C<0``, NaN): ``C`` and ``tol`` finite and > 0 (``tol`` may be ``None``), ``max_iter`` an int >= 1
    (or ``None``)."""
    for name, value, optional in (("C", C, False), ("tol", tol, True)):
        if value is None and optional:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
            raise MetricInputError(f"{name} must be a finite number > 0, got {value!r}")
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral)
                                 or max_iter < 1):
        raise MetricInputError(f"max_iter must be an integer >= 1, got {max_iter!r}")


# --- standardization ----------------------------------------------------------------------------------------
def standardize(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(x - mean_train) / std_train`` for train and every other split, like ``StandardScaler``.

    ``train`` ``(N, D)``; population std (ddof=0); features whose std is (numerically) zero --
    at most ``10 * eps * |mean|`` in the input's precision, a rule *relative* to the feature's own
    magnitude like sklearn's ``_is_constant_feature`` -- keep scale 1 and become exactly 0 in
    ``train`` (not NaN, and not their rounding residue ``x - mean``, which grows with ``|mean|``;
    the other splits get ``x - mean``). There is no absolute floor: features of any magnitude standardize alike (a feature with
    std 1e-9 is a feature, not a constant). Columns whose squares overflow or lose precision to
    subnormals in the input dtype (|x| near 1e19 or below 1e-16 in float32) get their std from a
    power-of-two rescaled copy. Works in the input dtype: the column sums are GEMVs and the
    mean is refined by a second pass over the centred data, so a float32 mean is accurate to the
    data's own rounding even with offsets far above the spread (offset 1000, std 0.01 is tested);
    the variance is two-pass. Returns tensors in the input dtype.
    """
    out = torch.empty_like(train)
    mean, std = standardize_into(train, out)
    return (out, *((x - mean) / std for x in others))


def standardize_into(train: torch.Tensor, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Write ``train`` ``(N, D)`` standardized into ``out`` ``(N, D)`` (may be a strided view) and return its
    ``(mean, std)`` ``(D,)`` (see :func:`standardize`). One fresh ``(N, D)`` array is never allocated: on
    CPU its page faults cost as much as the arithmetic."""
    n = train.shape[0]
    ones = torch.ones(n, dtype=train.dtype, device=train.device)  # column sums as GEMVs (fast, no upcast copy)
    mean = (ones @ train) / n  # (D,) first estimate: its rounding error scales with |x|
    centred = torch.sub(train, mean, out=out)  # (N, D)
    shift = (ones @ centred) / n  # (D,) the rounding left in the mean, now relative to the spread
    sq = torch.zeros_like(mean)
    for start in range(0, n, _STANDARDIZE_ROWS):  # sum of squares in row blocks: small reusable temporaries
        block = centred[start:start + _STANDARDIZE_ROWS]  # (B, D)
        sq += ones[:block.shape[0]] @ (block * block)
    var = (sq / n - shift * shift).clamp(min=0)  # (D,) two-pass variance
    mean = mean + shift
    std = var.sqrt()
    finfo = torch.finfo(train.dtype)
    # Squares that overflow to inf (|x| ~ 1e19 in float32) or fall into subnormals (|x| < ~1e-16) make the
    # variance wrong, and a wrong std here silently turns every feature into "constant" (chance accuracy).
    unsafe = (~torch.isfinite(var) | (var < finfo.tiny / finfo.eps)).nonzero().flatten()  # (U,) columns
    if unsafe.numel():
        std[unsafe] = _rescaled_std(centred[:, unsafe], shift[unsafe])
    # Relative rule (sklearn's _is_constant_feature): only a std within rounding of the mean is "constant";
    # an absolute floor would declare every small-magnitude feature constant.
    tiny = 10 * finfo.eps * mean.abs()
    constant = std <= tiny  # (D,)
    std = torch.where(constant, torch.ones_like(std), std)
    centred.sub_(shift).div_(std)
    if bool(constant.any()):
        # A constant feature becomes 0. What x - mean leaves of it is rounding, up to 10 eps |mean| in size: at
        # |x| ~ 1e26 in float32 that is ~1e20 per entry, a Gram matrix no precision can factor.
        centred[:, constant] = 0
    return mean, std


def _rescaled_std(centred: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Population std ``(U,)`` of the columns of ``centred`` ``(N, U)`` (minus their residual mean ``shift``),
    computed on a copy divided by a power of two per column, so the squares neither overflow nor underflow."""
    amax = centred.abs().amax(dim=0)  # (U,)
    _, exp = torch.frexp(torch.where(amax > 0, amax, torch.ones_like(amax)))  # amax = m * 2^exp, m in [0.5, 1)
    scale = torch.ldexp(torch.ones_like(amax), exp)  # (U,) power of two: dividing by it is exact
    z, zs = centred / scale, shift / scale  # (N, U), (U,) all |z| <= 1
    var = ((z * z).mean(dim=0) - zs * zs).clamp(min=0)
    return var.sqrt() * scale


# --- scratch buffers and the exact line search -----------------------------------------------------------
class _Workspace:
    """Reusable scratch arrays by name: ``work(name, shape, dtype)`` is a view of a buffer kept across calls.

    A fresh large ``(K, N)`` temporary per operation costs about as much in page faults as the
    operation itself (the C allocator hands large blocks back to the OS on free), so the solver's
    hot loop writes into these instead. A name's contents are valid until its next request.
    """

    def __init__(self, device):
        self.device, self.bufs = device, {}

    def __call__(self, name, shape, dtype):
        size = 1
        for s in shape:
            size *= s
        buf = self.bufs.get(name)
        if buf is None or buf.numel() < size or buf.dtype != dtype:
            buf = self.bufs[name] = torch.empty(size, dtype=dtype, device=self.device)
        return buf[:size].view(shape)


def _rowdot(a: torch.Tensor, b: torch.Tensor, work: _Workspace | None = None) -> torch.Tensor:
    """``(a * b).sum(dim=1)`` ``(K,)`` for ``(K, N)`` arrays, the product written into ``work``'s ``"dot"`` buffer
    (``linalg.vecdot`` allocates that temporary anew every call)."""
    out = None if work is None else work("dot", a.shape, torch.promote_types(a.dtype, b.dtype))
    return torch.mul(a, b, out=out).sum(dim=1)


def _line_search(
    m: torch.Tensor, b: torch.Tensor, wd: torch.Tensor, dd: torch.Tensor, slope0: torch.Tensor, C: float, *,
    act0: torch.Tensor, curv0: torch.Tensor | None = None, dense_frac: float = _DENSE_FRAC,
    work: _Workspace | None = None,
) -> torch.Tensor:  # 10 parameters: the (K, N) margins, the three (K,) scalars of the 1-D problem, C, and options
    """Exact step ``t >= 0`` ``(K,)`` (float64) minimizing ``phi_k(t) = f_k(w_k + t d_k)`` for every class.

    In margins ``m = y * (X~ w)`` and ``b = y * (X~ d)`` ``(K, N)`` (one class per row; ``wd = w.d``,
    ``dd = d.d``, ``slope0 = grad f(w).d = phi'(0)`` ``(K,)``; ``act0 = [m < 1]`` as 0/1 floats; optionally
    ``curv0 = phi''(0+)``; ``work`` scratch arrays, see :class:`_Workspace`), point i is active at t iff
    ``m_i + t b_i < 1`` and::

        phi'(t) = wd + t dd + 2C sum_{i active at t} b_i (m_i - 1 + t b_i)

    is continuous, increasing and piecewise linear, with a kink (slope change ``+-2C b_i^2``) at
    each breakpoint ``t_i = (1 - m_i) / b_i``. A pass over the ``(K, N)`` arrays finds the
    breakpoints inside a window ``(0, hi]`` that holds the root (``hi`` = 4x the quadratic guess,
    grown 4x while ``phi'(hi) < 0``); then only those candidates are touched: each round
    histograms them into ``_BINS`` equal sub-intervals per class, evaluates ``phi'`` exactly at the
    bin edges (``sum_{t_j < e} delta_j (e - t_j)`` is a cumulative sum), and keeps the one bin
    where ``phi'`` changes sign. With no breakpoint left inside, ``phi'`` is linear there and the
    root is exact. When more than ``dense_frac`` of the points flip inside the window (the first
    steps from w = 0), a safeguarded 1-D Newton iteration on the full arrays is cheaper and is
    used instead (exact once the active set stops changing).
    """
    k, n = m.shape
    f64 = torch.float64
    work = _Workspace(m.device) if work is None else work
    wd, dd, slope0 = wd.to(f64), dd.to(f64), slope0.to(f64)
    if curv0 is None:  # phi''(0+) = d^T H d; Newton passes it from its Hessians instead of this (K, N) pass
        curv0 = dd + 2 * C * _rowdot(b, torch.mul(b, act0, out=work("tmp", m.shape, m.dtype)), work).to(f64)  # (K,)
    # masks are 0/1 floats: float passes are faster than bool ones on CPU (and count by a plain sum)
    s0 = curv0.to(f64)
    descent = (slope0 < 0) & (s0 > 0)
    t_out = torch.zeros(k, dtype=f64, device=m.device)
    if not bool(descent.any()):
        return t_out
    hi = torch.where(descent, 4 * (-slope0 / s0.clamp(min=torch.finfo(f64).tiny)), torch.zeros_like(s0))  # (K,)
    cols = descent.nonzero().flatten()
    for _grow in range(64):
        sel = slice(None) if cols.numel() == k else cols  # all classes: views, no copies
        mc, bc, a0 = m[sel], b[sel], act0[sel]  # (T, N)
        hi_c = hi[cols]  # (T,)
        # (T, N) status change over (0, hi]: [m + hi b < 1] - act0 = +1 enters, -1 leaves the active set, 0 stays
        flip = torch.addcmul(mc, bc, hi_c.to(m.dtype).unsqueeze(1), out=work("tmp", mc.shape, m.dtype))
        flip.neg_().add_(1).clamp_(min=0).sign_().sub_(a0)
        if torch.abs(flip, out=work("dot", flip.shape, flip.dtype)).sum().item() > dense_frac * flip.numel():
            t_out[cols] = _dense_root(mc, bc, wd[cols], dd[cols], slope0[cols], s0[cols], C, work=work)
            break
        t_cnt = cols.numel()
        flat = flip.view(-1).nonzero().squeeze(1)  # (M,) candidates, flat (T * N) positions
        jj = flat // n  # (M,) their class (row)
        mv, bv = mc.reshape(-1)[flat].to(f64), bc.reshape(-1)[flat].to(f64)  # (M,)
        tj = (1 - mv) / bv  # (M,) breakpoints
        delta = flip.view(-1)[flat].to(f64) * (2 * C) * bv * bv  # (M,) slope change: + enters, - leaves
        kink = torch.zeros(t_cnt, dtype=f64, device=m.device).index_add_(0, jj, delta * (hi_c[jj] - tj))  # (T,)
        inside = slope0[cols] + s0[cols] * hi_c + kink >= 0  # phi'(hi) >= 0: the window holds the root
        if bool(inside.any()):
            pos = torch.full((t_cnt,), -1, dtype=torch.long, device=m.device)
            pos[inside] = torch.arange(int(inside.sum()), device=m.device)
            keep = inside[jj]
            t_out[cols[inside]] = _refine_root(
                torch.zeros_like(hi_c[inside]), hi_c[inside], slope0[cols][inside], s0[cols][inside],
                tj[keep], delta[keep], pos[jj[keep]])
        if bool(inside.all()):
            break
        cols = cols[~inside]  # the minimum lies beyond hi for these classes
        hi[cols] = 4 * hi[cols]
    return t_out


def _dense_root(m, b, wd, dd, slope0, s0, C, work=None):
    """Root of ``phi'`` (see :func:`_line_search`) by safeguarded 1-D Newton on the full ``(T, N)`` arrays.

    ``phi''(t) = dd + 2C sum_{active(t)} b^2`` is the exact slope of the current linear piece, so a
    Newton step is exact once the active set stops changing; a bracket [lo, hi] with bisection
    keeps it safe. Stops once ``|phi'(t)| <= rtol |phi'(0)|``.
    """
    f64 = torch.float64
    lo = torch.zeros_like(slope0)
    hi = torch.full_like(slope0, float("inf"))
    t = -slope0 / s0  # the minimizer of the quadratic piece at t = 0
    rtol = max(1e-9, 1e3 * torch.finfo(m.dtype).eps)
    work = _Workspace(m.device) if work is None else work
    om = torch.neg(m, out=work("om", m.shape, m.dtype)).add_(1)  # (T, N) 1 - m
    bb = torch.mul(b, b, out=work("bb", m.shape, m.dtype))  # (T, N)
    for _ in range(_DENSE_MAX_STEPS):
        hu = torch.addcmul(om, b, -t.to(m.dtype).unsqueeze(1), out=work("tmp", m.shape, m.dtype)).clamp_(min=0)  # (T, N)
        dphi = wd + t * dd - 2 * C * _rowdot(b, hu, work).to(f64)  # (T,) sum_active b (m + t b - 1) = -sum b hu
        done = dphi.abs() <= rtol * slope0.abs()
        if bool(done.all()):
            break
        curv = _rowdot(bb, hu.sign_(), work).to(f64)  # (T,) sum_active b^2
        lo = torch.where(dphi < 0, t, lo)
        hi = torch.where(dphi > 0, t, hi)
        t_new = t - dphi / (dd + 2 * C * curv)  # exact if the active set does not change on the way
        inside = (t_new > lo) & (t_new < hi)
        fallback = torch.where(torch.isinf(hi), 2 * t, 0.5 * (lo + hi))
        t = torch.where(done, t, torch.where(inside, t_new, fallback))
    return t


def _refine_root(lo, hi, d_lo, s_lo, tj, delta, cls):
    """Root of ``phi'(t) = d_lo + s_lo (t - lo) + sum_{j of the class, t_j < t} delta_j (t - t_j)`` on ``[lo, hi]``.

    ``lo, hi, d_lo, s_lo`` ``(T,)`` (``phi'(lo) < 0 <= phi'(hi)``); ``tj, delta, cls`` ``(M,)`` the
    breakpoints inside, their slope changes and class. Bisects by ``_BINS``-way histograms.
    """
    t_cnt, bins = lo.numel(), _BINS
    f64 = lo.dtype
    steps = torch.arange(1, bins + 1, dtype=f64, device=lo.device)  # (B,)
    for _ in range(_MAX_ROUNDS):
        if tj.numel() == 0:
            break
        width = (hi - lo) / bins  # (T,)
        pos = ((tj - lo[cls]) / width[cls]).floor().clamp(0, bins - 1).long()  # (M,) bin of each breakpoint
        flat = cls * bins + pos  # (M,)
        sum_d = torch.zeros(t_cnt * bins, dtype=f64, device=lo.device).index_add_(0, flat, delta).view(t_cnt, bins)
        sum_dt = torch.zeros(t_cnt * bins, dtype=f64, device=lo.device).index_add_(0, flat, delta * tj).view(t_cnt, bins)
        edges = lo.unsqueeze(1) + width.unsqueeze(1) * steps  # (T, B) right edges e_1..e_B
        # phi'(e_g) = d_lo + s_lo (e_g - lo) + e_g * sum_{bins < g} delta - sum_{bins < g} delta t
        c_d, c_dt = sum_d.cumsum(dim=1), sum_dt.cumsum(dim=1)  # (T, B) through bin g-1 = breakpoints below e_g
        dphi = d_lo.unsqueeze(1) + s_lo.unsqueeze(1) * (edges - lo.unsqueeze(1)) + edges * c_d - c_dt  # (T, B)
        ok = dphi >= 0
        g = torch.where(ok.any(dim=1), ok.to(torch.int8).argmax(dim=1), torch.full_like(lo, bins - 1, dtype=torch.long))  # (T,)
        left = torch.where(g > 0, edges.gather(1, (g - 1).clamp(min=0).unsqueeze(1)).squeeze(1), lo)  # (T,)
        # phi' and slope at the new left end: the breakpoints of the bins below g have switched
        below_d = torch.where(g > 0, c_d.gather(1, (g - 1).clamp(min=0).unsqueeze(1)).squeeze(1), torch.zeros_like(lo))
        below_dt = torch.where(g > 0, c_dt.gather(1, (g - 1).clamp(min=0).unsqueeze(1)).squeeze(1), torch.zeros_like(lo))
        d_new = d_lo + s_lo * (left - lo) + left * below_d - below_dt
        hi = edges.gather(1, g.unsqueeze(1)).squeeze(1)
        s_lo = s_lo + below_d
        lo, d_lo = left, d_new
        keep = pos == g[cls]
        tj, delta, cls = tj[keep], delta[keep], cls[keep]
    # no breakpoint left inside [lo, hi] (or only ties): phi' is linear there
    t = lo - d_lo / s_lo.clamp(min=torch.finfo(f64).tiny)
    return torch.minimum(torch.maximum(t, lo), hi)


def _sampled_step(m, b, wd, dd, C, sub, work):
    """Step ``(T,)`` of a conjugate-gradient iteration: the exact minimizer along ``d`` of the objective with its
    loss sum estimated on the samples ``sub`` ``(S,)`` (weight ``C N / S``), or ``None`` when the subset does not
    see ``d`` as a descent direction for some class (then the caller searches on all samples).

    The CG phase only steers towards the Newton phase (which searches exactly), so an estimated step is enough;
    it costs ``S / N`` of an exact search.
    """
    n = m.shape[1]
    c_s = C * n / sub.numel()
    m_s, b_s = m.index_select(1, sub), b.index_select(1, sub)  # (T, S)
    h_s = (1 - m_s).clamp_(min=0)  # (T, S)
    slope_s = wd.to(torch.float64) - 2 * c_s * _rowdot(b_s, h_s).to(torch.float64)  # (T,) phi_S'(0)
    if not bool((slope_s < 0).all()):
        return None
    return _line_search(m_s, b_s, wd, dd, slope_s, c_s, act0=h_s.sign_(), work=work)


# --- the solver ---------------------------------------------------------------------------------------------
def fit_ovr_l2svm(
    x: torch.Tensor, y_idx: torch.Tensor, n_classes: int, *, C: float = 1.0, intercept_scaling: float = 1.0,
    tol: float = 1e-4, max_iter: int = 1000, dtype: torch.dtype = torch.float64, polish: bool = True,
    bf16_products: bool = True,
) -> tuple[torch.Tensor, dict]:  # 10 parameters: LinearSVC's keywords plus the precision switches, all keyword-only
    """One-vs-rest L2-regularized squared-hinge linear SVMs (liblinear's primal objective), all classes at once.

    Args:
        x: ``(N, D)`` features (already standardized, if wanted); y_idx: ``(N,)`` class indices
        in ``0..n_classes-1``. ``C``, ``intercept_scaling``, ``tol``, ``max_iter`` as in
        liblinear / ``LinearSVC``; ``dtype`` the precision of the ``(N, *)`` arrays, matmuls and
        Newton Hessians (the shared preconditioner and the line-search sums are float64; a Hessian
        that float32 cannot factor is factored in float64).
        polish: with a float32 ``dtype``, classes whose float32 iterations stall before the
            stopping rule is met (rounding noise above the tolerance) are finished in float64 from
            where they stopped.
        bf16_products: with float32 on a CPU with bf16 matmul support, the matmuls that only steer
            the iterations (the conjugate-gradient phase, the Newton Hessians) use bfloat16 products
            with float32 accumulation (:class:`_steering_matmuls`); the margins and gradients that
            the stopping rule reads are recomputed and kept in float32. ``False`` = float32 throughout.
        Starts from w = 0 like liblinear.

    Returns:
        ``(W, info)``: ``W`` ``(D + 1, K)`` in ``dtype``, last row the bias weights (multiply by
        ``intercept_scaling`` for the intercept); ``info`` with ``iterations`` (max over classes),
        ``converged`` (all classes met the stopping rule) and ``polished`` (classes finished in float64).
    """
    check_solver_args(C, tol, max_iter)
    xt_pad = padded_design(x.shape[0], x.shape[1], intercept_scaling, dtype, x.device)
    xt_pad[:-1, :-1] = x
    cfg = SolverSettings(C=C, tol=tol, max_iter=max_iter, polish=polish, bf16_products=bf16_products)
    return fit_padded(xt_pad, y_idx, n_classes, cfg)


def padded_design(n, d, intercept_scaling, dtype, device):
    """``(N + 1, D + 1)`` buffer for ``X~``: column D is ``intercept_scaling``, row N is zero (Hessian padding);
    the caller writes the features into ``[:N, :D]``."""
    xt_pad = torch.empty(n + 1, d + 1, dtype=dtype, device=device)
    xt_pad[:n, -1] = intercept_scaling
    xt_pad[n] = 0
    return xt_pad


def fit_padded(xt_pad: torch.Tensor, y_idx: torch.Tensor, n_classes: int, cfg: SolverSettings):
    """:func:`fit_ovr_l2svm` on ``X~`` already in its padded buffer (see :func:`padded_design`), in its dtype."""
    dtype = xt_pad.dtype
    n, p = xt_pad.shape[0] - 1, xt_pad.shape[1]
    xt = xt_pad[:n]  # (N, P) the augmented features X~
    steer = _steering_matmuls(xt.device, dtype, cfg.bf16_products)
    with steer:
        gram = xt.T @ xt  # (P, P) full Gram matrix, shared by all classes (preconditioner, Hessian rebuilds)
    block = max(1, _HESSIAN_BLOCK_ELEMENTS // (p * p))
    w_all = torch.zeros(n_classes, p, dtype=dtype, device=xt.device)  # (K, P)
    iters, converged, polished = 0, True, 0
    for k0 in range(0, n_classes, block):
        cls = torch.arange(k0, min(n_classes, k0 + block), device=xt.device)
        w, info = _fit_block(xt_pad, gram, y_idx, cls, cfg, steer)
        if cfg.polish and info["stalled"].numel() and dtype != torch.float64:
            polished += info["stalled"].numel()
            _polish(xt_pad, y_idx, cls, cfg, w, info)
        w_all[cls] = w
        iters = max(iters, info["iterations"])
        converged &= info["converged"]
    return w_all.T.contiguous(), {"iterations": iters, "converged": converged, "polished": polished}


def _polish(xt_pad, y_idx, cls, cfg, w, info):
    """Finish the classes ``info["stalled"]`` in float64 from where float32 stopped (float32 could not get below
    the tolerance); ``w`` ``(T, P)`` and ``info`` are updated in place."""
    stalled = info["stalled"]
    n = xt_pad.shape[0] - 1
    xt64 = xt_pad.double()
    rest = replace(cfg, max_iter=cfg.max_iter - info["iterations"])
    w64, info64 = _fit_block(xt64, xt64[:n].T @ xt64[:n], y_idx, cls[stalled], rest, contextlib.nullcontext(),
                             w0=w[stalled].double())
    w[stalled] = w64.to(w.dtype)
    info["converged"] = info64["converged"] and bool(info["converged_mask"].sum() + stalled.numel() == cls.numel())
    info["iterations"] += info64["iterations"]


class _Open:
    """The arrays of the classes still being solved, first dim = class (one row each), and the results so far.

    ``keep(mask)`` drops the finished classes from every per-class array (``None`` = not computed yet).
    """

    _PER_CLASS = ("open_", "m", "y", "w", "act", "grad", "eps", "g0", "best", "stall",
                  "d_prev", "g_prev", "pg_prev", "s_mat", "act_prev")

    def __init__(self, **arrays):
        for name in self._PER_CLASS:
            setattr(self, name, None)
        self.__dict__.update(arrays)

    def keep(self, mask: torch.Tensor) -> None:
        for name in self._PER_CLASS:
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, t[mask])


def _start_block(xt: torch.Tensor, y_idx: torch.Tensor, cls: torch.Tensor, cfg: SolverSettings, w0) -> _Open:
    """Targets, tolerances and the starting point (``w0``, or 0 like liblinear) of the classes ``cls`` ``(T,)``."""
    n, p = xt.shape
    k = cls.numel()
    dtype, device = xt.dtype, xt.device
    slot = torch.full((int(torch.maximum(y_idx.max(), cls.max())) + 1,), -1, dtype=torch.long, device=device)
    slot[cls] = torch.arange(k, device=device)  # class index -> its row here, -1 if not solved here
    row = slot[y_idx]  # (N,)
    mine = (row >= 0).nonzero().squeeze(1)  # (M,) samples whose class is in cls
    y = torch.full((k, n), -1.0, dtype=dtype, device=device)  # (T, N) +-1 targets
    y[row[mine], mine] = 1.0
    n_pos = (y > 0).sum(dim=1)  # (T,)
    eps = cfg.tol * torch.clamp(torch.minimum(n_pos, n - n_pos), min=1).to(torch.float64) / n  # (T,) liblinear's
    # ||grad f(0)|| = ||2C X~^T (-y)||: liblinear's reference scale (the first gradient when starting from 0)
    g0 = None if w0 is None else (2 * cfg.C * (y @ xt)).norm(dim=1).to(torch.float64)  # (T,)
    w = torch.zeros(k, p, dtype=dtype, device=device) if w0 is None else w0.to(dtype).clone()  # (T, P)
    m = torch.zeros(k, n, dtype=dtype, device=device) if w0 is None else y * (w @ xt.T)  # (T, N) margins
    return _Open(open_=torch.arange(k, device=device), m=m, y=y, w=w, eps=eps, g0=g0, w_out=w.clone(),
                 done=torch.zeros(k, dtype=torch.bool, device=device),
                 stalled=torch.zeros(k, dtype=torch.bool, device=device))


def _cg_subset(n: int, device) -> torch.Tensor | None:
    """The fixed random samples ``(S,)`` the CG phase's line searches run on, or ``None`` (exact) for small N."""
    if n <= 2 * _CG_SEARCH_SAMPLES:
        return None
    g_sub = torch.Generator().manual_seed(n)
    return torch.randperm(n, generator=g_sub)[:_CG_SEARCH_SAMPLES].sort().values.to(device)  # (S,)


def _fit_block(xt_pad, gram, y_idx, cls, cfg: SolverSettings, steer, w0=None):
    """Solve the one-vs-rest squared-hinge problems for the classes ``cls`` (see :func:`fit_ovr_l2svm`).

    Works class-major: weights ``w`` ``(T, P)`` and margins ``m = y * (w X~^T)`` ``(T, N)`` of the
    still-open classes, one class per row; converged classes are stored and drop out of every
    later matmul. Two phases, both with the exact line search of :func:`_line_search` (in the CG
    phase on a sample subset for large N, :func:`_sampled_step`):

    1. Preconditioned nonlinear conjugate gradient (Polak-Ribiere+), preconditioner the Hessian
       at w = 0, ``M = I + 2C X~^T X~``, shared by every class (one float64 Cholesky). Every
       generalized Hessian satisfies ``H_k <= M``, and the first step from w = 0 is exactly the
       ridge solution. Each iteration costs two (T, P) x (P, N)-sized matmuls, under ``steer``
       (bf16 products, see :class:`_steering_matmuls`). It runs while the active sets still move
       a lot (more than ``_SWITCH_FRAC`` of the T x N flags flipped in the last step, at most
       ``_MAX_PCG`` steps). A class whose steered gradient meets the stopping rule also starts the
       Newton phase, whose exact gradient confirms it.
    2. Finite Newton (:func:`_newton_direction`): margins recomputed exactly, gradients exact,
       generalized Hessians ``I + 2C X~_A^T X~_A`` (under ``steer``) built from the (by then small)
       active sets and updated by the rows that change, batched Cholesky. A class whose gradient
       norm has not improved for ``_STALL_ITERS`` Newton steps is stalled (rounding noise) and
       returned in ``info["stalled"]`` unconverged.
    With ``w0`` the solve starts in the Newton phase from ``w0`` ``(T, P)`` (the float64 polish).
    """
    xt = xt_pad[:-1]  # (N, P) the augmented features; xt_pad's last row is zero (Hessian padding)
    x_t = xt.T  # (P, N) view: BLAS reads it transposed, as fast as a contiguous copy
    dtype, f64 = xt.dtype, torch.float64
    s = _start_block(xt, y_idx, cls, cfg, w0)
    chol_m = _preconditioner(xt, gram, cfg.C)  # (P, P) float64 Cholesky factor of M = H(w=0)
    sub = _cg_subset(xt.shape[0], xt.device)
    work = _Workspace(xt.device)
    phase_newton, switch, act_cg, it = w0 is not None, False, None, 0
    while s.open_.numel():
        if switch:  # enter the Newton phase
            phase_newton, switch = True, False
            torch.mm(s.w, x_t, out=s.m).mul_(s.y)  # exact margins again: the CG phase moved them with bf16 products
        # (T, N) hinge residuals max(0, 1 - y w.x~), > 0 exactly on the active set; then times the targets
        hy = torch.neg(s.m, out=work("hy", s.m.shape, dtype)).add_(1).clamp_(min=0)
        # (T, N) active sets [m < 1] as 0/1 floats; two buffers in turn: the previous step's set is still read
        s.act = torch.sign(hy, out=work(f"act{it % 2}", s.m.shape, dtype))
        if not phase_newton and act_cg is not None and _cg_settled(s.act, act_cg, it, work):
            switch = True
            continue
        hy.mul_(s.y)
        steered = steer if not phase_newton else contextlib.nullcontext()  # the CG phase only steers: bf16
        with steered:
            s.grad = s.w - 2 * cfg.C * (hy @ xt)  # (T, P) gradient w + 2C [active (z - y)] X~ of each class
        gnorm = s.grad.norm(dim=1).to(f64)  # (T,)
        if s.g0 is None:
            s.g0 = gnorm.clone()
        fin = gnorm <= s.eps * s.g0
        if steered is steer and getattr(steer, "active", False) and bool(fin.any()):
            switch = True  # a steered gradient says "converged": confirm with exact margins and gradients
            continue
        stuck = _stalling(s, gnorm, fin) if phase_newton else torch.zeros_like(fin)
        if _retire(s, fin, stuck, it >= cfg.max_iter):
            break
        it += 1
        if phase_newton:
            d, curv0 = _newton_direction(s, xt_pad, gram, cfg.C, steer, work)
        else:
            d, curv0, act_cg = _cg_direction(s, chol_m), None, s.act
        _take_step(s, d, x_t, cfg.C, steered, curv0, None if phase_newton else sub, work)
    return s.w_out, {"iterations": it, "converged": bool(s.done.all()), "converged_mask": s.done,
                     "stalled": s.stalled.nonzero().flatten()}


def _preconditioner(xt: torch.Tensor, gram: torch.Tensor, C: float) -> torch.Tensor:
    """Cholesky factor ``(P, P)`` (float64) of the shared preconditioner ``M = I + 2C X~^T X~`` (``xt`` ``(N, P)``).

    Factored in float64 (collinear features make ``M`` ill-conditioned) from ``gram``, the Gram matrix in the
    working precision. ``M >= I`` in exact arithmetic; should rounding (float32 sums, bf16 products) have left
    ``gram`` with an eigenvalue below ``-1 / 2C``, the Gram matrix is recomputed exactly in float64 first.
    """
    f64 = torch.float64
    eye = torch.eye(xt.shape[1], dtype=f64, device=xt.device)
    chol, info = torch.linalg.cholesky_ex(eye + 2 * C * gram.to(f64))
    if int(info) != 0:
        x64 = xt.to(f64)
        chol = torch.linalg.cholesky(eye + 2 * C * (x64.T @ x64))
    return chol


def _cg_settled(act, act_cg, it, work) -> bool:
    """Whether the CG phase hands over to Newton: few active flags flipped since the last CG step, or enough steps."""
    flips = torch.sub(act, act_cg, out=work("tmp", act.shape, act.dtype))  # (T, N)
    moved = flips.abs_().sum().item() / act.numel()  # fraction of active flags flipped
    return moved < _SWITCH_FRAC or it >= _MAX_PCG


def _stalling(s: _Open, gnorm: torch.Tensor, fin: torch.Tensor) -> torch.Tensor:
    """Newton phase: ``(T,)`` classes whose gradient norm has not improved for ``_STALL_ITERS`` steps (unconverged)."""
    if s.best is None:
        s.best, s.stall = gnorm.clone(), torch.zeros_like(gnorm, dtype=torch.long)
    improved = gnorm < _STALL_IMPROVEMENT * s.best
    s.best = torch.where(improved, gnorm, s.best)
    s.stall = torch.where(improved, 0, s.stall + 1)
    return (s.stall >= _STALL_ITERS) & ~fin


def _retire(s: _Open, fin: torch.Tensor, stuck: torch.Tensor, out_of_iterations: bool) -> bool:
    """Store the converged (``fin``), stalled (``stuck``) or -- out of iterations -- all classes and drop them from
    ``s``; ``True`` when none is left."""
    fin_all = torch.ones_like(fin) if out_of_iterations else fin | stuck
    if not bool(fin_all.any()):
        return False
    s.w_out[s.open_[fin_all]] = s.w[fin_all]
    s.done[s.open_[fin]] = True
    s.stalled[s.open_[stuck & ~fin]] = True
    keep = ~fin_all
    if not bool(keep.any()):
        return True
    s.keep(keep)
    return False


def _cg_direction(s: _Open, chol_m: torch.Tensor) -> torch.Tensor:
    """Preconditioned Polak-Ribiere+ direction ``(T, P)``; restarts at ``-M^{-1} g`` when it is not a descent one."""
    pg = torch.cholesky_solve(s.grad.T.to(torch.float64), chol_m).T.to(s.grad.dtype)  # (T, P) M^{-1} g
    d = -pg
    if s.d_prev is not None:
        beta = (((s.grad - s.g_prev) * pg).sum(dim=1) / (s.g_prev * s.pg_prev).sum(dim=1)).clamp(min=0)  # (T,) PR+
        d = d + beta.unsqueeze(1) * s.d_prev
        bad = (s.grad * d).sum(dim=1) >= 0  # not a descent direction: restart
        d = torch.where(bad.unsqueeze(1), -pg, d)
    s.d_prev, s.g_prev, s.pg_prev = d, s.grad, pg
    return d


def _newton_direction(s: _Open, xt_pad, gram, C, steer, work) -> tuple[torch.Tensor, torch.Tensor]:
    """Finite-Newton step ``d = -H^{-1} g`` ``(T, P)`` and ``d^T H d`` ``(T,)`` (the line search's ``phi''(0+)``)."""
    dtype, p = s.w.dtype, s.w.shape[1]
    with steer:
        if s.s_mat is None:
            s.s_mat = _active_hessians(xt_pad, s.act, work)
        else:
            _update_hessians(s.s_mat, xt_pad, gram, s.act, s.act_prev, work)
    s.act_prev = s.act
    hess = torch.eye(p, dtype=dtype, device=s.w.device) + 2 * C * s.s_mat  # (T, P, P) generalized Hessians, >= I
    chol, info = torch.linalg.cholesky_ex(hess)
    if bool((info != 0).any()):  # too ill-conditioned for float32: factor in float64
        chol, info = torch.linalg.cholesky_ex(hess.to(torch.float64))
        if bool((info != 0).any()):
            chol = _rebuilt_hessians(s, xt_pad, hess, C, info != 0, chol)
    d = -torch.cholesky_solve(s.grad.to(chol.dtype).unsqueeze(2), chol).squeeze(2).to(dtype)  # (T, P) steps
    return d, torch.einsum("tp,tpq,tq->t", d, hess, d)  # (T,) d^T H d


def _rebuilt_hessians(s: _Open, xt_pad, hess, C, bad, chol):
    """Float64 Cholesky factors ``(T, P, P)``: ``chol`` with the classes ``bad`` ``(T,)`` refactored from exact
    Hessians. ``S_k = X~_A^T X~_A`` is positive semi-definite, but the one kept in the working precision (bf16
    products, rows added and removed step by step) can drift below ``-I / 2C``, which no precision can factor;
    those classes get ``S_k`` recomputed in float64 from their active rows (``s.s_mat`` and ``hess`` updated)."""
    f64, p = torch.float64, hess.shape[1]
    xt64 = xt_pad[:-1].to(f64)  # (N, P)
    eye = torch.eye(p, dtype=f64, device=hess.device)
    for j in bad.nonzero().flatten().tolist():
        rows = xt64[s.act[j] > 0]  # (A_j, P) the class's active rows
        s64 = rows.T @ rows
        s.s_mat[j] = s64.to(s.s_mat.dtype)
        hess[j] = (eye + 2 * C * s64).to(hess.dtype)
        chol[j] = torch.linalg.cholesky(eye + 2 * C * s64)
    return chol


def _take_step(s: _Open, d, x_t, C, steered, curv0, sub, work) -> None:
    """Move every open class along ``d`` ``(T, P)`` by its exact line-search step: ``steered`` the matmul precision
    context, ``curv0`` Newton's ``phi''(0+)`` (``None`` in the CG phase), ``sub`` the CG sample subset or ``None``."""
    with steered:
        b = torch.mm(d, x_t, out=work("b", s.m.shape, s.m.dtype)).mul_(s.y)  # (T, N) margin change per unit step
    wd, dd = (s.w * d).sum(dim=1), (d * d).sum(dim=1)  # (T,)
    t = None
    if sub is not None:
        t = _sampled_step(s.m, b, wd, dd, C, sub, work)
    if t is None:
        t = _line_search(s.m, b, wd, dd, (s.grad * d).sum(dim=1), C, act0=s.act, curv0=curv0, work=work)  # (T,)
    t = t.to(s.m.dtype)
    s.w.add_(d * t.unsqueeze(1))
    s.m.addcmul_(b, t.unsqueeze(1))


# --- matmul precision and Newton Hessians -----------------------------------------------------------------
class _steering_matmuls(contextlib.ContextDecorator):
    """Within: float32 CPU matmuls take bfloat16 products with float32 accumulation and outputs.

    oneDNN's ``torch.backends.mkldnn.matmul.fp32_precision = "bf16"`` (AMX / AVX512-BF16): faster
    GEMMs at bfloat16's ~3e-3 relative error (figures: docs/PERFORMANCE.md). Used only for matmuls whose errors the solver absorbs:
    conjugate-gradient directions and their line searches, and Newton Hessians (a slightly
    different positive-definite matrix still gives a descent direction; the exact line search and
    the float32 gradient decide progress and the stopping rule). A no-op on CUDA, for float64, on
    CPUs without bf16 matmuls, or when ``enabled`` is false. Restores the previous setting (a
    process-wide flag: do not run other float32 CPU matmuls in other threads meanwhile).
    """

    def __init__(self, device: torch.device, dtype: torch.dtype, enabled: bool = True):
        self.active = (enabled and device.type == "cpu" and dtype == torch.float32 and torch.backends.mkldnn.is_available()
                       and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        self.saved = []

    def __enter__(self):
        if self.active:
            self.saved.append(torch.backends.mkldnn.matmul.fp32_precision)
            torch.backends.mkldnn.matmul.fp32_precision = "bf16"
        return self

    def __exit__(self, *exc):
        if self.active:
            torch.backends.mkldnn.matmul.fp32_precision = self.saved.pop()
        return False


def _class_rows(xt_pad, mask, signs=None, work=None):
    """Yield ``(j, rows)``: for each class j (row of ``mask`` ``(T, N)``) with a selected row, the rows of
    ``xt_pad`` ``(N + 1, P)`` (last row zero) it selects, zero-padded to a multiple of ``_ROW_QUANTUM`` rows
    (so bf16 matmuls reuse a few compiled shapes) and gathered a few classes at a time (at most
    ``_GATHER_ELEMENTS`` elements). ``mask`` selects its nonzero entries. With ``signs`` ``(T, N)``, yields
    ``(j, rows, sign)`` with ``sign`` ``(rows, 1)`` the selected entries of ``signs`` (0 on padding)."""
    n, p = xt_pad.shape[0] - 1, xt_pad.shape[1]
    where = mask.nonzero()  # (M, 2) (class, row), grouped by class in order
    counts = torch.bincount(where[:, 0], minlength=mask.shape[0])  # (T,)
    padded = (counts + _ROW_QUANTUM - 1) // _ROW_QUANTUM * _ROW_QUANTUM  # (T,)
    p_start = torch.cumsum(padded, 0) - padded  # (T,)
    c_start = torch.cumsum(counts, 0) - counts  # (T,)
    pos = p_start[where[:, 0]] + torch.arange(where.shape[0], device=mask.device) - c_start[where[:, 0]]  # (M,)
    idx = torch.full((int(padded.sum()),), n, dtype=torch.long, device=mask.device)  # n: the zero row
    idx[pos] = where[:, 1]
    sgn = None
    if signs is not None:
        sgn = torch.zeros(idx.numel(), 1, dtype=xt_pad.dtype, device=mask.device)
        sgn[pos, 0] = signs[where[:, 0], where[:, 1]].to(xt_pad.dtype)
    sizes = padded.tolist()
    j0, start = 0, 0
    while j0 < len(sizes):
        j1, size = j0, 0
        while j1 < len(sizes) and (j1 == j0 or (size + sizes[j1]) * p <= _GATHER_ELEMENTS):
            size += sizes[j1]
            j1 += 1
        out = None if work is None else work("rows", (size, p), xt_pad.dtype)  # reused: no fresh pages per gather
        rows = torch.index_select(xt_pad, 0, idx[start:start + size], out=out)  # (padded rows of classes j0..j1-1, P)
        signs_j = [None] * (j1 - j0) if sgn is None else sgn[start:start + size].split(sizes[j0:j1])
        for j, piece, sign in zip(range(j0, j1), rows.split(sizes[j0:j1]), signs_j):
            if sizes[j]:
                yield (j, piece) if sgn is None else (j, piece, sign)
        j0, start = j1, start + size


def _active_hessians(xt_pad, act, work=None):
    """``S_k = X~_A^T X~_A`` ``(T, P, P)`` from each class's active rows (``act`` ``(T, N)``, 0/1 floats)."""
    p = xt_pad.shape[1]
    s_mat = torch.zeros(act.shape[0], p, p, dtype=xt_pad.dtype, device=xt_pad.device)
    for j, rows in _class_rows(xt_pad, act, work=work):
        s_mat[j] = rows.T @ rows  # (P, P)
    return s_mat


def _update_hessians(s_mat, xt_pad, gram, active, act_prev, work=None):
    """Bring ``S_k = X~^T diag(A_k) X~`` ``(P, P)`` (``s_mat`` ``(T, P, P)``) up to date, in place.

    ``active``, ``act_prev`` ``(T, N)`` 0/1 float masks, now and at the last update. Either add/subtract
    the outer products of the rows whose status changed, or rebuild from the smaller of the active /
    inactive row sets (``Gram - X_I^T X_I``), whichever touches fewer rows.
    """
    n = active.shape[1]
    work = _Workspace(active.device) if work is None else work
    changed = torch.sub(active, act_prev, out=work("tmp", active.shape, active.dtype))  # (T, N) +1 in, -1 out, 0
    n_changed = torch.abs(changed, out=work("dot", active.shape, active.dtype)).sum(dim=1)  # (T,)
    n_active = active.sum(dim=1)  # (T,)
    smaller = torch.minimum(n_active, n - n_active)  # (T,) rows of a rebuild
    by_delta = (n_changed > 0) & (n_changed <= smaller)  # (T,)
    rebuild = n_changed > smaller  # (T,)
    if bool(by_delta.any()):
        sel = changed.mul_(by_delta.to(changed.dtype).unsqueeze(1))  # (T, N)
        for j, rows, sign in _class_rows(xt_pad, sel, sel, work=work):
            s_mat[j] += rows.T @ (rows * sign)  # (P, P)
    if bool(rebuild.any()):
        from_inactive = rebuild & (n_active > n - n_active)  # (T,)
        from_active = (rebuild & ~from_inactive).to(active.dtype).unsqueeze(1)  # (T, 1)
        for j, rows in _class_rows(xt_pad, torch.mul(active, from_active, out=work("tmp", active.shape, active.dtype)),
                                   work=work):
            s_mat[j] = rows.T @ rows
        inactive = torch.neg(active, out=work("tmp", active.shape, active.dtype)).add_(1)  # (T, N)
        for j, rows in _class_rows(xt_pad, inactive.mul_(from_inactive.to(active.dtype).unsqueeze(1)), work=work):
            s_mat[j] = gram - rows.T @ rows
