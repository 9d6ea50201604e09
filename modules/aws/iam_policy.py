"""`aws.iam_policy`: a customer-managed policy. A changed document is a new version made the default
(Terraform's behaviour); when IAM's five versions are used up, the oldest non-default one is deleted
first. ListPolicies (scope Local) is one paginated call for all; each managed policy costs its default
version and its tags."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module
from reconciler.targets.aws import AwsSession

from .common import (
    GONE,
    api_errors,
    carries_marks,
    create_once,
    desired_tags,
    not_ours,
    ours_now,
    ownership_tags,
    paginate,
    read_each,
    retag,
    visible_tags,
)
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


class IamPolicyModule(Module[AwsSession], TerraformForm):
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
    family = "aws"
    computed = frozenset({"arn", "default_version"})
    requires_replace = frozenset({"policy_name", "path", "description"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"policy_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"IAM policy {policy_name(resource)}"

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"policy_name": policy_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"policy_name": policy_name(r), "path": str(r.get("path") or "/"),
                "description": str(r.get("description") or ""), "policy": normalize_policy(r.get("policy")),
                "owned": True, "tags": desired_tags(r)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        iam = session.client("iam")
        with api_errors():
            policies = {p["PolicyName"]: p for p in session.listed(
                "iam:policies", lambda: paginate(iam, "list_policies", "Policies", Scope="Local"))}
        names = {r.address: next((n for n in (policy_name(r), r.prior.get("policy_name")) if n in policies), None)
                 for r in resources}
        wanted = [r for r in resources if names[r.address]]
        found = read_each(session, wanted, lambda r: self._read(session, iam, r, policies[str(names[r.address])]))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, iam: Any, r: Resource, p: Mapping[str, Any]) -> Observed | Unobservable:
        name, arn = p["PolicyName"], p["Arn"]
        with api_errors():
            tags = {t["Key"]: t["Value"] for t in paginate(iam, "list_policy_tags", "Tags", PolicyArn=arn)}
            refused = not_ours("IAM policy", name, tags, r, session)
            if refused:
                return refused
            version = iam.get_policy_version(PolicyArn=arn, VersionId=p["DefaultVersionId"])["PolicyVersion"]
            full = iam.get_policy(PolicyArn=arn)["Policy"]
        attrs = {"arn": arn, "policy_name": name, "path": p.get("Path", "/"),
                 "description": str(full.get("Description") or ""), "policy": document(version["Document"]),
                 "default_version": p["DefaultVersionId"], "owned": carries_marks(tags, r, session),
                 "tags": visible_tags(tags)}
        return Observed(attrs, identity={"arn": arn, "tags": tags, "policy_name": name}, ours=attrs["owned"])

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        iam = session.client("iam")
        want = self.desired(r)
        name = want["policy_name"]
        text = as_written(r.get("policy"))  # normalised only to compare: sent as the spec wrote it
        with api_errors():
            if change.observed is None:
                tags = {**want["tags"], **ownership_tags(r, session)}
                arn = create_once(
                    f"IAM policy {name}",
                    lambda: session.client("iam", once=True).create_policy(
                        PolicyName=name, Path=want["path"], PolicyDocument=text, Description=want["description"],
                        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["Policy"]["Arn"],
                    lambda: (o.attributes.get("arn") if (o := ours_now(self, session, r)) else None))
            else:
                arn = str(change.observed.identity["arn"])
                if "policy" in {d.name for d in change.diffs}:
                    versions = paginate(iam, "list_policy_versions", "Versions", PolicyArn=arn)
                    if len(versions) >= MAX_VERSIONS:
                        oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
                        iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
                    iam.create_policy_version(PolicyArn=arn, PolicyDocument=text, SetAsDefault=True)
                retag(change.observed.identity.get("tags", {}), r, session,
                      lambda t: iam.tag_policy(PolicyArn=arn, Tags=[{"Key": k, "Value": v} for k, v in t.items()]),
                      lambda keys: iam.untag_policy(PolicyArn=arn, TagKeys=keys))
            default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        return Observed({**want, "arn": arn, "default_version": default}, identity={"arn": arn, "policy_name": name})

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
