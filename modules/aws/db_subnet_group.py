"""`aws.db_subnet_group`: the subnets (in two or more zones) an RDS instance may be placed in. Subnets
and description change in place. DescribeDBSubnetGroups is one paginated call for all; each managed
group costs a tag listing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import api_errors, desired_tags
from .rds_named import RDS_GONE, RdsGroupModule, group_name
from .terraform import listed, pick, tags


class DbSubnetGroupModule(RdsGroupModule):
    type_name = "aws.db_subnet_group"

    terraform_types = ("aws_db_subnet_group",)
    terraform_names = {"group_name": "name"}  # as the provider names them
    terraform_computed = frozenset({"supported_network_types", "vpc_id"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "group_name", "description": "description"})
        out["subnet_ids"] = listed(values, "subnet_ids")
        return Adopted({**out, **tags(values)}, str(values["name"]))
    kind, discover_type = "DB subnet group", "rds:subgrp"
    listing, list_key = ("describe_db_subnet_groups", "DBSubnetGroups"), "DBSubnetGroupName"
    arn_field = "DBSubnetGroupArn"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"group_name": group_name(r), "description": str(r.get("description") or "Managed by reconcile"),
                "subnet_ids": sorted(str(s) for s in r.get("subnet_ids") or []), "owned": True,
                "tags": desired_tags(r)}

    def read(self, client: Any, resource: Resource, item: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
        arn = item["DBSubnetGroupArn"]
        return ({"arn": arn, "name": item["DBSubnetGroupName"], "description": item.get("DBSubnetGroupDescription"),
                 "subnet_ids": sorted(s["SubnetIdentifier"] for s in item.get("Subnets") or [])}, {"arn": arn})

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        made = client.create_db_subnet_group(
            DBSubnetGroupName=want["group_name"], DBSubnetGroupDescription=want["description"],
            SubnetIds=want["subnet_ids"], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return {"arn": made["DBSubnetGroup"]["DBSubnetGroupArn"]}

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        if changed & {"subnet_ids", "description"}:
            client.modify_db_subnet_group(DBSubnetGroupName=want["group_name"],
                                          DBSubnetGroupDescription=want["description"], SubnetIds=want["subnet_ids"])

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=RDS_GONE):
            session.client("rds").delete_db_subnet_group(DBSubnetGroupName=str(observed.identity["group_name"]))
