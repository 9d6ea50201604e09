"""fake.thing: an object in an in-memory world; fake.batch: the same, applied in batches. Every call the
engine makes is recorded on the target, in order."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import BatchApply
from reconciler.errors import ModuleError
from reconciler.model import Action, AttrDiff, Change, Observed, Resource
from reconciler.module import Module


class World:
    """The fake target: objects by name, and a log of what was asked of it."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, call: str, *names: str) -> None:
        with self._lock:
            self.calls.append((call, names))

    def new_id(self) -> str:
        return f"id-{next(self._ids)}"


class ThingModule(Module[World]):
    type_name = "fake.thing"
    family = "fake"
    computed = frozenset({"id"})
    requires_replace = frozenset({"kind"})

    def observe(self, target: World, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        target.record("observe", *sorted(r.name for r in resources))
        out: dict[str, Observed | None] = {}
        for r in resources:
            obj = target.objects.get(r.name)
            out[r.address] = None if obj is None else Observed(dict(obj), {"id": obj["id"]}, ours=True)
        return out

    def apply(self, target: World, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        target.record("apply", r.name)
        if r.get("fail"):
            raise ModuleError(f"{r.name} refuses: {r.get('fail')}")
        old = target.objects.get(r.name) or {}
        obj = {k: v for k, v in r.attributes.items() if v is not None}
        obj["id"] = old.get("id") or target.new_id()
        target.objects[r.name] = obj
        return Observed(dict(obj), {"id": obj["id"]}, ours=True)

    def delete(self, target: World, resource: Resource, observed: Observed) -> None:
        target.record("delete", resource.name)
        target.objects.pop(resource.name, None)


class BatchModule(ThingModule, BatchApply):
    type_name = "fake.batch"

    def apply_many(self, target: World, changes: Sequence[Change]) -> Mapping[str, Observed]:
        target.record("apply_many", *sorted(c.resource.name for c in changes if c.resource))
        if any(c.resource is not None and c.resource.get("fail") for c in changes):
            raise ModuleError("the batch failed")
        return {c.address: self.apply(target, c) for c in changes}


class VolumeModule(ThingModule):
    """fake.volume: a thing whose `size` is data; destroying one that holds some is a data-loss hazard."""

    type_name = "fake.volume"

    def destroy_hazard(self, target: World, change: Change, going: Sequence[Change] = ()) -> str | None:
        held = (change.observed.attributes.get("size") if change.observed else None) or 0
        return f"it holds {held} units of data" if held else None


class HandlerModule(ThingModule):
    """fake.handler: acts only when notified (a handler), and then reruns."""

    type_name = "fake.handler"
    triggered_actions = ("rerun",)
    handler_only = True

    def triggered(self, change: Change, cause: str, action: str) -> Change:
        return Change(change.address, change.type, Action.UPDATE, (AttrDiff("rerun", None, f"because {cause}"),),
                      reason=f"rerun: {cause} changed", verb="rerun", resource=change.resource,
                      observed=change.observed)
