"""The dashboard at `GET /`: the drift now (class, why, differences), held remediations and the last runs, in
the HTML report's look. Self-contained; values arrive masked and the page is masked again before it is sent."""

from __future__ import annotations

import html
import time

from reconciler.durations import spoken
from reconciler.report.graph_picture import COLOURS
from reconciler.report.html import PAGE_CSS, diff_cell
from reconciler.watch.status import Snapshot

_EXTRA_CSS = ".result{border-radius:4px;padding:0 .4rem;font-size:.85em}" \
             ".clean{background:#d1fadf}.remediated{background:#d1e9ff}.drift{background:#fef0c7}" \
             ".held{background:#fde2cf}.failed{background:#fee4e2}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def render_dashboard(now: Snapshot) -> str:
    counts: dict[str, int] = {}
    for item in now.drift:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    last = now.runs[0] if now.runs else None
    boxes = "".join(f'<div class="count" style="background:{COLOURS.get(k, "#fff")}"><span class="n" '
                    f'data-kind="{_e(k)}">{n}</span>{_e(k)}</div>' for k, n in sorted(counts.items()))
    boxes = boxes or '<div class="count" style="background:#d1fadf"><span class="n" data-kind="none">0</span>' \
                     "drifted</div>"
    drift_rows = "".join(
        f'<tr data-address="{_e(i.address)}"><td><code>{_e(i.address)}</code></td><td>{_e(i.target)}</td>'
        f'<td><span class="cls" style="background:{COLOURS.get(i.kind, "#fff")}">{_e(i.kind)}</span></td>'
        f'<td>{"auto" if i.address in now.automatic else "report"}</td>'
        f"<td class=diff>{diff_cell(tuple((a['name'], a.get('actual'), a.get('wanted')) for a in i.attributes))}"
        f"</td></tr>" for i in now.drift)
    drift = (f'<table id="drift"><thead><tr><th>Resource</th><th>Target</th><th>Class</th><th>Remediate</th>'
             f"<th>Differences (found → wanted)</th></tr></thead><tbody>{drift_rows}</tbody></table>"
             if now.drift else "<p id=drift-none>No drift: everything matches what was last applied.</p>")
    held = ("<section id=held><h2>Held remediations</h2><ul>" + "".join(
        f"<li>run {n}: <code>{_e(', '.join(h.addresses))}</code>: {_e(h.why)}; apply by hand to repair</li>"
        for n, h in now.held) + "</ul></section>") if now.held else ""
    run_rows = "".join(
        f'<tr><td>{r.number}</td><td>{_e(_when(r.started))}</td><td>{r.took:.2f} s</td>'
        f'<td><span class="result {_e(r.result)}">{_e(r.result)}</span></td><td>{r.observed}</td>'
        f"<td>{_e(', '.join(r.repaired) or r.error)}</td></tr>" for r in now.runs)
    subtitle = (f"every {spoken(now.interval)}, at most {now.max_changes} automatic changes; "
                + (f"last run {_when(last.started)}: {last.result}" if last else "first run under way"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="refresh" content="30"><title>Watching {_e(now.spec)}</title>
<style>{PAGE_CSS}{_EXTRA_CSS}</style></head>
<body data-ready="1">
<h1>Watching {_e(now.spec)}</h1><div class="sub">{_e(subtitle)}</div>
<div class="counts" id="counts">{boxes}</div>
<section><h2>Drift now</h2>{drift}</section>
{held}
<section><h2>Last runs</h2><table id="runs"><thead><tr><th>Run</th><th>Started</th><th>Took</th><th>Result</th>
<th>Observed</th><th>Repaired, or why it failed</th></tr></thead><tbody>{run_rows}</tbody></table></section>
</body></html>
"""
