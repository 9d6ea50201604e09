"""What a resource may read of the others: `${…}` references resolved from what is known of the resources
they name (planned, applied or recorded), unknown where apply will decide the value."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx

from reconciler.model import EPHEMERAL, UNKNOWN, Action, Change, Resource
from reconciler.module import Module
from reconciler.registry import Registry
from reconciler.spec import refs
from reconciler.spec.graph import AddressIndex
from reconciler.state.records import is_salted


class ReferenceResolver:
    """Resolves `${…}` in a resource's attributes from what is known of the resources it references.

    A value read from a secret attribute is a secret too: the attribute it lands in is added to the
    resource's `sensitive` set, so it is masked in every output and hashed in the state.
    """

    def __init__(self, graph: nx.DiGraph[str], registry: Registry, data: Sequence[Resource] = ()):
        self.index = AddressIndex([graph.nodes[n]["resource"] for n in graph.nodes] + list(data))
        self.types = registry.reference_types
        self.registry = registry

    def resolve(self, resource: Resource, known: Mapping[str, Mapping[str, Any]],
                secrets: Mapping[str, frozenset[str]] | None = None) -> Resource:
        """`known[address]` is the attribute view of an already planned or applied resource;
        `secrets[address]` the names of its secret attributes."""
        attributes = dict(resource.attributes)
        if not refs.contains_reference(attributes):
            if refs.has_escape(attributes):  # `$${X}` alone: the literal `${X}`
                return dataclasses.replace(resource, attributes=refs.unescape(attributes))
            return resource
        tainted: set[str] = set()
        ephemeral: set[str] = set()

        def lookup_for(top: str) -> Any:
            def lookup(text: str) -> Any:
                ref = refs.parse(text, self.types)
                node = self.index.node_for_reference(ref, resource)
                if isinstance(node, str):  # validation rejects these; never a crash if one slips through
                    raise refs.ReferenceProblem(node)
                if secrets and ref.attribute[0] in secrets.get(node.address, frozenset()):
                    tainted.add(top)
                    if EPHEMERAL in secrets.get(node.address, frozenset()):
                        ephemeral.add(top)
                view = known.get(node.address)
                if view is None or ref.attribute[0] not in view:
                    return UNKNOWN
                return refs.dig(view[ref.attribute[0]], ref.attribute[1:], str(ref))
            return lookup

        resolved = {}
        for k, v in attributes.items():
            try:
                resolved[k] = refs.substitute(v, lookup_for(k)) if refs.contains_reference(v) else v
            except refs.ReferenceProblem as exc:
                exc.key = k
                raise
        return dataclasses.replace(resource, attributes=resolved, sensitive=resource.sensitive | tainted,
                                   ephemeral=resource.ephemeral | ephemeral)


def attribute_view(
    module: Module[Any] | None, change: Change, last_known: Mapping[str, Any] | None = None
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
