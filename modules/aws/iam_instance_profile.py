"""`aws.iam_instance_profile`: hands an `aws.iam_role` to EC2 instances. The role changes in place.
ListInstanceProfiles is one paginated call for all (roles included); each managed profile costs a
GetInstanceProfile for its tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import GONE, api_errors, desired_tags
from .named_base import NamedModule
from .terraform import pick, tags


def profile_name(resource: Resource) -> str:
    return str(resource.get("profile_name") or resource.name)


class IamInstanceProfileModule(NamedModule):
    type_name = "aws.iam_instance_profile"

    terraform_types = ("aws_iam_instance_profile",)
    terraform_names = {"profile_name": "name"}  # as the provider names them

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "profile_name", "path": "path", "role": "role"})
        if out.get("path") == "/":
            del out["path"]
        return Adopted({**out, **tags(values)}, str(values["name"]))
    name_attribute = "profile_name"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"profile_name", "path"})
    service, kind = "iam", "instance profile"
    listing, list_key = ("list_instance_profiles", "InstanceProfiles"), "InstanceProfileName"

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"profile_name": profile_name(r), "path": str(r.get("path") or "/"), "role": str(r.get("role")),
                "owned": True, "tags": desired_tags(r)}

    def read_tags(self, client: Any, item: Mapping[str, Any]) -> dict[str, str]:
        # the listing leaves tags out; GetInstanceProfile has them
        full = client.get_instance_profile(InstanceProfileName=item["InstanceProfileName"])["InstanceProfile"]
        return {t["Key"]: t["Value"] for t in full.get("Tags") or []}

    def read(self, client: Any, resource: Resource, item: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
        roles = [x["RoleName"] for x in item.get("Roles") or []]
        return ({"arn": item["Arn"], "path": item.get("Path", "/"), "role": roles[0] if roles else None},
                {"arn": item["Arn"], "roles": roles})

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        made = client.create_instance_profile(InstanceProfileName=want["profile_name"], Path=want["path"],
                                              Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return {"arn": made["InstanceProfile"]["Arn"]}

    def created_unset(self, want: Mapping[str, Any]) -> set[str]:
        return {"role"}

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        name, roles = want["profile_name"], list(identity.get("roles") or [])
        for role in roles:
            if role != want["role"]:
                client.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
        if want["role"] not in roles:
            client.add_role_to_instance_profile(InstanceProfileName=name, RoleName=want["role"])

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.tag_instance_profile(InstanceProfileName=identity["profile_name"],
                                    Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.untag_instance_profile(InstanceProfileName=identity["profile_name"], TagKeys=keys)

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        iam = session.client("iam")
        name = str(observed.identity["profile_name"])
        with api_errors(ignore=GONE):
            for role in observed.identity.get("roles") or [observed.attributes.get("role")]:
                if role:
                    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
            iam.delete_instance_profile(InstanceProfileName=name)
