"""`aws.subnet`: a subnet of a VPC, found by tag in one paginated describe for all subnets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, create_once, desired_tags, tag_specs
from .ec2_base import Ec2Module
from .terraform import pick, tags


class SubnetModule(Ec2Module):
    type_name = "aws.subnet"
    terraform_types = ("aws_subnet",)

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        return Adopted({**pick(values, {k: k for k in ("vpc_id", "cidr_block", "availability_zone",
                                                       "map_public_ip_on_launch")}), **tags(values)}, str(values["id"]))

    describe = ("describe_subnets", "Subnets", "SubnetId", "subnet-id")
    computed = frozenset({"id", "arn", "available_ip_address_count"})
    requires_replace = frozenset({"vpc_id", "cidr_block", "availability_zone"})

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = super().desired(resource)
        out["tags"] = desired_tags(resource)
        return out

    def attributes(self, session: AwsSession, resource: Resource, s: Mapping[str, Any]) -> dict[str, Any]:
        return {"arn": s.get("SubnetArn"), "vpc_id": s["VpcId"], "cidr_block": s["CidrBlock"],
                "availability_zone": s.get("AvailabilityZone"),
                "map_public_ip_on_launch": bool(s.get("MapPublicIpOnLaunch")),
                "available_ip_address_count": s.get("AvailableIpAddressCount")}

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        ec2 = session.client("ec2")
        with api_errors():
            if change.observed is None:
                kwargs: dict[str, Any] = {"VpcId": r.get("vpc_id"), "CidrBlock": r.get("cidr_block"),
                                          "TagSpecifications": tag_specs(r, "subnet", session)}
                if r.get("availability_zone"):
                    kwargs["AvailabilityZone"] = r.get("availability_zone")
                subnet = create_once(r.address, lambda: session.client("ec2", once=True).create_subnet(**kwargs)[
                    "Subnet"], lambda: self.tagged_item(session, r))
                subnet_id, arn, changed = subnet["SubnetId"], subnet.get("SubnetArn"), {"map_public_ip_on_launch"}
            else:
                subnet_id, arn = change.observed.identity["id"], change.observed.attributes.get("arn")
                changed = {d.name for d in change.diffs}
                self.retag(session, change, subnet_id)
            if "map_public_ip_on_launch" in changed and r.get("map_public_ip_on_launch") is not None:
                ec2.modify_subnet_attribute(SubnetId=subnet_id,
                                            MapPublicIpOnLaunch={"Value": bool(r.get("map_public_ip_on_launch"))})
        return Observed({**self.desired(r), "id": subnet_id, "arn": arn}, identity={"id": subnet_id})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE):
            session.client("ec2").delete_subnet(SubnetId=observed.identity.get("id") or observed.attributes["id"])
