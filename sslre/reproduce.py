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

from sslre.evidence import ENV as EVIDENCE_ENV, EVIDENCE_DIRS
from sslre.experiments import MissingRunsError, default_runs_dir, ensure_runs
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
              dataset: str | None = None, hierarchy: str | None = None) -> int:
    """Train what ``profile`` needs (or reuse it), run its claim tests, write ``out/reproduction.{json,html}``.

    ``against``: a reference ``reproduction.json`` (default: the profile's committed reference, e.g.
    ``reports/quick/reproduction.json``, unless ``dataset`` is given); its verdicts are read before the run, so a
    run that rewrites the reference is compared with what was there. A supported <-> refuted flip makes the
    return value 1.

    ``dataset`` / ``hierarchy``: train and measure the profile's runs on the user's data (:func:`user_data_env`);
    use a runs folder of their own (``runs_dir``). The data is checked before anything trains
    (:func:`check_user_data`: :class:`sslre.data.base.DataError` or ``DatasetNotFoundError``, exit code 3).

    Returns 0 when every claim has a verdict and nothing flipped, 1 when some claim could not be decided (error /
    not run) or flipped, pytest's code when pytest itself failed to run (>= 2), 3 if runs are missing and
    ``train`` is False, or runs diverged in training -- the report is then written for the claims whose runs
    exist (a partial reproduction).
    """
    import json

    from sslre.claims.calibration import REFERENCES

    data_env = user_data_env(dataset, hierarchy)
    if data_env:
        with _environ(data_env):
            check_user_data(profile)
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
    t0 = time.perf_counter()
    try:
        # Warnings while training (e.g. a random-target level that is not usable) go to RUNS/sslre.log and are
        # counted, instead of landing between progress bars; the report counts them too.
        with run_log(runs_dir, say=lambda line: print(f"sslre reproduce: {line}", file=sys.stderr)) as warned, \
                _environ(data_env):
            ensure_runs(profile, runs_dir, train_missing=train, progress=progress, evidence=evidence)
        partial = False
    except MissingRunsError as exc:
        print(f"sslre reproduce: {exc}", file=sys.stderr)
        print("sslre reproduce: running the claims whose runs exist (a partial report)", file=sys.stderr)
        partial = True
    log.info("runs ready in %.1f s under %s", time.perf_counter() - t0, runs_dir)
    env = {**os.environ, **data_env, "SSLRE_RUNS": str(runs_dir), "SSLRE_REPORT_DIR": str(out),
           EARLIER_ENV: str(warned.count)}
    if evidence is not None:
        env[EVIDENCE_ENV] = str(evidence)
    cmd = claims_command(profile, pytest_args)
    print("sslre reproduce:", " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, cwd=_REPO_ROOT, env=env)
    for name in ("reproduction.json", "reproduction.html"):
        if not (out / name).exists():
            print(f"sslre reproduce: warning: {out / name} was not written", file=sys.stderr)
    if rc >= 2 and rc != 1:
        return rc  # pytest could not run the claims (usage error, internal error, nothing collected)
    from sslre.claims.check import PARTIAL
    from sslre.claims.check import main as check_main

    rc_check = check_main([str(out / "reproduction.json"), "--profile", profile])
    if reference is not None and (out / "reproduction.json").is_file():
        from sslre.claims.check import flips

        fl, changes, warns = flips(out / "reproduction.json", reference)
        for w in warns + [f"changed against {ref_path.name} (allowed): {c}" for c in changes]:
            print(f"sslre reproduce: {w}")
        for f in fl:
            print(f"sslre reproduce: FLIP against the reference {ref_path}: {f}", file=sys.stderr)
        if fl:
            rc_check = max(rc_check, 1)
    print(f"sslre reproduce: report {out / 'reproduction.html'} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return PARTIAL if partial and rc_check in (0, PARTIAL) else rc_check


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
