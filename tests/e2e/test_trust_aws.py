"""Trust against moto in server mode: stacks with the same addresses never touch each other, ownership tags
stripped behind our back are drift (never a second object), imported objects are forgotten, data-loss hazards
block, `moved:` keeps the object, and removed resources go in reverse dependency order."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Cli, write


@pytest.fixture
def acli(cli: Cli, moto: Any) -> Cli:
    cli.env.update(moto.env)
    return cli


def client(moto: Any, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def stack(directory: Path, name: str, moto: Any, resources: str, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write(directory / "site.yaml",
          f'name: {name}\naws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\n{extra}resources:\n{resources}')
    return directory


def tagged(ec2: Any, kind: str, stack_id: str) -> list[Any]:
    op, key = {"vpc": ("describe_vpcs", "Vpcs"), "instance": ("describe_instances", "Reservations"),
               "subnet": ("describe_subnets", "Subnets")}[kind]
    items = getattr(ec2, op)(Filters=[{"Name": "tag:reconcile:stack", "Values": [stack_id]}])[key]
    if kind == "instance":
        items = [i for r in items for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    return items


NETWORK = """
  - {type: aws.vpc, name: main, cidr_block: 10.31.0.0/16, tags: {team: web}}
  - {type: aws.subnet, name: a, vpc_id: "${aws.vpc.main.id}", cidr_block: 10.31.1.0/24}
  - {type: aws.security_group, name: web, group_name: "GROUP", vpc_id: "${aws.vpc.main.id}"}
  - type: aws.ec2_instance
    name: app
    image_id: IMAGE
    subnet_id: "${aws.subnet.a.id}"
    security_group_ids: ["${aws.security_group.web.id}"]
"""


def test_stacks_are_apart_and_stripped_tags_are_drift(acli: Cli, tmp_path: Path, moto: Any, uid: str) -> None:
    ec2 = client(moto, "ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    prod, staging = tmp_path / "prod", tmp_path / "staging"
    for d, name in ((prod, f"{uid}-prod"), (staging, f"{uid}-staging")):
        stack(d, name, moto, NETWORK.replace("IMAGE", image).replace("GROUP", f"web-{name}"))
        acli("apply", "--auto-approve", str(d), check=0)
    (prod_vpc,) = tagged(ec2, "vpc", f"{uid}-prod/default")
    (staging_vpc,) = tagged(ec2, "vpc", f"{uid}-staging/default")
    assert prod_vpc["VpcId"] != staging_vpc["VpcId"]  # same addresses, two stacks, two VPCs
    assert "No changes." in acli("plan", str(staging), check=0).out

    # every tag of the VPC removed, the instance's address tag removed: the state still knows them
    ec2.delete_tags(Resources=[prod_vpc["VpcId"]], Tags=[{"Key": t["Key"]} for t in prod_vpc["Tags"]])
    (instance,) = tagged(ec2, "instance", f"{uid}-prod/default")
    ec2.delete_tags(Resources=[instance["InstanceId"]], Tags=[{"Key": "reconcile:address"}])
    plan = acli("plan", str(prod), check=0)
    assert "~ aws.vpc.main" in plan.out and "~ aws.ec2_instance.app" in plan.out and "~ owned" in plan.out
    assert "to add" in plan.out and "Plan: 0 to add, 2 to change, 0 to destroy." in plan.out
    acli("apply", "--auto-approve", str(prod), check=0)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.31.0.0/16"]}])["Vpcs"]
    assert len(vpcs) == 2  # prod's and staging's: no second prod VPC
    tags = {t["Key"]: t["Value"] for t in ec2.describe_vpcs(VpcIds=[prod_vpc["VpcId"]])["Vpcs"][0]["Tags"]}
    assert tags == {"team": "web", "reconcile:address": "aws.vpc.main", "reconcile:stack": f"{uid}-prod/default"}
    assert [i["InstanceId"] for i in tagged(ec2, "instance", f"{uid}-prod/default")] == [instance["InstanceId"]]
    assert "No changes." in acli("plan", str(prod), check=0).out
    assert "No changes." in acli("plan", str(staging), check=0).out

    # prod's lost state is rebuilt from prod's objects only; emptied, prod goes and staging stays
    stack(prod, f"{uid}-prod", moto, "  []\n")
    shutil.rmtree(prod / ".reconcile")
    plan = acli("plan", str(prod), check=0)
    assert "Plan: 0 to add, 0 to change, 4 to destroy." in plan.out
    acli("apply", "--auto-approve", str(prod), check=0)
    assert not tagged(ec2, "vpc", f"{uid}-prod/default")
    assert tagged(ec2, "vpc", f"{uid}-staging/default") and "No changes." in acli("plan", str(staging), check=0).out
    stack(staging, f"{uid}-staging", moto, "  []\n")
    acli("apply", "--auto-approve", str(staging), check=0)


def test_buckets_tables_volumes_databases(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    s3, ddb, ec2, rds = (client(moto, s) for s in ("s3", "dynamodb", "ec2", "rds"))
    name = f"{uid}-data"
    s3.create_bucket(Bucket=f"{uid}-theirs")  # made outside reconcile, then imported
    resources = f"""
  - {{type: aws.s3_bucket, name: data, bucket: {name}, tags: {{team: data}}}}
  - {{type: aws.s3_bucket, name: theirs, bucket: {uid}-theirs, import: {uid}-theirs}}
  - {{type: aws.dynamodb_table, name: items, table_name: {uid}-items, hash_key: id, attributes: {{id: S}}}}
  - {{type: aws.ebs_volume, name: disk, availability_zone: us-east-1a, size: 1}}
  - type: aws.rds_instance
    name: db
    db_instance_identifier: {uid}-db
    engine: postgres
    instance_class: db.t3.micro
    allocated_storage: 20
    master_username: admin
    master_password: "{uid}-Pa55word"
