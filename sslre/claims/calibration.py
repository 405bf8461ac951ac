"""Operating characteristics of the decision procedure: how often each claim comes out supported, refuted or
inconclusive when the truth is known.

``python -m sslre.claims.calibration --profile P --sims N --json OUT [--reference REPORT] [--markdown MD]``

For every claim, the simulation rebuilds the claim's parts as the protocol and the reference report lay them out
(:mod:`sslre.claims.protocol`; a part's cells and seeds per cell; its control, or no null), draws per-seed
statistics with the noise of the reference run (each cell's seed standard deviation, ``ddof=1``, from the report's
per-seed values; a cell without one takes the part's, else 1), and decides them with the very functions the claim
tests use (:func:`decide_seeds`, :func:`decide_family`, :func:`decide_equivalent`, :func:`combine`). Scenarios:

* ``null`` -- no effect: every part's mean sits on its threshold (an equivalence part on its margin's edge, the
  least favourable point for a false "equivalent");
* ``reversed`` -- the opposite effect, :data:`EFFECT_SD` seed standard deviations beyond the threshold the wrong
  way (an equivalence part: the difference at twice its margin);
* ``planted`` -- the paper's effect at the stated size: :data:`EFFECT_SD` seed standard deviations beyond the
  threshold in the paper's direction (an equivalence part: no difference at all).

Controls are drawn as nulls in every scenario (a control's truth is "no effect"). Cells are drawn independently,
which is conservative for the intersection-union support and the Holm refutation alike. Because a t-test's rates
under the null do not depend on the noise's scale, the null rows check the combination rule (parts, cells,
controls, Holm), whatever the reference's noise; the planted rows show the power at this profile's seed counts.

OUT: ``{claim_id: {"null": {"supported": r, "refuted": r, "inconclusive": r}, "reversed": {...},
"planted": {...}, "sims": N, "parts": k, "hypotheses": M, "seeds": n}}``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sslre.claims.verdict import (ALPHA, Decision, Verdict, combine, decide_equivalent, decide_family, decide_seeds,
                                  with_control)

#: the planted and reversed effects, in seed standard deviations of the per-seed statistic
EFFECT_SD = 2.0
SCENARIOS = ("null", "reversed", "planted")
#: where each profile's reference reproduction lives (committed)
REFERENCES = {"quick": "reports/quick/reproduction.json", "small": "reports/small-cifar10/reproduction.json",
              "medium": "reports/cifar10-medium/reproduction.json"}
_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PartLayout:
    """What the simulation needs of one part: its test, cells (each with seeds and a noise) and control."""

    id: str
    test: str
    op: str
    threshold: float
    margin: float | None
    cells: list[tuple[int, float]]          # (seeds, sd) per cell; one cell for a plain part
    family: bool
    control: bool                           # has a null (else: no_null)


def _sd(vals: list) -> float:
    v = [float(x) for x in vals if x is not None and math.isfinite(float(x))]
    return float(np.std(v, ddof=1)) if len(v) >= 2 else float("nan")


def layouts(profile: str, reference: dict | None) -> dict[str, list[PartLayout]]:
    """``{claim_id: [PartLayout]}`` from the protocol, with cells/seeds/noise from ``reference`` where it has them."""
    from sslre.claims.protocol import claims as protocol_claims
    from sslre.experiments import runs_for

    specs = runs_for(profile)
    by_claim = {c["id"]: c for c in (reference or {}).get("claims", [])}
    out: dict[str, list[PartLayout]] = {}
    for cid, cs in protocol_claims().items():
        parts_json = {p.get("part_id"): p for p in by_claim.get(cid, {}).get("parts", []) or []}
        lays = []
        for ps in cs.parts_for(profile):
            seeds = min((len(specs[r].seeds) for r in ps.runs if r in specs), default=3)
            pj = parts_json.get(ps.id) or {}
            cells: list[tuple[int, float]] = []
            if pj.get("cells"):
                for c in pj["cells"]:
                    n = len([v for v in c.get("per_seed") or [] if v is not None]) or seeds
                    cells.append((n, _sd(c.get("per_seed") or [])))
            elif pj.get("statistic"):
                per = pj["statistic"].get("per_seed") or []
                n = len([v for v in per if v is not None]) or seeds
                cells.append((n, _sd(per)))
            if not cells:
                cells = [(seeds, float("nan"))] * (3 if ps.cells else 1)
            sds = [s for _, s in cells if math.isfinite(s) and s > 0]
            fill = float(np.mean(sds)) if sds else (ps.margin / 2.0 if ps.margin else 1.0)
            cells = [(max(n, 1), s if math.isfinite(s) and s > 0 else fill) for n, s in cells]
            lays.append(PartLayout(ps.id, ps.test, ps.op, float(ps.threshold), ps.margin, cells, bool(ps.cells),
                                   not ps.no_null))
        out[cid] = lays
    return out


def _mean(lay: PartLayout, sd: float, scenario: str, rng: np.random.Generator) -> float:
    if lay.test == "equivalence":
        edge = lay.threshold + lay.margin * (1 if rng.random() < 0.5 else -1)
        return {"null": edge, "reversed": lay.threshold + 2 * (edge - lay.threshold), "planted": lay.threshold}[scenario]
    sign = 1.0 if lay.op == ">" else -1.0
    return lay.threshold + sign * {"null": 0.0, "reversed": -EFFECT_SD * sd, "planted": EFFECT_SD * sd}[scenario]


def _draw(lay: PartLayout, scenario: str, rng: np.random.Generator) -> Decision:
    draws = {}
    for k, (n, sd) in enumerate(lay.cells):
        draws[k] = list(rng.normal(_mean(lay, sd, scenario, rng), sd, n))
    if lay.test == "equivalence":
        return decide_equivalent(draws[0], lay.margin, lay.threshold, name=lay.id)
    if lay.family:
        return decide_family(draws, lay.threshold, lay.op, name=lay.id)
    return decide_seeds(draws[0], lay.threshold, lay.op, name=lay.id, test=lay.test)


def simulate_claim(lays: list[PartLayout], scenario: str, sims: int, rng: np.random.Generator) -> dict[str, float]:
    counts = {v: 0 for v in ("supported", "refuted", "inconclusive")}
    for _ in range(sims):
        parts = []
        for lay in lays:
            d = _draw(lay, scenario, rng)
            ctrl = _draw(lay, "null", rng) if lay.control else None
            parts.append(with_control(d, ctrl, description="null", no_null="" if lay.control else "no null"))
        v = combine(parts).verdict
        counts[v.value if v in (Verdict.SUPPORTED, Verdict.REFUTED) else "inconclusive"] += 1
    return {k: c / sims for k, c in counts.items()}


def calibrate(profile: str, sims: int, reference: dict | None = None, seed: int = 0,
              claim_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The operating-characteristics table (module docstring), ``sims`` simulations per claim and scenario."""
    rng = np.random.default_rng(seed)
    out = {}
    for cid, lays in layouts(profile, reference).items():
        if claim_ids and cid not in claim_ids:
            continue
        row: dict[str, Any] = {s: simulate_claim(lays, s, sims, rng) for s in SCENARIOS}
        row.update(sims=sims, parts=len(lays), hypotheses=sum(len(l.cells) for l in lays),
                   seeds=min((n for l in lays for n, _ in l.cells), default=0),
                   no_null=[l.id for l in lays if not l.control])
        out[cid] = row
    return out


