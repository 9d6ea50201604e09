"""aws.* modules against moto in server mode over HTTP: create, idempotence (no mutating call), update
in place, replace, delete, drift made with plain boto3, references, lost state recovered by tags."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from reconciler.engine.plan import make_plan
from reconciler.registry import Registry
from reconciler.spec.validate import validate
from reconciler.state.store import SqliteStateStore
from reconciler.targets import TargetPool
from tests.conftest import Cli, state_path, write


@pytest.fixture
def acli(cli: Cli, moto: Any, monkeypatch: pytest.MonkeyPatch, named_stack: str) -> Cli:
    cli.env.update(moto.env)
    for key, value in moto.env.items():  # for the in-process plans and the boto3 checks below
        monkeypatch.setenv(key, value)
    return cli


def ec2(moto: Any) -> Any:
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url)


def in_process_plan(spec_dir: Path) -> tuple[Any, dict[str, int]]:
    """Plan in this process, to see exactly which API calls it made."""
    registry = Registry.builtin()
    v = validate(spec_dir, registry)
    with SqliteStateStore.open_readonly(state_path(spec_dir)) as store, TargetPool(v.spec, registry.target_factories()) as pool:
        plan = make_plan(v.spec, v.graph, registry, pool, store)
        assert not plan.failures and not plan.blockers, (plan.failures, plan.blockers)  # every object was read
        session = pool.get("aws", "us-east-1")
        return plan, dict(session.calls)


NETWORK = """
aws: {region: us-east-1, endpoint_url: "URL"}
resources:
  - type: aws.vpc
    name: main
    cidr_block: 10.UID.0.0/16
    enable_dns_hostnames: true
    tags: {team: web}
  - type: aws.subnet
    name: a
    vpc_id: "${aws.vpc.main.id}"
    cidr_block: SUBNET
    tags: {tier: public}
  - type: aws.security_group
    name: web-UID
    vpc_id: "${aws.vpc.main.id}"
    ingress:
      - {protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0]}
      - {protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: [10.0.0.0/8]}
