"""`aws.iam_policy`: a customer-managed policy. A changed document is a new version made the default
(Terraform's behaviour); when IAM's five versions are used up, the oldest non-default one is deleted
first. ListPolicies (scope Local) is one paginated call for all; each managed policy costs its default
version and its tags."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from reconciler.model import Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, desired_tags, paginate
from .named_base import NamedModule
from .policy import as_written, normalize_policy
from .terraform import json_value as tf_json
from .terraform import pick, tags

MAX_VERSIONS = 5


def policy_name(resource: Resource) -> str:
    return str(resource.get("policy_name") or resource.name)


def document(text: Any) -> Any:
    if isinstance(text, str):
        return normalize_policy(json.loads(urllib.parse.unquote(text)))
    return normalize_policy(text)


class IamPolicyModule(NamedModule):
    type_name = "aws.iam_policy"

    terraform_types = ("aws_iam_policy",)
    terraform_names = {"policy_name": "name"}  # as the provider names them
    terraform_computed = frozenset({"attachment_count"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "policy_name", "path": "path", "description": "description"})
        if out.get("path") == "/":
            del out["path"]
        out["policy"] = tf_json(values.get("policy"))
        return Adopted({**out, **tags(values)}, str(values["name"]))
    name_attribute = "policy_name"
    computed = frozenset({"arn", "default_version"})
    requires_replace = frozenset({"policy_name", "path", "description"})
    service, kind = "iam", "IAM policy"
    listing, list_key, list_arguments = ("list_policies", "Policies"), "PolicyName", (("Scope", "Local"),)

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"policy_name": policy_name(r), "path": str(r.get("path") or "/"),
                "description": str(r.get("description") or ""), "policy": normalize_policy(r.get("policy")),
                "owned": True, "tags": desired_tags(r)}

    def read_tags(self, client: Any, item: Any) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in paginate(client, "list_policy_tags", "Tags", PolicyArn=item["Arn"])}

    def read(self, client: Any, resource: Resource, item: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        arn = item["Arn"]
        version = client.get_policy_version(PolicyArn=arn, VersionId=item["DefaultVersionId"])["PolicyVersion"]
        full = client.get_policy(PolicyArn=arn)["Policy"]
        return ({"arn": arn, "path": item.get("Path", "/"), "description": str(full.get("Description") or ""),
                 "policy": document(version["Document"]), "default_version": item["DefaultVersionId"]},
                {"arn": arn, "default_version": item["DefaultVersionId"]})

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        made = client.create_policy(PolicyName=want["policy_name"], Path=want["path"],
                                    PolicyDocument=as_written(resource.get("policy")), Description=want["description"],
                                    Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["Policy"]
        return {"arn": made["Arn"], "default_version": made.get("DefaultVersionId", "v1")}

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> Mapping[str, Any] | None:
        """A changed document is a new default version (the oldest other one deleted when IAM's five are used)."""
        if "policy" not in changed:
            return None
        arn = identity["arn"]
        versions = paginate(client, "list_policy_versions", "Versions", PolicyArn=arn)
        if len(versions) >= MAX_VERSIONS:
            oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
            client.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
        # normalised only to compare: sent as the spec wrote it
        made = client.create_policy_version(PolicyArn=arn, PolicyDocument=as_written(resource.get("policy")),
                                            SetAsDefault=True)["PolicyVersion"]
        return {"default_version": made["VersionId"]}

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.tag_policy(PolicyArn=identity["arn"], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.untag_policy(PolicyArn=identity["arn"], TagKeys=keys)

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        """Its old versions first (IAM refuses to delete a policy that has any), then the policy; a policy
        still attached somewhere is refused by IAM, with its reason."""
        iam = session.client("iam")
        arn = str(observed.identity["arn"])
        with api_errors(ignore=GONE):
            for v in paginate(iam, "list_policy_versions", "Versions", PolicyArn=arn):
                if not v["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=arn, VersionId=v["VersionId"])
            iam.delete_policy(PolicyArn=arn)