def mc_error(rate: float, sims: int) -> float:
    """Monte-Carlo standard error of a rate."""
    return math.sqrt(max(rate * (1 - rate), 1e-12) / sims)


def within_bound(table: dict, bound: float = ALPHA, z: float = 3.0) -> list[str]:
    """Claims whose null false-support or false-refute rate exceeds ``bound`` by more than ``z`` MC errors."""
    bad = []
    for cid, row in table.items():
        for key in ("supported", "refuted"):
            r = row["null"][key]
            if r > bound + z * mc_error(bound, row["sims"]):
                bad.append(f"{cid}: null {key} rate {r:.3f} > {bound}")
    return bad


def markdown(table: dict, profile: str, reference: str | None) -> str:
    from sslre.claims.protocol import VERSION

    sims = next(iter(table.values()))["sims"] if table else 0
    lines = [f"### Profile `{profile}` (protocol v{VERSION}, {sims} simulations per claim and scenario; "
             f"noise from {reference or 'no reference report (unit noise)'})", "",
             "| claim | parts / hypotheses | seeds | null: supported | null: refuted | reversed: refuted | "
             "reversed: supported | planted: supported | planted: refuted |",
             "|---|---|---|---|---|---|---|---|---|"]
    for cid, r in table.items():
        cap = " (no null: capped)" if r["no_null"] else ""
        lines.append(f"| `{cid}`{cap} | {r['parts']} / {r['hypotheses']} | {r['seeds']} | "
                     f"{r['null']['supported']:.3f} | {r['null']['refuted']:.3f} | {r['reversed']['refuted']:.3f} | "
                     f"{r['reversed']['supported']:.3f} | {r['planted']['supported']:.3f} | "
                     f"{r['planted']['refuted']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sslre.claims.calibration", description=__doc__.splitlines()[0])
    p.add_argument("--profile", required=True, choices=("quick", "small", "medium", "full"))
    p.add_argument("--sims", type=int, default=2000)
    p.add_argument("--json", type=Path, required=True, help="where to write the table (JSON)")
    p.add_argument("--reference", type=Path, help="reproduction.json whose per-seed values give the noise "
                                                  "(default: the profile's committed reference, if any)")
    p.add_argument("--markdown", type=Path, help="also write the table as Markdown")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.sims < 1:
        print("error: --sims must be >= 1", file=sys.stderr)
        return 2
    ref_path = args.reference or (_ROOT / REFERENCES[args.profile] if args.profile in REFERENCES else None)
    reference = None
    if ref_path is not None and Path(ref_path).is_file():
        try:
            reference = json.loads(Path(ref_path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            print(f"error: cannot read the reference report {ref_path}: {exc}", file=sys.stderr)
            return 2
    elif args.reference is not None:
        print(f"error: reference report {args.reference} does not exist", file=sys.stderr)
        return 2
    table = calibrate(args.profile, args.sims, reference, seed=args.seed)
    from sslre import io

    io.write_json(table, args.json, indent=1)
    rel = None
    if reference is not None:
        try:
            rel = str(Path(ref_path).resolve().relative_to(_ROOT))
        except ValueError:
            rel = Path(ref_path).name
    if args.markdown:
        io.write_text(markdown(table, args.profile, rel), args.markdown)
    for cid, r in table.items():
        print(f"{cid:32s} null S {r['null']['supported']:.3f} R {r['null']['refuted']:.3f} | "
              f"planted S {r['planted']['supported']:.3f} | reversed R {r['reversed']['refuted']:.3f}")
    bad = within_bound(table)
    for b in bad:
        print(f"over the bound: {b}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
