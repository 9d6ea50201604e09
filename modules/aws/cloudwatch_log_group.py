"""`aws.cloudwatch_log_group`: a log group with its retention, KMS key and tags. DescribeLogGroups is one
paginated call for all (retention and key included); the stack's groups' ownership tags come from one
Tagging API call, so a no-change plan costs two calls however many groups. Deleting
a group that stores log data is a data-loss hazard the plan blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, desired_tags
from .named_base import TaggedNamedModule
from .terraform import pick, tags


def group_name(resource: Resource) -> str:
    return str(resource.get("log_group_name") or resource.name)


class CloudwatchLogGroupModule(TaggedNamedModule):
    type_name = "aws.cloudwatch_log_group"

    terraform_types = ("aws_cloudwatch_log_group",)
    terraform_names = {"log_group_name": "name"}  # as the provider names them
    terraform_computed = frozenset({"log_group_class", "skip_destroy"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "log_group_name", "retention_in_days": "retention_in_days",
                            "kms_key_id": "kms_key_id"})
        if not out.get("retention_in_days"):
            out.pop("retention_in_days", None)
        return Adopted({**out, **tags(values)}, str(values["name"]))
    name_attribute = "log_group_name"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"log_group_name"})
    service, kind, discover_type, tagging = "logs", "log group", "logs:log-group", "logs"
    listing, list_key = ("describe_log_groups", "logGroups"), "logGroupName"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        days = r.get("retention_in_days")
        return {"log_group_name": group_name(r), "retention_in_days": int(days) if days is not None else None,
                "kms_key_id": str(r.get("kms_key_id") or ""), "owned": True, "tags": desired_tags(r)}

    def read_tags(self, client: Any, item: Mapping[str, Any]) -> dict[str, str]:
        return dict(client.list_tags_log_group(logGroupName=item["logGroupName"]).get("tags") or {})

    def read(self, client: Any, resource: Resource, item: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
        arn = str(item.get("arn", "")).removesuffix(":*")
        return ({"arn": arn, "retention_in_days": item.get("retentionInDays"),
                 "kms_key_id": str(item.get("kmsKeyId") or "")},
                {"arn": arn, "stored_bytes": int(item.get("storedBytes") or 0)})

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        name = want["log_group_name"]
        client.create_log_group(logGroupName=name, tags=tags,
                                **({"kmsKeyId": want["kms_key_id"]} if want["kms_key_id"] else {}))
        arn = next((str(g.get("arn", "")).removesuffix(":*") for g in
                    client.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name), "")
        return {"arn": arn}

    def created_unset(self, want: Mapping[str, Any]) -> set[str]:
        return {"retention_in_days"} if want["retention_in_days"] is not None else set()

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        name = want["log_group_name"]
        if "kms_key_id" in changed:
            if want["kms_key_id"]:
                client.associate_kms_key(logGroupName=name, kmsKeyId=want["kms_key_id"])
            else:
                client.disassociate_kms_key(logGroupName=name)
        if "retention_in_days" in changed:
            if want["retention_in_days"] is None:
                client.delete_retention_policy(logGroupName=name)
            else:
                client.put_retention_policy(logGroupName=name, retentionInDays=want["retention_in_days"])

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.tag_log_group(logGroupName=identity["log_group_name"], tags=tags)

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.untag_log_group(logGroupName=identity["log_group_name"], tags=keys)

    def destroy_hazard(self, session: AwsSession, change: Change, going: Sequence[Change] = ()) -> str | None:
        """A group that stores log data: deleting it deletes the logs."""
        if change.observed is None:
            return None
        stored = int(change.observed.identity.get("stored_bytes") or 0)
        return f"log group {change.observed.identity.get('log_group_name')} stores {stored} bytes of logs" \
            if stored else None

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=GONE):
            session.client("logs").delete_log_group(logGroupName=str(observed.identity["log_group_name"]))
