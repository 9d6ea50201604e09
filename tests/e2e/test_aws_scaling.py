"""Launch templates and auto scaling against moto over HTTP: a template (a change is a new version made
the default, never a replacement), a group of two instances launched from its latest version in two
subnets and registered with a target group. Create, a read-only no-change plan, a new template version
taken up by the group in place, drift made with boto3 (capacity, a target group detached; shown and
repaired), and deletion with the instances. (moto does not implement StartInstanceRefresh, so the
refresh a new version starts on AWS is switched off here: `instance_refresh: false`; and moto's
CreateLaunchTemplateVersion keeps user data in a form its own auto scaling then rejects, so the
template here has none.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from tests.conftest import Cli, write
from tests.e2e.test_aws import acli, in_process_plan  # noqa: F401 - fixtures and helpers shared


def client(moto: Any, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url)


def spec(spec_dir: Path, moto: Any, uid: str, instance_type: str = "t3.micro") -> None:
    image = client(moto, "ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    octet = int(uid[1:3], 16) % 250
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.vpc, name: net, cidr_block: 10.{octet}.0.0/16}}
  - {{type: aws.subnet, name: a, vpc_id: "${{aws.vpc.net.id}}", cidr_block: 10.{octet}.1.0/24, availability_zone: us-east-1a}}
  - {{type: aws.subnet, name: b, vpc_id: "${{aws.vpc.net.id}}", cidr_block: 10.{octet}.2.0/24, availability_zone: us-east-1b}}
  - {{type: aws.lb_target_group, name: web, target_group_name: web-{uid}, port: 8080, vpc_id: "${{aws.vpc.net.id}}"}}
  - type: aws.launch_template
    name: web
    launch_template_name: web-{uid}
    image_id: {image}
    instance_type: {instance_type}
    instance_tags: {{role: web}}
  - type: aws.autoscaling_group
    name: web
    group_name: web-{uid}
    launch_template: {{id: "${{aws.launch_template.web.id}}", version: "${{aws.launch_template.web.latest_version}}"}}
    min_size: 2
    max_size: 4
    subnet_ids: ["${{aws.subnet.a.id}}", "${{aws.subnet.b.id}}"]
    target_group_arns: ["${{aws.lb_target_group.web.arn}}"]
    instance_refresh: false
    tags: {{team: web}}
""")


def test_template_versions_and_group(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:  # noqa: F811
    ec2, asg = client(moto, "ec2"), client(moto, "autoscaling")
    spec(spec_dir, moto, uid)
    plan = acli("plan", "spec", check=0).out
    assert "+ aws.launch_template.web" in plan and "+ aws.autoscaling_group.web" in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)

    (template,) = ec2.describe_launch_templates(LaunchTemplateNames=[f"web-{uid}"])["LaunchTemplates"]
    assert template["LatestVersionNumber"] == 1
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"web-{uid}"])["AutoScalingGroups"]
    assert group["LaunchTemplate"]["Version"] == "1" and group["DesiredCapacity"] == 2
    assert len(group["Instances"]) == 2 and len(group["TargetGroupARNs"]) == 1
    assert {t["Key"]: t["Value"] for t in group["Tags"]}["team"] == "web"

    plan, calls = in_process_plan(spec_dir)  # nothing to do, reads only, one describe per type
    assert not plan.actionable, [c.address for c in plan.actionable]
    assert all(c.startswith(("Describe", "List", "Get")) for c in calls), calls
    assert calls["DescribeLaunchTemplates"] == 1 and calls["DescribeAutoScalingGroups"] == 1, calls

    # a bigger instance type: version 2 of the same template, and the group follows it in place
    spec(spec_dir, moto, uid, instance_type="t3.small")
    plan = acli("plan", "spec", check=0).out
    assert "~ aws.launch_template.web" in plan and "-/+" not in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    (template,) = ec2.describe_launch_templates(LaunchTemplateNames=[f"web-{uid}"])["LaunchTemplates"]
    assert template["LaunchTemplateId"] == group["LaunchTemplate"]["LaunchTemplateId"]
    assert template["LatestVersionNumber"] == 2 and template["DefaultVersionNumber"] == 2
    (version,) = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"],
                                                       Versions=["2"])["LaunchTemplateVersions"]
    assert version["LaunchTemplateData"]["InstanceType"] == "t3.small"
    assert version["LaunchTemplateData"]["ImageId"]  # a version stands alone: the whole data
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"web-{uid}"])["AutoScalingGroups"]
    assert group["LaunchTemplate"]["Version"] == "2"
    assert "No changes." in acli("plan", "spec", check=0).out

    # a scaling policy moves the desired capacity: co-managed by design, not drift while the spec leaves it unset
    asg.set_desired_capacity(AutoScalingGroupName=f"web-{uid}", DesiredCapacity=3)
    assert "No changes." in acli("plan", "spec", check=0).out
    assert acli("drift", "spec").rc == 0

    # drift: capacity shrunk and the target group detached behind the tool's back
    asg.update_auto_scaling_group(AutoScalingGroupName=f"web-{uid}", MinSize=1, DesiredCapacity=1)
    asg.detach_load_balancer_target_groups(AutoScalingGroupName=f"web-{uid}",
                                           TargetGroupARNs=group["TargetGroupARNs"])
    plan = acli("plan", "spec", check=0).out
    assert "~ min_size" in plan and "target_group_arns" in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"web-{uid}"])["AutoScalingGroups"]
    assert group["MinSize"] == 2 and group["DesiredCapacity"] == 2 and len(group["TargetGroupARNs"]) == 1
    assert "No changes." in acli("plan", "spec", check=0).out

    write(spec_dir / "site.yaml", f'aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\nresources: []\n')
    acli("apply", "--auto-approve", "spec", check=0)
    assert not asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"web-{uid}"])["AutoScalingGroups"]
    assert f"web-{uid}" not in [t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]]
