"""``sslre reproduce``: train (or reuse) what a profile's claims need, run the claim tests, leave the report.

Steps:

1. :func:`sslre.experiments.ensure_runs` -- quick trains missing runs; small/full with ``train=True``
   (``sslre reproduce`` is an explicit request) train them too, otherwise the missing commands are printed.
2. ``python -m pytest claims -m <profile>`` in a subprocess with ``SSLRE_RUNS=<runs_dir>`` and
   ``SSLRE_REPORT_DIR=<out>``; the claims plugin (:mod:`sslre.claims.plugin`) writes ``out/reproduction.json``
   and ``out/reproduction.html``.
3. :mod:`sslre.claims.check` reads the report: the return value is 0 when every catalogue claim got a verdict
   (supported, refuted or inconclusive -- a refuted claim is a *finding*, shown as FAILED by pytest and as
   refuted in the report), 1 when a claim errored, did not run or is missing, 2+ for pytest usage/internal
   problems, 3 when runs are missing and training was not asked for, or when runs diverged in training (their
   loss became NaN or inf, e.g. the quick recipe's mu=100 run on a few hundred images): the claims then run on
   the runs that exist (a partial report; the others are ``not run`` with the commands that make their runs, and
   why).
"""
from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from sslre.config import ConfigError
from sslre.evidence import ENV as EVIDENCE_ENV, EVIDENCE_DIRS, conflicts
from sslre.profiles import profile as get_profile
from sslre.experiments import (DEVICE_ENV, MissingRunsError, default_runs_dir, ensure_matrix, ensure_runs,
                               runs_for)
from sslre.runlog import EARLIER_ENV, run_log

log = logging.getLogger(__name__)
_REPO_ROOT = Path(__file__).resolve().parent.parent
#: pytest's exit code when the run was fine but no tests were selected / collected.
_NO_TESTS = 5


def claims_command(profile: str, pytest_args: Sequence[str] = ()) -> list[str]:
    """The pytest command line :func:`reproduce` runs."""
    return [sys.executable, "-m", "pytest", str(_REPO_ROOT / "claims"), "-m", profile, "-p", "no:cacheprovider",
            *pytest_args]


def user_data_env(dataset: str | None = None, hierarchy: str | None = None) -> dict[str, str]:
    """The environment (:data:`sslre.experiments.DATASET_ENV`, ``HIERARCHY_ENV``) that puts a profile's runs on the
    user's ``dataset`` (e.g. ``imagefolder:TREE``) with its ``hierarchy`` file; paths made absolute (the claims run
    in the repository root). Checked like a Config: :class:`sslre.config.ConfigError` naming a bad value."""
    from sslre.config import Config, absolute_data_paths
    from sslre.experiments import DATASET_ENV, HIERARCHY_ENV

    data = absolute_data_paths({"dataset": dataset or "", "hierarchy": hierarchy or ""})
    env = {e: data[k] for k, e in (("dataset", DATASET_ENV), ("hierarchy", HIERARCHY_ENV)) if data[k]}
    if env:
        Config(dataset=env.get(DATASET_ENV, Config().dataset), hierarchy=env.get(HIERARCHY_ENV, ""))
    return env


def device_env(device: str | None) -> dict[str, str]:
    """The environment that puts a reproduction on ``device`` (``cuda``, or None for the profile's own); checks
    that the GPU is there before anything trains."""
    if device is None:
        return {}
    if device != "cuda":
        raise ConfigError(f"--device {device!r} is not a device sslre reproduce trains on; allowed: cuda (the "
                          "profile's own device without --device)")
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(f"--device cuda, but torch.cuda.is_available() is False on this machine (torch "
                          f"{torch.__version__}); leave out --device to train on the CPU")
    return {DEVICE_ENV: "cuda"}


