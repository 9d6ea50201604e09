"""`aws.iam_instance_profile`: hands an `aws.iam_role` to EC2 instances. The role changes in place.
ListInstanceProfiles is one paginated call for all (roles included); each managed profile costs a
GetInstanceProfile for its tags."""

from __future__ import annotations

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
from .terraform import pick, tags


def profile_name(resource: Resource) -> str:
    return str(resource.get("profile_name") or resource.name)


class IamInstanceProfileModule(Module[AwsSession], TerraformForm):
    type_name = "aws.iam_instance_profile"

    terraform_types = ("aws_iam_instance_profile",)
    terraform_names = {"profile_name": "name"}  # as the provider names them

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "profile_name", "path": "path", "role": "role"})
        if out.get("path") == "/":
            del out["path"]
        return Adopted({**out, **tags(values)}, str(values["name"]))
    name_attribute = "profile_name"
    family = "aws"
    computed = frozenset({"arn"})
    requires_replace = frozenset({"profile_name", "path"})
    not_compared = frozenset({"state", "import"})
    observe_unresolved = True

    def import_identity(self, object_id: str) -> dict[str, Any]:
        return {"profile_name": object_id}

    def physical_key(self, resource: Resource) -> str | None:
        return f"instance profile {profile_name(resource)}"

    def planned(self, resource: Resource) -> dict[str, Any]:
        return {"profile_name": profile_name(resource)}

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        return {"profile_name": profile_name(r), "path": str(r.get("path") or "/"), "role": str(r.get("role")),
                "owned": True, "tags": desired_tags(r)}

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        iam = session.client("iam")
        with api_errors():
            profiles = {p["InstanceProfileName"]: p for p in session.listed(
                "iam:instance_profiles", lambda: paginate(iam, "list_instance_profiles", "InstanceProfiles"))}
        names = {r.address: next((n for n in (profile_name(r), r.prior.get("profile_name")) if n in profiles), None)
                 for r in resources}
        wanted = [r for r in resources if names[r.address]]
        found = read_each(session, wanted, lambda r: self._read(session, iam, r, profiles[str(names[r.address])]))
        return {r.address: found.get(r.address) for r in resources}

    def _read(self, session: AwsSession, iam: Any, r: Resource, p: Mapping[str, Any]) -> Observed | Unobservable:
        name = p["InstanceProfileName"]
        with api_errors():  # the listing leaves tags out; GetInstanceProfile has them
            full = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        tags = {t["Key"]: t["Value"] for t in full.get("Tags") or []}
        refused = not_ours("instance profile", name, tags, r, session)
        if refused:
            return refused
        roles = [x["RoleName"] for x in p.get("Roles") or []]
        attrs = {"arn": p["Arn"], "profile_name": name, "path": p.get("Path", "/"), "role": roles[0] if roles else None,
                 "owned": carries_marks(tags, r, session), "tags": visible_tags(tags)}
        return Observed(attrs, identity={"arn": p["Arn"], "tags": tags, "profile_name": name, "roles": roles},
                        ours=attrs["owned"])

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        iam = session.client("iam")
        want = self.desired(r)
        name = want["profile_name"]
        with api_errors():
            if change.observed is None:
                tags = {**want["tags"], **ownership_tags(r, session)}
                arn = create_once(
                    f"instance profile {name}",
                    lambda: session.client("iam", once=True).create_instance_profile(
                        InstanceProfileName=name, Path=want["path"],
                        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["InstanceProfile"]["Arn"],
                    lambda: (o.attributes.get("arn") if (o := ours_now(self, session, r)) else None))
                roles: list[str] = []
            else:
                arn = str(change.observed.identity["arn"])
                roles = list(change.observed.identity.get("roles") or [])
                retag(change.observed.identity.get("tags", {}), r, session,
                      lambda t: iam.tag_instance_profile(InstanceProfileName=name,
                                                         Tags=[{"Key": k, "Value": v} for k, v in t.items()]),
                      lambda keys: iam.untag_instance_profile(InstanceProfileName=name, TagKeys=keys))
            for role in roles:
                if role != want["role"]:
                    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
            if want["role"] not in roles:
                iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=want["role"])
        return Observed({**want, "arn": arn}, identity={"arn": arn, "profile_name": name})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        iam = session.client("iam")
        name = str(observed.identity["profile_name"])
        with api_errors(ignore=GONE):
            for role in observed.identity.get("roles") or [observed.attributes.get("role")]:
                if role:
                    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
            iam.delete_instance_profile(InstanceProfileName=name)
