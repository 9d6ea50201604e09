"""Observing ahead: the first wave also observes the resources still waiting on references, resolved with
what the state recorded of the objects they reference.

A plan observes in waves along the references (a VPC, then its subnets, then their NAT gateway…), since
a resource is resolved only once what it reads is known. When nothing it reads changes (the everyday
no-change plan), the state already holds those values: resolved with them, the resource can be observed
in the first wave, with everything else. When its turn comes, it is resolved for real; if that gives the
very same resource, the observation made ahead is its observation (it was made from the same input),
else it is observed again in its own wave. So observing ahead never changes a plan, only its waves.
"""

from __future__ import annotations

import logging
from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.engine.observe import Observation
from reconciler.model import Observed, Resource
from reconciler.state.records import StateRecord

log = logging.getLogger(__name__)


def recorded_view(record: StateRecord) -> dict[str, Any]:
    """What a reference would read of an unchanged object: what it was given, and what it reported."""
    return {**record.observed, **record.attributes}


@dataclass
class Ahead:
    """The resources observed ahead, as resolved then, and what was found of them."""

    resources: dict[str, Resource] = field(default_factory=dict)
    found: dict[str, Observed] = field(default_factory=dict)
    used: int = 0  # observations made ahead that served their resource

    def choose(self, pending: Iterable[str], referenced: Callable[[str], list[str]],
               known: Mapping[str, Mapping[str, Any]], records: Mapping[str, StateRecord],
               resolve: Callable[[str, Mapping[str, Mapping[str, Any]]], Resource | None]) -> list[Resource]:
        """The pending resources whose references the state can answer, resolved with its values."""
        views: dict[str, Mapping[str, Any]] = {}
        answered = ChainMap(known, views)  # type: ignore[arg-type]
        for address in pending:
            needed = referenced(address)
            if any(p not in known and p not in records for p in needed):
                continue
            views.update({p: recorded_view(records[p]) for p in needed if p not in known and p not in views})
            try:
                resolved = resolve(address, answered)
            except Exception:  # noqa: BLE001 - it is simply observed in its own wave
                log.debug("%s: not observed ahead", address, exc_info=True)
                continue
            if resolved is not None:
                self.resources[address] = resolved
        return list(self.resources.values())

    def keep(self, observation: Observation) -> Observation:
        """Keep what was found of the resources observed ahead; the rest of `observation` is the wave's."""
        for address, observed in observation.observed.items():
            if address in self.resources and observed is not None and address not in observation.errors:
                self.found[address] = observed
        return Observation({a: o for a, o in observation.observed.items() if a not in self.resources},
                           {a: e for a, e in observation.errors.items() if a not in self.resources})

    def take(self, resource: Resource) -> Observed | None:
        """The observation made ahead of `resource`, when it was made from the very same resource."""
        earlier = self.resources.pop(resource.address, None)
        found = self.found.pop(resource.address, None)
        if found is None or earlier != resource:
            return None
        self.used += 1
        return found
