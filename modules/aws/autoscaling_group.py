"""`aws.autoscaling_group`: instances kept at a size from an `aws.launch_template`, in subnets, registered
with target groups. Sizes, subnets, health checks, target groups and the template version change in
place; a new template version starts an instance refresh (AWS replaces the instances in batches
keeping `min_healthy_percentage` in service). DescribeAutoScalingGroups is one paginated call for all,
tags included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.capabilities import FormsGroups
from reconciler.errors import ModuleError
from reconciler.model import GroupMembers, GroupQuery, Observed, Resource
from reconciler.module import Adopted, NotCarried
from reconciler.targets.aws import AwsSession

from .common import FILTER_CHUNK, api_errors, desired_tags, paginate
from .ec2_instance import running_instances
from .named_base import TaggedNamedModule
from .terraform import first, listed, pick

ASG_GONE = ("ValidationError",)


def group_name(resource: Resource) -> str:
    return str(resource.get("group_name") or resource.name)


def tag_list(tags: Mapping[str, str], name: str) -> list[dict[str, Any]]:
    return [{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v,
             "PropagateAtLaunch": not k.startswith("reconcile:")} for k, v in tags.items()]


class AutoscalingGroupModule(TaggedNamedModule, FormsGroups):
    type_name = "aws.autoscaling_group"

    terraform_types = ("aws_autoscaling_group",)
    terraform_names = {"group_name": "name", "subnet_ids": "vpc_zone_identifier"}  # as the provider names them
    terraform_parts = ("aws_autoscaling_attachment",)
    terraform_computed = frozenset({
        "default_cooldown", "service_linked_role_arn", "wait_for_capacity_timeout", "force_delete",
        "metrics_granularity", "availability_zones", "predicted_capacity", "warm_pool_size", "desired_capacity_type",
        "default_instance_warmup", "ignore_failed_scaling_activities", "force_delete_warm_pool",
        "wait_for_elb_capacity", "min_elb_capacity", "protect_from_scale_in", "capacity_rebalance", "context"})

    def from_terraform(self, values: Mapping[str, Any], name: str) -> Adopted:
        if values.get("mixed_instances_policy") or values.get("launch_configuration"):
            raise NotCarried("", "a group launched from a launch configuration or a mixed instances policy "
                                 "(aws.autoscaling_group takes a launch template)")
        out = pick(values, {k: k for k in ("min_size", "max_size", "desired_capacity", "health_check_type",
                                           "health_check_grace_period")}, skip_empty=False)
        out["group_name"] = values.get("name")
        out["subnet_ids"] = listed(values, "vpc_zone_identifier")
        if values.get("target_group_arns"):
            out["target_group_arns"] = listed(values, "target_group_arns")
        template = first(values, "launch_template")
        out["launch_template"] = {"id": template.get("id"), **({"version": template["version"]}
                                                              if template.get("version") else {})}
        out["instance_refresh"] = bool(values.get("instance_refresh"))
        group_tags = {t["key"]: t["value"] for t in values.get("tag") or [] if isinstance(t, dict) and t.get("key")}
        if group_tags:
            out["tags"] = group_tags
        return Adopted(out, str(values["name"]))

    def terraform_part_key(self, part_type: str, values: Mapping[str, Any]) -> str | None:
        return str(values.get("autoscaling_group_name") or "") or None

    def merge_terraform_part(self, attributes: dict[str, Any], part_type: str, values: Mapping[str, Any]) -> None:
        if not values.get("lb_target_group_arn"):
            raise NotCarried("target_group_arns", "an attachment to a classic load balancer")
        attributes["target_group_arns"] = sorted({*attributes.get("target_group_arns", []),
                                                  str(values["lb_target_group_arn"])})
    name_attribute = "group_name"
    computed = frozenset({"arn", "instance_ids"})
    volatile = frozenset({"instance_ids"})
    requires_replace = frozenset({"group_name"})
    co_managed = frozenset({"desired_capacity"})  # scaling policies move it: drift only when the spec sets it
    not_compared = frozenset({"state", "import", "instance_refresh", "min_healthy_percentage"})
    service, kind, discover_type = "autoscaling", "auto scaling group", "autoscaling:autoScalingGroup"
    listing, list_key = ("describe_auto_scaling_groups", "AutoScalingGroups"), "AutoScalingGroupName"

    def group_members(self, session: AwsSession, query: GroupQuery) -> GroupMembers:
        """The instances in service (or coming into service) of the groups named by the query's resources,
        or of the groups carrying its tags: one DescribeAutoScalingGroups, one DescribeInstances. The spec's
        groups below their desired capacity have that many instances still to come."""
        asg = session.client("autoscaling")
        with api_errors():
            groups = paginate(asg, "describe_auto_scaling_groups", "AutoScalingGroups")
        if query.by_reference:
            names = {group_name(r) for r in query.resources}
            chosen = [g for g in groups if g["AutoScalingGroupName"] in names]
        else:
            chosen = [g for g in groups if all({t["Key"]: t["Value"] for t in g.get("Tags") or []}.get(k) == v
                                               for k, v in query.tags.items())]
        ids = {i["InstanceId"]: g["AutoScalingGroupName"] for g in chosen for i in g.get("Instances") or []
               if str(i.get("LifecycleState", "InService")).startswith(("InService", "Pending"))}
        found = [i for n in range(0, len(ids), FILTER_CHUNK) for i in running_instances(
            session, [{"Name": "instance-id", "Values": sorted(ids)[n:n + FILTER_CHUNK]}])] if ids else []
        per_group: dict[str, int] = {}
        for i in found:
            per_group[ids[i["instance_id"]]] = per_group.get(ids[i["instance_id"]], 0) + 1
        expected = 0
        for r in query.resources:
            wanted = r.get("desired_capacity") if r.get("desired_capacity") is not None else r.get("min_size")
            if isinstance(wanted, int) and r.get("state", "present") != "absent":
                expected += max(0, wanted - per_group.get(group_name(r), 0))
        return GroupMembers(tuple(found), expected)

    def desired(self, resource: Resource) -> dict[str, Any]:
        r = resource
        template = r.get("launch_template") or {}
        return {"group_name": group_name(r),
                "launch_template": {"id": str(template.get("id")), "version": str(template.get("version") or "$Default")},
                "min_size": int(r.get("min_size")), "max_size": int(r.get("max_size")),
                "desired_capacity": int(r.get("desired_capacity") if r.get("desired_capacity") is not None
                                        else r.get("min_size")),
                "subnet_ids": sorted(str(s) for s in r.get("subnet_ids") or []),
                "target_group_arns": sorted(str(t) for t in r.get("target_group_arns") or []),
                "health_check_type": str(r.get("health_check_type") or "EC2"),
                "health_check_grace_period": int(r.get("health_check_grace_period") or 300),
                "owned": True, "tags": desired_tags(r)}

    def present(self, item: Any) -> bool:
        return bool(item.get("Status") != "Delete in progress")

    def known_tags(self, session: AwsSession, client: Any, items: Sequence[Any]) -> Mapping[str, Mapping[str, str]]:
        return {self.listed_name(i): self.read_tags(client, i) for i in items}  # the listing has them

    def read_tags(self, client: Any, item: Any) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in item.get("Tags") or []}

    def read(self, client: Any, resource: Resource, item: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        template = item.get("LaunchTemplate") or {}
        made = {"arn": item.get("AutoScalingGroupARN"),
                "instance_ids": sorted(i["InstanceId"] for i in item.get("Instances") or [])}
        return ({**made, "launch_template": {"id": template.get("LaunchTemplateId"),
                                             "version": str(template.get("Version"))},
                 "min_size": item.get("MinSize"), "max_size": item.get("MaxSize"),
                 "desired_capacity": item.get("DesiredCapacity"),
                 "subnet_ids": sorted(s for s in (item.get("VPCZoneIdentifier") or "").split(",") if s),
                 "target_group_arns": sorted(item.get("TargetGroupARNs") or []),
                 "health_check_type": item.get("HealthCheckType"),
                 "health_check_grace_period": item.get("HealthCheckGracePeriod")}, made)

    def create(self, client: Any, resource: Resource, want: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        name = want["group_name"]
        client.create_auto_scaling_group(AutoScalingGroupName=name, TargetGroupARNs=want["target_group_arns"],
                                         Tags=tag_list(tags, name), **_settings(want))
        (made,) = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        return self.read(client, resource, made)[1]

    def update(self, client: Any, resource: Resource, want: Mapping[str, Any], identity: Mapping[str, Any],
               changed: set[str], observed: Observed | None) -> None:
        name = want["group_name"]
        if changed - {"tags", "owned", "target_group_arns"}:
            client.update_auto_scaling_group(AutoScalingGroupName=name, **_settings(want))
        have = set((observed.attributes.get("target_group_arns") if observed is not None else None) or [])
        if have - set(want["target_group_arns"]):
            client.detach_load_balancer_target_groups(AutoScalingGroupName=name,
                                                      TargetGroupARNs=sorted(have - set(want["target_group_arns"])))
        if set(want["target_group_arns"]) - have:
            client.attach_load_balancer_target_groups(AutoScalingGroupName=name,
                                                      TargetGroupARNs=sorted(set(want["target_group_arns"]) - have))
        if "launch_template" in changed and resource.get("instance_refresh", True) and observed is not None and \
                observed.attributes.get("instance_ids"):
            client.start_instance_refresh(AutoScalingGroupName=name, Preferences={
                "MinHealthyPercentage": int(resource.get("min_healthy_percentage") or 90)})

    def set_tags(self, client: Any, identity: Mapping[str, Any], tags: dict[str, str]) -> None:
        client.create_or_update_tags(Tags=tag_list(tags, identity["group_name"]))

    def unset_tags(self, client: Any, identity: Mapping[str, Any], keys: list[str]) -> None:
        client.delete_tags(Tags=[{"ResourceId": identity["group_name"], "ResourceType": "auto-scaling-group", "Key": k}
                                 for k in keys])

    def delete(self, session: AwsSession, resource: Resource, observed: Observed) -> None:
        """Its instances go with it (ForceDelete); waits until the group is gone."""
        import time

        asg = session.client("autoscaling")
        name = str(observed.identity["group_name"])
        with api_errors(ignore=ASG_GONE):
            asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            with api_errors():
                if not asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]:
                    return
            time.sleep(2)
        raise ModuleError(f"auto scaling group {name} still there after 900 s")


def _settings(want: Mapping[str, Any]) -> dict[str, Any]:
    """CreateAutoScalingGroup's and UpdateAutoScalingGroup's arguments for the spec's group."""
    return {"LaunchTemplate": {"LaunchTemplateId": want["launch_template"]["id"],
                               "Version": want["launch_template"]["version"]},
            "MinSize": want["min_size"], "MaxSize": want["max_size"], "DesiredCapacity": want["desired_capacity"],
            "VPCZoneIdentifier": ",".join(want["subnet_ids"]), "HealthCheckType": want["health_check_type"],
            "HealthCheckGracePeriod": want["health_check_grace_period"]}
