"""The firewall's pure parts: rule text, the table script, reading nft's listing back, the SSH guard."""

from __future__ import annotations

from typing import Any

from modules.server.firewall import lockout, parse_listing, rule_text, script


class Fake:
    def __init__(self, **attrs: Any):
        self.attrs = attrs

    def get(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


def test_rule_text() -> None:
    assert rule_text({"port": 22}) == "tcp dport 22 accept"
    assert rule_text({"port": [80, "8000-8100"], "source": ["10.0.0.0/8", "192.168.1.7"]}) == \
        "ip saddr { 10.0.0.0/8, 192.168.1.7/32 } tcp dport { 80, 8000-8100 } accept"
    assert rule_text({"port": 53, "proto": "udp", "source": "fd00::/8", "action": "drop"}) == \
        "ip6 saddr fd00::/8 udp dport 53 drop"
    assert rule_text({"proto": "icmp"}) == "meta l4proto { icmp, icmpv6 } accept"
    assert rule_text({"proto": "udp"}) == "meta l4proto udp accept"


def test_script_is_one_transaction_and_reads_back() -> None:
    r = Fake(rules=[{"port": 22}, {"port": 22}], policy="drop", table="edge")
    text = script(r)  # type: ignore[arg-type]
    assert text.startswith("table inet edge\ndelete table inet edge\ntable inet edge {\n")
    assert text.count("tcp dport 22 accept comment") == 1  # a set: the same rule once
    listing = """table inet edge {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept comment "rc: ct state established,related accept"
		iif "lo" accept comment "rc: iif lo accept"
		tcp dport 22 accept comment "rc: tcp dport 22 accept"
		tcp dport 9999 accept
	}
}
"""
    assert parse_listing(listing) == ("drop", ["ct state established,related accept", "iif lo accept",
                                               "tcp dport 22 accept", "tcp dport 9999 accept  (not made by reconcile)"])


def test_the_ssh_guard() -> None:
    conn = "172.17.0.1 50000 172.17.0.5 22"
    assert lockout(Fake(rules=[{"port": 80}]), conn) is not None  # type: ignore[arg-type]
    assert lockout(Fake(rules=[{"port": "20-30"}]), conn) is None  # type: ignore[arg-type]
    assert lockout(Fake(rules=[{"port": 22, "source": "10.0.0.0/8"}]), conn) is not None  # type: ignore[arg-type]
    assert lockout(Fake(rules=[{"port": 22, "source": "172.16.0.0/12"}]), conn) is None  # type: ignore[arg-type]
    assert lockout(Fake(rules=[], policy="accept"), conn) is None  # type: ignore[arg-type]
    assert lockout(Fake(rules=[], allow_lockout=True), conn) is None  # type: ignore[arg-type]
    assert lockout(Fake(rules=[]), "") is None  # type: ignore[arg-type]  # not over SSH (local)


def test_the_ssh_guard_follows_the_order_nft_applies() -> None:
    conn = "172.17.0.1 50000 172.17.0.5 22"
    drop_first = [{"port": 22, "action": "drop"}, {"port": 22}]
    refused = lockout(Fake(rules=drop_first), conn)  # type: ignore[arg-type]
    assert refused is not None and "tcp dport 22 drop" in refused and "comes before" in refused
    assert lockout(Fake(rules=[{"port": 22}, {"port": 22, "action": "drop"}]), conn) is None  # type: ignore[arg-type]
    narrow_drop = [{"port": 22, "source": "10.0.0.0/8", "action": "drop"}, {"port": 22}]
    assert lockout(Fake(rules=narrow_drop), conn) is None  # type: ignore[arg-type]  # does not match the client
    reject_all = [{"port": "1-65535", "action": "reject"}, {"port": 22}]
    assert lockout(Fake(rules=reject_all, policy="accept"), conn) is not None  # type: ignore[arg-type]
