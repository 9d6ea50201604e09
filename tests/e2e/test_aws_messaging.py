"""Queues, topics, alarms and log groups against moto over HTTP: an SQS queue with a dead-letter queue,
an SNS topic with that queue subscribed, a metric alarm notifying the topic, a CloudWatch log group.
Create, a no-change plan that only reads (one list call per type however many objects), in-place
updates, drift made with boto3 (shown and repaired), a replacement, a queue holding messages refused as
data loss, deletion, and bad input refused at its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import Cli, write
from tests.e2e.test_aws import acli, in_process_plan  # noqa: F401 - fixtures and helpers shared


def client(moto: Any, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url)


def spec(spec_dir: Path, moto: Any, uid: str, visibility: int = 30, display: str = "Ops", days: int = 14,
         queue: str = "jobs", threshold: int = 10, raw: str = "true", extra: str = "") -> None:
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.sqs_queue, name: dlq, queue_name: {uid}-dlq, message_retention_seconds: 1209600}}
  - type: aws.sqs_queue
    name: jobs
    queue_name: {uid}-{queue}
    visibility_timeout: {visibility}
    redrive_policy: {{dead_letter_target_arn: "${{aws.sqs_queue.dlq.arn}}", max_receive_count: 5}}
    tags: {{team: ops}}
  - {{type: aws.sns_topic, name: alerts, topic_name: {uid}-alerts, display_name: "{display}", tags: {{team: ops}}}}
  - {{type: aws.cloudwatch_log_group, name: app, log_group_name: /app/{uid}, retention_in_days: {days}}}
  - type: aws.cloudwatch_metric_alarm
    name: backlog
    alarm_name: {uid}-backlog
    namespace: AWS/SQS
    metric_name: ApproximateNumberOfMessagesVisible
    dimensions: {{QueueName: {uid}-{queue}}}
    statistic: Maximum
    threshold: {threshold}
    comparison_operator: GreaterThanThreshold
    alarm_actions: ["${{aws.sns_topic.alerts.arn}}"]
  - type: aws.sns_subscription
    name: dead_letters
    topic_arn: "${{aws.sns_topic.alerts.arn}}"
    protocol: sqs
    endpoint: "${{aws.sqs_queue.dlq.arn}}"
    raw_message_delivery: {raw}
{extra}""")