"""


def network(spec_dir: Path, moto: Any, uid: str, subnet: str = "", extra_rule: bool = False) -> None:
    octet = str(int(uid[1:3], 16) % 250)
    body = NETWORK.replace("URL", moto.url).replace("UID", octet).replace("SUBNET", subnet or f"10.{octet}.1.0/24")
    body = body.replace("web-" + octet, f"web-{uid}")
    if extra_rule:
        body += "      - {protocol: udp, from_port: 53, to_port: 53, cidr_blocks: [10.0.0.0/8]}\n"
    write(spec_dir / "site.yaml", body)


def test_network_stack(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    client = ec2(moto)
    network(spec_dir, moto, uid)
    plan = acli("plan", "spec", check=0)
    assert "vpc_id = (known after apply)" in " ".join(plan.out.split()) and "Plan: 3 to add" in plan.out
    acli("apply", "--auto-approve", "spec", check=0)
    (vpc,) = client.describe_vpcs(Filters=[{"Name": "tag:reconcile:address", "Values": ["aws.vpc.main"]},
                                           {"Name": "tag:team", "Values": ["web"]}])["Vpcs"]
    assert client.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"]["Value"] is True
    (subnet,) = client.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    (group,) = client.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"web-{uid}"]}])[
        "SecurityGroups"]
    assert group["VpcId"] == vpc["VpcId"] and len(group["IpPermissions"]) == 2

    plan, calls = in_process_plan(spec_dir)  # idempotent, and the plan only reads
    assert not plan.actionable and calls and all(c.startswith(("Describe", "List", "Get")) for c in calls)
    assert calls["DescribeVpcs"] == 1 and calls["DescribeSubnets"] == 1 and calls["DescribeSecurityGroups"] == 1

    # one more rule: exactly one authorize, no revoke of the others
    network(spec_dir, moto, uid, extra_rule=True)
    plan, _ = in_process_plan(spec_dir)
    assert [c.address for c in plan.actionable] == [f"aws.security_group.web-{uid}"]
    from reconciler.engine.apply import Applier

    registry = Registry.builtin()
    v = validate(spec_dir, registry)
    with SqliteStateStore(state_path(spec_dir)) as store, TargetPool(v.spec, registry.target_factories()) as pool:
        plan = make_plan(v.spec, v.graph, registry, pool, store)
        before = dict(pool.get("aws", "us-east-1").calls)
        Applier(v.graph, registry, pool, store).apply(plan)
        after = pool.get("aws", "us-east-1").mutating_calls
    assert {k: n - before.get(k, 0) for k, n in after.items() if n - before.get(k, 0)} == {
        "AuthorizeSecurityGroupIngress": 1}

    # drift behind our back: a tag changed, a rule revoked
    client.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "team", "Value": "ops"}])
    client.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    plan = acli("plan", "spec", check=0)
    assert '~ tags' in plan.out and '"ops"' in plan.out and f"~ aws.security_group.web-{uid}" in plan.out
    acli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in acli("plan", "spec", check=0).out

    # replace: a subnet's CIDR cannot change in place
    network(spec_dir, moto, uid, subnet=f"10.{int(uid[1:3], 16) % 250}.2.0/24", extra_rule=True)
    plan = acli("plan", "spec", check=0)
    assert "-/+ aws.subnet.a" in plan.out and "must be replaced (because cidr_block changed)" in plan.out
    acli("apply", "--auto-approve", "spec", check=0)
    subnets = client.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    assert [s["CidrBlock"] for s in subnets] == [f"10.{int(uid[1:3], 16) % 250}.2.0/24"]

    # lost state: found again by the stack and address tags
    shutil.rmtree(spec_dir / ".reconcile")
    assert "No changes." in acli("plan", "spec", check=0).out

    # the state is still lost and the spec now empty: apply rebuilds the state from the objects carrying the
    # stack's identity, and prunes them by the usual rules
    write(spec_dir / "site.yaml", f'aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\nresources: []\n')
    plan = acli("plan", "spec", check=0)
    assert "Plan: 0 to add, 0 to change, 3 to destroy." in plan.out
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert not client.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Vpcs"]


def test_delete_in_dependency_order(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    client = ec2(moto)
    network(spec_dir, moto, uid)
    acli("apply", "--auto-approve", "spec", check=0)
    vpc_id = client.describe_vpcs(Filters=[{"Name": "tag:reconcile:address", "Values": ["aws.vpc.main"]}])[
        "Vpcs"][-1]["VpcId"]
    write(spec_dir / "site.yaml", f'aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\nresources: []\n')
    plan = acli("plan", "spec", check=0)
    assert "Plan: 0 to add, 0 to change, 3 to destroy." in plan.out
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert not client.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]


def test_aws_errors_name_the_resource_and_line(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    write(spec_dir / "site.yaml", f"""aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.subnet, name: bad, vpc_id: vpc-doesnotexist, cidr_block: 10.9.1.0/24}}
  - {{type: aws.s3_bucket, name: fine-bucket-{uid}}}
""")
    run = acli("apply", "--auto-approve", "spec")
    assert run.rc == 1
    assert "Error: aws.subnet.bad (spec/site.yaml:3:5): InvalidVpcID.NotFound:" in run.out
    assert "1 added" in run.out  # the bucket was still created


def test_s3_bucket(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url)
    name = f"reconcile-{uid}"
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "ro", "Effect": "Allow", "Principal": "*",
                                                      "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{name}/*"]}]}
    body = f"""aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - type: aws.s3_bucket
    name: logs
    bucket: {name}
    versioning: true
    server_side_encryption: AES256
    public_access_block: {{block_public_acls: true, ignore_public_acls: true, block_public_policy: false, restrict_public_buckets: false}}
    lifecycle_rules: [{{id: expire, prefix: tmp/, expiration_days: 7}}]
    policy: {json.dumps(policy)}
    tags: {{team: data}}
"""
    write(spec_dir / "site.yaml", body)
    acli("apply", "--auto-approve", "spec", check=0)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]} == {
        "team": "data", "reconcile:address": "aws.s3_bucket.logs", "reconcile:stack": f"{uid}/default"}
    assert s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"][0]["Expiration"]["Days"] == 7
    assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"][0]["Sid"] == "ro"
    plan, calls = in_process_plan(spec_dir)
    assert not plan.actionable, [c.diffs for c in plan.actionable]  # the policy compares by meaning
    assert all(c.startswith(("List", "Get")) for c in calls)

    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})  # drift
    plan = acli("plan", "spec", check=0)
    assert "~ versioning = false -> true" in " ".join(plan.out.split())
    acli("apply", "--auto-approve", "spec", check=0)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"

    s3.put_object(Bucket=name, Key="data.txt", Body=b"x")
    write(spec_dir / "site.yaml", body.split("resources:")[0] + "resources: []\n")
    refused = acli("apply", "--auto-approve", "spec")
    assert refused.rc == 1 and "is not empty" in refused.out and "--allow-data-loss" in refused.out
    write(spec_dir / "site.yaml", body + "    force_destroy: true\n")
    acli("apply", "--auto-approve", "spec", check=0)  # records force_destroy in the state
    write(spec_dir / "site.yaml", body.split("resources:")[0] + "resources: []\n")
    acli("apply", "--auto-approve", "spec", check=0)  # force_destroy: the bucket goes with its content
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_foreign_bucket_needs_import(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url)
    name = f"theirs-{uid}"
    s3.create_bucket(Bucket=name)
    body = f"""aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.s3_bucket, name: theirs, bucket: {name}, versioning: true}}
