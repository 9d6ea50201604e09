"""AWS types see what Terraform's provider sees, on moto over HTTP: JSON documents pass as written and compare
by their own rules, string values follow YAML's, list calls page past 1,000, named objects held by another
stack are refused in the plan, Route 53 zones survive lost answers without duplicates, and the attributes
Terraform manages (deletion protection, idle timeout, deregistration delay, queue policy and encryption,
redirect targets, fixed responses) are compared, so their drift is seen and repaired."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Cli, write
from tests.harness.fault_proxy import FaultProxy, Faults


@pytest.fixture(scope="module")
def moto(own_moto: Any) -> Any:
    """This module's own moto server (see conftest.own_moto)."""
    return own_moto


def client(moto: Any, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def acli(cli: Cli, moto: Any, monkeypatch: pytest.MonkeyPatch) -> Cli:
    cli.env.update(moto.env)
    for key, value in moto.env.items():
        monkeypatch.setenv(key, value)
    return cli


def spec(spec_dir: Path, moto: Any, stack: str, resources: str) -> None:
    write(spec_dir / "site.yaml", f'name: {stack}\naws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\n'
                                  f"resources:\n{resources}")


# AWS's own documented example (a numeric range and one-element lists that must stay lists, in order)
FILTER = {"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100, "<", 500]}],
          "event": [{"anything-but": "order_cancelled"}]}


def test_a_filter_policy_passes_as_written_and_its_removal_settles(acli: Cli, spec_dir: Path, moto: Any,
                                                                   uid: str) -> None:
    body = f"""  - {{type: aws.sns_topic, name: t, topic_name: {uid}-t}}
  - {{type: aws.sqs_queue, name: q, queue_name: {uid}-q}}
  - type: aws.sns_subscription
    name: s
    topic_arn: "${{aws.sns_topic.t.arn}}"
    protocol: sqs
    endpoint: "${{aws.sqs_queue.q.arn}}"
    FILTER
"""
    spec(spec_dir, moto, uid, body.replace("FILTER", f"filter_policy: {json.dumps(FILTER)}"))
    acli("apply", "--auto-approve", "spec", check=0)
    sns = client(moto, "sns")
    arn = next(s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"] if s["Endpoint"].endswith(f"{uid}-q"))
    assert json.loads(sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["FilterPolicy"]) == FILTER
    assert "No changes." in acli("plan", "spec", check=0).out
    spec(spec_dir, moto, uid, body.replace("FILTER", ""))
    acli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in acli("plan", "spec", check=0).out  # no `{} -> null` on every plan


def test_lambda_environment_and_values_follow_yaml(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    (spec_dir / "fn").mkdir(parents=True)
    (spec_dir / "fn/main.py").write_text("def handler(event, context):\n    return None\n")
    iam = client(moto, "iam")
    role = iam.create_role(RoleName=f"{uid}-fn", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    spec(spec_dir, moto, uid, f"""  - type: aws.lambda_function
    name: f
    function_name: {uid}-f
    runtime: python3.12
    handler: main.handler
    role: "{role}"
    source: fn
    environment: {{DEBUG: true, RATE: 1.5, NAME: plain}}
""")
    acli("apply", "--auto-approve", "spec", check=0)
    env = client(moto, "lambda").get_function_configuration(FunctionName=f"{uid}-f")["Environment"]["Variables"]
    assert env == {"DEBUG": "true", "RATE": "1.5", "NAME": "plain"}
    assert "No changes." in acli("plan", "spec", check=0).out


def test_sqs_pages_past_a_thousand_queues_and_never_takes_another_stacks(acli: Cli, spec_dir: Path, moto: Any,
                                                                          uid: str, tmp_path: Path) -> None:
    sqs = client(moto, "sqs")
    for i in range(1050):  # other people's queues, listed before ours
        sqs.create_queue(QueueName=f"a{uid}-{i:04d}")
    spec(spec_dir, moto, uid, f"  - {{type: aws.sqs_queue, name: q, queue_name: z{uid}-mine, visibility_timeout: 40}}\n")
    acli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in acli("plan", "spec", check=0).out  # found past the first 1,000
    other = tmp_path / "other"
    spec(other, moto, f"{uid}-other", f"  - {{type: aws.sqs_queue, name: q, queue_name: z{uid}-mine}}\n")
    refused = acli("plan", "other", check=1)
    assert f"queue z{uid}-mine" in refused.out and "belongs to" in refused.out, refused.out
    url = sqs.get_queue_url(QueueName=f"z{uid}-mine")["QueueUrl"]
    tags = sqs.list_queue_tags(QueueUrl=url)["Tags"]
    assert tags["reconcile:stack"] == f"{uid}/default"  # never re-tagged by the other stack


def test_queue_policy_and_encryption_are_managed(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                      "Action": "sqs:SendMessage", "Resource": "*"}]}
    spec(spec_dir, moto, uid, f"  - {{type: aws.sqs_queue, name: q, queue_name: {uid}-p, policy: {json.dumps(policy)}, "
                              "sqs_managed_sse_enabled: true}\n")
    acli("apply", "--auto-approve", "spec", check=0)
    sqs = client(moto, "sqs")
    url = sqs.get_queue_url(QueueName=f"{uid}-p")["QueueUrl"]
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert json.loads(got["Policy"]) == policy and got["SqsManagedSseEnabled"] == "true"
    assert "No changes." in acli("plan", "spec", check=0).out
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": "", "SqsManagedSseEnabled": "false"})  # drift
    drifted = acli("drift", "spec", check=2).out  # drift reads every queue (a plan trusts the state's snapshot)
    assert "aws.sqs_queue.q" in drifted and "policy" in drifted and "sqs_managed_sse_enabled" in drifted, drifted
    acli("apply", "--auto-approve", "spec", check=0)
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert json.loads(got["Policy"]) == policy and got["SqsManagedSseEnabled"] == "true"


def test_balancer_listener_and_target_group_settings_drift(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    ec2 = client(moto, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.61.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    spec(spec_dir, moto, uid, f"""  - {{type: aws.lb, name: lb, lb_name: {uid}-lb, subnets: {json.dumps(subnets)}, idle_timeout: 120,
      enable_deletion_protection: false}}
  - {{type: aws.lb_target_group, name: tg, target_group_name: {uid}-tg, port: 80, vpc_id: {vpc}, deregistration_delay: 30}}
  - type: aws.lb_listener
    name: http
    load_balancer_arn: "${{aws.lb.lb.arn}}"
    port: 80
    default_action: {{type: redirect, protocol: HTTPS, port: 443, host: www.example.com, path: "/#{{path}}"}}
  - type: aws.lb_listener
    name: maint
    load_balancer_arn: "${{aws.lb.lb.arn}}"
    port: 8080
    default_action: {{type: fixed-response, status_code: "503", content_type: text/plain, message_body: "back soon"}}
""")
    acli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in acli("plan", "spec", check=0).out
    elb = client(moto, "elbv2")
    lb = elb.describe_load_balancers(Names=[f"{uid}-lb"])["LoadBalancers"][0]["LoadBalancerArn"]
    settings = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb)["Attributes"]}
    assert settings["idle_timeout.timeout_seconds"] == "120"
    tg = elb.describe_target_groups(Names=[f"{uid}-tg"])["TargetGroups"][0]["TargetGroupArn"]
    listeners = {x["Port"]: x for x in elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]}
    fixed = listeners[8080]["DefaultActions"][0]
    assert fixed["Type"] == "fixed-response" and fixed["FixedResponseConfig"]["MessageBody"] == "back soon"

    # behind reconcile's back: the redirect re-pointed, timeouts and delay changed
    action = listeners[80]["DefaultActions"][0]
    action["RedirectConfig"]["Host"] = "evil.example.net"
    elb.modify_listener(ListenerArn=listeners[80]["ListenerArn"], DefaultActions=[action])
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb, Attributes=[{"Key": "idle_timeout.timeout_seconds",
                                                                          "Value": "61"}])
    elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds",
                                                                       "Value": "300"}])
    drifted = " ".join(acli("plan", "spec", check=0).out.split())
    assert "evil.example.net" in drifted and "~ idle_timeout = 61 -> 120" in drifted, drifted
    assert "~ deregistration_delay = 300 -> 30" in drifted, drifted
    acli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in acli("plan", "spec", check=0).out
    redirect = elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]
    assert any(x["DefaultActions"][0].get("RedirectConfig", {}).get("Host") == "www.example.com" for x in redirect)


