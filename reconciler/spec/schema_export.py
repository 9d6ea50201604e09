"""`reconcile schema export DIR`: one JSON Schema for whole spec files, every resource type composed in."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from reconciler.registry import Registry

BASE = "https://reconcile.dev/schemas"


def composed(registry: Registry) -> dict[str, Any]:
    """spec.json whose resource entries are checked against their type's schema (if type == T, then …).

    Each type's schema is embedded with its own $id, so its internal `#/$defs/…` refs stay its own."""
    spec = copy.deepcopy(registry.spec_schema())
    spec["$id"] = f"{BASE}/reconcile.schema.json"
    branches = []
    for type_name in registry.types:
        embedded = copy.deepcopy(registry.resource_schema(type_name))
        embedded["$id"] = f"{BASE}/resources/{type_name}.json"
        embedded.pop("$schema", None)
        spec["$defs"][f"type:{type_name}"] = embedded
        branches.append({"if": {"properties": {"type": {"const": type_name}}, "required": ["type"]},
                         "then": {"$ref": f"{BASE}/resources/{type_name}.json"}})
    resource = spec["$defs"]["resource"]
    resource["properties"]["type"] = {"enum": registry.types, "description": "The resource type."}
    resource["allOf"] = branches
    return spec


def tolerate_templates(node: Any) -> Any:
    """A string written with `{{ … }}` or `${…}` is checked after rendering, not by the editor."""
    if isinstance(node, dict):
        if node.get("description") == "one line":  # a line break is refused, templated or not
            return node
        out = {k: tolerate_templates(v) for k, v in node.items()}
        if isinstance(out.get("pattern"), str):
            out["pattern"] = f"(?:{out['pattern']})|\\{{\\{{|\\$\\{{"
        return out
    if isinstance(node, list):
        return [tolerate_templates(v) for v in node]
    return node


def ecma(node: Any) -> Any:
    """Patterns as editors' validators read them (ECMA-262): a final `\\Z` is `$` there (its `$` never
    matches before a newline)."""
    if isinstance(node, list):
        return [ecma(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: ecma(v) for k, v in node.items()}
    if isinstance(out.get("pattern"), str) and out["pattern"].endswith("\\Z"):
        out["pattern"] = out["pattern"][:-2] + "$"
    return out


def export(registry: Registry, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    main = directory / "reconcile.schema.json"
    main.write_text(json.dumps(tolerate_templates(ecma(composed(registry))), indent=2) + "\n")
    written = [main]
    (directory / "resources").mkdir(exist_ok=True)
    for type_name in registry.types:
        path = directory / "resources" / f"{type_name}.json"
        path.write_text(json.dumps(ecma(registry.schema(type_name)), indent=2) + "\n")
        written.append(path)
    return written
