"""`aws.route53_record`: one record set of a zone (`record_name`, `record_type`) (A, AAAA, CNAME, TXT, MX…) with a TTL and values, or an
alias to a load balancer (`alias: {name: ${aws.lb.web.dns_name}, zone_id: ${aws.lb.web.zone_id}}`).
Record sets carry no tags: one is ours when the state recorded it; one already there that reconcile
did not make is taken over only with `import: true`. ListResourceRecordSets is one paginated call per
zone for all its records; an UPSERT writes one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted, NotCarried
from reconciler.targets.aws import AwsSession

from .child_base import ChildModule
from .common import api_errors, paginate
from .route53_zone import ZONE_GONE, fqdn, short_id
from .terraform import first, listed, pick


def record_name(resource: Resource) -> str:
    return fqdn(str(resource.get("record_name")))


def alias_of(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None
    name = value.get("name") or value.get("DNSName")
    zone = value.get("zone_id") or value.get("HostedZoneId")
    health = value.get("evaluate_target_health", value.get("EvaluateTargetHealth", False))
    return {"name": fqdn(str(name)), "zone_id": str(zone), "evaluate_target_health": bool(health)}


class Route53RecordModule(ChildModule):
    type_name = "aws.route53_record"

    terraform_types = ("aws_route53_record",)
    terraform_names = {"record_name": "name", "record_type": "type"}  # as the provider names them
    terraform_computed = frozenset({"fqdn", "allow_overwrite"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        policies = [k for k in ("set_identifier", "weighted_routing_policy", "latency_routing_policy",
                                "failover_routing_policy", "geolocation_routing_policy", "geoproximity_routing_policy",
                                "cidr_routing_policy", "multivalue_answer_routing_policy", "health_check_id")
                    if values.get(k)]
        if policies:
            raise NotCarried("", f"a record with {', '.join(policies)} (aws.route53_record is a simple record)")
        out = pick(values, {"zone_id": "zone_id", "name": "record_name", "type": "record_type", "ttl": "ttl"})
        if values.get("records"):
            out["records"] = listed(values, "records")
        alias = first(values, "alias")
        if alias:
            out["alias"] = {"name": alias.get("name"), "zone_id": alias.get("zone_id"),
                            "evaluate_target_health": bool(alias.get("evaluate_target_health"))}
        return Adopted(out, str(values.get("id")))

    def import_identity(self, object_id: str) -> dict[str, Any]:
        """Terraform's ZONEID_NAME_TYPE: the zone (the record is found by the spec's name and type)."""
        return {"zone_id": object_id.partition("_")[0]}
    computed = frozenset({"fqdn"})
    requires_replace = frozenset({"zone_id", "record_name", "record_type"})
    service, parent_attribute = "route53", "zone_id"

    def physical_key(self, resource: Resource) -> str | None:
        return f"record {record_name(resource)} {resource.get('record_type')} in zone {resource.get('zone_id')}"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out: dict[str, Any] = {"zone_id": short_id(str(r.get("zone_id"))), "record_name": record_name(r),
                               "record_type": str(r.get("record_type"))}
        if r.get("alias"):
            out["alias"] = alias_of(r.get("alias"))
        else:
            out["ttl"] = int(r.get("ttl") or 300)
            out["records"] = sorted(str(v) for v in r.get("records") or [])
        return out

    def parent_of(self, resource: Resource) -> str:
        return short_id(super().parent_of(resource))

    def children(self, client: Any, parent: str) -> list[Any]:
        """The zone's record sets (none when the zone is gone)."""
        with api_errors(ignore=ZONE_GONE):
            return paginate(client, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=parent)
        return []

    def recorded(self, resource: Resource) -> str | None:
        if resource.prior:
            return f"{resource.prior.get('record_name') or record_name(resource)} " \
                   f"{resource.prior.get('record_type') or resource.get('record_type')}"
        return f"{record_name(resource)} {resource.get('record_type')}" if resource.get("import") else None

    def named(self, child: Any, name: str) -> bool:
        return f"{fqdn(child['Name'])} {child['Type']}" == name

    def same_key(self, resource: Resource, child: Any) -> bool:
        return self.named(child, f"{record_name(resource)} {resource.get('record_type')}")

    def refusal(self, resource: Resource, child: Any) -> str:
        return (f"{child['Type']} record {fqdn(child['Name'])} already exists in zone {self.parent_of(resource)} and "
                "is not managed by reconcile; set import: true to take it over")

    def read(self, client: Any, resource: Resource, child: Any) -> Observed:
        zone = self.parent_of(resource)
        attrs: dict[str, Any] = {"zone_id": zone, "record_name": fqdn(child["Name"]), "record_type": child["Type"],
                                 "fqdn": fqdn(child["Name"])}
        if child.get("AliasTarget"):
            attrs["alias"] = alias_of(child["AliasTarget"])
        else:
            attrs["ttl"] = child.get("TTL")
            attrs["records"] = sorted(v["Value"] for v in child.get("ResourceRecords") or [])
        return Observed(attrs, identity={"zone_id": zone, "set": child})

    @staticmethod
    def _record_set(want: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"Name": want["record_name"], "Type": want["record_type"]}
        if want.get("alias"):
            a = want["alias"]
            out["AliasTarget"] = {"HostedZoneId": a["zone_id"], "DNSName": a["name"],
                                  "EvaluateTargetHealth": a["evaluate_target_health"]}
        else:
            out["TTL"] = want["ttl"]
            out["ResourceRecords"] = [{"Value": v} for v in want["records"]]
        return out

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        want = self.desired(r)
        with api_errors():
            session.client("route53").change_resource_record_sets(HostedZoneId=want["zone_id"], ChangeBatch={
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": self._record_set(want)}]})
        return Observed({**want, "fqdn": want["record_name"]}, identity={"zone_id": want["zone_id"],
                                                                  "set": self._record_set(want)})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=ZONE_GONE + ("InvalidChangeBatch",)):  # already gone
            session.client("route53").change_resource_record_sets(
                HostedZoneId=str(observed.identity["zone_id"]),
                ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": observed.identity["set"]}]})
