"""Plan: observe, then diff every node in dependency order; unknown values flow along references."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

import networkx as nx

from reconciler.engine.graph import AddressIndex, referenced_by, with_dependencies
from reconciler.engine.observe import observe
from reconciler.errors import ReconcileError
from reconciler.model import UNKNOWN, Action, Change, Observed, Plan, Resource, Spec
from reconciler.module import Module
from reconciler.registry import Registry
from reconciler.spec import refs
from reconciler.spec.build import canonical_hash
from reconciler.state.store import StateStore, is_salted
from reconciler.targets import TargetPool


@dataclasses.dataclass(frozen=True)
class Selection:
    """--target / --limit / --no-prune."""

    targets: tuple[str, ...] = ()
    limit: tuple[str, ...] = ()
    prune: bool = True
    allow_data_loss: bool = False

    @property
    def partial(self) -> bool:
        return bool(self.targets or self.limit)


def selected_nodes(graph: nx.DiGraph, selection: Selection) -> list[str]:
    """Nodes to plan, in dependency order: the selected ones and everything they depend on."""
    nodes: Collection[str] = graph.nodes
    if selection.targets:
        chosen = [n for n in graph.nodes if n in selection.targets or _base(n) in selection.targets]
        unknown = [t for t in selection.targets if not any(n == t or _base(n) == t for n in graph.nodes)]
        if unknown:
            raise ReconcileError(f"--target names no resource of the spec: {', '.join(unknown)}")
        nodes = with_dependencies(graph, chosen)
    if selection.limit:
        hosts = set(selection.limit)
        chosen = [n for n in nodes if graph.nodes[n]["resource"].host in hosts
                  or graph.nodes[n]["resource"].target in hosts]
        nodes = with_dependencies(graph, chosen)
    keep = set(nodes)
    return [n for n in nx.lexicographical_topological_sort(graph) if n in keep]


def _base(address: str) -> str:
    return address.split("[", 1)[0]


class ReferenceResolver:
    """Resolves `${…}` in a resource's attributes from what is known of the resources it references."""

    def __init__(self, graph: nx.DiGraph, registry: Registry):
        self.index = AddressIndex([graph.nodes[n]["resource"] for n in graph.nodes])
        self.types = registry.types
        self.registry = registry

    def resolve(self, resource: Resource, known: Mapping[str, Mapping[str, Any]]) -> Resource:
        """`known[address]` is the attribute view of an already planned or applied resource."""
        if not refs.contains_reference(dict(resource.attributes)):
            return resource

        def lookup(text: str) -> Any:
            ref = refs.parse(text, self.types)
            node = self.index.node_for_reference(ref, resource)
            assert not isinstance(node, str), node  # validation rejected unresolvable references
            view = known.get(node.address)
            if view is None or ref.attribute[0] not in view:
                return UNKNOWN
            return refs.dig(view[ref.attribute[0]], ref.attribute[1:])

        attributes = refs.substitute(dict(resource.attributes), lookup)
        return dataclasses.replace(resource, attributes=attributes)