"""
    write(spec_dir / "site.yaml", body)
    refused = acli("plan", "spec")
    assert refused.rc == 1 and "not managed by reconcile; set import:" in refused.out
    assert s3.get_bucket_versioning(Bucket=name).get("Status") is None
    write(spec_dir / "site.yaml", body.replace("versioning: true", f"versioning: true, import: {name}"))
    acli("apply", "--auto-approve", "spec", check=0)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    # an imported object is managed but not marked as the stack's: a lost state rebuilt from the marks
    # can then never take it for one reconcile created (and destroy it when it leaves the spec)
    assert "aws.s3_bucket.theirs  (found)" in acli("state", "list", "--spec", "spec", check=0).out
    try:
        tags = {t["Key"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    except s3.exceptions.ClientError:
        tags = set()
    assert not {t for t in tags if t.startswith("reconcile:")}
    assert "No changes." in acli("plan", "spec", check=0).out
    write(spec_dir / "site.yaml", body.replace("versioning: true", f"versioning: true, import: {name}, "
                                                                  "tags: {team: data}"))
    acli("apply", "--auto-approve", "spec", check=0)  # its tags are managed; still no marks of ours
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]} == {"team": "data"}


def test_dynamodb_table(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    db = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto.url)
    body = f"""aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - type: aws.dynamodb_table
    name: events-{uid}
    hash_key: id
    range_key: at
    attributes: {{id: S, at: N, user: S}}
    billing_mode: BILLING
    global_secondary_indexes: [{{name: by_user, hash_key: user, projection: ALL}}]
    ttl: {{attribute: expires, enabled: true}}
    tags: {{team: data}}
"""
    write(spec_dir / "site.yaml", body.replace("BILLING", "PAY_PER_REQUEST"))
    acli("apply", "--auto-approve", "spec", check=0)
    table = db.describe_table(TableName=f"events-{uid}")["Table"]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "by_user"
    assert db.describe_time_to_live(TableName=f"events-{uid}")["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    plan, calls = in_process_plan(spec_dir)
    assert not plan.actionable and all(c.startswith(("List", "Describe", "Get")) for c in calls), calls
    # the ownership tags from the one Tagging API call; the settings from the state's snapshot
    assert calls["GetResources"] == 1 and "DescribeTable" not in calls and "ListTagsOfResource" not in calls, calls

    db.update_time_to_live(TableName=f"events-{uid}", TimeToLiveSpecification={"AttributeName": "expires",
                                                                               "Enabled": False})  # drift
    drift = acli("drift", "spec", check=2)  # drift reads every table in full
    assert f"aws.dynamodb_table.events-{uid}" in drift.out and "ttl" in drift.out, drift.out
    (spec_dir / "site.yaml").write_text(body.replace("BILLING", "PAY_PER_REQUEST").replace(
        "aws: {region", "aws: {refresh: full, region"))
    plan = acli("plan", "spec", check=0)  # and so does plan under aws.refresh: full
    assert f"~ aws.dynamodb_table.events-{uid}" in plan.out and "ttl" in plan.out
    write(spec_dir / "site.yaml", body.replace("BILLING", "PROVISIONED"))  # and an update in place
    acli("apply", "--auto-approve", "spec", check=0)
    table = db.describe_table(TableName=f"events-{uid}")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert db.describe_time_to_live(TableName=f"events-{uid}")["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    assert "No changes." in acli("plan", "spec", check=0).out

    write(spec_dir / "site.yaml", body.replace("BILLING", "PROVISIONED").replace("range_key: at", "range_key: user"))
    plan = acli("plan", "spec", check=0)
    assert f"-/+ aws.dynamodb_table.events-{uid}" in plan.out and "range_key" in plan.out
    write(spec_dir / "site.yaml", body.split("resources:")[0] + "resources: []\n")
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert f"events-{uid}" not in db.list_tables()["TableNames"]


def test_iam_role(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto.url)
    policy_arn = iam.create_policy(PolicyName=f"read-{uid}", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))[
        "Policy"]["Arn"]
    body = f"""aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - type: aws.iam_role
    name: app-{uid}
    assume_role_policy:
      Version: "2012-10-17"
      Statement: [{{Effect: Allow, Principal: {{Service: [ec2.amazonaws.com]}}, Action: [sts:AssumeRole]}}]
    managed_policy_arns: [{policy_arn}]
    inline_policies:
      logs: {{Version: "2012-10-17", Statement: [{{Effect: Allow, Action: [logs:PutLogEvents], Resource: "*"}}]}}
    tags: {{team: web}}
