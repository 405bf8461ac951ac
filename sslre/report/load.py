"""Reading ``reproduction.json`` for the report: strict about the file, lenient about its contents.

The file itself must be readable JSON whose top level is an object (otherwise :class:`ReportError`,
naming the file and the problem). Inside it, every key of ``docs/reproduction-schema.md`` is optional
for the renderer: an older or partial run is shown with its gaps marked, never rejected. The helpers
here turn loosely-typed values into display text so that :mod:`sslre.report.html` never has to
guess at types.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

from sslre.claims.catalogue import BY_ID, CLAIM_IDS

#: The schema version this renderer was written against (``docs/reproduction-schema.md``).
SCHEMA_VERSION = 1

#: Verdict words in display order; anything else found in a file is shown verbatim as "unknown".
VERDICTS = ("supported", "refuted", "inconclusive", "not applicable", "not run", "error")

#: Shown wherever a value is absent from the JSON.
MISSING = "—"

#: Every claim ID of ``claims-catalogue.md`` (fixed IDs, from the package's embedded copy); the report
#: lists the ones a file lacks and fills a missing paper reference / statement from it.
CATALOGUE_IDS: tuple[str, ...] = CLAIM_IDS


class ReportError(ValueError):
    """The reproduction JSON cannot be read or is not a reproduction file; the message says why."""


def load_reproduction(json_path: str | os.PathLike) -> dict:
    """Read and minimally validate a ``reproduction.json``.

    Raises :class:`ReportError` when the file is missing or unreadable, is not valid JSON (with line
    and column), its top level is not an object, or ``claims``/``runs``/``environment`` have the
    wrong container type. Everything else is left for the renderer to show as present or missing.
    """
    path = Path(json_path)
    if path.is_dir():
        raise ReportError(f"{path}: is a directory, expected a reproduction.json file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file (expected a reproduction.json written by the claims plugin)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: cannot read the file: {e}") from None
    if not text.strip():
        raise ReportError(f"{path}: the file is empty (an interrupted claims session?)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}: not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    if not isinstance(data, dict):
        raise ReportError(
            f"{path}: top level is a JSON {type(data).__name__}, expected an object with 'claims' "
            "(docs/reproduction-schema.md)"
        )
    for key, kind in (("claims", list), ("runs", dict), ("environment", dict), ("summary", dict)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise ReportError(
                f"{path}: '{key}' is a JSON {type(data[key]).__name__}, expected a "
                f"{'list' if kind is list else 'object'} (docs/reproduction-schema.md)"
            )
    return data


def normalize_verdict(value: Any) -> str:
    """A verdict as one of :data:`VERDICTS`, ``"not recorded"`` when absent, else the lower-cased text.

    >>> normalize_verdict("Not_Run"), normalize_verdict(None), normalize_verdict("SUPPORTED")
    ('not run', 'not recorded', 'supported')
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return "not recorded"
    text = str(value).strip().lower().replace("_", " ").replace("-", " ")
    return text


def fmt_number(value: Any, digits: int = 4) -> str:
    """A number for display: ``digits`` significant digits, ``—`` for None, text kept as text.

    >>> fmt_number(0.123456), fmt_number(None), fmt_number(float("nan")), fmt_number(True)
    ('0.1235', '—', 'NaN', 'True')
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_number(v, digits) for v in value) + "]"
    return str(value)


def fmt_duration(seconds: Any) -> str:
    """Seconds as ``1 h 02 min``, ``13 min 32 s`` or ``3.2 s``; ``—`` when absent or not a number.

    >>> fmt_duration(812.4), fmt_duration(3.21), fmt_duration(3725), fmt_duration(None)
    ('13 min 32 s', '3.2 s', '1 h 02 min', '—')
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return MISSING
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def get(mapping: Any, *keys: str, default: Any = None) -> Any:
    """``mapping[k1][k2]...`` or ``default`` when any level is missing or not an object."""
    cur = mapping
    for k in keys:
        if not isinstance(cur, Mapping) or k not in cur:
            return default
        cur = cur[k]
    return default if cur is None else cur


def catalogue_field(claim_id: Any, field: str) -> str | None:
    """``paper`` or ``statement`` of a catalogue claim, or None for an unknown ID."""
    entry = BY_ID.get(claim_id) if isinstance(claim_id, str) else None
    return getattr(entry, field, None) if entry is not None else None
