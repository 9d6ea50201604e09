"""`systemd_unit`: a unit file under /etc/systemd/system, and whether it is enabled.

Units written together (every unit of a host that is ready at once, normally all of them) are followed
by one `systemctl daemon-reload`, only when a unit file changed and only where systemd runs. Restart a
service after its unit changed with `notify:`. Observed in the host's one round trip: the unit files'
hashes and `systemctl is-enabled`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import BatchApply
from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Module
from reconciler.targets.base import Target
from reconciler.targets.prefetch import Read, StatRead, command_read

from .paths import content_digest

UNIT_DIR = "/etc/systemd/system"
QUERY = r"""
if [ -d /run/systemd/system ]; then echo systemd
  for u in "$@"; do printf '%s\t%s\n' "$u" "$(systemctl is-enabled -- "$u" 2>/dev/null)"; done
else echo none; fi
"""


def unit_name(resource: Resource) -> str:
    return str(resource.get("unit") or f"{resource.name}.service")


def unit_path(resource: Resource) -> str:
    return f"{UNIT_DIR}/{unit_name(resource)}"


class SystemdUnitModule(Module[Target], BatchApply):
    type_name = "systemd_unit"
    not_compared = frozenset({"state", "unit"})
    digest_attributes = frozenset({"content"})

    def path(self, resource: Resource) -> str | None:
        return unit_path(resource)

    def physical_key(self, resource: Resource) -> str | None:
        return f"path {unit_path(resource)}"

    def desired(self, resource: Resource) -> dict[str, Any]:
        out: dict[str, Any] = {"content": content_digest(str(resource.get("content")))}
        if resource.get("enabled") is not None:
            out["enabled"] = bool(resource.get("enabled"))
        return out

    def _query(self, resources: Sequence[Resource]) -> list[str]:
        return ["sh", "-c", QUERY, "sh", *sorted({unit_name(r) for r in resources})]

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [StatRead(tuple(unit_path(r) for r in resources), hash_files=True), command_read(self._query(resources))]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | None]:
        stats = target.stat_many([unit_path(r) for r in resources], hash_files=True)
        lines = target.run(self._query(resources)).check().stdout.decode().splitlines()
        systemd = bool(lines) and lines[0] == "systemd"
        enabled = dict(line.split("\t", 1) for line in lines[1:] if "\t" in line)
        out: dict[str, Observed | None] = {}
        for r in resources:
            st = stats[unit_path(r)]
            if st is None:
                out[r.address] = None
                continue
            attrs: dict[str, Any] = {"content": f"sha256:{st.sha256}" if st.sha256 else f"({st.kind})"}
            if systemd:
                attrs["enabled"] = enabled.get(unit_name(r), "") in ("enabled", "enabled-runtime", "static", "alias")
            out[r.address] = Observed(attrs, identity={"systemd": systemd})
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        return self.apply_many(target, [change])[change.address]

    def apply_many(self, target: Target, changes: Sequence[Change]) -> Mapping[str, Observed]:
        rewritten = False
        for change in changes:
            r = change.resource
            assert r is not None
            if change.observed is None or any(d.name == "content" for d in change.diffs):
                target.write_file(unit_path(r), str(r.get("content")).encode(), mode="0644")
                rewritten = True
        systemd = self._reload(target) if rewritten else self._systemd(target)
        for change in changes:
            r = change.resource
            assert r is not None
            if r.get("enabled") is None:
                continue
            if not systemd:
                raise ModuleError(f"{target.name} does not run systemd: {unit_name(r)} cannot be enabled")
            verb = "enable" if r.get("enabled") else "disable"
            target.run(["systemctl", verb, "--", unit_name(r)]).check()
        return {c.address: Observed(self.desired(c.resource), identity={"systemd": systemd})
                for c in changes if c.resource is not None}

    @staticmethod
    def _systemd(target: Target) -> bool:
        return target.stat_many(["/run/systemd/system"], hash_files=False)["/run/systemd/system"] is not None

    def _reload(self, target: Target) -> bool:
        """One daemon-reload for the units just written (where systemd runs)."""
        if not self._systemd(target):
            return False
        target.run(["systemctl", "daemon-reload"]).check()
        return True

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        if observed.identity.get("systemd") and resource.get("enabled"):
            target.run(["systemctl", "disable", "--", unit_name(resource)]).check()
        target.remove(unit_path(resource))
        self._reload(target)
