"""`aws.iam_user`: a user with its group memberships and managed policy attachments, both as sets.
Reconcile makes no access keys or passwords for it, so nothing secret is ever in the state. ListUsers
is one paginated call for all; each managed user costs its tags, groups and attached policies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import TerraformForm
from reconciler.model import Change, Observed, Resource, Unobservable
from reconciler.module import Adopted, Module, NotCarried
from reconciler.targets.aws import AwsSession

from .common import (
    GONE,
    api_errors,
    carries_marks,
    desired_tags,
    not_ours,
    ownership_tags,
    paginate,
    read_each,
    retag,
    visible_tags,
)
from .terraform import pick, tags


def user_name(resource: Resource) -> str:
    return str(resource.get("user_name") or resource.name)


class IamUserModule(Module[AwsSession], TerraformForm):
    type_name = "aws.iam_user"

    terraform_types = ("aws_iam_user",)
    terraform_names = {"user_name": "name"}  # as the provider names them
    terraform_parts = ("aws_iam_user_policy_attachment", "aws_iam_user_group_membership", "aws_iam_user_policy")
    terraform_computed = frozenset({"force_destroy"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "user_name", "path": "path"})
        if out.get("path") == "/":
            del out["path"]
        return Adopted({**out, **tags(values)}, str(values["name"]))

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        return str(values.get("user") or "") or None

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        if part_type == "aws_iam_user_policy_attachment":
            attributes["managed_policy_arns"] = sorted({*attributes.get("managed_policy_arns", []),
                                                        str(values.get("policy_arn"))})
        elif part_type == "aws_iam_user_group_membership":
            attributes["groups"] = sorted({*attributes.get("groups", []), *(values.get("groups") or [])})
        else:
            raise NotCarried("inline_policies", "a user's inline policies are not a setting of aws.iam_user "
                                                "(reconcile leaves them as they are)")
    name_attribute = "user_name"
    family = "aws"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"user_name"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"user_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"IAM user {user_name(resource)}"

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"user_name": user_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"user_name": user_name(r), "path": str(r.get("path") or "/"),
                "groups": sorted(str(g) for g in r.get("groups") or []),
                "managed_policy_arns": sorted(str(p) for p in r.get("managed_policy_arns") or []),
                "owned": True, "tags": desired_tags(r)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        iam = session.client("iam")
        with api_errors():
            users = {u["UserName"]: u for u in session.listed("iam:users", lambda: paginate(iam, "list_users", "Users"))}
        names = {r.address: next((n for n in (user_name(r), r.prior.get("user_name")) if n in users), None)
                 for r in resources}
        wanted = [r for r in resources if names[r.address]]
        found = read_each(session, wanted, lambda r: self._read(session, iam, r, users[str(names[r.address])]))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, iam: Any, r: Resource, u: Mapping[str, Any]) -> Observed | Unobservable:
        name = u["UserName"]
        with api_errors():
            tags = {t["Key"]: t["Value"] for t in paginate(iam, "list_user_tags", "Tags", UserName=name)}
            refused = not_ours("IAM user", name, tags, r, session)
            if refused:
                return refused
            groups = sorted(g["GroupName"] for g in paginate(iam, "list_groups_for_user", "Groups", UserName=name))
            attached = sorted(p["PolicyArn"] for p in paginate(iam, "list_attached_user_policies", "AttachedPolicies",
                                                               UserName=name))
        attrs = {"arn": u["Arn"], "user_name": name, "path": u.get("Path", "/"), "groups": groups,
                 "managed_policy_arns": attached, "owned": carries_marks(tags, r, session), "tags": visible_tags(tags)}
        return Observed(attrs, identity={"arn": u["Arn"], "tags": tags, "user_name": name}, ours=attrs["owned"])

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        iam = session.client("iam")
        want = self.desired(r)
        name = want["user_name"]
        with api_errors():
            if change.observed is None:
                tags = {**want["tags"], **ownership_tags(r, session)}
                arn = iam.create_user(UserName=name, Path=want["path"],
                                      Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["User"]["Arn"]
                have: Mapping[str, Any] = {"groups": [], "managed_policy_arns": []}
            else:
                arn = str(change.observed.identity["arn"])
                have = change.observed.attributes
                if "path" in {d.name for d in change.diffs}:
                    iam.update_user(UserName=name, NewPath=want["path"])
                retag(change.observed.identity.get("tags", {}), r, session,
                      lambda t: iam.tag_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in t.items()]),
                      lambda keys: iam.untag_user(UserName=name, TagKeys=keys))
            for group in set(have.get("groups") or []) - set(want["groups"]):
                iam.remove_user_from_group(GroupName=group, UserName=name)
            for group in set(want["groups"]) - set(have.get("groups") or []):
                iam.add_user_to_group(GroupName=group, UserName=name)
            for policy in set(have.get("managed_policy_arns") or []) - set(want["managed_policy_arns"]):
                iam.detach_user_policy(UserName=name, PolicyArn=policy)
            for policy in set(want["managed_policy_arns"]) - set(have.get("managed_policy_arns") or []):
                iam.attach_user_policy(UserName=name, PolicyArn=policy)
        return Observed({**want, "arn": arn}, identity={"arn": arn, "user_name": name})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        """What IAM requires gone first: memberships, attachments (keys and passwords reconcile never made
        stop the deletion, with IAM's reason)."""
        iam = session.client("iam")
        name = str(observed.identity["user_name"])
        with api_errors(ignore=GONE):
            for group in observed.attributes.get("groups") or []:
                iam.remove_user_from_group(GroupName=group, UserName=name)
            for policy in observed.attributes.get("managed_policy_arns") or []:
                iam.detach_user_policy(UserName=name, PolicyArn=policy)
            iam.delete_user(UserName=name)