def test_queues_topics_and_log_groups(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:  # noqa: F811
    sqs, sns, logs = client(moto, "sqs"), client(moto, "sns"), client(moto, "logs")
    cw = client(moto, "cloudwatch")
    spec(spec_dir, moto, uid)
    plan = acli("plan", "spec", check=0).out
    for address in ("aws.sqs_queue.dlq", "aws.sqs_queue.jobs", "aws.sns_topic.alerts", "aws.cloudwatch_log_group.app"):
        assert f"+ {address}" in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)

    url = sqs.get_queue_url(QueueName=f"{uid}-jobs")["QueueUrl"]
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=f"{uid}-dlq")["QueueUrl"],
                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert json.loads(got["RedrivePolicy"]) == {"deadLetterTargetArn": dlq, "maxReceiveCount": 5}
    assert got["VisibilityTimeout"] == "30"
    tags = sqs.list_queue_tags(QueueUrl=url)["Tags"]
    assert tags["team"] == "ops" and tags["reconcile:address"] == "aws.sqs_queue.jobs"
    arn = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f":{uid}-alerts"))
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Ops"
    group = logs.describe_log_groups(logGroupNamePrefix=f"/app/{uid}")["logGroups"][0]
    assert group["retentionInDays"] == 14
    assert logs.list_tags_log_group(logGroupName=f"/app/{uid}")["tags"]["reconcile:address"] == \
        "aws.cloudwatch_log_group.app"
    alarm = cw.describe_alarms(AlarmNames=[f"{uid}-backlog"])["MetricAlarms"][0]
    assert alarm["AlarmActions"] == [arn] and alarm["Threshold"] == 10.0
    (sub,) = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert sub["Protocol"] == "sqs" and sub["Endpoint"] == dlq
    assert sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])["Attributes"][
        "RawMessageDelivery"] == "true"

    plan, calls = in_process_plan(spec_dir)  # nothing to do; only reads; one list per type for all objects
    assert not plan.actionable, [c.address for c in plan.actionable]
    assert all(c.startswith(("Describe", "List", "Get")) for c in calls), calls
    assert calls["ListQueues"] == 1 and calls["ListTopics"] == 1 and calls["DescribeLogGroups"] == 1, calls
    assert calls["DescribeAlarms"] == 1 and calls["ListSubscriptionsByTopic"] == 1, calls
    # the stack's tags in one Tagging API call; queue and topic settings from the state's snapshots
    assert calls["GetResources"] == 1 and "GetTopicAttributes" not in calls, calls
    assert "ListQueueTags" not in calls and "ListTagsLogGroup" not in calls, calls

    # in place
    spec(spec_dir, moto, uid, visibility=60, display="Ops team", days=30, threshold=20, raw="false")
    plan = acli("plan", "spec", check=0).out
    assert "~ threshold = 10.0 -> 20.0" in plan and "~ raw_message_delivery = true -> false" in plan, plan
    assert "~ visibility_timeout = 30 -> 60" in plan and '~ display_name = "Ops" -> "Ops team"' in plan, plan
    assert "~ retention_in_days = 14 -> 30" in plan and "-/+" not in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == \
        {"VisibilityTimeout": "60"}
    assert cw.describe_alarms(AlarmNames=[f"{uid}-backlog"])["MetricAlarms"][0]["Threshold"] == 20.0

    # drift behind the tool's back on all three
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5", "RedrivePolicy": ""})
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="hacked")
    logs.delete_retention_policy(logGroupName=f"/app/{uid}")
    cw.put_metric_alarm(**{**{k: alarm[k] for k in ("AlarmName", "Namespace", "MetricName", "Dimensions", "Statistic",
                                                       "Period", "EvaluationPeriods", "ComparisonOperator")},
                           "Threshold": 99.0, "AlarmActions": []})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    plan = acli("plan", "spec", check=0).out
    assert "~ visibility_timeout = 5 -> 60" in plan and "+ redrive_policy " in plan, plan  # its tags changed
    assert "+ retention_in_days = 30" in plan, plan
    assert "~ threshold     = 99.0 -> 20.0" in plan and "alarm_actions" in plan, plan
    # the topic's tags did not change: plan takes its settings from the state's snapshot (aws.refresh:
    # changed); drift and apply read every object, and `aws.refresh: full` makes plan do so too
    assert "aws.sns_topic.alerts" not in plan, plan
    drift = acli("drift", "spec").out
    assert "aws.sns_topic.alerts" in drift and "hacked" in drift, drift
    acli("apply", "--auto-approve", "spec", check=0)
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Ops team"
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="hacked again")
    full = (spec_dir / "site.yaml").read_text().replace("aws: {region: us-east-1,", "aws: {refresh: full, region: us-east-1,")
    (spec_dir / "site.yaml").write_text(full)
    plan = acli("plan", "spec", check=0).out
    assert '~ display_name = "hacked again" -> "Ops team"' in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Ops team"
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert got["VisibilityTimeout"] == "60" and json.loads(got["RedrivePolicy"])["maxReceiveCount"] == 5
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"]["team"] == "ops"
    assert logs.describe_log_groups(logGroupNamePrefix=f"/app/{uid}")["logGroups"][0]["retentionInDays"] == 30
    assert "No changes." in acli("plan", "spec", check=0).out

    # a new name is a new queue
    spec(spec_dir, moto, uid, visibility=60, display="Ops team", days=30, queue="work")
    assert "-/+ aws.sqs_queue.jobs" in acli("plan", "spec", check=0).out
    acli("apply", "--auto-approve", "spec", check=0)
    names = [u.rsplit("/", 1)[-1] for u in sqs.list_queues(QueueNamePrefix=uid).get("QueueUrls", [])]
    assert sorted(names) == [f"{uid}-dlq", f"{uid}-work"], names

    # a queue holding messages is data: removing it is refused until allowed
    work = sqs.get_queue_url(QueueName=f"{uid}-work")["QueueUrl"]
    sqs.send_message(QueueUrl=work, MessageBody="job 1")
    write(spec_dir / "site.yaml", f'aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\nresources: []\n')
    refused = acli("plan", "spec")
    assert refused.rc == 1 and f"queue {uid}-work holds 1 messages" in refused.out, refused.text
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert not sqs.list_queues(QueueNamePrefix=uid).get("QueueUrls")
    assert not [t for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f":{uid}-alerts")]
    assert not logs.describe_log_groups(logGroupNamePrefix=f"/app/{uid}")["logGroups"]
    assert not cw.describe_alarms(AlarmNames=[f"{uid}-backlog"])["MetricAlarms"]


def test_bad_queue_log_group_and_alarm_settings_are_refused_at_their_line(acli: Cli, spec_dir: Path, moto: Any,  # noqa: F811
                                                                    uid: str) -> None:
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - type: aws.sqs_queue
    name: jobs
    redrive_policy: {{dead_letter_target_arn: "arn:aws:sqs:us-east-1:123456789012:dlq", max_receive_count: 0}}
  - {{type: aws.cloudwatch_log_group, name: app, log_group_name: /app/{uid}, retention_in_days: 13}}
  - type: aws.cloudwatch_metric_alarm
    name: cpu
    namespace: AWS/EC2
    metric_name: CPUUtilization
    threshold: 80
    comparison_operator: GreaterThanOrEqual
""")
    run = acli("plan", "spec", check=1)
    assert "site.yaml:5:88: error: 0 is less than the minimum of 1" in run.text, run.text
    assert "site.yaml:6:81: error: 13 is not one of [1, 3, 5, 7, 14," in run.text, run.text
    assert "site.yaml:12:5: error: 'GreaterThanOrEqual' is not one of ['GreaterThanOrEqualToThreshold'," in run.text, \
        run.text
    assert not client(moto, "logs").describe_log_groups(logGroupNamePrefix=f"/app/{uid}")["logGroups"]
