"""Build the inventory from the spec's `inventory:` block or from an Ansible YAML inventory file."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.diagnostics import Diagnostic, Location, SourceDocument
from reconciler.errors import SpecError
from reconciler.inventory import Host, Inventory
from reconciler.spec.load import display_path, load_yaml_file

RESERVED = {"local"}
_ANSIBLE_KEYS = {
    "ansible_host": "address", "ansible_port": "port", "ansible_user": "user",
    "ansible_ssh_private_key_file": "key_file", "ansible_become": "become",
}


CONNECTION_KEYS = ("proxy_jump", "max_sessions", "keepalive", "connect_timeout")


def as_mapping(value: Any) -> dict[str, Any]:
    """A block the schema requires to be a mapping, or {} when it is not (the schema reports that)."""
    return dict(value) if isinstance(value, dict) else {}


def _typed(entry: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """The entry's value when it has the right type, else the default (the schema reports the problem)."""
    value = entry.get(key, default)
    return value if isinstance(value, kind) and not (kind is int and isinstance(value, bool)) else default


def make_host(name: str, entry: dict[str, Any]) -> Host:
    return Host(
        name=name, address=str(_typed(entry, "address", (str, int), name)), port=_typed(entry, "port", int, 22),
        user=_typed(entry, "user", str, None), key_file=_typed(entry, "key_file", str, None),
        become=_typed(entry, "become", bool, False), vars=_typed(entry, "vars", dict, {}),
        proxy_jump=_typed(entry, "proxy_jump", str, None), max_sessions=_typed(entry, "max_sessions", int, 8),
        keepalive=float(_typed(entry, "keepalive", (int, float), 15.0)),
        connect_timeout=float(_typed(entry, "connect_timeout", (int, float), 10.0)),
        host_key=_typed(entry, "host_key", str, None) or None,
        connection=_typed(entry, "connection", str, "ssh"), docker_host=_typed(entry, "docker_host", str, None),
    )


def _members(body: Any) -> list[str]:
    if isinstance(body, dict):
        body = body.get("hosts")
    return [m for m in body if isinstance(m, str)] if isinstance(body, list) else []


def _host_vars(host: str, groups: Mapping[str, Sequence[str]], group_vars: Mapping[str, Mapping[str, Any]],
               own: Mapping[str, Any]) -> dict[str, Any]:
    """Ansible's order: group `all`, then the host's other groups by name (later wins), then the host's own."""
    merged: dict[str, Any] = dict(group_vars.get("all", {}))
    for group in sorted(g for g, members in groups.items() if host in members and g != "all"):
        merged.update(group_vars.get(group, {}))
    merged.update(own)
    return merged


def build_inventory(doc: SourceDocument) -> tuple[Inventory, list[Diagnostic]]:
    raw = doc.data.get("inventory")
    if raw is None:
        return Inventory(), []
    if isinstance(raw, str):
        return _from_ansible_file(doc, raw)
    if not isinstance(raw, dict):
        return Inventory(), []  # the spec schema reports the wrong type
    diagnostics: list[Diagnostic] = []
    hosts: dict[str, Host] = {}
    defaults = {k: raw[k] for k in CONNECTION_KEYS if k in raw}
    for name, entry in as_mapping(raw.get("hosts")).items():
        if name in RESERVED:
            diagnostics.append(Diagnostic(f"host name {name!r} is reserved", doc.locate(("inventory", "hosts", name))))
            continue
        hosts[name] = make_host(name, {**defaults, **as_mapping(entry)})
    groups: dict[str, tuple[str, ...]] = {}
    declared = {g: _members(body) for g, body in as_mapping(raw.get("groups")).items()}
    for group, members in declared.items():
        expanded: list[str] = []
        where: tuple[str | int, ...] = ("inventory", "groups", group) + (
            ("hosts",) if isinstance(raw["groups"][group], dict) else ())
        for i, member in enumerate(members):
            if member in hosts:
                expanded.append(member)
            elif member in declared and member != group:
                expanded.extend(m for m in declared[member] if m in hosts)
            else:
                diagnostics.append(Diagnostic(
                    f"group {group!r} names unknown host {member!r}", doc.locate(where + (i,)), where + (i,)))
        groups[group] = tuple(dict.fromkeys(expanded))
    group_vars = {g: as_mapping(body.get("vars")) for g, body in as_mapping(raw.get("groups")).items()
                  if isinstance(body, dict)}
    if group_vars:
        hosts = {name: dataclasses.replace(host, vars=_host_vars(name, groups, group_vars, host.vars))
                 for name, host in hosts.items()}
    known_hosts = raw.get("known_hosts")
    if known_hosts:
        known_hosts = str(Path(doc.base_dir) / os.path.expanduser(known_hosts))
    return Inventory(hosts, groups, known_hosts, raw.get("host_key_checking", "strict")), diagnostics


