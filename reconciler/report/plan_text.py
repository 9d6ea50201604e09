"""The plan for people (Terraform-style text) and machines (JSON, schemas/plan.json)."""

from __future__ import annotations

import json
from collections.abc import Mapping
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
    why = f" ({change.reason})" if change.reason else ""
    moved = f"# {change.moved_from} has moved to {change.address}" if change.moved_from else ""
    if change.action is Action.NOOP:
        return moved
    if moved:
        moved += "\n  "
    if change.action is Action.CREATE:
        return f"{moved}# {change.address} will be created{why}"
    if change.action is Action.UPDATE:
        if change.verb == "run":
            return f"{moved}# {change.address} will run: {change.reason}"
        if change.verb:
            return f"{moved}# {change.address} will be {past(change.verb)}{why}"
        return f"{moved}# {change.address} will be updated in place{why}"
    if change.action is Action.REPLACE:
        order = " (new one first)" if change.resource and change.resource.lifecycle.create_before_destroy else ""
        because = f"(because {', '.join(change.replace_causes)} changed)"
        return f"{moved}# {change.address} must be replaced{order} {because}{'; ' + change.reason if change.reason else ''}"
    if change.action is Action.FORGET:
        return f"# {change.address} will be forgotten, not destroyed{why}"
    return f"# {change.address} will be destroyed{why}"


def past(verb: str) -> str:
    """restart -> restarted, reload -> reloaded, run -> run."""
    irregular = {"run": "run", "rebuild": "rebuilt"}
    if verb in irregular:
        return irregular[verb]
    return verb + "d" if verb.endswith("e") else verb + "ed"


def _attr_line(diff: AttrDiff, action: Action, width: int) -> tuple[str, str]:
    name = diff.name.ljust(width)
    if action is Action.CREATE or diff.before is None:
        return "+", f"{name} = {format_value(diff.after, diff.sensitive)}"
    before, after = format_value(diff.before, diff.sensitive), format_value(diff.after, diff.sensitive)
    if diff.sensitive and diff.before is not None and diff.after is not None:
        after = "(sensitive, changed)"
    suffix = "  # forces replacement" if diff.forces_replace else ""
    return "~", f"{name} = {before} -> {after}{suffix}"


def render_outputs(outputs: Any, heading: str = "Outputs:") -> str:
    """`name = value` per output, secrets as (sensitive), undecided ones as (known after apply)."""
    if not outputs:
        return ""
    def shown(o: Any) -> str:  # whole values: an output is there to be copied
        if o.sensitive or o.value is UNKNOWN:
            return format_value(o.value, o.sensitive)
        return json.dumps(o.value, default=str, ensure_ascii=False)

    width = max(len(o.name) for o in outputs)
    return "\n".join([heading, ""] + [f"{o.name.ljust(width)} = {shown(o)}" for o in outputs]) + "\n"


def outputs_to_json(outputs: Any) -> dict[str, Any]:
    return {o.name: {"value": None if o.sensitive or o.value is UNKNOWN else o.value, "sensitive": o.sensitive,
                     "known": o.value is not UNKNOWN} for o in outputs}


DIFF_LINES = 60  # lines of a content diff shown under its change, by default


def render_plan(plan: Plan, color: bool = False, diff_lines: int = DIFF_LINES) -> str:
    """The plan as text. A change that rewrites a text shows its content diff (first `diff_lines` lines;
    0 shows none)."""

    def style(text: str, action: Action) -> str:
        return click.style(text, fg=_COLORS.get(action), bold=True) if color else text

    lines: list[str] = []
    actionable = plan.actionable
    if actionable:
        lines += ["reconcile will perform the following actions:", ""]
    for change in actionable:
        lines.append(f"  {headline(change)}")
        if change.action is Action.NOOP:  # moved, nothing else
            lines.append("")
            continue
        where = f"  ({change.where})" if change.where else ""
        symbol = "+" if change.verb == "run" else change.action.symbol  # a command that runs: something new happens
        lines.append(f"{style(symbol.rjust(3), change.action)} {change.address}{where}")
        width = max((len(d.name) for d in change.diffs), default=0)
        for diff in change.diffs:
            symbol, text = _attr_line(diff, change.action, width)
            lines.append(f"      {style(symbol, change.action if symbol == '+' else Action.UPDATE)} {text}")
        if diff_lines > 0 and plan.texts.get(change.address):
            lines += content_lines(plan.texts[change.address], diff_lines, color)
        lines.append("")
    for address, message in sorted(plan.failures.items()):
        sep = " " if message.startswith("(") else ": "
        lines.append(error_line(f"{address}{sep}{message}", color))
    for blocker in plan.blockers:
        lines.append(error_line(blocker, color))
    for warning in plan.warnings:
        lines.append(("Warning: " if not color else click.style("Warning:", fg="yellow", bold=True) + " ") + warning)
    counts = plan.counts()
    if actionable:
        extra = "".join(f", {counts[k]} to {k}" for k in ("forget", "move", "run") if counts[k])
        lines.append(f"Plan: {counts['add']} to add, {counts['change']} to change, {counts['destroy']} to destroy"
                     f"{extra}.")
        if plan.blockers:
            lines.append(f"This plan cannot be applied until {'the problem' if len(plan.blockers) == 1 else f'the {len(plan.blockers)} problems'} above {'is' if len(plan.blockers) == 1 else 'are'} solved.")
    elif plan.failures or plan.blockers:
        lines.append("The plan is incomplete: fix the errors above and plan again.")
    else:
        lines.append("No changes. Your infrastructure matches the spec.")
    text = "\n".join(lines) + "\n"
    if plan.outputs:
        text += "\n" + render_outputs(plan.outputs, "Outputs (as planned):")
    return text


