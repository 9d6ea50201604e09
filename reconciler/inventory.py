"""The hosts a spec reaches and how: static hosts, groups, rollouts one batch at a time, and dynamic groups
whose hosts are instances. Frozen values, built by the spec stage and read by the targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.diagnostics import Location


@dataclass(frozen=True)
class Host:
    name: str
    address: str = "127.0.0.1"
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    become: bool = False
    vars: Mapping[str, Any] = field(default_factory=dict)
    proxy_jump: str | None = None  # OpenSSH syntax: [user@]host[:port][,…]
    max_sessions: int = 8  # channels at once on the connection (OpenSSH allows 10 by default)
    keepalive: float = 15.0  # seconds of silence before the host is asked whether it is still there
    connect_timeout: float = 10.0
    host_key: str | None = None  # "TYPE BASE64": the key the host must present (pinned from the spec)
    pending: str | None = None  # a stand-in for a host known after apply: where it will come from
    connection: str = "ssh"  # ssh | docker: a container reached with `docker exec` (address: its name or id)
    docker_host: str | None = None  # connection docker: the engine (DOCKER_HOST syntax); default the environment's


@dataclass(frozen=True)
class DynamicGroup:
    """`inventory.groups.NAME.from:` a group whose hosts are instances: found by their tags, or those of
    resources of the spec (`from: ${aws.autoscaling_group.web}`); each host is rendered from `settings`
    (address, port, user…, templates over `instance`)."""

    name: str
    source_type: str  # the resource type whose objects are the hosts (aws.ec2_instance, aws.autoscaling_group)
    source_address: str | None = None  # the reference form: every instance of this resource of the spec
    tags: Mapping[str, str] = field(default_factory=dict)  # the query form: objects carrying these tags
    region: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)  # how each host is reached, unrendered
    ssh_wait: float = 300.0  # seconds a new host has to answer SSH
    location: Location | None = None


@dataclass(frozen=True)
class Rollout:
    """A group that converges a batch of hosts at a time (`serial:`), with a health gate between batches."""

    group: str
    hosts: tuple[str, ...]  # in the order batches take them
    serial: int | str = 1  # hosts per batch, or "25%" of the group
    max_fail_percentage: float = 0.0  # more failed hosts than this in a batch stops the rollout
    wait_for: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # host -> its rendered health check

    def batch_size(self) -> int:
        if isinstance(self.serial, str):
            return max(1, int(len(self.hosts) * float(self.serial.rstrip("%")) / 100))
        return max(1, int(self.serial))


@dataclass(frozen=True)
class Inventory:
    hosts: Mapping[str, Host] = field(default_factory=dict)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    known_hosts: str | None = None
    host_key_checking: str = "strict"
    rollouts: Mapping[str, Rollout] = field(default_factory=dict)  # group -> how it rolls out (serial groups)
    dynamic: Mapping[str, DynamicGroup] = field(default_factory=dict)  # groups whose hosts are instances
    resolved: bool = False  # the dynamic groups' hosts were looked up (else each has one stand-in host)

    def pending_hosts(self) -> frozenset[str]:
        """The stand-ins of hosts known only after apply."""
        return frozenset(n for n, h in self.hosts.items() if h.pending)

    def expand(self, name: str) -> tuple[str, ...] | None:
        """Host names a target name stands for, or None if it is neither host nor group."""
        if name in self.groups:
            return self.groups[name]
        if name in self.hosts:
            return (name,)
        return None
