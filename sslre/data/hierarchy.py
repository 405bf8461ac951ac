"""Hierarchy files: which superclass each class of an ImageFolder tree belongs to.

The superclass level of the measurements (Sec. 3: samples, classes, superclasses) needs a grouping of the classes.
For ``imagefolder:<path>`` datasets it comes from a small file (``Config.hierarchy``, ``--hierarchy FILE``) in one
of these formats, chosen by the file's extension:

``.json`` (grouped, preferred)::

    {"animal": ["cat", "dog"], "vehicle": ["truck"]}

``.json`` (flat, one superclass per class)::

    {"cat": "animal", "dog": "animal", "truck": "vehicle"}

``.csv`` (one ``class,superclass`` row per class; an optional first row ``class,superclass`` is a header)::

    class,superclass
    cat,animal
    dog,animal
    truck,vehicle

Rules: every class folder of the tree appears exactly once; a name that is not a class folder, a class listed twice,
a class of the tree that is missing, or a file that cannot be read or parsed is a :class:`DataError` (one line naming
the file and the class at fault). Superclass ids follow the order in which the superclasses first appear when the
classes are taken in ImageFolder's sorted order.

Without a hierarchy file every class is its own superclass (superlabels = labels, superclass names = class names):
:attr:`sslre.data.ImageSet.has_hierarchy` is then ``False`` and the superclass claims do not apply.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from .base import DataError, DatasetNotFoundError

__all__ = ["read_hierarchy", "superclasses_of"]

_HEADER = ("class", "superclass")


class _Pairs(list):
    """A JSON object as its ``(key, value)`` pairs in file order (a repeated key stays visible)."""


def read_hierarchy(path: str | os.PathLike) -> list[tuple[str, str]]:
    """The ``(class, superclass)`` pairs of a hierarchy file, in file order (duplicates kept for the caller to name).

    ``.csv`` files are read as CSV, every other extension as JSON (grouped or flat, see the module docstring).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetNotFoundError(f"hierarchy file {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"hierarchy file {path} cannot be read: {e}") from e
    if path.suffix.lower() == ".csv":
        return _csv_pairs(text, path)
    try:
        table = json.loads(text, object_pairs_hook=_Pairs)  # (key, value) pairs: repeated keys stay visible
    except json.JSONDecodeError as e:
        raise DataError(f"hierarchy file {path} is not valid JSON ({e}); expected "
                        '{"superclass": ["class", ...], ...}') from e
    return _json_pairs(table, path)


def _json_pairs(table: Any, where: Any) -> list[tuple[str, str]]:
    """Pairs of a parsed JSON hierarchy: ``[(key, value), ...]`` of the grouped or the flat form."""
    shape = 'expected {"superclass": ["class", ...], ...} or {"class": "superclass", ...}'
    if not isinstance(table, _Pairs) or not table:
        raise DataError(f"hierarchy file {where} holds no object of superclasses; {shape}")
    pairs: list[tuple[str, str]] = []
    for key, value in table:
        if isinstance(value, str):                       # flat: "class": "superclass"
            pairs.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(c, str) for c in value):
            pairs += [(c, key) for c in value]           # grouped: "superclass": ["class", ...]
        elif isinstance(value, list) and not value:
            raise DataError(f"hierarchy file {where}: superclass {key!r} lists no class")
        else:
            raise DataError(f"hierarchy file {where}: entry {key!r} holds {json.dumps(value)[:60]}, not a list of "
                            f"class names nor a superclass name; {shape}")
    return pairs


def _csv_pairs(text: str, where: Path) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    for n, row in enumerate(rows, 1):
        cells = tuple(cell.strip() for cell in row)
        if n == 1 and tuple(c.lower() for c in cells) == _HEADER:
            continue
        if len(cells) != 2 or not all(cells):
            raise DataError(f"hierarchy file {where}: row {n} is {','.join(row)!r}; every row must be class,superclass")
        pairs.append((cells[0], cells[1]))
    if not pairs:
        raise DataError(f"hierarchy file {where} holds no class,superclass row")
    return pairs


def superclasses_of(classes: tuple[str, ...], hierarchy: str | os.PathLike | Mapping | None
                    ) -> tuple[torch.Tensor, tuple[str, ...]]:
    """``((C,) int64 superclass id of each class, superclass names)`` for the tree's ``classes``.

    ``hierarchy``: a file path (module docstring), a mapping in either JSON form, or ``None`` / ``""`` (every class
    its own superclass: ``(arange(C), classes)``).
    """
    if hierarchy is None or (isinstance(hierarchy, (str, os.PathLike)) and not str(hierarchy)):
        return torch.arange(len(classes)), classes
    if isinstance(hierarchy, Mapping):
        where: Any = "(given as a mapping)"
        pairs = _json_pairs(_Pairs(hierarchy.items()), where)
    else:
        where = Path(hierarchy).expanduser()
        pairs = read_hierarchy(where)
    known = set(classes)
    table: dict[str, str] = {}
    for cls, sup in pairs:
        if cls not in known:
            shown = ", ".join(classes[:20]) + (", ..." if len(classes) > 20 else "")
            raise DataError(f"hierarchy file {where}: class {cls!r} is not a class folder of the tree "
                            f"(classes: {shown})")
        if cls in table:
            raise DataError(f"hierarchy file {where}: class {cls!r} is listed twice (under {table[cls]!r} "
                            f"and {sup!r}); every class appears exactly once")
        table[cls] = sup
    missing = [c for c in classes if c not in table]
    if missing:
        more = f" (and {len(missing) - 1} more: {', '.join(missing[1:6])})" if len(missing) > 1 else ""
        raise DataError(f"hierarchy file {where}: no superclass for class {missing[0]!r} of the tree{more}; "
                        "every class folder appears exactly once")
    names: list[str] = []
    for c in classes:
        if table[c] not in names:
            names.append(table[c])
    return torch.tensor([names.index(table[c]) for c in classes], dtype=torch.int64), tuple(names)
