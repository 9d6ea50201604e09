"""Writing what a migration made: the spec file, and (for Terraform) the adoption state beside it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
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


def check_directory(out: Path) -> None:
    """`out` is a directory holding no spec or state yet, or does not exist (a migration never overwrites)."""
    if out.exists() and not out.is_dir():
        raise ReconcileError(f"{out} is a file; --out takes a directory")
    existing = [p.name for p in out.glob("*.y*ml")] + ([".reconcile"] if (out / ".reconcile").exists() else [])
    if existing:
        raise ReconcileError(f"{out} already holds {', '.join(sorted(existing))}; migrate into an empty directory")


@contextlib.contextmanager
def staged_directory(out: Path) -> Iterator[Path]:
    """A temporary directory beside `out`, moved into place as `out` when the block ends without an error
    and removed otherwise: a failed migration leaves nothing, and running it again works."""
    check_directory(out)
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.migrating-", dir=parent))
    try:
        yield staging
        if out.exists():
            if any(out.iterdir()):
                raise ReconcileError(f"{out} was written to during the migration; nothing was moved into it")
            out.rmdir()
        staging.chmod(0o755)
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


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
