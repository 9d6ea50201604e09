"""`firewall`: the host's inbound rules as a set, in an nftables table of their own (`inet reconcile` by
default) that the resource owns whole: rules added to it by hand are drift, removed on apply; other
tables (Docker's, the distribution's) are left alone.

The table is replaced in one nft transaction, so there is never a moment without rules. Each rule
carries its own text as its comment (`rc: tcp dport 22 accept`), which is how the observation (one
`nft list table`, in the host's one round trip) tells the spec's rules from hand-made ones without
parsing nft's own rendering. Traffic of established connections and of loopback is always accepted.
With `persist` (the default) the same script is written to /etc/nftables.d/TABLE.nft, included from
/etc/nftables.conf, so the rules hold after a reboot.

A `drop` policy that would not accept the SSH port the run is connected through is refused before
anything changes (the next run could not get in): add a rule for it, or `allow_lockout: true`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Module
from reconciler.targets.base import Target
from reconciler.targets.prefetch import ContentRead, Read, command_read

TAG = "rc: "
ALWAYS = ("ct state established,related accept", "iif lo accept")
CONF, INCLUDE = "/etc/nftables.conf", 'include "/etc/nftables.d/*.nft"'


def table_of(resource: Resource) -> str:
    return str(resource.get("table") or "reconcile")


def persist_path(resource: Resource) -> str:
    return f"/etc/nftables.d/{table_of(resource)}.nft"


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [] if value is None else [value]


def _set(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"


def rule_text(rule: Mapping[str, Any]) -> str:
    """One rule in nft syntax, e.g. `ip saddr 10.0.0.0/8 tcp dport { 80, 443 } accept`."""
    parts: list[str] = []
    sources = [str(ipaddress.ip_network(str(s), strict=False)) for s in _items(rule.get("source"))]
    if sources:
        family = "ip6" if ":" in sources[0] else "ip"
        parts.append(f"{family} saddr {_set(sources)}")
    proto = str(rule.get("proto") or "tcp")
    ports = [str(p) for p in _items(rule.get("port"))]
    if proto == "icmp":
        parts.append("meta l4proto { icmp, icmpv6 }")
    elif ports:
        parts.append(f"{proto} dport {_set(ports)}")
    else:
        parts.append(f"meta l4proto {proto}")
    parts.append(str(rule.get("action") or "accept"))
    return " ".join(parts)


def rules_of(resource: Resource) -> list[str]:
    return list(ALWAYS) + list(dict.fromkeys(rule_text(r) for r in resource.get("rules") or []))


def script(resource: Resource) -> str:
    """The nft script that makes the table exactly as declared, in one transaction."""
    table, policy = table_of(resource), str(resource.get("policy") or "drop")
    body = "".join(f'    {rule} comment "{TAG}{rule}"\n' for rule in rules_of(resource))
    return (f"table inet {table}\ndelete table inet {table}\n"
            f"table inet {table} {{\n  chain input {{\n    type filter hook input priority filter; policy {policy};\n"
            f"{body}  }}\n}}\n")


def parse_listing(text: str) -> tuple[str | None, list[str]]:
    """(input policy, rules) of `nft list table inet T`: a rule of ours by its comment, any other as nft
    shows it (marked as not made by reconcile)."""
    policy: str | None = None
    rules: list[str] = []
    in_input = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("chain "):
            in_input = line.split()[1] == "input"
            continue
        if not in_input or not line or line == "}":
            continue
        found = re.search(r"\bpolicy (\w+);", line)
        if line.startswith("type "):
            policy = found.group(1) if found else "accept"
            continue
        tagged = re.search(r'comment "' + re.escape(TAG) + r'(.*)"$', line)
        rules.append(tagged.group(1) if tagged else f"{line}  (not made by reconcile)")
    return policy, rules


def lockout(resource: Resource, connection: str) -> str | None:
    """Why the declared rules would shut out a new SSH connection like the one described by $SSH_CONNECTION
    (the next run's), or None. The rules are evaluated in the order nft applies them: the first that matches
    decides, else the policy."""
    fields = connection.split()
    if len(fields) != 4 or resource.get("allow_lockout"):
        return None
    client, port = fields[0], int(fields[3])
    for rule in resource.get("rules") or []:
        if str(rule.get("proto") or "tcp") != "tcp" or not _port_in(port, _items(rule.get("port"))):
            continue
        sources = _items(rule.get("source"))
        try:
            if sources and not any(ipaddress.ip_address(client) in ipaddress.ip_network(str(s), strict=False)
                                   for s in sources):
                continue
        except ValueError:
            return None
        action = str(rule.get("action") or "accept")
        if action == "accept":
            return None
        return (f"these rules would shut out SSH: `{rule_text(rule)}` comes before any rule accepting tcp port {port} "
                f"from {client}, the connection this run came in on, and nft applies the first that matches; put an "
                "accepting rule first, or set allow_lockout: true")
    if str(resource.get("policy") or "drop") == "accept":
        return None
    return (f"these rules would shut out SSH: policy drop and no rule accepts tcp port {port} from {client}, "
            "the connection this run came in on; add a rule for it, or set allow_lockout: true")


def _port_in(port: int, ports: Sequence[Any]) -> bool:
    if not ports:
        return True
    for p in ports:
        low, _, high = str(p).partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


class FirewallModule(Module[Target]):
    type_name = "firewall"
    not_compared = frozenset({"table", "policy", "rules", "persist", "allow_lockout", "state"})

    def physical_key(self, resource: Resource) -> str | None:
        return f"nftables table inet {table_of(resource)}"

    def prepare(self, attributes: dict[str, Any], load: Any) -> dict[str, Any]:
        for i, rule in enumerate(attributes.get("rules") or []):
            sources = _items(rule.get("source"))
            try:
                families = {ipaddress.ip_network(str(s), strict=False).version for s in sources}
            except ValueError as exc:
                raise load.fail(f"rules[{i}].source: not a network address: {exc}") from None
            if len(families) > 1:
                raise load.fail(f"rules[{i}].source mixes IPv4 and IPv6: split it into two rules")
            for port in _items(rule.get("port")):
                low, _, high = str(port).partition("-")
                if max(int(low), int(high or low)) > 65535:
                    raise load.fail(f"rules[{i}].port: {port} is not a port (1-65535)")
                if high and int(low) > int(high):
                    raise load.fail(f"rules[{i}].port: the range {port} is backwards, write {high}-{low}")
            if rule.get("proto") == "icmp" and rule.get("port") is not None:
                raise load.fail(f"rules[{i}]: icmp has no ports, remove port from this rule")
        return attributes

    def desired(self, resource: Resource) -> dict[str, Any]:
        if self.state_of(resource) == "absent":
            return {}
        out: dict[str, Any] = {"policy": str(resource.get("policy") or "drop"), "rules": sorted(rules_of(resource))}
        if resource.get("persist", True):
            out["persisted"] = "yes"
        return out

    def reads(self, resources: Sequence[Resource]) -> Sequence[Read]:
        return [*(command_read(["nft", "list", "table", "inet", table_of(r)]) for r in resources),
                ContentRead(tuple(persist_path(r) for r in resources))]

    def observe(self, target: Target, resources: Sequence[Resource]) -> Mapping[str, Observed | Unobservable | None]:
        saved = target.read_many([persist_path(r) for r in resources])
        out: dict[str, Observed | Unobservable | None] = {}
        for r in resources:
            listed = target.run(["nft", "list", "table", "inet", table_of(r)])
            on_disk = saved.get(persist_path(r))
            persisted = "missing" if on_disk is None else "yes" if on_disk == script(r).encode() else "differs"
            if listed.rc != 0:
                err = listed.stderr.decode(errors="replace")
                if listed.rc == 127 or "No such file or directory" in err and "nft" in err.split(":")[0]:
                    out[r.address] = None  # nft not installed yet (a package resource may bring it)
                elif "No such file or directory" in err:
                    out[r.address] = Observed({"persisted": persisted}) if on_disk is not None else None
                else:
                    out[r.address] = Unobservable(f"nft list table inet {table_of(r)} failed: {err.strip()[:300]}")
                continue
            policy, rules = parse_listing(listed.stdout.decode(errors="replace"))
            out[r.address] = Observed({"policy": policy, "rules": sorted(rules), "persisted": persisted})
        return out

    def apply(self, target: Target, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        if self.state_of(r) == "absent":
            if change.observed is not None:
                self.delete(target, r, change.observed)
            return Observed({})
        connection = target.run(["sh", "-c", 'printf %s "$SSH_CONNECTION"']).stdout.decode(errors="replace")
        refused = lockout(r, connection)
        if refused:
            raise ModuleError(refused)
        text = script(r)
        loaded = target.run(["nft", "-f", "-"], stdin=text.encode())
        if loaded.rc != 0:
            raise ModuleError(f"nft refused the rules: {loaded.stderr.decode(errors='replace').strip()[:500]}")
        if r.get("persist", True):
            target.write_file(persist_path(r), text.encode(), mode="0644")
            self._include(target)
        return Observed(self.desired(r))

    @staticmethod
    def _include(target: Target) -> None:
        """/etc/nftables.conf loads the files of /etc/nftables.d at boot (the line is added once)."""
        with target.lock(f"file:{CONF}"):
            current = target.read_many([CONF]).get(CONF)
            text = (current or b"#!/usr/sbin/nft -f\n").decode(errors="replace")
            if INCLUDE not in text:
                target.write_file(CONF, (text.rstrip("\n") + f"\n{INCLUDE}\n").encode(),
                                  mode="0755" if current is None else None)

    def delete(self, target: Target, resource: Resource, observed: Observed) -> None:
        table = table_of(resource)
        gone = target.run(["nft", "delete", "table", "inet", table])
        if gone.rc != 0 and "No such file or directory" not in gone.stderr.decode(errors="replace"):
            raise ModuleError(f"nft delete table inet {table}: {gone.stderr.decode(errors='replace').strip()[:300]}")
        target.remove(persist_path(resource))