"""
    write(spec_dir / "site.yaml", body)
    acli("apply", "--auto-approve", "spec", check=0)
    role = iam.get_role(RoleName=f"app-{uid}")["Role"]
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=f"app-{uid}")["AttachedPolicies"]] == [
        policy_arn]
    assert iam.list_role_policies(RoleName=f"app-{uid}")["PolicyNames"] == ["logs"]
    assert role["Arn"].endswith(f"role/app-{uid}")
    plan, calls = in_process_plan(spec_dir)  # policies written differently still compare equal
    assert not plan.actionable, [(c.address, c.diffs) for c in plan.actionable]
    assert all(c.startswith(("List", "Get")) for c in calls)

    iam.detach_role_policy(RoleName=f"app-{uid}", PolicyArn=policy_arn)  # drift
    iam.put_role_policy(RoleName=f"app-{uid}", PolicyName="extra", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    plan = acli("plan", "spec", check=0)
    assert "managed_policy_arns" in plan.out and "inline_policies" in plan.out
    acli("apply", "--auto-approve", "spec", check=0)
    assert iam.list_role_policies(RoleName=f"app-{uid}")["PolicyNames"] == ["logs"]
    assert len(iam.list_attached_role_policies(RoleName=f"app-{uid}")["AttachedPolicies"]) == 1
    write(spec_dir / "site.yaml", body.split("resources:")[0] + "resources: []\n")
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert f"app-{uid}" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_instance_and_volume_reference_chain(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    client = ec2(moto)
    image = client.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    octet = int(uid[1:3], 16) % 250
    body = f"""aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.vpc, name: net, cidr_block: 10.{octet}.0.0/16}}
  - {{type: aws.subnet, name: s, vpc_id: "${{aws.vpc.net.id}}", cidr_block: 10.{octet}.1.0/24, availability_zone: us-east-1a}}
  - type: aws.security_group
    name: app-{uid}
    vpc_id: "${{aws.vpc.net.id}}"
    ingress: [{{protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: [10.0.0.0/8]}}]
  - type: aws.ec2_instance
    name: app
    image_id: {image}
    instance_type: TYPE
    subnet_id: "${{aws.subnet.s.id}}"
    security_group_ids: ["${{aws.security_group.app-{uid}.id}}"]
    user_data: "#!/bin/sh\\necho hello\\n"
    tags: {{role: app}}
  - type: aws.ebs_volume
    name: data
    availability_zone: us-east-1a
    size: SIZE
    attachment: {{instance_id: "${{aws.ec2_instance.app.id}}", device: /dev/sdf}}
