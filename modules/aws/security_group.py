"""`aws.security_group`: a security group whose ingress/egress rules are compared as sets: adding a rule
authorizes just that rule, never revoking and re-adding the others."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted, NotCarried, TerraformObject
from reconciler.targets.aws import AwsSession

from .common import (
    GONE,
    api_errors,
    create_once,
    tag_specs,
)
from .ec2_base import Ec2Module
from .policy import text_map
from .terraform import merge_rule, pick, provider_rule, renamed, rules, split_rule, tags

Rule = tuple[str, Any, Any, str]  # protocol, from_port, to_port, source (cidr or sg id)


def rules_from_spec(rules: Sequence[Mapping[str, Any]]) -> list[Rule]:
    out = set()
    for rule in rules:
        proto = str(rule.get("protocol", "tcp")).lower()
        proto = "-1" if proto in ("all", "-1") else proto
        low, high = (None, None) if proto == "-1" else (rule.get("from_port"), rule.get("to_port", rule.get("from_port")))
        for key in ("cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids", "source_security_group_ids"):
            for source in rule.get(key) or []:
                out.add((proto, low, high, str(source)))
    return sorted(out, key=str)


def rules_from_api(permissions: Sequence[Mapping[str, Any]]) -> list[Rule]:
    out = set()
    for p in permissions:
        proto = str(p.get("IpProtocol"))
        low, high = (None, None) if proto == "-1" else (p.get("FromPort"), p.get("ToPort"))
        for r in p.get("IpRanges") or []:
            out.add((proto, low, high, r["CidrIp"]))
        for r in p.get("Ipv6Ranges") or []:
            out.add((proto, low, high, r["CidrIpv6"]))
        for r in p.get("PrefixListIds") or []:
            out.add((proto, low, high, r["PrefixListId"]))
        for g in p.get("UserIdGroupPairs") or []:
            out.add((proto, low, high, g["GroupId"]))
    return sorted(out, key=str)


def to_permissions(rules: Sequence[Rule]) -> list[dict[str, Any]]:
    out = []
    for proto, low, high, source in rules:
        perm: dict[str, Any] = {"IpProtocol": proto}
        if proto != "-1":
            perm["FromPort"], perm["ToPort"] = low, high
        if source.startswith("sg-"):
            perm["UserIdGroupPairs"] = [{"GroupId": source}]
        elif source.startswith("pl-"):
            perm["PrefixListIds"] = [{"PrefixListId": source}]
        elif ":" in source:
            perm["Ipv6Ranges"] = [{"CidrIpv6": source}]
        else:
            perm["IpRanges"] = [{"CidrIp": source}]
        out.append(perm)
    return out


def group_name(resource: Resource) -> str:
    return str(resource.get("group_name") or resource.name)


class SecurityGroupModule(Ec2Module):
    type_name = "aws.security_group"
    name_attribute = "group_name"
    terraform_types = ("aws_security_group",)

    terraform_parts = ("aws_security_group_rule", "aws_vpc_security_group_ingress_rule",
                       "aws_vpc_security_group_egress_rule")
    terraform_computed = frozenset({"revoke_rules_on_delete"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        """The group with its inline rules; the rules of Terraform's split resources are folded in below (a
        group whose state entry lists no rules is never written with an empty list that would revoke them)."""
        out = pick(values, {"name": "group_name", "description": "description", "vpc_id": "vpc_id"})
        own = str(values["id"])
        for key in ("ingress", "egress"):
            found = rules(values.get(key), own)
            if found:
                out[key] = found
        return Adopted({**out, **tags(values)}, own)

    def to_terraform(self, attributes: Mapping[str, Any]) -> Sequence[TerraformObject]:
        values = renamed(attributes, {"group_name": "name"})
        for key in ("ingress", "egress"):
            values[key] = [provider_rule(r) for r in attributes.get(key) or []]
        return (TerraformObject("aws_security_group", "", values),)

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        return str(values.get("security_group_id") or "") or None

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        direction, rule = split_rule(part_type, values, str(values.get("security_group_id")))
        if direction not in ("ingress", "egress"):
            raise NotCarried("ingress", f"a rule of type {direction!r}")
        if not any(rule.get(k) for k in ("cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids",
                                         "source_security_group_ids")):
            raise NotCarried(direction, "a rule with no source reconcile can express")
        attributes[direction] = attributes.get(direction) or []
        merge_rule(attributes[direction], rule)

    describe = ("describe_security_groups", "SecurityGroups", "GroupId", "group-id")
    computed = frozenset({"id", "arn", "owner_id"})
    requires_replace = frozenset({"group_name", "description", "vpc_id"})

    name_filter = "group-name"
    name_kind = "security group"

    def object_name(self, resource: Resource) -> str:
        return group_name(resource)

    def name_of(self, item: Mapping[str, Any]) -> str:
        return str(item.get("GroupName") or "")

    def same_object(self, resource: Resource, item: Mapping[str, Any]) -> bool:
        """Group names are unique within a VPC."""
        vpc = resource.get("vpc_id")
        return isinstance(vpc, str) and item.get("VpcId") == vpc

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"group_name": group_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        out: dict[str, Any] = {"group_name": group_name(resource),
                               "description": resource.get("description") or "managed by reconcile",
                               "tags": text_map(resource.get("tags"))}
        if resource.get("vpc_id") is not None:
            out["vpc_id"] = resource.get("vpc_id")
        for key in ("ingress", "egress"):
            if resource.get(key) is not None:
                out[key] = [list(rule) for rule in rules_from_spec(resource.get(key))]
        return out

    def attributes(self, session: AwsSession, resource: Resource, g: Mapping[str, Any]) -> dict[str, Any]:
        return {"group_name": g["GroupName"], "description": g.get("Description"), "vpc_id": g.get("VpcId"),
                "owner_id": g.get("OwnerId"),
                "ingress": [list(x) for x in rules_from_api(g.get("IpPermissions") or [])],
                "egress": [list(x) for x in rules_from_api(g.get("IpPermissionsEgress") or [])]}

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        ec2 = session.client("ec2")
        want = self.desired(r)
        with api_errors():
            if change.observed is None:
                kwargs: dict[str, Any] = {"GroupName": want["group_name"], "Description": want["description"],
                                          "TagSpecifications": tag_specs(r, "security-group", session)}
                if want.get("vpc_id"):
                    kwargs["VpcId"] = want["vpc_id"]
                group_id = create_once(r.address, lambda: session.client("ec2", once=True).create_security_group(
                    **kwargs), lambda: self.tagged_item(session, r))["GroupId"]
                have = {"ingress": [], "egress": [list(x) for x in rules_from_api(
                    ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissionsEgress"])]}
            else:
                group_id = change.observed.identity["id"]
                have = dict(change.observed.attributes)
                self.retag(session, change, group_id)
            for key, grant, revoke in (("ingress", ec2.authorize_security_group_ingress, ec2.revoke_security_group_ingress),
                                       ("egress", ec2.authorize_security_group_egress, ec2.revoke_security_group_egress)):
                if key not in want:
                    continue
                wanted = {tuple(x) for x in want[key]}
                present = {tuple(x) for x in have.get(key) or []}
                with api_errors(ignore=("InvalidPermission.Duplicate",)):  # a retried grant that had gone through
                    if wanted - present:
                        grant(GroupId=group_id, IpPermissions=to_permissions(sorted(wanted - present, key=str)))
                with api_errors(ignore=("InvalidPermission.NotFound",)):
                    if present - wanted:
                        revoke(GroupId=group_id, IpPermissions=to_permissions(sorted(present - wanted, key=str)))
        return Observed({**want, "id": group_id}, identity={"id": group_id})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE):
            session.client("ec2").delete_security_group(GroupId=observed.identity.get("id") or observed.attributes["id"])
