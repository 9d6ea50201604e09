"""Who notifies whom: each receiver's triggers, read from the spec's `notify:` and `triggered_by:` lists
(and a type's own list, such as a service's `restart_on:`), and the problems of those lists. What a
trigger does at plan and apply time is the engine's (`engine.triggers`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.diagnostics import JsonPath
from reconciler.model import Resource
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
