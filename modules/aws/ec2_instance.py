"""`aws.ec2_instance`: an instance, found by tag in one paginated DescribeInstances for all.

image_id, subnet_id, key_name, user_data and the root volume size are fixed at launch (a change
replaces the instance); instance_type changes by stop, modify, start; security groups, tags and
running/stopped change in place. user_data is not returned by DescribeInstances, so its hash is kept
in the reconcile:user-data tag at launch."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import FormsGroups
from reconciler.model import Change, GroupMembers, GroupQuery, Observed, Resource
from reconciler.module import Adopted
from reconciler.targets.aws import OWNER_TAG, STACK_TAG, AwsSession

from .common import (
    FILTER_CHUNK,
    GONE,
    all_tags,
    api_errors,
    create_once,
    paginate,
    tag_specs,
    visible_tags,
)
from .ec2_base import Ec2Module
from .policy import text_map
from .terraform import first, pick, tags

USER_DATA_TAG = "reconcile:user-data"
WAIT = {"Delay": 1, "MaxAttempts": 600}


def user_data_hash(text: str | None) -> str | None:
    return None if not text else hashlib.sha256(text.encode()).hexdigest()[:32]


def instance_facts(i: Mapping[str, Any]) -> dict[str, Any]:
    """An instance as a dynamic inventory group's templates see it (`instance.private_ip_address`…)."""
    tags = all_tags(i.get("Tags"))
    return {"instance_id": i["InstanceId"], "private_ip_address": i.get("PrivateIpAddress"),
            "public_ip_address": i.get("PublicIpAddress"), "private_dns_name": i.get("PrivateDnsName"),
            "public_dns_name": i.get("PublicDnsName"), "state": i["State"]["Name"],
            "instance_type": i.get("InstanceType"), "image_id": i.get("ImageId"), "subnet_id": i.get("SubnetId"),
            "vpc_id": i.get("VpcId"), "availability_zone": (i.get("Placement") or {}).get("AvailabilityZone"),
            "launch_time": str(i.get("LaunchTime") or ""), "tags": visible_tags(tags),
            "address": tags.get(OWNER_TAG)}


