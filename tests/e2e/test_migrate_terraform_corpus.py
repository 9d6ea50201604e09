"""`migrate terraform` on the patterns of the most used public Terraform modules for AWS, written here from
what those modules do (not their code), each named for the pattern it reproduces. Terraform 1.11 applies
them on moto; the state is migrated with --verify; the first plan makes no change at all; rules, routes
and attachments made out of band are drift, repaired; and the share of resources carried is measured.

- the VPC module: count-indexed VPC and subnets, an internet gateway and a NAT gateway with its EIP, route
  tables whose routes are separate `aws_route` resources, one association per subnet, a database subnet
  group, and the default security group taken over (`aws_default_security_group`, which has no reconcile
  type and is left alone);
- the security-group module: a group named by `name_prefix`, every rule its own `aws_security_group_rule`
  (CIDR, `self`, another group as source, egress to anywhere), plus the newer per-rule resource;
- the S3 bucket module: the bucket and its split configuration (versioning, encryption, public access
  block, ownership controls, policy, lifecycle);
- the IAM role pattern: a role, its policies attached by `aws_iam_role_policy_attachment` (one resource per
  policy), an inline `aws_iam_role_policy`, and an instance profile;
- the RDS module: subnet and parameter groups and an encrypted Multi-AZ PostgreSQL instance.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.conftest import Cli, write
from tests.harness.terraform import TerraformDir, terraform

pytestmark = pytest.mark.skipif(terraform() is None, reason="terraform is not installed on this machine")

VPC_MODULE = """
resource "aws_vpc" "this" {
  count                = 1
  cidr_block           = "10.80.0.0/16"
  enable_dns_hostnames = true
  tags                 = { Name = "N" }
}
resource "aws_default_security_group" "this" {
  count  = 1
  vpc_id = aws_vpc.this[0].id
}
resource "aws_subnet" "public" {
  count                   = 2
  vpc_id                  = aws_vpc.this[0].id
  cidr_block              = ["10.80.1.0/24", "10.80.2.0/24"][count.index]
  availability_zone       = ["us-east-1a", "us-east-1b"][count.index]
  map_public_ip_on_launch = true
  tags                    = { Name = "N-public-${count.index}" }
}
resource "aws_subnet" "private" {
  count             = 2
  vpc_id            = aws_vpc.this[0].id
  cidr_block        = ["10.80.11.0/24", "10.80.12.0/24"][count.index]
  availability_zone = ["us-east-1a", "us-east-1b"][count.index]
  tags              = { Name = "N-private-${count.index}" }
}
resource "aws_subnet" "database" {
  count             = 2
  vpc_id            = aws_vpc.this[0].id
  cidr_block        = ["10.80.21.0/24", "10.80.22.0/24"][count.index]
  availability_zone = ["us-east-1a", "us-east-1b"][count.index]
  tags              = { Name = "N-db-${count.index}" }
}
resource "aws_internet_gateway" "this" {
  count  = 1
  vpc_id = aws_vpc.this[0].id
  tags   = { Name = "N" }
}
resource "aws_eip" "nat" {
  count  = 1
  domain = "vpc"
  tags   = { Name = "N-nat" }
}
resource "aws_nat_gateway" "this" {
  count         = 1
  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id
  tags          = { Name = "N" }
}
resource "aws_route_table" "public" {
  count  = 1
  vpc_id = aws_vpc.this[0].id
  tags   = { Name = "N-public" }
}
resource "aws_route" "public_internet_gateway" {
  count                  = 1
  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}
