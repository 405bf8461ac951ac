"""The import rules of docs/ARCHITECTURE.md, checked on the source (every import statement, at any depth)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "sslre"


def _imports(path: Path, top_level: bool = False) -> set[str]:
    """Modules imported by ``path``: every import statement, or only those run at import time (``top_level``)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in (tree.body if top_level else ast.walk(tree)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _files(sub: str) -> list[Path]:
    base = PKG / sub
    return sorted(base.rglob("*.py")) if base.is_dir() else [base]


@pytest.mark.parametrize("sub, allowed_sslre", [
    ("metrics", ("sslre.metrics",)),                       # kernels know no data, models or runs
    ("models", ("sslre.models", "sslre.config")),          # models know no training loop or data
    ("report", ("sslre.report", "sslre.io", "sslre.claims.catalogue")),   # the report reads JSON only
])
def test_layers_import_only_what_they_may(sub, allowed_sslre):
    bad = []
    for path in _files(sub):
        for name in _imports(path):
            # "import sslre" alone reads the package's version
            if name.startswith("sslre.") and not name.startswith(allowed_sslre):
                bad.append(f"{path.relative_to(PKG.parent)} imports {name}")
    assert bad == []


@pytest.mark.parametrize("sub", ["report", "profiles", "config.py", "io.py", "evidence.py"])
def test_data_only_modules_import_no_torch(sub):
    # at import time: the report, the profiles and the writers load without torch (io saves torch objects lazily)
    bad = [f"{p.relative_to(PKG.parent)} imports {n}" for p in _files(sub) for n in _imports(p, top_level=True)
           if n == "torch" or n.startswith("torch.")]
    assert bad == []
