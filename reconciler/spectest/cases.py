"""Test cases as written: `tests/NAME.yaml` beside the spec, read into frozen values; a case that cannot be
read is an error at its file and line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ReconcileError

CASE_KEYS = {"hosts", "vars", "assert", "aws"}
CHECK_KEYS = {"on", "command", "rc", "stdout_contains", "file", "content", "contains", "mode", "owner", "group",
              "absent"}


@dataclass(frozen=True)
class Check:
    """One assertion on a host: a command (its exit status, what its output holds) or a file."""

    on: str
    command: str | None = None
    rc: int = 0
    stdout_contains: str | None = None
    file: str | None = None
    content: str | None = None
    contains: str | None = None
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    absent: bool = False

    def __str__(self) -> str:
        return f"{self.on}: " + (f"`{self.command}`" if self.command else f"file {self.file}")


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    hosts: Mapping[str, str]  # inventory host -> the image of the container that stands in for it
    variables: Mapping[str, Any] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    aws_endpoint: str | None = None  # the spec's AWS resources go there (moto in the suite), and are destroyed


def read_cases(spec_dir: Path) -> list[Case]:
    directory = spec_dir / "tests"
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml")) if directory.is_dir() else []
    if not files:
        raise ReconcileError(f"no test case: write {directory}/NAME.yaml (hosts:, vars:, assert:)")
    return [read_case(f) for f in files]


def _fail(path: Path, node: Any, message: str) -> ReconcileError:
    mark = getattr(node, "start_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    return ReconcileError(f"{where}: {message}")


def read_case(path: Path) -> Case:
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise ReconcileError(f"{where}: not YAML ({getattr(exc, 'problem', exc)})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReconcileError(f"cannot read test case {path}: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(path, node, "a test case is a mapping with hosts:, vars: and assert:")
    nodes = {k.value: v for k, v in node.value} if node is not None else {}
    unknown = sorted(set(data) - CASE_KEYS)
    if unknown:
        raise _fail(path, nodes.get(unknown[0]), f"unknown key {unknown[0]!r} (a case has {', '.join(sorted(CASE_KEYS))})")
    hosts = data.get("hosts") or {}
    if not isinstance(hosts, dict) or not hosts or not all(
            isinstance(v, dict) and isinstance(v.get("image"), str) and v["image"] for v in hosts.values()):
        raise _fail(path, nodes.get("hosts", node), "hosts: maps each inventory host to {image: IMAGE}")
    variables = data.get("vars") or {}
    if not isinstance(variables, dict):
        raise _fail(path, nodes.get("vars"), "vars: is a mapping of variables")
    checks = []
    raw_checks = data.get("assert") or []
    if not isinstance(raw_checks, list):
        raise _fail(path, nodes.get("assert"), "assert: is a list of checks")
    assert_node = nodes.get("assert")
    check_nodes = list(getattr(assert_node, "value", None) or [])
    for i, raw in enumerate(raw_checks):
        at = check_nodes[i] if i < len(check_nodes) else node
        if isinstance(raw, dict) and True in raw:  # YAML 1.1 reads a bare `on` key as true
            raw = {("on" if k is True else k): v for k, v in raw.items()}
        if not isinstance(raw, dict) or not isinstance(raw.get("on"), str) or \
                bool(raw.get("command")) == bool(raw.get("file")):
            raise _fail(path, at, "each check names its host (on:) and either a command: or a file:")
        if raw["on"] not in hosts:
            raise _fail(path, at, f"check on {raw['on']!r}: the case's hosts are {', '.join(sorted(hosts))}")
        extra = sorted(set(raw) - CHECK_KEYS)
        if extra:
            raise _fail(path, at, f"unknown key {extra[0]!r} in a check")
        if not isinstance(raw.get("rc", 0), int) or not isinstance(raw.get("absent", False), bool):
            raise _fail(path, at, "rc: is an exit status (a number) and absent: true or false")
        given = {str(k): str(v) for k, v in raw.items() if k not in ("rc", "absent") and v is not None}
        checks.append(Check(rc=int(raw.get("rc", 0)), absent=bool(raw.get("absent", False)), **given))
    aws = data.get("aws") or {}
    endpoint = aws.get("endpoint_url") if isinstance(aws, dict) else None
    return Case(path.stem, path, {h: str(v["image"]) for h, v in hosts.items()}, dict(variables), tuple(checks),
                str(endpoint) if endpoint else None)
