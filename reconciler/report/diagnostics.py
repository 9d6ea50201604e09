"""Validation diagnostics in every format CI tools read: text, JSON, GitHub annotations, JUnit, SARIF."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from reconciler.diagnostics import Diagnostic
from reconciler.words import plural


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
    from reconciler import __version__

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
            failure = ET.SubElement(case, "failure", message=plural(len(diags), "error"), type="SpecError")
            failure.text = "\n".join(str(d) for d in diags)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
