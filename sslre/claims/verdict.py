"""Verdicts: the pre-registered decision procedure (``claims/PROTOCOL.md``, :mod:`sslre.claims.protocol`).

The unit of replication is the **training seed**. A claim part reduces the measurements to one value per seed
(its statistic) and tests it with **Student's t** (df = n - 1), one-sided at :data:`ALPHA` in each direction:

=============  ===========================================================  =================================
test           supported when                                               refuted when
=============  ===========================================================  =================================
directional    mean beyond the threshold (t-test, p < alpha)                mean beyond it the other way
level          the same, against a number of the paper (full profile)       the same, other way
equivalence    TOST: both one-sided tests put the mean inside               the mean lies outside the margin
               ``center ± margin`` (p = max of the two < alpha)             (p = 2 x the smaller side's p)
=============  ===========================================================  =================================

* Fewer than :data:`MIN_SEEDS` seeds: the part is inconclusive ("needs >= 3 seeds of run X"); no noise is ever
  borrowed from another run, another estimator seed or a subsample.
* A **family** ("for every layer / epoch / level") is one part: supported only if every cell is supported
  (intersection-union: no correction needed), refuted only through the Holm step-down over all cells.
* Every part carries its own **control** (a null run through the same test) or states why no null exists.
  A part whose control comes out supported is *void* and cannot count toward support; so is a part whose control
  could not be decided (not measured, too few seeds). A part whose control comes out refuted cannot count toward
  refutation, except a level test (its null, e.g. the untrained network, lies below the paper's number by design)
  and an equivalence test (its sensitivity null differs by design).

:func:`combine` (intersection-union / Holm): the claim is **supported** only if every part is supported with a
control that is not supported; **refuted** only if the Holm step-down at level alpha over every hypothesis of the
claim (each part, each cell of a family; a part's refute p-value) rejects at least one; else **inconclusive**.
A part with no null caps the claim at inconclusive. Operating characteristics: ``docs/CALIBRATION.md``.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from scipy.special import stdtr as _stdtr   # Student-t CDF: the same maths as scipy.stats.t, 50x cheaper

#: one-sided significance level of every test, in each direction (fixed before any run)
ALPHA = 0.05
#: fewest training seeds a part may be decided on
MIN_SEEDS = 3
TESTS = ("directional", "level", "equivalence")


class Verdict(str, enum.Enum):
    SUPPORTED = "supported"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"
    NOT_RUN = "not run"
    ERROR = "error"
    #: the claim cannot apply to what was trained (e.g. a method whose loss has no regularization term); recorded
    #: with the reason, never counted as inconclusive
    NOT_APPLICABLE = "not applicable"

    def __str__(self) -> str:  # "supported", not "Verdict.SUPPORTED", in messages and JSON
        return self.value


@dataclass
class Decision:
    """One decided part (or cell, or control): statistic per seed, test, p-values and verdict."""

    name: str
    value: float                     # mean over seeds (a family: the worst cell's mean)
    noise: float                     # seed standard deviation (ddof=1) of the same cell
    threshold: float
    op: str                          # ">" | "<" | "~" (equivalence)
    verdict: Verdict
    reason: str
    source: str = ""
    per_seed: list[float] = field(default_factory=list)
    test: str = "directional"
    margin: float | None = None      # equivalence only
    n: int = 0
    df: int = 0
    t: float = float("nan")
    p_support: float = float("nan")
    p_refute: float = float("nan")
    seeds: list[int] = field(default_factory=list)
    cells: list["Decision"] = field(default_factory=list)   # a family's cells
    key: Any = None                                          # a cell's key
    control: "Decision | None" = None
    control_description: str = ""
    no_null: str = ""                # why this part has no null (caps the claim at inconclusive)
    part_id: str = ""
    holm_p: float | None = None      # Holm-adjusted refute p-value (set by combine)
    void: str = ""                   # why this part cannot count (set by combine)

    @property
    def hypotheses(self) -> list[float]:
        """The refute p-values this part contributes to the claim's Holm step-down (one per cell)."""
        if self.cells:
            return [c.p_refute for c in self.cells]
        return [self.p_refute]

    def statistic(self) -> dict:
        return {"name": self.name, "value": _num(self.value), "noise": _num(self.noise),
                "per_seed": [_num(v) for v in self.per_seed], "seeds": list(self.seeds)}

    def threshold_dict(self) -> dict:
        d = {"op": self.op, "value": _num(self.threshold), "source": self.source}
        if self.margin is not None:
            d["margin"] = _num(self.margin)
        return d

    def test_dict(self) -> dict:
        return {"kind": self.test, "n": self.n, "df": self.df, "t": _num(self.t), "alpha": ALPHA,
                "p_support": _num(self.p_support), "p_refute": _num(self.p_refute),
                "holm_p_refute": _num(self.holm_p) if self.holm_p is not None else None}

    def to_json(self) -> dict:
        d = {"label": self.name, "part_id": self.part_id, "verdict": self.verdict.value, "reason": self.reason,
             "statistic": self.statistic(), "threshold": self.threshold_dict(), "test": self.test_dict(),
             "void": self.void or None}
        if self.cells:
            d["cells"] = [{"key": _key(c.key), "verdict": c.verdict.value, "mean": _num(c.value),
                           "per_seed": [_num(v) for v in c.per_seed], "t": _num(c.t),
                           "p_support": _num(c.p_support), "p_refute": _num(c.p_refute)} for c in self.cells]
        if self.control is not None:
            d["control"] = {"description": self.control_description, **self.control.to_json()}
        elif self.no_null:
            d["control"] = {"description": "no null exists", "verdict": "not run", "reason": self.no_null}
        return d