def running_instances(session: AwsSession, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pending and running instances matching `filters`, as instance_facts, oldest first."""
    alive = filters + [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    with api_errors():
        found = [i for res in paginate(session.client("ec2"), "describe_instances", "Reservations", Filters=alive)
                 for i in res["Instances"]]
    return [instance_facts(i) for i in sorted(found, key=lambda i: (str(i.get("LaunchTime")), i["InstanceId"]))]


class Ec2InstanceModule(Ec2Module, FormsGroups):
    type_name = "aws.ec2_instance"
    terraform_types = ("aws_instance",)
    terraform_names = {"image_id": "ami"}  # as the provider names them
    terraform_computed = frozenset({"availability_zone", "instance_state", "primary_network_interface_id",
                                    "associate_public_ip_address", "credit_specification", "cpu_core_count",
                                    "cpu_threads_per_core", "cpu_options", "ipv6_address_count", "ipv6_addresses",
                                    "private_ip", "secondary_private_ips", "password_data", "outpost_arn",
                                    "placement_partition_number", "host_id", "host_resource_group_arn",
                                    "spot_instance_request_id", "instance_lifecycle", "user_data_base64",
                                    "user_data_replace_on_change", "get_password_data",
                                    "network_interface", "enclave_options", "maintenance_options",
                                    "private_dns_name_options", "capacity_reservation_specification",
                                    "security_groups"})
    terraform_defaults = {"tenancy": "default", "source_dest_check": True, "instance_initiated_shutdown_behavior": "stop",
                          "hibernation": False, "disable_api_termination": False, "disable_api_stop": False}

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        out = pick(values, {"ami": "image_id", "instance_type": "instance_type", "subnet_id": "subnet_id",
                            "key_name": "key_name"})
        if values.get("vpc_security_group_ids"):
            out["security_group_ids"] = sorted(values["vpc_security_group_ids"])
        roots = values.get("root_block_device") or []
        if roots and roots[0].get("volume_size"):
            out["root_volume_size"] = int(roots[0]["volume_size"])
        notes = [f"{self.type_name}.{name}: Terraform keeps only a hash of user_data; add user_data to the spec "
                 "by hand if reconcile should manage it"] if values.get("user_data") else []
        if first(values, "metadata_options").get("http_tokens") == "required":
            notes.append(f"{self.type_name}.{name}: IMDSv2 (metadata_options.http_tokens = required) is not carried: "
                         "aws.ec2_instance does not manage metadata options, and leaves them as they are")
        if first(values, "root_block_device").get("encrypted"):
            notes.append(f"{self.type_name}.{name}: its root volume is encrypted; aws.ec2_instance keeps it as it is")
        return Adopted({**out, **tags(values)}, str(values["id"]), notes=tuple(notes))

    describe = ("describe_instances", "Reservations", "InstanceId", "instance-id")
    computed = frozenset({"id", "arn", "private_ip", "public_ip"})
    volatile = frozenset({"public_ip"})
    requires_replace = frozenset({"image_id", "subnet_id", "key_name", "user_data", "root_volume_size"})
    not_compared = frozenset({"import"})
    default_state = "running"

    def group_members(self, session: AwsSession, query: GroupQuery) -> GroupMembers:
        """The running instances carrying the query's tags, or those of the query's resources (by their
        ownership tags, in one DescribeInstances); the resources not running yet are still to come."""
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in query.tags.items()]
        wanted = [r for r in query.resources if self.state_of(r) == "running"]
        if query.by_reference:
            addresses = [r.address for r in query.resources]
            found = [i for n in range(0, len(addresses), FILTER_CHUNK) for i in running_instances(session, filters + [
                {"Name": f"tag:{STACK_TAG}", "Values": [session.stack]},
                {"Name": f"tag:{OWNER_TAG}", "Values": addresses[n:n + FILTER_CHUNK]}])] if addresses else []
        else:
            found = running_instances(session, filters)
        there = {i["address"] for i in found}
        return GroupMembers(tuple(found), sum(1 for r in wanted if r.address not in there))

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        out: dict[str, Any] = {"image_id": r.get("image_id"), "instance_type": r.get("instance_type") or "t3.micro",
                               "state": self.state_of(r), "tags": text_map(r.get("tags")),
                               "user_data": user_data_hash(r.get("user_data"))}
        for key in ("subnet_id", "key_name", "root_volume_size"):
            if r.get(key) is not None:
                out[key] = r.get(key)
        if r.get("security_group_ids") is not None:
            out["security_group_ids"] = sorted(r.get("security_group_ids"))
        return out

    def list_items(self, session: AwsSession, filters: list[dict[str, Any]]) -> list[Any]:
        """Instances not terminated, out of their reservations."""
        alive = filters + [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        return [i for res in super().list_items(session, alive) for i in res["Instances"]]

    def observe(self, session: AwsSession, resources: Sequence[Resource]) -> Mapping[str, Any]:
        ec2 = session.client("ec2")
        found = self.find(session, resources)
        roots = {}
        if any(r.get("root_volume_size") is not None for r in resources):  # one DescribeVolumes for every root disk
            ids = [self._root_volume(i) for i in found.values() if isinstance(i, dict)]
            with api_errors():
                if any(ids):
                    roots = {v["VolumeId"]: v["Size"] for v in paginate(
                        ec2, "describe_volumes", "Volumes", VolumeIds=[x for x in ids if x])}
        out: dict[str, Any] = {}
        for r in resources:
            i = found[r.address]
            if not isinstance(i, dict):
                out[r.address] = i
                continue
            tags = all_tags(i.get("Tags"))
            state = i["State"]["Name"]
            out[r.address] = self.observed(session, r, i, {
                "image_id": i["ImageId"], "instance_type": i["InstanceType"],
                "subnet_id": i.get("SubnetId"), "key_name": i.get("KeyName"),
                "security_group_ids": sorted(g["GroupId"] for g in i.get("SecurityGroups") or []),
                "state": "running" if state in ("pending", "running") else "stopped",
                "private_ip": i.get("PrivateIpAddress"), "public_ip": i.get("PublicIpAddress"),
                "user_data": tags.get(USER_DATA_TAG) or None,
                "root_volume_size": roots.get(self._root_volume(i) or ""),
                "arn": f"arn:aws:ec2:{session.region}::instance/{i['InstanceId']}",
            })
        return out

    @staticmethod
    def _root_volume(instance: Mapping[str, Any]) -> str | None:
        root = instance.get("RootDeviceName")
        for m in instance.get("BlockDeviceMappings") or []:
            if m.get("DeviceName") == root:
                return str(m["Ebs"]["VolumeId"])
        return None

    def apply(self, session: AwsSession, change: Change) -> Observed:
        r = change.resource
        assert r is not None
        ec2 = session.client("ec2")
        want = self.desired(r)
        with api_errors():
            if change.observed is None:
                specs = tag_specs(r, "instance", session)
                if want["user_data"]:
                    specs[0]["Tags"].append({"Key": USER_DATA_TAG, "Value": want["user_data"]})
                kwargs: dict[str, Any] = {"ImageId": want["image_id"], "InstanceType": want["instance_type"],
                                          "MinCount": 1, "MaxCount": 1, "TagSpecifications": specs}
                for key, api in (("subnet_id", "SubnetId"), ("key_name", "KeyName")):
                    if key in want:
                        kwargs[api] = want[key]
                if "security_group_ids" in want:
                    kwargs["SecurityGroupIds"] = want["security_group_ids"]
                if r.get("user_data"):
                    kwargs["UserData"] = r.get("user_data")
                if "root_volume_size" in want:
                    image = ec2.describe_images(ImageIds=[want["image_id"]])["Images"][0]
                    kwargs["BlockDeviceMappings"] = [{"DeviceName": image.get("RootDeviceName", "/dev/xvda"),
                                                      "Ebs": {"VolumeSize": int(want["root_volume_size"])}}]
                kwargs["ClientToken"] = self.client_token(session, r)
                instance_id = create_once(
                    r.address, lambda: session.client("ec2", once=True).run_instances(**kwargs)["Instances"][0],
                    lambda: self.tagged_item(session, r))["InstanceId"]
                ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=WAIT)
                if want["state"] == "stopped":
                    ec2.stop_instances(InstanceIds=[instance_id])
                    ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig=WAIT)
            else:
                instance_id = change.observed.identity["id"]
                changed = {d.name for d in change.diffs}
                running = change.observed.attributes.get("state") == "running"
                if "instance_type" in changed:  # only a stopped instance can change type
                    if running:
                        ec2.stop_instances(InstanceIds=[instance_id])
                        ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig=WAIT)
                        running = False
                    ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": want["instance_type"]})
                if "security_group_ids" in changed:
                    ec2.modify_instance_attribute(InstanceId=instance_id, Groups=want["security_group_ids"])
                self.retag(session, change, instance_id)
                if want["state"] == "running" and not running:
                    ec2.start_instances(InstanceIds=[instance_id])
                    ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=WAIT)
                elif want["state"] == "stopped" and running:
                    ec2.stop_instances(InstanceIds=[instance_id])
                    ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig=WAIT)
        return Observed({**want, "id": instance_id}, identity={"id": instance_id})

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        ec2 = session.client("ec2")
        instance_id = observed.identity.get("id") or observed.attributes["id"]
        with api_errors(ignore=GONE):
            ec2.terminate_instances(InstanceIds=[instance_id])
            ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id], WaiterConfig=WAIT)
