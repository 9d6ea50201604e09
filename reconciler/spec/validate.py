"""`reconcile validate`: load, render and check a spec without contacting any host, engine or cloud."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from reconciler.diagnostics import Diagnostic
from reconciler.errors import SpecError
from reconciler.model import GroupMembers, Resource, Spec
from reconciler.registry import Registry
from reconciler.spec.build import build_spec
from reconciler.spec.graph import build_graph
from reconciler.spec.load import load_spec
from reconciler.spec.variables import VarOverrides, layered
from reconciler.timing import stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Validated:
    spec: Spec
    graph: nx.DiGraph[str]


def validate(
    path: str | Path, registry: Registry, environ: Mapping[str, str] | None = None, unset_env_ok: bool = False,
    workspace: str = "default", overrides: VarOverrides | None = None,
    facts: Mapping[str, Mapping[str, Any]] | None = None, members: Mapping[str, GroupMembers] | None = None,
) -> Validated:
    """The spec and its graph, or SpecError carrying every problem found. `facts`, `members`: see build_spec."""
    with stage(log, "load") as said:
        doc = load_spec(path)
        said["what"] = f"{len(doc.files)} file(s) of {path}"
    spec_vars = doc.data.get("vars")
    variables = layered(spec_vars if isinstance(spec_vars, dict) else {}, Path(path), workspace, overrides)
    with stage(log, "render and check") as said:
        spec, diagnostics = build_spec(doc, registry, environ, unset_env_ok, workspace, variables.values, facts,
                                       members)
        said["what"] = f"{len(spec.resources)} resource(s), stack {spec.stack}"
    with stage(log, "graph") as said:
        graph, graph_diagnostics = build_graph(spec.resources, registry, spec.document, spec.data)
        said["what"] = f"{graph.number_of_nodes()} node(s), {graph.number_of_edges()} edge(s)"
    diagnostics += (graph_diagnostics + _attribute_lists(spec, registry) + _moves_and_removals(spec)
                    + _output_references(spec, registry) + _same_objects(spec, registry))
    if diagnostics:
        raise SpecError(diagnostics)
    return Validated(spec, graph)


def _output_references(spec: Spec, registry: Registry) -> list[Diagnostic]:
    """Every `${…}` in `outputs:` names a resource of the spec and an attribute its type has."""
    from reconciler.model import Resource
    from reconciler.spec import refs
    from reconciler.spec.graph import AddressIndex

    out: list[Diagnostic] = []
    index = AddressIndex(list(spec.resources) + list(spec.data))
    nowhere = Resource("outputs", "outputs", "outputs", "local", {})
    for output in spec.outputs:
        path = ("outputs", output.name, "value")
        for _, text in refs.find(output.value):
            try:
                ref = refs.parse(text, registry.reference_types)
            except ValueError as exc:
                out.append(Diagnostic(str(exc), spec.document.locate(path), path))
                continue
            node = index.node_for_reference(ref, nowhere)
            if isinstance(node, str):
                out.append(Diagnostic(f"output {output.name}: {node}", spec.document.locate(path), path))
            elif ref.attribute[0] not in registry.attribute_names(node.type):
                out.append(Diagnostic(f"output {output.name}: {node.type} has no attribute {ref.attribute[0]!r}",
                                      spec.document.locate(path), path))
    return out


def _same_objects(spec: Spec, registry: Registry) -> list[Diagnostic]:
    """Two resources managing one object (a path, a user, a block of a file, a bucket…) would undo each other
    on every apply: an error at both lines. Keys still holding a `${…}` reference are checked at plan time."""
    from reconciler.spec import refs

    seen: dict[tuple[str, str, str], Resource] = {}
    out: list[Diagnostic] = []
    for r in spec.resources:
        module = registry.module(r.type)
        try:
            key = module.physical_key(r)
        except Exception:  # noqa: BLE001 - a key that cannot be made yet (an unresolved value) is no claim
            continue
        if key is None or refs.contains_reference(key) or "<unset env" in key:
            continue
        claim = (module.family, r.target, key)
        other = seen.setdefault(claim, r)
        if other is r:
            continue
        for this, that in ((other, r), (r, other)):
            out.append(Diagnostic(f"{this.address} and {that.address} manage the same object ({key}): they would undo "
                                  "each other on every apply; keep one", this.location, this.json_path))
    return out


def _attribute_lists(spec: Spec, registry: Registry) -> list[Diagnostic]:
    """`sensitive:` and `lifecycle.ignore_changes:` must name attributes the type has."""
    out: list[Diagnostic] = []
    seen: set[str] = set()
    for r in spec.resources:
        if r.base_address in seen:
            continue
        seen.add(r.base_address)
        known = registry.attribute_names(r.type)
        ignored = frozenset(path.split(".", 1)[0] for path in r.lifecycle.ignore_changes)  # tags.LastSeen: tags
        for key, names in (("sensitive", r.sensitive), ("lifecycle", ignored)):
            for name in sorted(names - known):
                path = r.json_path + ((key,) if key == "sensitive" else (key, "ignore_changes"))
                out.append(Diagnostic(f"{r.type} has no attribute {name!r}", spec.document.locate(path), path))
    return out


def _moves_and_removals(spec: Spec) -> list[Diagnostic]:
    """`moved:` must lead out of the spec into it; `removed:` must name what the spec no longer has."""
    out: list[Diagnostic] = []
    addresses = {r.address for r in spec.resources} | {r.base_address for r in spec.resources}
    for move in spec.moved:
        if move.source in addresses:
            out.append(Diagnostic(f"moved: {move.source} is still in the spec; only a resource that is no longer "
                                  "in it can be moved", move.location))
        if move.destination not in addresses:
            out.append(Diagnostic(f"moved: {move.destination} is not a resource of the spec", move.location))
    for removal in spec.removed:
        if removal.address in addresses:
            out.append(Diagnostic(f"removed: {removal.address} is still in the spec; take it out of the resources "
                                  "first", removal.location))
    return out
