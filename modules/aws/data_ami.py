"""data aws.ami: the newest image matching owners and a name pattern (as Terraform's aws_ami, most_recent)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.model import Resource, Unobservable
from reconciler.module import DataSource
from reconciler.targets.aws import AwsSession

from .common import api_errors


class AmiData(DataSource[AwsSession]):
    type_name = "aws.ami"
    family = "aws"
    provides = frozenset({"id", "image_name", "creation_date", "architecture", "owner_id", "root_device_name"})

    def read(self, session: AwsSession, queries: Sequence[Resource]) -> Mapping[str, Mapping[str, Any] | Unobservable]:
        ec2 = session.client("ec2")

        def one(q: Resource) -> Mapping[str, Any] | Unobservable:
            filters = [{"Name": "name", "Values": [str(q.get("name_pattern"))]}]
            if q.get("architecture"):
                filters.append({"Name": "architecture", "Values": [str(q.get("architecture"))]})
            with api_errors():
                images = ec2.describe_images(Owners=[str(o) for o in q.get("owners")], Filters=filters)["Images"]
            if not images:
                return Unobservable(f"no AMI of {', '.join(q.get('owners'))} is named like {q.get('name_pattern')!r}")
            best = max(images, key=lambda i: (i.get("CreationDate", ""), i.get("Name", "")))
            return {"id": best["ImageId"], "image_name": best.get("Name"), "creation_date": best.get("CreationDate"),
                    "architecture": best.get("Architecture"), "owner_id": best.get("OwnerId"),
                    "root_device_name": best.get("RootDeviceName")}

        return dict(zip([q.address for q in queries], session.map(one, list(queries)), strict=True))
