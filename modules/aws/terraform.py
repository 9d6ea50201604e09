"""Reading the attributes Terraform's AWS provider records, for `from_terraform` of the AWS types."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def pick(values: Mapping[str, Any], names: Mapping[str, str], skip_empty: bool = True) -> dict[str, Any]:
    """Terraform's attribute -> ours, for those set (empty strings and lists count as unset)."""
    out = {}
    for theirs, ours in names.items():
        value = values.get(theirs)
        if value is None or (skip_empty and value in ("", [], {})):
            continue
        out[ours] = value
    return out


def tags(values: Mapping[str, Any]) -> dict[str, Any]:
    """`tags` as written in the configuration (never `tags_all`, which adds the provider's default tags)."""
    found = values.get("tags") or {}
    return {"tags": dict(found)} if found else {}


def json_value(text: Any) -> Any:
    """A policy Terraform keeps as JSON text, as a mapping (the spec's form)."""
    if isinstance(text, str):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def rules(entries: Any) -> list[dict[str, Any]]:
    """Security group rules: Terraform's blocks in the spec's form (`all` for protocol -1)."""
    out = []
    for rule in entries or []:
        protocol = str(rule.get("protocol"))
        ours: dict[str, Any] = {"protocol": "all" if protocol in ("-1", "all") else protocol}
        if ours["protocol"] != "all":
            ours["from_port"], ours["to_port"] = int(rule.get("from_port", 0)), int(rule.get("to_port", 0))
        for theirs, key in (("cidr_blocks", "cidr_blocks"), ("ipv6_cidr_blocks", "ipv6_cidr_blocks"),
                            ("security_groups", "source_security_group_ids"), ("prefix_list_ids", "prefix_list_ids")):
            if rule.get(theirs):
                ours[key] = sorted(rule[theirs])
        out.append(ours)
    return out
