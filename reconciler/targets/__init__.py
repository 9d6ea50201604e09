"""Targets: where modules act. One per (family, name) per run, created on first use, reused by every module.

May import the model, the inventory and the errors: nothing of the stages above (engine, spec, state,
policy, migrate, report, cli)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.errors import ReconcileError
from reconciler.model import Spec
from reconciler.targets.base import CommandResult, PathStat, Target
from reconciler.targets.budget import ConnectionBudget
from reconciler.targets.local import LocalTarget

__all__ = ["CommandResult", "LocalTarget", "PathStat", "Target", "TargetPool", "TargetFactory"]

log = logging.getLogger(__name__)

TargetFactory = Callable[..., Any]  # (spec, name) or (spec, name, budget)


def server_target(spec: Spec, name: str, budget: ConnectionBudget | None = None) -> Any:
    if name == "local":
        return LocalTarget()
    host = spec.inventory.hosts.get(name)
    if host is None:
        raise ReconcileError(f"host {name} is not in the inventory")
    if host.connection == "docker":
        from reconciler.targets.docker_exec import DockerExecTarget

        return DockerExecTarget(host)
    from reconciler.targets.ssh import SSHTarget  # paramiko is imported only when a spec has remote hosts

    return SSHTarget(host, spec.inventory, budget)


def declared_targets(spec: Spec, families: Mapping[str, Any]) -> dict[str, set[str]]:
    """The targets a spec sets up even without resources on them (its `aws:` region, its `docker:` engines),
    by family: where a lost state's objects are looked for. `families`: name -> Family."""
    out: dict[str, set[str]] = {}
    for name, family in families.items():
        found = family.declared(spec)
        if found:
            out[name] = set(found)
    return out


class TargetPool:
    """Creates each target once (thread-safe) and closes them all at the end of the run."""

    def __init__(self, spec: Spec, factories: Mapping[str, TargetFactory], connections: int | None = None):
        """`factories`: family -> factory (`Registry.target_factories()`, or stand-ins for some hosts).
        `connections`: at most this many connections open at once (idle ones are closed to make room);
        the factories are then called with the shared ConnectionBudget as a third argument."""
        self.spec = spec
        self.budget = ConnectionBudget(connections) if connections else None
        self.factories = dict(factories)
        self._targets: dict[tuple[str, str], Any] = {}
        self._failures: dict[tuple[str, str], Exception] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def respec(self, spec: Spec) -> None:
        """Targets created from now on are made from `spec` (the same spec with more inventory hosts: the
        hosts of dynamic groups, once looked up). Those already made stay."""
        self.spec = spec

    def get(self, family: str, name: str) -> Any:
        key = (family, name)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._failures:
                raise self._failures[key]
            if key not in self._targets:
                factory = self._factory(family)
                try:
                    self._targets[key] = (factory(self.spec, name) if self.budget is None
                                          else factory(self.spec, name, self.budget))
                except Exception as exc:  # remembered: a host that failed once is not retried per resource
                    self._failures[key] = exc
                    raise
            return self._targets[key]

    def _factory(self, family: str) -> TargetFactory:
        if family not in self.factories:
            raise ReconcileError(f"no target for {family} resources in this build")
        return self.factories[family]

    def close(self) -> None:
        trips = [t.round_trips for t in self._targets.values() if hasattr(t, "round_trips")]
        if trips:
            budget = self.budget
            log.info("SSH: %d hosts, %d round trips (%.1f per host); %s connections opened, at most %s open at once",
                     len(trips), sum(trips), sum(trips) / len(trips), budget.opened if budget else len(trips),
                     budget.peak if budget else len(trips))
        for target in self._targets.values():
            close = getattr(target, "close", None)
            if close:
                close()
        self._targets.clear()

    def __enter__(self) -> TargetPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
