"""Plan rules that need no planner: which nodes a selection takes, where a change's origin lies, the
edges a removed resource's change keeps, and checks of resolved attributes."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx

from reconciler.engine.ghosts import _Ghost
from reconciler.engine.references import ReferenceResolver
from reconciler.errors import ReconcileError
from reconciler.inventory import Inventory
from reconciler.model import UNKNOWN, Action, Change, Observed, Resource, Selection, covers
from reconciler.registry import Registry
from reconciler.spec import refs
from reconciler.spec.graph import with_dependencies
from reconciler.state.records import CREATED, FOUND, StateRecord

log = logging.getLogger(__name__)


def selected_nodes(graph: nx.DiGraph[str], selection: Selection, inventory: Inventory | None = None) -> list[str]:
    """Nodes to plan, in dependency order: the selected ones and everything they depend on. `--limit`
    takes hosts, groups (their hosts) and engine or region names."""
    nodes: Collection[str] = graph.nodes
    if selection.targets:
        chosen = [n for n in graph.nodes if n in selection.targets or _base(n) in selection.targets]
        unknown = [t for t in selection.targets if not any(n == t or _base(n) == t for n in graph.nodes)]
        if unknown:
            raise ReconcileError(f"--target names no resource of the spec: {', '.join(unknown)}")
        nodes = with_dependencies(graph, chosen)
    if selection.limit:
        hosts = set()
        for name in selection.limit:
            members = inventory.expand(name) if inventory is not None else None
            hosts |= set(members) if members else {name}
        known = {graph.nodes[n]["resource"].host for n in graph.nodes} | {
            graph.nodes[n]["resource"].target for n in graph.nodes}
        missing = sorted(hosts - known)
        if missing:
            raise ReconcileError(f"--limit names no host or target of the spec: {', '.join(missing)} "
                                 "(a group's hosts are named one by one)")
        chosen = [n for n in nodes if graph.nodes[n]["resource"].host in hosts
                  or graph.nodes[n]["resource"].target in hosts]
        nodes = with_dependencies(graph, chosen)
    keep = set(nodes)
    if selection.exclude:
        excluded = [n for n in graph.nodes if any(covers(x, n) for x in selection.exclude)]
        unknown = [x for x in selection.exclude if not any(covers(x, n) for n in graph.nodes)]
        if unknown:
            raise ReconcileError(f"--exclude names no resource of the spec: {', '.join(unknown)}")
        for node in excluded:
            keep -= {node} | set(nx.descendants(graph, node))  # type: ignore[arg-type]
    return [n for n in nx.lexicographical_topological_sort(graph) if n in keep]


def _base(address: str) -> str:
    return address.split("[", 1)[0]


def check_attributes(registry: Registry, type_name: str, attributes: Mapping[str, Any], keys: Collection[str],
                     secret: Collection[str] = ()) -> list[str]:
    """Schema problems of `attributes[key]` for the given keys (values still unknown are skipped)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(registry.schema(type_name), format_checker=Draft202012Validator.FORMAT_CHECKER)
    known = {k: v for k, v in attributes.items() if not _unknown_inside(v)}
    out = []
    for error in validator.iter_errors(known):
        top = str(error.absolute_path[0]) if error.absolute_path else None
        if top in keys:
            message = error.message if top not in secret else f"the value of {top} is not valid ({error.validator})"
            out.append(f"{top}: {message}")
    return out


def _unknown_inside(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(_unknown_inside(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_unknown_inside(v) for v in value)
    return False


def infer_edges(changes: list[Change], discovered: Sequence[_Ghost]) -> list[Change]:
    """Objects found by their ownership marks come with no recorded edges: one whose attribute values hold
    another's identity (its id, ARN or name) depends on it — a subnet names its VPC — so it goes first."""
    unknown = {g.resource.address for g in discovered}
    if not unknown:
        return changes
    handles: dict[str, set[str]] = {}
    for c in changes:
        own = dict(c.observed.identity) if c.observed else {}
        for key in ("id", "arn"):
            if c.observed is not None and key in c.observed.attributes:
                own[key] = c.observed.attributes[key]
        handles[c.address] = {v for v in own.values() if isinstance(v, str) and len(v) >= 3}
    out = []
    for c in changes:
        if c.address not in unknown or c.observed is None:
            out.append(c)
            continue
        mentioned = set(_strings(c.observed.attributes)) - handles[c.address]
        deps = tuple(sorted(other for other, hs in handles.items() if other != c.address and hs & mentioned))
        out.append(dataclasses.replace(c, depends_on=deps))
    return out


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _unread_data(resource: Resource, failures: Mapping[str, str], resolver: ReferenceResolver) -> str | None:
    """The data lookup a resource reads that could not be read, if any."""
    for _, text in refs.find(dict(resource.attributes)):
        try:
            ref = refs.parse(text, resolver.types)
        except ValueError:
            continue
        if ref.type.startswith("data."):
            node = resolver.index.node_for_reference(ref, resource)
            if not isinstance(node, str) and node.address in failures:
                return node.address
    return None


def origin_for(change: Change, record: StateRecord | None, observed: Observed | None,
               intended: Mapping[str, Any] | None = None) -> str:
    """Whether the state should call the object created by reconcile or found already there. `intended`: the
    journal's entry for it, left by a run that stopped before it recorded the outcome: what that run was
    making is decided by what it meant to do, never by looking again (an object it made carries no mark)."""
    if change.action in (Action.CREATE, Action.REPLACE):
        found = change.retiring is not None and change.resource is not None and change.resource.adopted
        return FOUND if found else CREATED
    if record is not None and not (intended and intended.get("action") in ("create", "replace")):
        return record.origin
    if intended and intended.get("action") in ("create", "replace"):
        return str(intended.get("origin") or CREATED)
    if record is not None:
        return record.origin
    return CREATED if observed is not None and observed.ours else FOUND


def _has_unknown(resource: Resource) -> bool:
    return any(v is UNKNOWN for v in resource.attributes.values())


def dependencies_of(graph: nx.DiGraph[str], address: str) -> Iterable[str]:
    """Every address `address` depends on (depends_on and references), as the state records them."""
    return sorted(graph.predecessors(address)) if address in graph else ()
