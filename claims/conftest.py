"""Session fixtures of the claim tests: ``profile`` and ``measurements`` (the pipeline contract).

``profile`` is parametrized quick / small / medium / full, each carrying its marker, so ``pytest claims -m quick``
selects the quick instances. ``measurements`` is built once per profile per session
(:func:`sslre.measure.build_measurements`):

- quick trains whatever is missing (embedded synthetic data, tiny models);
- small / medium / full only read existing runs under ``$SSLRE_RUNS`` (default ``runs/<profile>`` under the repo root)
  and, for small and medium, the published runs (``$SSLRE_EVIDENCE``, default ``reports/<report>/runs``)
  and otherwise **fail** with the exact ``sslre`` commands that make them -- a plain ``pytest claims`` never
  starts a long training by surprise.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from sslre.experiments import MissingRunsError
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
    """The profile's :class:`sslre.measure.Measurements` (trained if quick; else existing runs or a failure).
    Session-scoped: built once per profile; pytest keeps a failure for the profile's other tests too."""
    from sslre.measure import build_measurements

    logging.getLogger("sslre").setLevel(logging.INFO)
    try:
        return build_measurements(profile, _runs_dir(profile), train_missing=(profile == "quick"),
                                  progress=bool(os.environ.get("SSLRE_PROGRESS", "")),
                                  status=terminal_status(pytestconfig))  # runs / checkpoints done, past capture
    except MissingRunsError as exc:
        pytest.fail(str(exc), pytrace=False)
