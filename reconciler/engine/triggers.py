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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.model import Action, Change, JsonPath, Resource
from reconciler.module import Module
from reconciler.registry import Registry
from reconciler.spec.refs import parse_notify


@dataclass(frozen=True)
class Trigger:
    cause: str  # the address whose change fires it
    action: str = ""  # what the receiver is asked to do; "" for its default


class Index(Protocol):
    def nodes_for(self, written: str, source: Resource) -> list[Resource]: ...


Problem = tuple[str, Resource, JsonPath]  # message, the resource it is about, where inside its entry


def collect(resources: Sequence[Resource], index: Index, registry: Registry,
            unknown: Callable[[str, Resource], str | None]) -> tuple[dict[str, list[Trigger]], list[Problem]]:
    """Each receiver's triggers, and the problems of the spec's notify/triggered_by lists. `unknown(written,
    resource)`: the message for an address that names nothing (with a did-you-mean), or None when that is
    not a problem of its own (the resource it names has errors)."""
    found: dict[str, list[Trigger]] = {}
    problems: list[Problem] = []
    for r in resources:
        cls = registry.module_class(r.type)
        written = [("triggered_by", i, str(w)) for i, w in enumerate(r.triggered_by)]
        own = cls.trigger_attribute
        if own and isinstance(r.attributes.get(own), list):
            written += [(own, i, str(w)) for i, w in enumerate(r.attributes[own])]
        if r.triggered_by and not cls.triggered_actions:
            problems.append((f"triggered_by: a {r.type} has nothing to do when triggered ({can_be_triggered(registry)} "
                             "can be)", r, ("triggered_by",)))
            written = [w for w in written if w[0] != "triggered_by"]
        for key, i, address in written:
            causes = index.nodes_for(address, r)
            if not causes and (message := unknown(address, r)):
                problems.append((f"{key} names {message}", r, (key, i)))
            found.setdefault(r.address, []).extend(Trigger(c.address) for c in causes)
        for i, entry in enumerate(r.notify):
            address, action = parse_notify(entry)
            receivers = index.nodes_for(address, r)
            if not receivers and (message := unknown(address, r)):
                problems.append((f"notify names {message}", r, ("notify", i)))
            for receiver in receivers:
                actions = registry.module_class(receiver.type).triggered_actions
                if not actions:
                    problems.append((f"notify: {receiver.base_address} cannot be notified: a {receiver.type} has nothing "
                                     f"to do when triggered ({can_be_triggered(registry)} can be)", r, ("notify", i)))
                    break
                if action and action not in actions:
                    problems.append((f"notify: a {receiver.type} can be told to {' or '.join(actions)}, not {action!r}",
                                     r, ("notify", i)))
                    break
                found.setdefault(receiver.address, []).append(Trigger(r.address, action))
    return found, problems


def can_be_triggered(registry: Registry) -> str:
    return ", ".join(t for t in registry.types if registry.module_class(t).triggered_actions)


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
