"""`aws.db_subnet_group`: the subnets (in two or more zones) an RDS instance may be placed in. Subnets
and description change in place. DescribeDBSubnetGroups is one paginated call for all; each managed
group costs a tag listing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module
from reconciler.targets.aws import AwsSession

from .common import (
    GONE,
    api_errors,
    carries_marks,
    create_once,
    desired_tags,
    discover_named,
    not_ours,
    ours_now,
    ownership_tags,
    paginate,
    read_each,
    retag,
    visible_tags,
)
from .terraform import listed, pick, tags

RDS_GONE = GONE + ("DBSubnetGroupNotFoundFault", "DBParameterGroupNotFound")


def group_name(resource: Resource) -> str:
    return str(resource.get("group_name") or resource.name).lower()


def rds_retag(rds: Any, arn: str, have: Mapping[str, str], resource: Resource, session: AwsSession) -> None:
    retag(have, resource, session,
          lambda t: rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": k, "Value": v} for k, v in t.items()]),
          lambda keys: rds.remove_tags_from_resource(ResourceName=arn, TagKeys=keys))


def rds_tags(rds: Any, arn: str) -> dict[str, str]:
    with api_errors():
        return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn).get("TagList") or []}


class DbSubnetGroupModule(Module[AwsSession], TerraformForm, Discovers):
    type_name = "aws.db_subnet_group"

    terraform_types = ("aws_db_subnet_group",)
    terraform_names = {"group_name": "name"}  # as the provider names them
    terraform_computed = frozenset({"supported_network_types", "vpc_id"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "group_name", "description": "description"})
        out["subnet_ids"] = listed(values, "subnet_ids")
        return Adopted({**out, **tags(values)}, str(values["name"]))
    name_attribute = "group_name"
    family = "aws"
    computed = frozenset({"arn", "name"})
    requires_replace = frozenset({"group_name"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"group_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"DB subnet group {group_name(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, "rds:subgrp", "group_name")

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"group_name": group_name(resource), "name": group_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"group_name": group_name(r), "description": str(r.get("description") or "Managed by reconcile"),
                "subnet_ids": sorted(str(s) for s in r.get("subnet_ids") or []), "owned": True,
                "tags": desired_tags(r)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        rds = session.client("rds")
        with api_errors():
            groups = {g["DBSubnetGroupName"]: g for g in session.listed(
                "rds:subnet_groups", lambda: paginate(rds, "describe_db_subnet_groups", "DBSubnetGroups"))}
        names = {r.address: next((n for n in (group_name(r), r.prior.get("group_name")) if n in groups), None)
                 for r in resources}
        wanted = [r for r in resources if names[r.address]]
        found = read_each(session, wanted, lambda r: self._read(session, rds, r, groups[str(names[r.address])]))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, rds: Any, r: Resource, g: Mapping[str, Any]) -> Observed | Unobservable:
        name, arn = g["DBSubnetGroupName"], g["DBSubnetGroupArn"]
        tags = rds_tags(rds, arn)
        refused = not_ours("DB subnet group", name, tags, r, session)
        if refused:
            return refused
        attrs = {"arn": arn, "group_name": name, "name": name, "description": g.get("DBSubnetGroupDescription"),
                 "subnet_ids": sorted(s["SubnetIdentifier"] for s in g.get("Subnets") or []),
                 "owned": carries_marks(tags, r, session), "tags": visible_tags(tags)}
        return Observed(attrs, identity={"arn": arn, "tags": tags, "group_name": name}, ours=attrs["owned"])

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        rds = session.client("rds")
        want = self.desired(r)
        name = want["group_name"]
        with api_errors():
            if change.observed is None:
                tags = {**want["tags"], **ownership_tags(r, session)}
                arn = create_once(
                    f"DB subnet group {name}",
                    lambda: session.client("rds", once=True).create_db_subnet_group(
                        DBSubnetGroupName=name, DBSubnetGroupDescription=want["description"],
                        SubnetIds=want["subnet_ids"], Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                    )["DBSubnetGroup"]["DBSubnetGroupArn"],
                    lambda: (o.attributes.get("arn") if (o := ours_now(self, session, r)) else None))
            else:
                arn = str(change.observed.identity["arn"])
                if {d.name for d in change.diffs} & {"subnet_ids", "description"}:
                    rds.modify_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription=want["description"],
                                               SubnetIds=want["subnet_ids"])
                rds_retag(rds, arn, change.observed.identity.get("tags", {}), r, session)
        return Observed({**want, "arn": arn, "name": name}, identity={"arn": arn, "group_name": name})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=RDS_GONE):
            session.client("rds").delete_db_subnet_group(DBSubnetGroupName=str(observed.identity["group_name"]))
