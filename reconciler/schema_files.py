"""A type's JSON Schema as reconcile checks it: read from the file beside its module, made strict (a pattern
ending in `$` matches the whole value, `one line` means one), and accepting `${…}` references wherever
a value is checked."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from reconciler.module import LINE_BREAKS


def load_schema_beside(module_path: str) -> dict[str, Any]:
    """The JSON Schema file next to a module: `pkg/sub/file.py` -> `pkg/sub/file.json`, made strict (see
    `strict_schema`)."""
    package, _, stem = module_path.rpartition(".")
    text = resources.files(package).joinpath(f"{stem}.json").read_text(encoding="utf-8")
    return dict(strict_schema(json.loads(text)))


ONE_LINE = "one line"  # the description that marks the check, for its message


def strict_schema(schema: Any) -> Any:
    """A schema as reconcile checks it: a `pattern` ending in `$` matches the whole value (Python's `$` also
    matches before a final newline, so it becomes `\\Z`); `"x-single-line": true` refuses every line break and
    NUL (a value written as one line of a file: a cron job, an fstab field, an authorized key)."""
    if isinstance(schema, list):
        return [strict_schema(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (v if k in ("enum", "const", "default", "examples") else strict_schema(v)) for k, v in schema.items()}
    pattern = out.get("pattern")
    if isinstance(pattern, str) and pattern.endswith("$") and not pattern.endswith("\\$"):
        out["pattern"] = pattern[:-1] + "\\Z"
    if out.pop("x-single-line", False):
        one_line = {"type": "string", "pattern": LINE_BREAKS, "description": ONE_LINE}
        if "not" in out:
            out["allOf"] = [*out.get("allOf", []), {"not": one_line}]
        else:
            out["not"] = one_line
    return out


_REFERENCE_TEXT = {"type": "string", "pattern": r"\$\{|<unset env "}


_VALUES = ("enum", "const", "default", "examples")


def accept_references(schema: Any) -> Any:
    """`schema` with every property and item value also allowed to be a `${…}` reference (or the
    stand-in of an unset environment variable), which the full check leaves for plan time."""
    if isinstance(schema, list):
        return [accept_references(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _VALUES:
            out[key] = value
        elif key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {k: {"anyOf": [accept_references(v), _REFERENCE_TEXT]} for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = {"anyOf": [accept_references(value), _REFERENCE_TEXT]}
        else:
            out[key] = accept_references(value)
    return out
