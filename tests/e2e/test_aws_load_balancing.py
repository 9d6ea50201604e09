"""An application load balancer against moto over HTTP: the balancer in two subnets of two zones, a
target group with a health check and two instances registered, an HTTP listener forwarding to it.
Create, a read-only no-change plan (one describe per type, tags 20 objects per call), in-place changes
(health check, a target added, the listener turned into a redirect), drift made with boto3 (a target
deregistered, the health check edited; shown and repaired), a listener without its target group
refused at its line, and deletion in dependency order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from tests.conftest import Cli, write
from tests.e2e.test_aws import acli, in_process_plan  # noqa: F401 - fixtures and helpers shared


def client(moto: Any, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url)


def spec(spec_dir: Path, moto: Any, uid: str, path: str = "/health", targets: str = "[a]",
         action: str = 'type: forward, target_group_arn: "${aws.lb_target_group.web.arn}"') -> None:
    image = client(moto, "ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    octet = int(uid[1:3], 16) % 250
    listed = ", ".join(f'{{id: "${{aws.ec2_instance.{t}.id}}"}}' for t in targets.strip("[]").split(", "))
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.vpc, name: net, cidr_block: 10.{octet}.0.0/16}}
  - {{type: aws.subnet, name: a, vpc_id: "${{aws.vpc.net.id}}", cidr_block: 10.{octet}.1.0/24, availability_zone: us-east-1a}}
  - {{type: aws.subnet, name: b, vpc_id: "${{aws.vpc.net.id}}", cidr_block: 10.{octet}.2.0/24, availability_zone: us-east-1b}}
  - type: aws.security_group
    name: lb
    group_name: lb-{uid}
    vpc_id: "${{aws.vpc.net.id}}"
    ingress: [{{protocol: tcp, from_port: 80, to_port: 80, cidr_blocks: [0.0.0.0/0]}}]
  - {{type: aws.ec2_instance, name: a, image_id: {image}, instance_type: t3.micro, subnet_id: "${{aws.subnet.a.id}}"}}
  - {{type: aws.ec2_instance, name: b, image_id: {image}, instance_type: t3.micro, subnet_id: "${{aws.subnet.b.id}}"}}
  - type: aws.lb
    name: web
    lb_name: web-{uid}
    subnets: ["${{aws.subnet.a.id}}", "${{aws.subnet.b.id}}"]
    security_groups: ["${{aws.security_group.lb.id}}"]
    tags: {{tier: edge}}
  - type: aws.lb_target_group
    name: web
    target_group_name: web-{uid}
    port: 8080
    vpc_id: "${{aws.vpc.net.id}}"
    health_check: {{path: {path}, matcher: "200-299"}}
    targets: [{listed}]
  - type: aws.lb_listener
    name: http
    load_balancer_arn: "${{aws.lb.web.arn}}"
    port: 80
    default_action: {{{action}}}
""")


def test_balancer_target_group_and_listener(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:  # noqa: F811
    elb, ec2 = client(moto, "elbv2"), client(moto, "ec2")
    spec(spec_dir, moto, uid)
    plan = acli("plan", "spec", check=0).out
    assert "+ aws.lb.web" in plan and "+ aws.lb_target_group.web" in plan and "+ aws.lb_listener.http" in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)

    (lb,) = elb.describe_load_balancers(Names=[f"web-{uid}"])["LoadBalancers"]
    assert len(lb["AvailabilityZones"]) == 2 and lb["Scheme"] == "internet-facing"
    (tg,) = elb.describe_target_groups(Names=[f"web-{uid}"])["TargetGroups"]
    assert tg["HealthCheckPath"] == "/health" and tg["Matcher"]["HttpCode"] == "200-299" and tg["Port"] == 8080

    def instance(name: str) -> str:
        return [i["InstanceId"] for res in ec2.describe_instances(Filters=[
            {"Name": "tag:reconcile:address", "Values": [f"aws.ec2_instance.{name}"]},
            {"Name": "instance-state-name", "Values": ["running", "pending"]}])["Reservations"]
            for i in res["Instances"]][0]

    def registered() -> list[str]:
        return sorted(h["Target"]["Id"] for h in
                      elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"])

    assert registered() == [instance("a")]
    (listener,) = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]
    tags = {t["Key"]: t["Value"] for t in elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])[
        "TagDescriptions"][0]["Tags"]}
    assert tags["tier"] == "edge" and tags["reconcile:address"] == "aws.lb.web"

    plan, calls = in_process_plan(spec_dir)  # nothing to do, reads only, one describe per type
    assert not plan.actionable, [c.address for c in plan.actionable]
    assert all(c.startswith(("Describe", "List", "Get")) for c in calls), calls
    assert calls["DescribeLoadBalancers"] == 1 and calls["DescribeTargetGroups"] == 1, calls
    assert calls["DescribeListeners"] == 1 and calls["DescribeTags"] <= 3, calls

    # in place: the health check, a second target, the listener now a redirect to HTTPS
    spec(spec_dir, moto, uid, path="/ready", targets="[a, b]",
         action="type: redirect, protocol: HTTPS, port: 443, status_code: HTTP_301")
    plan = acli("plan", "spec", check=0).out
    assert "~ aws.lb_target_group.web" in plan and "~ aws.lb_listener.http" in plan and "-/+" not in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    assert registered() == sorted([instance("a"), instance("b")])
    assert elb.describe_target_groups(Names=[f"web-{uid}"])["TargetGroups"][0]["HealthCheckPath"] == "/ready"
    (listener,) = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert listener["DefaultActions"][0]["Type"] == "redirect"
    assert "No changes." in acli("plan", "spec", check=0).out

    # drift: a target deregistered and the health check edited behind the tool's back
    elb.deregister_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": instance("b")}])
    elb.modify_target_group(TargetGroupArn=tg["TargetGroupArn"], HealthCheckPath="/")
    plan = acli("plan", "spec", check=0).out
    assert "~ aws.lb_target_group.web" in plan and "targets" in plan and '"path": "/"' in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    assert registered() == sorted([instance("a"), instance("b")])
    assert "No changes." in acli("plan", "spec", check=0).out

    write(spec_dir / "site.yaml", f'aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\nresources: []\n')
    acli("apply", "--auto-approve", "spec", check=0)
    assert f"web-{uid}" not in [b["LoadBalancerName"] for b in elb.describe_load_balancers()["LoadBalancers"]]
    assert f"web-{uid}" not in [g["TargetGroupName"] for g in elb.describe_target_groups()["TargetGroups"]]


def test_a_forward_without_a_target_group_is_refused_at_its_line(acli: Cli, spec_dir: Path, moto: Any) -> None:  # noqa: F811
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - type: aws.lb_listener
    name: http
    load_balancer_arn: arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/1
    port: 80
    default_action: {{type: forward}}
""")
    run = acli("plan", "spec", check=1)
    assert "site.yaml:7:5: error: missing required field: 'target_group_arn'" in run.text, run.text
