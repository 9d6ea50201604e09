"""A plan as a pull-request comment (`plan --format markdown`): a summary table, the problems, then each
change in a collapsed <details> block with its attributes and content diff. Sized for a comment: past
MAX_CHARS (GitHub takes 65,536) the changes that do not fit are listed by address only, with a note."""

from __future__ import annotations

from reconciler.model import Action, Change, Plan
from reconciler.report.plan_text import _attr_line, headline

MAX_CHARS = 60_000
RESERVED = 4_500  # for the note that lists what was left out
DIFF_LINES = 200  # of each content diff
SYMBOLS = {Action.CREATE: "➕", Action.UPDATE: "🔄", Action.REPLACE: "♻️", Action.DELETE: "🗑️", Action.FORGET: "👋",
           Action.NOOP: "🚚"}


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`, so that no content can close it."""
    longest = max((len(run) for run in text.split("\n") for run in _runs(run)), default=0)
    return "`" * max(3, longest + 1)


def _runs(line: str) -> list[str]:
    out, current = [], ""
    for ch in line:
        if ch == "`":
            current += ch
        elif current:
            out.append(current)
            current = ""
    return out + ([current] if current else [])


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _change_block(change: Change, text: str | None) -> str:
    title = headline(change).lstrip("# ").replace("\n", " ")
    where = f" — {change.where}" if change.where else ""
    lines = [f"<details><summary>{SYMBOLS.get(change.action, '')} <code>{_escape(change.address)}</code>"
             f"{_escape(where)}: {_escape(title)}</summary>", ""]
    width = max((len(d.name) for d in change.diffs), default=0)
    attributes = [" ".join(_attr_line(d, change.action, width)) for d in change.diffs]
    if attributes:
        body = "\n".join(attributes)
        fence = _fence(body)
        lines += [fence, body, fence, ""]
    if text:
        shown = text.rstrip("\n").split("\n")
        if len(shown) > DIFF_LINES:
            shown = shown[:DIFF_LINES] + [f"… {len(shown) - DIFF_LINES} more lines"]
        body = "\n".join(shown)
        fence = _fence(body)
        lines += [f"{fence}diff", body, fence, ""]
    lines.append("</details>")
    return "\n".join(lines) + "\n"


def plan_markdown(plan: Plan, title: str, limit: int = MAX_CHARS) -> str:
    counts = plan.counts()
    head = [f"### reconcile plan: {_escape(title)}", ""]
    if plan.actionable:
        head += ["| add | change | destroy | forget | run |", "|---:|---:|---:|---:|---:|",
                 f"| {counts['add']} | {counts['change']} | {counts['destroy']} | {counts['forget']} | {counts['run']} |",
                 ""]
    else:
        head += ["**No changes.** The infrastructure matches the spec.", ""]
    problems = [f"- ❌ {_escape(f'{a}: {m}')}" for a, m in sorted(plan.failures.items())]
    problems += [f"- ❌ {_escape(b)}" for b in plan.blockers]
    problems += [f"- ⚠️ {_escape(w)}" for w in plan.warnings]
    if problems:
        head += ["**This plan cannot be applied.**" if plan.failures or plan.blockers else "**Warnings**", "",
                 *problems, ""]
    text = "\n".join(head) + "\n"
    left_out: list[str] = []
    for change in plan.actionable:
        block = _change_block(change, plan.texts.get(change.address))
        if left_out or len(text) + len(block) > limit - RESERVED:
            left_out.append(change.address)
            continue
        text += block
    if left_out:
        shown = ", ".join(f"`{a[:60]}`" for a in left_out[:50]) + \
            (f" and {len(left_out) - 50} more" if len(left_out) > 50 else "")
        text += (f"\n_The comment is cut at {limit:,} characters: {len(left_out)} more change(s) not shown "
                 f"({shown}). Run `reconcile plan` for all of it._\n")
    return text
