"""Inventory groups whose hosts are cloud instances (`inventory.groups.NAME.from:`).

The spec says where the instances come from and how each is reached; which instances exist is looked up
by the engine (reconciler.engine.members) and handed back to the spec builder, which renders one host per
instance here. Until then, and for instances the spec's resources have yet to create, a group has
stand-in hosts (`new-web-1`, …): resources on them are checked, shown as known after apply, and planned
for real once the instances answer SSH.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.diagnostics import Diagnostic, JsonPath, SourceDocument
from reconciler.inventory import DynamicGroup, Host
from reconciler.model import GroupMembers, Resource
from reconciler.spec.inventory import make_host
from reconciler.spec.render import TemplateFailure

REFERENCE = re.compile(r"^\$\{(aws\.[a-z0-9_]+)\.([A-Za-z0-9_-]+)\}$")
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEFAULT_ADDRESS = "{{ instance.private_ip_address }}"
DEFAULT_NAME = "{{ instance.instance_id }}"
PER_HOST = ("address", "host_name", "port", "user", "key_file", "become", "host_key", "connect_timeout")
UNKNOWN_ADDRESS = "(known after apply)"

Render = Callable[[Any, Mapping[str, Any]], Any]


def parse_dynamic(doc: SourceDocument) -> dict[str, DynamicGroup]:
    """The groups with `from:` (the schema has checked their shape)."""
    raw = doc.data.get("inventory")
    groups = raw.get("groups") if isinstance(raw, dict) else None
    out: dict[str, DynamicGroup] = {}
    for name, body in (groups or {}).items() if isinstance(groups, dict) else ():
        if not isinstance(body, dict) or "from" not in body:
            continue
        source = body["from"]
        where = doc.locate(("inventory", "groups", name, "from"))
        settings = {k: body[k] for k in PER_HOST if k in body}
        settings["vars"] = dict(body.get("vars") or {}) if isinstance(body.get("vars"), dict) else {}
        wait = body.get("ssh_wait", 300.0)
        wait = float(wait) if isinstance(wait, (int, float)) and not isinstance(wait, bool) else 300.0
        if isinstance(source, str):
            match = REFERENCE.match(source.strip())
            if match is None:
                continue  # the schema reports it
            out[name] = DynamicGroup(name, match.group(1), f"{match.group(1)}.{match.group(2)}", settings=settings,
                                     ssh_wait=wait, location=where)
        elif isinstance(source, dict) and isinstance(source.get("type"), str):
            tags = {str(k): str(v) for k, v in (source.get("tags") or {}).items()} \
                if isinstance(source.get("tags"), dict) else {}
            region = source.get("region") if isinstance(source.get("region"), str) else None
            out[name] = DynamicGroup(name, source["type"], None, tags, region, settings, wait, where)
    return out


def describe(group: DynamicGroup) -> str:
    """Where a group's hosts come from, for messages."""
    if group.source_address:
        return group.source_address
    tags = ", ".join(f"{k}={v}" for k, v in sorted(group.tags.items()))
    return f"{group.source_type} tagged {tags}" if tags else f"every {group.source_type}"


def tagged_like(resources: Sequence[Resource], group: DynamicGroup) -> list[Resource]:
    """The spec's resources of the group's source type whose tags (as written) include the group's tags."""
    out = []
    for r in resources:
        tags = r.attributes.get("tags")
        if r.type == group.source_type and isinstance(tags, Mapping) and all(
                str(tags.get(k)) == v for k, v in group.tags.items()):
            out.append(r)
    return out


def stand_ins(group: DynamicGroup, count: int, group_vars: Mapping[str, Any]) -> list[Host]:
    """Hosts known after apply: `new-GROUP-1` … `new-GROUP-count`."""
    return [Host(name=f"new-{group.name}-{i}", address=UNKNOWN_ADDRESS, vars=dict(group_vars),
                 pending=f"a new host of group {group.name}, from {describe(group)}") for i in range(1, count + 1)]


def group_hosts(
    group: DynamicGroup, members: GroupMembers | None, base_vars: Mapping[str, Any], context: Mapping[str, Any],
    render: Render, doc: SourceDocument,
) -> tuple[list[Host], list[Diagnostic]]:
    """One host per instance found, rendered from the group's settings with `instance` in the templates, then
    a stand-in per instance still to be created. `members` None: not looked up (validation): one stand-in."""
    group_vars = {**base_vars, **group.settings.get("vars", {})}
    if members is None:
        return stand_ins(group, 1, group_vars), []
    hosts: list[Host] = []
    problems: list[Diagnostic] = []
    where: JsonPath = ("inventory", "groups", group.name)
    for instance in members.instances:
        entry: dict[str, Any] = {"address": DEFAULT_ADDRESS, "host_name": DEFAULT_NAME}
        entry.update({k: v for k, v in group.settings.items() if k != "vars"})
        try:
            rendered = render(entry, {**context, "instance": dict(instance)})
        except TemplateFailure as exc:  # a missing attribute or tag too: the group's problem, said at its line
            problems.append(Diagnostic(f"group {group.name}: instance {instance.get('instance_id')}: {exc}",
                                       doc.locate(where), where))
            continue
        name = str(rendered.pop("host_name"))
        if not HOST_NAME.match(name):
            problems.append(Diagnostic(f"group {group.name}: host_name renders to {name!r}, which is not a host name "
                                       "(letters, digits, '.', '_' and '-')", doc.locate(where + ("host_name",))))
            continue
        if isinstance(rendered.get("port"), str) and rendered["port"].strip().isdigit():
            rendered["port"] = int(rendered["port"])
        if not rendered.get("address"):
            problems.append(Diagnostic(f"group {group.name}: instance {instance.get('instance_id')} has no address "
                                       f"(address: {group.settings.get('address', DEFAULT_ADDRESS)!r})",
                                       doc.locate(where)))
            continue
        host = make_host(name, {**rendered, "address": str(rendered["address"]), "vars": group_vars})
        hosts.append(host)
    return hosts + stand_ins(group, members.expected_new, group_vars), problems
