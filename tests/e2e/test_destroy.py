"""`reconcile destroy` and `--exclude`, on every family against the real thing: local files, an sshd host, the
harness's dockerd and moto. destroy removes what the stack created in reverse dependency order (--target: that
and what depends on it), releases what it found, and is still guarded by data-loss hazards; --exclude plans and
applies everything except an address and what depends on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Cli, SSHFleet, write


def test_destroy_and_exclude_on_local_files(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "found").write_text("there before\n")
    write(spec_dir / "site.yaml", f"""name: gone
resources:
  - {{type: directory, name: d, path: "{out}/d"}}
  - {{type: file, name: inside, path: "${{directory.d.path}}/inside", content: "1\\n"}}
  - {{type: file, name: alone, path: "{out}/alone", content: "2\\n"}}
  - {{type: file, name: found, path: "{out}/found", content: "there before\\n"}}
""")
    plan = cli("plan", "spec", "--exclude", "directory.d", check=0).out
    assert "+ file.alone" in plan and "directory.d" not in plan and "file.inside" not in plan, plan
    cli("apply", "--auto-approve", "--exclude", "directory.d", "spec", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["alone", "found"]
    cli("apply", "--auto-approve", "spec", check=0)
    (out / "d/unmanaged").write_text("somebody's data\n")

    refused = cli("destroy", "--auto-approve", "spec", "--target", "directory.d", check=1)
    assert "pass --allow-data-loss" in refused.err and (out / "d/inside").exists(), refused.err
    cli("destroy", "--auto-approve", "spec", "--target", "directory.d", "--allow-data-loss", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["alone", "found"]  # d and what depends on it
    assert cli("state", "list", "--spec", "spec", check=0).out.split() == ["file.alone", "file.found", "(found)"]

    plan = cli("destroy", "spec", check=1)  # no terminal to approve on: shows the plan, then refuses
    assert "- file.alone" in plan.out and "file.found" in plan.out and "Plan: 0 to add, 0 to change, 1 to destroy" in plan.out
    cli("destroy", "--auto-approve", "spec", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["found"]  # found before reconcile: released, not destroyed
    assert (out / "found").read_text() == "there before\n"
    assert cli("state", "list", "--spec", "spec", check=0).out.strip() == ""
    assert "--target names no resource" in cli("destroy", "--auto-approve", "spec", "--target", "file.nope",
                                               check=1).err


def test_destroy_and_exclude_on_an_ssh_host(cli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    cli.env["HOME"] = str(cli.cwd)
    h = ssh_hosts.hosts[1]
    write(spec_dir / "site.yaml", f"name: {uid}\n" + ssh_hosts.inventory() + f"""resources:
  - {{type: directory, name: app, on: h1, path: /srv/{uid}}}
  - {{type: file, name: conf, on: h1, path: "/srv/{uid}/app.conf", content: "x\\n", depends_on: [directory.app]}}
  - {{type: group, name: {uid}g, on: h1}}
""")
    cli("apply", "--auto-approve", "--exclude", f"group.{uid}g", "spec", check=0)
    assert h.exec(f"getent group {uid}g")[0] != 0 and h.exec(f"cat /srv/{uid}/app.conf")[1] == "x\n"
    cli("apply", "--auto-approve", "spec", check=0)
    assert h.exec(f"getent group {uid}g")[0] == 0
    cli("destroy", "--auto-approve", "--target", "file.conf", "spec", check=0)
    assert h.exec(f"test -e /srv/{uid}/app.conf")[0] != 0 and h.exec(f"test -d /srv/{uid}")[0] == 0
    cli("destroy", "--auto-approve", "spec", check=0)
    assert h.exec(f"test -e /srv/{uid}")[0] != 0 and h.exec(f"getent group {uid}g")[0] != 0
    assert "+ directory.app" in cli("plan", "spec", check=0).out


def test_destroy_and_exclude_on_docker(cli: Cli, spec_dir: Path, docker_url: str, busybox: str, uid: str,
                                       docker_client: Any) -> None:
    cli.env["DOCKER_HOST"] = docker_url
    write(spec_dir / "site.yaml", f"""name: {uid}
resources:
  - {{type: docker.network, name: {uid}-net}}
  - type: docker.container
    name: {uid}-app
    image: {busybox}
    command: ["sleep", "600"]
    networks: ["${{docker.network.{uid}-net.network_name}}"]
    stop_timeout: 1
  - {{type: docker.volume, name: {uid}-vol}}
""")
    cli("apply", "--auto-approve", "--exclude", f"docker.network.{uid}-net", "spec", check=0)
    names = {c.name for c in docker_client.containers.list(all=True)}
    assert f"{uid}-app" not in names and docker_client.volumes.get(f"{uid}-vol")
    cli("apply", "--auto-approve", "spec", check=0)
    assert docker_client.containers.get(f"{uid}-app").status == "running"
    cli("destroy", "--auto-approve", "--target", f"docker.network.{uid}-net", "spec", check=0)
    assert f"{uid}-app" not in {c.name for c in docker_client.containers.list(all=True)}
    assert f"{uid}-net" not in {n.name for n in docker_client.networks.list()}
    assert docker_client.volumes.get(f"{uid}-vol")
    cli("destroy", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert f"{uid}-vol" not in {v.name for v in docker_client.volumes.list()}


def test_destroy_and_exclude_on_aws(cli: Cli, spec_dir: Path, moto: Any, uid: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cli.env.update(moto.env)
    for key, value in moto.env.items():
        monkeypatch.setenv(key, value)
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url)
    write(spec_dir / "site.yaml", f"""name: {uid}
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.vpc, name: main, cidr_block: 10.77.0.0/16, tags: {{Name: {uid}}}}}
  - {{type: aws.subnet, name: a, vpc_id: "${{aws.vpc.main.id}}", cidr_block: 10.77.1.0/24}}
  - {{type: aws.sqs_queue, name: jobs, queue_name: {uid}-jobs}}
""")
    cli("apply", "--auto-approve", "--exclude", "aws.vpc.main", "spec", check=0)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [uid]}])["Vpcs"]
    assert not vpcs
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto.url)
    assert any(u.endswith(f"{uid}-jobs") for u in sqs.list_queues(QueueNamePrefix=uid).get("QueueUrls", []))
    cli("apply", "--auto-approve", "spec", check=0)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [uid]}])["Vpcs"][0]["VpcId"]
    cli("destroy", "--auto-approve", "--target", "aws.vpc.main", "spec", check=0)
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"]
    assert not ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert sqs.list_queues(QueueNamePrefix=uid).get("QueueUrls")
    cli("destroy", "--auto-approve", "spec", check=0)
    assert not sqs.list_queues(QueueNamePrefix=uid).get("QueueUrls")
    assert cli("state", "list", "--spec", "spec", check=0).out.strip() == ""
