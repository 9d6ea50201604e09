"""`aws.iam_role`: a role with its trust policy, managed policy attachments and inline policies.
Policies are compared by meaning. ListRoles finds all roles in one paginated call; IAM has no batch
read of tags or policies, so each managed role costs its tag and policy listings."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from reconciler.capabilities import Discovers
from reconciler.model import Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import OWNER_TAG, STACK_TAG, AwsSession

from .common import GONE, api_errors, paginate, read_each
from .named_base import NamedModule
from .policy import normalize_policy, text_map
from .terraform import json_value, pick, tags


def role_name(resource: Resource) -> str:
    return str(resource.get("role_name") or resource.name)


def as_policy(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(urllib.parse.unquote(value)) if value.startswith("%7B") else json.loads(value)
        except ValueError:
            return value
    return value


def trust_text(resource: Resource) -> str:
    """The trust policy as the spec wrote it (compared by meaning, sent as written)."""
    trust = resource.get("assume_role_policy")
    return trust if isinstance(trust, str) else json.dumps(trust)


class IamRoleModule(NamedModule, Discovers):
    type_name = "aws.iam_role"
    name_attribute = "role_name"
    terraform_types = ("aws_iam_role",)
    terraform_names = {"role_name": "name"}  # as the provider names them

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "role_name", "description": "description", "path": "path",
                            "max_session_duration": "max_session_duration"})
        if out.get("path") == "/":
            del out["path"]
        out["assume_role_policy"] = json_value(values.get("assume_role_policy"))
        if values.get("managed_policy_arns"):
            out["managed_policy_arns"] = sorted(values["managed_policy_arns"])
        inline = {p["name"]: json_value(p["policy"]) for p in values.get("inline_policy") or [] if p.get("name")}
        if inline:
            out["inline_policies"] = inline
        return Adopted({**out, **tags(values)}, str(values["name"]))

    terraform_parts = ("aws_iam_role_policy_attachment", "aws_iam_role_policy")
    terraform_computed = frozenset({"force_detach_policies"})

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        return str(values.get("role") or "") or None

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        if part_type == "aws_iam_role_policy_attachment":
            attributes["managed_policy_arns"] = sorted({*attributes.get("managed_policy_arns", []),
                                                        str(values.get("policy_arn"))})
        else:
            attributes["inline_policies"] = {**attributes.get("inline_policies", {}),
                                             str(values.get("name")): json_value(values.get("policy"))}

    computed = frozenset({"arn", "role_id"})
    requires_replace = frozenset({"path", "role_name"})
    service, kind = "iam", "role"
    listing, list_key = ("list_roles", "Roles"), "RoleName"

    def discover(self, session: AwsSession) -> dict[str, dict[str, Any]]:
        """IAM is not in the tagging API: every role's tags are read (only to rebuild a lost state)."""
        iam = session.client("iam")
        with api_errors():
            roles = [r["RoleName"] for r in paginate(iam, "list_roles", "Roles")]
            tagged = read_each(session, [Resource(n, "aws.iam_role", n, session.region, {}) for n in roles],
                               lambda r: {t["Key"]: t["Value"] for t in paginate(iam, "list_role_tags", "Tags",
                                                                               RoleName=r.name)})
        return {tags[OWNER_TAG]: {"role_name": name, "tags": tags} for name, tags in tagged.items()
                if tags.get(STACK_TAG) == session.stack and OWNER_TAG in tags}

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"role_name": role_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out: dict[str, Any] = {
            "assume_role_policy": normalize_policy(r.get("assume_role_policy")),
            "path": r.get("path") or "/", "description": r.get("description") or "", "owned": True,
            "role_name": role_name(r),
            "managed_policy_arns": sorted(r.get("managed_policy_arns") or []),
            "inline_policies": {k: normalize_policy(v) for k, v in (r.get("inline_policies") or {}).items()},
            "tags": text_map(r.get("tags")),
        }
        if r.get("max_session_duration") is not None:
            out["max_session_duration"] = int(r.get("max_session_duration"))
        return out

    def read_tags(self, client: Any, item: Any) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in paginate(client, "list_role_tags", "Tags", RoleName=item["RoleName"])}

    def read(self, client: Any, resource: Resource, item: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        name = item["RoleName"]
        attached = sorted(p["PolicyArn"] for p in paginate(client, "list_attached_role_policies", "AttachedPolicies",
                                                           RoleName=name))
        inline = {}
        for policy in paginate(client, "list_role_policies", "PolicyNames", RoleName=name):
            doc = client.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            inline[policy] = normalize_policy(as_policy(doc))
        made = {"arn": item["Arn"], "role_id": item["RoleId"]}
        return ({**made, "path": item.get("Path", "/"), "description": item.get("Description", ""),
                 "assume_role_policy": normalize_policy(as_policy(item.get("AssumeRolePolicyDocument"))),
                 "max_session_duration": item.get("MaxSessionDuration"), "managed_policy_arns": attached,
                 "inline_policies": inline}, made)

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"RoleName": want["role_name"], "AssumeRolePolicyDocument": trust_text(resource),
                                  "Path": want["path"], "Description": want["description"],
                                  "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        if "max_session_duration" in want:
            kwargs["MaxSessionDuration"] = want["max_session_duration"]
        role = client.create_role(**kwargs)["Role"]
        return {"arn": role["Arn"], "role_id": role["RoleId"]}

    def created_unset(self, want: Mapping[str, Any]) -> set[str]:
        return {"managed_policy_arns", "inline_policies"}

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        name = want["role_name"]
        have: Mapping[str, Any] = observed.attributes if observed is not None else {}
        if "assume_role_policy" in changed and observed is not None:
            client.update_assume_role_policy(RoleName=name, PolicyDocument=trust_text(resource))
        if changed & {"description", "max_session_duration"} and observed is not None:
            update = {"RoleName": name, "Description": want["description"]}
            if "max_session_duration" in want:
                update["MaxSessionDuration"] = want["max_session_duration"]
            client.update_role(**update)
        if "managed_policy_arns" in changed:
            for arn in sorted(set(want["managed_policy_arns"]) - set(have.get("managed_policy_arns") or [])):
                client.attach_role_policy(RoleName=name, PolicyArn=arn)
            for arn in sorted(set(have.get("managed_policy_arns") or []) - set(want["managed_policy_arns"])):
                client.detach_role_policy(RoleName=name, PolicyArn=arn)
        if "inline_policies" in changed:
            present = have.get("inline_policies") or {}
            for policy, doc in (resource.get("inline_policies") or {}).items():
                if present.get(policy) != normalize_policy(doc):
                    client.put_role_policy(RoleName=name, PolicyName=policy,
                                           PolicyDocument=doc if isinstance(doc, str) else json.dumps(doc))
            for policy in set(present) - set(want["inline_policies"]):
                client.delete_role_policy(RoleName=name, PolicyName=policy)

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.tag_role(RoleName=identity["role_name"], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.untag_role(RoleName=identity["role_name"], TagKeys=keys)

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        iam = session.client("iam")
        name = str(observed.identity.get("role_name") or role_name(resource))
        with api_errors(ignore=GONE):
            for arn in observed.attributes.get("managed_policy_arns") or []:
                iam.detach_role_policy(RoleName=name, PolicyArn=arn)
            for policy in observed.attributes.get("inline_policies") or {}:
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
            iam.delete_role(RoleName=name)
