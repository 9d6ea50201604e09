"""Writing what a migration made: the spec file, and (for Terraform) the adoption state beside it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ReconcileError


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order written, multi-line strings as literal blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _text)


def to_yaml(document: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    body = yaml.dump(dict(document), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110,
                     default_flow_style=False)
    return "".join(f"# {line}\n" if line else "#\n" for line in header) + body


def prepare_directory(out: Path) -> None:
    """`out` exists and holds no spec or state yet (a migration never overwrites one)."""
    if out.exists() and not out.is_dir():
        raise ReconcileError(f"{out} is a file; --out takes a directory")
    existing = [p.name for p in out.glob("*.y*ml")] + ([".reconcile"] if (out / ".reconcile").exists() else [])
    if existing:
        raise ReconcileError(f"{out} already holds {', '.join(sorted(existing))}; migrate into an empty directory")
    out.mkdir(parents=True, exist_ok=True)


def write_file(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
