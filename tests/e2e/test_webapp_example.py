"""specs/examples/webapp, the whole web application, against moto over HTTP: applied from nothing
(35 objects in dependency order), planned again with no changes, and destroyed in reverse order,
all in one workspace of its own."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import Cli
from tests.e2e.test_aws import acli  # noqa: F401 - fixture shared

ROOT = Path(__file__).resolve().parents[2]


def test_the_web_app_example_applies_replans_clean_and_destroys(acli: Cli, tmp_path: Path, moto: Any,  # noqa: F811
                                                                uid: str) -> None:
    spec = tmp_path / "webapp"
    shutil.copytree(ROOT / "specs/examples/webapp", spec)
    site = spec / "site.yaml"
    site.write_text(site.read_text().replace("http://127.0.0.1:5000", moto.url))
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    acli.env["DB_PASSWORD"] = "changeme1"
    ws = ["--workspace", uid, "--var", f"image={image}"]

    plan = acli(*ws, "plan", str(spec), check=0).out
    assert "Plan: 35 to add, 0 to change, 0 to destroy." in plan, plan[-2000:]
    run = acli(*ws, "apply", "--auto-approve", str(spec), check=0)
    assert "Apply complete! Resources: 35 added" in run.out, run.out[-3000:]

    name = f"webapp-{uid}"
    elb = boto3.client("elbv2", region_name="us-east-1", endpoint_url=moto.url)
    (lb,) = elb.describe_load_balancers(Names=[name])["LoadBalancers"]
    asg = boto3.client("autoscaling", region_name="us-east-1", endpoint_url=moto.url)
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{name}-web"])["AutoScalingGroups"]
    assert len(group["Instances"]) == 2 and group["TargetGroupARNs"]
    rds = boto3.client("rds", region_name="us-east-1", endpoint_url=moto.url)
    (db,) = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"]
    assert db["MultiAZ"] and db["StorageEncrypted"] and db["DBSubnetGroup"]["DBSubnetGroupName"] == name
    outputs = acli(*ws, "output", "url", "--spec", str(spec), check=0).out
    assert lb["DNSName"] in outputs, outputs

    again = acli(*ws, "plan", str(spec), check=0).out
    assert "No changes." in again, again[-3000:]

    site.write_text(site.read_text().split("resources:")[0] + "resources: []\n")
    gone = acli(*ws, "apply", "--auto-approve", "--allow-data-loss", str(spec), check=0)
    assert "35 destroyed" in gone.out, gone.out[-3000:]
    assert not asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{name}-web"])["AutoScalingGroups"]
    assert name not in [b["LoadBalancerName"] for b in elb.describe_load_balancers()["LoadBalancers"]]
    assert not [v for v in ec2.describe_vpcs(Filters=[{"Name": "tag:reconcile:stack",
                                                       "Values": [f"webapp/{uid}"]}])["Vpcs"]]
    snapshots = rds.describe_db_snapshots(DBInstanceIdentifier=name)["DBSnapshots"]
    assert [s for s in snapshots if s["DBSnapshotIdentifier"].startswith(f"{name}-final-")]
