"""`aws.lb`: an application load balancer in two or more subnets, with its security groups. Subnets and
security groups change in place; the scheme (internet-facing or internal) is a replacement.
DescribeLoadBalancers is one paginated call for all; tags come 20 balancers per call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module, NotCarried
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
    visible_tags,
)
from .elb import ELB_GONE, elb_tag_list, elb_tags, retag_elb
from .terraform import first, listed, pick, tags


def lb_name(resource: Resource) -> str:
    return str(resource.get("lb_name") or resource.name)


class LbModule(Module[AwsSession], TerraformForm, Discovers):
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
    family = "aws"
    computed = frozenset({"arn", "dns_name", "zone_id"})
    requires_replace = frozenset({"lb_name", "internal"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"lb_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"load balancer {lb_name(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, "elasticloadbalancing:loadbalancer", "lb_name")

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"lb_name": lb_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"lb_name": lb_name(r), "internal": bool(r.get("internal", False)),
                "subnets": sorted(str(s) for s in r.get("subnets") or []),
                "security_groups": sorted(str(s) for s in r.get("security_groups") or []),
                "owned": True, "tags": desired_tags(r),
                "enable_deletion_protection": bool(r.get("enable_deletion_protection", False)),
                "idle_timeout": int(r.get("idle_timeout") or 60)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        elb = session.client("elbv2")
        with api_errors():
            balancers = {b["LoadBalancerName"]: b for b in session.listed(
                "elbv2:balancers", lambda: paginate(elb, "describe_load_balancers", "LoadBalancers"))}
        names = {r.address: next((n for n in (lb_name(r), r.prior.get("lb_name")) if n in balancers), None)
                 for r in resources}
        found = [balancers[str(n)] for n in names.values() if n]
        tags = elb_tags(elb, [b["LoadBalancerArn"] for b in found])
        settings = dict(zip([b["LoadBalancerArn"] for b in found], session.map(
            lambda b: {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(
                LoadBalancerArn=b["LoadBalancerArn"])["Attributes"]}, found), strict=True))
        out: dict[str, Observed | Unobservable | None] = {}
        for r in resources:
            name = names[r.address]
            if name is None:
                out[r.address] = None
                continue
            b = balancers[name]
            have = tags.get(b["LoadBalancerArn"], {})
            refused = not_ours("load balancer", name, have, r, session)
            if refused:
                out[r.address] = refused
                continue
            attrs = {"arn": b["LoadBalancerArn"], "lb_name": name, "dns_name": b.get("DNSName"),
                     "zone_id": b.get("CanonicalHostedZoneId"), "internal": b.get("Scheme") == "internal",
                     "subnets": sorted(z["SubnetId"] for z in b.get("AvailabilityZones") or []),
                     "security_groups": sorted(b.get("SecurityGroups") or []),
                     "owned": carries_marks(have, r, session), "tags": visible_tags(have)}
            given = settings.get(b["LoadBalancerArn"], {})
            attrs["enable_deletion_protection"] = given.get("deletion_protection.enabled") == "true"
            attrs["idle_timeout"] = int(given.get("idle_timeout.timeout_seconds", 60))
            out[r.address] = Observed(attrs, identity={"arn": b["LoadBalancerArn"], "tags": have, "lb_name": name},
                                      ours=attrs["owned"])
        return out

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        elb = session.client("elbv2")
        want = self.desired(r)
        name = lb_name(r)
        with api_errors():
            if change.observed is None:
                create_once(f"load balancer {name}",
                            lambda: session.client("elbv2", once=True).create_load_balancer(
                                Name=name, Subnets=want["subnets"], SecurityGroups=want["security_groups"],
                                Scheme="internal" if want["internal"] else "internet-facing", Type="application",
                                Tags=elb_tag_list(r, session))["LoadBalancers"][0],
                            lambda: ours_now(self, session, r))
                elb.get_waiter("load_balancer_available").wait(Names=[name], WaiterConfig={"Delay": 2, "MaxAttempts": 300})
                created = elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]["LoadBalancerArn"]
                if want["enable_deletion_protection"] or want["idle_timeout"] != 60:
                    elb.modify_load_balancer_attributes(LoadBalancerArn=created, Attributes=self._settings(want))
            else:
                arn = str(change.observed.identity["arn"])
                changed = {d.name for d in change.diffs}
                if "subnets" in changed:
                    elb.set_subnets(LoadBalancerArn=arn, Subnets=want["subnets"])
                if "security_groups" in changed:
                    elb.set_security_groups(LoadBalancerArn=arn, SecurityGroups=want["security_groups"])
                if changed & {"enable_deletion_protection", "idle_timeout"}:
                    elb.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=self._settings(want))
                retag_elb(elb, arn, change.observed.identity.get("tags", {}), r, session)
            b = elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]
        return Observed({**want, "arn": b["LoadBalancerArn"], "dns_name": b.get("DNSName"),
                         "zone_id": b.get("CanonicalHostedZoneId")},
                        identity={"arn": b["LoadBalancerArn"], "lb_name": name})

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
