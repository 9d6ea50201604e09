"""Provision, then configure, in one run: inventory groups whose hosts are EC2 instances (moto over HTTP),
reached (through their tags) at the harness's real sshd hosts.

- `from: ${aws.ec2_instance.web}`: the plan shows the files on the instances still to be created as known
  after apply; apply creates the instances, waits for SSH, records the new host keys (accept-new) and
  configures them in the same run; the next plan changes nothing; drift on one host is shown and
  repaired; an instance removed from the spec takes its host out of the group (its file is forgotten).
- `from: {type: aws.ec2_instance, tags: …}`: an existing fleet (instances made with boto3) as a dynamic
  inventory, `reconcile inventory list` (text and Ansible JSON), host keys pinned from a tag (a wrong
  one is refused).
- `from: ${aws.autoscaling_group.web}`: the instances an auto scaling group launches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Cli, SSHFleet, write
from tests.e2e.test_aws import acli  # noqa: F401 - the fixture


@pytest.fixture
def pcli(acli: Cli, ssh_hosts: SSHFleet) -> Cli:  # noqa: F811
    acli.env["HOME"] = str(acli.cwd)  # no ~/.ssh/known_hosts of the machine's user
    return acli


def ec2(moto: Any) -> Any:
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url)


def image(moto: Any) -> str:
    return str(ec2(moto).describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


def instances_spec(spec_dir: Path, moto: Any, fleet: SSHFleet, uid: str, members: dict[str, int]) -> None:
    ports = "{" + ", ".join(f"{k}: {v}" for k, v in members.items()) + "}"
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
inventory:
  host_key_checking: accept-new
  known_hosts: known_hosts
  groups:
    web:
      from: "${{aws.ec2_instance.web}}"
      address: "{{{{ instance.tags.ssh_address }}}}"
      port: "{{{{ instance.tags.ssh_port }}}}"
      user: root
      key_file: {fleet.key}
      ssh_wait: 60
      vars: {{role: frontend}}
resources:
  - type: aws.ec2_instance
    name: web
    for_each: {ports}
    image_id: {image(moto)}
    tags: {{role: web-{uid}, ssh_address: 127.0.0.1, ssh_port: "{{{{ each.value }}}}"}}
  - type: file
    name: motd
    on: web
    path: /tmp/{uid}/motd
    content: "{{{{ host.name }}}} is a {{{{ host.vars.role }}}}\\n"
""")


def running(moto: Any, uid: str) -> dict[str, str]:
    """ssh port -> instance id, of this test's running instances."""
    found = ec2(moto).describe_instances(Filters=[{"Name": "tag:role", "Values": [f"web-{uid}"]},
                                                  {"Name": "instance-state-name", "Values": ["running"]}])
    return {t["Value"]: i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]
            for t in i["Tags"] if t["Key"] == "ssh_port"}


def test_instances_made_and_configured_in_one_run(pcli: Cli, spec_dir: Path, moto: Any, ssh_hosts: SSHFleet,
                                                   uid: str) -> None:
    h0, h1 = ssh_hosts.hosts[0], ssh_hosts.hosts[1]
    instances_spec(spec_dir, moto, ssh_hosts, uid, {"a": h0.port, "b": h1.port})
    pcli("validate", "spec", check=0)

    plan = pcli("plan", "spec", check=0).out
    assert "+ aws.ec2_instance.web[a]" in plan, plan
    assert "+ file.motd[new-web-1]" in plan and "+ file.motd[new-web-2]" in plan, plan
    assert "on a new host of group web, from aws.ec2_instance.web: known after apply" in plan, plan
    assert "Plan: 4 to add, 0 to change, 0 to destroy." in plan, plan

    applied = pcli("apply", "--auto-approve", "spec", check=0).text
    ids = running(moto, uid)
    a, b = ids[str(h0.port)], ids[str(h1.port)]
    assert f"{a}: waiting for SSH on 127.0.0.1:{h0.port}" in applied and "configuring 2 new hosts" in applied, applied
    assert f"file.motd[{a}]" in applied and f"file.motd[{b}]" in applied, applied
    assert h0.exec(f"cat /tmp/{uid}/motd") == (0, f"{a} is a frontend\n")
    assert h1.exec(f"cat /tmp/{uid}/motd") == (0, f"{b} is a frontend\n")
    known = (spec_dir / "known_hosts").read_text()  # the new hosts' keys, recorded under accept-new
    assert f"[127.0.0.1]:{h0.port} ssh-" in known and f"[127.0.0.1]:{h1.port} ssh-" in known, known

    pcli("plan", "--detailed-exitcode", "spec", check=0)  # the hosts are found and nothing is left to do

    listed = pcli("inventory", "list", "spec", check=0).out
    assert a in listed and f"127.0.0.1:{h0.port}" in listed and "web (from aws.ec2_instance.web)" in listed, listed

    pcli("drift", "spec", check=0)  # the nightly job finds the group's hosts too: nothing drifted
    h1.exec(f"echo tampered > /tmp/{uid}/motd")  # drift on one host
    drifted = pcli("drift", "spec", check=2).out
    assert f"file.motd[{b}]" in drifted and f"file.motd[{a}]" not in drifted, drifted
    plan = pcli("plan", "spec", check=0).out
    assert f"~ file.motd[{b}]" in plan and f"file.motd[{a}]" not in plan, plan
    pcli("apply", "--auto-approve", "spec", check=0)
    assert h1.exec(f"cat /tmp/{uid}/motd") == (0, f"{b} is a frontend\n")

    # one instance less: it is terminated, and what was made on it is forgotten with its host
    instances_spec(spec_dir, moto, ssh_hosts, uid, {"a": h0.port})
    plan = pcli("plan", "spec", check=0).out
    assert "- aws.ec2_instance.web[b]" in plan and f"file.motd[{b}] will be forgotten" in plan, plan
    pcli("apply", "--auto-approve", "spec", check=0)
    assert set(running(moto, uid).values()) == {a}
    pcli("plan", "--detailed-exitcode", "spec", check=0)


