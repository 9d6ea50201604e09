"""A differential test per AWS type against Terraform, then a migration of Terraform's state: the same small configuration of 30 types (every
AWS type besides the five test_peer_terraform covers) applied by Terraform 1.11 with the AWS provider
5.100 on one moto endpoint and by reconcile on another, with the same names, then compared type by type
through boto3: what each API reports, apart from ids, ARNs and reconcile's ownership tags.

Both configurations state the settings where the two tools' defaults differ (each type's page notes those
under "Coming from Terraform"); Terraform's separate attachment resources (role policy attachments, event
targets, route table associations) are reconcile's inline attributes. Terraform's state is then migrated
(`migrate terraform --verify`): its first plan makes no change at all, and drift is repaired."""

from __future__ import annotations

import io
import json
import re
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Cli, write
from tests.harness.moto import MotoServer
from tests.harness.terraform import TerraformDir, terraform

pytestmark = pytest.mark.skipif(terraform() is None, reason="terraform is not installed on this machine")

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                  "Action": "sqs:SendMessage", "Resource": "*"}]}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "lambda.amazonaws.com"}}]}
READ_LOGS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:GetLogEvents"],
                                                     "Resource": "*"}]}
FILTER = {"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100, "<", 500]}]}

TERRAFORM = """
resource "aws_sqs_queue" "q" {
  name                       = "N-q"
  visibility_timeout_seconds = 45
  message_retention_seconds  = 86400
  delay_seconds              = 5
  receive_wait_time_seconds  = 10
  sqs_managed_sse_enabled    = true
  policy                     = jsonencode(POLICY)
  tags                       = { team = "ops" }
}
resource "aws_sns_topic" "t" {
  name         = "N-t"
  display_name = "Alerts"
  tags         = { team = "ops" }
}
resource "aws_sns_topic_subscription" "s" {
  topic_arn            = aws_sns_topic.t.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.q.arn
  raw_message_delivery = true
  filter_policy        = jsonencode(FILTER)
}
resource "aws_iam_role" "r" {
  name                 = "N-r"
  path                 = "/app/"
  description          = "app role"
  max_session_duration = 7200
  assume_role_policy   = jsonencode(TRUST)
  tags                 = { team = "ops" }
}
resource "aws_iam_policy" "p" {
  name        = "N-p"
  path        = "/app/"
  description = "read logs"
  policy      = jsonencode(READ_LOGS)
}
resource "aws_iam_role_policy_attachment" "rp" {
  role       = aws_iam_role.r.name
  policy_arn = aws_iam_policy.p.arn
}
resource "aws_iam_user" "u" {
  name = "N-u"
  path = "/people/"
  tags = { team = "ops" }
}
resource "aws_iam_instance_profile" "ip" {
  name = "N-ip"
  path = "/app/"
  role = aws_iam_role.r.name
}
resource "aws_cloudwatch_log_group" "lg" {
  name              = "/N/app"
  retention_in_days = 14
  tags              = { team = "ops" }
}
resource "aws_cloudwatch_metric_alarm" "a" {
  alarm_name          = "N-a"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.q.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 600
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_description   = "queue stuck"
  alarm_actions       = [aws_sns_topic.t.arn]
}
resource "aws_cloudwatch_event_rule" "e" {
  name                = "N-e"
  schedule_expression = "rate(1 hour)"
  description         = "hourly"
}
resource "aws_cloudwatch_event_target" "et" {
  rule      = aws_cloudwatch_event_rule.e.name
  target_id = "q"
  arn       = aws_sqs_queue.q.arn
}
resource "aws_db_parameter_group" "pg" {
  name        = "N-pg"
  family      = "postgres16"
  description = "app"
  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
}
resource "aws_db_subnet_group" "sg" {
  name        = "N-sg"
  description = "app"
  subnet_ids  = ["SUBNET_A", "SUBNET_B"]
}
resource "aws_lb" "lb" {
  name                       = "N-lb"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = ["SUBNET_A", "SUBNET_B"]
  enable_deletion_protection = false
  idle_timeout               = 120
}
resource "aws_lb_target_group" "tg" {
  name                 = "N-tg"
  port                 = 8080
  protocol             = "HTTP"
  vpc_id               = "VPC"
  deregistration_delay = 30
  health_check {
    path                = "/health"
    matcher             = "200"
    healthy_threshold   = 3
    unhealthy_threshold = 3
    interval            = 30
    timeout             = 5
  }
}
resource "aws_lb_listener" "l" {
  load_balancer_arn = aws_lb.lb.arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.tg.arn
  }
}
resource "aws_launch_template" "lt" {
  name          = "N-lt"
  image_id      = "IMAGE"
  instance_type = "t3.small"
}
resource "aws_internet_gateway" "igw" {
  vpc_id = "VPC"
  tags   = { Name = "N-igw" }
}
resource "aws_route_table" "rt" {
  vpc_id = "VPC"
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.igw.id
  }
  tags = { Name = "N-rt" }
}
resource "aws_route_table_association" "rta" {
  subnet_id      = "SUBNET_A"
  route_table_id = aws_route_table.rt.id
}
resource "aws_eip" "ip" {
  domain = "vpc"
  tags   = { Name = "N-eip" }
}
resource "aws_nat_gateway" "nat" {
  subnet_id     = "SUBNET_A"
  allocation_id = aws_eip.ip.id
  tags          = { Name = "N-nat" }
}
resource "aws_ebs_volume" "v" {
  availability_zone = "us-east-1a"
  size              = 8
  type              = "gp3"
  tags              = { Name = "N-vol" }
}
resource "aws_route53_zone" "z" {
  name    = "N.example.com"
  comment = "app"
}
resource "aws_route53_record" "www" {
  zone_id = aws_route53_zone.z.zone_id
  name    = "www.N.example.com"
  type    = "CNAME"
  ttl     = 60
  records = ["app.example.net"]
}
resource "aws_acm_certificate" "c" {
  domain_name               = "www.N.example.com"
  subject_alternative_names = ["api.N.example.com"]
  validation_method         = "DNS"
}
resource "aws_lambda_function" "f" {
  function_name    = "N-f"
  filename         = "function.zip"
  source_code_hash = filebase64sha256("function.zip")
  runtime          = "python3.12"
  handler          = "main.handler"
  role             = aws_iam_role.r.arn
  timeout          = 30
  memory_size      = 256
  environment {
    variables = { DEBUG = "true", LEVEL = "3" }
  }
}
resource "aws_lambda_permission" "lp" {
  function_name = aws_lambda_function.f.function_name
  statement_id  = "events"
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.e.arn
}
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = "VPC"
  service_name      = "com.amazonaws.us-east-1.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.rt.id]
}
resource "aws_autoscaling_group" "asg" {
  name                      = "N-asg"
  min_size                  = 0
  max_size                  = 2
  desired_capacity          = 0
  vpc_zone_identifier       = ["SUBNET_A", "SUBNET_B"]
  health_check_type         = "EC2"
  health_check_grace_period = 120
  launch_template {
    id      = aws_launch_template.lt.id
    version = "$Latest"
  }
}
resource "aws_db_instance" "db" {
  identifier              = "N-db"
  engine                  = "postgres"
  instance_class          = "db.t3.micro"
  allocated_storage       = 20
  username                = "app"
  password                = "Pa55word-x"
  db_subnet_group_name    = aws_db_subnet_group.sg.name
  parameter_group_name    = aws_db_parameter_group.pg.name
  backup_retention_period = 7
  multi_az                = false
  storage_encrypted       = true
  skip_final_snapshot     = true
}
resource "aws_instance" "i" {
  ami           = "IMAGE"
  instance_type = "t3.micro"
  subnet_id     = "SUBNET_A"
  tags          = { Name = "N-i" }
}
"""

RECONCILE = """resources:
  - {type: aws.sqs_queue, name: q, queue_name: N-q, visibility_timeout: 45, message_retention_seconds: 86400,
     delay_seconds: 5, receive_wait_time_seconds: 10, sqs_managed_sse_enabled: true, policy: POLICY, tags: {team: ops}}
  - {type: aws.sns_topic, name: t, topic_name: N-t, display_name: Alerts, tags: {team: ops}}
  - {type: aws.sns_subscription, name: s, topic_arn: "${aws.sns_topic.t.arn}", protocol: sqs,
     endpoint: "${aws.sqs_queue.q.arn}", raw_message_delivery: true, filter_policy: FILTER}
  - {type: aws.iam_role, name: r, role_name: N-r, path: /app/, description: app role, max_session_duration: 7200,
     assume_role_policy: TRUST, managed_policy_arns: ["${aws.iam_policy.p.arn}"], tags: {team: ops}}
  - {type: aws.iam_policy, name: p, policy_name: N-p, path: /app/, description: read logs, policy: READ_LOGS}
  - {type: aws.iam_user, name: u, user_name: N-u, path: /people/, tags: {team: ops}}
  - {type: aws.iam_instance_profile, name: ip, profile_name: N-ip, path: /app/, role: "${aws.iam_role.r.role_name}"}
  - {type: aws.cloudwatch_log_group, name: lg, log_group_name: /N/app, retention_in_days: 14, tags: {team: ops}}
  - {type: aws.cloudwatch_metric_alarm, name: a, alarm_name: N-a, namespace: AWS/SQS,
     metric_name: ApproximateAgeOfOldestMessage, dimensions: {QueueName: "${aws.sqs_queue.q.queue_name}"},
     statistic: Maximum, period: 300, evaluation_periods: 2, threshold: 600, comparison_operator: GreaterThanThreshold,
     treat_missing_data: notBreaching, alarm_description: queue stuck, alarm_actions: ["${aws.sns_topic.t.arn}"]}
  - {type: aws.cloudwatch_event_rule, name: e, rule_name: N-e, schedule_expression: "rate(1 hour)",
     description: hourly, targets: [{id: q, arn: "${aws.sqs_queue.q.arn}"}]}
  - {type: aws.db_parameter_group, name: pg, group_name: N-pg, family: postgres16, description: app,
     parameters: {log_min_duration_statement: 500}}
  - {type: aws.db_subnet_group, name: sg, group_name: N-sg, description: app, subnet_ids: [SUBNET_A, SUBNET_B]}
  - {type: aws.lb, name: lb, lb_name: N-lb, internal: false, subnets: [SUBNET_A, SUBNET_B],
     enable_deletion_protection: false, idle_timeout: 120}
  - {type: aws.lb_target_group, name: tg, target_group_name: N-tg, port: 8080, protocol: HTTP, vpc_id: VPC,
     deregistration_delay: 30, health_check: {path: /health, matcher: "200", healthy_threshold: 3,
     unhealthy_threshold: 3, interval: 30, timeout: 5}}
  - {type: aws.lb_listener, name: l, load_balancer_arn: "${aws.lb.lb.arn}", port: 80, protocol: HTTP,
     default_action: {type: forward, target_group_arn: "${aws.lb_target_group.tg.arn}"}}
  - {type: aws.launch_template, name: lt, launch_template_name: N-lt, image_id: IMAGE, instance_type: t3.small}
  - {type: aws.internet_gateway, name: igw, vpc_id: VPC, tags: {Name: N-igw}}
  - {type: aws.route_table, name: rt, vpc_id: VPC, routes: [{cidr_block: 0.0.0.0/0,
     gateway_id: "${aws.internet_gateway.igw.id}"}], subnet_ids: [SUBNET_A], tags: {Name: N-rt}}
  - {type: aws.eip, name: ip, tags: {Name: N-eip}}
  - {type: aws.nat_gateway, name: nat, subnet_id: SUBNET_A, allocation_id: "${aws.eip.ip.id}", tags: {Name: N-nat}}
  - {type: aws.ebs_volume, name: v, availability_zone: us-east-1a, size: 8, volume_type: gp3, tags: {Name: N-vol}}
  - {type: aws.route53_zone, name: z, zone_name: N.example.com, comment: app}
  - {type: aws.route53_record, name: www, zone_id: "${aws.route53_zone.z.zone_id}", record_name: www.N.example.com,
     record_type: CNAME, ttl: 60, records: [app.example.net]}
  - {type: aws.acm_certificate, name: c, domain_name: www.N.example.com, subject_alternative_names: [api.N.example.com]}
  - {type: aws.lambda_function, name: f, function_name: N-f, source: function, runtime: python3.12,
     handler: main.handler, role: "${aws.iam_role.r.arn}", timeout: 30, memory_size: 256,
     environment: {DEBUG: true, LEVEL: 3}}
  - {type: aws.lambda_permission, name: lp, function_name: "${aws.lambda_function.f.function_name}",
     statement_id: events, action: "lambda:InvokeFunction", principal: events.amazonaws.com,
     source_arn: "${aws.cloudwatch_event_rule.e.arn}"}
  - {type: aws.vpc_endpoint, name: s3, vpc_id: VPC, service_name: com.amazonaws.us-east-1.s3,
     vpc_endpoint_type: Gateway, route_table_ids: ["${aws.route_table.rt.id}"]}
  - {type: aws.autoscaling_group, name: asg, group_name: N-asg, min_size: 0, max_size: 2, desired_capacity: 0,
     subnet_ids: [SUBNET_A, SUBNET_B], health_check_type: EC2, health_check_grace_period: 120,
     launch_template: {id: "${aws.launch_template.lt.id}", version: $Latest}}
  - {type: aws.rds_instance, name: db, db_instance_identifier: N-db, engine: postgres, instance_class: db.t3.micro,
     allocated_storage: 20, master_username: app, master_password: Pa55word-x,
     db_subnet_group_name: "${aws.db_subnet_group.sg.name}", db_parameter_group_name: "${aws.db_parameter_group.pg.name}",
     backup_retention_period: 7, multi_az: false, storage_encrypted: true, skip_final_snapshot: true}
  - {type: aws.ec2_instance, name: i, image_id: IMAGE, instance_type: t3.micro, subnet_id: SUBNET_A, tags: {Name: N-i}}
"""

Clients = Callable[[str], Any]


@pytest.fixture(scope="module")
def moto(own_moto: Any) -> Any:
    """This module's own moto server (see conftest.own_moto)."""
    return own_moto


def user_tags(tags: Any) -> dict[str, str]:
    items = tags.items() if isinstance(tags, dict) else ((t["Key"], t["Value"]) for t in tags or [])
    return {k: v for k, v in items if not k.startswith(("reconcile:", "aws:"))}


def named(ec2: Any, operation: str, key: str, name: str) -> dict[str, Any]:
    (item,) = getattr(ec2, operation)(Filters=[{"Name": "tag:Name", "Values": [name]}])[key]
    return dict(item)


def end_state(aws: Clients, n: str, ids: dict[str, str]) -> dict[str, Any]:
    """What the APIs report for each type, with ids and ARNs replaced by what they stand for."""
    def plain(value: Any) -> Any:
        text = json.dumps(value, default=str, sort_keys=True)
        for ident, meaning in ids.items():
            text = text.replace(ident, meaning)
        text = re.sub(r"\b(igw|rtb|eipalloc|nat|vol|vpce|lt|i|sg)-[0-9a-f]{8,17}", r"\1-*", text)
        return in_order(json.loads(text))

    def in_order(value: Any) -> Any:  # sets of ids come back in any order: compare them sorted, once named
        if isinstance(value, list):
            items = [in_order(v) for v in value]
            return sorted(items) if all(isinstance(v, str) for v in items) else items
        if isinstance(value, dict):
            return {k: in_order(v) for k, v in value.items()}
        return value

    sqs, sns, iam, logs, cw, ev = aws("sqs"), aws("sns"), aws("iam"), aws("logs"), aws("cloudwatch"), aws("events")
    rds, elb, ec2, r53, acm, lam, asg = (aws("rds"), aws("elbv2"), aws("ec2"), aws("route53"), aws("acm"),
                                         aws("lambda"), aws("autoscaling"))
    out: dict[str, Any] = {}
    url = sqs.get_queue_url(QueueName=f"{n}-q")["QueueUrl"]
    q = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    out["aws.sqs_queue"] = {**{k: q.get(k) for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
                                                    "ReceiveMessageWaitTimeSeconds", "MaximumMessageSize",
                                                    "SqsManagedSseEnabled")},
                            "Policy": json.loads(q["Policy"]), "tags": user_tags(sqs.list_queue_tags(QueueUrl=url).get(
                                "Tags"))}
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f":{n}-t"))
    t = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    out["aws.sns_topic"] = {"DisplayName": t.get("DisplayName"),
                            "tags": user_tags(sns.list_tags_for_resource(ResourceArn=topic)["Tags"])}
    (sub,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    s = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"]
    out["aws.sns_subscription"] = {"Protocol": s["Protocol"], "Endpoint": s["Endpoint"].rsplit(":", 1)[-1],
                                   "RawMessageDelivery": s.get("RawMessageDelivery"),
                                   "FilterPolicy": json.loads(s.get("FilterPolicy") or "null")}
    role = iam.get_role(RoleName=f"{n}-r")["Role"]
    out["aws.iam_role"] = {"Path": role["Path"], "Description": role.get("Description"),
                           "MaxSessionDuration": role["MaxSessionDuration"],
                           "AssumeRolePolicyDocument": role["AssumeRolePolicyDocument"],
                           "attached": [p["PolicyName"] for p in iam.list_attached_role_policies(
                               RoleName=f"{n}-r")["AttachedPolicies"]],
                           "tags": user_tags(iam.list_role_tags(RoleName=f"{n}-r")["Tags"])}
    policy = next(p for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == f"{n}-p")
    document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    out["aws.iam_policy"] = {"Path": policy["Path"], "Description": iam.get_policy(PolicyArn=policy["Arn"])[
        "Policy"].get("Description"), "Document": document["Document"]}
    user = iam.get_user(UserName=f"{n}-u")["User"]
    out["aws.iam_user"] = {"Path": user["Path"], "tags": user_tags(iam.list_user_tags(UserName=f"{n}-u")["Tags"])}
    profile = iam.get_instance_profile(InstanceProfileName=f"{n}-ip")["InstanceProfile"]
    out["aws.iam_instance_profile"] = {"Path": profile["Path"], "roles": [r["RoleName"] for r in profile["Roles"]]}
    (group,) = logs.describe_log_groups(logGroupNamePrefix=f"/{n}/app")["logGroups"]
    out["aws.cloudwatch_log_group"] = {"retention": group.get("retentionInDays"), "tags": user_tags(
        logs.list_tags_log_group(logGroupName=f"/{n}/app")["tags"])}
    (alarm,) = cw.describe_alarms(AlarmNames=[f"{n}-a"])["MetricAlarms"]
    out["aws.cloudwatch_metric_alarm"] = {k: alarm.get(k) for k in (
        "Namespace", "MetricName", "Dimensions", "Statistic", "Period", "EvaluationPeriods", "Threshold",
        "ComparisonOperator", "TreatMissingData", "AlarmDescription", "AlarmActions", "ActionsEnabled")}
    rule = ev.describe_rule(Name=f"{n}-e")
    out["aws.cloudwatch_event_rule"] = {"ScheduleExpression": rule.get("ScheduleExpression"),
                                        "State": rule.get("State"), "Description": rule.get("Description"),
                                        "targets": [(x["Id"], x["Arn"]) for x in ev.list_targets_by_rule(
                                            Rule=f"{n}-e")["Targets"]]}
    (pg,) = rds.describe_db_parameter_groups(DBParameterGroupName=f"{n}-pg")["DBParameterGroups"]
    params = {p["ParameterName"]: p.get("ParameterValue") for p in rds.describe_db_parameters(
        DBParameterGroupName=f"{n}-pg", Source="user")["Parameters"]}
    out["aws.db_parameter_group"] = {"family": pg["DBParameterGroupFamily"], "description": pg["Description"],
                                     "parameters": params}
    (sg,) = rds.describe_db_subnet_groups(DBSubnetGroupName=f"{n}-sg")["DBSubnetGroups"]
    out["aws.db_subnet_group"] = {"description": sg["DBSubnetGroupDescription"],
                                  "subnets": sorted(x["SubnetIdentifier"] for x in sg["Subnets"])}
    (lb,) = elb.describe_load_balancers(Names=[f"{n}-lb"])["LoadBalancers"]
    attributes = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(
        LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
    # the provider sends no Scheme for internal = false: AWS then makes it internet-facing (moto leaves it empty)
    out["aws.lb"] = {"Scheme": lb.get("Scheme") or "internet-facing", "Type": lb.get("Type"), "zones": sorted(
        z["SubnetId"] for z in lb["AvailabilityZones"]), **{k: attributes.get(k) for k in (
            "deletion_protection.enabled", "idle_timeout.timeout_seconds")}}
    (tg,) = elb.describe_target_groups(Names=[f"{n}-tg"])["TargetGroups"]
    tga = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(
        TargetGroupArn=tg["TargetGroupArn"])["Attributes"]}
    out["aws.lb_target_group"] = {**{k: tg.get(k) for k in (
        "Port", "Protocol", "VpcId", "TargetType", "HealthCheckPath", "HealthCheckIntervalSeconds",
        "HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount", "Matcher")},
        "deregistration_delay": tga.get("deregistration_delay.timeout_seconds")}
    (listener,) = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    out["aws.lb_listener"] = {"Port": listener["Port"], "Protocol": listener["Protocol"], "actions": [
        (a["Type"], a.get("TargetGroupArn", "").split("/")[1]) for a in listener["DefaultActions"]]}
    (template,) = ec2.describe_launch_templates(LaunchTemplateNames=[f"{n}-lt"])["LaunchTemplates"]
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Latest"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    out["aws.launch_template"] = {"ImageId": data.get("ImageId"), "InstanceType": data.get("InstanceType")}
    igw = named(ec2, "describe_internet_gateways", "InternetGateways", f"{n}-igw")
    out["aws.internet_gateway"] = {"attached": [a["VpcId"] for a in igw["Attachments"]], "tags": user_tags(igw["Tags"])}
    table = named(ec2, "describe_route_tables", "RouteTables", f"{n}-rt")
    out["aws.route_table"] = {"routes": sorted((r.get("DestinationCidrBlock") or "prefix list",
                                                r.get("GatewayId", "")[:4]) for r in table["Routes"]),
                              "subnets": [a.get("SubnetId") for a in table["Associations"] if not a.get("Main")],
                              "tags": user_tags(table["Tags"])}
    address = named(ec2, "describe_addresses", "Addresses", f"{n}-eip")
    out["aws.eip"] = {"Domain": address["Domain"], "tags": user_tags(address["Tags"])}
    nat = named(ec2, "describe_nat_gateways", "NatGateways", f"{n}-nat")
    out["aws.nat_gateway"] = {"SubnetId": nat["SubnetId"], "ConnectivityType": nat.get("ConnectivityType"),
                              "State": nat["State"], "tags": user_tags(nat["Tags"])}
    volume = named(ec2, "describe_volumes", "Volumes", f"{n}-vol")
    out["aws.ebs_volume"] = {k: volume.get(k) for k in ("AvailabilityZone", "Size", "VolumeType", "Encrypted")}
    (zone,) = [z for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == f"{n}.example.com."]
    out["aws.route53_zone"] = {"Comment": zone.get("Config", {}).get("Comment"),
                               "PrivateZone": zone.get("Config", {}).get("PrivateZone")}
    records = r53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    out["aws.route53_record"] = [(r["Name"], r["Type"], r.get("TTL"), [x["Value"] for x in r.get("ResourceRecords", [])])
                                 for r in records if r["Type"] == "CNAME"]
    (certificate,) = [c for c in acm.list_certificates()["CertificateSummaryList"]
                      if c["DomainName"] == f"www.{n}.example.com"]
    described = acm.describe_certificate(CertificateArn=certificate["CertificateArn"])["Certificate"]
    out["aws.acm_certificate"] = {"SubjectAlternativeNames": sorted(described.get("SubjectAlternativeNames") or []),
                                  "Type": described.get("Type"), "validation": sorted(
                                      o.get("ValidationMethod") for o in described.get("DomainValidationOptions") or [])}
    function = lam.get_function_configuration(FunctionName=f"{n}-f")
    out["aws.lambda_function"] = {**{k: function.get(k) for k in ("Runtime", "Handler", "Timeout", "MemorySize")},
                                  "Role": function["Role"].rsplit("/", 1)[-1],
                                  "Environment": (function.get("Environment") or {}).get("Variables")}
    statement = json.loads(lam.get_policy(FunctionName=f"{n}-f")["Policy"])["Statement"]
    out["aws.lambda_permission"] = [(s["Sid"], s["Action"], s["Principal"], s.get("Condition"))
                                    for s in statement]
    (endpoint,) = ec2.describe_vpc_endpoints(Filters=[{"Name": "service-name",
                                                       "Values": ["com.amazonaws.us-east-1.s3"]}])["VpcEndpoints"]
    out["aws.vpc_endpoint"] = {"VpcEndpointType": endpoint["VpcEndpointType"], "tables": len(endpoint["RouteTableIds"])}
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{n}-asg"])["AutoScalingGroups"]
    out["aws.autoscaling_group"] = {**{k: group.get(k) for k in (
        "MinSize", "MaxSize", "DesiredCapacity", "HealthCheckType", "HealthCheckGracePeriod")},
        "subnets": sorted(group["VPCZoneIdentifier"].split(",")),
        "template": (group.get("LaunchTemplate") or {}).get("Version")}
    (db,) = rds.describe_db_instances(DBInstanceIdentifier=f"{n}-db")["DBInstances"]
    out["aws.rds_instance"] = {k: db.get(k) for k in (
        "Engine", "DBInstanceClass", "AllocatedStorage", "MasterUsername", "BackupRetentionPeriod", "MultiAZ",
        "StorageEncrypted", "DeletionProtection")} | {
        "subnet_group": db["DBSubnetGroup"]["DBSubnetGroupName"],
        "parameter_groups": [p["DBParameterGroupName"] for p in db["DBParameterGroups"]]}
    (reservation,) = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [f"{n}-i"]},
                                                     {"Name": "instance-state-name", "Values": ["running"]}])[
        "Reservations"]
    instance = reservation["Instances"][0]
    out["aws.ec2_instance"] = {"InstanceType": instance["InstanceType"], "ImageId": instance["ImageId"],
                               "SubnetId": instance["SubnetId"], "tags": user_tags(instance["Tags"])}
    return {k: plain(v) for k, v in out.items()}


