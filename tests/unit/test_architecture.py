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
    """spec never imports state; engine never imports report; modules import only the contract; no import loops
    at any depth (.importlinter)."""
    linter = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "0 broken" in run.stdout, run.stdout + run.stderr


def test_no_module_specific_names_in_the_engine() -> None:
    """Types are declared by modules: no string in the engine's code is a built-in type's name (the
    common words among them, such as file, user or hostname, are also kinds of paths, accounts and facts, so
    left out)."""
    from reconciler.registry import Registry

    words = {"file", "directory", "command", "package", "service", "user", "group", "cron", "hostname", "copy", "mount",
             "archive", "timezone"}
    names = set(Registry.installed().types) - words
    found = [f"{p.relative_to(ROOT)}:{node.lineno}: {node.value!r}" for p in (ROOT / "reconciler").rglob("*.py")
             for node in ast.walk(ast.parse(p.read_text())) if isinstance(node, ast.Constant) and node.value in names]
    assert not found


def test_the_engine_and_the_spec_schema_name_no_family() -> None:
    """Families declare what is theirs (settings blocks, which one reaches inventory hosts): no family's name is
    a string of the engine's or the spec stage's code (a type's own `family = …` aside), nor a key of spec.json."""
    import json

    from reconciler.registry import Registry

    families = set(Registry.installed().families)
    found = []
    for folder in ("engine", "spec"):
        for p in (ROOT / "reconciler" / folder).rglob("*.py"):
            tree = ast.parse(p.read_text())
            declared = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == "family" for t in n.targets)}
            found += [f"{p.relative_to(ROOT)}:{n.lineno}: {n.value!r}" for n in ast.walk(tree)
                      if isinstance(n, ast.Constant) and n.value in families and id(n) not in declared]
    assert not found
    spec = json.loads((ROOT / "reconciler/spec/spec.json").read_text())
    assert not families & set(spec["properties"])
    composed = Registry.installed().spec_schema()["properties"]
    assert {"aws", "docker"} <= set(composed)  # declared by their families


def test_the_quick_schema_check_agrees_with_jsonschema() -> None:
    """fastjsonschema answers "valid" only where jsonschema does (its "invalid" sends the entry to jsonschema)."""
    from reconciler.registry import Registry
    from reconciler.spec.json_validator import validator_for
    from reconciler.spec.schema_checks import inline_refs

    registry = Registry.installed()
    quick = 0
    for type_name in registry.types:
        schema = registry.resource_schema(type_name)
        full = validator_for(inline_refs(schema))
        for example in schema.get("examples", []):
            good = {"type": type_name, "name": "example", **example}
            bad_cases = [{**good, "no_such_key": 1}, {**good, "name": "has space"},
                         {**good, **{k: 12345 for k, v in example.items() if isinstance(v, str)}},
                         {**good, "depends_on": "file.x"}, {**good, "lifecycle": "destroy"}]
            assert full.is_valid(good), type_name
            quick += registry.quick_check(type_name, good)  # False is allowed: jsonschema then decides
            for bad in bad_cases:
                if not full.is_valid(bad):
                    assert not registry.quick_check(type_name, bad), (type_name, bad)
    assert quick >= len(registry.types) * 3 // 4  # the fast path serves most types


def test_the_quick_check_of_a_spec_top_level_agrees_with_jsonschema() -> None:
    """A spec's top level (its resources apart) passes the quick check only where jsonschema finds nothing
    to say: every bad spec of the corpus and every example, as written."""
    import yaml

    from reconciler.diagnostics import SourceDocument
    from reconciler.registry import Registry
    from reconciler.spec.build_state import META_KEYS
    from reconciler.spec.json_validator import validator_for
    from reconciler.spec.schema_checks import inline_refs, schema_diagnostics

    registry = Registry.installed()
    full = validator_for(registry.spec_schema())
    spec_schema = registry.spec_schema()
    keys = validator_for(inline_refs({**spec_schema["$defs"]["resource"], "$defs": spec_schema["$defs"]}), formats=False)
    checked = shared = 0
    for path in sorted([*(ROOT / "tests/bad_specs").glob("*.yaml"), *(ROOT / "specs/examples").rglob("*.yaml")]):
        try:
            data = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
            continue
        if not isinstance(data, dict):
            continue
        outline = {**data, "resources": []} if isinstance(data.get("resources"), list) else data
        doc = SourceDocument(str(path), str(path.parent), (str(path),), data, {})
        if registry.quick_check_spec(outline):
            assert not schema_diagnostics(full, outline, doc, ()), path
            checked += 1
        for entry in data.get("resources") if isinstance(data.get("resources"), list) else []:
            meta = {k: v for k, v in entry.items() if k in META_KEYS} if isinstance(entry, dict) else {}
            if meta and registry.quick_check_keys(meta):
                assert not schema_diagnostics(keys, meta, doc, (), references=False), (path, meta)
                shared += 1
    assert checked > 50 and shared > 50


def test_the_architecture_picture_is_drawn_from_todays_imports() -> None:
    """docs/architecture.svg is made from docs/architecture.dot, which must be the code's import graph now."""
    from tools.import_graph import DOCS, dot_source

    assert (DOCS / "architecture.dot").read_text() == dot_source(), "run `make docs` to draw the picture again"


def test_every_package_says_what_it_is_for_and_what_it_may_import() -> None:
    for init in sorted([*(ROOT / "reconciler").glob("*/__init__.py"), *(ROOT / "modules").glob("*/__init__.py")]):
        text = init.read_text()
        assert text.startswith('"""') and ("import" in text.lower()), f"{init}: a docstring saying its room and imports"


def test_rooms_stay_small() -> None:
    """No file over 400 lines (but the helper sent whole to hosts), no class over 300, no function over 60."""
    whole = {ROOT / "reconciler" / "targets" / "fsops.py"}  # shipped as one `python3 -c` source
    big = []
    for source in sorted([*(ROOT / "reconciler").rglob("*.py"), *(ROOT / "modules").rglob("*.py")]):
        text = source.read_text()
        if source not in whole and len(text.splitlines()) > 400:
            big.append(f"{source.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            size = (node.end_lineno or node.lineno) - node.lineno + 1 if hasattr(node, "lineno") else 0
            if isinstance(node, ast.ClassDef) and size > 300 or isinstance(
                    node, (ast.FunctionDef, ast.AsyncFunctionDef)) and size > 60:
                big.append(f"{source.relative_to(ROOT)}:{node.lineno}: {node.name} is {size} lines")
    assert not big, "\n".join(big)
