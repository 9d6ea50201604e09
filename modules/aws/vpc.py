"""`aws.vpc`: a VPC, found by its reconcile:address tag in one paginated describe for all VPCs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, create_once, desired_tags, tag_specs
from .ec2_base import Ec2Module
from .terraform import pick, tags

DNS = {"enable_dns_support": "enableDnsSupport", "enable_dns_hostnames": "enableDnsHostnames"}


class VpcModule(Ec2Module):
    type_name = "aws.vpc"
    terraform_types = ("aws_vpc",)

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        return Adopted({**pick(values, {k: k for k in ("cidr_block", "enable_dns_support", "enable_dns_hostnames",
                                                       "instance_tenancy")}), **tags(values)}, str(values["id"]))

    describe = ("describe_vpcs", "Vpcs", "VpcId", "vpc-id")
    computed = frozenset({"id", "owner_id", "default_security_group_id"})
    requires_replace = frozenset({"cidr_block", "instance_tenancy"})

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = super().desired(resource)
        out["tags"] = desired_tags(resource)
        return out

    def attributes(self, session: AwsSession, resource: Resource, vpc: Mapping[str, Any]) -> dict[str, Any]:
        attrs: dict[str, Any] = {"cidr_block": vpc["CidrBlock"], "owner_id": vpc.get("OwnerId"),
                                 "instance_tenancy": vpc.get("InstanceTenancy")}
        with api_errors():
            for key, api_name in DNS.items():  # not in describe_vpcs: asked only when the spec sets it
                if resource.get(key) is not None:
                    value = session.client("ec2").describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=api_name)
                    attrs[key] = value[api_name[0].upper() + api_name[1:]]["Value"]
        return attrs

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        ec2 = session.client("ec2")
        with api_errors():
            if change.observed is None:
                kwargs: dict[str, Any] = {"CidrBlock": r.get("cidr_block"), "TagSpecifications": tag_specs(r, "vpc", session)}
                if r.get("instance_tenancy"):
                    kwargs["InstanceTenancy"] = r.get("instance_tenancy")
                vpc = create_once(r.address, lambda: session.client("ec2", once=True).create_vpc(**kwargs)["Vpc"],
                                  lambda: self.tagged_item(session, r))
                vpc_id = vpc["VpcId"]
                ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
                changed = {k for k in DNS if r.get(k) is not None}
            else:
                vpc_id = change.observed.identity["id"]
                changed = {d.name for d in change.diffs}
            for key, api_name in DNS.items():
                if key in changed and r.get(key) is not None:
                    ec2.modify_vpc_attribute(VpcId=vpc_id, **{api_name[0].upper() + api_name[1:]: {"Value": bool(r.get(key))}})
            if change.observed is not None:
                self.retag(session, change, vpc_id)
        return Observed({**self.desired(r), "id": vpc_id}, identity={"id": vpc_id})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE):
            session.client("ec2").delete_vpc(VpcId=observed.identity.get("id") or observed.attributes["id"])
