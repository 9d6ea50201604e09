"""AWS under faults, through a fault-injecting proxy in front of moto: lost answers to creates never leave
duplicates or orphans, throttling keeps working, and a duplicate planted by hand is reported (drift class
`duplicate`) and removed by apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Cli, write
from tests.harness.fault_proxy import FaultProxy, Faults


def client(moto: Any, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def stack_spec(spec_dir: Path, uid: str, url: str, resources: str) -> None:
    write(spec_dir / "site.yaml", f'name: {uid}\naws: {{region: us-east-1, endpoint_url: "{url}", max_attempts: 12}}\n'
                                  f"resources:\n{resources}")


NETWORK = "".join(
    f"  - {{type: aws.vpc, name: v{i}, cidr_block: 10.{40 + i}.0.0/16}}\n"
    f"  - {{type: aws.subnet, name: s{i}, vpc_id: \"${{aws.vpc.v{i}.id}}\", cidr_block: 10.{40 + i}.1.0/24}}\n"
    f"  - {{type: aws.security_group, name: g{i}, group_name: \"GROUP-{i}\", vpc_id: \"${{aws.vpc.v{i}.id}}\",\n"
    f"      ingress: [{{protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0]}}]}}\n"
    for i in range(4)) + "".join(f"  - {{type: aws.s3_bucket, name: b{i}, bucket: BUCKET-{i}}}\n" for i in range(3))


def tagged(moto: Any, stack: str) -> dict[str, list[str]]:
    ec2 = client(moto, "ec2")
    out: dict[str, list[str]] = {}
    for op, key, ident in (("describe_vpcs", "Vpcs", "VpcId"), ("describe_subnets", "Subnets", "SubnetId"),
                           ("describe_security_groups", "SecurityGroups", "GroupId")):
        for item in getattr(ec2, op)(Filters=[{"Name": "tag:reconcile:stack", "Values": [stack]}])[key]:
            address = next(t["Value"] for t in item["Tags"] if t["Key"] == "reconcile:address")
            out.setdefault(address, []).append(item[ident])
    return out


@pytest.mark.parametrize("mode", ["lose", "throttle"])
def test_faults_leave_no_duplicates(cli: Cli, spec_dir: Path, moto: Any, uid: str, mode: str) -> None:
    faults = Faults(lose=0.3) if mode == "lose" else Faults(throttle=0.3)
    proxy = FaultProxy(moto.url, faults)
    try:
        cli.env.update(moto.env)
        body = NETWORK.replace("GROUP", f"g-{uid}").replace("BUCKET", f"{uid}-{mode}")
        stack_spec(spec_dir, f"{uid}-{mode}", proxy.url, body)
        for _ in range(3):  # converges, in this run or the next
            if cli("apply", "--auto-approve", "spec").rc == 0:
                break
        assert "No changes." in cli("plan", "spec", check=0).out
        found = tagged(moto, f"{uid}-{mode}/default")
        assert sorted(found) == sorted([f"aws.vpc.v{i}" for i in range(4)] + [f"aws.subnet.s{i}" for i in range(4)]
                                       + [f"aws.security_group.g{i}" for i in range(4)])
        assert all(len(ids) == 1 for ids in found.values()), found  # no duplicate, no orphan
        assert faults.counts["lost" if mode == "lose" else "throttled"] > 0, faults.counts
        stack_spec(spec_dir, f"{uid}-{mode}", proxy.url, "  []\n")
        for _ in range(3):
            if cli("apply", "--auto-approve", "spec").rc == 0:
                break
        assert tagged(moto, f"{uid}-{mode}/default") == {}
    finally:
        proxy.stop()


def test_a_planted_duplicate_is_reported_and_removed(cli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    cli.env.update(moto.env)
    stack_spec(spec_dir, uid, moto.url, "  - {type: aws.vpc, name: main, cidr_block: 10.60.0.0/16}\n")
    cli("apply", "--auto-approve", "spec", check=0)
    ec2 = client(moto, "ec2")
    copy = ec2.create_vpc(CidrBlock="10.60.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [
        {"Key": "reconcile:address", "Value": "aws.vpc.main"}, {"Key": "reconcile:stack", "Value": f"{uid}/default"}]}])
    copy_id = copy["Vpc"]["VpcId"]
    drift = cli("drift", "--format", "json", "spec")
    assert drift.rc == 2
    (item,) = json.loads(drift.out)["items"]
    assert item["kind"] == "duplicate" and item["address"] == "aws.vpc.main"
    assert "duplicate:" in cli("drift", "spec").out
    plan = cli("plan", "spec", check=0)
    assert "remove duplicates tagged as this resource" in plan.out and copy_id in plan.out
    cli("apply", "--auto-approve", "spec", check=0)
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [copy_id]}])["Vpcs"]
    assert len(tagged(moto, f"{uid}/default")["aws.vpc.main"]) == 1
    stack_spec(spec_dir, uid, moto.url, "  []\n")
    cli("apply", "--auto-approve", "spec", check=0)