def check_user_data(profile: str) -> None:
    """Load the user's data once, before anything trains (call it with :func:`user_data_env` set): a tree or
    hierarchy file that cannot be read is one :class:`sslre.data.base.DataError` naming the file and the class
    before a run folder exists, and so is a tree the profile cannot train or measure on -- fewer train images
    than an SSL batch (incomplete batches are dropped) or than the sample level's source images, fewer than 2
    classes, or no test image."""
    from sslre.data import load_dataset_for
    from sslre.data.base import DataError
    from sslre.experiments import runs_for
    from sslre.profiles import Run, profile as get_profile

    specs = runs_for(profile)
    main = specs[Run.MAIN].config
    data = load_dataset_for(main)
    ssl_batch = max((c.batch_size for s in specs.values() if s.kind == "train" for c in s.configs
                     if c.dataset == main.dataset and c.method != "supervised"), default=1)
    sample = get_profile(profile).sample_level.n_images
    n_train, n_test, n_classes = len(data.train), len(data.test), len(data.train.class_names)
    where = main.dataset.split(":", 1)[-1]
    if n_classes < 2:
        raise DataError(f"{where}/train holds {n_classes} class folder; the probes and the claims need at least 2")
    if n_train < max(ssl_batch, sample):
        raise DataError(f"{where}/train holds {n_train} images; profile {profile} needs at least "
                        f"{max(ssl_batch, sample)} (SSL batches of {ssl_batch}, incomplete ones dropped; "
                        f"{sample} sample-level source images): add images")
    if n_test == 0:
        raise DataError(f"{where}/test holds no image; the claims measure test accuracy: add images")


