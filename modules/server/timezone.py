"""`timezone`: the host's time zone: /etc/localtime a link into /usr/share/zoneinfo and /etc/timezone
naming it (what tzdata and timedatectl keep). Observed in the host's one round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import AnsibleTasks, Deferrable
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module, ansible_args
from reconciler.targets.base import Target
from reconciler.targets.prefetch import ContentRead, Read, StatRead

ZONEINFO = "/usr/share/zoneinfo/"
LOCALTIME, NAMED = "/etc/localtime", "/etc/timezone"


def zone_of_link(link: str | None) -> str | None:
    if not link or "zoneinfo/" not in link:
        return None
    return link.split("zoneinfo/", 1)[1]


class TimezoneModule(Module[Target], AnsibleTasks, Deferrable):
    type_name = "timezone"
    ansible_modules = ("timezone", "community.general.timezone")
    ansible_step = "setting"
    prunable = False  # a host always has a time zone: removing the resource leaves it as it is

    def from_ansible(self, module: str, args: Mapping[str, Any], handler: bool = False) -> dict[str, Any] | None:
        return {"timezone": ansible_args(module, args, ("name",))["name"]}

    not_compared = frozenset({"state"})

    def physical_key(self, resource: Resource) -> str | None:
        return "the time zone"

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [StatRead((LOCALTIME,), hash_files=False), ContentRead((NAMED,))]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        link = target.stat_many([LOCALTIME], hash_files=False)[LOCALTIME]
        named = target.read_many([NAMED]).get(NAMED)
        zone = zone_of_link(link.link_target if link is not None else None)
        written = named.decode(errors="replace").strip() if named is not None else None
        if zone is not None and written is not None and written != zone:
            zone = f"{zone} ({NAMED} says {written})"
        return {r.address: Observed({"timezone": zone}) if zone else None for r in resources}

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        zone = str(r.get("timezone"))
        found = target.stat_many([ZONEINFO + zone], hash_files=False)[ZONEINFO + zone]
        if found is None or found.kind not in ("file", "link"):
            raise ModuleError(f"{target.name} has no time zone {zone!r} (no {ZONEINFO}{zone}; is tzdata installed?)")
        target.make_symlink(LOCALTIME, ZONEINFO + zone)
        target.write_file(NAMED, f"{zone}\n".encode(), mode="0644")
        return Observed({"timezone": zone})

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        return None
