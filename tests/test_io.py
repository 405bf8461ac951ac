"""sslre.io: the one atomic writer of sslre's files."""
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import sslre
from sslre import io


def _names(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def test_write_text_replaces_creates_folders_and_leaves_no_temp(tmp_path):
    p = tmp_path / "sub" / "out.html"
    assert io.write_text("one", p) == p
    io.write_text("two ✔", p)
    assert p.read_text(encoding="utf-8") == "two ✔"
    assert _names(p.parent) == ["out.html"]


def test_json_round_trip_and_bytes(tmp_path):
    doc = {"b": [1, 2.5, None], "a": {"x": "y"}}
    p = io.write_json(doc, tmp_path / "d.json", indent=2, sort_keys=True)
    assert json.loads(p.read_text()) == doc
    assert p.read_text() == json.dumps(doc, indent=2, sort_keys=True) + "\n"


def test_json_that_cannot_be_written_keeps_the_old_file(tmp_path):
    p = io.write_json({"a": 1}, tmp_path / "r.json", indent=1, allow_nan=False)
    with pytest.raises(ValueError):
        io.write_json({"a": float("nan")}, p, indent=1, allow_nan=False)  # JSON has no NaN
    assert json.loads(p.read_text()) == {"a": 1}
    assert _names(tmp_path) == ["r.json"]


def test_torch_round_trip(tmp_path):
    p = io.save_torch({"x": torch.arange(3)}, tmp_path / "t.pt")
    io.save_torch({"x": torch.arange(4)}, p)
    assert torch.load(p, weights_only=True)["x"].tolist() == [0, 1, 2, 3]
    assert _names(tmp_path) == ["t.pt"]


def test_write_interrupted_before_the_replace_leaves_the_old_file(tmp_path, monkeypatch):
    p = io.write_text("old", tmp_path / "f.txt")

    def killed(src, dst):  # a kill between the fsync and the replace
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        io.write_text("new", p)
    assert p.read_text() == "old"
    assert _names(tmp_path) == ["f.txt"], "the temporary is removed on the way out"


def test_write_failing_midway_leaves_the_old_file(tmp_path):
    p = io.write_text("old", tmp_path / "f.bin")

    def half(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        io.atomic_write(p, "wb", half)
    assert p.read_text() == "old" and _names(tmp_path) == ["f.bin"]


def test_atomic_write_takes_any_writer(tmp_path):
    p = io.atomic_write(tmp_path / "u.npz", "wb", lambda f: np.savez_compressed(f, a=np.zeros(2)))
    assert np.load(p)["a"].tolist() == [0.0, 0.0]


def test_files_get_the_umask_mode(tmp_path):
    # mkstemp alone makes 0600, which left shared runs folders unreadable to the team.
    old = os.umask(0o022)
    try:
        a = io.save_torch({"x": torch.ones(1)}, tmp_path / "a.pt")
        b = io.write_text("{}", tmp_path / "b.json")
        os.umask(0o002)
        c = io.write_json({}, tmp_path / "c.json")
    finally:
        os.umask(old)
    assert [oct(p.stat().st_mode & 0o777) for p in (a, b, c)] == ["0o644", "0o644", "0o664"]


def test_remove_stale_temps_only_removes_temporaries(tmp_path):
    sub = tmp_path / "checkpoints"
    sub.mkdir()
    for name in (".last.pt.abc123.tmp", "last.pt", "notes.tmp"):
        (sub / name).write_bytes(b"x")
    (tmp_path / ".history.jsonl.q1.tmp").write_bytes(b"x")
    io.remove_stale_temps(tmp_path, sub, tmp_path / "absent")
    assert _names(sub) == ["last.pt", "notes.tmp"]
    assert _names(tmp_path) == ["checkpoints"]


def test_no_module_has_its_own_atomic_writer():
    """Every file write goes through sslre.io; the only other os.replace renames an extracted folder."""
    root = Path(sslre.__file__).parent
    found = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if re.search(r"os\.replace\(|mkstemp\(|NamedTemporaryFile\(", p.read_text()))
    assert found == ["data/imagefolder.py", "io.py"]
