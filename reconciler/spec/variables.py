"""Where each variable's value comes from, lowest precedence first (as Terraform's tfvars):

1. the spec's own `vars:`;
2. `vars/WORKSPACE.yaml` beside the spec (the spec's directory, or the spec file's): the environment's values;
3. each `--var-file FILE`, in the order given;
4. each `--var NAME=VALUE` (VALUE is JSON when it parses as JSON — 3, true, ["a"] — else the text).

Later layers replace a variable's whole value (no deep merge). `reconcile vars` shows the winner and its source.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ReconcileError, SpecError
from reconciler.model import Diagnostic, Location

MAX_VAR_FILE = 1024 * 1024
VARS_DIR = "vars"  # beside the spec: vars/<workspace>.yaml (never read as part of the spec itself)


@dataclass(frozen=True)
class VarOverrides:
    """What the command line adds to the spec's variables."""

    files: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Variables:
    values: Mapping[str, Any]
    sources: Mapping[str, str]  # name -> where its value came from


def parse_var_args(args: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arg in args:
        name, sep, text = arg.partition("=")
        if not sep or not name.isidentifier():
            raise ReconcileError(f"--var {arg!r} must be NAME=VALUE, with NAME a variable name")
        try:
            out[name] = json.loads(text)
        except ValueError:
            out[name] = text
    return out


def workspace_file(spec_path: Path, workspace: str) -> Path:
    base = spec_path if spec_path.is_dir() else spec_path.parent
    return base / VARS_DIR / f"{workspace}.yaml"


def _read(path: Path, display: str) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_VAR_FILE:
            raise ReconcileError(f"variable file {display} is larger than {MAX_VAR_FILE // 1024} KiB")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReconcileError(f"variable file {display} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReconcileError(f"cannot read variable file {display}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)
        raise SpecError([Diagnostic(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", where)]) from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise SpecError([Diagnostic("a variable file must be a mapping of variable names to values",
                                    Location(display, 1, 1))])
    return data


def layered(spec_vars: Mapping[str, Any], spec_path: Path, workspace: str,
            overrides: VarOverrides | None = None) -> Variables:
    values = dict(spec_vars)
    sources = {name: "spec vars:" for name in spec_vars}

    def layer(found: Mapping[str, Any], source: str) -> None:
        for name, value in found.items():
            values[name] = value
            sources[name] = source

    ws_file = workspace_file(spec_path, workspace)
    if ws_file.is_file():
        layer(_read(ws_file, str(ws_file)), str(ws_file))
    for name in (overrides.files if overrides else ()):
        layer(_read(Path(name), name), name)
    if overrides:
        layer(overrides.values, "--var")
    return Variables(values, sources)
