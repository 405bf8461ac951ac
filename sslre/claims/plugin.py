"""pytest plugin for claim tests (registered as the ``pytest11`` entry point ``sslre_claims``).

What it adds
------------
* the ``claim`` marker, validated at collection: ``@pytest.mark.claim(id="<catalogue id>", paper="Sec. 4, ...")``.
  ``id`` is required and must be an ID of the claim catalogue (:mod:`sslre.claims.catalogue`);
  ``paper`` is optional; any other keyword, or a positional argument, is a usage error naming it.
* the ``claim_record`` fixture (:class:`ClaimRecord`): a claim test records its evidence on it
  (statistic, threshold and its source, paper value, seeds, checkpoints, protocol, figures, control)
  and ends with :meth:`ClaimRecord.conclude`, which **maps the verdict to the pytest outcome**:

  ==================  =========================================================================
  verdict             pytest outcome
  ==================  =========================================================================
  supported           pass
  refuted             ``pytest.fail(reason)`` (a failed test)
  inconclusive        ``pytest.xfail(reason)`` (reported as xfailed, with the reason; a part whose
                      control came out supported is void, and its claim is inconclusive)
  not applicable      ``pytest.skip(reason)``: the claim cannot apply to what was trained
                      (:meth:`ClaimRecord.not_applicable`, e.g. a method whose loss has no such term)
  not run             ``pytest.skip(reason)`` when runs the claim reads are not trained
                      (:meth:`ClaimRecord.runs_missing`: the reason and the commands that make them are recorded)
  (exception)         the test errors/fails as usual; recorded with verdict ``error``
  ==================  =========================================================================

  Parts are recorded with ``claim_record.part(part_id, decision, control=...)`` against the pre-registered
  protocol (:mod:`sslre.claims.protocol`) and combined by :func:`sslre.claims.verdict.combine`.

* at session end, when any claim test ran, ``reproduction.json`` (schema version 2: ``docs/reproduction-schema.md``;
  it carries ``protocol: {version, sha256}``)
  is written atomically to ``--sslre-report-dir``, else ``$SSLRE_REPORT_DIR``, else ``<rootdir>/reports``;
  catalogue claims that did not run appear as ``"not run"``; runs missing from a partial run set are listed under
  ``missing_runs`` (with one terminal line per profile saying how many runs and claims that leaves out). Then ``reproduction.html`` is rendered
  beside it with :func:`sslre.report.html.render_report` when that is importable; a failure there is
  a warning and never hides the claims' results.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pytest

from sslre import io
from sslre.claims.catalogue import BY_ID, CATALOGUE, CLAIM_IDS
from sslre.claims.verdict import Decision, Verdict, combine

SCHEMA_VERSION = 2
ALLOWED_KEYWORDS = ("id", "paper")
_STATE = pytest.StashKey["ClaimSession"]()


# ----------------------------------------------------------------------------------------- records
def claim_entry(claim_id: str, paper_ref: str = "", profile: str | None = None, nodeid: str | None = None) -> dict:
    """A claim's entry of ``reproduction.json`` before any evidence: every field of the schema, in its order."""
    cat = BY_ID[claim_id]
    return {
        "id": claim_id, "paper_ref": paper_ref or cat.paper, "statement": cat.statement,
        "profile": profile, "dataset": None, "verdict": None, "reason": None,
        "statistic": None, "threshold": None, "paper_value": None, "seeds": [],
        "checkpoints": [], "protocol": "", "figures": [], "control": None, "parts": [],
        "notes": [], "duration_s": None, "nodeid": nodeid,
    }