"""
    write(spec_dir / "site.yaml", body.replace("TYPE", "t3.micro").replace("SIZE", "10"))
    plan = acli("plan", "spec", check=0)
    assert "Plan: 5 to add" in plan.out
    acli("apply", "--auto-approve", "spec", check=0)
    (inst,) = [i for res in client.describe_instances(Filters=[
        {"Name": "tag:reconcile:address", "Values": ["aws.ec2_instance.app"]},
        {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"] for i in res["Instances"]]
    (vol,) = client.describe_volumes(Filters=[{"Name": "tag:reconcile:address", "Values": ["aws.ebs_volume.data"]}])[
        "Volumes"]
    assert vol["Attachments"][0]["InstanceId"] == inst["InstanceId"] and vol["Size"] == 10
    assert inst["SubnetId"].startswith("subnet-") and inst["SecurityGroups"][0]["GroupName"] == f"app-{uid}"
    plan, calls = in_process_plan(spec_dir)
    assert not plan.actionable, [(c.address, c.diffs) for c in plan.actionable]
    assert calls["DescribeInstances"] == 1 and calls["DescribeVolumes"] == 1

    # in place: instance type (stop/modify/start) and volume size; drift: the instance stopped by hand
    client.stop_instances(InstanceIds=[inst["InstanceId"]])
    write(spec_dir / "site.yaml", body.replace("TYPE", "t3.small").replace("SIZE", "20"))
    plan = acli("plan", "spec", check=0)
    assert "~ aws.ec2_instance.app" in plan.out and '"stopped" -> "running"' in plan.out and "~ aws.ebs_volume.data" in plan.out
    acli("apply", "--auto-approve", "spec", check=0)
    now = client.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert now["InstanceType"] == "t3.small" and now["State"]["Name"] == "running"
    assert client.describe_volumes(VolumeIds=[vol["VolumeId"]])["Volumes"][0]["Size"] == 20

    # replace: new user data relaunches the instance, and the volume follows it
    write(spec_dir / "site.yaml", body.replace("TYPE", "t3.small").replace("SIZE", "20").replace("hello", "bye"))
    plan = acli("plan", "spec", check=0)
    assert "-/+ aws.ec2_instance.app" in plan.out and "user_data" in plan.out
    acli("apply", "--auto-approve", "spec", check=0)
    vol_now = client.describe_volumes(VolumeIds=[vol["VolumeId"]])["Volumes"][0]
    assert vol_now["Attachments"][0]["InstanceId"] != inst["InstanceId"]
    assert "No changes." in acli("plan", "spec", check=0).out
    write(spec_dir / "site.yaml", body.split("resources:")[0] + "resources: []\n")
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert not client.describe_volumes(Filters=[{"Name": "volume-id", "Values": [vol["VolumeId"]]}])["Volumes"]


def test_rds_instance(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    rds = boto3.client("rds", region_name="us-east-1", endpoint_url=moto.url)
    body = f"""aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
vars_from_env: [DB_PASSWORD]
resources:
  - type: aws.rds_instance
    name: db-{uid}
    engine: postgres
    engine_version: "15.4"
    instance_class: CLASS
    allocated_storage: 20
    master_username: app
    master_password: "{{{{ env.DB_PASSWORD }}}}"
    backup_retention_period: 7
"""
    acli.env["DB_PASSWORD"] = "correct-horse-battery"
    write(spec_dir / "site.yaml", body.replace("CLASS", "db.t3.micro"))
    plan = acli("plan", "spec", check=0)
    assert "master_password" in plan.out and "(sensitive)" in plan.out and "correct-horse" not in plan.out
    applied = acli("apply", "--auto-approve", "spec", check=0)
    assert "correct-horse" not in applied.text
    (db,) = rds.describe_db_instances(DBInstanceIdentifier=f"db-{uid}")["DBInstances"]
    assert db["BackupRetentionPeriod"] == 7 and db["Engine"] == "postgres"
    assert b"correct-horse" not in state_path(spec_dir).read_bytes()
    assert "No changes." in acli("plan", "spec", check=0).out

    acli.env["DB_PASSWORD"] = "new-secret-value"  # a new password: seen without ever being shown
    plan = acli("plan", "spec", check=0)
    assert "master_password = (sensitive) -> (sensitive, changed)" in " ".join(plan.out.split())
    write(spec_dir / "site.yaml", body.replace("CLASS", "db.t3.small"))
    acli("apply", "--auto-approve", "spec", check=0)
    assert rds.describe_db_instances(DBInstanceIdentifier=f"db-{uid}")["DBInstances"][0]["DBInstanceClass"] == "db.t3.small"
    assert "No changes." in acli("plan", "spec", check=0).out
    write(spec_dir / "site.yaml", body.split("resources:")[0] + "resources: []\n")
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert f"db-{uid}" not in [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]


def test_remaining_replaces_and_drift(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    """What the other tests leave out: vpc/bucket/role replacement, volume and database drift."""
    client, rds = ec2(moto), boto3.client("rds", region_name="us-east-1", endpoint_url=moto.url)
    octet = int(uid[1:3], 16) % 250
    trust = '{Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: sts:AssumeRole}]}'
    body = f"""aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.vpc, name: v, cidr_block: 10.{octet}.0.0/16}}
  - {{type: aws.s3_bucket, name: b, bucket: BUCKET}}
  - {{type: aws.iam_role, name: r-{uid}, path: PATH, assume_role_policy: {trust}}}
  - {{type: aws.ebs_volume, name: vol, availability_zone: us-east-1a, size: 5}}
  - type: aws.rds_instance
    name: db-{uid}
    engine: mysql
    instance_class: db.t3.micro
    allocated_storage: 20
    master_username: admin
    master_password: long-enough-secret
    backup_retention_period: 3
