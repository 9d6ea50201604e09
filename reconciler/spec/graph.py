"""The dependency graph: explicit depends_on and implicit `${…}` reference edges, checked for cycles."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import networkx as nx

from reconciler.diagnostics import Diagnostic, SourceDocument
from reconciler.model import Resource
from reconciler.registry import Registry
from reconciler.spec import notify, refs


class AddressIndex:
    """Finds the graph nodes an address written in the spec stands for, as seen from one resource."""

    def __init__(self, resources: Sequence[Resource]):
        self.by_address = {r.address: r for r in resources}
        self.by_base: dict[str, list[Resource]] = {}
        self.by_component: dict[str, list[Resource]] = {}  # "component.web": every resource inside it
        for r in resources:
            self.by_base.setdefault(r.base_address, []).append(r)
            scope = r.scope
            while scope:
                self.by_component.setdefault(scope[:-1], []).append(r)
                scope = scope[: scope.rstrip(".").rfind(".component.") + 1] if ".component." in scope else ""

    def nodes_for(self, written: str, source: Resource) -> list[Resource]:
        """`file.x[web1]` is one node; `file.x` is the instance on the same host, else every instance;
        `component.web` is every resource of that component."""
        if written in self.by_address and "[" in written:
            return [self.by_address[written]]
        if written in self.by_component and not source.scope.startswith(written + "."):
            return self.by_component[written]
        instances = self.by_base.get(written, [])
        same_host = [r for r in instances if source.host and r.host == source.host]
        return same_host or instances

    def node_for_reference(self, ref: refs.Reference, source: Resource) -> Resource | str:
        """The one node a reference reads from, or an error message."""
        if ref.host:
            found = self.by_address.get(f"{ref.base_address}[{ref.host}]")
            return found or f"{ref.base_address} has no instance on host {ref.host!r}"
        candidates = self.nodes_for(ref.base_address, source)
        if not candidates:
            return f"reference to unknown resource {ref.base_address}"
        if len(candidates) > 1:
            hosts = ", ".join(c.host or "?" for c in candidates)
            return f"{ref} is ambiguous: {ref.base_address} exists on {hosts}; write {ref.base_address}[HOST]"
        return candidates[0]


def build_graph(
    resources: Sequence[Resource], registry: Registry, doc: SourceDocument, data: Sequence[Resource] = ()
) -> tuple[nx.DiGraph[str], list[Diagnostic]]:
    """Edges point from a dependency to its dependent, so a topological order is an apply order."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    diagnostics: list[Diagnostic] = []
    index = AddressIndex(list(resources) + list(data))  # data sources are read before planning: no nodes
    types = registry.reference_types
    # resources declared but not built (they have errors of their own) are not "unknown"
    written = doc.data.get("resources")
    declared = {f"{r.get('type')}.{r.get('name')}" for r in (written if isinstance(written, list) else [])
                if isinstance(r, dict)}
    conditional = {f"{r.get('type')}.{r.get('name')}" for r in (written if isinstance(written, list) else [])
                   if isinstance(r, dict) and ({"when", "count", "for_each"} & set(r))}
    for r in resources:
        graph.add_node(r.address, resource=r)

    def error(message: str, resource: Resource, sub: tuple[str | int, ...]) -> None:
        path = resource.json_path + sub
        diagnostics.append(Diagnostic(message, doc.locate(path), path))

    def unknown(written: str, r: Resource) -> str | None:
        base = written.split("[")[0]
        if base in conditional and base.removeprefix(r.scope) not in index.by_base and base not in index.by_base:
            return (f"{written} is not built here (its when:, count: or for_each: leaves it out), so nothing can be "
                    "read from it; give this resource the same condition, or read it only where it exists")
        if base in declared:
            return None  # declared, but not built: its own errors say why
        return f"unknown resource {written!r}" + _closest(written, set(index.by_base) - {r.base_address})

    receivers, problems = notify.collect(resources, index, registry, unknown)
    for message, r, sub in problems:
        error(message, r, sub)
    for receiver, fired_by in receivers.items():
        graph.nodes[receiver]["triggers"] = tuple(fired_by)
        for t in fired_by:
            if t.cause in graph:
                graph.add_edge(t.cause, receiver)

    for r in resources:
        explicit = [("depends_on", i, w) for i, w in enumerate(r.depends_on)]
        for key, i, written in explicit:
            targets = index.nodes_for(written, r)
            if not targets and written.split("[")[0] not in declared:
                hint = _closest(written, set(index.by_base) - {r.base_address})
                error(f"{key} names unknown resource {written!r}{hint}", r, (key, i))
            for dep in targets:
                if dep.address in graph:
                    graph.add_edge(dep.address, r.address)
        for path in refs.unterminated(dict(r.attributes)):
            error("unterminated reference: a `${` with no closing `}` (write `$${` for a literal `${`)", r, path)
        for path, text in refs.find(dict(r.attributes)):
            try:
                ref = refs.parse(text, types)
            except ValueError as exc:
                error(str(exc), r, path)
                continue
            found = index.node_for_reference(ref, r)
            if isinstance(found, str) and ref.base_address in conditional and ref.base_address not in index.by_base:
                error(f"{ref} reads {ref.base_address}, which is not built here (its when:, count: or for_each: leaves "
                      "it out); give this resource the same condition, or read it only where it exists", r, path)
                continue
            if isinstance(found, str) and ref.base_address in declared and ref.base_address not in index.by_base:
                continue
            if isinstance(found, str):
                error(found + _closest(ref.base_address, index.by_base), r, path)
                continue
            if ref.attribute[0] not in registry.attribute_names(found.type):
                known = ", ".join(sorted(registry.attribute_names(found.type)))
                error(f"{found.type} has no attribute {ref.attribute[0]!r} (it has: {known})", r, path)
                continue
            kind = (registry.schema(found.type).get("properties") or {}).get(ref.attribute[0], {}).get("type")
            if len(ref.attribute) > 1 and kind in ("string", "integer", "number", "boolean"):
                error(f"{ref}: {found.type}.{ref.attribute[0]} is a {kind}, so it has no {ref.attribute[1]!r} to look "
                      "up", r, path)
                continue
            if found.address in graph:
                graph.add_edge(found.address, r.address, reference=True)

    for cycle in find_cycles(graph):
        first = graph.nodes[cycle[0]]["resource"]
        error("dependency cycle: " + " -> ".join(cycle + [cycle[0]]), first, ())
    return graph, diagnostics


def find_cycles(graph: nx.DiGraph[str]) -> list[list[str]]:
    """One cycle per strongly connected component that has one, naming every resource on it."""
    cycles = []
    for component in nx.strongly_connected_components(graph):
        if len(component) == 1:
            node = next(iter(component))
            if graph.has_edge(node, node):
                cycles.append([node])
            continue
        sub = graph.subgraph(component)
        edges = nx.find_cycle(sub, source=min(component))
        cycles.append([u for u, _ in edges])
    return sorted(cycles)


def _closest(written: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(written, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def referenced_by(graph: nx.DiGraph[str], address: str) -> list[str]:
    """The nodes whose values `address` reads through `${…}` (not mere depends_on)."""
    return [p for p in graph.predecessors(address) if graph.edges[p, address].get("reference")]


def with_dependencies(graph: nx.DiGraph[str], selected: Iterable[str]) -> set[str]:
    """The selected nodes plus everything they depend on, transitively."""
    keep: set[str] = set()
    for node in selected:
        keep.add(node)
        keep |= nx.ancestors(graph, node)
    return keep