class ClaimRecord:
    """Evidence and verdict of one claim test instance; see the module docstring for the outcome mapping."""

    def __init__(self, claim_id: str, nodeid: str, paper_ref: str = "", profile: str | None = None):
        self.data: dict[str, Any] = claim_entry(claim_id, paper_ref, profile, nodeid)
        self.runs: dict[str, dict] = {}
        self.concluded = False
        self._decisions: list[Decision] = []

    # --- evidence ----------------------------------------------------------------------------
    def use(self, measurements: Any, *runs: str) -> list[str]:
        """Note that the claim reads ``runs`` of ``measurements``: profile, dataset, seeds, checkpoints
        and the run descriptions for the JSON ``runs`` section. Returns the runs that are present."""
        self.data["profile"] = getattr(measurements, "profile", self.data["profile"])
        self.data["dataset"] = getattr(measurements, "dataset", self.data["dataset"])
        present = []
        for run in runs:
            if not measurements.has(run):
                continue
            present.append(run)
            seeds = sorted(set(self.data["seeds"]) | {int(s) for s in measurements.seeds(run)})
            self.data["seeds"] = seeds
            for ck in measurements.checkpoints(run):
                if portable_path(ck) not in self.data["checkpoints"]:
                    self.data["checkpoints"].append(portable_path(ck))
            for info in getattr(measurements, "runs", {}).get(run, []):
                self.runs[f"{run}-s{info.seed}"] = _run_entry(run, info)
        return present

    def set(self, **fields: Any) -> None:
        """Set schema fields directly (``paper_value``, ``protocol``, ``seeds``, ``checkpoints``, ...)."""
        unknown = set(fields) - set(self.data)
        if unknown:
            raise KeyError(f"claim_record has no field(s) {sorted(unknown)}; fields: {sorted(self.data)}")
        self.data.update(fields)

    def note(self, text: str) -> None:
        self.data["notes"].append(text)

    def part(self, part_id: str, decision: Decision, *, control: Decision | None = None) -> Decision:
        """Record part ``part_id`` of the protocol, decided as ``decision``, with its ``control`` (the part's own
        null, decided by the same test). The protocol (:mod:`sslre.claims.protocol`) fixes the test, threshold and
        control description; a part whose spec says ``no_null`` takes no control."""
        from sslre.claims.protocol import check_part
        from sslre.claims.verdict import with_control

        ps = check_part(self.data["id"], part_id, decision, self.data["profile"])
        if control is not None and ps.no_null:
            raise ValueError(f"{self.data['id']} part {part_id}: the protocol says no null exists ({ps.no_null})")
        if control is None and not ps.no_null:
            control = Decision(f"control of {part_id}", float("nan"), float("nan"), ps.threshold, ps.op,
                               Verdict.NOT_RUN, "the control's series was not measured at this profile")
        decision.part_id = part_id
        decision.source = decision.source or ps.source
        with_control(decision, control, description=ps.control, no_null=ps.no_null)
        self._decisions.append(decision)
        return decision

    def figure(self, id: str, title: str, series: Sequence[dict], *, kind: str = "line", x_label: str = "",
               y_label: str = "", paper: Sequence[dict] | None = None, **extra: Any) -> None:
        """Add a figure: ``series`` items ``{"label", "x", "y", "yerr"?}`` (scatter: ``"c"``, ``"panel"``)."""
        if kind not in ("line", "bar", "scatter"):
            raise ValueError(f"figure kind {kind!r} is not allowed; allowed: line, bar, scatter")
        fig = {"id": id, "title": title, "kind": kind, "x_label": x_label, "y_label": y_label,
               "series": [_jsonable(s) for s in series]}
        if paper:
            fig["paper"] = [_jsonable(p) for p in paper]
        fig.update(_jsonable(extra))
        self.data["figures"].append(fig)

    # --- verdict ---------------------------------------------------------------------------------
    def conclude(self, verdict: Verdict | None = None, reason: str | None = None) -> Verdict:
        """Combine the parts by the protocol (:func:`sslre.claims.verdict.combine`), or take ``verdict``, store
        everything, and apply the outcome mapping (supported: pass; refuted: fail; inconclusive: xfail)."""
        from sslre.claims.protocol import spec as claim_spec

        decisions = self._decisions
        if verdict is None:
            recorded = {d.part_id for d in decisions}
            for ps in claim_spec(self.data["id"]).parts_for(self.data["profile"]):
                if ps.id not in recorded:           # a pre-registered part that was not decided counts, unsupported
                    decisions.append(Decision(ps.statement, float("nan"), float("nan"), ps.threshold, ps.op,
                                              Verdict.INCONCLUSIVE, f"part {ps.id} was not decided at this profile",
                                              ps.source, part_id=ps.id, control_description=ps.control,
                                              no_null=ps.no_null, test=ps.test, margin=ps.margin))
        cd = combine(decisions)
        v = Verdict(verdict) if verdict is not None else cd.verdict
        head = cd.headline
        if head is not None:
            self.data["statistic"] = head.statistic()
            self.data["threshold"] = head.threshold_dict()
        if reason is None:
            reason = cd.reason
        self.data["parts"] = [d.to_json() for d in decisions]
        self.data["control"] = _control_summary(decisions)
        seeds = sorted({s for d in decisions for s in d.seeds})
        if seeds:
            self.data["seeds"] = seeds          # the seeds the decision used, not every seed of the runs
        self._store(v, reason)
        if v is Verdict.SUPPORTED:
            return v
        if v is Verdict.REFUTED:
            pytest.fail(f"refuted: {reason}", pytrace=False)
        if v in (Verdict.INCONCLUSIVE, Verdict.NOT_RUN):
            pytest.xfail(f"{v.value}: {reason}")
        if v is Verdict.NOT_APPLICABLE:
            pytest.skip(f"{v.value}: {reason}")
        raise ValueError(f"a claim test cannot conclude with verdict {v.value!r}")

    def require(self, measurements: Any, run: str) -> None:
        """Record profile/dataset, end the claim as not run when ``run`` is missing from a partial run set (with
        the commands that make it) or inconclusive when it is absent at this profile, else note it as read."""
        self.use(measurements)
        absent = getattr(measurements, "absent", {}) or {}
        if run in absent:
            self.runs_missing(measurements, {run: absent[run]})
        if not measurements.has(run):
            self.inconclusive(absent_reason(measurements, run) or f"the {run} run was not measured at this profile")
        self.use(measurements, run)

    def inconclusive(self, reason: str) -> None:
        """Shortcut: no statistic can be computed here (e.g. a run absent at this profile)."""
        self.conclude(Verdict.INCONCLUSIVE, reason)

    def not_applicable(self, reason: str) -> None:
        """End the claim as ``not applicable``: it cannot apply to what was trained (a method whose loss has no
        term the claim reads, a dataset whose every class is its own superclass). Decide it from the data (the
        run's config, the table), never from a list of names; ``reason`` says what is absent. pytest reports the
        test as skipped with the reason; the report counts it apart from inconclusive."""
        self.conclude(Verdict.NOT_APPLICABLE, reason)

    def runs_missing(self, measurements: Any, absent: Mapping[str, Sequence[str]]) -> None:
        """End the claim as ``not run`` because runs it reads are not trained: ``absent`` maps each missing run to
        the commands that make it (:meth:`sslre.measure.Measurements.missing_for`). The entry keeps the runs
        (``missing_runs``) and the commands (``commands``); pytest reports the test as skipped."""
        self.use(measurements)
        commands = list(dict.fromkeys(portable_command(c) for cmds in absent.values() for c in cmds))
        self.data["missing_runs"] = list(absent)
        self.data["commands"] = commands
        why = getattr(getattr(measurements, "partial", None), "reasons", None) or {}
        diverged = "; ".join(why[r] for r in absent if r in why)
        reason = (f"run(s) {', '.join(absent)} of profile {self.data['profile']} are missing or unfinished"
                  + (f" ({diverged}; its folder keeps the reason: delete it to train again)" if diverged else "")
                  + f"; {len(commands)} command(s) make them (listed with this claim)")
        self._store(Verdict.NOT_RUN, reason)
        pytest.skip(f"{Verdict.NOT_RUN.value}: {reason}")

    def _store(self, v: Verdict, reason: str) -> None:
        self.data["verdict"] = v.value
        self.data["reason"] = reason
        self.concluded = True


