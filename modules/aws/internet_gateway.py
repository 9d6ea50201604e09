"""`aws.internet_gateway`: an internet gateway attached to a VPC (moved to another VPC in place)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, create_once, desired_tags, tag_specs
from .ec2_base import Ec2Module
from .terraform import pick, tags


class InternetGatewayModule(Ec2Module):
    type_name = "aws.internet_gateway"

    terraform_types = ("aws_internet_gateway",)
    terraform_parts = ("aws_internet_gateway_attachment",)

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        return Adopted({**pick(values, {"vpc_id": "vpc_id"}), **tags(values)}, str(values["id"]))

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        return str(values.get("internet_gateway_id") or "") or None

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        attributes["vpc_id"] = values.get("vpc_id")
    describe = ("describe_internet_gateways", "InternetGateways", "InternetGatewayId", "internet-gateway-id")
    computed = frozenset({"id"})

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = super().desired(resource)
        out["tags"] = desired_tags(resource)
        return out

    def attributes(self, session: AwsSession, resource: Resource, item: Mapping[str, Any]) -> dict[str, Any]:
        attached = [a["VpcId"] for a in item.get("Attachments") or [] if a.get("State") in ("available", "attached")]
        return {"vpc_id": attached[0] if attached else None}

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        ec2 = session.client("ec2")
        with api_errors():
            if change.observed is None:
                gateway = create_once(r.address, lambda: session.client("ec2", once=True).create_internet_gateway(
                    TagSpecifications=tag_specs(r, "internet-gateway", session))["InternetGateway"],
                    lambda: self.tagged_item(session, r))
                gateway_id, was = gateway["InternetGatewayId"], None
            else:
                gateway_id, was = change.observed.identity["id"], change.observed.attributes.get("vpc_id")
                self.retag(session, change, gateway_id)
            if was != r.get("vpc_id"):
                if was:
                    ec2.detach_internet_gateway(InternetGatewayId=gateway_id, VpcId=was)
                if r.get("vpc_id"):
                    ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=r.get("vpc_id"))
        return Observed({**self.desired(r), "id": gateway_id}, identity={"id": gateway_id})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        ec2 = session.client("ec2")
        gateway_id = observed.identity.get("id") or observed.attributes["id"]
        with api_errors(ignore=GONE):
            if observed.attributes.get("vpc_id"):
                ec2.detach_internet_gateway(InternetGatewayId=gateway_id, VpcId=observed.attributes["vpc_id"])
            ec2.delete_internet_gateway(InternetGatewayId=gateway_id)