resource "aws_route_table" "private" {
  count  = 1
  vpc_id = aws_vpc.this[0].id
  tags   = { Name = "N-private" }
}
resource "aws_route" "private_nat_gateway" {
  count                  = 1
  route_table_id         = aws_route_table.private[0].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[0].id
}
resource "aws_route_table_association" "public" {
  count          = 2
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}
resource "aws_route_table_association" "private" {
  count          = 2
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[0].id
}
resource "aws_db_subnet_group" "database" {
  count       = 1
  name        = "N-db"
  description = "Database subnet group for N"
  subnet_ids  = aws_subnet.database[*].id
}
"""

SECURITY_GROUP_MODULE = """
resource "aws_security_group" "this_name_prefix" {
  name_prefix = "N-web-"
  description = "Security Group managed by Terraform"
  vpc_id      = aws_vpc.this[0].id
  tags        = { Name = "N-web" }
}
resource "aws_security_group" "admin" {
  name        = "N-admin"
  description = "admins"
  vpc_id      = aws_vpc.this[0].id
}
resource "aws_security_group_rule" "ingress_rules" {
  count             = 2
  type              = "ingress"
  security_group_id = aws_security_group.this_name_prefix.id
  protocol          = "tcp"
  from_port         = [80, 443][count.index]
  to_port           = [80, 443][count.index]
  cidr_blocks       = ["0.0.0.0/0"]
  description       = ["http", "https"][count.index]
}
resource "aws_security_group_rule" "ingress_with_self" {
  type              = "ingress"
  security_group_id = aws_security_group.this_name_prefix.id
  protocol          = "-1"
  from_port         = 0
  to_port           = 0
  self              = true
}
resource "aws_security_group_rule" "ingress_with_source_security_group_id" {
  type                     = "ingress"
  security_group_id        = aws_security_group.this_name_prefix.id
  protocol                 = "tcp"
  from_port                = 22
  to_port                  = 22
  source_security_group_id = aws_security_group.admin.id
}
resource "aws_security_group_rule" "egress_rules" {
  type              = "egress"
  security_group_id = aws_security_group.this_name_prefix.id
  protocol          = "-1"
  from_port         = 0
  to_port           = 0
  cidr_blocks       = ["0.0.0.0/0"]
}
resource "aws_vpc_security_group_ingress_rule" "postgres" {
  security_group_id = aws_security_group.admin.id
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
  cidr_ipv4         = "10.80.0.0/16"
}
"""

S3_BUCKET_MODULE = """
resource "aws_s3_bucket" "this" {
  count  = 1
  bucket = "N-assets"
  tags   = { team = "web" }
}
resource "aws_s3_bucket_versioning" "this" {
  count  = 1
  bucket = aws_s3_bucket.this[0].id
  versioning_configuration { status = "Enabled" }
}
resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  count  = 1
  bucket = aws_s3_bucket.this[0].id
  rule {
    apply_server_side_encryption_by_default { sse_algorithm = "AES256" }
  }
}
resource "aws_s3_bucket_public_access_block" "this" {
  count                   = 1
  bucket                  = aws_s3_bucket.this[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
resource "aws_s3_bucket_ownership_controls" "this" {
  count  = 1
  bucket = aws_s3_bucket.this[0].id
  rule { object_ownership = "BucketOwnerEnforced" }
}
resource "aws_s3_bucket_policy" "this" {
  count  = 1
  bucket = aws_s3_bucket.this[0].id
  policy = jsonencode({ Version = "2012-10-17", Statement = [{ Sid = "DenyInsecureTransport", Effect = "Deny",
    Principal = "*", Action = "s3:*", Resource = ["arn:aws:s3:::N-assets", "arn:aws:s3:::N-assets/*"],
    Condition = { Bool = { "aws:SecureTransport" = "false" } } }] })
}
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  count  = 1
  bucket = aws_s3_bucket.this[0].id
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter { prefix = "logs/" }
    expiration { days = 30 }
    noncurrent_version_expiration { noncurrent_days = 7 }
  }
}
"""

IAM_ROLE = """
resource "aws_iam_role" "this" {
  name               = "N-app"
  assume_role_policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow",
    Action = "sts:AssumeRole", Principal = { Service = "ec2.amazonaws.com" } }] })
}
resource "aws_iam_policy" "read" {
  name   = "N-read"
  policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["s3:GetObject"],
    Resource = "*" }] })
}
resource "aws_iam_role_policy_attachment" "custom" {
  role       = aws_iam_role.this.name
  policy_arn = aws_iam_policy.read.arn
}
resource "aws_iam_policy" "ssm" {
  name   = "N-ssm"
  policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["ssm:GetParameter"],
    Resource = "*" }] })
}
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.this.name
  policy_arn = aws_iam_policy.ssm.arn
}
resource "aws_iam_role_policy" "inline" {
  name   = "logs"
  role   = aws_iam_role.this.id
  policy = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["logs:PutLogEvents"],
    Resource = "*" }] })
}
resource "aws_iam_instance_profile" "this" {
  name = "N-app"
  role = aws_iam_role.this.name
}
"""

RDS_MODULE = """
resource "aws_db_parameter_group" "this" {
  name   = "N-pg"
  family = "postgres16"
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}
resource "aws_db_instance" "this" {
  identifier              = "N-db"
  engine                  = "postgres"
  engine_version          = "16.3"
  instance_class          = "db.t3.micro"
  allocated_storage       = 20
  username                = "app"
  password                = "N-Pa55word"
  db_subnet_group_name    = aws_db_subnet_group.database[0].name
  parameter_group_name    = aws_db_parameter_group.this.name
  vpc_security_group_ids  = [aws_security_group.admin.id]
  storage_encrypted       = true
  multi_az                = true
  backup_retention_period = 7
  deletion_protection     = false
  skip_final_snapshot     = true
}
"""

PATTERNS = {"vpc module": VPC_MODULE, "security-group module": SECURITY_GROUP_MODULE,
            "s3-bucket module": S3_BUCKET_MODULE, "iam role pattern": IAM_ROLE, "rds module": RDS_MODULE}


def group_id(url: str, prefix: str) -> str:
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=url, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{prefix}*"]}])[
        "SecurityGroups"]
    return str(group["GroupId"])


@pytest.fixture(scope="module")
def moto(own_moto: Any) -> Any:
    """This module's own moto server (see conftest.own_moto)."""
    return own_moto