def absent_reason(measurements: Any, run: str) -> str | None:
    """Why role ``run`` is not in a matrix column's table when the profile leaves it out of that method's column
    (``Profile.matrix_roles``); ``None`` otherwise (the profile has no such run, or it is simply missing)."""
    from sslre.profiles import profile as get_profile

    method, name = getattr(measurements, "method", None) or "vicreg", getattr(measurements, "profile", "")
    try:
        prof = get_profile(name)
    except Exception:  # noqa: BLE001 - a hand-made table of no known profile
        return None
    if prof.trains_role(method, run):
        return None
    return (f"the {run} role is not trained for {method} at the {name} profile: its matrix trains "
            f"{', '.join(prof.matrix_roles)} for methods other than VICReg (the CI budget); a profile that trains "
            f"every role (small, medium) decides it")


def _control_summary(decisions: Sequence[Decision]) -> dict | None:
    """The claim-level view of the per-part controls: the worst control verdict (supported > refuted > rest)."""
    ctrls = [d for d in decisions if d.control is not None]
    if not ctrls:
        return None
    rank = {Verdict.SUPPORTED: 0, Verdict.REFUTED: 1, Verdict.INCONCLUSIVE: 2, Verdict.NOT_RUN: 3, Verdict.ERROR: 4,
            Verdict.NOT_APPLICABLE: 5}
    worst = min(ctrls, key=lambda d: rank[d.control.verdict])
    return {"description": "each part's own null (see the parts)", "verdict": worst.control.verdict.value,
            "statistic": worst.control.statistic(), "reason": f"part {worst.part_id}: {worst.control.reason}",
            "parts": [{"label": f"{d.part_id}: {d.control_description}", "verdict": d.control.verdict.value,
                       "statistic": d.control.statistic(), "reason": d.control.reason} for d in ctrls]}


