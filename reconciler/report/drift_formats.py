"""Drift reports for people and machines: text, JSON (schemas/drift.json), Markdown, JUnit; and the
Slack-compatible notification body."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from reconciler.engine.drift import KINDS, DriftItem, DriftReport
from reconciler.report.plan_text import format_value

DRIFT_FORMAT_VERSION = "1.0"


def to_json(report: DriftReport, spec: str, run_id: int | None = None) -> dict[str, Any]:
    return {
        "format_version": DRIFT_FORMAT_VERSION,
        "spec": spec,
        "run": run_id,
        "drift_found": report.found,
        "checked": report.checked,
        "counts": report.counts(),
        "items": [
            {"address": i.address, "type": i.type, "kind": i.kind, "action": i.action, "target": i.target,
             "attributes": list(i.attributes), "why": reason(i), "signature": i.signature()}
            for i in report.items
        ],
        "errors": [{"address": a, "message": m} for a, m in sorted(report.errors.items())],
    }


def headline(report: DriftReport, spec: str) -> str:
    if not report.found and not report.errors:
        return f"No drift in {spec}: {report.checked} resources match what was last applied."
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items() if n)
    errors = f"; {len(report.errors)} could not be checked" if report.errors else ""
    return f"Drift in {spec}: {counts or 'nothing found'}{errors}."


def _detail(attr: dict[str, Any]) -> str:
    return f"{attr['name']}: {format_value(attr['actual'])} -> {format_value(attr['wanted'])}"


def reason(item: DriftItem) -> str:
    """Why it was reported: each attribute that differs, as found -> as wanted."""
    if item.kind == "unmanaged":
        return "labelled as this stack's, in neither the spec nor the state"
    if item.kind == "missing":
        return "the object is gone"
    return "; ".join(_detail(a) for a in item.attributes)


def to_text(report: DriftReport, spec: str, texts: Mapping[str, str] | None = None) -> str:
    """The report for people; `texts`: the content diffs of the plan (file contents as a unified diff, shown
    in place of their digests, as `plan` shows them; never for a secret)."""
    texts = texts or {}
    lines = [headline(report, spec)]
    for kind in KINDS:
        items = [i for i in report.items if i.kind == kind]
        if items:
            lines += ["", f"{kind}:"]
            for item in items:
                lines.append(f"  {item.address}  (apply would {item.action})" if item.action != "none"
                             else f"  {item.address}  (labelled as ours, not in the spec)")
                shown = texts.get(item.address)
                lines += [f"      {_detail(a)}" for a in item.attributes if not (shown and a["name"] == "content")]
                lines += [f"        {row}" for row in (shown or "").splitlines()]
    if report.errors:
        lines += ["", "errors:"] + [f"  {a}{' ' if m.startswith('(') else ': '}{m}" for a, m in sorted(report.errors.items())]
    return "\n".join(lines) + "\n"


def to_markdown(report: DriftReport, spec: str) -> str:
    icon = "✅" if not report.found and not report.errors else "⚠️"
    lines = [f"### {icon} {headline(report, spec)}", ""]
    if report.items:
        lines += ["| resource | kind | apply would | details |", "|---|---|---|---|"]
        for i in report.items:
            details = "<br>".join(f"`{_detail(a)}`".replace("|", "\\|") for a in i.attributes) or "–"
            lines.append(f"| `{i.address}` | {i.kind} | {i.action} | {details} |")
        lines.append("")
    if report.errors:
        lines += ["**Could not check:**", ""] + [f"- `{a}`: {m}" for a, m in sorted(report.errors.items())] + [""]
    return "\n".join(lines)


def to_junit(report: DriftReport, spec: str) -> str:
    failures = len(report.items)
    suites = ET.Element("testsuites", name="reconcile drift", tests=str(report.checked), failures=str(failures),
                        errors=str(len(report.errors)))
    suite = ET.SubElement(suites, "testsuite", name=spec, tests=str(report.checked), failures=str(failures),
                          errors=str(len(report.errors)))
    for item in report.items:
        case = ET.SubElement(suite, "testcase", classname=item.type, name=item.address)
        failure = ET.SubElement(case, "failure", message=f"{item.kind}", type=item.kind)
        failure.text = "\n".join(_detail(a) for a in item.attributes) or item.kind
    for address, message in sorted(report.errors.items()):
        case = ET.SubElement(suite, "testcase", classname="reconcile", name=address)
        ET.SubElement(case, "error", message=message)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def render(report: DriftReport, spec: str, fmt: str, run_id: int | None = None,
           texts: Mapping[str, str] | None = None) -> str:
    if fmt == "json":
        return json.dumps(to_json(report, spec, run_id), indent=2, default=str) + "\n"
    if fmt == "markdown":
        return to_markdown(report, spec)
    if fmt == "junit":
        return to_junit(report, spec)
    return to_text(report, spec, texts)


def notification(report: DriftReport, spec: str, run_id: int | None,
                 report_url: str | None = None) -> dict[str, Any]:
    """Slack-compatible: `text` for the channel (with a link to the published report), `report` for machines."""
    lines = [headline(report, spec)] + [f"• {i.kind}: {i.address}" for i in report.items[:20]]
    if len(report.items) > 20:
        lines.append(f"… and {len(report.items) - 20} more")
    if report_url:
        lines.append(f"Report: {report_url}")
    body: dict[str, Any] = {"text": "\n".join(lines), "report": to_json(report, spec, run_id)}
    if report_url:
        body["report_url"] = report_url
    return body
