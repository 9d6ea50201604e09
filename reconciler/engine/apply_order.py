"""How an apply orders its work, as pure functions of the plan: the graph its deletions walk (in reverse,
with the resources the spec no longer has), the create phase's changes once the deletions are over, the
intents the journal keeps, and the hosts the plan could not reach (they count against a rollout's batch)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import networkx as nx

from reconciler.engine.carry import new_first
from reconciler.engine.plan_rules import origin_for
from reconciler.model import Action, Change, Plan, Result, Status
from reconciler.state.records import StateRecord


def destroy_graph(graph: nx.DiGraph[str], plan: Plan, records: Mapping[str, StateRecord]) -> nx.DiGraph[str]:
    """The spec's graph plus the resources removed from it, with the edges the state recorded."""
    out: nx.DiGraph[str] = nx.DiGraph(graph)
    for change in plan.changes:
        if not change.pruned:
            continue
        out.add_node(change.address)
        record = records.get(change.address)
        for dep in set(record.depends_on if record else ()) | set(change.depends_on):
            out.add_edge(dep, change.address)
    return out


def unreachable_hosts(graph: nx.DiGraph[str], plan: Plan) -> dict[str, str]:
    """Hosts the plan could not observe: failed hosts of their batch, for max_fail_percentage."""
    out: dict[str, str] = {}
    for address, why in plan.failures.items():
        resource = graph.nodes[address]["resource"] if address in graph else None
        if resource is not None and resource.host:
            out.setdefault(resource.host, why)
    return out


def creations(plan: Plan, gone: Mapping[str, Result]) -> tuple[list[Change], dict[str, str]]:
    """The create phase's changes once the destroy phase is over (`gone`), and the plan's failures with each
    replacement whose old object could not go (it fails, and what depends on it is skipped)."""
    failures = dict(plan.failures)
    coming: list[Change] = []
    for c in plan.changes:
        if c.pruned or c.action in (Action.DELETE, Action.FORGET):
            continue
        if c.action is Action.REPLACE and not new_first(c):
            if gone[c.address].status is not Status.OK:
                failures[c.address] = gone[c.address].error
            else:
                c = dataclasses.replace(c, observed=None)
        coming.append(c)
    return coming, failures


def intents(plan: Plan, records: Mapping[str, StateRecord],
            unknown: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """What this apply means to do, for the journal: (address, action, the origin its object will have)."""
    return [(c.address, c.action.value, origin_for(c, records.get(c.address), c.observed, unknown.get(c.address)))
            for c in plan.changes if c.action not in (Action.NOOP, Action.FORGET) and not c.deferred]
