"""`aws.lb_target_group`: where a load balancer sends requests: a port and protocol in a VPC, a health
check, and the registered targets (instance ids, or IP addresses), as a set. Health-check settings and
targets change in place. DescribeTargetGroups is one paginated call for all; tags come 20 groups per
call; only groups that declare targets cost a DescribeTargetHealth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import api_errors, desired_tags
from .elb import ELB_GONE, ElbNamedModule
from .terraform import first, name_in_arn, pick, tags

HEALTH = {  # spec key -> (API field, default)
    "path": ("HealthCheckPath", "/"), "port": ("HealthCheckPort", "traffic-port"),
    "protocol": ("HealthCheckProtocol", "HTTP"), "interval": ("HealthCheckIntervalSeconds", 30),
    "timeout": ("HealthCheckTimeoutSeconds", 5), "healthy_threshold": ("HealthyThresholdCount", 5),
    "unhealthy_threshold": ("UnhealthyThresholdCount", 2),
}


def group_name(resource: Resource) -> str:
    return str(resource.get("target_group_name") or resource.name)


def health_of(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (str(values[k]) if k in ("path", "port", "protocol") else int(values[k])) for k in HEALTH} | \
        {"matcher": str(values.get("matcher") or "200")}


def target_key(target: Mapping[str, Any], port: int) -> str:
    return f"{target.get('id') or target.get('Id')}:{target.get('port') or target.get('Port') or port}"


class LbTargetGroupModule(ElbNamedModule):
    type_name = "aws.lb_target_group"

    terraform_types = ("aws_lb_target_group", "aws_alb_target_group")
    terraform_names = {"target_group_name": "name"}  # as the provider names them
    terraform_parts = ("aws_lb_target_group_attachment", "aws_alb_target_group_attachment")
    terraform_computed = frozenset({
        "arn_suffix", "load_balancer_arns", "ip_address_type", "lambda_multi_value_headers_enabled",
        "load_balancing_algorithm_type", "load_balancing_anomaly_mitigation", "load_balancing_cross_zone_enabled",
        "preserve_client_ip", "protocol_version", "proxy_protocol_v2", "connection_termination", "target_failover",
        "target_health_state", "target_group_health", "slow_start", "name_prefix"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "target_group_name", "port": "port", "protocol": "protocol",
                            "vpc_id": "vpc_id", "target_type": "target_type"})
        if values.get("deregistration_delay") not in (None, ""):
            out["deregistration_delay"] = int(values["deregistration_delay"])
        check = first(values, "health_check")
        if check:
            health = pick(check, {k: k for k in ("path", "protocol", "interval", "timeout", "healthy_threshold",
                                                 "unhealthy_threshold", "matcher")})
            if check.get("port") not in (None, "", "traffic-port"):
                health["port"] = check["port"]
            out["health_check"] = health
        sticky = first(values, "stickiness")
        notes = (f"{self.type_name}.{name}: stickiness is not carried",) if sticky.get("enabled") else ()
        return Adopted({**out, **tags(values)}, str(values["name"]), notes=notes)

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        return name_in_arn(values.get("target_group_arn"), "targetgroup")

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        target: dict[str, Any] = {"id": str(values.get("target_id"))}
        if values.get("port"):
            target["port"] = int(values["port"])
        attributes["targets"] = [*attributes.get("targets", []), target]
    name_attribute = "target_group_name"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"target_group_name", "port", "protocol", "vpc_id", "target_type"})
    kind, discover_type = "target group", "elasticloadbalancing:targetgroup"
    listing, list_key = ("describe_target_groups", "TargetGroups"), "TargetGroupName"
    arn_field = "TargetGroupArn"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        port = int(r.get("port"))
        given = r.get("health_check") or {}
        out: dict[str, Any] = {
            "target_group_name": group_name(r), "port": port, "protocol": str(r.get("protocol") or "HTTP"),
            "vpc_id": str(r.get("vpc_id")), "target_type": str(r.get("target_type") or "instance"),
            "health_check": health_of({k: given.get(k, default) for k, (_, default) in HEALTH.items()}
                                      | {"matcher": given.get("matcher")}),
            "owned": True, "tags": desired_tags(r),
            "deregistration_delay": int(r.get("deregistration_delay") if r.get("deregistration_delay") is not None
                                        else 300)}
        if r.get("targets") is not None:
            out["targets"] = sorted(target_key(t, port) for t in r.get("targets"))
        return out

    def read(self, client: Any, resource: Resource, item: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        arn = item["TargetGroupArn"]
        settings: dict[str, Any] = {
            "arn": arn, "port": item.get("Port"), "protocol": item.get("Protocol"), "vpc_id": item.get("VpcId"),
            "target_type": item.get("TargetType", "instance"),
            "health_check": health_of({k: item.get(field, default) for k, (field, default) in HEALTH.items()}
                                      | {"matcher": (item.get("Matcher") or {}).get("HttpCode")})}
        given = {a["Key"]: a["Value"] for a in client.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]}
        settings["deregistration_delay"] = int(given.get("deregistration_delay.timeout_seconds", 300))
        if resource.get("targets") is not None:
            health = client.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            settings["targets"] = sorted(target_key(h["Target"], int(item.get("Port") or 0)) for h in health
                                         if (h.get("TargetHealth") or {}).get("State") != "draining")
        return settings, {"arn": arn}

    @staticmethod
    def _health_kwargs(want: Mapping[str, Any]) -> dict[str, Any]:
        h = want["health_check"]
        out: dict[str, Any] = {field: h[k] for k, (field, _) in HEALTH.items()}
        out["Matcher"] = {"HttpCode": h["matcher"]}
        return out

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        made = client.create_target_group(
            Name=want["target_group_name"], Protocol=want["protocol"], Port=want["port"], VpcId=want["vpc_id"],
            TargetType=want["target_type"], Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            **self._health_kwargs(want))
        return {"arn": made["TargetGroups"][0]["TargetGroupArn"]}

    def created_unset(self, want: Mapping[str, Any]) -> set[str]:
        return ({"deregistration_delay"} if want["deregistration_delay"] != 300 else set()) | (
            {"targets"} if "targets" in want else set())

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        arn = identity["arn"]
        if "health_check" in changed:
            client.modify_target_group(TargetGroupArn=arn, **self._health_kwargs(want))
        if "deregistration_delay" in changed:
            client.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
                {"Key": "deregistration_delay.timeout_seconds", "Value": str(want["deregistration_delay"])}])
        if "targets" in want:
            have = list((observed.attributes.get("targets") if observed is not None else None) or [])

            def api(key: str) -> dict[str, Any]:
                ident, port = key.rsplit(":", 1)
                return {"Id": ident, "Port": int(port)}
            gone = [api(k) for k in have if k not in want["targets"]]
            new = [api(k) for k in want["targets"] if k not in have]
            if gone:
                client.deregister_targets(TargetGroupArn=arn, Targets=gone)
            if new:
                client.register_targets(TargetGroupArn=arn, Targets=new)

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=ELB_GONE):
            session.client("elbv2").delete_target_group(TargetGroupArn=str(observed.identity["arn"]))