def reproduce(profile: str, out: Path | str, runs_dir: Path | str | None = None, pytest_args: Sequence[str] = (),
              *, train: bool = True, progress: bool = True, against: Path | str | None = None,
              dataset: str | None = None, hierarchy: str | None = None,
              methods: Sequence[str] | None = None, device: str | None = None) -> int:
    """Train what ``profile`` needs (or reuse it), run its claim tests, write ``out/reproduction.{json,html}``.

    ``against``: a reference ``reproduction.json`` (default: the profile's committed reference, e.g.
    ``reports/quick/reproduction.json``, unless ``dataset`` is given); its verdicts are read before the run, so a
    run that rewrites the reference is compared with what was there. A supported <-> refuted flip makes the
    return value 1.

    ``dataset`` / ``hierarchy``: train and measure the profile's runs on the user's data (:func:`user_data_env`);
    use a runs folder of their own (``runs_dir``). The data is checked before anything trains
    (:func:`check_user_data`: :class:`sslre.data.base.DataError` or ``DatasetNotFoundError``, exit code 3).

    ``methods`` (default: the profile's, :attr:`sslre.profiles.Profile.methods`): the generality matrix. Each SSL method (built-in or ``pkg.mod:Class``) trains the registry's
    method-generic roles (:data:`sslre.experiments.GENERIC_ROLES`) and gets every method-generic claim decided in
    ``out/methods/<method>/`` (VICReg, or the first method, in ``out`` itself); one method's ablations stay in its
    column. ``out/reproduction.json`` then gains a ``methods`` matrix (method x claim verdicts, each cell naming
    its report), shown at the top of the HTML report. Each method's report is checked for flips against the
    reference's report of that method, where it has one.

    ``device="cuda"``: every run trains on the GPU in bf16 (:data:`sslre.experiments.GPU_OVERRIDES`: the uint8
    split held on the GPU, augmented there in batches), :data:`sslre.experiments.GPU_JOBS` runs at once on the one
    GPU, and is measured there. Those are other configs than the profile's CPU runs: give such a reproduction its
    own ``out`` (its runs are published under ``out/runs``); a folder already holding runs of another config is
    refused (:func:`sslre.evidence.conflicts`), as is a machine without CUDA (:class:`ConfigError`).

    Returns 0 when every claim has a verdict and nothing flipped, 1 when some claim could not be decided (error /
    not run) or flipped, pytest's code when pytest itself failed to run (>= 2), 3 if runs are missing and
    ``train`` is False, or runs diverged in training -- the report is then written for the claims whose runs
    exist (a partial reproduction).
    """
    import json

    from sslre.claims.calibration import REFERENCES
    from sslre.experiments import METHOD_ENV, method_slug

    methods = _method_order(methods or get_profile(profile).methods)
    data_env = user_data_env(dataset, hierarchy)
    if data_env:
        with _environ(data_env):
            check_user_data(profile)
    data_env.update(device_env(device))
    ref_path = Path(against) if against is not None else (
        _REPO_ROOT / REFERENCES[profile] if profile in REFERENCES and not dataset else None)
    reference = None
    if ref_path is not None and ref_path.is_file():
        try:
            reference = json.loads(ref_path.read_text())
        except (OSError, ValueError) as exc:
            print(f"sslre reproduce: warning: reference {ref_path} unreadable ({exc}); no flip check",
                  file=sys.stderr)
    elif against is not None:
        print(f"sslre reproduce: reference {against} does not exist", file=sys.stderr)
        return 2
    out = Path(out).resolve()
    runs_dir = Path(runs_dir).resolve() if runs_dir is not None else default_runs_dir(profile).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # Profiles that take hours publish each finished run's small files under OUT/runs (sslre.evidence): the claims
    # read them there, and a later call trains only what has no published folder yet.
    evidence = out / "runs" if profile in EVIDENCE_DIRS else None
    with _environ(data_env):
        clash = [c for m in methods for c in conflicts(runs_for(profile, m), evidence)]
    if clash:
        raise ConfigError(f"{evidence} holds {len(clash)} published run(s) of another config than this reproduction's "
                          f"({clash[0]}); publishing would replace them: give this reproduction its own --out")
    t0 = time.perf_counter()
    partial = False
    # Warnings while training (e.g. a random-target level that is not usable) go to RUNS/sslre.log and are
    # counted, instead of landing between progress bars; the report counts them too.
    with run_log(runs_dir, say=lambda line: print(f"sslre reproduce: {line}", file=sys.stderr)) as warned:
        try:
            with _environ(data_env):
                if len(methods) == 1:
                    with _environ({METHOD_ENV: methods[0]}):
                        ensure_runs(profile, runs_dir, train_missing=train, progress=progress, evidence=evidence)
                else:   # every method's runs in one pool
                    ensure_matrix(profile, methods, runs_dir, train, progress=progress, evidence=evidence)
        except MissingRunsError as exc:
            print(f"sslre reproduce: {exc}", file=sys.stderr)
            print("sslre reproduce: running the claims whose runs exist (a partial report)", file=sys.stderr)
            partial = True
    log.info("runs ready in %.1f s under %s", time.perf_counter() - t0, runs_dir)
    if len(methods) > 1:   # every column's runs measured in one pool; each claims session then reads caches
        from sslre.measure import measure_matrix

        with _environ(data_env):
            measure_matrix(profile, methods, runs_dir, progress=progress, evidence=evidence)
    rc_all = 0
    folders = {m: out if m == methods[0] else out / "methods" / method_slug(m) for m in methods}
    envs = {}
    for method, folder in folders.items():
        envs[method] = {**os.environ, **data_env, "SSLRE_RUNS": str(runs_dir), "SSLRE_REPORT_DIR": str(folder),
                        EARLIER_ENV: str(warned.count), METHOD_ENV: method}
        if evidence is not None:
            envs[method][EVIDENCE_ENV] = str(evidence)
    codes = _sessions(profile, folders, envs, pytest_args)
    for method, folder in folders.items():
        ref = reference if method == methods[0] else _method_reference(ref_path, method)
        rc = _check_session(profile, folder, codes[method], ref, ref_path, method if len(methods) > 1 else None)
        if rc >= 2 and rc != 3:
            return rc  # pytest could not run the claims (usage error, internal error, nothing collected)
        rc_all = max(rc_all, rc) if rc != 3 else rc_all
    if evidence is not None and (out / "reproduction.json").is_file():
        write_regime(out / "reproduction.json", evidence, profile)
    if len(methods) > 1:
        write_matrix(out / "reproduction.json", {m: folders[m] for m in methods},
                     learning=_learning(profile, methods, runs_dir, evidence))
    print(f"sslre reproduce: report {out / 'reproduction.html'} ({time.perf_counter() - t0:.0f} s)", flush=True)
    from sslre.claims.check import PARTIAL

    return PARTIAL if partial and rc_all in (0, PARTIAL) else rc_all


