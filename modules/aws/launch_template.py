"""`aws.launch_template`: how an auto scaling group (or an instance) launches: image, type, security
groups, key, user data, instance profile, the tags of the instances. A change is a new version of the
same template made the default, never a replacement; `latest_version` is what an
`aws.autoscaling_group` references so that a new version rolls its instances. Found like the other EC2
objects (one DescribeLaunchTemplates for all); each managed template costs its default version's data."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from reconciler.model import Change, Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import AwsSession

from .common import api_errors, create_once, desired_tags, tag_specs
from .ec2_base import Ec2Module
from .policy import text_map
from .terraform import base64_text, first, listed, pick, tags

LT_GONE = ("InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException")


def template_name(resource: Resource) -> str:
    return str(resource.get("launch_template_name") or resource.name)


def digest(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest()[:32] if text else None


class LaunchTemplateModule(Ec2Module):
    type_name = "aws.launch_template"

    terraform_types = ("aws_launch_template",)
    terraform_names = {"launch_template_name": "name"}  # as the provider names them
    terraform_computed = frozenset({"default_version", "latest_version", "update_default_version"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"name": "launch_template_name", "image_id": "image_id", "instance_type": "instance_type",
                            "key_name": "key_name"})
        if values.get("vpc_security_group_ids"):
            out["security_group_ids"] = listed(values, "vpc_security_group_ids")
        profile = first(values, "iam_instance_profile")
        if profile.get("name") or profile.get("arn"):
            out["iam_instance_profile"] = profile.get("name") or profile.get("arn")
        if values.get("user_data"):
            out["user_data"] = base64_text(values["user_data"])
        for spec in values.get("tag_specifications") or []:
            if isinstance(spec, dict) and spec.get("resource_type") == "instance" and spec.get("tags"):
                out["instance_tags"] = dict(spec["tags"])
        notes: list[str] = []
        metadata = first(values, "metadata_options")
        if metadata.get("http_tokens") == "required":
            notes.append(f"{self.type_name}.{name}: IMDSv2 (metadata_options.http_tokens = required) is not carried: "
                         "aws.launch_template does not manage instance metadata options, and leaves them as they are")
        return Adopted({**out, **tags(values)}, str(values["id"]), notes=tuple(notes))
    name_attribute = "launch_template_name"
    describe = ("describe_launch_templates", "LaunchTemplates", "LaunchTemplateId", "launch-template-id")
    computed = frozenset({"id", "latest_version", "default_version"})
    volatile = frozenset({"latest_version", "default_version"})
    requires_replace = frozenset({"launch_template_name"})

    def list_items(self, session: AwsSession, filters: list[dict[str, Any]]) -> list[Any]:
        """DescribeLaunchTemplates takes ids as a parameter, not as a filter."""
        ids = [v for f in filters if f["Name"] == "launch-template-id" for v in f["Values"]]
        rest = [f for f in filters if f["Name"] != "launch-template-id"]
        ec2 = session.client("ec2")
        with api_errors(ignore=LT_GONE):
            pages = ec2.get_paginator("describe_launch_templates").paginate(
                **({"LaunchTemplateIds": ids} if ids else {}), **({"Filters": rest} if rest else {}))
            return [t for page in pages for t in page.get("LaunchTemplates", [])]
        return []

    name_filter = "launch-template-name"
    name_kind = "launch template"

    def object_name(self, resource: Resource) -> str:
        return template_name(resource)

    def name_of(self, item: Mapping[str, Any]) -> str:
        return str(item.get("LaunchTemplateName") or "")

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out = super().desired(resource)
        out.update({"launch_template_name": template_name(r), "image_id": str(r.get("image_id")),
                    "instance_type": str(r.get("instance_type") or "t3.micro"),
                    "security_group_ids": sorted(str(s) for s in r.get("security_group_ids") or []),
                    "key_name": r.get("key_name"), "user_data": digest(r.get("user_data")),
                    "iam_instance_profile": r.get("iam_instance_profile"),
                    "instance_tags": text_map(r.get("instance_tags")),
                    "tags": desired_tags(r)})
        return out

    def attributes(self, session: AwsSession, resource: Resource, item: Mapping[str, Any]) -> dict[str, Any]:
        with api_errors():
            (version,) = session.client("ec2").describe_launch_template_versions(
                LaunchTemplateId=item["LaunchTemplateId"], Versions=["$Default"])["LaunchTemplateVersions"]
        data = version.get("LaunchTemplateData") or {}
        user_data = base64.b64decode(data["UserData"]).decode(errors="replace") if data.get("UserData") else None
        instance_tags = {t["Key"]: t["Value"] for spec in data.get("TagSpecifications") or []
                         if spec.get("ResourceType") == "instance" for t in spec.get("Tags") or []}
        return {"launch_template_name": item["LaunchTemplateName"], "image_id": data.get("ImageId"),
                "instance_type": data.get("InstanceType"), "security_group_ids": sorted(data.get("SecurityGroupIds") or []),
                "key_name": data.get("KeyName"), "user_data": digest(user_data),
                "iam_instance_profile": (data.get("IamInstanceProfile") or {}).get("Name")
                or (data.get("IamInstanceProfile") or {}).get("Arn"),
                "instance_tags": instance_tags, "latest_version": item.get("LatestVersionNumber"),
                "default_version": item.get("DefaultVersionNumber")}

    @staticmethod
    def _data(r: Resource) -> dict[str, Any]:
        data: dict[str, Any] = {"ImageId": str(r.get("image_id")), "InstanceType": str(r.get("instance_type") or "t3.micro")}
        if r.get("security_group_ids"):
            data["SecurityGroupIds"] = sorted(str(s) for s in r.get("security_group_ids"))
        if r.get("key_name"):
            data["KeyName"] = str(r.get("key_name"))
        if r.get("user_data"):
            data["UserData"] = base64.b64encode(str(r.get("user_data")).encode()).decode()
        profile = r.get("iam_instance_profile")
        if profile:
            data["IamInstanceProfile"] = {"Arn": profile} if str(profile).startswith("arn:") else {"Name": profile}
        if r.get("instance_tags"):
            data["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [
                {"Key": k, "Value": v} for k, v in text_map(r.get("instance_tags")).items()]}]
        return data

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        ec2 = session.client("ec2")
        with api_errors():
            if change.observed is None:
                made = create_once(r.address, lambda: session.client("ec2", once=True).create_launch_template(
                    LaunchTemplateName=template_name(r), LaunchTemplateData=self._data(r),
                    ClientToken=self.client_token(session, r),
                    TagSpecifications=tag_specs(r, "launch-template", session))["LaunchTemplate"],
                    lambda: self.tagged_item(session, r))
                ident, latest = made["LaunchTemplateId"], int(made.get("LatestVersionNumber") or 1)
            else:
                ident = str(change.observed.identity["id"])
                latest = int(change.observed.attributes.get("latest_version") or 1)
                changed = {d.name for d in change.diffs}
                if changed - {"tags", "owned", "duplicates"}:  # the whole data again: a version stands alone
                    latest = int(ec2.create_launch_template_version(
                        LaunchTemplateId=ident, LaunchTemplateData=self._data(r))["LaunchTemplateVersion"]["VersionNumber"])
                    ec2.modify_launch_template(LaunchTemplateId=ident, DefaultVersion=str(latest))
                self.retag(session, change, ident)
        return Observed({**self.desired(r), "id": ident, "latest_version": latest, "default_version": latest},
                        identity={"id": ident})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        with api_errors(ignore=LT_GONE):
            session.client("ec2").delete_launch_template(LaunchTemplateId=str(observed.identity["id"]))