def test_existing_fleet_as_dynamic_inventory(pcli: Cli, spec_dir: Path, moto: Any, ssh_hosts: SSHFleet,
                                             uid: str) -> None:
    host = ssh_hosts.hosts[2]
    _, kind, key = host.host_key_line().split()
    client = ec2(moto)
    made = client.run_instances(ImageId=image(moto), MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": "fleet", "Value": uid}, {"Key": "ssh_port", "Value": str(host.port)},
                                             {"Key": "host_key", "Value": f"{kind} {key}"}]}])
    instance = made["Instances"][0]["InstanceId"]
    spec = f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
inventory:
  groups:
    app:
      from: {{type: aws.ec2_instance, tags: {{fleet: {uid}}}}}
      host_name: "app-{{{{ instance.instance_id }}}}"
      address: 127.0.0.1
      port: "{{{{ instance.tags.ssh_port }}}}"
      user: root
      key_file: {ssh_hosts.key}
      host_key: "{{{{ instance.tags.HOST_KEY }}}}"
resources:
  - {{type: directory, name: d, on: app, path: /tmp/{uid}/app}}
"""
    write(spec_dir / "site.yaml", spec.replace("HOST_KEY", "host_key"))

    listed = json.loads(pcli("inventory", "list", "--json", "spec", check=0).out)  # what Ansible reads
    assert listed["app"]["hosts"] == [f"app-{instance}"], listed
    assert listed["_meta"]["hostvars"][f"app-{instance}"]["ansible_port"] == host.port, listed

    plan = pcli("plan", "spec", check=0).out  # an existing host: planned for real, nothing deferred
    assert f"+ directory.d[app-{instance}]" in plan and "known after apply" not in plan, plan
    pcli("apply", "--auto-approve", "spec", check=0)  # strict checking, no known_hosts: the pinned key
    assert host.exec(f"test -d /tmp/{uid}/app")[0] == 0
    assert not (spec_dir / "known_hosts").exists()
    pcli("plan", "--detailed-exitcode", "spec", check=0)

    other = " ".join(ssh_hosts.hosts[0].host_key_line().split()[1:])  # another host's key: refused
    client.create_tags(Resources=[instance], Tags=[{"Key": "other_key", "Value": other}])
    write(spec_dir / "site.yaml", spec.replace("HOST_KEY", "other_key"))
    failed = pcli("plan", "spec", check=1).text
    assert f"app-{instance} unreachable" in failed and "not the one the spec pins" in failed, failed


def test_group_from_an_auto_scaling_group(pcli: Cli, spec_dir: Path, moto: Any, ssh_hosts: SSHFleet,
                                          uid: str) -> None:
    host = ssh_hosts.hosts[0]
    octet = int(uid[1:3], 16) % 250
    write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
inventory:
  host_key_checking: accept-new
  known_hosts: known_hosts
  groups:
    web:
      from: "${{aws.autoscaling_group.web}}"
      address: 127.0.0.1
      port: {host.port}
      user: root
      key_file: {ssh_hosts.key}
      ssh_wait: 60
resources:
  - {{type: aws.vpc, name: net, cidr_block: 10.{octet}.0.0/16}}
  - {{type: aws.subnet, name: a, vpc_id: "${{aws.vpc.net.id}}", cidr_block: 10.{octet}.1.0/24, availability_zone: us-east-1a}}
  - {{type: aws.launch_template, name: web, launch_template_name: pc-{uid}, image_id: {image(moto)}}}
  - type: aws.autoscaling_group
    name: web
    group_name: pc-{uid}
    launch_template: {{id: "${{aws.launch_template.web.id}}", version: "${{aws.launch_template.web.latest_version}}"}}
    min_size: 1
    max_size: 1
    subnet_ids: ["${{aws.subnet.a.id}}"]
    instance_refresh: false
  - {{type: file, name: stamp, on: web, path: /tmp/{uid}/asg, content: "{{{{ host.name }}}}\\n"}}
""")
    plan = pcli("plan", "spec", check=0).out
    assert "+ file.stamp[new-web-1]" in plan and "from aws.autoscaling_group.web" in plan, plan
    pcli("apply", "--auto-approve", "spec", check=0)
    group = boto3.client("autoscaling", region_name="us-east-1", endpoint_url=moto.url).describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"pc-{uid}"])["AutoScalingGroups"][0]
    (instance,) = [i["InstanceId"] for i in group["Instances"]]
    assert host.exec(f"cat /tmp/{uid}/asg") == (0, f"{instance}\n")
    pcli("plan", "--detailed-exitcode", "spec", check=0)
