"""Verdicts and the rules that decide them.

A claim's statistic is computed once per training seed; the **effect** is the mean over seeds and
the **noise** is the seed-to-seed spread (sample standard deviation, ``ddof=1``). With a single
seed there is no spread: the verdict is ``inconclusive`` unless the caller passes a documented
fallback noise (e.g. the spread over evaluation subsamples, see :func:`subsample_noise`).

Decision rule (:func:`decide`), for ``direction=">"``, threshold ``t`` and margin ``k * noise``
(``k`` = :data:`NOISE_K` = 2 seed standard deviations)::

    effect - t >  k * noise  -> supported     (beyond the threshold by more than the noise margin)
    t - effect >  k * noise  -> refuted       (beyond it the other way by more than the noise margin)
    otherwise                -> inconclusive  (within the noise margin)

Why two standard deviations: with the seed std itself as margin, a statistic with no effect at all is
"supported" whenever mean/std > 1, i.e. Student t > sqrt(n): about 11 % of the time with 3 seeds and 20 %
with 2. Negative controls (and flat synthetic series) would then come out supported by chance. With
``k = 2`` that rate is about 4 % (3 seeds) / 11 % (2 seeds). Fixed before any run, never tuned.

``direction="<"`` mirrors it. Sub-statements of one claim are combined by :func:`combine`:
all supported -> supported; any refuted -> refuted; else inconclusive.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

#: noise margin in seed standard deviations (see the module docstring); fixed before any run
NOISE_K = 2.0


class Verdict(str, enum.Enum):
    SUPPORTED = "supported"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"
    NOT_RUN = "not run"
    ERROR = "error"

    def __str__(self) -> str:  # "supported", not "Verdict.SUPPORTED", in messages and JSON
        return self.value


@dataclass
class Decision:
    """One decided (sub-)statement: its statistic, threshold and verdict, ready for the JSON."""

    name: str
    value: float
    noise: float
    threshold: float
    op: str
    verdict: Verdict
    reason: str
    source: str = ""
    per_seed: list[float] = field(default_factory=list)

    def statistic(self) -> dict:
        return {"name": self.name, "value": _num(self.value), "noise": _num(self.noise),
                "per_seed": [_num(v) for v in self.per_seed]}

    def threshold_dict(self) -> dict:
        return {"op": self.op, "value": _num(self.threshold), "source": self.source}


def _num(x: float) -> float | None:
    """JSON-safe float: NaN/inf become None (JSON has no NaN)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def seed_noise(values: Sequence[float], *, kind: str = "std") -> float:
    """Seed-to-seed spread of per-seed statistics: ``std`` (ddof=1) or ``half-range`` ((max-min)/2).

    NaN with fewer than two finite values (no spread can be measured).

    >>> seed_noise([1.0, 3.0])  # doctest: +ELLIPSIS
    1.414...
    >>> seed_noise([1.0, 3.0], kind="half-range")
    1.0
    """
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if kind not in ("std", "half-range"):
        raise ValueError(f"noise kind {kind!r} is not allowed; allowed: std, half-range")
    if v.size < 2:
        return float("nan")
    if kind == "std":
        return float(v.std(ddof=1))
    return float((v.max() - v.min()) / 2.0)


def decide(effect: float, noise: float, threshold: float = 0.0, direction: str = ">", *,
           name: str = "effect", source: str = "", per_seed: Sequence[float] = (), k: float = NOISE_K) -> Decision:
    """Decide one statement ``effect <direction> threshold`` against ``noise`` (see module doc).

    A NaN effect or noise (too few seeds, a series that is missing) gives ``inconclusive``.

    >>> decide(0.5, 0.1).verdict.value, decide(-0.5, 0.1).verdict.value, decide(0.15, 0.1).verdict.value
    ('supported', 'refuted', 'inconclusive')
    """
    if direction not in (">", "<"):
        raise ValueError(f"direction {direction!r} is not allowed; use '>' or '<'")
    effect, noise, threshold = float(effect), float(noise), float(threshold)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    margin = (effect - threshold) if direction == ">" else (threshold - effect)
    band = k * noise
    if not math.isfinite(effect):
        verdict, why = Verdict.INCONCLUSIVE, f"{name} could not be computed (missing or degenerate series)"
    elif not math.isfinite(noise):
        verdict, why = Verdict.INCONCLUSIVE, f"{name} = {effect:.4g} but no noise estimate (fewer than 2 seeds)"
    elif margin > band:
        verdict, why = Verdict.SUPPORTED, (
            f"{name} = {effect:.4g} {direction} {threshold:.4g} by {abs(margin):.4g}, more than {k:g} x noise "
            f"{noise:.2g}")
    elif -margin > band:
        verdict, why = Verdict.REFUTED, (
            f"{name} = {effect:.4g} is on the wrong side of {threshold:.4g} by {abs(margin):.4g}, "
            f"more than {k:g} x noise {noise:.2g}")
    else:
        verdict, why = Verdict.INCONCLUSIVE, (
            f"{name} = {effect:.4g} lies within {k:g} x noise {noise:.2g} of the threshold {threshold:.4g}")
    return Decision(name, effect, noise, threshold, direction, verdict, why, source, list(per_seed))


def decide_seeds(per_seed: Sequence[float], threshold: float = 0.0, direction: str = ">", *,
                 name: str = "effect", source: str = "", fallback_noise: float | None = None,
                 noise_kind: str = "std") -> Decision:
    """:func:`decide` on per-seed values: effect = mean, noise = seed spread (or ``fallback_noise``
    where only one seed is available; the caller documents where the fallback comes from)."""
    vals = [float(v) for v in per_seed]
    finite = [v for v in vals if math.isfinite(v)]
    effect = float(np.mean(finite)) if finite else float("nan")
    noise = seed_noise(finite, kind=noise_kind)
    if not math.isfinite(noise) and fallback_noise is not None and math.isfinite(fallback_noise):
        noise = float(fallback_noise)
    return decide(effect, noise, threshold, direction, name=name, source=source, per_seed=vals)


def combine(verdicts: Iterable[Verdict | Decision]) -> Verdict:
    """Combine sub-statements: all supported -> supported; any refuted -> refuted; else inconclusive.

    An empty list is inconclusive (nothing was shown).

    >>> combine([Verdict.SUPPORTED, Verdict.SUPPORTED]).value
    'supported'
    >>> combine([Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE]).value
    'refuted'
    """
    vs = [v.verdict if isinstance(v, Decision) else Verdict(v) for v in verdicts]
    if not vs:
        return Verdict.INCONCLUSIVE
    if any(v in (Verdict.REFUTED,) for v in vs):
        return Verdict.REFUTED
    if all(v is Verdict.SUPPORTED for v in vs):
        return Verdict.SUPPORTED
    return Verdict.INCONCLUSIVE


def subsample_noise(statistic, n: int, *, repeats: int = 20, fraction: float = 0.5, seed: int = 0) -> float:
    """Fallback noise for a single seed: std of ``statistic(idx)`` over random half-subsamples.

    ``statistic`` takes an index array into the ``n`` evaluation samples. Half-samples without
    replacement are used (not a bootstrap with replacement) because duplicated points distort
    clustering metrics such as the silhouette; their spread over-estimates the full-sample noise,
    which keeps the fallback conservative.
    """
    if n < 4:
        return float("nan")
    rng = np.random.default_rng(seed)
    k = max(2, int(round(n * fraction)))
    vals = [float(statistic(np.sort(rng.choice(n, size=k, replace=False)))) for _ in range(repeats)]
    return seed_noise(vals)
