"""`aws.db_parameter_group`: database engine settings for RDS instances (`max_connections`, `log_min_duration_statement`…).
The family is fixed at creation; parameters change in place (those removed from the spec go back to the
engine's default). DescribeDBParameterGroups is one paginated call for all; each managed group costs
its user-set parameters and a tag listing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import api_errors, desired_tags, paginate
from .rds_named import RDS_GONE, RdsGroupModule, group_name
from .terraform import pick, tags

PER_CALL = 20  # ModifyDBParameterGroup takes at most 20 parameters


class DbParameterGroupModule(RdsGroupModule):
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
    requires_replace = frozenset({"group_name", "family", "description"})
    not_compared = frozenset({"state", "import", "apply_method"})
    kind, discover_type = "DB parameter group", "rds:pg"
    listing, list_key = ("describe_db_parameter_groups", "DBParameterGroups"), "DBParameterGroupName"
    arn_field = "DBParameterGroupArn"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"group_name": group_name(r), "family": str(r.get("family")),
                "description": str(r.get("description") or "Managed by reconcile"),
                "parameters": {str(k): str(v).lower() if isinstance(v, bool) else str(v)
                               for k, v in (r.get("parameters") or {}).items()},
                "owned": True, "tags": desired_tags(r)}

    def read(self, client: Any, resource: Resource, item: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
        name, arn = item["DBParameterGroupName"], item["DBParameterGroupArn"]
        params = paginate(client, "describe_db_parameters", "Parameters", DBParameterGroupName=name, Source="user")
        return ({"arn": arn, "name": name, "family": item.get("DBParameterGroupFamily"),
                 "description": item.get("Description"),
                 "parameters": {p["ParameterName"]: str(p.get("ParameterValue")) for p in params
                                if p.get("ParameterValue") is not None}}, {"arn": arn})

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        made = client.create_db_parameter_group(
            DBParameterGroupName=want["group_name"], DBParameterGroupFamily=want["family"],
            Description=want["description"], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return {"arn": made["DBParameterGroup"]["DBParameterGroupArn"]}

    def created_unset(self, want: Mapping[str, Any]) -> set[str]:
        return {"parameters"} if want["parameters"] else set()

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        if "parameters" not in changed:
            return
        name, method = want["group_name"], str(resource.get("apply_method") or "pending-reboot")
        have = (observed.attributes.get("parameters") if observed is not None else None) or {}
        setting = [{"ParameterName": k, "ParameterValue": v, "ApplyMethod": method}
                   for k, v in want["parameters"].items() if have.get(k) != v]
        for i in range(0, len(setting), PER_CALL):
            client.modify_db_parameter_group(DBParameterGroupName=name, Parameters=setting[i:i + PER_CALL])
        reset = [{"ParameterName": k, "ApplyMethod": method} for k in have if k not in want["parameters"]]
        for i in range(0, len(reset), PER_CALL):
            client.reset_db_parameter_group(DBParameterGroupName=name, Parameters=reset[i:i + PER_CALL])

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=RDS_GONE):
            session.client("rds").delete_db_parameter_group(DBParameterGroupName=str(observed.identity["group_name"]))
