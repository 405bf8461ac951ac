"""The one runner of independent jobs (sslre.parallel): SSLRE_JOBS, results, errors."""
from __future__ import annotations

import pytest

from sslre import parallel


def test_jobs_reads_the_environment(monkeypatch):
    monkeypatch.setenv("SSLRE_JOBS", "3")
    assert parallel.jobs() == 3 and parallel.jobs(1) == 3
    monkeypatch.setenv("SSLRE_JOBS", "0")
    assert parallel.jobs() == 1
    monkeypatch.delenv("SSLRE_JOBS")
    assert parallel.jobs(1) == 1 and parallel.jobs() >= 1


def test_run_parallel_returns_every_result_and_raises_a_jobs_error():
    got = [r for batch in parallel.run_parallel(abs, [-1, -2, -3], 2, desc="t", progress=False) for r in batch]
    assert sorted(got) == [1, 2, 3]
    with pytest.raises(ValueError, match="invalid literal"):
        for _ in parallel.run_parallel(int, ["7", "x"], 2, desc="t", progress=False):
            pass
