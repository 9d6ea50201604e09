"""DNS and certificates against moto over HTTP: a hosted zone, an alias record to a load balancer, a
TXT record, a certificate whose DNS validation record is written into the zone from its outputs.
Create, a read-only no-change plan (one list per type, one record listing per zone), in-place changes,
drift made with boto3 (shown and repaired), a record already in the zone refused until imported, and
deletion: the records reconcile made go with the zone, the imported one is forgotten and, while it is
still in the zone, deleting the zone is refused as data loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from tests.conftest import Cli, write
from tests.e2e.test_aws import acli, in_process_plan  # noqa: F401 - fixtures and helpers shared


def client(moto: Any, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url)


def spec(spec_dir: Path, moto: Any, uid: str, txt: str = "v=spf1 -all", ttl: int = 300, extra: str = "") -> None:
    octet = int(uid[1:3], 16) % 250
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.vpc, name: net, cidr_block: 10.{octet}.0.0/16}}
  - {{type: aws.subnet, name: a, vpc_id: "${{aws.vpc.net.id}}", cidr_block: 10.{octet}.1.0/24, availability_zone: us-east-1a}}
  - {{type: aws.subnet, name: b, vpc_id: "${{aws.vpc.net.id}}", cidr_block: 10.{octet}.2.0/24, availability_zone: us-east-1b}}
  - {{type: aws.lb, name: web, lb_name: web-{uid}, subnets: ["${{aws.subnet.a.id}}", "${{aws.subnet.b.id}}"]}}
  - {{type: aws.route53_zone, name: main, zone_name: {uid}.example.com, comment: public, tags: {{team: web}}}}
  - type: aws.route53_record
    name: www
    zone_id: "${{aws.route53_zone.main.zone_id}}"
    record_name: www.{uid}.example.com
    record_type: A
    alias: {{name: "${{aws.lb.web.dns_name}}", zone_id: "${{aws.lb.web.zone_id}}"}}
  - type: aws.route53_record
    name: spf
    zone_id: "${{aws.route53_zone.main.zone_id}}"
    record_name: {uid}.example.com
    record_type: TXT
    ttl: {ttl}
    records: ['"{txt}"']
  - type: aws.acm_certificate
    name: web
    domain_name: www.{uid}.example.com
    subject_alternative_names: [{uid}.example.com]
    lifecycle: {{create_before_destroy: true}}
  - type: aws.route53_record
    name: validation
    zone_id: "${{aws.route53_zone.main.zone_id}}"
    record_name: "${{aws.acm_certificate.web.validation_record_name}}"
    record_type: CNAME
    records: ["${{aws.acm_certificate.web.validation_record_value}}"]
{extra}""")


def test_zone_records_and_certificate(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:  # noqa: F811
    r53, acm = client(moto, "route53"), client(moto, "acm")
    spec(spec_dir, moto, uid)
    acli("apply", "--auto-approve", "spec", check=0)
    (zone,) = [z for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == f"{uid}.example.com."]
    sets = {(s["Name"], s["Type"]): s for s in r53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]}
    (lb,) = client(moto, "elbv2").describe_load_balancers(Names=[f"web-{uid}"])["LoadBalancers"]
    assert sets[(f"www.{uid}.example.com.", "A")]["AliasTarget"]["DNSName"].rstrip(".") == lb["DNSName"]
    assert sets[(f"{uid}.example.com.", "TXT")]["ResourceRecords"] == [{"Value": '"v=spf1 -all"'}]
    (cert,) = [c for c in acm.list_certificates()["CertificateSummaryList"] if c["DomainName"] == f"www.{uid}.example.com"]
    option = acm.describe_certificate(CertificateArn=cert["CertificateArn"])["Certificate"]["DomainValidationOptions"][0]
    validation = [s for (name, kind), s in sets.items() if kind == "CNAME"]
    assert validation and validation[0]["ResourceRecords"][0]["Value"] == option["ResourceRecord"]["Value"]

    plan, calls = in_process_plan(spec_dir)  # nothing to do; reads only
    assert not plan.actionable, [c.address for c in plan.actionable]
    assert all(c.startswith(("Describe", "List", "Get")) for c in calls), calls
    assert calls["ListHostedZones"] == 1 and calls["ListResourceRecordSets"] == 1, calls
    assert calls["ListCertificates"] == 1, calls

    # in place: new TXT value and TTL
    spec(spec_dir, moto, uid, txt="v=spf1 include:mail.example.com -all", ttl=60)
    plan = acli("plan", "spec", check=0).out
    assert "~ aws.route53_record.spf" in plan and "~ ttl     = 300 -> 60" in plan and "-/+" not in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in acli("plan", "spec", check=0).out

    # drift: the TXT record rewritten behind the tool's back
    r53.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch={"Changes": [{"Action": "UPSERT",
        "ResourceRecordSet": {"Name": f"{uid}.example.com.", "Type": "TXT", "TTL": 60,
                              "ResourceRecords": [{"Value": '"hacked"'}]}}]})
    plan = acli("plan", "spec", check=0).out
    assert 'records = ["\\"hacked\\""] -> ' in plan and "~ aws.route53_record.spf" in plan, plan
    acli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in acli("plan", "spec", check=0).out

    # a record that is already in the zone is not overwritten without import: true
    r53.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch={"Changes": [{"Action": "UPSERT",
        "ResourceRecordSet": {"Name": f"mail.{uid}.example.com.", "Type": "MX", "TTL": 300,
                              "ResourceRecords": [{"Value": "10 mx.other.example."}]}}]})
    mail = f"""  - type: aws.route53_record
    name: mail
    zone_id: "${{aws.route53_zone.main.zone_id}}"
    record_name: mail.{uid}.example.com
    record_type: MX
    records: ["10 mx.{uid}.example.com."]
"""
    spec(spec_dir, moto, uid, txt="v=spf1 include:mail.example.com -all", ttl=60, extra=mail)
    refused = acli("plan", "spec")
    assert refused.rc == 1 and "already exists in zone" in refused.out and "set import: true" in refused.out, \
        refused.text
    spec(spec_dir, moto, uid, txt="v=spf1 include:mail.example.com -all", ttl=60, extra=mail + "    import: true\n")
    acli("apply", "--auto-approve", "spec", check=0)
    sets = {(s["Name"], s["Type"]): s for s in r53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]}
    assert sets[(f"mail.{uid}.example.com.", "MX")]["ResourceRecords"] == [{"Value": f"10 mx.{uid}.example.com."}]

    # removal: the imported record existed before reconcile, so it is forgotten, not deleted, and the zone
    # that still holds it is a hazard until it is gone
    write(spec_dir / "site.yaml", f'aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}\nresources: []\n')
    held = acli("apply", "--auto-approve", "spec")
    assert held.rc == 1 and f"zone {uid}.example.com. holds 1 records" in held.out, held.text
    assert "aws.route53_record.mail will be forgotten, not destroyed" in held.out
    r53.change_resource_record_sets(HostedZoneId=zone["Id"], ChangeBatch={"Changes": [{"Action": "DELETE",
        "ResourceRecordSet": sets[(f"mail.{uid}.example.com.", "MX")]}]})
    acli("apply", "--auto-approve", "spec", check=0)
    assert f"{uid}.example.com." not in [z["Name"] for z in r53.list_hosted_zones()["HostedZones"]]
    assert not [c for c in acm.list_certificates()["CertificateSummaryList"] if uid in c["DomainName"]]
