"""The plan for people (Terraform-style text) and machines (JSON, schemas/plan.json)."""

from __future__ import annotations

import json
from typing import Any

import click

from reconciler.model import SENSITIVE, UNKNOWN, Action, AttrDiff, Change, Plan

PLAN_FORMAT_VERSION = "1.0"
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
        lines.append(error_line(f"{address}: {message}", color))
    for blocker in plan.blockers:
        lines.append(error_line(blocker, color))
    counts = plan.counts()
    if actionable:
        lines.append(f"Plan: {counts['add']} to add, {counts['change']} to change, {counts['destroy']} to destroy.")
    else:
        lines.append("No changes. Your infrastructure matches the spec.")
    return "\n".join(lines) + "\n"


def error_line(text: str, color: bool) -> str:
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


