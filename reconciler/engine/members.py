"""The hosts of dynamic inventory groups (`inventory.groups.NAME.from:`): asked of the module of each group's
source type (one paginated lookup per group), then handed to the spec builder, which renders the hosts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from reconciler.capabilities import FormsGroups
from reconciler.errors import ReconcileError
from reconciler.inventory import DynamicGroup, Host
from reconciler.model import GroupMembers, GroupQuery, Spec
from reconciler.registry import Registry
from reconciler.spec.dynamic_groups import describe, tagged_like
from reconciler.targets import TargetPool
from reconciler.targets.families import LOCAL, PlacementContext

log = logging.getLogger(__name__)


def find_members(spec: Spec, registry: Registry, pool: TargetPool) -> dict[str, GroupMembers]:
    """Every dynamic group's instances, as they are now, with the number the spec has yet to create."""
    groups = list(spec.inventory.dynamic.values())
    if not groups:
        return {}

    def one(group: DynamicGroup) -> GroupMembers:
        module = registry.module(group.source_type)
        family = registry.family(module.family)
        settings = spec.settings.get(family.settings_key or "") or {}
        placed = family.place(PlacementContext(LOCAL, {"region": group.region} if group.region else {}, settings,
                                               spec.inventory))
        if group.source_address:
            resources = tuple(r for r in spec.resources if r.base_address == group.source_address)
        else:
            resources = tuple(tagged_like(spec.resources, group))
        query = GroupQuery(group.tags, resources, by_reference=bool(group.source_address))
        assert isinstance(module, FormsGroups), group.source_type  # the spec stage checked it
        try:
            return module.group_members(pool.get(module.family, placed[0].target), query)
        except ReconcileError as exc:
            raise ReconcileError(f"inventory group {group.name} (from {describe(group)}): {exc}") from None

    with ThreadPoolExecutor(max_workers=min(8, len(groups))) as threads:
        found = list(threads.map(one, groups))
    out = {g.name: m for g, m in zip(groups, found, strict=True)}
    for name, members in out.items():
        log.info("inventory group %s: %d instance(s), %d to be created", name, len(members.instances),
                 members.expected_new)
    return out


def new_hosts(before: Spec, after: Spec) -> list[str]:
    """Hosts of dynamic groups in `after` that `before` did not have (or had only as stand-ins)."""
    old = {h for h, host in before.inventory.hosts.items() if not host.pending}
    out: list[str] = []
    for group in after.inventory.dynamic:
        for h in after.inventory.groups.get(group, ()):
            if h not in old and not after.inventory.hosts[h].pending and h not in out:
                out.append(h)
    return out


def wait_for_hosts(spec: Spec, hosts: Sequence[str], note: Callable[[str], None],
                   parallelism: int = 10) -> dict[str, str]:
    """Wait, in parallel, for each new host to answer SSH, within its group's `ssh_wait`: host -> why it
    did not (only the hosts that never answered)."""
    from reconciler.targets.ssh_reach import wait_for_ssh

    waits = {h: _ssh_wait(spec, h) for h in hosts}

    def one(name: str) -> tuple[str, str | None]:
        host: Host = spec.inventory.hosts[name]
        note(f"{name}: waiting for SSH on {host.address}:{host.port} (up to {waits[name]:.0f}s)...")
        try:
            seconds = wait_for_ssh(host.address, host.port, waits[name])
        except ReconcileError as exc:
            note(f"{name}: {exc}")
            return name, str(exc)
        note(f"{name}: SSH answered after {seconds:.1f}s")
        return name, None

    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(hosts)))) as threads:
        return {h: why for h, why in threads.map(one, hosts) if why is not None}


def _ssh_wait(spec: Spec, host: str) -> float:
    groups: Mapping[str, DynamicGroup] = spec.inventory.dynamic
    return max((g.ssh_wait for name, g in groups.items() if host in spec.inventory.groups.get(name, ())),
               default=300.0)
