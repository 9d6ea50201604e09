"""data aws.vpc: an existing VPC found by its tags (and CIDR block)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Resource

from .data_tagged import TaggedData


class VpcData(TaggedData):
    type_name = "aws.vpc"
    operation, key, id_key, kind = "describe_vpcs", "Vpcs", "VpcId", "VPC"
    provides = frozenset({"id", "cidr_block", "owner_id", "is_default", "tags"})

    def matches(self, q: Resource, obj: Mapping[str, Any]) -> bool:
        return super().matches(q, obj) and (q.get("cidr_block") in (None, obj.get("CidrBlock")))

    def describe(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": obj["VpcId"], "cidr_block": obj.get("CidrBlock"), "owner_id": obj.get("OwnerId"),
                "is_default": bool(obj.get("IsDefault"))}
