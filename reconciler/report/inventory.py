"""`reconcile inventory list`: the hosts as a table for people, or Ansible's dynamic-inventory JSON."""

from __future__ import annotations

from typing import Any

from reconciler.inventory import Host, Inventory


def _groups_of(inventory: Inventory, host: str) -> list[str]:
    return sorted(g for g, members in inventory.groups.items() if host in members)


def _connection(host: Host) -> dict[str, Any]:
    out: dict[str, Any] = {"ansible_host": host.address, "ansible_port": host.port}
    if host.user:
        out["ansible_user"] = host.user
    if host.key_file:
        out["ansible_ssh_private_key_file"] = host.key_file
    if host.become:
        out["ansible_become"] = True
    return out


def inventory_json(inventory: Inventory) -> dict[str, Any]:
    """{"_meta": {"hostvars": …}, "all": {"children": […]}, GROUP: {"hosts": […]}}, as Ansible reads it from
    an inventory script. Stand-ins of hosts still to be created are left out."""
    real = {name: h for name, h in inventory.hosts.items() if not h.pending}
    out: dict[str, Any] = {"_meta": {"hostvars": {name: {**dict(h.vars), **_connection(h)} for name, h in real.items()}}}
    grouped = set()
    for group, members in sorted(inventory.groups.items()):
        hosts = [m for m in members if m in real]
        out[group] = {"hosts": hosts}
        grouped.update(hosts)
    out["all"] = {"children": sorted(g for g in inventory.groups if g != "all") + ["ungrouped"]}
    out["ungrouped"] = {"hosts": sorted(set(real) - grouped)}
    return out


def inventory_table(inventory: Inventory) -> str:
    """One line per host: name, address:port, user, groups (a dynamic group's source in brackets)."""
    rows = []
    for name, host in sorted(inventory.hosts.items()):
        if host.pending:
            continue
        groups = []
        for g in _groups_of(inventory, name):
            dynamic = inventory.dynamic.get(g)
            groups.append(f"{g} (from {dynamic.source_address or dynamic.source_type})" if dynamic else g)
        rows.append((name, f"{host.address}:{host.port}", host.user or "", ", ".join(groups)))
    if not rows:
        return "No hosts.\n"
    header = ("HOST", "ADDRESS", "USER", "GROUPS")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
                   for row in [header, *rows])