_DIFF_COLORS = {"+": "green", "-": "red", "@": "cyan"}


def content_lines(text: str, limit: int, color: bool) -> list[str]:
    """A content diff, indented under its change: its first `limit` lines, then how many were left out."""
    rows = text.splitlines()
    out = []
    for row in rows[:limit]:
        fg = None if row.startswith(("---", "+++")) else _DIFF_COLORS.get(row[:1])
        out.append("        " + (click.style(row, fg=fg) if color and fg else row))
    if len(rows) > limit:
        out.append(f"        ... {len(rows) - limit} more lines of diff (--diff-lines {len(rows)} shows them)")
    return out


def error_line(text: str, color: bool) -> str:
    return (click.style("Error:", fg="red", bold=True) if color else "Error:") + " " + text


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The documented machine-readable plan (schemas/plan.json)."""
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "spec_hash": plan.spec_hash,
        "fingerprint": plan.fingerprint,
        "state_serial": plan.state_serial,
        "changes": [change_to_json(c) | {"content_diff": plan.texts.get(c.address)} for c in plan.actionable],
        "errors": [{"address": a, "message": m} for a, m in sorted(plan.failures.items())],
        "blockers": list(plan.blockers),
        "warnings": list(plan.warnings),
        "summary": plan.counts(),
        "outputs": outputs_to_json(plan.outputs),
        "policy": [{"kind": f.kind, "policy": f.policy, "message": f.message, "address": f.address}
                   for f in plan.policy],
    }


def change_to_json(change: Change) -> dict[str, Any]:
    def value(v: Any, sensitive: bool) -> Any:
        if v is UNKNOWN:
            return None
        return SENSITIVE if sensitive and v is not None else v

    return {
        "address": change.address,
        "type": change.type,
        "action": change.action.value,
        "moved_from": change.moved_from,
        "verb": change.verb,
        "reason": change.reason,
        "pruned": change.pruned,
        "deferred": change.deferred,
        "replace_because": list(change.replace_causes),
        "where": change.where,
        "attributes": [
            {"name": d.name, "before": value(d.before, d.sensitive), "after": value(d.after, d.sensitive),
             "after_unknown": d.after is UNKNOWN, "sensitive": d.sensitive, "forces_replace": d.forces_replace}
            for d in change.diffs
        ],
    }


def plan_from_json(data: Mapping[str, Any]) -> Plan:
    """A plan read back from its JSON (a saved plan file), enough to show it again: the changes with
    their (masked) values and content diffs, the errors, blockers and warnings."""
    changes, texts = [], {}
    for c in data.get("changes") or ():
        diffs = tuple(AttrDiff(str(a["name"]), a.get("before"), UNKNOWN if a.get("after_unknown") else a.get("after"),
                               bool(a.get("sensitive")), bool(a.get("forces_replace")))
                      for a in c.get("attributes") or ())
        changes.append(Change(str(c["address"]), str(c["type"]), Action(c["action"]), diffs, str(c.get("reason") or ""),
                              pruned=bool(c.get("pruned")), deferred=bool(c.get("deferred")),
                              moved_from=c.get("moved_from"), verb=str(c.get("verb") or ""),
                              where=str(c.get("where") or "")))
        if c.get("content_diff"):
            texts[str(c["address"])] = str(c["content_diff"])
    return Plan(tuple(changes), str(data.get("spec_hash", "")), str(data.get("fingerprint", "")),
                int(data.get("state_serial") or 0),
                failures={str(e["address"]): str(e["message"]) for e in data.get("errors") or ()},
                blockers=tuple(map(str, data.get("blockers") or ())), warnings=tuple(map(str, data.get("warnings") or ())),
                texts=texts)
