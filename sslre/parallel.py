"""One runner for independent jobs (trainings, measurements): worker processes with one progress bar.

Each job is deterministic on its own, so running them in parallel, in any order, changes no number.
``$SSLRE_JOBS`` (read by :func:`jobs`) sets how many run at once.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator

#: Worker processes start fresh (``spawn``): no inherited torch thread pools or open files.
CONTEXT = mp.get_context("spawn")


def jobs(default: int | None = None) -> int:
    """How many jobs run at once: ``$SSLRE_JOBS`` if set, else ``default`` (None: the CPU count); at least 1."""
    env = os.environ.get("SSLRE_JOBS")
    n = int(env) if env else (os.cpu_count() or 1) if default is None else default
    return max(1, n)


def run_parallel(fn: Callable[[Any], Any], work: Iterable[Any], n_jobs: int, *, desc: str, progress: bool = True,
                 label: Callable[[Any], str] = str, init: tuple[Callable, tuple] | None = None,
                 poll_s: float | None = None) -> Iterator[list]:
    """Run ``fn(item)`` for every item of ``work`` in ``n_jobs`` worker processes, with a tqdm bar.

    ``init``: ``(function, args)`` each worker calls first. ``label(result)``: the bar's postfix. Yields the list
    of results finished since the last yield (``[]`` every ``poll_s`` seconds while nothing finished, so a
    caller can report other progress; without ``poll_s`` only when something finished). A job's exception is
    raised here; jobs finished before it keep their results (they wrote them to disk).
    """
    from tqdm.auto import tqdm

    initializer, initargs = init or (None, ())
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=CONTEXT, initializer=initializer,
                             initargs=initargs) as pool:
        pending = {pool.submit(fn, item) for item in work}
        bar = tqdm(total=len(pending), desc=f"{desc} {len(pending)} runs x{n_jobs}", disable=not progress)
        while pending:
            finished, pending = wait(pending, timeout=poll_s, return_when=FIRST_COMPLETED)
            results = []
            for f in finished:
                results.append(f.result())
                bar.set_postfix_str(label(results[-1]))
                bar.update()
            yield results
        bar.close()
