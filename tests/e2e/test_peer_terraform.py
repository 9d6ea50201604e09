"""The same AWS stack built by Terraform (1.11, AWS provider 5.100) and by reconcile on one moto endpoint,
compared end state by end state: what each API reports for the objects, apart from names, ids and
reconcile's own ownership tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Cli, write
from tests.harness.terraform import TerraformDir, terraform

pytestmark = pytest.mark.skipif(terraform() is None, reason="terraform is not installed on this machine")

TERRAFORM = """
resource "aws_vpc" "main" {
  cidr_block           = "10.91.0.0/16"
  enable_dns_hostnames = true
  tags                 = { team = "web", stack = "NAME" }
}
resource "aws_subnet" "a" {
  vpc_id                  = aws_vpc.main.id
  cidr_block              = "10.91.1.0/24"
  map_public_ip_on_launch = true
  tags                    = { tier = "public" }
}
resource "aws_security_group" "web" {
  name        = "NAME-web"
  description = "web servers"
  vpc_id      = aws_vpc.main.id
  ingress {
    protocol         = "tcp"
    from_port        = 443
    to_port          = 443
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }
  ingress {
    protocol    = "tcp"
    from_port   = 22
    to_port     = 22
    cidr_blocks = ["10.0.0.0/8"]
  }
  egress {
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }
}
resource "aws_s3_bucket" "logs" {
  bucket = "NAME-logs"
  tags   = { team = "data" }
}
resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration { status = "Enabled" }
}
resource "aws_dynamodb_table" "sessions" {
  name         = "NAME-sessions"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"
  range_key    = "at"
  attribute {
    name = "id"
    type = "S"
  }
  attribute {
    name = "at"
    type = "N"
  }
  tags = { team = "web" }
}
"""

RECONCILE = """resources:
  - {type: aws.vpc, name: main, cidr_block: 10.91.0.0/16, enable_dns_hostnames: true, tags: {team: web, stack: NAME}}
  - {type: aws.subnet, name: a, vpc_id: "${aws.vpc.main.id}", cidr_block: 10.91.1.0/24, map_public_ip_on_launch: true,
     tags: {tier: public}}
  - type: aws.security_group
    name: web
    group_name: NAME-web
    description: web servers
    vpc_id: "${aws.vpc.main.id}"
    ingress:
      - {protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0], ipv6_cidr_blocks: ["::/0"]}
      - {protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: [10.0.0.0/8]}
    egress:
      - {protocol: all, cidr_blocks: [0.0.0.0/0]}
  - {type: aws.s3_bucket, name: logs, bucket: NAME-logs, versioning: true, tags: {team: data}}
  - {type: aws.dynamodb_table, name: sessions, table_name: NAME-sessions, billing_mode: PAY_PER_REQUEST,
     hash_key: id, range_key: at, attributes: {id: S, at: N}, tags: {team: web}}
"""


def end_state(moto: Any, name: str) -> dict[str, Any]:
    """What the APIs report for the stack tagged stack=NAME / named NAME-…, with names and ids left out."""
    def client(service: str) -> Any:
        return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    def user_tags(tags: Any) -> dict[str, str]:
        items = tags.items() if isinstance(tags, dict) else ((t["Key"], t["Value"]) for t in tags or [])
        return {k: v for k, v in items if not k.startswith(("reconcile:", "aws:"))}

    ec2, s3, ddb = client("ec2"), client("s3"), client("dynamodb")
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "tag:stack", "Values": [name]}])["Vpcs"]
    dns = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")["EnableDnsHostnames"]
    (subnet,) = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{name}-web"]}])[
        "SecurityGroups"]

    def rules(permissions: Any) -> list[Any]:
        out = []
        for p in permissions:
            for key, field in (("IpRanges", "CidrIp"), ("Ipv6Ranges", "CidrIpv6")):
                for r in p.get(key) or []:
                    out.append((p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r[field]))
        return sorted(out, key=str)

    table = ddb.describe_table(TableName=f"{name}-sessions")["Table"]
    return {
        "vpc": {"cidr": vpc["CidrBlock"], "dns_hostnames": dns["Value"], "tags": user_tags(vpc.get("Tags")),
                "tenancy": vpc.get("InstanceTenancy")},
        "subnet": {"cidr": subnet["CidrBlock"], "public_ip": subnet["MapPublicIpOnLaunch"],
                   "tags": user_tags(subnet.get("Tags"))},
        "group": {"description": group["Description"], "ingress": rules(group["IpPermissions"]),
                  "egress": rules(group["IpPermissionsEgress"]), "tags": user_tags(group.get("Tags"))},
        "bucket": {"versioning": s3.get_bucket_versioning(Bucket=f"{name}-logs").get("Status"),
                   "tags": user_tags(s3.get_bucket_tagging(Bucket=f"{name}-logs")["TagSet"])},
        "table": {"keys": sorted((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]),
                  "attributes": sorted((a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]),
                  "billing": (table.get("BillingModeSummary") or {}).get("BillingMode"),
                  "tags": user_tags(ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"])},
    }


def test_the_same_stack_built_by_terraform_and_by_reconcile(cli: Cli, spec_dir: Path, tmp_path: Path, moto: Any,
                                                            uid: str) -> None:
    tf_name, rc_name = f"{uid}-tf", f"{uid}-rc"
    tf = TerraformDir(tmp_path / "tf", moto.url, TERRAFORM.replace("NAME", tf_name))
    tf.init()
    tf.apply()
    cli.env.update(moto.env)
    write(spec_dir / "site.yaml", f'name: {rc_name}\naws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\n'
          + RECONCILE.replace("NAME", rc_name))
    cli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in cli("plan", "spec", check=0).out
    by_terraform, by_reconcile = end_state(moto, tf_name), end_state(moto, rc_name)
    for part in by_terraform:
        for key in by_terraform[part]:
            got, wanted = by_reconcile[part][key], by_terraform[part][key]
            if key == "tags" and "stack" in wanted:
                got, wanted = {**got, "stack": "-"}, {**wanted, "stack": "-"}
            assert got == wanted, (part, key, got, wanted)
    # an out-of-band IPv6 rule is seen and revoked like any other
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{rc_name}-web"]}])[
        "SecurityGroups"]
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    plan = cli("plan", "spec", check=0)
    assert "~ aws.security_group.web" in plan.out and "::/0" in plan.out
    cli("apply", "--auto-approve", "spec", check=0)
    assert end_state(moto, rc_name)["group"]["ingress"] == by_terraform["group"]["ingress"]
    tf.destroy()
    write(spec_dir / "site.yaml", f'name: {rc_name}\naws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\n'
          "resources: []\n")
    cli("apply", "--auto-approve", "spec", check=0)