def _num(x: Any) -> float | None:
    """JSON-safe float: NaN/inf become None (JSON has no NaN)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _key(k: Any) -> Any:
    if isinstance(k, tuple):
        return [_key(x) for x in k]
    if isinstance(k, (np.integer, np.floating)):
        return k.item()
    return k


def seed_noise(values: Sequence[float]) -> float:
    """Seed standard deviation (ddof=1) of the finite values; NaN with fewer than two.

    >>> round(seed_noise([1.0, 3.0]), 4)
    1.4142
    """
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    return float(v.std(ddof=1)) if v.size >= 2 else float("nan")


def _finite(per_seed: Sequence[float] | Mapping[int, float]) -> tuple[list[float], list[int]]:
    items = list(per_seed.items()) if isinstance(per_seed, Mapping) else list(enumerate(per_seed))
    keep = [(int(s), float(v)) for s, v in items if v is not None and np.isfinite(float(v))]
    return [v for _, v in keep], [s for s, _ in keep]


def one_sided_t(values: Sequence[float], threshold: float) -> tuple[float, float, int, float, float, float]:
    """``(mean, sd, n, t, p_greater, p_less)``: one-sided Student t p-values of mean > / < threshold.

    Zero spread: the sign of ``mean - threshold`` decides with p = 0 (identical seeds), p = 1 the other way.
    """
    v = np.asarray(values, dtype=float)
    n = v.size
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if n > 1 else float("nan")
    diff = mean - float(threshold)
    scale = abs(mean) + abs(float(threshold)) + 1.0
    if n < 2:
        return mean, sd, n, float("nan"), float("nan"), float("nan")
    if sd <= 1e-12 * scale:
        if abs(diff) <= 1e-12 * scale:
            return mean, sd, n, 0.0, 1.0, 1.0
        return mean, sd, n, math.copysign(math.inf, diff), (0.0 if diff > 0 else 1.0), (0.0 if diff < 0 else 1.0)
    t = diff / (sd / math.sqrt(n))
    return mean, sd, n, float(t), float(_stdtr(n - 1, -t)), float(_stdtr(n - 1, t))


def _too_few(name: str, n: int, runs: Sequence[str]) -> str:
    what = " and ".join(f"run {r}" for r in runs) if runs else "the run"
    return f"{name}: needs >= {MIN_SEEDS} seeds of {what} (has {n})"


def decide_seeds(per_seed: Sequence[float] | Mapping[int, float], threshold: float = 0.0, direction: str = ">", *,
                 name: str = "effect", source: str = "", runs: Sequence[str] = (), test: str = "directional",
                 key: Any = None) -> Decision:
    """Decide ``mean(per_seed) <direction> threshold`` by a one-sided t-test each way (module docstring).

    ``per_seed``: one value per training seed (a list, or ``{seed: value}``). ``test`` is ``directional`` or
    ``level`` (the same test; ``level`` marks a threshold that is one of the paper's numbers).

    >>> decide_seeds([0.5, 0.6, 0.55]).verdict.value, decide_seeds([-0.5, -0.6, -0.55]).verdict.value
    ('supported', 'refuted')
    >>> decide_seeds([0.5, 0.6]).verdict.value
    'inconclusive'
    """
    if direction not in (">", "<"):
        raise ValueError(f"direction {direction!r} is not allowed; use '>' or '<'")
    if test not in ("directional", "level"):
        raise ValueError(f"test {test!r} is not a directional test; use decide_equivalent for equivalence")
    vals, seeds = _finite(per_seed)
    base = dict(name=name, threshold=float(threshold), op=direction, source=source, per_seed=vals, seeds=seeds,
                test=test, n=len(vals), df=max(len(vals) - 1, 0), key=key)
    if len(vals) < MIN_SEEDS:
        mean = float(np.mean(vals)) if vals else float("nan")
        return Decision(value=mean, noise=seed_noise(vals), verdict=Verdict.INCONCLUSIVE,
                        reason=_too_few(name, len(vals), runs), **base)
    mean, sd, n, t, p_gt, p_lt = one_sided_t(vals, threshold)
    p_sup, p_ref = (p_gt, p_lt) if direction == ">" else (p_lt, p_gt)
    head = f"{name} = {mean:.4g} (sd {sd:.2g}, n = {n}), t({n - 1}) = {t:.3g}"
    if p_sup < ALPHA:
        v, why = Verdict.SUPPORTED, f"{head}: {direction} {threshold:.4g}, one-sided p = {p_sup:.3g} < {ALPHA:g}"
    elif p_ref < ALPHA:
        v, why = Verdict.REFUTED, (f"{head}: on the wrong side of {threshold:.4g}, one-sided p = {p_ref:.3g} < "
                                   f"{ALPHA:g}")
    else:
        v, why = Verdict.INCONCLUSIVE, (f"{head}: not distinguishable from {threshold:.4g} (p = {p_sup:.3g} / "
                                        f"{p_ref:.3g})")
    return Decision(value=mean, noise=sd, verdict=v, reason=why, t=t, p_support=p_sup, p_refute=p_ref, **base)


def decide_equivalent(per_seed: Sequence[float] | Mapping[int, float], margin: float, center: float = 0.0, *,
                      name: str = "difference", source: str = "", runs: Sequence[str] = ()) -> Decision:
    """TOST: supported when the mean lies within ``center ± margin`` (both one-sided tests at alpha);
    refuted when it lies outside the margin (the nearer side's one-sided p, doubled for the two sides).

    >>> decide_equivalent([0.001, -0.002, 0.0015, 0.0], 0.02).verdict.value
    'supported'
    >>> decide_equivalent([0.2, 0.21, 0.19], 0.02).verdict.value
    'refuted'
    """
    if not margin > 0:
        raise ValueError(f"an equivalence margin must be > 0, got {margin}")
    vals, seeds = _finite(per_seed)
    base = dict(name=name, threshold=float(center), op="~", source=source, per_seed=vals, seeds=seeds,
                test="equivalence", margin=float(margin), n=len(vals), df=max(len(vals) - 1, 0))
    if len(vals) < MIN_SEEDS:
        mean = float(np.mean(vals)) if vals else float("nan")
        return Decision(value=mean, noise=seed_noise(vals), verdict=Verdict.INCONCLUSIVE,
                        reason=_too_few(name, len(vals), runs), **base)
    mean, sd, n, _, p_above_lo, _ = one_sided_t(vals, center - margin)      # H1: mean > center - margin
    _, _, _, t, _, p_below_hi = one_sided_t(vals, center + margin)          # H1: mean < center + margin
    _, _, _, _, p_out_hi, _ = one_sided_t(vals, center + margin)            # H1: mean > center + margin
    _, _, _, _, _, p_out_lo = one_sided_t(vals, center - margin)            # H1: mean < center - margin
    p_sup = max(p_above_lo, p_below_hi)
    p_ref = min(1.0, 2.0 * min(p_out_hi, p_out_lo))
    t_c = (mean - center) / (sd / math.sqrt(n)) if sd > 0 else float("nan")
    head = f"{name} = {mean:.4g} (sd {sd:.2g}, n = {n}), margin ±{margin:g} around {center:g}"
    if p_sup < ALPHA:
        v, why = Verdict.SUPPORTED, f"{head}: equivalent (TOST p = {p_sup:.3g} < {ALPHA:g})"
    elif p_ref < ALPHA:
        v, why = Verdict.REFUTED, f"{head}: outside the margin (p = {p_ref:.3g} < {ALPHA:g})"
    else:
        v, why = Verdict.INCONCLUSIVE, f"{head}: neither shown inside nor outside (TOST p = {p_sup:.3g})"
    return Decision(value=mean, noise=sd, verdict=v, reason=why, t=t_c, p_support=p_sup, p_refute=p_ref, **base)


def decide_family(cells: Mapping[Any, Sequence[float] | Mapping[int, float]], threshold: float = 0.0,
                  direction: str = ">", *, name: str, source: str = "", runs: Sequence[str] = ()) -> Decision:
    """A "for every cell" statement as one part: each cell a one-sided t-test on its per-seed values.

    Supported only if every cell is supported (intersection-union); refuted only if a cell's refute p-value is
    below alpha / (number of cells) (Holm's first step within the family; :func:`combine` applies the step-down
    over the whole claim). One cell never refutes alone at the uncorrected level. The part's value is the worst
    cell's mean (the smallest margin toward the claimed direction).
    """
    if not cells:
        raise ValueError(f"{name}: a family needs at least one cell")
    decs = [decide_seeds(v, threshold, direction, name=f"{name} [{_fmt_key(k)}]", source=source, runs=runs, key=k)
            for k, v in cells.items()]
    # A cell with fewer seeds than the others (a random-target level excluded for some seeds) is dropped, and said;
    # the family is decided on the cells that have the seeds.
    n_max = max(d.n for d in decs)
    thin = [d for d in decs if d.n < MIN_SEEDS] if n_max >= MIN_SEEDS else []
    decs = [d for d in decs if d not in thin]
    dropped = f" ({len(thin)} cell(s) with fewer than {MIN_SEEDS} seeds dropped: " \
              f"{', '.join(_fmt_key(d.key) for d in thin)})" if thin else ""
    m = len(decs)
    sign = 1.0 if direction == ">" else -1.0
    worst = min(decs, key=lambda d: sign * (d.value - threshold) if np.isfinite(d.value) else -np.inf)
    n_sup = sum(d.verdict is Verdict.SUPPORTED for d in decs)
    p_refs = [d.p_refute for d in decs]
    min_ref = float(np.nanmin(p_refs)) if any(np.isfinite(p_refs)) else float("nan")
    too_few = [d for d in decs if d.n < MIN_SEEDS]
    if too_few:
        v, why = Verdict.INCONCLUSIVE, too_few[0].reason
    elif n_sup == m:
        v, why = Verdict.SUPPORTED, f"{name}: all {m} cells supported; weakest: {worst.reason}"
    elif np.isfinite(min_ref) and min_ref < ALPHA / m:
        bad = min(decs, key=lambda d: d.p_refute)
        v, why = Verdict.REFUTED, (f"{name}: {n_sup}/{m} cells supported; cell {_fmt_key(bad.key)} on the wrong side "
                                   f"at the family level (p = {bad.p_refute:.3g} < {ALPHA:g}/{m}): {bad.reason}")
    else:
        v, why = Verdict.INCONCLUSIVE, f"{name}: {n_sup}/{m} cells supported; weakest: {worst.reason}"
    why += dropped
    p_sup = float(np.nanmax([d.p_support for d in decs])) if all(np.isfinite(d.p_support) for d in decs) \
        else float("nan")
    return Decision(f"{name} (worst of {m} cells: {_fmt_key(worst.key)})", worst.value, worst.noise,
                    float(threshold), direction, v, why, source, worst.per_seed, test="directional", n=worst.n,
                    df=worst.df, t=worst.t, p_support=p_sup, p_refute=min_ref, seeds=worst.seeds, cells=decs)


def _fmt_key(k: Any) -> str:
    if isinstance(k, tuple):
        return ", ".join(_fmt_key(x) for x in k)
    if isinstance(k, float) and k.is_integer():
        return str(int(k))
    return str(k)


def with_control(part: Decision, control: Decision | None = None, *, description: str = "",
                 no_null: str = "") -> Decision:
    """Attach a part's control (its own null, decided by the same test) or the reason no null exists."""
    if control is None and not no_null:
        raise ValueError(f"part {part.name!r}: give its control, or no_null='why no null exists'")
    part.control, part.control_description, part.no_null = control, description, no_null
    return part


def holm(pvalues: Sequence[float], alpha: float = ALPHA) -> tuple[list[float], list[bool]]:
    """Holm step-down: adjusted p-values and rejections (NaN p-values are never rejected).

    >>> holm([0.01, 0.04, 0.03])[1]
    [True, False, False]
    """
    p = np.array([x if np.isfinite(x) else 1.0 for x in pvalues], dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj.tolist(), [bool(a < alpha) for a in adj]


@dataclass
class ClaimDecision:
    verdict: Verdict
    reason: str
    headline: Decision | None


def combine(parts: Iterable[Decision]) -> ClaimDecision:
    """The claim's verdict from its parts (module docstring). Sets each part's ``holm_p`` and ``void``."""
    parts = list(parts)
    if not parts:
        return ClaimDecision(Verdict.INCONCLUSIVE, "no part was decided", None)
    hyps, owner = [], []
    for i, d in enumerate(parts):
        ctrl = d.control.verdict if d.control is not None else None
        if ctrl is Verdict.SUPPORTED:
            d.void = f"its control came out supported ({d.control_description}): the statistic does not discriminate"
        if ctrl is Verdict.REFUTED and d.test not in ("level", "equivalence"):
            continue                    # the null itself moves the wrong way: this part cannot refute the claim
        for p in d.hypotheses:
            hyps.append(p)
            owner.append(i)
    adj, rej = holm(hyps)
    for i, d in enumerate(parts):
        mine = [a for a, o in zip(adj, owner) if o == i]
        d.holm_p = min(mine) if mine else None
    rejected = sorted({owner[k] for k, r in enumerate(rej) if r}, key=lambda i: parts[i].holm_p)
    if rejected:
        d = parts[rejected[0]]
        return ClaimDecision(Verdict.REFUTED, f"part {d.part_id or d.name} is on the wrong side after the Holm "
                                              f"correction over {len(hyps)} hypotheses (adjusted p = "
                                              f"{d.holm_p:.3g}): {d.reason}", d)
    for d in parts:
        if d.verdict is not Verdict.SUPPORTED:
            return ClaimDecision(Verdict.INCONCLUSIVE, f"part {d.part_id or d.name} is not supported: {d.reason}", d)
    for d in parts:
        if d.void:
            return ClaimDecision(Verdict.INCONCLUSIVE, f"part {d.part_id or d.name} is void: {d.void}", d)
        if d.control is not None and (d.control.verdict in (Verdict.NOT_RUN, Verdict.ERROR)
                                      or d.control.n < MIN_SEEDS):
            return ClaimDecision(Verdict.INCONCLUSIVE, f"part {d.part_id or d.name}: its control was not decided "
                                                       f"({d.control.reason}): support needs the null", d)
        if d.control is None:
            return ClaimDecision(Verdict.INCONCLUSIVE, f"part {d.part_id or d.name} has no null ({d.no_null}): the "
                                                       "claim cannot be supported", d)
    return ClaimDecision(Verdict.SUPPORTED, f"all {len(parts)} parts supported, each beyond its control; "
                                            f"first: {parts[0].reason}", parts[0])


def missing(name: str, why: str, source: str = "", op: str = ">", threshold: float = 0.0) -> Decision:
    """An inconclusive part whose series is absent at this profile (never a fake pass)."""
    return Decision(name, float("nan"), float("nan"), threshold, op, Verdict.INCONCLUSIVE,
                    f"{name}: not measured at this profile ({why})", source)