def _vars_dir(directory: Path, diagnostics: list[Diagnostic]) -> dict[str, dict[str, Any]]:
    """Ansible's group_vars/ or host_vars/ beside an inventory file: NAME.yml, NAME.yaml, or a directory NAME/
    of YAML files (merged in name order)."""
    out: dict[str, dict[str, Any]] = {}
    if not directory.is_dir():
        return out
    for entry in sorted(directory.iterdir()):
        files = sorted(p for p in entry.iterdir() if p.suffix in (".yml", ".yaml")) if entry.is_dir() else (
            [entry] if entry.suffix in (".yml", ".yaml") else [])
        name = entry.name if entry.is_dir() else entry.stem
        for file in files:
            try:
                data, _ = load_yaml_file(file)
            except SpecError as exc:
                diagnostics.extend(exc.diagnostics)
                continue
            if data is None:
                continue
            if not isinstance(data, dict):
                diagnostics.append(Diagnostic("a vars file must be a mapping of variable names to values",
                                              Location(display_path(file), 1, 1)))
                continue
            out.setdefault(name, {}).update(data)
    return out


def _from_ansible_file(doc: SourceDocument, name: str) -> tuple[Inventory, list[Diagnostic]]:
    where = doc.locate(("inventory",))
    base = Path(where.file).parent if where else Path(doc.base_dir)
    path = (base / os.path.expanduser(name)).absolute()
    if not path.is_file():
        return Inventory(), [Diagnostic(f"inventory file not found: {display_path(path)}", where, ("inventory",))]
    try:
        data, _ = load_yaml_file(path)
    except SpecError as exc:
        return Inventory(), list(exc.diagnostics)
    if not isinstance(data, dict):
        return Inventory(), [Diagnostic("an Ansible inventory must be a mapping of groups", Location(display_path(path), 1, 1))]
    return ansible_inventory(data, path.parent)


_RANGE = re.compile(r"\[([0-9]+|[a-z]):([0-9]+|[a-z])(?::([0-9]+))?\]")
MAX_RANGE_HOSTS = 10_000


def expand_host_range(name: str) -> list[str]:
    """Ansible's host ranges: `web[01:20].example.com` is web01 … web20 (zero-padded as written),
    `db-[a:c]` is db-a, db-b, db-c, `[1:9:2]` steps by 2; several ranges multiply."""
    found = _RANGE.search(name)
    if found is None:
        return [name]
    start, end, step = found.group(1), found.group(2), int(found.group(3) or 1)
    if start.isdigit() != end.isdigit() or step < 1:
        return [name]
    if start.isdigit():
        width = len(start) if start.startswith("0") else 0
        values = [str(n).zfill(width) for n in range(int(start), int(end) + 1, step)]
    else:
        values = [chr(c) for c in range(ord(start), ord(end) + 1, step)]
    out: list[str] = []
    for value in values:
        out += expand_host_range(name[:found.start()] + value + name[found.end():])
        if len(out) > MAX_RANGE_HOSTS:
            raise ValueError(f"host range {name!r} stands for more than {MAX_RANGE_HOSTS:,} hosts")
    return out


def ansible_inventory(data: Mapping[str, Any], directory: Path) -> tuple[Inventory, list[Diagnostic]]:
    """An Ansible inventory in its YAML form (groups of hosts, vars and children), with the group_vars/
    and host_vars/ directories in `directory`."""
    host_vars: dict[str, dict[str, Any]] = {}
    own_vars: dict[str, dict[str, Any]] = {}  # what the inventory file sets on the host itself
    too_many: list[Diagnostic] = []
    groups: dict[str, list[str]] = {}

    def walk(group: str, body: dict[str, Any] | None, inherited: dict[str, Any]) -> list[str]:
        body = body or {}
        group_vars = {**inherited, **(body.get("vars") or {})}
        members: list[str] = []
        for written, hvars in (body.get("hosts") or {}).items():
            try:
                expanded = expand_host_range(str(written))
            except ValueError as exc:
                too_many.append(Diagnostic(str(exc)))
                continue
            for host in expanded:
                merged = {**group_vars, **host_vars.get(host, {}), **(hvars or {})}
                host_vars[host] = merged
                own_vars[host] = {**own_vars.get(host, {}), **(hvars or {})}
                members.append(host)
        for child, child_body in (body.get("children") or {}).items():
            members.extend(walk(child, child_body, group_vars))
        groups[group] = list(dict.fromkeys(groups.get(group, []) + members))
        return members

    for group, body in data.items():
        walk(group, body, {})
    diagnostics: list[Diagnostic] = list(too_many)
    dir_group_vars = _vars_dir(directory / "group_vars", diagnostics)
    dir_host_vars = _vars_dir(directory / "host_vars", diagnostics)
    if diagnostics:
        return Inventory(), diagnostics
    for host in list(host_vars):
        # Ansible's order: the inventory file's group vars, group_vars/ (all, then groups by name), the
        # inventory file's host vars, host_vars/
        from_groups = _host_vars(host, groups, dir_group_vars, {})
        host_vars[host] = {**host_vars[host], **from_groups, **own_vars.get(host, {}), **dir_host_vars.get(host, {})}
    hosts = {}
    for host, hvars in host_vars.items():
        fields = {field: hvars[key] for key, field in _ANSIBLE_KEYS.items() if key in hvars}
        plain = {k: v for k, v in hvars.items() if not k.startswith("ansible_")}
        hosts[host] = Host(
            name=host, address=str(fields.get("address", host)), port=int(fields.get("port", 22)),
            user=fields.get("user"), key_file=fields.get("key_file"), become=bool(fields.get("become", False)),
            vars=plain,
        )
    return Inventory(hosts, {g: tuple(m) for g, m in groups.items()}), []