def _run_entry(name: str, info: Any) -> dict:
    cfg = getattr(info, "config", None)
    g = (lambda k, default=None: getattr(cfg, k, default)) if cfg is not None else (lambda k, default=None: default)
    # A published run folder keeps its table, not its checkpoints: the epochs it was measured at are its config's.
    ckpts = getattr(info, "checkpoints", None) or g("checkpoint_epochs") or ()
    return {"name": name, "method": g("method"), "arch": g("arch"), "dataset": g("dataset"),
            "seed": getattr(info, "seed", None), "epochs": g("epochs"), "train_images": g("train_subset"),
            "run_dir": portable_path(getattr(info, "run_dir", "")),
            "checkpoint_epochs": sorted(int(e) for e in ckpts)}


def portable_path(path: Any) -> str:
    """A path as the report stores it: under the runs folder as ``$SSLRE_RUNS/...``, under the repository as a
    relative path, else as given (a report never records one machine's absolute folders where it can help it)."""
    p = Path(str(path))
    runs = os.environ.get("SSLRE_RUNS")
    roots = ([(Path(runs).resolve(), "$SSLRE_RUNS")] if runs else []) + [(Path(__file__).resolve().parents[2], "")]
    for root, label in roots:
        try:
            rel = p.resolve().relative_to(root)
        except (ValueError, OSError):
            continue
        return f"{label}/{rel}" if label else str(rel)
    return str(p)


def portable_command(command: str) -> str:
    """A shell command as the report stores it: the runs folder written ``$SSLRE_RUNS`` (see :func:`portable_path`),
    so a committed report names no machine's folders."""
    runs = os.environ.get("SSLRE_RUNS")
    if runs:
        for form in dict.fromkeys((str(Path(runs).resolve()), str(Path(runs)))):
            command = command.replace(form + os.sep, "$SSLRE_RUNS/")
    return command