"""
    stack(spec_dir, uid, moto, resources)
    acli("apply", "--auto-approve", "spec", check=0)
    created = {b["Name"]: b["CreationDate"] for b in s3.list_buckets()["Buckets"]}[name]
    listed = acli("state", "list", "--spec", "spec", check=0).out
    assert "aws.s3_bucket.theirs  (found)" in listed

    # a tagging tool replaced the bucket's tag set: the bucket is still ours, and that is drift
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "cost-center", "Value": "42"}]})
    plan = acli("plan", "spec", check=0)
    assert "~ aws.s3_bucket.data" in plan.out and "~ owned" in plan.out and "cost-center" in plan.out
    acli("apply", "--auto-approve", "spec", check=0)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    assert tags["team"] == "data" and tags["reconcile:stack"] == f"{uid}/default" and "cost-center" not in tags

    # moved: the bucket is the same bucket afterwards
    stack(spec_dir, uid, moto, resources.replace("name: data,", "name: logs,"),
          extra="moved:\n  - {from: aws.s3_bucket.data, to: aws.s3_bucket.logs}\n")
    assert "# aws.s3_bucket.data has moved to aws.s3_bucket.logs" in acli("plan", "spec", check=0).out
    acli("apply", "--auto-approve", "spec", check=0)
    assert {b["Name"]: b["CreationDate"] for b in s3.list_buckets()["Buckets"]}[name] == created
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    assert tags["reconcile:address"] == "aws.s3_bucket.logs"
    assert "No changes." in acli("plan", "spec", check=0).out

    # data in every one of them: destroying is refused, each hazard named
    s3.put_object(Bucket=name, Key="report.csv", Body=b"a,b\n")
    ddb.put_item(TableName=f"{uid}-items", Item={"id": {"S": "1"}})
    stack(spec_dir, uid, moto, "  []\n")
    plan = acli("plan", "spec")
    assert plan.rc == 1
    for hazard in (f"bucket {name} is not empty", f"table {uid}-items holds items", "is a disk whose data",
                   f"DB instance {uid}-db holds a database"):
        assert hazard in plan.out, hazard
    assert "# aws.s3_bucket.theirs will be forgotten, not destroyed (it existed before reconcile" in plan.out
    assert acli("apply", "--auto-approve", "spec").rc == 1
    assert s3.head_bucket(Bucket=name) and ddb.describe_table(TableName=f"{uid}-items")

    acli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert f"{uid}-theirs" in {b["Name"] for b in s3.list_buckets()["Buckets"]}  # found: it stays
    snapshots = rds.describe_db_snapshots(DBInstanceIdentifier=f"{uid}-db")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in snapshots if s["DBSnapshotIdentifier"].startswith(f"{uid}-db-final-")]
    s3.delete_bucket(Bucket=f"{uid}-theirs")


def test_removed_network_goes_in_reverse_dependency_order(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    ec2 = client(moto, "ec2")
    # alphabetically a_vpc would go before z_subnet and z_group, which AWS refuses (DependencyViolation)
    stack(spec_dir, uid, moto, f"""
  - {{type: aws.vpc, name: a_vpc, cidr_block: 10.32.0.0/16}}
  - {{type: aws.subnet, name: z_subnet, vpc_id: "${{aws.vpc.a_vpc.id}}", cidr_block: 10.32.1.0/24}}
  - {{type: aws.security_group, name: z_group, group_name: "z-{uid}", vpc_id: "${{aws.vpc.a_vpc.id}}"}}
""")
    acli("apply", "--auto-approve", "spec", check=0)
    (vpc,) = tagged(ec2, "vpc", f"{uid}/default")
    stack(spec_dir, uid, moto, "  []\n")
    acli("apply", "--auto-approve", "spec", check=0)
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Vpcs"]


def test_instance_replaced_new_one_first(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    ec2 = client(moto, "ec2")
    images = [i["ImageId"] for i in ec2.describe_images()["Images"][:2]]
    body = "  - {type: aws.ec2_instance, name: app, image_id: IMAGE, lifecycle: {create_before_destroy: true}}\n"
    stack(spec_dir, uid, moto, body.replace("IMAGE", images[0]))
    acli("apply", "--auto-approve", "spec", check=0)
    (old,) = tagged(ec2, "instance", f"{uid}/default")
    stack(spec_dir, uid, moto, body.replace("IMAGE", images[1]))
    plan = acli("plan", "spec", check=0)
    assert "must be replaced (new one first) (because image_id changed)" in plan.out
    acli("apply", "--auto-approve", "spec", check=0)
    (new,) = tagged(ec2, "instance", f"{uid}/default")
    assert new["InstanceId"] != old["InstanceId"] and new["ImageId"] == images[1]
    assert new["LaunchTime"] >= old["LaunchTime"]
    assert "No changes." in acli("plan", "spec", check=0).out
    stack(spec_dir, uid, moto, "  []\n")
    acli("apply", "--auto-approve", "spec", check=0)
