"""What the RDS groups (subnet groups, parameter groups) share on top of the named loop: RDS's own tag
calls, keyed by the ARN as `ResourceName`, and lower-case names that also stand as `name`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Resource

from .common import GONE
from .named_base import TaggedNamedModule

RDS_GONE = GONE + ("DBSubnetGroupNotFoundFault", "DBParameterGroupNotFound")


def group_name(resource: Resource) -> str:
    return str(resource.get("group_name") or resource.name).lower()


class RdsGroupModule(TaggedNamedModule):
    service = "rds"
    name_attribute = "group_name"
    computed = frozenset({"arn", "name"})
    requires_replace = frozenset({"group_name"})

    def object_name(self, resource: Resource) -> str:
        return group_name(resource)

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"group_name": group_name(resource), "name": group_name(resource)}

    def read_tags(self, client: Any, item: Mapping[str, Any]) -> dict[str, str]:
        answer = client.list_tags_for_resource(ResourceName=item[self.arn_field])
        return {t["Key"]: t["Value"] for t in answer.get("TagList") or []}

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.add_tags_to_resource(ResourceName=identity["arn"],
                                    Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.remove_tags_from_resource(ResourceName=identity["arn"], TagKeys=keys)

    def outputs(self, identity: Mapping[str, Any]) -> dict[str, Any]:
        return {"arn": identity["arn"], "name": identity["group_name"]}