def _jsonable(x: Any) -> Any:
    """Plain JSON values: numpy/pandas to lists and floats, NaN/inf to None."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        return _jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, Verdict):
        return x.value
    return x


# ----------------------------------------------------------------------------------------- session
class ClaimSession:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.started = time.time()
        self.records: dict[str, ClaimRecord] = {}   # nodeid -> record
        self.durations: dict[str, float] = {}
        self.missing_runs: dict[str, dict] = {}     # profile -> {"missing", "total", "commands"} (partial run sets)

    def report_dir(self) -> Path:
        opt = self.config.getoption("sslre_report_dir", None)
        d = opt or os.environ.get("SSLRE_REPORT_DIR") or str(self.config.rootpath / "reports")
        return Path(d)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sslre", "sslre claim tests")
    group.addoption("--sslre-report-dir", dest="sslre_report_dir", default=None,
                    help="folder for reproduction.json/html (default: $SSLRE_REPORT_DIR or <rootdir>/reports)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id, paper): a claim test; id from the claim catalogue")
    config.stash[_STATE] = ClaimSession(config)


def note_missing_runs(config: pytest.Config, profile: str, missing: Sequence[str], total: int,
                      commands: Sequence[str]) -> None:
    """Record that ``missing`` runs (``name-s<seed>``) of ``profile``'s ``total`` are not trained: the report lists
    them under ``missing_runs`` with the ``commands`` that make them, and the session ends with one line saying
    how many runs and claims that leaves out."""
    state = config.stash.get(_STATE, None)
    if state is not None and missing:
        state.missing_runs[profile] = {"missing": list(missing), "total": int(total),
                                       "commands": [portable_command(c) for c in commands]}


def missing_runs_line(profile: str, entry: Mapping, claims: Iterable[Mapping]) -> str:
    """The session's one line about a partial run set of ``profile`` (``claims``: the report's claim entries).

    >>> missing_runs_line("full", {"missing": ["a-s0", "b-s0"], "total": 32},
    ...                   [{"profile": "full", "verdict": "not run", "missing_runs": ["a"]}])
    'sslre: 2 of 32 runs of profile full are missing; 1 claim not run (their commands are in reproduction.json)'
    """
    n = sum(1 for c in claims if c.get("profile") == profile and c.get("verdict") == Verdict.NOT_RUN.value
            and c.get("missing_runs"))
    return (f"sslre: {len(entry['missing'])} of {entry['total']} runs of profile {profile} are missing; "
            f"{n} claim{'s' if n != 1 else ''} not run (their commands are in reproduction.json)")


def validate_claim_marker(mark: pytest.Mark, where: str) -> None:
    """Raise :class:`pytest.UsageError` naming the problem when ``mark`` is not a valid claim marker."""
    if mark.args:
        raise pytest.UsageError(f"{where}: @pytest.mark.claim takes keywords only (id=..., paper=...), "
                                f"got positional argument(s) {mark.args!r}")
    unknown = sorted(set(mark.kwargs) - set(ALLOWED_KEYWORDS))
    if unknown:
        raise pytest.UsageError(f"{where}: @pytest.mark.claim got unknown keyword(s) {unknown}; "
                                f"allowed: {', '.join(ALLOWED_KEYWORDS)}")
    cid = mark.kwargs.get("id")
    if cid is None:
        raise pytest.UsageError(f"{where}: @pytest.mark.claim needs the keyword id=<catalogue id>")
    if cid not in BY_ID:
        raise pytest.UsageError(f"{where}: @pytest.mark.claim id={cid!r} is not a catalogue ID; "
                                f"known: {', '.join(CLAIM_IDS)}")
    paper = mark.kwargs.get("paper")
    if paper is not None and not isinstance(paper, str):
        raise pytest.UsageError(f"{where}: @pytest.mark.claim paper= must be a string, got {paper!r}")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    for item in items:
        marks = list(item.iter_markers("claim"))
        if len(marks) > 1:
            raise pytest.UsageError(f"{item.nodeid}: more than one @pytest.mark.claim marker")
        for mark in marks:
            validate_claim_marker(mark, item.nodeid)


def _profile_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "profile" in callspec.params:
        return str(callspec.params["profile"])
    return None


@pytest.fixture
def claim_record(request: pytest.FixtureRequest) -> ClaimRecord:
    """The record of this claim test (see :class:`ClaimRecord`); the test must carry ``@pytest.mark.claim``."""
    mark = request.node.get_closest_marker("claim")
    if mark is None:
        raise pytest.UsageError(f"{request.node.nodeid}: claim_record needs @pytest.mark.claim(id=...) on the test")
    state = request.config.stash[_STATE]
    rec = state.records.get(request.node.nodeid)
    if rec is None:  # normally created in the setup hook; kept here for direct use
        rec = ClaimRecord(mark.kwargs["id"], request.node.nodeid, mark.kwargs.get("paper", ""), _profile_of(request.node))
        state.records[request.node.nodeid] = rec
    return rec


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    mark = item.get_closest_marker("claim")
    if mark is None:
        return
    state = item.config.stash[_STATE]
    state.records[item.nodeid] = ClaimRecord(mark.kwargs["id"], item.nodeid, mark.kwargs.get("paper", ""),
                                             _profile_of(item))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if item.get_closest_marker("claim") is None:
        return
    rep = outcome.get_result()
    state = item.config.stash[_STATE]
    rec = state.records.get(item.nodeid)
    if rec is None:
        return
    state.durations[item.nodeid] = state.durations.get(item.nodeid, 0.0) + float(rep.duration)
    rec.data["duration_s"] = round(state.durations[item.nodeid], 3)
    if rec.concluded:
        return
    if rep.skipped and call.excinfo is not None and call.when in ("setup", "call") \
            and not hasattr(rep, "wasxfail"):
        rec._store(Verdict.NOT_RUN, f"skipped: {_skip_reason(rep)}")
        rec.data["verdict_kind"] = "skipped"
    elif rep.failed or (call.excinfo is not None and not rep.skipped):
        msg = call.excinfo.exconly() if call.excinfo is not None else str(rep.longrepr)
        rec._store(Verdict.ERROR, f"{call.when} raised {msg.strip()[:2000]}")
    elif call.when == "call" and rep.passed:
        rec._store(Verdict.ERROR, "the claim test ended without claim_record.conclude(): no verdict was recorded")
        rep.outcome = "failed"
        rep.longrepr = f"{item.nodeid}: claim test ended without claim_record.conclude(); no verdict recorded"


def _skip_reason(rep: pytest.TestReport) -> str:
    lr = rep.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        return str(lr[2])
    return str(lr)


# ----------------------------------------------------------------------------------------- JSON
def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _version(dist: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def hardware() -> dict:
    """CPU model, cores, memory (GB) and GPU name (or None)."""
    cpu = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        pass
    gpu = None
    try:
        import torch
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a broken CUDA driver must not hide the results
        gpu = None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem, "gpu": gpu}


def environment(root: Path, wall_time_s: float) -> dict:
    sha = _git(["rev-parse", "HEAD"], root)
    status = _git(["status", "--porcelain"], root)
    return {
        "python": platform.python_version(), "torch": _version("torch"), "torchvision": _version("torchvision"),
        "lightly": _version("lightly"), "sklearn": _version("scikit-learn"), "sslre": _version("sslre"),
        "numpy": _version("numpy"), "pandas": _version("pandas"), "platform": platform.platform(),
        "hardware": hardware(), "git_sha": sha, "git_dirty": (bool(status) if status is not None else None),
        "wall_time_s": round(wall_time_s, 2),
    }


def _not_run_entry(claim_id: str) -> dict:
    # Not-run entries have never carried "parts" and "notes" (the report files keep their key set).
    entry = {k: v for k, v in claim_entry(claim_id).items() if k not in ("parts", "notes")}
    entry.update(verdict=Verdict.NOT_RUN.value, reason="not run in this session")
    return entry


def protocol_header() -> dict:
    """``protocol: {version, sha256, ...}`` of the pre-registered protocol the verdicts were decided under."""
    from sslre.claims.protocol import header
    return header()


def calibration_for(profile: str | None) -> dict | None:
    """The committed operating-characteristics table of ``profile`` (``docs/calibration/<profile>.json``, made by
    ``python -m sslre.claims.calibration``), for the report's protocol section; None where there is none."""
    if not profile:
        return None
    path = Path(__file__).resolve().parents[2] / "docs" / "calibration" / f"{profile}.json"
    try:
        table = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return {"source": f"docs/calibration/{profile}.json (python -m sslre.claims.calibration --profile {profile})",
            "table": table}


