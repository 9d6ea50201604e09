"""`aws.lb`: an application load balancer in two or more subnets, with its security groups. Subnets and
security groups change in place; the scheme (internet-facing or internal) is a replacement.
DescribeLoadBalancers is one paginated call for all; tags come 20 balancers per call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Observed, Resource
from reconciler.module import Adopted, NotCarried
from reconciler.targets.aws import AwsSession

from .common import api_errors, desired_tags
from .elb import ELB_GONE, ElbNamedModule
from .terraform import first, listed, pick, tags


def lb_name(resource: Resource) -> str:
    return str(resource.get("lb_name") or resource.name)


class LbModule(ElbNamedModule):
    type_name = "aws.lb"

    terraform_types = ("aws_lb", "aws_alb")
    terraform_names = {"lb_name": "name"}  # as the provider names them
    terraform_computed = frozenset({
        "arn_suffix", "vpc_id", "ip_address_type", "desync_mitigation_mode", "drop_invalid_header_fields",
        "enable_http2", "enable_tls_version_and_cipher_suite_headers", "enable_waf_fail_open",
        "enable_xff_client_port", "preserve_host_header", "xff_header_processing_mode", "client_keep_alive",
        "enable_cross_zone_load_balancing", "enable_zonal_shift", "subnet_mapping", "connection_logs",
        "dns_record_client_routing_policy", "enforce_security_group_inbound_rules_on_private_link_traffic"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        kind = values.get("load_balancer_type") or "application"
        if kind != "application":
            raise NotCarried("", f"a {kind} load balancer (aws.lb is an Application Load Balancer)")
        out = pick(values, {"name": "lb_name", "idle_timeout": "idle_timeout"})
        out["subnets"] = listed(values, "subnets")
        if values.get("security_groups"):
            out["security_groups"] = listed(values, "security_groups")
        out["internal"] = bool(values.get("internal"))
        out["enable_deletion_protection"] = bool(values.get("enable_deletion_protection"))
        logs = first(values, "access_logs")
        notes = (f"{self.type_name}.{name}: access logs (to bucket {logs.get('bucket')}) are not carried",) \
            if logs.get("enabled") else ()
        return Adopted({**out, **tags(values)}, str(values["name"]), notes=notes)
    name_attribute = "lb_name"
    computed = frozenset({"arn", "dns_name", "zone_id"})
    requires_replace = frozenset({"lb_name", "internal"})
    kind, discover_type = "load balancer", "elasticloadbalancing:loadbalancer"
    listing, list_key = ("describe_load_balancers", "LoadBalancers"), "LoadBalancerName"
    arn_field = "LoadBalancerArn"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"lb_name": lb_name(r), "internal": bool(r.get("internal", False)),
                "subnets": sorted(str(s) for s in r.get("subnets") or []),
                "security_groups": sorted(str(s) for s in r.get("security_groups") or []),
                "owned": True, "tags": desired_tags(r),
                "enable_deletion_protection": bool(r.get("enable_deletion_protection", False)),
                "idle_timeout": int(r.get("idle_timeout") or 60)}

    def read(self, client: Any, resource: Resource, item: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        arn = item["LoadBalancerArn"]
        given = {a["Key"]: a["Value"] for a in client.describe_load_balancer_attributes(
            LoadBalancerArn=arn)["Attributes"]}
        made = {"arn": arn, "dns_name": item.get("DNSName"), "zone_id": item.get("CanonicalHostedZoneId")}
        return ({**made, "internal": item.get("Scheme") == "internal",
                 "subnets": sorted(z["SubnetId"] for z in item.get("AvailabilityZones") or []),
                 "security_groups": sorted(item.get("SecurityGroups") or []),
                 "enable_deletion_protection": given.get("deletion_protection.enabled") == "true",
                 "idle_timeout": int(given.get("idle_timeout.timeout_seconds", 60))}, made)

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        name = want["lb_name"]
        client.create_load_balancer(Name=name, Subnets=want["subnets"], SecurityGroups=want["security_groups"],
                                    Scheme="internal" if want["internal"] else "internet-facing", Type="application",
                                    Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        client.get_waiter("load_balancer_available").wait(Names=[name], WaiterConfig={"Delay": 2, "MaxAttempts": 300})
        made = client.describe_load_balancers(Names=[name])["LoadBalancers"][0]
        return {"arn": made["LoadBalancerArn"], "dns_name": made.get("DNSName"),
                "zone_id": made.get("CanonicalHostedZoneId")}

    def created_unset(self, want: Mapping[str, Any]) -> set[str]:
        return {"idle_timeout"} if want["enable_deletion_protection"] or want["idle_timeout"] != 60 else set()

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        if "subnets" in changed:
            client.set_subnets(LoadBalancerArn=identity["arn"], Subnets=want["subnets"])
        if "security_groups" in changed:
            client.set_security_groups(LoadBalancerArn=identity["arn"], SecurityGroups=want["security_groups"])
        if changed & {"enable_deletion_protection", "idle_timeout"}:
            client.modify_load_balancer_attributes(LoadBalancerArn=identity["arn"], Attributes=self._settings(want))

    @staticmethod
    def _settings(want: Mapping[str, Any]) -> list[dict[str, str]]:
        return [{"Key": "deletion_protection.enabled", "Value": "true" if want["enable_deletion_protection"] else "false"},
                {"Key": "idle_timeout.timeout_seconds", "Value": str(want["idle_timeout"])}]

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        elb = session.client("elbv2")
        with api_errors(ignore=ELB_GONE):
            elb.delete_load_balancer(LoadBalancerArn=str(observed.identity["arn"]))
            elb.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[str(observed.identity["arn"])],
                                                          WaiterConfig={"Delay": 2, "MaxAttempts": 300})