def _method_order(methods: Sequence[str] | None) -> list[str]:
    """``methods`` without repeats, VICReg (the paper's method, whose report is ``OUT`` itself) first; each checked
    like a Config's method (:class:`sslre.config.ConfigError` naming a bad one). Supervised is no SSL method."""
    from sslre.config import Config, ConfigError

    methods = list(dict.fromkeys(m.strip() for m in (methods or ["vicreg"]) if m.strip())) or ["vicreg"]
    for m in methods:
        if m == "supervised":
            raise ConfigError("--methods: 'supervised' is the supervised baseline, not an SSL method of the matrix")
        Config(method=m)
    return sorted(methods, key=lambda m: m != "vicreg")


def _method_reference(ref_path: Path | None, method: str) -> dict | None:
    """The reference report of ``method`` beside ``ref_path`` (``methods/<method>/reproduction.json``), if any."""
    import json

    from sslre.experiments import method_slug

    if ref_path is None:
        return None
    path = ref_path.parent / "methods" / method_slug(method) / "reproduction.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _sessions(profile: str, folders: dict[str, Path], envs: dict[str, dict], pytest_args: Sequence[str]
              ) -> dict[str, int]:
    """Run the claims session of every method (pytest in a subprocess; they only read measurement caches), as many
    at once as there are jobs (``$SSLRE_JOBS``). The first method's output is shown; the others' go to
    ``<folder>/claims.log``. Returns pytest's exit code per method."""
    from concurrent.futures import ThreadPoolExecutor

    from sslre import parallel

    cmd = claims_command(profile, pytest_args)
    first = next(iter(folders))

    def one(method: str) -> int:
        folder = folders[method]
        if method == first:
            print(f"sslre reproduce{'' if len(folders) == 1 else f' [{method}]'}:", " ".join(cmd), flush=True)
            return subprocess.call(cmd, cwd=_REPO_ROOT, env=envs[method])
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "claims.log", "w") as log_file:
            rc = subprocess.call(cmd, cwd=_REPO_ROOT, env=envs[method], stdout=log_file, stderr=subprocess.STDOUT)
        print(f"sslre reproduce [{method}]: claims session ended ({rc}); its output: {folder / 'claims.log'}",
              flush=True)
        return rc

    with ThreadPoolExecutor(max_workers=max(1, min(parallel.jobs(), len(folders)))) as pool:
        futures = {m: pool.submit(one, m) for m in folders}
        return {m: f.result() for m, f in futures.items()}


def _check_session(profile: str, folder: Path, rc: int, reference: dict | None, ref_path: Path | None,
                   method: str | None) -> int:
    """Check the report one claims session wrote into ``folder`` (and flips against ``reference``)."""
    tag = f" [{method}]" if method else ""
    for name in ("reproduction.json", "reproduction.html"):
        if not (folder / name).exists():
            print(f"sslre reproduce{tag}: warning: {folder / name} was not written", file=sys.stderr)
    if rc >= 2 and rc != 1:
        return rc
    from sslre.claims.check import main as check_main

    rc_check = check_main([str(folder / "reproduction.json"), "--profile", profile])
    if reference is not None and (folder / "reproduction.json").is_file():
        from sslre.claims.check import flips

        fl, changes, warns = flips(folder / "reproduction.json", reference)
        for w in warns + [f"changed against the reference (allowed): {c}" for c in changes]:
            print(f"sslre reproduce{tag}: {w}")
        for f in fl:
            print(f"sslre reproduce{tag}: FLIP against the reference {ref_path}: {f}", file=sys.stderr)
        if fl:
            rc_check = max(rc_check, 1)
    return rc_check