def build_report(records: Iterable[ClaimRecord], *, command: str, env: dict,
                 missing_runs: Mapping[str, dict] | None = None) -> dict:
    """The ``reproduction.json`` document (schema version 2) from the session's claim records; ``missing_runs``
    (profile -> runs not trained, of how many, and the commands) is kept when a run set was partial."""
    records = list(records)
    claims = [_jsonable(r.data) for r in records]
    ran = {c["id"] for c in claims}
    order = {cid: i for i, cid in enumerate(CLAIM_IDS)}
    claims += [_not_run_entry(cid) for cid in CLAIM_IDS if cid not in ran]
    claims.sort(key=lambda c: (order.get(c["id"], len(order)), str(c.get("profile"))))
    for c in claims:
        if c.get("verdict") is None:
            c["verdict"], c["reason"] = Verdict.ERROR.value, "the claim test did not record a verdict"
    runs: dict[str, dict] = {}
    for r in records:
        runs.update(_jsonable(r.runs))
    summary = {v.value: 0 for v in Verdict}
    for c in claims:
        summary[c["verdict"]] = summary.get(c["verdict"], 0) + 1
    profiles = {c["profile"] for c in claims if c.get("profile")}
    datasets = {c["dataset"] for c in claims if c.get("dataset")}
    profile = profiles.pop() if len(profiles) == 1 else ("mixed" if profiles else None)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "profile": profile,
        "dataset": datasets.pop() if len(datasets) == 1 else ("mixed" if datasets else None),
        "command": command, "environment": env, "protocol": protocol_header(),
        "calibration": calibration_for(profile), "runs": runs,
    }
    if missing_runs:  # present only when a run set was partial
        doc["missing_runs"] = _jsonable(dict(missing_runs))
    from sslre.experiments import METHOD_ENV

    if os.environ.get(METHOD_ENV):  # one column of the generality matrix (sslre reproduce --methods)
        doc["method"] = os.environ[METHOD_ENV]
    doc.update(summary=summary, claims=claims)
    return doc