def attribute_view(
    module: Module | None, change: Change, last_known: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What later resources may read of a planned change: unknown where apply will decide it.

    For a resource left alone, values it did not report this time (a command's stdout when it
    did not run) fall back to what the state recorded when it last changed.
    """
    resource = change.resource
    observed = change.observed.attributes if change.observed else {}
    spec_values = dict(resource.attributes) if resource else {}
    if change.action is Action.NOOP:
        remembered = {k: v for k, v in (last_known or {}).items() if not is_salted(v)}
        return {**remembered, **observed, **spec_values}
    computed = module.computed if module else frozenset()
    if change.action is Action.UPDATE:  # an id stays; a content hash may not
        volatile = module.volatile if module else frozenset()
        return {**observed, **spec_values, **{k: UNKNOWN for k in volatile}}
    planned = module.planned(resource) if module and resource else {}
    return {**{k: UNKNOWN for k in computed}, **planned, **spec_values}


def make_plan(
    spec: Spec, graph: nx.DiGraph, registry: Registry, targets: TargetPool, store: StateStore,
    selection: Selection = Selection(), parallelism: int = 10,
) -> Plan:
    """Observe and diff every selected node. Observation runs in waves: first every resource that
    references nothing (one batch per type and target), then each set of resources whose
    references can now be resolved, so that a path or id taken from another resource is known
    before it is looked at."""
    order = selected_nodes(graph, selection)
    records = store.records()
    ghosts = []
    if selection.prune and not selection.partial:
        in_spec = set(graph.nodes)
        ghosts = [rec.as_resource() for addr, rec in records.items() if addr not in in_spec and rec.type in registry]

    resolver = ReferenceResolver(graph, registry)
    known: dict[str, dict[str, Any]] = {}
    changes: dict[str, Change] = {}
    observed_all: dict[str, Observed | None] = {}
    failures: dict[str, str] = {}
    pending = list(order)
    first_wave = True
    while pending or first_wave:  # the first wave also observes what was removed from the spec
        ready = [a for a in pending if all(p in known for p in referenced_by(graph, a))]
        taken = set(ready)
        pending = [a for a in pending if a not in taken]
        wave = [_with_prior(resolver.resolve(graph.nodes[a]["resource"], known), records) for a in ready]
        observable = [r for r in wave if registry.module(r.type).observe_unresolved or not _has_unknown(r)]
        observation = observe(observable + (ghosts if first_wave else []), registry, targets, parallelism)
        first_wave = False
        observed_all.update(observation.observed)
        failures.update(observation.errors)
        for r in wave:
            module = registry.module(r.type)
            if r.address in failures:
                changes[r.address] = Change(r.address, r.type, Action.NOOP, reason="not observed", resource=r)
                known[r.address] = {}
                continue
            change = module.diff(r, observation.observed.get(r.address))
            change = _triggered(module, change, resolver.index, changes)
            record = records.get(r.address)
            known[r.address] = attribute_view(module, change, record.observed if record else None)
            changes[r.address] = change

    ordered = [changes[a] for a in order]
    for ghost in ghosts:
        if ghost.address in failures:
            continue
        module = registry.module(ghost.type)
        observed = observed_all.get(ghost.address)
        action = Action.DELETE if observed is not None and module.prunable else Action.NOOP
        reason = "no longer in the spec" if action is Action.DELETE else "no longer in the spec; nothing to undo"
        ordered.append(Change(ghost.address, ghost.type, action, reason=reason, resource=ghost,
                              observed=observed, pruned=True))

    blockers = tuple(_destroy_blockers(ordered, registry, targets, selection))
    hashes = {a: canonical_hash(o.attributes if o else None) for a, o in sorted(observed_all.items())}
    fingerprint = canonical_hash({"spec": spec.hash, "serial": store.serial, "observed": hashes})
    return Plan(tuple(ordered), spec.hash, fingerprint, store.serial, failures, blockers, hashes)


def _destroy_blockers(
    changes: list[Change], registry: Registry, targets: TargetPool, selection: Selection
) -> list[str]:
    out = []
    for c in changes:
        if c.action not in (Action.DELETE, Action.REPLACE) or c.resource is None:
            continue
        verb = "replace" if c.action is Action.REPLACE else "destroy"
        prevent = c.resource.lifecycle.prevent_destroy
        if prevent:
            out.append(f"{c.address}: lifecycle.prevent_destroy is set, but the plan would {verb} it")
            continue
        if prevent is False or selection.allow_data_loss:
            continue
        module = registry.module(c.type)
        hazard = module.destroy_hazard(targets.get(module.family, c.resource.target), c)
        if hazard:
            out.append(f"{c.address}: the plan would {verb} it, but {hazard}; set lifecycle.prevent_destroy: "
                       "false on it or pass --allow-data-loss")
    return out


def _triggered(module: Module, change: Change, index: AddressIndex, changes: Mapping[str, Change]) -> Change:
    """A service with `restart_on: [file.conf]` restarts when file.conf changes in this run."""
    key = module.trigger_attribute
    resource = change.resource
    if not key or resource is None or change.observed is None or change.action not in (Action.NOOP, Action.UPDATE):
        return change
    for written in resource.attributes.get(key) or []:
        for node in index.nodes_for(str(written), resource):
            cause = changes.get(node.address)
            if cause is not None and cause.action is not Action.NOOP:
                return module.triggered(change, node.address)
    return change


def _with_prior(resource: Resource, records: Mapping[str, Any]) -> Resource:
    """Hand the module what the state knows of the object, so a renamed one is found under its old name."""
    record = records.get(resource.address)
    return dataclasses.replace(resource, prior=dict(record.identity)) if record and record.identity else resource


def _has_unknown(resource: Resource) -> bool:
    return any(v is UNKNOWN for v in resource.attributes.values())
