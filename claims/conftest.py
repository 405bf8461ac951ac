"""Session fixtures of the claim tests: ``profile`` and ``measurements`` (the pipeline contract).

``profile`` is parametrized quick / small / medium / full, each carrying its marker, so ``pytest claims -m quick``
selects the quick instances. ``measurements`` is built once per profile per session
(:func:`sslre.measure.build_measurements`):

- quick trains whatever is missing (embedded synthetic data, tiny models);
- small / medium / full only read existing runs under ``$SSLRE_RUNS`` (default ``runs/<profile>`` under the repo
  root) and, for small and medium, the published runs (``$SSLRE_EVIDENCE``, default ``reports/<report>/runs``) --
  a plain ``pytest claims`` never starts a long training by surprise. With some runs missing, each claim runs on
  what exists; a claim that reads a missing run is recorded as ``not run`` with the exact ``sslre`` commands that
  make it (``_runs_present``), and the session ends with one line saying how many runs and claims are missing.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from sslre.claims.plugin import note_missing_runs
from sslre.runlog import terminal_status


def _runs_dir(profile: str) -> Path:
    env = os.environ.get("SSLRE_RUNS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "runs" / profile


@pytest.fixture(
    scope="session",
    params=[pytest.param("quick", marks=pytest.mark.quick),
            pytest.param("small", marks=pytest.mark.small),
            pytest.param("medium", marks=pytest.mark.medium),
            pytest.param("full", marks=pytest.mark.full)],
)
def profile(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def measurements(profile, pytestconfig):
    """The profile's :class:`sslre.measure.Measurements` (trained if quick; else the runs that exist, the missing
    ones in ``.partial``). Session-scoped: built once per profile."""
    from sslre.imported import ENV as IMPORTED
    from sslre.measure import build_measurements

    logging.getLogger("sslre").setLevel(logging.INFO)
    if os.environ.get(IMPORTED):    # a user's imported checkpoints, decided as the main run (sslre.imported)
        from sslre.imported import imported_measurements

        m = imported_measurements(os.environ[IMPORTED].split(os.pathsep), profile)
    else:
        m = build_measurements(profile, _runs_dir(profile), train_missing=(profile == "quick"), partial=True,
                               progress=bool(os.environ.get("SSLRE_PROGRESS", "")),
                               status=terminal_status(pytestconfig))  # runs / checkpoints done, past capture
    if m.partial is not None:
        note_missing_runs(pytestconfig, profile, m.partial.labels(), m.partial.total,
                          [c for cmds in m.partial.commands.values() for c in cmds])
    return m


@pytest.fixture(autouse=True)
def _runs_present(request):
    """A claim test whose runs are missing from a partial run set ends as ``not run``, with the commands; one
    method's ablation (``CLAIM_METHOD``) is ``not applicable`` in another method's column of the matrix."""
    mark = request.node.get_closest_marker("claim")
    if mark is None or "measurements" not in request.fixturenames:
        return
    m = request.getfixturevalue("measurements")
    from sslre.claims.catalogue import CLAIM_METHOD

    owner = CLAIM_METHOD.get(mark.kwargs.get("id"))
    if owner is not None and m.method != owner:
        rec = request.getfixturevalue("claim_record")
        rec.use(m)
        rec.not_applicable(
            f"an ablation of {owner} (its sentence is about {owner}): decided in the {owner} column of the method "
            f"matrix, not for {m.method}")
    absent = m.missing_for(mark.kwargs.get("id"))
    if absent:
        request.getfixturevalue("claim_record").runs_missing(m, absent)
