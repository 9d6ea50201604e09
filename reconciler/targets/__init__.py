"""Targets: where modules act. One per (family, name) per run, created on first use, reused by every module."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ReconcileError
from ..model import Spec
from .base import CommandResult, PathStat, Target
from .local import LocalTarget

__all__ = ["CommandResult", "LocalTarget", "PathStat", "Target", "TargetPool", "TargetFactory"]

TargetFactory = Callable[[Spec, str], Any]


def _server_target(spec: Spec, name: str) -> Any:
    if name == "local":
        return LocalTarget()
    host = spec.inventory.hosts.get(name)
    if host is None:
        raise ReconcileError(f"host {name} is not in the inventory")
    from .ssh import SSHTarget  # paramiko is imported only when a spec has remote hosts

    return SSHTarget(host, spec.inventory)


def _docker_target(spec: Spec, name: str) -> Any:
    from .docker import docker_target  # the docker SDK is imported only when a spec needs it

    return docker_target(spec, name)


def _aws_target(spec: Spec, region: str) -> Any:
    from .aws import aws_target  # boto3 is imported only when a spec has AWS resources

    return aws_target(spec, region)


DEFAULT_FACTORIES: Mapping[str, TargetFactory] = {
    "server": _server_target, "docker": _docker_target, "aws": _aws_target}


class TargetPool:
    """Creates each target once (thread-safe) and closes them all at the end of the run."""

    def __init__(self, spec: Spec, factories: Mapping[str, TargetFactory] | None = None):
        self.spec = spec
        self.factories = dict(DEFAULT_FACTORIES if factories is None else factories)
        self._targets: dict[tuple[str, str], Any] = {}
        self._failures: dict[tuple[str, str], Exception] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, family: str, name: str) -> Any:
        key = (family, name)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._failures:
                raise self._failures[key]
            if key not in self._targets:
                factory = self.factories.get(family)
                if factory is None:
                    raise ReconcileError(f"no target for {family} resources in this build")
                try:
                    self._targets[key] = factory(self.spec, name)
                except Exception as exc:  # remembered: a host that failed once is not retried per resource
                    self._failures[key] = exc
                    raise
            return self._targets[key]

    def close(self) -> None:
        for target in self._targets.values():
            close = getattr(target, "close", None)
            if close:
                close()
        self._targets.clear()

    def __enter__(self) -> TargetPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