def network(aws: Clients) -> dict[str, str]:
    """A VPC, two subnets and an image on an endpoint: id -> what it stands for."""
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.71.0.0/16")["Vpc"]["VpcId"]
    a, b = (ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.71.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
        "SubnetId"] for i, z in ((1, "a"), (2, "b")))
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return {vpc: "VPC", a: "SUBNET_A", b: "SUBNET_B", image: "IMAGE"}


def filled(text: str, ids: dict[str, str], n: str) -> str:
    for ident, meaning in ids.items():
        text = text.replace(meaning, ident)
    for key, document in (("POLICY", POLICY), ("TRUST", TRUST), ("READ_LOGS", READ_LOGS), ("FILTER", FILTER)):
        text = text.replace(key, json.dumps(document))
    return re.sub(r"\bN(?=[-.]|/app)", n, text)


def test_every_type_ends_as_terraform_leaves_it_and_migrates_with_no_change(cli: Cli, spec_dir: Path, tmp_path: Path, moto: Any,
                                                uid: str) -> None:
    peer = MotoServer(tmp_path)  # Terraform's own endpoint: the same names on both
    try:
        def on(url: str) -> Clients:
            return lambda service: boto3.client(service, region_name="us-east-1", endpoint_url=url,
                                                aws_access_key_id="testing", aws_secret_access_key="testing")

        tf_ids, rc_ids = network(on(peer.url)), network(on(moto.url))
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("main.py", "def handler(event, context):\n    return 1\n")
        tf = TerraformDir(tmp_path / "tf", peer.url, filled(TERRAFORM, tf_ids, uid))
        (tf.dir / "function.zip").write_bytes(code.getvalue())
        tf.init()
        tf.apply()

        write(spec_dir / "function/main.py", "def handler(event, context):\n    return 1\n")
        cli.env.update(moto.env)
        write(spec_dir / "site.yaml", f'name: {uid}\naws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\n'
              + filled(RECONCILE, rc_ids, uid))
        cli("apply", "--auto-approve", "spec", check=0)
        assert "No changes." in cli("plan", "spec", check=0).out

        by_terraform, by_reconcile = end_state(on(peer.url), uid, tf_ids), end_state(on(moto.url), uid, rc_ids)
        assert len(by_terraform) == 30
        differ = {t: (by_reconcile[t], by_terraform[t]) for t in by_terraform if by_reconcile[t] != by_terraform[t]}
        assert not differ, "\n".join(f"{t}:\n  reconcile {r}\n  terraform {w}" for t, (r, w) in differ.items())

        # Terraform's own stack migrated: every type mapped, its split resources folded, verified against the
        # objects (the first plan makes no change at all), then managed: drift seen and repaired
        show = subprocess.run([tf.binary, "show", "-json"], cwd=tf.dir, env=tf.env, capture_output=True, text=True,
                              check=True).stdout
        state = write(tmp_path / "show.json", show)
        (tmp_path / "function.zip").write_bytes(code.getvalue())  # where Terraform's `filename` points, beside it
        migrated = tmp_path / "migrated"
        cli.env["DB_MASTER_PASSWORD"] = "Pa55word-x"
        run = cli("migrate", "terraform", str(state), "--out", str(migrated), "--name", f"{uid}-m",
                  "--endpoint-url", peer.url, "--verify", check=0)
        assert "(30 resources)" in run.out and "Verified: the first plan makes no change." in run.out, run.text
        assert "merged: aws_iam_role_policy_attachment.rp (into aws.iam_role.r)" in run.out
        assert "Pa55word" not in (migrated / "main.yaml").read_text()
        assert "No changes." in cli("plan", "--detailed-exitcode", str(migrated), check=0).out
        sqs = on(peer.url)("sqs")
        url = sqs.get_queue_url(QueueName=f"{uid}-q")["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "99"})
        drifted = cli("drift", str(migrated), check=2).out
        assert "aws.sqs_queue.q" in drifted and "visibility_timeout" in drifted, drifted
        cli("apply", "--auto-approve", str(migrated), check=0)
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"][
            "VisibilityTimeout"] == "45"
    finally:
        peer.stop()