def write_regime(primary: Path, evidence: Path, profile: str) -> dict:
    """Add ``regime`` (:func:`sslre.regime.regime_entry` on the published runs under ``evidence``; every VICReg
    registry run expected) to the ``primary`` report and render its HTML again; returns the entry."""
    from sslre.experiments import runs_for
    from sslre.regime import regime_entry

    specs = runs_for(profile, "vicreg")
    expected = [spec.run_dir("", seed).name for spec in specs.values() if spec.kind == "train" for seed in spec.seeds]
    return _amend(primary, "regime", regime_entry(evidence, expected))


def _amend(primary: Path, key: str, entry: dict) -> dict:
    """Set ``key`` of the report ``primary`` to ``entry`` (written atomically) and render its HTML again."""
    import json

    from sslre import io
    from sslre.report.html import render_report

    doc = json.loads(primary.read_text())
    doc[key] = entry
    io.write_json(doc, primary, indent=1, allow_nan=False)
    render_report(primary, primary.with_suffix(".html"))
    return entry


def _learning(profile: str, methods: Sequence[str], runs_dir: Path, evidence: Path | None) -> dict:
    """``{method: {"linear": [gain per seed], "ncc": [...], "seeds": [...]}}``: does each method's main run learn
    at all (class-level test accuracy, last layer, last epoch minus epoch 0; :func:`sslre.regime.class_gains`)?"""
    from sslre.evidence import resolve
    from sslre.experiments import runs_for
    from sslre.measure import read_table
    from sslre.profiles import Run
    from sslre.regime import class_gains

    out = {}
    for method in methods:
        spec = runs_for(profile, method)[Run.MAIN]
        rows = {"seeds": [], "linear": [], "ncc": []}
        for seed in spec.seeds:
            csv = resolve(spec, seed, runs_dir, evidence) / "measurements.csv"
            if not csv.is_file():
                continue
            g = class_gains(read_table(csv))
            rows["seeds"].append(seed)
            rows["linear"].append(round(g["linear"], 4))
            rows["ncc"].append(round(g["ncc"], 4))
        out[method] = rows
    return out


def write_matrix(primary: Path, folders: dict[str, Path], learning: dict | None = None) -> dict:
    """Add the method x claim matrix to the ``primary`` report (``methods``: the column order, each method's
    report relative to it, each claim's verdict per method and, with ``learning``, each main run's class-level
    gains per seed) and render its HTML again; returns the matrix."""
    import json
    import os as _os

    from sslre.claims.catalogue import CLAIM_IDS, CLAIM_METHOD
    from sslre.regime import LEARNS_GAIN

    matrix = {"order": list(folders), "reports": {}, "verdicts": {c: {} for c in CLAIM_IDS}, "summary": {},
              "owners": dict(CLAIM_METHOD), "learning": learning or {}, "learns_gain": LEARNS_GAIN}
    for method, folder in folders.items():
        path = folder / "reproduction.json"
        rel = _os.path.relpath(folder / "reproduction.html", primary.parent).replace(_os.sep, "/")
        matrix["reports"][method] = rel
        try:
            rep = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        matrix["summary"][method] = rep.get("summary", {})
        for c in rep.get("claims", []):
            if c.get("id") in matrix["verdicts"]:
                matrix["verdicts"][c["id"]][method] = c.get("verdict")
    return _amend(primary, "methods", matrix)


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    """``os.environ`` with ``values`` set inside the block, restored after it."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
