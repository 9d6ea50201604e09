"""`aws.eip`: an Elastic IP address (VPC), optionally associated with an instance (moved in place)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, create_once, desired_tags, tag_specs
from .ec2_base import Ec2Module
from .terraform import pick, tags


class EipModule(Ec2Module):
    type_name = "aws.eip"

    terraform_types = ("aws_eip",)
    terraform_names = {"instance_id": "instance"}  # as the provider names them
    terraform_computed = frozenset({"allocation_id", "network_border_group", "public_ipv4_pool", "vpc", "ptr_record",
                                    "carrier_ip", "customer_owned_ip", "ipam_pool_id"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"instance": "instance_id"})
        if values.get("network_interface") and not values.get("instance"):
            values.get("associate_with_private_ip")
            return Adopted({**out, **tags(values)}, str(values["id"]), notes=(
                f"{self.type_name}.{name}: its association with network interface {values['network_interface']} "
                "is not carried (reconcile leaves it as it is)",))
        return Adopted({**out, **tags(values)}, str(values["id"]))
    describe = ("describe_addresses", "Addresses", "AllocationId", "allocation-id")
    computed = frozenset({"id", "public_ip", "association_id"})
    volatile = frozenset({"association_id"})

    def list_items(self, session: AwsSession, filters: list[dict[str, Any]]) -> list[Any]:
        with api_errors():  # describe_addresses is not paginated: one call answers for all
            return list(session.client("ec2").describe_addresses(Filters=filters).get("Addresses", []))

    def desired(self, resource: Resource) -> dict[str, Any]:
        out = super().desired(resource)
        out["tags"] = desired_tags(resource)
        return out

    def attributes(self, session: AwsSession, resource: Resource, item: Mapping[str, Any]) -> dict[str, Any]:
        return {"public_ip": item.get("PublicIp"), "instance_id": item.get("InstanceId"),
                "association_id": item.get("AssociationId")}

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        ec2 = session.client("ec2")
        with api_errors():
            if change.observed is None:
                address = create_once(r.address, lambda: session.client("ec2", once=True).allocate_address(
                    Domain="vpc", TagSpecifications=tag_specs(r, "elastic-ip", session)),
                    lambda: self.tagged_item(session, r))
                allocation, public_ip, association, was = address["AllocationId"], address.get("PublicIp"), None, None
            else:
                seen = change.observed.attributes
                allocation, public_ip = change.observed.identity["id"], seen.get("public_ip")
                association, was = seen.get("association_id"), seen.get("instance_id")
                self.retag(session, change, allocation)
            if was != r.get("instance_id"):
                if association:
                    ec2.disassociate_address(AssociationId=association)
                    association = None
                if r.get("instance_id"):
                    association = ec2.associate_address(AllocationId=allocation,
                                                        InstanceId=r.get("instance_id")).get("AssociationId")
        return Observed({**self.desired(r), "id": allocation, "public_ip": public_ip, "association_id": association},
                        identity={"id": allocation})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        ec2 = session.client("ec2")
        with api_errors(ignore=GONE):
            if observed.attributes.get("association_id"):
                ec2.disassociate_address(AssociationId=observed.attributes["association_id"])
            ec2.release_address(AllocationId=observed.identity.get("id") or observed.attributes["id"])
