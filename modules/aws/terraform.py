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


def rules(entries: Any, own_group: str = "") -> list[dict[str, Any]]:
    """Security group rules: Terraform's blocks in the spec's form (`all` for protocol -1; `self` is the
    group's own id)."""
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
        if rule.get("self") and own_group:
            ours["source_security_group_ids"] = sorted({*ours.get("source_security_group_ids", []), own_group})
        out.append(ours)
    return out


def first(values: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A Terraform nested block kept as a one-item list (`health_check`, `environment`…), or {}."""
    found = values.get(key)
    if isinstance(found, list) and found and isinstance(found[0], dict):
        return dict(found[0])
    return dict(found) if isinstance(found, dict) else {}


def listed(values: Mapping[str, Any], key: str) -> list[Any]:
    """A list or set attribute, sorted (Terraform keeps sets in no order)."""
    found = values.get(key) or []
    return sorted(found, key=str) if isinstance(found, list) else []


def name_in_arn(arn: Any, kind: str) -> str | None:
    """`…:targetgroup/NAME/hash` -> NAME (kind "targetgroup"), the name inside an ARN of that kind."""
    text = str(arn or "")
    marker = f":{kind}/"
    return text.split(marker, 1)[1].split("/", 1)[0] if marker in text else None


def split_rule(part_type: str, values: Mapping[str, Any], own_group: str) -> tuple[str, dict[str, Any]]:
    """One rule of Terraform's split resources (`aws_security_group_rule`, `aws_vpc_security_group_ingress_rule`
    and `…_egress_rule`) as ("ingress"|"egress", the spec's rule); `self` is the group's own id."""
    if part_type != "aws_security_group_rule":  # the newer, one-source-per-rule resources
        direction = "egress" if part_type.endswith("_egress_rule") else "ingress"
        protocol = str(values.get("ip_protocol"))
        sources = {"cidr_blocks": values.get("cidr_ipv4"), "ipv6_cidr_blocks": values.get("cidr_ipv6"),
                   "prefix_list_ids": values.get("prefix_list_id"),
                   "source_security_group_ids": values.get("referenced_security_group_id")}
        rule: dict[str, Any] = {k: [v] for k, v in sources.items() if v}
        low, high = values.get("from_port"), values.get("to_port")
        return direction, _ported("all" if protocol in ("-1", "all") else protocol, low, high, rule)
    protocol = str(values.get("protocol"))
    rule = {k: sorted(values.get(k) or []) for k in ("cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids")
            if values.get(k)}
    groups = [values["source_security_group_id"]] if values.get("source_security_group_id") else []
    if values.get("self"):
        groups.append(own_group)
    if groups:
        rule["source_security_group_ids"] = sorted(groups)
    return str(values.get("type")), _ported("all" if protocol in ("-1", "all") else protocol,
                                            values.get("from_port"), values.get("to_port"), rule)


def _ported(protocol: str, low: Any, high: Any, sources: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {"protocol": protocol}
    if protocol != "all":
        rule["from_port"], rule["to_port"] = int(low if low is not None else -1), int(high if high is not None else -1)
    return {**rule, **sources}


def merge_rule(rules: list[dict[str, Any]], rule: dict[str, Any]) -> None:
    """Add a rule to a group's rules unless an equal one is there (Terraform's group entry may list it too)."""
    if rule not in rules:
        rules.append(rule)


def base64_text(value: Any) -> str:
    """Launch-template user data, which Terraform keeps base64-encoded, as the text it encodes."""
    import base64
    import binascii

    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return str(value)


# -- the other way: reconcile's attributes as the AWS provider holds them (show --format terraform-json) --------
def renamed(attributes: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """`attributes` under the provider's names (`names`: reconcile's name -> the provider's); `tags` as the
    provider's `tags` and `tags_all`; reconcile's own settings (state, import) left out."""
    out = {names.get(k, k): v for k, v in attributes.items() if k not in ("state", "import", "tags")}
    if "tags" in attributes:
        out["tags"] = out["tags_all"] = dict(attributes.get("tags") or {})
    return out


def provider_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A security group rule in the shape of the provider's inline `ingress`/`egress` blocks."""
    protocol = str(rule.get("protocol", "-1"))
    everything = protocol in ("all", "-1")
    return {"protocol": "-1" if everything else protocol,
            "from_port": 0 if everything else rule.get("from_port", 0),
            "to_port": 0 if everything else rule.get("to_port", rule.get("from_port", 0)),
            "cidr_blocks": list(rule.get("cidr_blocks") or []),
            "ipv6_cidr_blocks": list(rule.get("ipv6_cidr_blocks") or []),
            "prefix_list_ids": list(rule.get("prefix_list_ids") or []),
            "security_groups": list(rule.get("source_security_group_ids") or []),
            "self": False, "description": rule.get("description") or ""}
