"""`aws.iam_role`: a role with its trust policy, managed policy attachments and inline policies.
Policies are compared by meaning. ListRoles finds all roles in one paginated call; IAM has no batch
read of tags or policies, so each managed role costs its tag and policy listings."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import Discovers, TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module
from reconciler.targets.aws import OWNER_TAG, STACK_TAG, AwsSession

from .common import (
    GONE,
    all_tags_for,
    api_errors,
    carries_marks,
    create_once,
    not_ours,
    ours_now,
    ownership_tags,
    paginate,
    read_each,
)
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


class IamRoleModule(Module[AwsSession], TerraformForm, Discovers):
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

    family = "aws"
    computed = frozenset({"arn", "role_id"})
    requires_replace = frozenset({"path", "role_name"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"role_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"role {role_name(resource)}"

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

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        iam = session.client("iam")
        with api_errors():
            roles = {role["RoleName"]: role for role in paginate(iam, "list_roles", "Roles")}
        names = {r.address: next((n for n in (role_name(r), r.prior.get("role_name")) if n in roles), None)
                 for r in resources}  # the recorded name finds a role the spec renamed
        wanted = [r for r in resources if names[r.address]]
        found = read_each(session, wanted, lambda r: self._read(session, iam, r, roles[str(names[r.address])]))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, iam: Any, r: Resource, role: Mapping[str, Any]) -> Observed | Unobservable:
        name = role["RoleName"]
        with api_errors():
            tags = {t["Key"]: t["Value"] for t in paginate(iam, "list_role_tags", "Tags", RoleName=name)}
            refused = not_ours("role", name, tags, r, session)
            if refused:
                return refused
            attached = sorted(p["PolicyArn"] for p in paginate(iam, "list_attached_role_policies", "AttachedPolicies",
                                                                RoleName=name))
            inline = {}
            for policy in paginate(iam, "list_role_policies", "PolicyNames", RoleName=name):
                doc = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                inline[policy] = normalize_policy(as_policy(doc))
        attrs = {"arn": role["Arn"], "role_id": role["RoleId"], "role_name": name, "path": role.get("Path", "/"),
                 "description": role.get("Description", ""), "owned": carries_marks(tags, r, session),
                 "assume_role_policy": normalize_policy(as_policy(role.get("AssumeRolePolicyDocument"))),
                 "max_session_duration": role.get("MaxSessionDuration"), "managed_policy_arns": attached,
                 "inline_policies": inline,
                 "tags": {k: v for k, v in tags.items() if not k.startswith(("reconcile:", "aws:"))}}
        return Observed(attrs, identity={"tags": tags, "role_name": name}, ours=bool(attrs["owned"]))

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        iam = session.client("iam")
        want = self.desired(r)
        name = role_name(r)
        trust = r.get("assume_role_policy")
        trust_text = trust if isinstance(trust, str) else json.dumps(trust)
        with api_errors():
            if change.observed is None:
                kwargs: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": trust_text, "Path": want["path"],
                                          "Description": want["description"],
                                          "Tags": all_tags_for(r, session)}
                if "max_session_duration" in want:
                    kwargs["MaxSessionDuration"] = want["max_session_duration"]
                role = create_once(f"role {name}", lambda: session.client("iam", once=True).create_role(**kwargs)[
                    "Role"], lambda: (iam.get_role(RoleName=name)["Role"] if ours_now(self, session, r) else None))
                have: dict[str, Any] = {"managed_policy_arns": [], "inline_policies": {}}
                changed = {"managed_policy_arns", "inline_policies"}
            else:
                role = iam.get_role(RoleName=name)["Role"]
                have = dict(change.observed.attributes)
                changed = {d.name for d in change.diffs}
                if "assume_role_policy" in changed:
                    iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust_text)
                if changed & {"description", "max_session_duration"}:
                    update = {"RoleName": name, "Description": want["description"]}
                    if "max_session_duration" in want:
                        update["MaxSessionDuration"] = want["max_session_duration"]
                    iam.update_role(**update)
                if changed & {"tags", "owned"}:
                    current = change.observed.identity.get("tags", {})
                    target = {**want["tags"], **ownership_tags(r, session)}
                    gone = [k for k in current if k not in target and not k.startswith("aws:")]
                    if gone:
                        iam.untag_role(RoleName=name, TagKeys=gone)
                    iam.tag_role(RoleName=name, Tags=[{"Key": k, "Value": v} for k, v in target.items()])
            if "managed_policy_arns" in changed:
                for arn in sorted(set(want["managed_policy_arns"]) - set(have.get("managed_policy_arns") or [])):
                    iam.attach_role_policy(RoleName=name, PolicyArn=arn)
                for arn in sorted(set(have.get("managed_policy_arns") or []) - set(want["managed_policy_arns"])):
                    iam.detach_role_policy(RoleName=name, PolicyArn=arn)
            if "inline_policies" in changed:
                present = have.get("inline_policies") or {}
                for policy, doc in (r.get("inline_policies") or {}).items():
                    if present.get(policy) != normalize_policy(doc):
                        iam.put_role_policy(RoleName=name, PolicyName=policy,
                                            PolicyDocument=doc if isinstance(doc, str) else json.dumps(doc))
                for policy in set(present) - set(want["inline_policies"]):
                    iam.delete_role_policy(RoleName=name, PolicyName=policy)
        return Observed({**want, "arn": role["Arn"], "role_id": role["RoleId"], "role_name": name},
                        identity={"role_name": name})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        iam = session.client("iam")
        name = str(observed.identity.get("role_name") or role_name(resource))
        with api_errors(ignore=GONE):
            for arn in observed.attributes.get("managed_policy_arns") or []:
                iam.detach_role_policy(RoleName=name, PolicyArn=arn)
            for policy in observed.attributes.get("inline_policies") or {}:
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
            iam.delete_role(RoleName=name)
