"""`reconcile validate`: load, render and check a spec without contacting any host, engine or cloud."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from reconciler.engine.graph import build_graph
from reconciler.errors import SpecError
from reconciler.model import Diagnostic, Spec
from reconciler.registry import Registry
from reconciler.spec.build import build_spec
from reconciler.spec.load import load_spec


@dataclass(frozen=True)
class Validated:
    spec: Spec
    graph: nx.DiGraph


def validate(
    path: str | Path, registry: Registry, environ: Mapping[str, str] | None = None, unset_env_ok: bool = False
) -> Validated:
    """The spec and its graph, or SpecError carrying every problem found."""
    doc = load_spec(path)
    spec, diagnostics = build_spec(doc, registry, environ, unset_env_ok)
    graph, graph_diagnostics = build_graph(spec.resources, registry, doc)
    diagnostics += graph_diagnostics + _attribute_lists(spec, registry)
    if diagnostics:
        raise SpecError(diagnostics)
    return Validated(spec, graph)


def _attribute_lists(spec: Spec, registry: Registry) -> list[Diagnostic]:
    """`sensitive:` and `lifecycle.ignore_changes:` must name attributes the type has."""
    out: list[Diagnostic] = []
    seen: set[str] = set()
    for r in spec.resources:
        if r.base_address in seen:
            continue
        seen.add(r.base_address)
        known = registry.attribute_names(r.type)
        for key, names in (("sensitive", r.sensitive), ("lifecycle", r.lifecycle.ignore_changes)):
            for name in sorted(names - known):
                path = r.json_path + ((key,) if key == "sensitive" else (key, "ignore_changes"))
                out.append(Diagnostic(f"{r.type} has no attribute {name!r}", spec.document.locate(path), path))
    return out
