"""Identity against moto over HTTP: a managed policy (a changed document is a new default version), an
instance profile handing a role to EC2 (the role switched in place), a user with group membership and
the policy attached. Create, a read-only no-change plan (one list per type), in-place changes, drift
made with boto3 (the default version rolled back, the policy detached; shown and repaired), a policy
without a document refused at its line, and deletion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from modules.aws.policy import normalize_policy
from tests.conftest import Cli, write
from tests.e2e.test_aws import acli, in_process_plan  # noqa: F401 - fixtures and helpers shared

TRUST = '{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "sts:AssumeRole", Principal: {Service: ec2.amazonaws.com}}]}'


def client(moto: Any) -> Any:
    return boto3.client("iam", region_name="us-east-1", endpoint_url=moto.url)


def spec(spec_dir: Path, moto: Any, uid: str, action: str = "s3:GetObject", role: str = "a",
         groups: str = "[GROUP]") -> None:
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.iam_role, name: a, role_name: {uid}-a, assume_role_policy: {TRUST}}}
  - {{type: aws.iam_role, name: b, role_name: {uid}-b, assume_role_policy: {TRUST}}}
  - type: aws.iam_policy
    name: read
    policy_name: {uid}-read
    description: Read the reports
    policy: {{Version: "2012-10-17", Statement: [{{Effect: Allow, Action: ["{action}"], Resource: "*"}}]}}
  - {{type: aws.iam_instance_profile, name: web, profile_name: {uid}-web, role: "${{aws.iam_role.{role}.role_name}}"}}
  - type: aws.iam_user
    name: ci
    user_name: {uid}-ci
    groups: {groups.replace("GROUP", uid + "-deployers")}
    managed_policy_arns: ["${{aws.iam_policy.read.arn}}"]
    tags: {{team: ops}}
""")


def test_policy_profile_and_user(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:  # noqa: F811
    iam = client(moto)
    iam.create_group(GroupName=f"{uid}-deployers")
    iam.create_group(GroupName=f"{uid}-auditors")
    spec(spec_dir, moto, uid)
    plan = acli("plan", "spec", check=0).out
    assert "+ aws.iam_policy.read" in plan and "+ aws.iam_instance_profile.web" in plan and "+ aws.iam_user.ci" in plan
    acli("apply", "--auto-approve", "spec", check=0)

    arn = next(p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == f"{uid}-read")

    def document() -> Any:
        default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        doc = iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]["Document"]
        return normalize_policy(json.loads(doc) if isinstance(doc, str) else doc)

    def allowing(action: str) -> Any:
        return normalize_policy({"Version": "2012-10-17",
                                 "Statement": [{"Effect": "Allow", "Action": [action], "Resource": "*"}]})

    assert document() == allowing("s3:GetObject")
    profile = iam.get_instance_profile(InstanceProfileName=f"{uid}-web")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [f"{uid}-a"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=f"{uid}-ci")["Groups"]] == [f"{uid}-deployers"]
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=f"{uid}-ci")["AttachedPolicies"]] == [arn]

    plan, calls = in_process_plan(spec_dir)  # nothing to do, reads only, one list per type
    assert not plan.actionable, [c.address for c in plan.actionable]
    assert all(c.startswith(("Describe", "List", "Get")) for c in calls), calls
    assert calls["ListPolicies"] == 1 and calls["ListInstanceProfiles"] == 1 and calls["ListUsers"] == 1, calls

    # in place: a new policy version, the profile's role switched, the user moved between groups
    spec(spec_dir, moto, uid, action="s3:ListBucket", role="b", groups="[GROUP, AUDITORS]".replace(
        "AUDITORS", f"{uid}-auditors"))
    plan = acli("plan", "spec", check=0).out
    assert "~ aws.iam_policy.read" in plan and "~ aws.iam_instance_profile.web" in plan and "-/+" not in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    assert document() == allowing("s3:ListBucket")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    profile = iam.get_instance_profile(InstanceProfileName=f"{uid}-web")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [f"{uid}-b"]
    assert sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=f"{uid}-ci")["Groups"]) == \
        [f"{uid}-auditors", f"{uid}-deployers"]
    assert "No changes." in acli("plan", "spec", check=0).out

    # drift: the old version made the default again, the policy detached from the user
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    iam.detach_user_policy(UserName=f"{uid}-ci", PolicyArn=arn)
    plan = acli("plan", "spec", check=0).out
    assert "~ aws.iam_policy.read" in plan and "s3:GetObject" in plan and "managed_policy_arns" in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    assert document() == allowing("s3:ListBucket")
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=f"{uid}-ci")["AttachedPolicies"]] == [arn]
    assert "No changes." in acli("plan", "spec", check=0).out

    write(spec_dir / "site.yaml", f'aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\nresources: []\n')
    acli("apply", "--auto-approve", "spec", check=0)
    assert f"{uid}-ci" not in [u["UserName"] for u in iam.list_users()["Users"]]
    assert f"{uid}-read" not in [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert f"{uid}-web" not in [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]]


def test_a_policy_without_a_document_is_refused_at_its_line(acli: Cli, spec_dir: Path, moto: Any) -> None:  # noqa: F811
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.iam_policy, name: read, description: nothing to allow}}
""")
    run = acli("plan", "spec", check=1)
    assert "site.yaml:3:5: error: missing required field: 'policy'" in run.text, run.text
