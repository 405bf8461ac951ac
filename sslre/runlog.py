"""Where sslre's own warnings go during long phases: a log file in the runs folder, counted, off the terminal.

Training a target generator or measuring runs can log warnings (``target level vit@0 is not usable: ...``).
Printed to the terminal they land between progress bars and scroll away; inside a pytest session they are
captured and never seen. :func:`run_log` sends the ``sslre`` loggers' records to ``RUNS/sslre.log``
(:data:`LOG_NAME`) instead and counts the warnings, so that the phase can end with one line ("3 warnings, see
RUNS/sslre.log") and the report can carry the count (:func:`summary`, ``reproduction.json``'s ``warnings``).

:func:`terminal_status` gives a callable that writes one status line to the terminal from inside a pytest session
(past output capture), for phases that run in a fixture.
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["LOG_NAME", "EARLIER_ENV", "WarningCount", "run_log", "add_counted", "summary", "terminal_status"]

LOG_NAME = "sslre.log"
#: Warnings counted by an earlier process of the same command (``sslre reproduce``'s training phase), passed on
#: to the pytest subprocess so that the report counts them too.
EARLIER_ENV = "SSLRE_EARLIER_WARNINGS"


class WarningCount(logging.Handler):
    """Counts WARNING-and-above records (``.count``) and keeps the first few messages (``.first``)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(record.getMessage())


class _LazyFileHandler(logging.FileHandler):
    """A FileHandler that creates its folder when the first record opens the file."""

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


_SESSION = WarningCount()  # every warning counted by run_log in this process
_LOGS: list[str] = []


@contextlib.contextmanager
def run_log(runs_dir: str | os.PathLike, *, say: Callable[[str], None] | None = None) -> Iterator[WarningCount]:
    """Within the block, ``sslre`` log records (INFO and above) go to ``runs_dir/sslre.log``, not the terminal.

    Yields the block's :class:`WarningCount`. At the end, ``say`` (if given) gets one line when there were
    warnings. Re-entrant: an inner block for the same folder adds nothing.
    """
    logger = logging.getLogger("sslre")
    path = Path(runs_dir) / LOG_NAME
    if any(getattr(h, "_sslre_path", None) == str(path) for h in logger.handlers):
        yield WarningCount()
        return
    to_file = _LazyFileHandler(path, encoding="utf-8", delay=True)  # no file (nor folder) until a record comes
    to_file._sslre_path = str(path)  # marks it for re-entrancy
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    count = WarningCount()
    old_level, old_propagate = logger.level, logger.propagate
    for h in (to_file, count, _SESSION):
        logger.addHandler(h)
    # Off the terminal: a warning printed between progress bars is lost, and the log file keeps it.
    logger.propagate = False
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    if str(path) not in _LOGS:
        _LOGS.append(str(path))
    try:
        yield count
    finally:
        for h in (to_file, count, _SESSION):
            logger.removeHandler(h)
        to_file.close()
        logger.setLevel(old_level)
        logger.propagate = old_propagate
        if say is not None and count.count:
            say(f"{count.count} warning{'s' if count.count != 1 else ''} (first: {count.first[0]}); see {path}")


def add_counted(count: int, first: list[str] = ()) -> None:
    """Add warnings counted by :func:`run_log` in a worker process to this process's :func:`summary`."""
    _SESSION.count += int(count)
    _SESSION.first.extend(list(first)[: max(0, 5 - len(_SESSION.first))])


def summary() -> dict:
    """``{"count": n, "first": [...], "logs": [...]}``: warnings counted in this process (plus an earlier
    process's count from :data:`EARLIER_ENV`), for ``reproduction.json``."""
    try:
        earlier = max(0, int(os.environ.get(EARLIER_ENV, "0")))
    except ValueError:
        earlier = 0
    return {"count": _SESSION.count + earlier, "first": list(_SESSION.first), "logs": list(_LOGS)}


def terminal_status(config) -> Callable[[str], None]:
    """A callable writing one line to the terminal from inside a pytest session (fixtures are captured)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if reporter is None:
            return
        ctx = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
        with ctx:
            reporter.write_line(f"sslre: {line}")

    return write
