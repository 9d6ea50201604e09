"""`aws.iam_user`: a user with its group memberships and managed policy attachments, both as sets.
Reconcile makes no access keys or passwords for it, so nothing secret is ever in the state. ListUsers
is one paginated call for all; each managed user costs its tags, groups and attached policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Observed, Resource
from reconciler.module import Adopted, NotCarried
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, desired_tags, paginate
from .named_base import NamedModule
from .terraform import pick, tags


def user_name(resource: Resource) -> str:
    return str(resource.get("user_name") or resource.name)


class IamUserModule(NamedModule):
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
    computed = frozenset({"arn"})
    requires_replace = frozenset({"user_name"})
    service, kind = "iam", "IAM user"
    listing, list_key = ("list_users", "Users"), "UserName"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"user_name": user_name(r), "path": str(r.get("path") or "/"),
                "groups": sorted(str(g) for g in r.get("groups") or []),
                "managed_policy_arns": sorted(str(p) for p in r.get("managed_policy_arns") or []),
                "owned": True, "tags": desired_tags(r)}

    def read_tags(self, client: Any, item: Mapping[str, Any]) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in paginate(client, "list_user_tags", "Tags", UserName=item["UserName"])}

    def read(self, client: Any, resource: Resource, item: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
        name = item["UserName"]
        groups = sorted(g["GroupName"] for g in paginate(client, "list_groups_for_user", "Groups", UserName=name))
        attached = sorted(p["PolicyArn"] for p in paginate(client, "list_attached_user_policies", "AttachedPolicies",
                                                           UserName=name))
        return ({"arn": item["Arn"], "path": item.get("Path", "/"), "groups": groups,
                 "managed_policy_arns": attached}, {"arn": item["Arn"]})

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        made = client.create_user(UserName=want["user_name"], Path=want["path"],
                                  Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return {"arn": made["User"]["Arn"]}

    def created_unset(self, want: Mapping[str, Any]) -> set[str]:
        return {"groups", "managed_policy_arns"}

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        name = want["user_name"]
        have: Mapping[str, Any] = observed.attributes if observed is not None else {}
        if "path" in changed and observed is not None:
            client.update_user(UserName=name, NewPath=want["path"])
        for group in set(have.get("groups") or []) - set(want["groups"]):
            client.remove_user_from_group(GroupName=group, UserName=name)
        for group in set(want["groups"]) - set(have.get("groups") or []):
            client.add_user_to_group(GroupName=group, UserName=name)
        for policy in set(have.get("managed_policy_arns") or []) - set(want["managed_policy_arns"]):
            client.detach_user_policy(UserName=name, PolicyArn=policy)
        for policy in set(want["managed_policy_arns"]) - set(have.get("managed_policy_arns") or []):
            client.attach_user_policy(UserName=name, PolicyArn=policy)

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.tag_user(UserName=identity["user_name"], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.untag_user(UserName=identity["user_name"], TagKeys=keys)

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
