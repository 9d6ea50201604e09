"""Everything shown to people and machines: plans, apply progress, diagnostics. No engine logic here."""

from __future__ import annotations

import json
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import click

from .model import UNKNOWN, Action, AttrDiff, Change, Diagnostic, Plan, Result, Status

PLAN_FORMAT_VERSION = "1.0"
SENSITIVE = "(sensitive)"
_COLORS = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red", Action.REPLACE: "magenta"}


def format_value(value: Any, sensitive: bool = False) -> str:
    if sensitive and value is not None:
        return SENSITIVE
    if value is UNKNOWN:
        return "(known after apply)"
    if isinstance(value, str):
        if value.startswith("sha256:") and len(value) > 23:
            value = value[:23] + "…"
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 90 else text[:86] + '…"'
    return json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)


def headline(change: Change) -> str:
    why = f" ({change.reason})" if change.reason and change.action is not Action.UPDATE else ""
    if change.action is Action.CREATE:
        return f"# {change.address} will be created"
    if change.action is Action.UPDATE:
        if change.reason.startswith("will run"):
            return f"# {change.address} {change.reason}"
        if change.reason.startswith("restart: "):
            return f"# {change.address} will be restarted (restart: {change.reason[len('restart: '):]} changes)"
        return f"# {change.address} will be updated in place"
    if change.action is Action.REPLACE:
        return f"# {change.address} must be replaced (because {', '.join(change.replace_causes)} changed)"
    return f"# {change.address} will be destroyed{why}"


def _attr_line(diff: AttrDiff, action: Action, width: int) -> tuple[str, str]:
    name = diff.name.ljust(width)
    if action is Action.CREATE or diff.before is None:
        return "+", f"{name} = {format_value(diff.after, diff.sensitive)}"
    before, after = format_value(diff.before, diff.sensitive), format_value(diff.after, diff.sensitive)
    if diff.sensitive and diff.before is not None and diff.after is not None:
        after = "(sensitive, changed)"
    suffix = "  # forces replacement" if diff.forces_replace else ""
    return "~", f"{name} = {before} -> {after}{suffix}"


def render_plan(plan: Plan, color: bool = False) -> str:
    def style(text: str, action: Action) -> str:
        return click.style(text, fg=_COLORS.get(action), bold=True) if color else text

    lines: list[str] = []
    actionable = plan.actionable
    if actionable:
        lines += ["reconcile will perform the following actions:", ""]
    for change in actionable:
        lines.append(f"  {headline(change)}")
        lines.append(f"{style(change.action.symbol.rjust(3), change.action)} {change.address}")
        width = max((len(d.name) for d in change.diffs), default=0)
        for diff in change.diffs:
            symbol, text = _attr_line(diff, change.action, width)
            lines.append(f"      {style(symbol, change.action if symbol == '+' else Action.UPDATE)} {text}")
        lines.append("")
    for address, message in sorted(plan.failures.items()):
        lines.append(_error(f"{address}: {message}", color))
    for blocker in plan.blockers:
        lines.append(_error(blocker, color))
    counts = plan.counts()
    if actionable:
        lines.append(f"Plan: {counts['add']} to add, {counts['change']} to change, {counts['destroy']} to destroy.")
    else:
        lines.append("No changes. Your infrastructure matches the spec.")
    return "\n".join(lines) + "\n"


