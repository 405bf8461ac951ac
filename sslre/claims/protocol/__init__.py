"""The pre-registered protocol: for every claim part, its statistic, test, alpha, runs, seeds and control.

One module per claims file (``sec4``, ``sec5``, ``sec6``, ``appendix_b``, ``fig1``) declares the parts of its
claims as :class:`PartSpec`; the claim tests in ``claims/`` decide exactly these parts, and the plugin refuses
a part whose test, direction, threshold or margin differs from its spec (:func:`check_part`). ``claims/PROTOCOL.md``
is generated from here (``python -m sslre.claims.protocol --write claims/PROTOCOL.md``) and a test keeps the
committed file equal to it. ``reproduction.json`` carries ``protocol: {version, sha256}``; changing a statistic,
threshold, test or control bumps :data:`VERSION` with a dated :data:`CHANGELOG` line (shown in the report).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from sslre.claims.verdict import ALPHA, MIN_SEEDS, Decision

#: protocol version; bump with a CHANGELOG line whenever a statistic, threshold, test, margin or control changes
VERSION = "2.1"
CHANGELOG = (
    ("2026-11-20", "1", "random-target claims read chance-corrected accuracy κ instead of raw accuracy (their "
                        "permuted-label control reproduced the raw-accuracy effect); recorded retroactively"),
    ("2026-12-02", "2.0", "Student-t decisions per training seed (alpha 0.05 one-sided each way, >= 3 seeds of every "
                          "run, no borrowed noise); intersection-union support, Holm-corrected refutation; a control "
                          "per part; TOST for 'comparable' / 'roughly constant'; checkpoints mapped by the "
                          "learning-rate integral; degenerate random-target levels excluded by a fixed rule (the "
                          "'most random target' of a ratio: the most random level the most seeds kept)"),
    ("2026-12-02", "2.1", "a medium profile (real CIFAR-10 trained towards the paper's regime), decided like small: "
                          "directions and equivalences, no level parts; the supervised arm 'without augmentation' of "
                          "Fig. 3 right is literal (no crop, no flip) at medium and full, while quick and small keep "
                          "crop + flip as their references were made"),
)
PROFILES = ("quick", "small", "medium", "full")
#: the random-target exclusion rule (implemented in sslre.targets.exclusion_reason), fixed before any run
def _random_target_rule() -> str:
    from sslre.targets import MAX_MAJORITY_SHARE, MAX_TRUE_ACC_GAP, MIN_CLASS_FRACTION

    return (f"one generator per training seed and family, trained on images the SSL run never sees; a target "
            f"level is excluded before any claim reads it when, on the train or the test split, it predicts fewer "
            f"than {MIN_CLASS_FRACTION:g} of the classes, one predicted class holds more than "
            f"{MAX_MAJORITY_SHARE:g} of the images, or the generator's true-label accuracy on train exceeds that on "
            f"test by more than {MAX_TRUE_ACC_GAP:g} (memorisation). The report counts the excluded levels "
            f"(`sslre/targets.py`, `Measurements.target_levels()`).")


BELOW_FULL = ("quick", "small", "medium")


class ProtocolError(ValueError):
    """A claim test decided a part differently from its pre-registered spec."""


@dataclass(frozen=True)
class PartSpec:
    """One pre-registered part of a claim.

    ``threshold`` is the directional/level threshold (or the equivalence centre); ``margin`` the equivalence
    margin. ``cells`` names the family ("every epoch > 0") when the part is a "for every cell" statement.
    ``control`` describes the part's own null (run through the same test); ``no_null`` says why none exists.
    """

    id: str
    statement: str
    statistic: str
    test: str = "directional"            # directional | level | equivalence
    op: str = ">"                        # > | < | ~ (equivalence)
    threshold: float = 0.0
    margin: float | None = None
    runs: tuple[str, ...] = ("vicreg",)
    cells: str = ""
    control: str = ""
    no_null: str = ""
    source: str = ""
    profiles: tuple[str, ...] = PROFILES

    def __post_init__(self) -> None:
        if self.test not in ("directional", "level", "equivalence"):
            raise ProtocolError(f"part {self.id}: test {self.test!r} unknown")
        if (self.test == "equivalence") != (self.op == "~") or (self.test == "equivalence") != (self.margin is not None):
            raise ProtocolError(f"part {self.id}: an equivalence test has op '~' and a margin, and only it")
        if bool(self.control) == bool(self.no_null):
            raise ProtocolError(f"part {self.id}: give exactly one of control= and no_null=")


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    parts: tuple[PartSpec, ...]
    notes: str = ""

    def parts_for(self, profile: str | None) -> list[PartSpec]:
        """The parts decided at ``profile``; without a profile, those that apply at every profile."""
        if profile is None:
            return [p for p in self.parts if set(p.profiles) >= set(PROFILES)]
        return [p for p in self.parts if profile in p.profiles]

    def part(self, part_id: str, profile: str | None = None) -> PartSpec:
        for p in self.parts_for(profile):
            if p.id == part_id:
                return p
        raise ProtocolError(f"claim {self.id}: no part {part_id!r} in the protocol at profile {profile!r}; "
                            f"parts: {[p.id for p in self.parts_for(profile)]}")


def _registry() -> dict[str, ClaimSpec]:
    from sslre.claims.protocol import appendix_b, fig1, sec4, sec5, sec6

    out: dict[str, ClaimSpec] = {}
    for mod in (sec4, sec5, sec6, appendix_b, fig1):
        for spec in mod.CLAIMS:
            out[spec.id] = spec
    return out


_CACHE: dict[str, ClaimSpec] = {}


def claims() -> dict[str, ClaimSpec]:
    """``{claim_id: ClaimSpec}`` for every catalogue claim."""
    if not _CACHE:
        _CACHE.update(_registry())
    return _CACHE


def spec(claim_id: str) -> ClaimSpec:
    try:
        return claims()[claim_id]
    except KeyError:
        raise ProtocolError(f"claim {claim_id!r} has no protocol entry") from None


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check_part(claim_id: str, part_id: str, d: Decision, profile: str | None) -> PartSpec:
    """The spec of ``part_id``; raises :class:`ProtocolError` when ``d`` was decided otherwise."""
    ps = spec(claim_id).part(part_id, profile)
    if d.test != ps.test and not (d.test == "directional" and not d.cells and d.n == 0):
        raise ProtocolError(f"{claim_id} part {part_id}: decided by a {d.test} test, protocol says {ps.test}")
    if d.n or d.cells:
        if d.op != ps.op or not _same(float(d.threshold), float(ps.threshold)):
            raise ProtocolError(f"{claim_id} part {part_id}: decided as {d.op} {d.threshold}, protocol says "
                                f"{ps.op} {ps.threshold}")
        if ps.margin is not None and not _same(float(d.margin), float(ps.margin)):
            raise ProtocolError(f"{claim_id} part {part_id}: margin {d.margin}, protocol says {ps.margin}")
        if bool(d.cells) != bool(ps.cells):
            raise ProtocolError(f"{claim_id} part {part_id}: family={bool(d.cells)}, protocol says {bool(ps.cells)}")
    return ps


# ----------------------------------------------------------------------------------------------- document
def _seed_table() -> list[str]:
    from sslre.experiments import runs_for

    rows = ["| run | " + " | ".join(PROFILES) + " |", "|---|" + "---|" * len(PROFILES)]
    names: list[str] = []
    per = {p: runs_for(p) for p in PROFILES}
    for p in PROFILES:
        names += [n for n in per[p] if n not in names]
    for n in names:
        cells = []
        for p in PROFILES:
            s = per[p].get(n)
            cells.append("—" if s is None else (f"= {s.alias_of}" if s.alias_of else str(len(s.seeds))))
        rows.append(f"| `{n}` | " + " | ".join(cells) + " |")
    return rows


def _fmt(x: float) -> str:
    return f"{x:g}"


def render_markdown() -> str:
    """``claims/PROTOCOL.md``: the whole protocol, generated (do not edit the file by hand)."""
    from sslre.claims.catalogue import BY_ID, CLAIM_IDS
    RULE_TEXT = _random_target_rule()

    L = [f"# Claim protocol, version {VERSION}", "",
         "Generated by `python -m sslre.claims.protocol --write claims/PROTOCOL.md` from `sslre/claims/protocol/`; "
         "a test keeps this file equal to the code. Changing a statistic, threshold, test, margin or control bumps "
         "the version and adds a changelog line.", "",
         "## Decision procedure", "",
         f"- **Unit of replication**: the training seed. Each part reduces the measurements to one value per seed.",
         f"- **Tests**: Student's t on the per-seed values, df = n - 1, one-sided alpha = {ALPHA:g} in each "
         "direction. *directional*: mean beyond the threshold; *level*: the same against a number of the paper "
         "(full profile); *equivalence*: TOST, supported when both one-sided tests put the mean inside "
         "centre ± margin, refuted when the mean lies outside the margin (twice the nearer side's p).",
         f"- **Seeds**: every run that a part reads needs >= {MIN_SEEDS} seeds of its own; with fewer the part is "
         "inconclusive (\"needs >= 3 seeds of run X\"). Differences between runs are paired by seed. No noise is "
         "borrowed from another run, from estimator seeds or from subsamples.",
         "- **Re-drawn with the seed**: data order and augmentations, initialization, the random-target generators "
         "(one per seed and family), the label permutations of the controls, the sample-level set, and the MINE "
         "initializations.",
         "- **Families** (\"for every layer / epoch / level\"): one part; supported only if every cell is supported "
         "(intersection-union), refuted only through the Holm step-down.",
         "- **Combination**: a claim is *supported* only if every part is supported and no part is void or without "
         "a null; *refuted* only if the Holm step-down at alpha over all of the claim's hypotheses (each part; each "
         "cell of a family) rejects one; else *inconclusive*.",
         "- **Controls**: each part has its own null, run through the same test. A part whose control comes out "
         "supported, or could not be decided (not measured, too few seeds), cannot count toward support; one whose "
         "control comes out refuted cannot count toward refutation, except a level test (its null lies below "
         "the paper's number by design) and an equivalence test (its sensitivity null differs by design). A part "
         "with no null caps its claim at inconclusive. A family's cell that lost seeds (a random-target level "
         "excluded for some seeds) is dropped, and the reason says so.",
         "- **Checkpoints**: paper epoch e of 1000 is the checkpoint at which the run has spent the same share of "
         "its learning-rate integral as the paper's cosine schedule at e (epoch 100 = 19.8%); warm-up epochs "
         "never count as early (`sslre/schedule.py`).",
         f"- **Random targets**: {RULE_TEXT}",
         "- **Operating characteristics**: `python -m sslre.claims.calibration`; table in `docs/CALIBRATION.md`.",
         "", "## Seeds per run", "", *_seed_table(), "", "## Parts", ""]
    for cid in CLAIM_IDS:
        L += [f"### `{cid}` ({BY_ID[cid].paper})", "", f"> {BY_ID[cid].statement}", ""]
        if cid not in claims():
            L += ["**No protocol entry: this claim cannot be decided.**", ""]
            continue
        cs = spec(cid)
        if cs.notes:
            L += [cs.notes, ""]
        L += ["| part | statement | statistic (per seed) | test | runs | profiles | control |",
              "|---|---|---|---|---|---|---|"]
        for p in cs.parts:
            if p.test == "equivalence":
                test = f"TOST, \\|x - {_fmt(p.threshold)}\\| < {_fmt(p.margin)}"
            else:
                test = f"{p.test}, x {p.op} {_fmt(p.threshold)}"
            if p.cells:
                test += f"; family over {p.cells}"
            ctrl = p.control or f"**no null**: {p.no_null}"
            L.append(f"| {p.id} | {p.statement} | {p.statistic} | {test} | {', '.join(p.runs)} | "
                     f"{', '.join(p.profiles)} | {ctrl} |")
        L.append("")
    L += ["## Changelog", ""] + [f"- {d} (v{v}): {t}" for d, v, t in CHANGELOG] + [""]
    return "\n".join(L)


def sha256() -> str:
    return hashlib.sha256(render_markdown().encode("utf-8")).hexdigest()


def header() -> dict:
    """The ``protocol`` entry of ``reproduction.json``."""
    return {"version": VERSION, "sha256": sha256(), "alpha": ALPHA, "min_seeds": MIN_SEEDS,
            "changelog": [{"date": d, "version": v, "change": t} for d, v, t in CHANGELOG]}


def main(argv: Iterable[str] | None = None) -> int:
    import argparse
    from pathlib import Path

    p = argparse.ArgumentParser(prog="python -m sslre.claims.protocol", description="print or write PROTOCOL.md")
    p.add_argument("--write", type=Path, help="write the protocol to this file (else print it)")
    args = p.parse_args(list(argv) if argv is not None else None)
    text = render_markdown()
    if args.write:
        from sslre import io
        io.write_text(text, args.write)
        print(f"wrote {args.write} (protocol v{VERSION}, sha256 {sha256()[:12]})")
    else:
        print(text)
    return 0
