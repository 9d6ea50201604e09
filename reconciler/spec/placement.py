"""Hosts decided at build time: dynamic groups (looked up, or stand-ins until they are) and rollouts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconciler.capabilities import FormsGroups
from reconciler.diagnostics import JsonPath
from reconciler.inventory import Inventory, Rollout
from reconciler.model import GroupMembers, Resource
from reconciler.spec.build_state import BuildState
from reconciler.spec.dynamic_groups import group_hosts, parse_dynamic, tagged_like
from reconciler.spec.inventory import as_mapping
from reconciler.spec.render import TemplateFailure


class Placement(BuildState):
    """Hosts decided at build time: dynamic groups (looked up, or stand-ins until they are) and rollouts."""

    def _dynamic(self, inventory: Inventory) -> Inventory:
        """The groups whose hosts are instances (`from:`), with a host per instance found (or stand-ins)."""
        dynamic = parse_dynamic(self.doc)
        if not dynamic:
            return inventory
        hosts, groups = dict(inventory.hosts), dict(inventory.groups)
        raw_groups = as_mapping(as_mapping(self.doc.data.get("inventory")).get("groups"))
        base_vars = as_mapping(as_mapping(raw_groups.get("all")).get("vars"))
        context = {**self.vars, "vars": self.vars, "env": self.env, "workspace": self.workspace}
        for name, group in dynamic.items():
            source = self.registry.module_class(group.source_type) if group.source_type in self.registry else None
            if source is None or not issubclass(source, FormsGroups):
                kinds = sorted(t for t in self.registry.types if issubclass(self.registry.module_class(t), FormsGroups))
                self._error(f"group {name}: {group.source_type} cannot form an inventory group (these can: "
                            f"{', '.join(kinds)})", ("inventory", "groups", name, "from"))
                continue
            found = self.members.get(name) if self.members is not None else None
            if self.members is not None and found is None:
                found = GroupMembers()
            members, problems = group_hosts(group, found, base_vars, context, self.renderer.render, self.doc)
            self.diagnostics += problems
            for host in members:
                if host.name in hosts:
                    self._error(f"group {name}: host {host.name} is already in the inventory",
                                ("inventory", "groups", name))
                    continue
                hosts[host.name] = host
            groups[name] = tuple(h.name for h in members if hosts.get(h.name) is h)
        return replace(inventory, hosts=hosts, groups=groups, dynamic=dynamic, resolved=self.members is not None)

    def _on_dynamic(self, inventory: Inventory, resources: list[Resource]) -> list[Resource]:
        """Resources on a dynamic group's hosts depend on the spec's resources that make those hosts (the
        group's `from: ${…}`, or the spec's instances its tags match); a `from:` naming no resource is an error."""
        if not inventory.dynamic:
            return resources
        makers: dict[str, tuple[str, ...]] = {}
        for name, group in inventory.dynamic.items():
            if group.source_address:
                made = tuple(sorted({r.address for r in resources if r.base_address == group.source_address}))
                if not made:
                    self._error(f"group {name}: from: names {group.source_address}, which is not a resource of the "
                                "spec", ("inventory", "groups", name, "from"))
            else:
                made = tuple(r.address for r in tagged_like(resources, group))
            for host in inventory.groups.get(name, ()):
                makers[host] = made
        out = []
        for r in resources:
            extra = tuple(a for a in makers.get(r.host or "", ()) if a not in r.depends_on)
            out.append(replace(r, depends_on=r.depends_on + extra) if extra else r)
        return out

    def _rollouts(self, inventory: Inventory) -> Inventory:
        """The groups with `serial:` (rolling updates) or `wait_for:`: their hosts in batch order, and each
        host's health check rendered with that host in the templates. A host may roll out with one group."""
        raw = self.doc.data.get("inventory")
        groups = as_mapping(raw.get("groups")) if isinstance(raw, dict) else {}
        rollouts: dict[str, Rollout] = {}
        owner: dict[str, str] = {}
        for group, body in groups.items():
            if not isinstance(body, dict) or not ("serial" in body or "wait_for" in body):
                continue
            where: JsonPath = ("inventory", "groups", group)
            members = list(inventory.groups.get(group, ()))
            order = body.get("order", "inventory")
            if order in ("sorted", "reverse_sorted"):
                members.sort(reverse=order == "reverse_sorted")
            elif order == "reverse_inventory":
                members.reverse()
            for host in members:
                if host in owner:
                    self._error(f"host {host!r} is in two rolling groups ({owner[host]} and {group}); a host rolls out "
                                "with one group", where + ("serial",))
                owner.setdefault(host, group)
            checks: dict[str, dict[str, Any]] = {}
            wait_for = body.get("wait_for")
            if isinstance(wait_for, dict) and len({"http", "tcp", "command"} & set(wait_for)) != 1:
                self._error("wait_for needs one check: http, tcp or command", where + ("wait_for",))
            elif isinstance(wait_for, dict):
                for host in members:
                    try:
                        rendered = self.renderer.render(wait_for, self._context(inventory.hosts[host], host))
                    except TemplateFailure as exc:
                        self._error(f"template error in wait_for: {self._explain(exc)}", where + ("wait_for",))
                        break
                    checks[host] = dict(rendered) if isinstance(rendered, dict) else {}
            serial = body.get("serial", len(members) or 1)
            fail = body.get("max_fail_percentage", 0)
            rollouts[group] = Rollout(group, tuple(members), serial if isinstance(serial, (int, str)) else 1,
                                      float(fail) if isinstance(fail, (int, float)) else 0.0, checks)
        return replace(inventory, rollouts=rollouts) if rollouts else inventory
