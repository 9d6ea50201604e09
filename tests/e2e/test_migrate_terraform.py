"""`reconcile migrate terraform`: Terraform 1.11 builds a stack on the moto server; its state (both
`terraform show -json` and terraform.tfstate) becomes a spec whose first plan says "No changes"."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import boto3
import yaml

from tests.conftest import Cli, state_path, write
from tests.e2e.test_peer_terraform import TERRAFORM
from tests.harness.terraform import TerraformDir

EXTRA = """
resource "aws_iam_role" "app" {
  name               = "NAME-app"
  assume_role_policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow",
    Action = "sts:AssumeRole", Principal = { Service = "ec2.amazonaws.com" } }] })
  tags = { team = "web" }
}
resource "aws_ebs_volume" "data" {
  availability_zone = "us-east-1a"
  size              = 8
  tags              = { team = "data" }
}
resource "aws_s3_bucket" "assets" {
  count  = 2
  bucket = "NAME-assets-${count.index}"
}
resource "aws_sqs_queue" "jobs" {
  name = "NAME-jobs"
}
resource "aws_kms_key" "data" {
  description = "no reconcile type"
}
"""


def test_a_terraform_state_becomes_a_spec_with_no_changes(acli: Cli, tmp_path: Path, moto: Any, uid: str) -> None:
    tf = TerraformDir(tmp_path / "tf", moto.url, (TERRAFORM + EXTRA).replace("NAME", uid))
    tf.init()
    tf.apply()
    show = subprocess.run([tf.binary, "show", "-json"], cwd=tf.dir, env=tf.env, capture_output=True, text=True,
                          check=True).stdout
    write(tmp_path / "show.json", show)
    try:
        for source, out in ((tmp_path / "show.json", tmp_path / "from-show"),
                            (tf.dir / "terraform.tfstate", tmp_path / "from-tfstate")):
            run = acli("migrate", "terraform", str(source), "--out", str(out), "--name", f"{uid}-{out.name}",
                       check=0)
            assert "not migrated: aws_kms_key.data (aws_kms_key)" in run.out
            assert "merged: aws_s3_bucket_versioning.logs" in run.out
            spec = yaml.safe_load((out / "main.yaml").read_text())
            by_address = {f"{r['type']}.{r['name']}": r for r in spec["resources"]}
            assert set(by_address) == {"aws.vpc.main", "aws.subnet.a", "aws.security_group.web", "aws.s3_bucket.logs",
                                       "aws.s3_bucket.assets_0", "aws.s3_bucket.assets_1", "aws.dynamodb_table.sessions",
                                       "aws.iam_role.app", "aws.ebs_volume.data", "aws.sqs_queue.jobs"}
            assert by_address["aws.subnet.a"]["vpc_id"] == "${aws.vpc.main.id}"  # a reference, rebuilt
            assert by_address["aws.security_group.web"]["vpc_id"] == "${aws.vpc.main.id}"
            assert by_address["aws.s3_bucket.logs"]["versioning"] is True
            assert "aws_kms_key.data" in (out / "main.yaml").read_text()  # listed in the header too
            assert state_path(out).stat().st_mode & 0o777 == 0o600
            plan = acli("plan", "--detailed-exitcode", str(out), check=0)
            assert "No changes." in plan.out, plan.out
            listed = acli("state", "list", "--spec", str(out), check=0).out
            assert "aws.vpc.main  (found)" in listed

        # the migrated spec manages the objects: drift is seen and repaired...
        out = tmp_path / "from-show"
        ec2 = boto3.client("ec2", region_name="us-east-1")
        (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "tag:stack", "Values": [uid]}])["Vpcs"]
        ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "team", "Value": "intruder"}])
        drifted = acli("plan", str(out), check=0).out
        assert "~ aws.vpc.main" in drifted and '"intruder"' in drifted
        acli("apply", "--auto-approve", str(out), check=0)
        tags = {t["Key"]: t["Value"] for t in ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["Tags"]}
        assert tags["team"] == "web"
        # ...and, adopted, an object taken out of the spec is released, never destroyed
        spec = yaml.safe_load((out / "main.yaml").read_text())
        spec["resources"] = [r for r in spec["resources"] if r["name"] != "assets_1"]
        (out / "main.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        released = acli("apply", "--auto-approve", str(out), check=0).out
        assert "0 destroyed" in released
        assert f"{uid}-assets-1" in {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    finally:
        tf.destroy()


def test_bad_terraform_states_are_refused_with_file_and_line(cli: Cli, tmp_path: Path) -> None:
    old = write(tmp_path / "old.tfstate", '{\n  "serial": 3,\n  "version": 3,\n  "modules": []\n}\n')
    run = cli("migrate", "terraform", str(old), "--out", str(tmp_path / "o1"), check=1)
    assert f"{old}:3:14: Terraform state format version 3 is not supported" in run.err and "Traceback" not in run.text
    broken = write(tmp_path / "broken.json", '{"version": 4,\n  "resources": [}\n')
    run = cli("migrate", "terraform", str(broken), "--out", str(tmp_path / "o2"), check=1)
    assert f"{broken}:2:" in run.err and "not JSON" in run.err
    empty = write(tmp_path / "empty.json", '{"version": 4, "resources": [{"mode": "managed", "type": "google_x", '
                  '"name": "y", "instances": [{"attributes": {}}]}]}')
    run = cli("migrate", "terraform", str(empty), "--out", str(tmp_path / "o3"), check=1)
    assert "no resource of a type reconcile supports" in run.err and "google_x.y" in run.err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o3").exists()
