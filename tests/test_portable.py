"""Committed files speak of the project alone: no tracked text file holds an absolute path into a work, temp or
home folder of some machine (a user's checkout has none of them). Provenance is written as a command instead."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Folders that exist on one machine only: work trees, temp folders, home folders (POSIX, macOS, Windows).
_MACHINE_DIRS = ("work", "tmp", "home", "root", "Users", "private/var/folders", "var/folders", "scratch")
MACHINE_PATH = re.compile(r"(?<![\w.$~-])/(?:" + "|".join(map(re.escape, _MACHINE_DIRS)) + r")/[\w.-]"
                          r"|\b[A-Za-z]:\\(?:Users|Temp)\\")
#: Tracked files that hold such a path on purpose (none today); each needs a one-line reason.
ALLOWED: dict[str, str] = {}


def _tracked_text_files() -> list[Path]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    out = []
    for name in names.decode().split("\0"):
        path = REPO / name
        if not name or name in ALLOWED or not path.is_file():
            continue
        head = path.read_bytes()[:8192]
        if b"\0" not in head:     # binary files (images, archives) hold no readable paths
            out.append(path)
    return out


def test_the_pattern_catches_machine_paths_and_spares_project_paths():
    hits = ["/" + "work/main/sslre", "/" + "tmp/pytest-of-x/run", "/" + "home/ann/data", "C:\\" + "Users\\ann",
            "'/" + "root/.cache/x'", "/" + "Users/ann/runs"]
    misses = ["$SSLRE_RUNS/vicreg-s0", "reports/quick/runs", "~/.cache/sslre/data", "../shared/data/x",
              "https://example.org/home/page", "a/tmp/b", "sslre/work/x"]
    assert [bool(MACHINE_PATH.search(s)) for s in hits] == [True] * len(hits)
    assert [bool(MACHINE_PATH.search(s)) for s in misses] == [False] * len(misses)


def test_no_tracked_file_holds_an_absolute_machine_path():
    me = Path(__file__).resolve()
    found = []
    for path in _tracked_text_files():
        if path == me:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            m = MACHINE_PATH.search(line)
            if m:
                found.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()[:120]}")
    assert found == [], "absolute machine paths in tracked files (write them relative, or as $SSLRE_RUNS/...):\n" + \
        "\n".join(found[:30])
