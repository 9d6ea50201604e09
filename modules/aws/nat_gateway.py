"""`aws.nat_gateway`: a NAT gateway in a (public) subnet with an Elastic IP, for private subnets' outbound
traffic. Its subnet, address and connectivity type force a replacement; apply waits until it is
available (and, when deleting, until it is gone, so its address can be released after it)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from reconciler.errors import ModuleError
from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, create_once, desired_tags, paginate, tag_specs
from .ec2_base import Ec2Module
from .terraform import pick, tags

WAIT = 600.0


class NatGatewayModule(Ec2Module):
    type_name = "aws.nat_gateway"

    terraform_types = ("aws_nat_gateway",)
    terraform_computed = frozenset({"secondary_allocation_ids", "secondary_private_ip_address_count",
                                    "secondary_private_ip_addresses"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"subnet_id": "subnet_id", "allocation_id": "allocation_id",
                            "connectivity_type": "connectivity_type"})
        if out.get("connectivity_type") == "public":
            del out["connectivity_type"]
        return Adopted({**out, **tags(values)}, str(values["id"]))
    describe = ("describe_nat_gateways", "NatGateways", "NatGatewayId", "nat-gateway-id")
    computed = frozenset({"id", "public_ip", "private_ip"})
    requires_replace = frozenset({"subnet_id", "allocation_id", "connectivity_type"})

    def list_items(self, session: AwsSession, filters: list[dict[str, Any]]) -> list[Any]:
        gone = ("deleted", "deleting", "failed")
        items = paginate(session.client("ec2"), "describe_nat_gateways", "NatGateways", Filter=filters)
        return [i for i in items if i.get("State") not in gone]

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = super().desired(resource)
        out["tags"] = desired_tags(resource)
        out.setdefault("connectivity_type", "public")
        return out

    def attributes(self, session: AwsSession, resource: Resource, item: Mapping[str, Any]) -> dict[str, Any]:
        address = (item.get("NatGatewayAddresses") or [{}])[0]
        return {"subnet_id": item.get("SubnetId"), "allocation_id": address.get("AllocationId"),
                "connectivity_type": item.get("ConnectivityType", "public"), "public_ip": address.get("PublicIp"),
                "private_ip": address.get("PrivateIp")}

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        with api_errors():
            if change.observed is None:
                kwargs: dict[str, Any] = {"SubnetId": r.get("subnet_id"),
                                          "ConnectivityType": r.get("connectivity_type") or "public",
                                          "TagSpecifications": tag_specs(r, "natgateway", session),
                                          "ClientToken": self.client_token(session, r)}
                if r.get("allocation_id"):
                    kwargs["AllocationId"] = r.get("allocation_id")
                gateway = create_once(r.address, lambda: session.client("ec2", once=True).create_nat_gateway(
                    **kwargs)["NatGateway"], lambda: self.tagged_item(session, r))
                gateway_id = gateway["NatGatewayId"]
                item = self._wait(session, gateway_id, "available")
            else:
                gateway_id = change.observed.identity["id"]
                self.retag(session, change, gateway_id)
                item = None
        seen = self.attributes(session, r, item) if item else dict(change.observed.attributes if change.observed else {})
        return Observed({**self.desired(r), "id": gateway_id, "public_ip": seen.get("public_ip"),
                         "private_ip": seen.get("private_ip")}, identity={"id": gateway_id})

    @staticmethod
    def _wait(session: AwsSession, gateway_id: str, state: str) -> dict[str, Any] | None:
        deadline = time.monotonic() + WAIT
        while True:
            found = session.client("ec2").describe_nat_gateways(NatGatewayIds=[gateway_id]).get("NatGateways") or []
            now = found[0].get("State") if found else "deleted"
            if now == state:
                return dict(found[0]) if found else None
            if now == "failed":
                raise ModuleError(f"NAT gateway {gateway_id} failed: {found[0].get('FailureMessage', '')}")
            if time.monotonic() > deadline:
                raise ModuleError(f"NAT gateway {gateway_id} is still {now} after {WAIT:.0f} s", retryable=True)
            time.sleep(2)

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        gateway_id = observed.identity.get("id") or observed.attributes["id"]
        with api_errors(ignore=GONE):
            session.client("ec2").delete_nat_gateway(NatGatewayId=gateway_id)
            self._wait(session, gateway_id, "deleted")
