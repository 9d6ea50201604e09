"""The dependency graph as text (Graphviz dot, mermaid) and as a picture (SVG, PNG) drawn by Graphviz's
`dot` program: one cluster per target, nodes coloured by their planned action or drift class."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping

import networkx as nx

from reconciler.errors import ReconcileError

# fill colours per class: the plan's actions and drift's classes (the HTML report uses the same ones)
COLOURS = {
    "create": "#b7e4c7", "update": "#ffe8a3", "replace": "#f9c89b", "delete": "#f4a6a6", "forget": "#d9d9d9",
    "noop": "#ffffff", "drifted": "#ffd166", "pending": "#a0c4ff", "missing": "#ef8a8a",
    "unmanaged": "#cdb4db", "duplicate": "#f7a072", "failed": "#e63946",
}
_ESCAPE = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": " "})


def _q(text: str) -> str:
    return '"' + text.translate(_ESCAPE) + '"'


def to_dot(graph: nx.DiGraph[str], targets: Mapping[str, str] | None = None,
           classes: Mapping[str, str] | None = None) -> str:
    """dot text; with `targets` (address -> target) nodes are clustered per target, with `classes`
    (address -> action or drift class) they are filled with the class's colour and a legend is added."""
    targets = targets or {}
    classes = classes or {}
    lines = ["digraph reconcile {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", '
             'fillcolor="#ffffff", fontname="monospace"];']
    by_target: dict[str, list[str]] = {}
    for node in sorted(graph.nodes):
        by_target.setdefault(targets.get(node, ""), []).append(node)
    for i, (target, nodes) in enumerate(sorted(by_target.items())):
        indent = "  "
        if target and targets:
            lines += [f"  subgraph cluster_{i} {{", f"    label={_q(target)};", '    style="rounded,dashed";']
            indent = "    "
        for node in nodes:
            cls = classes.get(node)
            attrs = f' [fillcolor="{COLOURS[cls]}", tooltip={_q(cls)}]' if cls in COLOURS else ""
            lines.append(f"{indent}{_q(node)}{attrs};")
        if target and targets:
            lines.append("  }")
    for u, v in sorted(graph.edges):
        lines.append(f"  {_q(u)} -> {_q(v)};")
    used = sorted({c for c in classes.values() if c in COLOURS and c != "noop"})
    if used:
        lines.append('  subgraph cluster_legend { label="legend"; style="rounded";')
        lines += [f'    {_q("legend:" + c)} [label={_q(c)}, fillcolor="{COLOURS[c]}"];' for c in used]
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(graph: nx.DiGraph[str]) -> str:
    ids = {node: f"n{i}" for i, node in enumerate(sorted(graph.nodes))}
    lines = ["flowchart LR"]
    for node, ident in ids.items():
        lines.append(f'  {ident}["{node}"]')
    for u, v in sorted(graph.edges):
        lines.append(f"  {ids[u]} --> {ids[v]}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, fmt: str, timeout: float = 120) -> bytes:
    """The picture Graphviz draws of `dot_text`, as svg or png bytes."""
    dot = shutil.which("dot")
    if dot is None:
        raise ReconcileError("drawing the graph needs Graphviz's `dot` program: install graphviz "
                             "(apt-get install graphviz), or use --format dot|mermaid")
    try:
        done = subprocess.run([dot, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ReconcileError(f"Graphviz did not finish drawing the graph in {timeout:.0f}s") from None
    if done.returncode != 0:
        raise ReconcileError(f"Graphviz failed: {done.stderr.decode(errors='replace').strip()[:500]}")
    return done.stdout
