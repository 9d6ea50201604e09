"""The nightly job done serverless, against moto over HTTP: a Lambda function whose code is a local
directory (zipped deterministically: touching the files changes nothing), its execution role, its log
group, a schedule rule invoking it with the permission that allows it, an alarm on its errors to a
topic, and the DynamoDB table it writes to. Create, a read-only no-change plan with one list call per
type (the function's ownership from one Tagging API call), a code change published as a new version
with the alias moved, drift made with boto3 (shown and repaired), a sensitive environment kept masked,
a missing code directory refused at its line with nothing created, and deletion."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import Cli, write
from tests.e2e.test_aws import acli, in_process_plan  # noqa: F401 - fixtures and helpers shared

SECRET = "s3cr3t-token-value"


def client(moto: Any, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url)


def spec(spec_dir: Path, moto: Any, uid: str, source: str = "functions/report", extra: str = "") -> None:
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - type: aws.iam_role
    name: report
    role_name: {uid}-report
    assume_role_policy:
      Version: "2012-10-17"
      Statement: [{{Effect: Allow, Action: "sts:AssumeRole", Principal: {{Service: lambda.amazonaws.com}}}}]
  - {{type: aws.dynamodb_table, name: reports, table_name: {uid}-reports, hash_key: id, attributes: {{id: S}}}}
  - type: aws.lambda_function
    name: report
    function_name: {uid}-report
    source: {source}
    runtime: python3.12
    handler: main.handler
    role: "${{aws.iam_role.report.arn}}"
    timeout: 60
    environment: {{TABLE: "${{aws.dynamodb_table.reports.table_name}}", TOKEN: "{SECRET}"}}
    sensitive: [environment]
    alias: live
  - {{type: aws.cloudwatch_log_group, name: report, log_group_name: "/aws/lambda/{uid}-report", retention_in_days: 14}}
  - type: aws.cloudwatch_event_rule
    name: nightly
    rule_name: {uid}-nightly
    schedule_expression: "cron(0 3 * * ? *)"
    targets: [{{id: report, arn: "${{aws.lambda_function.report.arn}}", input: {{mode: full}}}}]
  - type: aws.lambda_permission
    name: nightly
    function_name: "${{aws.lambda_function.report.function_name}}"
    principal: events.amazonaws.com
    source_arn: "${{aws.cloudwatch_event_rule.nightly.arn}}"
  - {{type: aws.sns_topic, name: alerts, topic_name: {uid}-alerts}}
  - type: aws.cloudwatch_metric_alarm
    name: errors
    alarm_name: {uid}-report-errors
    namespace: AWS/Lambda
    metric_name: Errors
    dimensions: {{FunctionName: "${{aws.lambda_function.report.function_name}}"}}
    statistic: Sum
    threshold: 1
    comparison_operator: GreaterThanOrEqualToThreshold
    alarm_actions: ["${{aws.sns_topic.alerts.arn}}"]
{extra}""")


def zipped(code: Path) -> str:
    """The hash of the zip the spec's files make (what Lambda must report for the code it holds)."""
    from modules.aws.lambda_zip import code_sha256, deterministic_zip

    files = {str(p.relative_to(code)): {"path": str(p), "mode": "0644"} for p in code.rglob("*") if p.is_file()}
    return code_sha256(deterministic_zip(files))


def test_a_scheduled_function_and_its_neighbours(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:  # noqa: F811
    lam, events, cw = client(moto, "lambda"), client(moto, "events"), client(moto, "cloudwatch")
    code = spec_dir / "functions/report"
    write(code / "main.py", "def handler(event, context):\n    return 'v1'\n")
    write(code / "lib/util.py", "X = 1\n")
    spec(spec_dir, moto, uid)
    plan = acli("plan", "spec", check=0).out
    assert "+ aws.lambda_function.report" in plan and "+ aws.cloudwatch_event_rule.nightly" in plan, plan
    assert SECRET not in plan and "(sensitive)" in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)

    name = f"{uid}-report"
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Runtime"] == "python3.12" and config["Timeout"] == 60
    assert config["Environment"]["Variables"] == {"TABLE": f"{uid}-reports", "TOKEN": SECRET}
    assert config["CodeSha256"] == zipped(code)
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    (target,) = events.list_targets_by_rule(Rule=f"{uid}-nightly")["Targets"]
    assert target["Arn"] == config["FunctionArn"] and json.loads(target["Input"]) == {"mode": "full"}
    (statement,) = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"].endswith(f"rule/{uid}-nightly")
    assert cw.describe_alarms(AlarmNames=[f"{uid}-report-errors"])["MetricAlarms"][0]["Dimensions"] == \
        [{"Name": "FunctionName", "Value": name}]
    state = next(spec_dir.parent.rglob("*.state*"), None)
    assert state is None or SECRET not in state.read_text(errors="replace")

    # the same files, touched: the same zip, nothing to do; the plan only reads, one list per type
    for path in code.rglob("*.py"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    plan, calls = in_process_plan(spec_dir)
    assert not plan.actionable, [c.address for c in plan.actionable]
    assert all(c.startswith(("Describe", "List", "Get")) for c in calls), calls
    assert calls["ListFunctions"] == 1 and calls["ListRules"] == 1 and calls["GetPolicy"] == 1, calls
    assert "ListTags" not in calls, calls  # the function's ownership came from the Tagging API

    # new code: a new version, the alias moved to it
    write(code / "main.py", "def handler(event, context):\n    return 'v2'\n")
    plan = acli("plan", "spec", check=0).out
    assert "~ aws.lambda_function.report" in plan and "code_sha256" in plan and "-/+" not in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == zipped(code)
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "2"
    assert "No changes." in acli("plan", "spec", check=0).out

    # drift behind the tool's back: a setting, the schedule switched off, a target removed
    lam.update_function_configuration(FunctionName=name, Timeout=99)
    events.disable_rule(Name=f"{uid}-nightly")
    plan = acli("plan", "spec", check=0).out
    assert "~ timeout     = 99 -> 60" in plan or "~ timeout = 99 -> 60" in plan, plan
    assert "~ enabled = false -> true" in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 60
    assert events.describe_rule(Name=f"{uid}-nightly")["State"] == "ENABLED"
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "3"
    assert "No changes." in acli("plan", "spec", check=0).out

    write(spec_dir / "site.yaml", f'aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\nresources: []\n')
    acli("apply", "--auto-approve", "spec", check=0)
    assert name not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert f"{uid}-nightly" not in [r["Name"] for r in events.list_rules()["Rules"]]


def test_a_missing_code_directory_is_refused_at_its_line(acli: Cli, spec_dir: Path, moto: Any,  # noqa: F811
                                                         uid: str) -> None:
    spec(spec_dir, moto, uid, source="functions/nowhere")
    run = acli("plan", "spec", check=1)
    assert "site.yaml:10:5: error: source: 'functions/nowhere' does not exist" in run.text, run.text
    assert f"{uid}-report" not in [r["RoleName"] for r in client(moto, "iam").list_roles()["Roles"]]
