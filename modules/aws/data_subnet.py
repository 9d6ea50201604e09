"""data aws.subnet: an existing subnet found by its tags, VPC and zone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Resource

from .data_tagged import TaggedData


class SubnetData(TaggedData):
    type_name = "aws.subnet"
    operation, key, id_key, kind = "describe_subnets", "Subnets", "SubnetId", "subnet"
    provides = frozenset({"id", "cidr_block", "availability_zone", "vpc_id", "tags"})

    def matches(self, q: Resource, obj: Mapping[str, Any]) -> bool:
        return (super().matches(q, obj) and q.get("vpc_id") in (None, obj.get("VpcId"))
                and q.get("availability_zone") in (None, obj.get("AvailabilityZone")))

    def describe(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": obj["SubnetId"], "cidr_block": obj.get("CidrBlock"),
                "availability_zone": obj.get("AvailabilityZone"), "vpc_id": obj.get("VpcId")}
