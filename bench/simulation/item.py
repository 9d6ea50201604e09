"""`sim.item`: a setting on a simulated host. Every call to a host costs LATENCY seconds (one round trip)
and fails with probability FAILURE_RATE; hosts keep what was applied in memory (per process)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource, Spec
from reconciler.module import Module
from reconciler.targets.families import Family

LATENCY = float(os.environ.get("SIM_LATENCY", "0.02"))
FAILURE_RATE = float(os.environ.get("SIM_FAILURE_RATE", "0"))


class SimHost:
    def __init__(self, name: str):
        self.name = name
        self.items: dict[str, str] = {}
        self.lock = threading.Lock()
        self.random = random.Random(name)

    def round_trip(self) -> None:
        time.sleep(LATENCY)
        if FAILURE_RATE and self.random.random() < FAILURE_RATE:
            raise ModuleError(f"{self.name}: simulated failure")


class SimFamily(Family):
    def create(self, spec: Spec, name: str) -> Any:
        return SimHost(name)


SIM = SimFamily()


class SimItemModule(Module[SimHost]):
    type_name = "sim.item"
    family = "sim"

    def observe(self, target: SimHost, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        target.round_trip()  # the whole batch in one round trip
        with target.lock:
            return {r.address: Observed({"value": target.items[r.address]}) if r.address in target.items else None
                    for r in resources}

    def apply(self, target: SimHost, change: Change) -> Observed:
        target.round_trip()
        assert change.resource is not None
        with target.lock:
            target.items[change.address] = str(change.resource.attributes.get("value"))
        return Observed({"value": target.items[change.address]})

    def delete(self, target: SimHost, resource: Resource, observed: Observed) -> None:
        target.round_trip()
        with target.lock:
            target.items.pop(resource.address, None)