"""
    first = body.replace("BUCKET", f"one-{uid}").replace("PATH", "/")
    write(spec_dir / "site.yaml", first)
    acli("apply", "--auto-approve", "spec", check=0)
    (vol,) = client.describe_volumes(Filters=[{"Name": "tag:reconcile:address", "Values": ["aws.ebs_volume.vol"]}])[
        "Volumes"]

    client.modify_volume(VolumeId=vol["VolumeId"], Size=8)  # drift
    rds.modify_db_instance(DBInstanceIdentifier=f"db-{uid}", BackupRetentionPeriod=9, ApplyImmediately=True)
    plan = " ".join(acli("plan", "spec", check=0).out.split())
    assert "~ size = 8 -> 5" in plan and "~ backup_retention_period = 9 -> 3" in plan
    write(spec_dir / "site.yaml", body.replace("BUCKET", f"two-{uid}").replace("PATH", "/apps/")
          .replace(f"10.{octet}.0.0/16", f"10.{octet}.0.0/20"))
    plan = acli("plan", "spec", check=0).out
    for address, cause in (("aws.vpc.v", "cidr_block"), ("aws.s3_bucket.b", "bucket"), (f"aws.iam_role.r-{uid}", "path")):
        assert f"-/+ {address}" in plan and f"must be replaced (because {cause} changed)" in plan, (address, plan)
    acli("apply", "--auto-approve", "spec", check=0)
    assert client.describe_volumes(VolumeIds=[vol["VolumeId"]])["Volumes"][0]["Size"] == 5
    assert rds.describe_db_instances(DBInstanceIdentifier=f"db-{uid}")["DBInstances"][0]["BackupRetentionPeriod"] == 3
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto.url)
    assert iam.get_role(RoleName=f"r-{uid}")["Role"]["Path"] == "/apps/"
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert f"two-{uid}" in names and f"one-{uid}" not in names
    assert "No changes." in acli("plan", "spec", check=0).out
    write(spec_dir / "site.yaml", body.split("resources:")[0] + "resources: []\n")
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)


def test_renamed_tables_roles_and_databases_are_replaced(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    trust = '{Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: sts:AssumeRole}]}'
    body = f"""aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.dynamodb_table, name: t, table_name: NAME-t-{uid}, hash_key: id, attributes: {{id: S}}}}
  - {{type: aws.iam_role, name: r, role_name: NAME-r-{uid}, assume_role_policy: {trust}}}
  - {{type: aws.rds_instance, name: d, db_instance_identifier: NAME-d-{uid}, engine: mariadb, engine_version: "10.11", instance_class: db.t3.micro,
      allocated_storage: 20, master_username: admin, master_password: long-enough-secret}}
"""
    write(spec_dir / "site.yaml", body.replace("NAME", "old"))
    acli("apply", "--auto-approve", "spec", check=0)
    write(spec_dir / "site.yaml", body.replace("NAME", "new"))
    refused = acli("plan", "spec")  # a database is a data-loss hazard: replacing it needs consent
    assert refused.rc == 1 and "DB instance old-d-" in refused.out and "final snapshot old-d-" in refused.out
    plan = acli("plan", "--allow-data-loss", "spec", check=0).out
    for address in ("aws.dynamodb_table.t", "aws.iam_role.r", "aws.rds_instance.d"):
        assert f"-/+ {address}" in plan, plan
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    db = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto.url)
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto.url)
    rds = boto3.client("rds", region_name="us-east-1", endpoint_url=moto.url)
    tables = db.list_tables()["TableNames"]
    assert f"new-t-{uid}" in tables and f"old-t-{uid}" not in tables
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert f"new-r-{uid}" in roles and f"old-r-{uid}" not in roles
    dbs = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    assert f"new-d-{uid}" in dbs and f"old-d-{uid}" not in dbs
    assert "No changes." in acli("plan", "spec", check=0).out
    write(spec_dir / "site.yaml", body.split("resources:")[0] + "resources: []\n")
    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
