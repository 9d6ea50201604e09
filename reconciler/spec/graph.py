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
    builder = _GraphBuilder(resources, registry, doc, data)
    builder.add_triggers()
    for r in resources:
        builder.add_depends_on(r)
        builder.add_references(r)
    builder.refuse_cycles()
    return builder.graph, builder.diagnostics


class _GraphBuilder:
    """One graph being built: its nodes, and the problems found on the way, each at its place in the spec."""

    def __init__(self, resources: Sequence[Resource], registry: Registry, doc: SourceDocument,
                 data: Sequence[Resource]):
        self.resources, self.registry, self.doc = resources, registry, doc
        self.graph: nx.DiGraph[str] = nx.DiGraph()
        self.diagnostics: list[Diagnostic] = []
        self.index = AddressIndex(list(resources) + list(data))  # data sources are read before planning: no nodes
        self.types = registry.reference_types
        # resources declared but not built (they have errors of their own) are not "unknown"
        written = doc.data.get("resources")
        entries = [r for r in (written if isinstance(written, list) else []) if isinstance(r, dict)]
        self.declared = {f"{r.get('type')}.{r.get('name')}" for r in entries}
        self.conditional = {f"{r.get('type')}.{r.get('name')}" for r in entries
                            if {"when", "count", "for_each"} & set(r)}
        for r in resources:
            self.graph.add_node(r.address, resource=r)

    def error(self, message: str, resource: Resource, sub: tuple[str | int, ...]) -> None:
        path = resource.json_path + sub
        self.diagnostics.append(Diagnostic(message, self.doc.locate(path), path))

    def unknown(self, written: str, r: Resource) -> str | None:
        """Why `written` names nothing `r` can use, or None when its declaration has errors of its own."""
        base = written.split("[")[0]
        by_base = self.index.by_base
        if base in self.conditional and base.removeprefix(r.scope) not in by_base and base not in by_base:
            return (f"{written} is not built here (its when:, count: or for_each: leaves it out), so nothing can be "
                    "read from it; give this resource the same condition, or read it only where it exists")
        if base in self.declared:
            return None  # declared, but not built: its own errors say why
        return f"unknown resource {written!r}" + _closest(written, set(by_base) - {r.base_address})

    def add_triggers(self) -> None:
        """`notify:` and `triggered_by:`: each receiver after every resource that can trigger it."""
        receivers, problems = notify.collect(self.resources, self.index, self.registry, self.unknown)
        for message, r, sub in problems:
            self.error(message, r, sub)
        for receiver, fired_by in receivers.items():
            self.graph.nodes[receiver]["triggers"] = tuple(fired_by)
            for t in fired_by:
                if t.cause in self.graph:
                    self.graph.add_edge(t.cause, receiver)

    def add_depends_on(self, r: Resource) -> None:
        for i, written in enumerate(r.depends_on):
            targets = self.index.nodes_for(written, r)
            if not targets and written.split("[")[0] not in self.declared:
                hint = _closest(written, set(self.index.by_base) - {r.base_address})
                self.error(f"depends_on names unknown resource {written!r}{hint}", r, ("depends_on", i))
            for dep in targets:
                if dep.address in self.graph:
                    self.graph.add_edge(dep.address, r.address)

    def add_references(self, r: Resource) -> None:
        """`${…}` references: each must name a resource built here and one of its attributes."""
        for path in refs.unterminated(dict(r.attributes)):
            self.error("unterminated reference: a `${` with no closing `}` (write `$${` for a literal `${`)", r, path)
        for path, text in refs.find(dict(r.attributes)):
            try:
                ref = refs.parse(text, self.types)
            except ValueError as exc:
                self.error(str(exc), r, path)
                continue
            found = self.index.node_for_reference(ref, r)
            problem = self._reference_problem(ref, found)
            if problem:
                self.error(problem, r, path)
                continue
            if not isinstance(found, str) and found.address in self.graph:
                self.graph.add_edge(found.address, r.address, reference=True)

    def _reference_problem(self, ref: refs.Reference, found: Resource | str) -> str | None:
        built = ref.base_address in self.index.by_base
        if isinstance(found, str) and ref.base_address in self.conditional and not built:
            return (f"{ref} reads {ref.base_address}, which is not built here (its when:, count: or for_each: "
                    "leaves it out); give this resource the same condition, or read it only where it exists")
        if isinstance(found, str) and ref.base_address in self.declared and not built:
            return None
        if isinstance(found, str):
            return found + _closest(ref.base_address, self.index.by_base)
        names = self.registry.attribute_names(found.type)
        if ref.attribute[0] not in names:
            return f"{found.type} has no attribute {ref.attribute[0]!r} (it has: {', '.join(sorted(names))})"
        kind = (self.registry.schema(found.type).get("properties") or {}).get(ref.attribute[0], {}).get("type")
        if len(ref.attribute) > 1 and kind in ("string", "integer", "number", "boolean"):
            return (f"{ref}: {found.type}.{ref.attribute[0]} is a {kind}, so it has no {ref.attribute[1]!r} to "
                    "look up")
        return None

    def refuse_cycles(self) -> None:
        for cycle in find_cycles(self.graph):
            first = self.graph.nodes[cycle[0]]["resource"]
            self.error("dependency cycle: " + " -> ".join(cycle + [cycle[0]]), first, ())


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
