"""A registry of the fake world's types (tests/unit/fakes/world.py) whose one target is a given World, and
a Session over a spec written on the fly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler import Session
from reconciler.registry import Registry, TypeEntry
from tests.unit.fakes.world import World

TYPES = {"fake.thing": "ThingModule", "fake.batch": "BatchModule", "fake.volume": "VolumeModule",
         "fake.handler": "HandlerModule"}


class FakeRegistry(Registry):
    def __init__(self, world: World):
        super().__init__([TypeEntry(t, f"tests.unit.fakes.world:{c}", "tests") for t, c in TYPES.items()],
                         {"fake": "tests.unit.fakes.world:World"})
        self.world = world

    def target_factory(self, family: str) -> Any:
        return lambda spec, name, budget=None: self.world


def fake_session(tmp_path: Path, world: World, document: str) -> Session:
    """A Session over `document` (the spec's YAML after its `name:`), in tmp_path/spec."""
    spec = tmp_path / "spec"
    spec.mkdir(exist_ok=True)
    (spec / "site.yaml").write_text("name: fakes\n" + document)
    return Session(spec, registry=FakeRegistry(world), environ={})
