"""Rego policies (OPA's language, evaluated in process by regopy) on a plan in Terraform's plan-JSON shape.

`deny` and `warn` rules of every package a policy file declares are read, as conftest reads them: each
message a string, or an object with `msg` (and `address` or `resource` naming the resource it is about).
A message that names no resource is put next to the first resource address it mentions. A policy that does
not parse, or a rule that fails to evaluate, is one error naming its file."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError

log = logging.getLogger(__name__)

PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][A-Za-z0-9_.]*)\s*$", re.M)
WHERE = re.compile(r"--\s*(\S+?):(\d+):(\d+)")
MAX_POLICY_BYTES = 1 << 20


class PolicyError(ReconcileError):
    """A policy cannot be read, parsed or evaluated."""


@dataclass(frozen=True)
class PolicyFinding:
    """One message of a `deny` (blocking) or `warn` (advice) rule."""

    kind: str  # deny | warn
    policy: str  # the file it came from
    message: str
    address: str | None = None  # the resource it is about, when the message says or mentions it

    def __str__(self) -> str:
        return f"{self.address}: {self.message} (policy {self.policy})" if self.address else \
            f"{self.message} (policy {self.policy})"


def policy_files(paths: Sequence[Path]) -> list[Path]:
    """The *.rego files of each directory (its own, not below), or the file itself; a missing one is an error."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.rego") if p.is_file() and not p.name.endswith("_test.rego"))
            if not found:
                raise PolicyError(f"policy directory {path} holds no .rego file")
            out += found
        elif path.is_file():
            out.append(path)
        else:
            raise PolicyError(f"policy {path} does not exist")
    return list(dict.fromkeys(out))


@contextlib.contextmanager
def _quiet() -> Iterator[Path]:
    """regopy prints its diagnostics on the process's own stdout: kept aside (and read for the error)."""
    with tempfile.NamedTemporaryFile("w+b", suffix=".rego-log") as log:
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)
        try:
            yield Path(log.name)
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def evaluate(files: Sequence[Path], document: Mapping[str, Any]) -> list[PolicyFinding]:
    """Every deny and warn message of the policies on `document` (the input)."""
    try:
        import regopy
    except ImportError:
        raise PolicyError("policies need regopy: pip install 'reconcile-iac[policy]'") from None
    addresses = [str(c.get("address")) for c in document.get("resource_changes") or []]
    findings: list[PolicyFinding] = []
    for path in files:
        text = _read(path)
        packages = PACKAGE.findall(text)
        if not packages:
            raise PolicyError(f"{path}:1:1: a policy starts with `package NAME`")
        interpreter = regopy.Interpreter()
        with _quiet() as printed:
            try:
                interpreter.add_module(str(path), text)
                interpreter.set_input(regopy.Input(dict(document)))
                answers = {(package, kind): str(interpreter.query(f"data.{package}.{kind}"))
                           for package in dict.fromkeys(packages) for kind in ("deny", "warn")}
            except Exception as exc:  # noqa: BLE001 - regopy's RegoError and its bindings' own: one line
                log.debug("policy %s failed", path, exc_info=True)
                raise PolicyError(_said(path, printed.read_text(errors="replace"), exc)) from None
        for (_, kind), answer in answers.items():
            for message in _messages(answer, path):
                findings.append(_finding(kind, path, message, addresses))
    return findings


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc.strerror}") from None
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(f"policy {path} is larger than {MAX_POLICY_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"policy {path} is not UTF-8 text (byte {exc.start})") from None


def _said(path: Path, printed: str, exc: Exception) -> str:
    """regopy's diagnostic as one line: the file, line and column, and what is wrong."""
    lines = [line.strip() for line in printed.splitlines() if line.strip()]
    where = WHERE.search(printed)
    what = next((line for line in lines if line not in ("Errors:",) and not line.startswith("--")), "")
    if where:
        return f"{path}:{where.group(2)}:{where.group(3)}: policy error: {what or exc}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{path}: the policy cannot be evaluated: {what or first}"


def _messages(answer: str, path: Path) -> list[Any]:
    if answer.strip() in ("", "undefined"):
        return []
    try:
        parsed = json.loads(answer)
        result = parsed["expressions"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        raise PolicyError(f"{path}: the policy's answer cannot be read ({answer[:80]})") from None
    if isinstance(result, list):
        return result
    if isinstance(result, bool) or result is None:  # `deny if {…}` with no message
        return ["denied"] if result else []
    return [result]


def _finding(kind: str, path: Path, message: Any, addresses: Sequence[str]) -> PolicyFinding:
    address = None
    if isinstance(message, Mapping):
        address = message.get("address") or message.get("resource")
        text = str(message.get("msg", json.dumps(message, sort_keys=True)))
    else:
        text = str(message)
    if address is None:
        address = next((a for a in sorted(addresses, key=len, reverse=True) if a in text), None)
    return PolicyFinding(kind, str(path), text, str(address) if address else None)