def test_a_launch_template_name_held_elsewhere_is_refused_in_the_plan(acli: Cli, spec_dir: Path, moto: Any,
                                                                       uid: str) -> None:
    client(moto, "ec2").create_launch_template(LaunchTemplateName=f"{uid}-lt", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})
    spec(spec_dir, moto, uid, f"  - {{type: aws.launch_template, name: lt, launch_template_name: {uid}-lt, "
                              "image_id: ami-12c6146b}\n")
    refused = acli("plan", "spec", check=1)
    assert f"launch template {uid}-lt exists and is not managed by reconcile" in refused.out, refused.out


def test_route53_zones_survive_lost_answers_without_duplicates(cli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    faults = Faults(lose=0.35)
    proxy = FaultProxy(moto.url, faults)
    try:
        cli.env.update(moto.env)
        zones = "".join(f"  - {{type: aws.route53_zone, name: z{i}, zone_name: z{i}.{uid}.example.com}}\n"
                        for i in range(8))
        write(spec_dir / "site.yaml", f'name: {uid}\naws: {{region: us-east-1, endpoint_url: "{proxy.url}", '
                                      f"max_attempts: 12}}\nresources:\n{zones}")
        for _ in range(4):  # converges, in this run or the next
            if cli("apply", "--auto-approve", "spec").rc == 0:
                break
        assert "No changes." in cli("plan", "spec", check=0).out
    finally:
        proxy.stop()
    assert faults.counts["lost"] > 0
    listed = client(moto, "route53").list_hosted_zones()["HostedZones"]
    mine = [z["Name"] for z in listed if z["Name"].endswith(f"{uid}.example.com.")]
    assert sorted(mine) == sorted(f"z{i}.{uid}.example.com." for i in range(8)), mine  # no duplicates, no orphans


def _others(moto: Any, uid: str, service: str, count: int) -> str:
    """`count` objects of other people, named to sort before the stack's own; the spec line of the stack's."""
    api = client(moto, service)
    if service == "route53":
        for i in range(count):
            api.create_hosted_zone(Name=f"a{i:04d}.{uid}.example.com", CallerReference=f"{uid}-{i}")
        return f"  - {{type: aws.route53_zone, name: z, zone_name: z.{uid}.example.com}}\n"
    if service == "dynamodb":
        for i in range(count):
            api.create_table(TableName=f"a{uid}-{i:04d}", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        return f"  - {{type: aws.dynamodb_table, name: t, table_name: z{uid}, hash_key: id, attributes: {{id: S}}}}\n"
    if service == "rds":
        for i in range(count):
            api.create_db_parameter_group(DBParameterGroupName=f"a{uid}-{i:04d}", DBParameterGroupFamily="postgres16",
                                          Description="other")
        return f"  - {{type: aws.db_parameter_group, name: p, group_name: z{uid}, family: postgres16}}\n"
    if service == "autoscaling":
        ec2 = client(moto, "ec2")
        vpc = ec2.create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.62.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        template = ec2.create_launch_template(LaunchTemplateName=f"{uid}-lt", LaunchTemplateData={
            "ImageId": ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"], "InstanceType": "t3.micro"})[
            "LaunchTemplate"]["LaunchTemplateId"]
        for i in range(count):
            api.create_auto_scaling_group(AutoScalingGroupName=f"a{uid}-{i:04d}", MinSize=0, MaxSize=0,
                                          LaunchTemplate={"LaunchTemplateId": template}, VPCZoneIdentifier=subnet)
        return (f"  - {{type: aws.autoscaling_group, name: g, group_name: z{uid}, min_size: 0, max_size: 0,\n"
                f"     launch_template: {{id: {template}}}, subnet_ids: [{subnet}]}}\n")
    raise AssertionError(service)


@pytest.mark.parametrize(("service", "count"), [("route53", 110), ("dynamodb", 110), ("rds", 110),
                                                        ("autoscaling", 105)])
def test_listing_pages_to_the_end_in_every_service(acli: Cli, spec_dir: Path, moto: Any, uid: str, service: str,
                                                  count: int) -> None:
    """Past the largest page each API gives (100 zones, tables, parameter groups and groups). moto pages
    these; it answers target groups, security groups and certificates in one page whatever the page size,
    so those are covered by the unit test of page sizes against botocore's models."""
    spec(spec_dir, moto, uid, _others(moto, uid, service, count))
    acli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in acli("plan", "spec", check=0).out  # the stack's own object, found on a later page


NAMED = """  - {{type: aws.sqs_queue, name: q, queue_name: {n}-q}}
  - {{type: aws.sns_topic, name: t, topic_name: {n}-t}}
  - {{type: aws.iam_role, name: r, role_name: {n}-r, assume_role_policy: {trust}}}
  - {{type: aws.iam_policy, name: p, policy_name: {n}-p, policy: {{Version: "2012-10-17",
     Statement: [{{Effect: Allow, Action: "s3:GetObject", Resource: "*"}}]}}}}
  - {{type: aws.iam_user, name: u, user_name: {n}-u}}
  - {{type: aws.iam_instance_profile, name: ip, profile_name: {n}-ip, role: {role}}}
  - {{type: aws.cloudwatch_log_group, name: lg, log_group_name: /{n}/lg}}
  - {{type: aws.cloudwatch_metric_alarm, name: a, alarm_name: {n}-a, namespace: AWS/SQS,
     metric_name: ApproximateAgeOfOldestMessage, threshold: 60, comparison_operator: GreaterThanThreshold}}
  - {{type: aws.cloudwatch_event_rule, name: e, rule_name: {n}-e, schedule_expression: "rate(1 hour)"}}
  - {{type: aws.dynamodb_table, name: d, table_name: {n}-d, hash_key: id, attributes: {{id: S}}}}
  - {{type: aws.db_parameter_group, name: pg, group_name: {n}-pg, family: postgres16}}
  - {{type: aws.db_subnet_group, name: sg, group_name: {n}-sg, subnet_ids: {subnets}}}
  - {{type: aws.rds_instance, name: db, db_instance_identifier: {n}-db, engine: postgres, instance_class: db.t3.micro,
     allocated_storage: 20, master_username: app, master_password: Pa55word-{n}}}
  - {{type: aws.s3_bucket, name: b, bucket: {n}-b}}
  - {{type: aws.security_group, name: g, group_name: {n}-g, vpc_id: {vpc}}}
  - {{type: aws.lb, name: lb, lb_name: {n}-lb, subnets: {subnets}}}
  - {{type: aws.lb_target_group, name: tg, target_group_name: {n}-tg, port: 80, vpc_id: {vpc}}}
  - {{type: aws.launch_template, name: lt, launch_template_name: {n}-lt, image_id: {image}}}
  - {{type: aws.autoscaling_group, name: asg, group_name: {n}-asg, min_size: 0, max_size: 0,
     launch_template: {{id: {template}}}, subnet_ids: {subnets}}}
  - {{type: aws.lambda_function, name: f, function_name: {n}-f, source: functions/report, runtime: python3.12,
     handler: main.handler, role: {role_arn}}}
"""


def test_every_named_type_refuses_another_stacks_name_in_the_plan(acli: Cli, spec_dir: Path, moto: Any,
                                                                   uid: str) -> None:
    """Stack one makes an object of every type known by its name; stack two, asking for the same names, is
    refused in its plan (exit 1, each object named, never `create`), and stack one's objects keep their tags."""
    ec2, iam = client(moto, "ec2"), client(moto, "iam")
    vpc = ec2.create_vpc(CidrBlock="10.63.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.63.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
        "SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    template = ec2.create_launch_template(LaunchTemplateName=f"{uid}-base", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                 "Principal": {"Service": "lambda.amazonaws.com"}}]})
    role = iam.create_role(RoleName=f"{uid}-base", AssumeRolePolicyDocument=trust)["Role"]
    (spec_dir / "functions/report").mkdir(parents=True)
    write(spec_dir / "functions/report/main.py", "def handler(event, context):\n    return 1\n")
    body = NAMED.format(n=uid, trust=trust, role=role["RoleName"], role_arn=role["Arn"], subnets=json.dumps(subnets),
                        vpc=vpc, image=image, template=template)
    named = [line.split("type: ")[1].split(",")[0] for line in body.splitlines() if "type: aws." in line]
    spec(spec_dir, moto, f"{uid}-one", body)
    acli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in acli("plan", "spec", check=0).out

    spec(spec_dir, moto, f"{uid}-two", body)
    refused = acli("plan", "spec")
    assert refused.rc == 1, refused.text[-3000:]
    assert " will be created" not in refused.out, refused.out[-3000:]
    for type_name in named:
        assert f"{type_name}." in refused.text and f"stack {uid}-one/default" in refused.text, (type_name,
                                                                                             refused.text[-3000:])
    tags = client(moto, "sqs").list_queue_tags(QueueUrl=client(moto, "sqs").get_queue_url(QueueName=f"{uid}-q")[
        "QueueUrl"])["Tags"]
    assert tags["reconcile:stack"] == f"{uid}-one/default"
