"""`aws.cloudwatch_log_group`: a log group with its retention, KMS key and tags. DescribeLogGroups is one
paginated call for all (retention and key included); the stack's groups' ownership tags come from one
Tagging API call, so a no-change plan costs two calls however many groups. Deleting
a group that stores log data is a data-loss hazard the plan blocks."""

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
    stack_tags,
    visible_tags,
)
from .terraform import pick, tags


def group_name(resource: Resource) -> str:
    return str(resource.get("log_group_name") or resource.name)


class CloudwatchLogGroupModule(Module[AwsSession], TerraformForm, Discovers):
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
    family = "aws"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"log_group_name"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"log_group_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"log group {group_name(resource)}"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        return discover_named(session, "logs:log-group", "log_group_name")

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"log_group_name": group_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        days = r.get("retention_in_days")
        return {"log_group_name": group_name(r), "retention_in_days": int(days) if days is not None else None,
                "kms_key_id": str(r.get("kms_key_id") or ""), "owned": True, "tags": desired_tags(r)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        logs = session.client("logs")
        with api_errors():
            groups = {g["logGroupName"]: g for g in session.listed(
                "logs:groups", lambda: paginate(logs, "describe_log_groups", "logGroups"))}
        names = {r.address: next((n for n in (group_name(r), r.prior.get("log_group_name")) if n in groups), None)
                 for r in resources}
        wanted = [r for r in resources if names[r.address]]
        tagged = stack_tags(session, "logs") if wanted else {}
        found = read_each(session, wanted, lambda r: self._read(session, logs, r, groups[str(names[r.address])],
                                                                tagged))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, logs: Any, r: Resource, group: Mapping[str, Any],
              tagged: Mapping[str, Mapping[str, str]]) -> Observed | Unobservable:
        name = group["logGroupName"]
        with api_errors():
            tags = dict(tagged[name]) if name in tagged else logs.list_tags_log_group(logGroupName=name).get("tags") or {}
        refused = not_ours("log group", name, tags, r, session)
        if refused:
            return refused
        arn = str(group.get("arn", "")).removesuffix(":*")
        attrs = {"arn": arn, "log_group_name": name, "retention_in_days": group.get("retentionInDays"),
                 "kms_key_id": str(group.get("kmsKeyId") or ""), "owned": carries_marks(tags, r, session),
                 "tags": visible_tags(tags)}
        return Observed(attrs, identity={"arn": arn, "tags": tags, "log_group_name": name,
                                         "stored_bytes": int(group.get("storedBytes") or 0)}, ours=attrs["owned"])

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        logs = session.client("logs")
        want = self.desired(r)
        name = group_name(r)
        with api_errors():
            if change.observed is None:
                tags = {**want["tags"], **ownership_tags(r, session)}
                create_once(f"log group {name}",
                            lambda: session.client("logs", once=True).create_log_group(
                                logGroupName=name, tags=tags, **({"kmsKeyId": want["kms_key_id"]}
                                                                 if want["kms_key_id"] else {})),
                            lambda: ours_now(self, session, r))
                changed = {"retention_in_days"} if want["retention_in_days"] is not None else set()
                have: Mapping[str, str] = tags
            else:
                changed = {d.name for d in change.diffs}
                have = change.observed.identity.get("tags", {})
                if "kms_key_id" in changed:
                    if want["kms_key_id"]:
                        logs.associate_kms_key(logGroupName=name, kmsKeyId=want["kms_key_id"])
                    else:
                        logs.disassociate_kms_key(logGroupName=name)
            if "retention_in_days" in changed:
                if want["retention_in_days"] is None:
                    logs.delete_retention_policy(logGroupName=name)
                else:
                    logs.put_retention_policy(logGroupName=name, retentionInDays=want["retention_in_days"])
            retag(have, r, session, lambda t: logs.tag_log_group(logGroupName=name, tags=t),
                  lambda keys: logs.untag_log_group(logGroupName=name, tags=keys))
            arn = next((str(g.get("arn", "")).removesuffix(":*") for g in
                        logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name), "")
        return Observed({**want, "arn": arn}, identity={"arn": arn, "log_group_name": name})

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
