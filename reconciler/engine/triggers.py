"""Handlers: a resource's `notify:` names receivers (`"service.nginx: reload"`, `command.rebuild`); a
receiver's `triggered_by:` (and a module's own list, such as a service's `restart_on:`) names causes.

A receiver's triggered action (a module's `triggered_actions`, the first being its default) is decided
at plan time: it happens when at least one of its causes has a change in this plan, once per receiver
instance (so once per host), after all of them (each cause is an edge into it). When several causes ask
for different actions, the strongest wins (the first in `triggered_actions`: a restart covers a reload).
A receiver whose module acts only when triggered (`handler_only`, a command) does nothing otherwise.
This is Ansible's handlers and Terraform's `replace_triggered_by` in one rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.model import Action, Change, Plan, Result, Status
from reconciler.module import Module
from reconciler.registry import Registry
from reconciler.spec.notify import Trigger

if TYPE_CHECKING:
    import networkx as nx

PENDING = " (pending since an earlier apply)"  # marks a cause an earlier apply recorded as not handled


def fire(module: Module[Any], change: Change, triggers: Sequence[Trigger], changes: Mapping[str, Change],
         pending: Mapping[str, Any] | None = None) -> Change:
    """The receiver's change, given which of its causes change in this plan (`changes`, by address), and what an
    earlier apply left pending for it (its handler failed, or was left out): that fires again."""
    fired = [t for t in triggers if (c := changes.get(t.cause)) is not None and c.action is not Action.NOOP]
    if pending:
        action = str(pending.get("action") or "")
        fired += [Trigger(str(cause) + PENDING, action if action in module.triggered_actions else "")
                  for cause in pending.get("causes") or ()]
    if not fired and not triggers:
        return change
    return react(module, change, fired)


def cause_of(text: str) -> str:
    """The address of a cause as a change records it (without the pending mark)."""
    return text.removesuffix(PENDING)


def react(module: Module[Any], change: Change, fired: Sequence[Trigger]) -> Change:
    """The receiver's own change, with its triggered action when `fired` is not empty; a handler-only
    receiver without a fired trigger does nothing."""
    if not fired:
        if module.handler_only and change.action is Action.UPDATE:
            return Change(change.address, change.type, Action.NOOP, reason="waits for a trigger",
                          resource=change.resource, observed=change.observed)
        return change
    if change.resource is None or change.observed is None or change.action not in (Action.NOOP, Action.UPDATE):
        return change  # created or replaced in this run: the new object starts fresh
    actions: tuple[str, ...] = module.triggered_actions
    action = min((t.action or actions[0] for t in fired), key=actions.index)
    causes = tuple(sorted({t.cause for t in fired}))
    reacted = module.triggered(change, ", ".join(causes), action)
    if reacted.action is Action.NOOP:
        return reacted
    return dataclasses.replace(reacted, triggered_by=causes, trigger_action=action)


def pending_handlers(graph: nx.DiGraph[str], registry: Registry, plan: Plan, results: Mapping[str, Result],
                     carried: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each handler a change of this run notified (or an earlier run left `carried`) that did not run here:
    receiver -> the strongest action asked of it and the causes, for the next apply to finish."""
    changes = {c.address: c for c in plan.changes}
    handlers: dict[str, dict[str, Any]] = {}
    for receiver in graph.nodes:
        fired = [t for t in graph.nodes[receiver].get("triggers", ())
                 if (r := results.get(t.cause)) is not None and r.status is Status.OK
                 and r.action is not Action.NOOP]
        before = carried.get(receiver)
        if not fired and not before:
            continue
        done = results.get(receiver)
        change = changes.get(receiver)
        if done is not None and done.status is Status.OK and change is not None and (
                change.trigger_action or change.action in (Action.CREATE, Action.REPLACE, Action.DELETE)):
            continue  # it ran (or starts afresh)
        actions = registry.module(graph.nodes[receiver]["resource"].type).triggered_actions
        asked = [t.action or actions[0] for t in fired] + ([str(before.get("action"))] if before else [])
        causes = {t.cause for t in fired} | set(before.get("causes") or () if before else ())
        handlers[receiver] = {"action": min((a for a in asked if a in actions), key=actions.index, default=""),
                              "causes": sorted(causes)}
    return handlers
