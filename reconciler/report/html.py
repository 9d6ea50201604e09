"""One self-contained HTML page for a drift report or a plan: the counts, a dependency-graph picture coloured
by class (drawn by Graphviz when it is installed), every resource with its attribute differences, filters
by family, target and class, and for drift the history of the last runs. No network fetch: inline CSS,
JavaScript and SVG only, so it works offline and as a CI artifact. Values arrive masked; the page is
masked once more by the run's redactor before it is written."""

from __future__ import annotations

import difflib
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from reconciler.errors import ReconcileError
from reconciler.model import UNKNOWN, Plan
from reconciler.report.drift_formats import reason
from reconciler.report.graph_picture import COLOURS, render, to_dot
from reconciler.report.plan_text import format_value

DRIFT_CLASSES = ("drifted", "pending", "missing", "duplicate", "unmanaged")
PLAN_CLASSES = ("create", "update", "replace", "delete", "forget")


@dataclass(frozen=True)
class Row:
    """One resource on the page."""

    address: str
    type: str
    family: str
    target: str
    cls: str  # drift class or planned action
    note: str  # what apply would do, or why
    diffs: tuple[tuple[str, Any, Any], ...] = ()  # (attribute, before, after)
    text_diff: str = ""  # a unified diff of a rewritten text (a file's content), when the module gave one
    where: str = ""  # where the object lives (path or name, and target)


@dataclass(frozen=True)
class Page:
    title: str
    subtitle: str
    classes: tuple[str, ...]
    rows: tuple[Row, ...]
    graph: nx.DiGraph[str]
    errors: tuple[tuple[str, str], ...] = ()
    history: tuple[Mapping[str, Any], ...] = ()  # {"run", "started_at", "total"} oldest first
    placements: Mapping[str, str] = field(default_factory=dict)  # address -> "family: target", every node

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(self.classes, 0)
        for row in self.rows:
            out[row.cls] = out.get(row.cls, 0) + 1
        return out


# -- building pages --------------------------------------------------------------------------------
def drift_page(report: Any, spec: str, graph: nx.DiGraph[str], families: Mapping[str, str],
               history: Sequence[Mapping[str, Any]] = (), placements: Mapping[str, str] | None = None,
               text_diffs: Mapping[str, str] | None = None) -> Page:
    texts = text_diffs or {}
    rows = tuple(
        Row(i.address, i.type, families.get(i.type, ""), i.target, i.kind,
            (f"apply would {i.action}" if i.action != "none" else "labelled as ours, not in the spec")
            + (f". Why: {reason(i)}" if i.attributes else ""),
            tuple((a["name"], a.get("actual"), a.get("wanted")) for a in i.attributes), texts.get(i.address, ""))
        for i in report.items)
    return Page(f"Drift in {spec}", f"{report.checked} resources checked", DRIFT_CLASSES, rows, graph,
                tuple(sorted(report.errors.items())), tuple(history), dict(placements or {}))


def plan_page(plan: Plan, spec: str, graph: nx.DiGraph[str], families: Mapping[str, str],
              placements: Mapping[str, str] | None = None, text_diffs: Mapping[str, str] | None = None) -> Page:
    texts = text_diffs or {}
    rows = []
    for c in plan.actionable:
        target = c.resource.target if c.resource is not None else ""
        note = c.reason or ("replace because " + ", ".join(c.replace_causes) if c.replace_causes else "")
        cls = c.action.value if c.action.value in PLAN_CLASSES else "update"
        rows.append(Row(c.address, c.type, families.get(c.type, ""), target, cls, c.verb or note,
                        tuple((d.name, d.before, d.after) for d in c.diffs), texts.get(c.address, ""), c.where))
    return Page(f"Plan for {spec}", "", PLAN_CLASSES, tuple(rows), graph, tuple(sorted(plan.failures.items())),
                placements=dict(placements or {}))


