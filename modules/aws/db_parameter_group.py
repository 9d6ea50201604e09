"""`aws.db_parameter_group`: database engine settings for RDS instances (`max_connections`, `log_min_duration_statement`…).
The family is fixed at creation; parameters change in place (those removed from the spec go back to the
engine's default). DescribeDBParameterGroups is one paginated call for all; each managed group costs
its user-set parameters and a tag listing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module
from reconciler.targets.aws import AwsSession

from .common import (
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
    visible_tags,
)
from .db_subnet_group import RDS_GONE, rds_retag, rds_tags
from .terraform import pick, tags

PER_CALL = 20  # ModifyDBParameterGroup takes at most 20 parameters


def group_name(resource: Resource) -> str:
    return str(resource.get("group_name") or resource.name).lower()


class DbParameterGroupModule(Module[AwsSession], TerraformForm, Discovers):
    type_name = "aws.db_parameter_group"

    terraform_types = ("aws_db_parameter_group",)
    terraform_names = {"group_name": "name"}  # as the provider names them
    terraform_computed = frozenset({"skip_destroy"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "group_name", "family": "family", "description": "description"})
        params = [p for p in values.get("parameter") or [] if isinstance(p, dict) and p.get("name")]
        if params:
            out["parameters"] = {str(p["name"]): str(p.get("value")) for p in sorted(params, key=lambda p: p["name"])}
            if any(p.get("apply_method") == "pending-reboot" for p in params):
                out["apply_method"] = "pending-reboot"
        return Adopted({**out, **tags(values)}, str(values["name"]))
    name_attribute = "group_name"
    family = "aws"
    computed = frozenset({"arn", "name"})
    requires_replace = frozenset({"group_name", "family", "description"})
    not_compared = frozenset({"state", "import", "apply_method"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"group_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"DB parameter group {group_name(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, "rds:pg", "group_name")

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"group_name": group_name(resource), "name": group_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"group_name": group_name(r), "family": str(r.get("family")),
                "description": str(r.get("description") or "Managed by reconcile"),
                "parameters": {str(k): str(v).lower() if isinstance(v, bool) else str(v)
                               for k, v in (r.get("parameters") or {}).items()},
                "owned": True, "tags": desired_tags(r)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        rds = session.client("rds")
        with api_errors():
            groups = {g["DBParameterGroupName"]: g for g in session.listed(
                "rds:parameter_groups", lambda: paginate(rds, "describe_db_parameter_groups", "DBParameterGroups"))}
        names = {r.address: next((n for n in (group_name(r), r.prior.get("group_name")) if n in groups), None)
                 for r in resources}
        wanted = [r for r in resources if names[r.address]]
        found = read_each(session, wanted, lambda r: self._read(session, rds, r, groups[str(names[r.address])]))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, rds: Any, r: Resource, g: Mapping[str, Any]) -> Observed | Unobservable:
        name, arn = g["DBParameterGroupName"], g["DBParameterGroupArn"]
        tags = rds_tags(rds, arn)
        refused = not_ours("DB parameter group", name, tags, r, session)
        if refused:
            return refused
        with api_errors():
            params = paginate(rds, "describe_db_parameters", "Parameters", DBParameterGroupName=name, Source="user")
        attrs = {"arn": arn, "group_name": name, "name": name, "family": g.get("DBParameterGroupFamily"),
                 "description": g.get("Description"),
                 "parameters": {p["ParameterName"]: str(p.get("ParameterValue")) for p in params
                                if p.get("ParameterValue") is not None},
                 "owned": carries_marks(tags, r, session), "tags": visible_tags(tags)}
        return Observed(attrs, identity={"arn": arn, "tags": tags, "group_name": name}, ours=attrs["owned"])

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        rds = session.client("rds")
        want = self.desired(r)
        name = want["group_name"]
        method = str(r.get("apply_method") or "pending-reboot")
        with api_errors():
            if change.observed is None:
                tags = {**want["tags"], **ownership_tags(r, session)}
                arn = create_once(
                    f"DB parameter group {name}",
                    lambda: session.client("rds", once=True).create_db_parameter_group(
                        DBParameterGroupName=name, DBParameterGroupFamily=want["family"],
                        Description=want["description"], Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                    )["DBParameterGroup"]["DBParameterGroupArn"],
                    lambda: (o.attributes.get("arn") if (o := ours_now(self, session, r)) else None))
                have: Mapping[str, str] = {}
            else:
                arn = str(change.observed.identity["arn"])
                have = change.observed.attributes.get("parameters") or {}
                rds_retag(rds, arn, change.observed.identity.get("tags", {}), r, session)
            changed = [{"ParameterName": k, "ParameterValue": v, "ApplyMethod": method}
                       for k, v in want["parameters"].items() if have.get(k) != v]
            for i in range(0, len(changed), PER_CALL):
                rds.modify_db_parameter_group(DBParameterGroupName=name, Parameters=changed[i:i + PER_CALL])
            reset = [{"ParameterName": k, "ApplyMethod": method} for k in have if k not in want["parameters"]]
            for i in range(0, len(reset), PER_CALL):
                rds.reset_db_parameter_group(DBParameterGroupName=name, Parameters=reset[i:i + PER_CALL])
        return Observed({**want, "arn": arn, "name": name}, identity={"arn": arn, "group_name": name})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=RDS_GONE):
            session.client("rds").delete_db_parameter_group(DBParameterGroupName=str(observed.identity["group_name"]))
