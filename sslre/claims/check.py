"""``python -m sslre.claims.check reports/reproduction.json --profile quick``: did every claim get a verdict?

The claims' verdicts are the suite's *findings*: a refuted claim fails its pytest test (``FAILED`` in the output,
``refuted`` in the report), because the paper's statement did not hold on these runs. That is a result, not a
defect of the software, and at the small profiles many effects are not expected to show. CI therefore records
the verdicts (``tox -e quick`` runs the claims, then this check) and blocks only when the suite could not decide:

* a catalogue claim missing from the report, ``not run``, or ended in ``error`` (an exception in the pipeline);
* the report missing or unreadable.

``not applicable`` counts as decided: the claim cannot apply to what was trained (e.g. a method whose loss has no
regularization term), and the report says why. A claim ``not run`` because runs it reads are missing (a partial run
set: its entry lists ``missing_runs`` and ``commands``) is a problem like any claim not run, with its own exit
status when it is the only kind of problem, so that a partial reproduction is told apart from a complete one.

A control that came out supported is printed as a warning (its part is void, and the claim inconclusive).

``--against REF`` compares the verdicts with a reference report (the committed ``reports/quick/reproduction.json``):
a claim that flips between *supported* and *refuted* fails the check (the verdict would depend on the machine or
the float path); a change between *inconclusive* or *not applicable* and a decided verdict is listed and allowed.
A reference decided under another protocol version is reported as a warning.

A report with a generality matrix (``sslre reproduce --methods``: a ``methods`` key) has one report per method
beside it; each is checked the same way, and against the reference's report of that method where there is one.

Exit status: 0 when every catalogue claim has a verdict (supported / refuted / inconclusive / not applicable) and
no claim flips against ``REF``; 3 when the only problems are claims not run because their runs are missing (a
partial run set); 1 otherwise; 2 on a usage error.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sslre.claims.catalogue import CLAIM_IDS

DECIDED = ("supported", "refuted", "inconclusive", "not applicable")
#: exit status when the only problems are claims not run because their runs are missing (a partial run set)
PARTIAL = 3
_RUNS_MISSING = "runs missing: "


def check(path: Path, profile: str | None = None) -> tuple[list[str], list[str], dict[str, str]]:
    """``(problems, warnings, verdicts)`` of the report at ``path``; see the module docstring."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        return [f"cannot read {path}: {e}"], [], {}
    problems, warns, verdicts = [], [], {}
    if profile and data.get("profile") not in (profile, "mixed"):
        problems.append(f"report profile is {data.get('profile')!r}, expected {profile!r}")
    by_id = {c.get("id"): c for c in data.get("claims", [])}
    for cid in CLAIM_IDS:
        c = by_id.get(cid)
        if c is None:
            problems.append(f"{cid}: missing from the report")
            continue
        verdict = str(c.get("verdict", "")).replace("_", " ")
        verdicts[cid] = verdict
        if verdict not in DECIDED:
            why = c.get("reason") or "no reason recorded"
            if verdict == "not run" and c.get("missing_runs"):
                problems.append(f"{cid}: {_RUNS_MISSING}{', '.join(map(str, c['missing_runs']))} ({why})")
            else:
                problems.append(f"{cid}: verdict {verdict!r} ({why})")
        control = c.get("control") or {}
        if str(control.get("verdict", "")) == "supported":
            warns.append(f"{cid}: its negative control came out supported ({control.get('description', '')})")
    return problems, warns, verdicts


def flips(report: Path | dict, reference: Path | dict) -> tuple[list[str], list[str], list[str]]:
    """``(flips, changes, warnings)`` of ``report`` against ``reference`` (paths or loaded reports; see the
    module docstring)."""
    def load(path: Path | dict) -> dict:
        return path if isinstance(path, dict) else json.loads(Path(path).read_text())

    try:
        new, ref = load(report), load(reference)
    except (OSError, json.JSONDecodeError) as e:
        return [f"cannot compare with {reference}: {e}"], [], []
    warns = []
    pv_new, pv_ref = (new.get("protocol") or {}).get("version"), (ref.get("protocol") or {}).get("version")
    if pv_new != pv_ref:
        warns.append(f"the reference was decided under protocol v{pv_ref}, this report under v{pv_new}")
    a = {c.get("id"): str(c.get("verdict")) for c in new.get("claims", [])}
    b = {c.get("id"): str(c.get("verdict")) for c in ref.get("claims", [])}
    out_flips, changes = [], []
    for cid in CLAIM_IDS:
        va, vb = a.get(cid), b.get(cid)
        if va == vb or va is None or vb is None:
            continue
        if {va, vb} == {"supported", "refuted"}:
            out_flips.append(f"{cid}: {vb} in the reference, {va} here")
        else:
            changes.append(f"{cid}: {vb} -> {va}")
    return out_flips, changes, warns


def method_reports(report: Path, against: Path | None = None) -> list[tuple[str, Path, Path | None]]:
    """``(method, report, reference or None)`` of every other method of the report's generality matrix
    (``methods``, :func:`sslre.reproduce.write_matrix`); the reference is the one beside ``against``, where it
    exists. Empty for a report without a matrix."""
    try:
        matrix = json.loads(Path(report).read_text()).get("methods") or {}
    except (OSError, json.JSONDecodeError):
        return []
    out = []
    for method in matrix.get("order", [])[1:]:
        rel = Path(matrix["reports"][method]).with_suffix(".json")
        ref = Path(against).parent / rel if against is not None else None
        out.append((method, Path(report).parent / rel, ref if ref is not None and ref.is_file() else None))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sslre.claims.check", description=__doc__.splitlines()[0])
    p.add_argument("report", type=Path, nargs="?", default=Path("reports/reproduction.json"))
    p.add_argument("--profile", help="the profile the report must be for")
    p.add_argument("--against", type=Path, metavar="REF",
                   help="reference reproduction.json: fail on a supported <-> refuted flip")
    args = p.parse_args(argv)
    if args.against is not None and not args.against.is_file():
        print(f"error: reference report {args.against} does not exist", file=sys.stderr)
        return 2
    problems, warns, verdicts = check(args.report, args.profile)
    if args.against is not None:
        fl, changes, w = flips(args.report, args.against)
        warns += w
        for c in changes:
            print(f"changed (allowed): {c}")
        problems += [f"flip against {args.against}: {f}" for f in fl]
    for method, path, ref in method_reports(args.report, args.against):
        p2, w2, v2 = check(path, args.profile)
        problems += [f"[{method}] {x}" for x in p2]
        warns += [f"[{method}] {x}" for x in w2]
        print(f"[{method}] verdicts: " + ", ".join(f"{sum(1 for x in v2.values() if x == v)} {v}" for v in DECIDED))
        if ref is not None:
            fl, changes, w = flips(path, ref)
            warns += [f"[{method}] {x}" for x in w]
            for c in changes:
                print(f"[{method}] changed (allowed): {c}")
            problems += [f"[{method}] flip against {ref}: {f}" for f in fl]
    counts = {v: sum(1 for x in verdicts.values() if x == v) for v in DECIDED}
    for cid, v in verdicts.items():
        print(f"{v:>13}  {cid}")
    print("verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" (of {len(CLAIM_IDS)} claims)")
    for w in warns:
        print(f"warning: {w}")
    for pr in problems:
        print(f"problem: {pr}", file=sys.stderr)
    if problems and all(_RUNS_MISSING in pr for pr in problems):
        return PARTIAL
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
