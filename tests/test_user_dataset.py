"""`sslre reproduce` on a user's ImageFolder tree, end to end (README, 'Test your own data').

A generated tree (4 classes of coloured shapes, grouped by shape into 2 superclasses by a hierarchy file) goes
through the real command: ``sslre.cli.main(["reproduce", "--profile", "quick", "--dataset", "imagefolder:TREE",
"--hierarchy", FILE, ...])`` trains every run of the registry on the tree, decides every claim in the pytest
subprocess and writes the report. To fit the library tests, the quick profile is shrunk to seconds in both processes
(``tests/tiny_quick_profile.py``: smaller nets, fewer epochs and MINE steps; same registry, seeds, claims and
protocol).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from sslre.claims.catalogue import CLAIM_IDS
from sslre.claims.check import DECIDED

TESTS = Path(__file__).resolve().parent
#: The claims about the superclass level: not applicable on data without a hierarchy.
SUPERCLASS_CLAIMS = ("semantic-gains-not-sample", "depth-ordering", "umap-hierarchy", "width-and-depth")
SHAPES = ("circle", "square")
COLOURS = {"red": (200, 70, 60), "green": (70, 170, 80)}


def draw_shape(shape: str, colour: str, rng: np.random.Generator, size: int = 32):
    """A filled circle or square of ``colour`` at a random place and size on a noisy grey background."""
    from PIL import Image, ImageDraw

    grey = rng.integers(90, 160)
    im = Image.fromarray(np.clip(grey + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8))
    r = int(rng.integers(6, 11))
    cx, cy = (int(c) for c in rng.integers(r + 1, size - r - 1, size=2))
    box = (cx - r, cy - r, cx + r, cy + r)
    (ImageDraw.Draw(im).ellipse if shape == "circle" else ImageDraw.Draw(im).rectangle)(box, fill=COLOURS[colour])
    return im


def make_tree(root: Path, n_train: int = 16, n_test: int = 8, seed: int = 0) -> Path:
    """``root/tree/{train,test}/<colour>-<shape>/NNN.png`` (train PNG, test JPEG) and ``root/hierarchy.json``
    grouping the classes by shape. Returns the hierarchy file."""
    rng = np.random.default_rng(seed)
    for split, n, ext in (("train", n_train, "png"), ("test", n_test, "jpg")):
        for shape in SHAPES:
            for colour in COLOURS:
                folder = root / "tree" / split / f"{colour}-{shape}"
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(n):
                    draw_shape(shape, colour, rng).save(folder / f"{i:03d}.{ext}")
    hierarchy = root / "hierarchy.json"
    hierarchy.write_text(json.dumps({shape: [f"{c}-{shape}" for c in COLOURS] for shape in SHAPES}))
    return hierarchy


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pets")
    hierarchy = make_tree(root)
    return root / "tree", hierarchy


@pytest.fixture
def tiny_quick(monkeypatch):
    """The shrunk quick profile here and in the claims' pytest subprocess (``-p tiny_quick_profile``)."""
    import sslre.profiles.quick as quick

    monkeypatch.syspath_prepend(str(TESTS))
    from tiny_quick_profile import tiny_profile

    monkeypatch.setattr(quick, "PROFILE", tiny_profile())
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p))
    return ["--", "-p", "tiny_quick_profile", "-q"]


def reproduce(tree: Path | str, hierarchy: Path | str | None, where: Path, plugin: list[str]) -> tuple[int, dict]:
    """``sslre reproduce --profile quick --dataset imagefolder:TREE [--hierarchy FILE] --runs-dir WHERE/runs --out
    WHERE/out`` (paths as given: relative ones are read from the current folder); its exit code and report."""
    from sslre.cli import main

    args = ["reproduce", "--profile", "quick", "--dataset", f"imagefolder:{tree}", "--runs-dir", str(where / "runs"),
            "--out", str(where / "out"), "--methods", "vicreg"]  # the data path, not the method matrix
    rc = main(args + (["--hierarchy", str(hierarchy)] if hierarchy else []) + plugin)
    report = where / "out" / "reproduction.json"
    return rc, (json.loads(report.read_text()) if report.is_file() else {})


def verdicts(report: dict) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in report.get("claims", [])}


def test_reproduce_on_an_imagefolder_tree_with_a_hierarchy(tree, tmp_path, tiny_quick, monkeypatch):
    """The README's two commands, from the folder that holds the tree (relative paths): `sslre train` makes the
    registry's vicreg seed 0, and `sslre reproduce` reuses it, trains the rest and decides every claim."""
    from sslre.cli import main

    tree_dir, hierarchy = tree
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tree_dir, tmp_path / "pets")
    (tmp_path / "pets-hierarchy.json").write_text(hierarchy.read_text())
    hierarchy = tmp_path / "pets-hierarchy.json"
    assert main(["train", "--profile", "quick", "--method", "vicreg", "--dataset", "imagefolder:pets", "--hierarchy",
                 "pets-hierarchy.json", "--run-dir", "runs/vicreg-s0", "--no-progress"]) == 0
    done = (tmp_path / "runs" / "vicreg-s0" / "DONE").stat().st_mtime_ns
    rc, report = reproduce("pets", "pets-hierarchy.json", Path("."), tiny_quick)
    tree_dir = tmp_path / "pets"
    assert (tmp_path / "runs" / "vicreg-s0" / "DONE").stat().st_mtime_ns == done  # reused, not trained again
    v = verdicts(report)
    assert rc == 0, v
    assert set(CLAIM_IDS) <= set(v) and all(v[c] in DECIDED for c in CLAIM_IDS), v
    assert all(v[c] != "not applicable" for c in SUPERCLASS_CLAIMS), v
    assert (tmp_path / "out" / "reproduction.html").is_file()
    # every run on the profile's dataset trained on the tree, with its hierarchy; App. B.2's run keeps its own data
    configs = {d.name: json.loads((d / "config.json").read_text()) for d in (tmp_path / "runs").glob("*-s*")
               if (d / "config.json").is_file()}
    assert {"vicreg-s0", "vicreg-s4", "vicreg-deep-s2", "supervised-aa-s1", "vicreg-other-s0"} <= set(configs)
    for name, c in configs.items():
        if name.startswith("vicreg-other"):
            assert c["dataset"] == "synthetic" and not c.get("hierarchy"), c
        else:
            assert c["dataset"] == f"imagefolder:{tree_dir.resolve()}", (name, c["dataset"])
            assert c["hierarchy"] == str(hierarchy.resolve()), (name, c.get("hierarchy"))


def test_reproduce_on_an_imagefolder_tree_without_a_hierarchy(tree, tmp_path, tiny_quick):
    """Every class its own superclass: the four superclass claims are not applicable, every other claim decided."""
    tree_dir, _ = tree
    rc, report = reproduce(tree_dir, None, tmp_path, tiny_quick)
    v = verdicts(report)
    assert rc == 0, v
    assert {c for c in CLAIM_IDS if v.get(c) == "not applicable"} == set(SUPERCLASS_CLAIMS), v
    assert all(v[c] in DECIDED for c in CLAIM_IDS), v
    config = json.loads((tmp_path / "runs" / "vicreg-s0" / "config.json").read_text())
    assert config["dataset"] == f"imagefolder:{tree_dir.resolve()}" and not config.get("hierarchy")