def test_public_module_patterns_migrate_with_no_change_and_stay_managed(cli: Cli, tmp_path: Path, moto: Any,
                                                                         uid: str) -> None:
    name = f"c{uid[1:7]}"
    tf = TerraformDir(tmp_path / "tf", moto.url, "".join(PATTERNS.values()).replace("N-", f"{name}-").replace(
        '"N"', f'"{name}"').replace(":::N-", f":::{name}-"))
    tf.init()
    tf.apply()
    show = subprocess.run([tf.binary, "show", "-json"], cwd=tf.dir, env=tf.env, capture_output=True, text=True,
                          check=True).stdout
    state = write(tmp_path / "show.json", show)
    cli.env.update(moto.env)
    cli.env["THIS_MASTER_PASSWORD"] = f"{name}-Pa55word"
    out = tmp_path / "migrated"
    run = cli("migrate", "terraform", str(state), "--out", str(out), "--name", name, "--endpoint-url", moto.url,
              "--verify", check=0)
    assert "Verified: the first plan makes no change." in run.out, run.text
    for folded in ("aws_security_group_rule.ingress_with_self", "aws_route.private_nat_gateway[0]",
                   'aws_route_table_association.public[1]', "aws_s3_bucket_lifecycle_configuration.this[0]",
                   "aws_iam_role_policy.inline", "aws_vpc_security_group_ingress_rule.postgres"):
        assert f"merged: {folded}" in run.out, (folded, run.out)
    assert "not migrated: aws_default_security_group.this[0] (aws_default_security_group)" in run.out
    assert "object ownership is left unmanaged" in run.out  # said, never silently dropped
    plan = cli("plan", "--detailed-exitcode", str(out), check=0)
    assert "No changes." in plan.out

    spec = {f"{r['type']}.{r['name']}": r for r in yaml.safe_load((out / "main.yaml").read_text())["resources"]}
    web = spec["aws.security_group.this_name_prefix"]
    assert {"protocol": "all", "source_security_group_ids": [group_id(moto.url, f"{name}-web-")]} in web["ingress"]
    assert {"protocol": "tcp", "from_port": 22, "to_port": 22,
            "source_security_group_ids": ["${aws.security_group.admin.id}"]} in web["ingress"]
    role = spec["aws.iam_role.this"]
    assert role["managed_policy_arns"] == ["${aws.iam_policy.read.arn}", "${aws.iam_policy.ssm.arn}"]
    assert list(role["inline_policies"]) == ["logs"]
    database = spec["aws.rds_instance.this"]
    assert database["storage_encrypted"] is True and database["multi_az"] is True

    # managed from now on: a rule revoked and a route deleted behind reconcile's back come back
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{name}-web-*"]}])[
        "SecurityGroups"]
    ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    drifted = cli("plan", str(out), check=0).out
    assert "~ aws.security_group.this_name_prefix" in drifted and "443" in drifted, drifted
    cli("apply", "--auto-approve", str(out), check=0)
    (group,) = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"]
    assert any(p.get("FromPort") == 443 for p in group["IpPermissions"])
    assert "No changes." in cli("plan", str(out), check=0).out

    # the share carried: resources mapped or folded, against all of the state's managed resources
    resources = [r for r in json.loads(show)["values"]["root_module"]["resources"] if r["mode"] == "managed"]
    carried = sum(1 for r in resources if f"not migrated: {r['address']} " not in run.out)
    print(f"\ncorpus: {carried} of {len(resources)} Terraform resources carried ({100 * carried // len(resources)}%)")
    assert carried >= len(resources) - 1  # all but the default security group
