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

from reconciler.diagnostics import Diagnostic, Location
from reconciler.errors import ReconcileError, SpecError

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
        if reserved_problem(name):
            raise ReconcileError(f"--var {name}: {reserved_problem(name)}")
        try:
            out[name] = json.loads(text)
        except ValueError:
            out[name] = text
    return out


def workspace_file(spec_path: Path, workspace: str) -> Path:
    base = spec_path if spec_path.is_dir() else spec_path.parent
    return base / VARS_DIR / f"{workspace}.yaml"


RESERVED = frozenset({"env", "host", "inputs", "each", "count", "workspace", "instance", "vars"})


def reserved_problem(name: str) -> str | None:
    if name in RESERVED:
        return (f"{name!r} is a reserved name in templates ({', '.join(sorted(RESERVED))}); give the variable "
                "another name")
    return None


def _read(path: Path, display: str) -> dict[str, Any]:
    """A variable file, with the spec's bounds (a regular file, size, depth, aliases) and its rules for names;
    every problem at the file's own line."""
    from reconciler.spec.load import load_yaml_file

    if not path.exists() and not path.is_symlink():
        raise ReconcileError(f"variable file {display} does not exist")
    data, locations = load_yaml_file(path, "variable file")
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise SpecError([Diagnostic("a variable file must be a mapping of variable names to values",
                                    locations.get((), Location(display, 1, 1)))])
    problems = [Diagnostic(problem, locations.get((name,), Location(display, 1, 1)), (name,))
                for name in data if (problem := reserved_problem(name))]
    if problems:
        raise SpecError(problems)
    return data


def command_line_values(overrides: VarOverrides | None) -> dict[str, Any]:
    """What the command line sets: each --var-file in order, then each --var (what a saved plan keeps)."""
    values: dict[str, Any] = {}
    for name in (overrides.files if overrides else ()):
        values.update(_read(Path(name), name))
    values.update(overrides.values if overrides else {})
    return values


def files_read(spec_path: Path, workspace: str, overrides: VarOverrides | None) -> list[Path]:
    """The variable files a run reads: vars/WORKSPACE.yaml beside the spec (if there), then each --var-file."""
    found = [workspace_file(spec_path, workspace)]
    return [p for p in found if p.exists()] + [Path(n) for n in (overrides.files if overrides else ())]


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