# -- rendering ---------------------------------------------------------------------------------------
PAGE_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1rem 1.5rem;color:#1d1d1f}
h1{font-size:1.5rem;margin:.2rem 0} .sub{color:#666;margin-bottom:1rem}
.counts{display:flex;gap:.6rem;flex-wrap:wrap;margin:1rem 0}
.count{border-radius:8px;padding:.5rem .9rem;min-width:6rem;border:1px solid #ccc}
.count .n{font-size:1.6rem;font-weight:600;display:block}
section{margin:1.4rem 0} h2{font-size:1.1rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
#graph svg{max-width:100%;height:auto} .filters label{margin-right:1rem}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eee;
vertical-align:top} tr.hidden{display:none} .cls{border-radius:4px;padding:0 .4rem;font-size:.85em}
td.diff table td{border:none;padding:.1rem .4rem;font-family:monospace;font-size:.9em}
pre.text{margin:0;font-size:.85em;max-height:20rem;overflow:auto;background:#f6f8fa;padding:.4rem}
.del{color:#b42318} .add{color:#067647} .errors li{color:#b42318}
"""

_SCRIPT = """
(function () {
  var selects = document.querySelectorAll('.filters select');
  function apply() {
    var want = {};
    selects.forEach(function (s) { want[s.name] = s.value; });
    var shown = 0;
    document.querySelectorAll('#resources > tbody > tr').forEach(function (tr) {
      var ok = ['family', 'target', 'cls'].every(function (k) { return !want[k] || tr.dataset[k] === want[k]; });
      tr.classList.toggle('hidden', !ok);
      if (ok) { shown += 1; }
    });
    document.getElementById('shown').textContent = String(shown);
  }
  // a link may preselect filters: drift.html#cls=drifted&target=web1
  new URLSearchParams(location.hash.slice(1)).forEach(function (value, key) {
    selects.forEach(function (s) { if (s.name === key) { s.value = value; } });
  });
  selects.forEach(function (s) { s.addEventListener('change', apply); });
  apply();
  document.body.dataset.ready = '1';
}());
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _value(value: Any) -> str:
    return "(known after apply)" if value is UNKNOWN else format_value(value)


def _text_diff(text: str) -> str:
    def line(ln: str) -> str:
        cls = "del" if ln.startswith("-") and not ln.startswith("---") else \
            "add" if ln.startswith("+") and not ln.startswith("+++") else ""
        return f'<span class="{cls}">{_e(ln.rstrip(chr(10)))}</span>'

    return '<pre class="text">' + "\n".join(line(ln) for ln in text.splitlines()) + "</pre>"


def diff_cell(diffs: Sequence[tuple[str, Any, Any]], text: str = "") -> str:
    if text:
        return _diff_table(diffs) + _text_diff(text)
    return _diff_table(diffs)


def _diff_table(diffs: Sequence[tuple[str, Any, Any]]) -> str:
    if not diffs:
        return ""
    rows = []
    for name, before, after in diffs:
        if isinstance(before, str) and isinstance(after, str) and ("\n" in before or "\n" in after):
            lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", lineterm="")
            body = "\n".join(f'<span class="{"del" if ln.startswith("-") else "add" if ln.startswith("+") else ""}">'
                             f"{_e(ln)}</span>" for ln in lines)
            rows.append(f"<tr><td>{_e(name)}</td><td colspan=2><pre class=text>{body}</pre></td></tr>")
        else:
            rows.append(f"<tr><td>{_e(name)}</td><td class=del>{_e(_value(before))}</td>"
                        f"<td class=add>→ {_e(_value(after))}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _graph_svg(page: Page) -> str:
    if page.graph.number_of_nodes() == 0:
        return "<p>No resources.</p>"
    classes = {r.address: r.cls for r in page.rows}
    targets = {**page.placements, **{r.address: f"{r.family}: {r.target}" for r in page.rows}}
    graph: nx.DiGraph[str] = nx.DiGraph(page.graph)
    graph.add_nodes_from(classes)  # destroys and unmanaged objects are not in the spec's graph
    try:
        svg = render(to_dot(graph, targets, classes), "svg").decode()
    except ReconcileError as exc:
        return f"<p>No picture: {_e(exc)}</p>"
    return svg[svg.index("<svg"):]


def _sparkline(history: Sequence[Mapping[str, Any]]) -> str:
    if not history:
        return "<p>No earlier drift runs recorded.</p>"
    totals = [int(h.get("total", 0)) for h in history]
    width, height, top = 320, 60, max(max(totals), 1)
    step = width / max(len(totals) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 4 - (t / top) * (height - 8):.1f}" for i, t in enumerate(totals))
    dots = "".join(f'<circle cx="{i * step:.1f}" cy="{height - 4 - (t / top) * (height - 8):.1f}" r="3">'
                   f'<title>run {_e(h.get("run"))} ({_e(h.get("started_at", ""))}): {t}</title></circle>'
                   for i, (t, h) in enumerate(zip(totals, history, strict=True)))
    return (f'<svg id="sparkline" width="{width + 8}" height="{height}" viewBox="-4 0 {width + 8} {height}" '
            f'role="img" aria-label="drift found in the last {len(totals)} runs">'
            f'<polyline fill="none" stroke="#555" stroke-width="2" points="{points}"/>{dots}</svg>'
            f"<p>Drift found in the last {len(totals)} runs (oldest first): {', '.join(map(str, totals))}.</p>")


def render_page(page: Page) -> str:
    counts = page.counts()
    boxes = "".join(f'<div class="count" style="background:{COLOURS.get(cls, "#fff")}">'
                    f'<span class="n" data-kind="{_e(cls)}">{n}</span>{_e(cls)}</div>' for cls, n in counts.items())
    options = {
        "family": sorted({r.family for r in page.rows}), "target": sorted({r.target for r in page.rows}),
        "cls": [c for c in page.classes if counts.get(c)],
    }
    labels = {"family": "Family", "target": "Target", "cls": "Class"}
    filters = "".join(
        f'<label>{labels[k]} <select name="{k}"><option value="">all</option>'
        + "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values) + "</select></label>"
        for k, values in options.items())
    body_rows = "".join(
        f'<tr data-family="{_e(r.family)}" data-target="{_e(r.target)}" data-cls="{_e(r.cls)}">'
        f"<td><code>{_e(r.address)}</code></td><td>{_e(r.where or r.target)}</td>"
        f'<td><span class="cls" style="background:{COLOURS.get(r.cls, "#fff")}">{_e(r.cls)}</span></td>'
        f"<td>{_e(r.note)}</td><td class=diff>{diff_cell(r.diffs, r.text_diff)}</td></tr>" for r in page.rows)
    errors = ("<section class=errors><h2>Could not be checked</h2><ul>"
              + "".join(f"<li><code>{_e(a)}</code>: {_e(m)}</li>" for a, m in page.errors) + "</ul></section>"
              if page.errors else "")
    history = f"<section><h2>History</h2>{_sparkline(page.history)}</section>" if page.classes == DRIFT_CLASSES \
        else ""
    data = json.dumps({"counts": counts, "errors": len(page.errors)}).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{_e(page.title)}</title><style>{PAGE_CSS}</style></head>
<body>
<h1>{_e(page.title)}</h1><div class="sub">{_e(page.subtitle)}</div>
<div class="counts" id="counts">{boxes}</div>
{errors}{history}
<section id="graph"><h2>Dependency graph</h2>{_graph_svg(page)}</section>
<section><h2>Resources (<span id="shown">{len(page.rows)}</span> shown)</h2>
<div class="filters">{filters}</div>
<table id="resources"><thead><tr><th>Resource</th><th>Target</th><th>Class</th><th>What</th><th>Differences</th>
</tr></thead><tbody>{body_rows}</tbody></table></section>
<script type="application/json" id="report-data">{data}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
