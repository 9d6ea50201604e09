"""Target families: what a `reconcile.targets` entry point names. A family creates its targets, says where a
resource goes (its `on:`, its region…), and which targets a spec sets up without resources on them (where
a lost state's objects are looked for). The spec builder and the planner ask the family; they know none.

A plugin may name a plain factory `factory(spec, name) -> target` instead: it is wrapped so that `on:`
names the target (default "local").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from reconciler.diagnostics import JsonPath
from reconciler.inventory import Host, Inventory
from reconciler.model import Spec
from reconciler.targets.budget import ConnectionBudget

LOCAL = "local"


@dataclass(frozen=True)
class Placement:
    """One instance of a resource: on which target, with which inventory host, under which address suffix."""

    target: str
    host: Host | None = None
    suffix: str = ""  # "[web1]" when one entry expands to one resource per host


class PlacementError(Exception):
    """`on:` (or the family's own key) names no known target; `at` is where, inside the resource entry."""

    def __init__(self, message: str, at: JsonPath = ("on",)):
        super().__init__(message)
        self.at = at


@dataclass(frozen=True)
class PlacementContext:
    on: Any  # the resource's `on:`, LOCAL when it has none
    resource: Mapping[str, Any]  # the resource entry as written (rendered keys are not needed to place it)
    settings: Mapping[str, Any]  # the family's top-level block of the spec, rendered (e.g. `aws:`)
    inventory: Inventory


class Family:
    """`create(spec, name, budget)`: a target; one that holds a connection takes it within `budget` (the run's
    cap on open connections), the others ignore it."""

    settings_key: ClassVar[str | None] = None  # the spec's top-level block this family reads
    preposition: ClassVar[str] = "on"  # how plans say where: "on web1", "on engine local", "in eu-west-1"
    hosts_are_targets: ClassVar[bool] = False  # its targets are the inventory's hosts themselves (facts, checks)
    places_on_hosts: ClassVar[bool] = False  # `on:` may name inventory hosts (a departed host's objects go with it)

    def settings_schema(self) -> dict[str, Any]:
        """The JSON Schema of the family's top-level block (`settings_key`), joined into the spec's schema."""
        return {"type": "object"}

    def create(self, spec: Spec, name: str, budget: ConnectionBudget | None = None) -> Any:
        raise NotImplementedError

    def where(self, target: str) -> str:
        """Where a target is, as plans say it."""
        return f"{self.preposition} {target}"

    def place(self, context: PlacementContext) -> list[Placement]:
        if isinstance(context.on, str) and context.on:
            return [Placement(context.on)]
        raise PlacementError(f"on: must name one target, not {context.on!r}")

    def declared(self, spec: Spec) -> set[str]:
        return set()


class FactoryFamily(Family):
    """A plugin's plain factory function."""

    def __init__(self, factory: Callable[[Spec, str], Any]):
        self.factory = factory

    def create(self, spec: Spec, name: str, budget: ConnectionBudget | None = None) -> Any:
        return self.factory(spec, name)


class ServerFamily(Family):
    """The local machine, and inventory hosts over SSH; `on:` takes a host, a group, or a list of both."""

    hosts_are_targets = True
    places_on_hosts = True

    def create(self, spec: Spec, name: str, budget: ConnectionBudget | None = None) -> Any:
        from reconciler.targets import server_target

        return server_target(spec, name, budget)

    def place(self, context: PlacementContext) -> list[Placement]:
        if context.on == LOCAL:
            return [Placement(LOCAL)]
        return on_inventory(context.on, context.inventory, "host or group", {LOCAL})


class DockerFamily(Family):
    """Docker engines: `local` (DOCKER_HOST or the default socket), those named under `docker.engines`, and
    the engine of each inventory host (`on: web` places one instance per host of the group)."""

    settings_key = "docker"
    preposition = "on engine"
    places_on_hosts = True

    def settings_schema(self) -> dict[str, Any]:
        return _settings_schema("docker_settings")

    def create(self, spec: Spec, name: str, budget: ConnectionBudget | None = None) -> Any:
        from reconciler.targets.docker import docker_target

        return docker_target(spec, name)

    def place(self, context: PlacementContext) -> list[Placement]:
        """A named engine (`local` or one under docker.engines), else inventory hosts and groups: one
        instance per host, on the engine of that host (over SSH unless docker.engines names one after it)."""
        engines = set(context.settings.get("engines") or {}) | {LOCAL}
        if isinstance(context.on, str) and context.on in engines:
            return [Placement(context.on)]
        return on_inventory(context.on, context.inventory, "docker engine, host or group", engines)

    def declared(self, spec: Spec) -> set[str]:
        engines = set((spec.settings.get("docker") or {}).get("engines") or {})
        if os.environ.get("DOCKER_HOST") or os.path.exists("/var/run/docker.sock"):
            engines.add(LOCAL)  # the engine every spec may use without naming it
        return engines


class AwsFamily(Family):
    """AWS regions: the resource's `region:`, else the spec's `aws.region`, else the environment's."""

    settings_key = "aws"
    preposition = "in"

    def settings_schema(self) -> dict[str, Any]:
        return _settings_schema("aws_settings")

    def create(self, spec: Spec, name: str, budget: ConnectionBudget | None = None) -> Any:
        from reconciler.targets.aws import aws_target

        return aws_target(spec, name)

    def place(self, context: PlacementContext) -> list[Placement]:
        region = context.resource.get("region") or context.settings.get("region") or _default_region()
        return [Placement(str(region))]

    def declared(self, spec: Spec) -> set[str]:
        aws = spec.settings.get("aws") or {}
        return {str(aws.get("region") or _default_region())} if aws else set()


def on_inventory(on: Any, inventory: Inventory, what: str, others: set[str]) -> list[Placement]:
    """Placements for an `on:` naming inventory hosts and groups (one name or a list): the host itself for
    one host's name, else one instance per member host, addressed `[host]`."""
    names = on if isinstance(on, list) else [on]
    hosts: list[str] = []
    for i, name in enumerate(names):
        members = inventory.expand(name) if isinstance(name, str) else None
        if members is None:
            known = sorted(set(inventory.hosts) | set(inventory.groups) | others)
            raise PlacementError(f"unknown {what} {name!r} (known: {', '.join(known)})",
                                 ("on",) + ((i,) if isinstance(on, list) else ()))
        hosts += [h for h in members if h not in hosts]
    if isinstance(on, str) and on in inventory.hosts:
        return [Placement(on, inventory.hosts[on])]
    return [Placement(h, inventory.hosts[h], f"[{h}]") for h in hosts]


def _settings_schema(stem: str) -> dict[str, Any]:
    """A family's settings schema, the JSON file of that name beside this module."""
    import json
    from importlib import resources

    return dict(json.loads(resources.files(__package__).joinpath(f"{stem}.json").read_text(encoding="utf-8")))


def _default_region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


SERVER = ServerFamily()
DOCKER = DockerFamily()
AWS = AwsFamily()