def _error(text: str, color: bool) -> str:
    return (click.style("Error:", fg="red", bold=True) if color else "Error:") + " " + text


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The documented machine-readable plan (schemas/plan.json)."""
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "spec_hash": plan.spec_hash,
        "fingerprint": plan.fingerprint,
        "state_serial": plan.state_serial,
        "changes": [_change_json(c) for c in plan.actionable],
        "errors": [{"address": a, "message": m} for a, m in sorted(plan.failures.items())],
        "blockers": list(plan.blockers),
        "summary": plan.counts(),
    }


def _change_json(change: Change) -> dict[str, Any]:
    def value(v: Any, sensitive: bool) -> Any:
        if v is UNKNOWN:
            return None
        return SENSITIVE if sensitive and v is not None else v

    return {
        "address": change.address,
        "type": change.type,
        "action": change.action.value,
        "reason": change.reason,
        "pruned": change.pruned,
        "replace_because": list(change.replace_causes),
        "attributes": [
            {"name": d.name, "before": value(d.before, d.sensitive), "after": value(d.after, d.sensitive),
             "after_unknown": d.after is UNKNOWN, "sensitive": d.sensitive, "forces_replace": d.forces_replace}
            for d in change.diffs
        ],
    }


# -- apply progress -------------------------------------------------------------------------------
_VERBS = {Action.CREATE: ("Creating", "Creation"), Action.UPDATE: ("Modifying", "Modifications"),
          Action.REPLACE: ("Replacing", "Replacement"), Action.DELETE: ("Destroying", "Destruction")}


class ApplyReporter:
    """Prints a line when a change starts and when it ends; on a terminal, a [done/total] counter."""

    def __init__(self, total: int, out: TextIO = sys.stdout, color: bool = False, progress: bool = False,
                 every: float = 10.0):
        self.total = total
        self.done = 0
        self.out = out
        self.color = color
        self.progress = progress
        self.every = every
        self._runs: set[str] = set()
        self._active: dict[str, tuple[str, float]] = {}  # address -> (verb, started)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        """Every `every` seconds, a line for each change still under way (waiters can take minutes)."""
        while not self._stop.wait(self.every):
            now = time.monotonic()
            with self._lock:  # printed under the lock: never after the change's own "complete" line
                for address, (verb, since) in sorted(self._active.items()):
                    if now - since >= self.every:
                        self._print(f"{address}: Still {verb.lower()}... [{now - since:.0f}s elapsed]")

    def close(self) -> None:
        self._stop.set()

    def started(self, change: Change) -> None:
        if change.reason.startswith("will run"):
            self._runs.add(change.address)
        verb = "Running" if change.address in self._runs else _VERBS[change.action][0]
        with self._lock:
            self._active[change.address] = (verb, time.monotonic())
        self._print(f"{change.address}: {verb}...")

    def finished(self, result: Result) -> None:
        with self._lock:
            self._active.pop(result.address, None)
        self.done += 1
        counter = f"[{self.done}/{self.total}] " if self.progress else ""
        if result.status is Status.OK:
            noun = "Run" if result.address in self._runs else _VERBS.get(result.action, ("", "Change"))[1]
            self._print(f"{counter}{result.address}: {noun} complete after {result.seconds:.1f}s")
        elif result.status is Status.SKIPPED:
            self._print(f"{counter}{result.address}: {result.error}")
        else:
            sep = " " if result.error.startswith("(") else ": "
            self._print(f"{counter}{_error(f'{result.address}{sep}{result.error}', self.color)}")

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def summarize(results: Sequence[Result]) -> dict[str, Any]:
    counts = {"added": 0, "changed": 0, "destroyed": 0, "failed": 0, "skipped": 0}
    for r in results:
        if r.status is Status.FAILED:
            counts["failed"] += 1
        elif r.status is Status.SKIPPED:
            counts["skipped"] += 1
        elif r.status is Status.OK:
            if r.action in (Action.CREATE, Action.REPLACE):
                counts["added"] += 1
            if r.action in (Action.DELETE, Action.REPLACE):
                counts["destroyed"] += 1
            if r.action is Action.UPDATE:
                counts["changed"] += 1
    return counts


def per_target(results: Sequence[Result], targets: Mapping[str, str]) -> str:
    """One line per host/engine when a run spans several: how each one fared."""
    rows: dict[str, dict[str, int]] = {}
    for r in results:
        if r.status is Status.NOOP:
            continue
        row = rows.setdefault(targets.get(r.address, "?"), {})
        row[r.status.value] = row.get(r.status.value, 0) + 1
    if len(rows) < 2:
        return ""
    lines = ["Per target:"]
    for name in sorted(rows):
        lines.append(f"  {name}: " + ", ".join(f"{n} {status}" for status, n in sorted(rows[name].items())))
    return "\n".join(lines) + "\n"


def render_summary(results: Sequence[Result], color: bool = False) -> str:
    c = summarize(results)
    text = f"Resources: {c['added']} added, {c['changed']} changed, {c['destroyed']} destroyed"
    if c["failed"] or c["skipped"]:
        text += f", {c['failed']} failed, {c['skipped']} skipped"
        head = click.style("Apply finished with errors!", fg="red", bold=True) if color else "Apply finished with errors!"
        failed = [f"  - {r.address}{' ' if r.error.startswith('(') else ': '}{r.error}"
                  for r in results if r.status in (Status.FAILED, Status.SKIPPED)]
        return "\n".join([f"{head} {text}."] + failed) + "\n"
    head = click.style("Apply complete!", fg="green", bold=True) if color else "Apply complete!"
    return f"{head} {text}.\n"


# -- validation diagnostics -----------------------------------------------------------------------
def diagnostics_to_json(checked: Sequence[tuple[str, Sequence[Diagnostic]]]) -> dict[str, Any]:
    errors = [_diag_json(path, d) for path, diags in checked for d in diags]
    return {"valid": not errors, "specs": [p for p, _ in checked], "errors": errors}


def _diag_json(spec: str, d: Diagnostic) -> dict[str, Any]:
    return {
        "spec": spec, "file": d.location.file if d.location else None,
        "line": d.location.line if d.location else None, "col": d.location.col if d.location else None,
        "severity": d.severity, "message": d.message, "path": d.path_text,
    }


def _escape_github(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_diagnostics(checked: Sequence[tuple[str, Sequence[Diagnostic]]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(diagnostics_to_json(checked), indent=2) + "\n"
    if fmt == "github":
        lines = []
        for _, diags in checked:
            for d in diags:
                where = ""
                if d.location:
                    where = (f" file={_escape_github(d.location.file, True)},line={d.location.line},"
                             f"col={d.location.col}")
                at = f" (at {d.path_text})" if d.json_path else ""
                lines.append(f"::{d.severity}{where}::{_escape_github(d.message + at)}")
        return "".join(line + "\n" for line in lines)
    if fmt == "junit":
        return render_junit(checked)
    if fmt == "sarif":
        return json.dumps(render_sarif(checked), indent=2) + "\n"
    lines = [str(d) for _, diags in checked for d in diags]
    for path, diags in checked:
        if not diags:
            lines.append(f"{path}: ok")
    return "\n".join(lines) + "\n"


def render_sarif(checked: Sequence[tuple[str, Sequence[Diagnostic]]]) -> dict[str, Any]:
    """SARIF 2.1.0, for code-scanning annotations."""
    from . import __version__

    results = []
    for _, diags in checked:
        for d in diags:
            result: dict[str, Any] = {
                "ruleId": "reconcile/spec", "level": "error" if d.severity == "error" else "warning",
                "message": {"text": d.message + (f" (at {d.path_text})" if d.json_path else "")},
            }
            if d.location:
                result["locations"] = [{"physicalLocation": {
                    "artifactLocation": {"uri": d.location.file},
                    "region": {"startLine": d.location.line, "startColumn": d.location.col}}}]
            results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "reconcile", "version": __version__,
                                "rules": [{"id": "reconcile/spec", "name": "SpecProblem",
                                           "shortDescription": {"text": "A problem in a reconcile spec"}}]}},
            "results": results,
        }],
    }


def render_junit(checked: Sequence[tuple[str, Sequence[Diagnostic]]]) -> str:
    failures = sum(1 for _, diags in checked if diags)
    suites = ET.Element("testsuites", name="reconcile validate", tests=str(len(checked)), failures=str(failures))
    suite = ET.SubElement(suites, "testsuite", name="reconcile validate", tests=str(len(checked)),
                          failures=str(failures), errors="0")
    for path, diags in checked:
        case = ET.SubElement(suite, "testcase", classname="reconcile.validate", name=path)
        if diags:
            failure = ET.SubElement(case, "failure", message=f"{len(diags)} error(s)", type="SpecError")
            failure.text = "\n".join(str(d) for d in diags)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