def _render_html(json_path: Path, config: pytest.Config) -> str | None:
    """Render the HTML beside the JSON; returns a warning text on failure (never raises)."""
    try:
        from sslre.report.html import render_report
    except ImportError as exc:
        return f"HTML report not rendered: sslre.report.html.render_report is not importable ({exc})"
    try:
        render_report(json_path, json_path.with_suffix(".html"))
    except Exception as exc:  # noqa: BLE001 - the claims' results are already written; report, never hide
        return f"HTML report not rendered: render_report failed: {type(exc).__name__}: {exc}"
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None or not state.records:
        return
    command = " ".join(["pytest", *(portable_path(a) if os.path.isabs(a) else a
                                     for a in config.invocation_params.args)])
    env = environment(config.rootpath, time.time() - state.started)
    doc = build_report(state.records.values(), command=command, env=env, missing_runs=state.missing_runs)
    from sslre.runlog import summary as warnings_summary

    doc["warnings"] = warnings_summary()  # sslre's own warnings of this reproduction, logged to RUNS/sslre.log
    doc["warnings"]["logs"] = [portable_path(p) for p in doc["warnings"].get("logs", [])]
    path = io.write_json(doc, state.report_dir() / "reproduction.json", indent=1, allow_nan=False)
    problem = _render_html(path, config)
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        for prof, entry in state.missing_runs.items():
            tr.write_line(missing_runs_line(prof, entry, doc["claims"]), yellow=True)
        tr.write_line(f"sslre: claims report written to {path} ({doc['summary']})")
        if problem:
            tr.write_line(f"sslre WARNING: {problem}", yellow=True)
    if problem and "not importable" not in problem:
        warnings.warn(problem, RuntimeWarning, stacklevel=1)
