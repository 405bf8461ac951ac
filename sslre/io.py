"""Atomic file writes: the one writer of every file sslre leaves behind (run files, caches, tables, reports).

Each write goes to a temporary ``.NAME.XXXX.tmp`` in the destination's folder, is flushed and fsynced, gets the
mode an ordinary ``open`` would give it (``0o666 & ~umask``; ``mkstemp`` alone makes 0600), and is then moved
onto the destination with ``os.replace``. A reader, or a run resumed after ``kill -9``, sees the old file or the
complete new one, never a partial write. A kill before the replace leaves only the temporary behind;
:func:`remove_stale_temps` clears those in a folder its caller owns.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, IO

__all__ = ["atomic_write", "write_text", "write_json", "save_torch", "remove_stale_temps", "file_sha256"]

TEMP_GLOB = ".*.tmp"


def atomic_write(path: str | os.PathLike, mode: str, write: Callable[[IO], Any]) -> Path:
    """``write(file)`` into a temporary file beside ``path`` (``mode`` ``"wb"`` or ``"w"``, text as UTF-8), then
    fsync, the umask's mode and ``os.replace`` onto ``path`` (parent folders are created). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, "w", lambda f: f.write(text))


def write_json(obj: Any, path: str | os.PathLike, **dumps: Any) -> Path:
    """Write ``json.dumps(obj, **dumps)`` and a final newline to ``path`` atomically."""
    return write_text(json.dumps(obj, **dumps) + "\n", path)


def save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically."""
    import torch

    return atomic_write(path, "wb", lambda f: torch.save(obj, f))


def remove_stale_temps(*folders: str | os.PathLike) -> None:
    """Delete the temporaries that writes killed before their ``os.replace`` left in ``folders`` (the real files
    are intact). Only for folders the caller owns (under their lock): another writer's temporary is live."""
    for folder in map(Path, folders):
        if folder.is_dir():
            for p in folder.glob(TEMP_GLOB):
                p.unlink(missing_ok=True)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
