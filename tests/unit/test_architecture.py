"""The seams the architecture relies on, checked mechanically."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_engine_never_imports_a_module_package() -> None:
    offenders = []
    for path in sorted((ROOT / "reconciler").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                          if n.split(".")[0] in ("reconcile_modules", "modules")]
    assert not offenders


def test_import_rules_hold() -> None:
    """spec never imports state; engine never imports report; modules import only the contract (.importlinter)."""
    linter = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "0 broken" in run.stdout, run.stdout + run.stderr


def test_no_module_specific_names_in_the_engine() -> None:
    """Types are declared by modules: no string in the engine's code is a built-in type's name (the
    common words among them, such as file or user, are also kinds of paths and accounts, so left out)."""
    from reconciler.registry import Registry

    words = {"file", "directory", "command", "package", "service", "user", "group", "cron"}
    names = set(Registry.installed().types) - words
    found = [f"{p.relative_to(ROOT)}:{node.lineno}: {node.value!r}" for p in (ROOT / "reconciler").rglob("*.py")
             for node in ast.walk(ast.parse(p.read_text())) if isinstance(node, ast.Constant) and node.value in names]
    assert not found
