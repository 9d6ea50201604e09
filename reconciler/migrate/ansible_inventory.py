"""An Ansible inventory (INI or YAML) read for `reconcile migrate ansible`: ranges expanded, values typed,
host names made valid, and written inline into the spec."""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reconciler.diagnostics import Diagnostic, Location
from reconciler.errors import ReconcileError, SpecError
from reconciler.inventory import Inventory
from reconciler.spec.inventory import ansible_inventory
from reconciler.spec.load import display_path, load_yaml_file


def read_inventory(path: Path) -> Inventory:
    """An Ansible inventory file, YAML or INI, with the group_vars/ and host_vars/ beside it."""
    if not path.is_file():
        raise ReconcileError(f"inventory file not found: {display_path(path)}")
    text = path.read_text(encoding="utf-8", errors="replace")
    data: Any
    if path.suffix in (".yml", ".yaml") or text.lstrip().startswith(("all:", "---")):
        data, _ = load_yaml_file(path)
        if not isinstance(data, dict):
            raise SpecError([Diagnostic("an Ansible inventory must be a mapping of groups",
                                        Location(display_path(path), 1, 1))])
    else:
        data = parse_ini_inventory(text, display_path(path))
    inventory, problems = ansible_inventory(data, path.parent)
    if problems:
        raise SpecError(problems)
    return inventory


def parse_ini_inventory(text: str, shown: str) -> dict[str, Any]:
    """Ansible's INI inventory (`[group]`, `[group:vars]`, `[group:children]`, `host key=value…`) in its
    YAML form."""
    groups: dict[str, dict[str, Any]] = {}
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith(("#", ";")) else ""
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise SpecError([Diagnostic(f"unclosed section header {line!r}", Location(shown, number, 1))])
            section, _, kind = line[1:-1].partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise SpecError([Diagnostic(f"unknown section kind {kind!r} (hosts, vars or children)",
                                            Location(shown, number, 1))])
            groups.setdefault(section, {})
            continue
        group = groups.setdefault(section, {})
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise SpecError([Diagnostic(f"cannot read this line: {exc}", Location(shown, number, 1))]) from None
        if kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise SpecError([Diagnostic("a vars line is NAME=VALUE", Location(shown, number, 1))])
            group.setdefault("vars", {})[key.strip()] = _ini_value(value.strip())
        elif kind == "children":
            group.setdefault("children", {})[words[0]] = None
        else:
            host_vars = {}
            for word in words[1:]:
                key, sep, value = word.partition("=")
                if not sep:
                    raise SpecError([Diagnostic(f"{word!r} is not KEY=VALUE", Location(shown, number, 1))])
                host_vars[key] = _ini_value(value)
            group.setdefault("hosts", {})[words[0]] = host_vars or None
    out: dict[str, Any] = {}
    for name, body in groups.items():  # children sections name groups defined elsewhere
        children = body.get("children") or {}
        out[name] = {**body, "children": {c: groups.get(c) for c in children}} if children else body
    return out


def _ini_value(text: str) -> Any:
    if text.isdigit():
        return int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text.strip("'\"")


def inline_inventory(inventory: Inventory, become_hosts: Iterable[str], users: Mapping[str, str] | None = None,
                     rolling: Mapping[str, Any] | None = None) -> dict[str, Any]:
    becomes = set(become_hosts)
    users, rolling = users or {}, rolling or {}
    hosts: dict[str, Any] = {}
    for name, host in inventory.hosts.items():
        entry: dict[str, Any] = {"address": host.address}
        if host.port != 22:
            entry["port"] = host.port
        if host.user or name in users:
            entry["user"] = host.user or users[name]
        if host.key_file:
            entry["key_file"] = host.key_file
        if host.become or name in becomes:
            entry["become"] = True
        if host.vars:
            entry["vars"] = dict(host.vars)
        hosts[name] = entry
    groups: dict[str, Any] = {g: list(m) for g, m in inventory.groups.items() if m and g not in ("all", "ungrouped")}
    for group, serial in rolling.items():  # a play's serial: its group rolls out in batches
        groups[group] = {"hosts": list(inventory.groups[group]), "serial": serial}
    groups["all"] = list(inventory.hosts)
    return {"hosts": hosts, "groups": groups}


_HOST_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def valid_host_names(inventory: Inventory) -> tuple[Inventory, dict[str, str]]:
    """Hosts named as the spec names them (FQDNs and addresses have dots): web1.example.com is
    web1-example-com, with its address kept; the names changed, old -> new."""
    renamed: dict[str, str] = {}
    taken = {n for n in inventory.hosts if _HOST_NAME.match(n)}
    for name in inventory.hosts:
        if _HOST_NAME.match(name):
            continue
        new = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "host"
        new = new if new[0].isalpha() or new[0] == "_" else f"h{new}"
        while new in taken:
            new += "_"
        taken.add(new)
        renamed[name] = new
    if not renamed:
        return inventory, {}
    hosts = {renamed.get(n, n): dataclasses.replace(h, name=renamed.get(n, n)) for n, h in inventory.hosts.items()}
    groups = {g: tuple(renamed.get(m, m) for m in members) for g, members in inventory.groups.items()}
    return dataclasses.replace(inventory, hosts=hosts, groups=groups), renamed
