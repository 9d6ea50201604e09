"""`data:` lookups of things reconcile does not manage, read at every plan, never written: a file on the
local machine, an AMI and a VPC/subnet on moto, an image on the harness's dockerd."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import Cli, state_path, write


def test_a_file_lookup_feeds_a_resource_and_an_output(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    source, out = tmp_path / "VERSION", tmp_path / "out"
    source.write_text("2.3.1\n")
    write(spec_dir / "site.yaml", f"""
name: lookups
data:
  - {{type: file, name: version, path: "{source}"}}
resources:
  - {{type: file, name: banner, path: "{out}/banner", content: "running ${{data.file.version.content}}"}}
outputs:
  version: {{value: "${{data.file.version.content}}"}}
""")
    assert "+ file.banner" in cli("plan", "spec", check=0).out
    applied = cli("apply", "--auto-approve", "spec", check=0).out
    assert (out / "banner").read_text() == "running 2.3.1\n" and 'version = "2.3.1\\n"' in applied
    assert "No changes." in cli("plan", "spec", check=0).out
    state = state_path(spec_dir).read_bytes()
    assert b"data.file.version" not in state  # a lookup is never in the state

    source.write_text("2.4.0\n")  # the world moved: the next plan reads it again
    assert "~ file.banner" in cli("plan", "spec", check=0).out
    source.unlink()
    gone = cli("plan", "spec", check=1)
    assert f"data.file.version (spec/site.yaml:3:5): {source} is not a regular file on local" in gone.err + gone.out
    assert "file.banner: reads data.file.version, which could not be read" in gone.err + gone.out
    assert (out / "banner").read_text() == "running 2.3.1\n"


def test_aws_lookups_feed_a_new_subnet_and_instance(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url)
    octet = 20 + int(uid[1:3], 16) % 200  # and octet + 1 stays a valid CIDR octet
    vpc = ec2.create_vpc(CidrBlock=f"10.{octet}.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "team", "Value": uid}, {"Key": "Name", "Value": "shared"}]}])["Vpc"]
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    images = []
    for version in ("1.0", "1.1"):
        instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        images.append(ec2.create_image(InstanceId=instance, Name=f"{uid}-app-{version}")["ImageId"])
        time.sleep(1.1)  # creation dates a second apart: the newest is 1.1
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
data:
  - {{type: aws.vpc, name: shared, tags: {{team: {uid}, Name: shared}}}}
  - {{type: aws.ami, name: app, owners: [self], name_pattern: "{uid}-app-*"}}
resources:
  - {{type: aws.subnet, name: a, vpc_id: "${{data.aws.vpc.shared.id}}", cidr_block: "10.{octet}.7.0/24",
      availability_zone: us-east-1a}}
  - {{type: aws.ec2_instance, name: web, image_id: "${{data.aws.ami.app.id}}", instance_type: t3.micro,
      subnet_id: "${{aws.subnet.a.id}}"}}
outputs:
  ami: {{value: "${{data.aws.ami.app.image_name}}"}}
""")
    plan = acli("plan", "spec", check=0).out
    assert 'ami = "' + f"{uid}-app-1.1" + '"' in plan
    acli("apply", "--auto-approve", "spec", check=0)
    subnets = ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": [f"10.{octet}.7.0/24"]}])["Subnets"]
    assert [s["VpcId"] for s in subnets] == [vpc["VpcId"]]
    running = [i for r in ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [subnets[0]["SubnetId"]]}])[
        "Reservations"] for i in r["Instances"]]
    assert [i["ImageId"] for i in running] == [images[1]]
    assert "No changes." in acli("plan", "spec", check=0).out
    assert ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"]  # the looked-up VPC is never touched

    # two VPCs match: the lookup says so, and nothing is planned on a guess
    ec2.create_vpc(CidrBlock=f"10.{octet + 1}.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "team", "Value": uid}, {"Key": "Name", "Value": "shared"}]}])
    both = acli("plan", "spec", check=1)
    assert "2 VPCs match (Name=shared, team=" in both.out + both.err and "exactly one must" in both.out + both.err


def test_a_docker_image_lookup(cli: Cli, spec_dir: Path, docker_url: str, busybox: str, uid: str,
                               docker_client: Any) -> None:
    cli.env["DOCKER_HOST"] = docker_url
    image = docker_client.images.get(busybox)
    write(spec_dir / "site.yaml", f"""
name: {uid}
data:
  - {{type: docker.image, name: base, image: "{busybox}"}}
  - {{type: docker.image, name: missing, image: "reconcile-test/nothing:{uid}"}}
outputs:
  id: {{value: "${{data.docker.image.base.id}}"}}
resources: []
""")
    run = cli("plan", "spec", check=1)
    assert f"no image reconcile-test/nothing:{uid} on docker engine local" in run.out + run.err
    write(spec_dir / "site.yaml", (spec_dir / "site.yaml").read_text().replace(
        f'  - {{type: docker.image, name: missing, image: "reconcile-test/nothing:{uid}"}}\n', ""))
    assert f'id = "{image.id}"' in cli("plan", "spec", check=0).out


def test_another_stacks_outputs(cli: Cli, tmp_path: Path) -> None:
    base, app, out = tmp_path / "base", tmp_path / "app", tmp_path / "out"
    write(base / "site.yaml", f"""
name: base
resources:
  - {{type: directory, name: shared, path: "{out}/shared"}}
outputs:
  shared_dir: {{value: "${{directory.shared.path}}"}}
  api_key: {{value: "k-123", sensitive: true}}
""")
    write(app / "site.yaml", """
name: app
data:
  - {type: stack_output, name: base, spec: ../base}
resources:
  - {type: file, name: conf, path: "${data.stack_output.base.outputs.shared_dir}/app.conf", content: "x"}
""")
    missing = cli("plan", "app", check=1)
    assert "stack app/../base has no state in workspace default" in missing.out and "apply it first" in missing.out
    cli("apply", "--auto-approve", "base", check=0)
    cli("apply", "--auto-approve", "app", check=0)
    assert (out / "shared/app.conf").read_text() == "x"
    assert "No changes." in cli("plan", "app", check=0).out
    write(app / "site.yaml", (app / "site.yaml").read_text().replace("outputs.shared_dir", "outputs.api_key"))
    secret = cli("plan", "app", check=1)
    assert "api_key" in secret.out and "k-123" not in secret.out  # a sensitive output is never available
