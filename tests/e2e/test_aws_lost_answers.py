"""Every AWS type under lost answers: the web-app example plus one resource of each type it lacks, applied
through a proxy that loses the answer to about a third of every service's creations (the create happens,
the client gets a 500). Each type must end with exactly one object per resource: API idempotency tokens
(ClientToken, CallerReference, IdempotencyToken), tags at create time and a look-up before trying again."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Cli, write
from tests.e2e.test_aws import acli  # noqa: F401 - fixture shared
from tests.harness.fault_proxy import FaultProxy, Faults

ROOT = Path(__file__).resolve().parents[2]

EXTRAS = """resources:
  - {type: aws.sqs_queue, name: alerts, queue_name: "webapp-{{ workspace }}-alert-log"}
  - {type: aws.sns_subscription, name: alerts, topic_arn: "${aws.sns_topic.alerts.arn}", protocol: sqs,
     endpoint: "${aws.sqs_queue.alerts.arn}"}
  - {type: aws.iam_user, name: deployer, user_name: "webapp-{{ workspace }}-deployer"}
  - {type: aws.acm_certificate, name: www, domain_name: "www.{{ workspace }}.example.com"}
  - {type: aws.route53_zone, name: main, zone_name: "{{ workspace }}.example.com"}
  - {type: aws.route53_record, name: www, zone_id: "${aws.route53_zone.main.zone_id}",
     record_name: "www.{{ workspace }}.example.com", record_type: CNAME, ttl: 60,
     records: ["${aws.lb.web.dns_name}"]}
  - {type: aws.ec2_instance, name: bastion, image_id: "{{ image }}", instance_type: t3.micro,
     subnet_id: "${aws.subnet.public[a].id}"}
  - {type: aws.ebs_volume, name: scratch, availability_zone: us-east-1a, size: 8}
"""


@pytest.fixture(scope="module")
def moto(own_moto: Any) -> Any:
    """This module's own moto server (see conftest.own_moto)."""
    return own_moto


def client(url: str, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def ec2_objects(url: str, stack: str) -> Counter[str]:
    """reconcile:address -> how many EC2 objects carry it (instances and NAT gateways still alive)."""
    ec2 = client(url, "ec2")
    mine = [{"Name": "tag:reconcile:stack", "Values": [stack]}]
    found: Counter[str] = Counter()
    listings = [
        ("describe_vpcs", "Vpcs"), ("describe_subnets", "Subnets"), ("describe_security_groups", "SecurityGroups"),
        ("describe_internet_gateways", "InternetGateways"), ("describe_route_tables", "RouteTables"),
        ("describe_addresses", "Addresses"), ("describe_volumes", "Volumes"), ("describe_vpc_endpoints", "VpcEndpoints"),
        ("describe_launch_templates", "LaunchTemplates"), ("describe_nat_gateways", "NatGateways")]
    for operation, key in listings:
        for item in getattr(ec2, operation)(Filters=mine)[key]:
            if item.get("State") in ("deleted", "deleting"):
                continue
            found[next(t["Value"] for t in item.get("Tags") or [] if t["Key"] == "reconcile:address")] += 1
    for reservation in ec2.describe_instances(Filters=[*mine, {"Name": "instance-state-name",
                                                                "Values": ["pending", "running"]}])["Reservations"]:
        for instance in reservation["Instances"]:
            found[next(t["Value"] for t in instance["Tags"] if t["Key"] == "reconcile:address")] += 1
    return found


def test_every_type_under_lost_answers_leaves_one_object_per_resource(acli: Cli,  # noqa: F811
                                                                       tmp_path: Path, moto: Any,
                                                                       uid: str) -> None:
    faults = Faults(lose=0.3, every_service=True)
    proxy = FaultProxy(moto.url, faults)
    try:
        spec = tmp_path / "webapp"
        shutil.copytree(ROOT / "specs/examples/webapp", spec)
        site = spec / "site.yaml"
        site.write_text(site.read_text().replace("endpoint_url: http://127.0.0.1:5000",
                                                 f"endpoint_url: {proxy.url}\n  max_attempts: 12"))
        write(spec / "extras.yaml", EXTRAS)
        image = client(moto.url, "ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        acli.env["DB_PASSWORD"] = "changeme1"
        ws = ["--workspace", uid, "--var", f"image={image}"]
        types = {line.split("type: ")[1].split(",")[0].split()[0] for line in
                 (site.read_text() + EXTRAS).splitlines() if "type: aws." in line}
        assert len(types) == 35, sorted(types)  # every AWS type

        runs = [acli(*ws, "apply", "--auto-approve", str(spec))]
        while runs[-1].rc != 0 and len(runs) < 5:  # converges, in this run or the next
            runs.append(acli(*ws, "apply", "--auto-approve", str(spec)))
        assert runs[-1].rc == 0, runs[-1].text[-3000:]
        assert faults.counts["lost"] >= 10, faults.counts
        again = acli(*ws, "plan", str(spec), check=0).out
        assert "No changes." in again, again[-3000:]

        stack = f"webapp/{uid}"
        found = ec2_objects(moto.url, stack)
        assert found and all(n == 1 for n in found.values()), found  # tagged at create: no orphan, no duplicate
        zones = client(moto.url, "route53").list_hosted_zones_by_name(DNSName=f"{uid}.example.com")["HostedZones"]
        assert [z["Name"] for z in zones].count(f"{uid}.example.com.") == 1, zones
        certificates = client(moto.url, "acm").list_certificates()["CertificateSummaryList"]
        assert [c["DomainName"] for c in certificates].count(f"www.{uid}.example.com") == 1, certificates
        subscriptions = client(moto.url, "sns").list_subscriptions()["Subscriptions"]
        assert [s["Endpoint"].rsplit(":", 1)[-1] for s in subscriptions].count(f"webapp-{uid}-alert-log") == 1
        state = acli(*ws, "state", "list", "--spec", str(spec), check=0).out
        assert len([line for line in state.splitlines() if line.startswith("aws.")]) == 43, state
    finally:
        proxy.stop()
