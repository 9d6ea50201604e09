"""`aws.lb_target_group`: where a load balancer sends requests: a port and protocol in a VPC, a health
check, and the registered targets (instance ids, or IP addresses), as a set. Health-check settings and
targets change in place. DescribeTargetGroups is one paginated call for all; tags come 20 groups per
call; only groups that declare targets cost a DescribeTargetHealth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module
from reconciler.targets.aws import AwsSession

from .common import (
    api_errors,
    carries_marks,
    create_once,
    desired_tags,
    discover_named,
    not_ours,
    ours_now,
    paginate,
    read_each,
    visible_tags,
)
from .elb import ELB_GONE, elb_tag_list, elb_tags, retag_elb
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


class LbTargetGroupModule(Module[AwsSession], TerraformForm, Discovers):
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
    family = "aws"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"target_group_name", "port", "protocol", "vpc_id", "target_type"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"target_group_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"target group {group_name(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, "elasticloadbalancing:targetgroup", "target_group_name")

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"target_group_name": group_name(resource)}

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

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        elb = session.client("elbv2")
        with api_errors():
            groups = {g["TargetGroupName"]: g for g in session.listed(
                "elbv2:target_groups", lambda: paginate(elb, "describe_target_groups", "TargetGroups"))}
        names = {r.address: next((n for n in (group_name(r), r.prior.get("target_group_name")) if n in groups), None)
                 for r in resources}
        tags = elb_tags(elb, [groups[str(n)]["TargetGroupArn"] for n in names.values() if n])
        wanted = [r for r in resources if names[r.address]]
        found = read_each(session, wanted, lambda r: self._read(session, elb, r, groups[str(names[r.address])], tags))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, elb: Any, r: Resource, g: Mapping[str, Any],
              tags: Mapping[str, Mapping[str, str]]) -> Observed | Unobservable:
        name, arn = g["TargetGroupName"], g["TargetGroupArn"]
        have = dict(tags.get(arn, {}))
        refused = not_ours("target group", name, have, r, session)
        if refused:
            return refused
        attrs: dict[str, Any] = {
            "arn": arn, "target_group_name": name, "port": g.get("Port"), "protocol": g.get("Protocol"),
            "vpc_id": g.get("VpcId"), "target_type": g.get("TargetType", "instance"),
            "health_check": health_of({k: g.get(field, default) for k, (field, default) in HEALTH.items()}
                                      | {"matcher": (g.get("Matcher") or {}).get("HttpCode")}),
            "owned": carries_marks(have, r, session), "tags": visible_tags(have)}
        with api_errors():
            settings = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]}
        attrs["deregistration_delay"] = int(settings.get("deregistration_delay.timeout_seconds", 300))
        if r.get("targets") is not None:
            with api_errors():
                health = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            attrs["targets"] = sorted(target_key(h["Target"], int(g.get("Port") or 0)) for h in health
                                      if (h.get("TargetHealth") or {}).get("State") != "draining")
        return Observed(attrs, identity={"arn": arn, "tags": have, "target_group_name": name}, ours=attrs["owned"])

    @staticmethod
    def _health_kwargs(want: Mapping[str, Any]) -> dict[str, Any]:
        h = want["health_check"]
        out: dict[str, Any] = {field: h[k] for k, (field, _) in HEALTH.items()}
        out["Matcher"] = {"HttpCode": h["matcher"]}
        return out

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        elb = session.client("elbv2")
        want = self.desired(r)
        name = group_name(r)
        with api_errors():
            if change.observed is None:
                arn = create_once(
                    f"target group {name}",
                    lambda: session.client("elbv2", once=True).create_target_group(
                        Name=name, Protocol=want["protocol"], Port=want["port"], VpcId=want["vpc_id"],
                        TargetType=want["target_type"], Tags=elb_tag_list(r, session),
                        **self._health_kwargs(want))["TargetGroups"][0]["TargetGroupArn"],
                    lambda: (o.attributes.get("arn") if (o := ours_now(self, session, r)) else None))
                have_targets: list[str] = []
                if want["deregistration_delay"] != 300:
                    elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
                        {"Key": "deregistration_delay.timeout_seconds", "Value": str(want["deregistration_delay"])}])
            else:
                arn = str(change.observed.identity["arn"])
                changed = {d.name for d in change.diffs}
                if "health_check" in changed:
                    elb.modify_target_group(TargetGroupArn=arn, **self._health_kwargs(want))
                if "deregistration_delay" in changed:
                    elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
                        {"Key": "deregistration_delay.timeout_seconds", "Value": str(want["deregistration_delay"])}])
                retag_elb(elb, arn, change.observed.identity.get("tags", {}), r, session)
                have_targets = list(change.observed.attributes.get("targets") or [])
            if "targets" in want:
                def api(key: str) -> dict[str, Any]:
                    ident, port = key.rsplit(":", 1)
                    return {"Id": ident, "Port": int(port)}
                gone = [api(k) for k in have_targets if k not in want["targets"]]
                new = [api(k) for k in want["targets"] if k not in have_targets]
                if gone:
                    elb.deregister_targets(TargetGroupArn=arn, Targets=gone)
                if new:
                    elb.register_targets(TargetGroupArn=arn, Targets=new)
        return Observed({**want, "arn": arn}, identity={"arn": arn, "target_group_name": name})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=ELB_GONE):
            session.client("elbv2").delete_target_group(TargetGroupArn=str(observed.identity["arn"]))
