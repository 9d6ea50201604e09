"""`reconcile drift` on every family that has landed: local files, SSH hosts, Docker."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.state.lock import StateLock
from tests.conftest import ROOT, Cli, SSHFleet, state_path, write

LOCAL = """
resources:
  - {type: file, name: a, path: OUT/a, content: "one\\n", mode: "0644"}
  - {type: file, name: b, path: OUT/b, content: "two\\n"}
  - {type: file, name: c, path: OUT/c, content: "three\\n"}
  - {type: file, name: secret, path: OUT/s, content: "hunter2-secret", sensitive: [content]}
"""


class Hook:
    """A webhook on 127.0.0.1 that records what it is sent (and can fail the first N requests)."""

    def __init__(self, fail_first: int = 0):
        self.bodies: list[dict[str, Any]] = []
        self.fail_first = fail_first
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if hook.fail_first > 0:
                    hook.fail_first -= 1
                    self.send_response(503)
                else:
                    hook.bodies.append(body)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_local_drift_classes_formats_and_notify(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(spec_dir / "site.yaml", LOCAL.replace("OUT", str(out)))
    cli("apply", "--auto-approve", "spec", check=0)
    assert cli("drift", "spec").rc == 0

    (out / "a").write_text("changed by hand\n")  # drifted
    (out / "b").unlink()  # missing
    (out / "s").write_text("hunter3")  # drifted, secret
    write(spec_dir / "site.yaml", LOCAL.replace("OUT", str(out)).replace("three", "THREE"))  # pending
    held = StateLock(state_path(spec_dir))
    held.acquire()  # drift is read-only: an apply holding the lock does not stop it
    try:
        text = cli("drift", "spec")
        hook = Hook(fail_first=1)
        run = cli("drift", "--format", "json", "--notify", hook.url, "--html", "drift.html",
                  "--report-url", "https://ci.example.com/runs/7/drift.html", "spec")
    finally:
        held.release()
    assert text.rc == 2 and "Drift in spec: 2 drifted, 1 pending, 1 missing." in text.out
    assert "hunter" not in text.out
    body = json.loads(run.out)
    jsonschema.Draft202012Validator(json.loads((ROOT / "schemas/drift.json").read_text())).validate(body)
    kinds = {i["address"]: i["kind"] for i in body["items"]}
    assert kinds == {"file.a": "drifted", "file.b": "missing", "file.c": "pending", "file.secret": "drifted"}
    secret = next(i for i in body["items"] if i["address"] == "file.secret")
    assert secret["attributes"][0]["actual"] == "(sensitive)"
    assert len(hook.bodies) == 1 and "2 drifted" in hook.bodies[0]["text"]  # retried after a 503
    assert hook.bodies[0]["report"]["counts"]["missing"] == 1
    assert hook.bodies[0]["text"].endswith("\nReport: https://ci.example.com/runs/7/drift.html")
    assert 'data-kind="drifted">2<' in (tmp_path / "drift.html").read_text()  # the same run, as a page too
    hook.close()

    markdown = cli("drift", "--format", "markdown", "--output", "report.md", "spec")
    assert markdown.rc == 2 and "| `file.a` | drifted | update |" in (tmp_path / "report.md").read_text()
    junit = ET.fromstring(cli("drift", "--format", "junit", "spec").out.split("?>", 1)[1])
    assert {c.get("name") for c in junit.iter("testcase")} == {"file.a", "file.b", "file.c", "file.secret"}

    failed_hook = cli("drift", "--notify", "http://127.0.0.1:9/nothing-listens", "spec")
    assert failed_hook.rc == 2 and "notification to http://127.0.0.1:9/nothing-listens failed" in failed_hook.err

    history = cli("history", "--drift", "--spec", "spec", check=0).out.splitlines()
    assert len(history) == 6 and "2 drifted, 1 pending, 1 missing" in history[0]
    first_drift_with_items = history[-2].split()[0].lstrip("#")
    (out / "c").write_text("more hand edits\n")
    since = cli("drift", "--since", first_drift_with_items, "--format", "json", "spec")
    assert [i["address"] for i in json.loads(since.out)["items"]] == ["file.c"]

    only = cli("apply", "--auto-approve", "--only-drifted", "spec", check=0)
    assert "file.c" not in only.out and (out / "a").read_text() == "one\n" and (out / "b").read_text() == "two\n"
    assert (out / "c").read_text() == "more hand edits\n"  # pending: left for a full apply
    after = json.loads(cli("drift", "--format", "json", "spec").out)
    assert {i["address"]: i["kind"] for i in after["items"]} == {"file.c": "pending"}


@pytest.fixture
def scli(cli: Cli, docker_url: str, named_stack: str) -> Cli:
    cli.env["HOME"] = str(cli.cwd)
    cli.env["DOCKER_HOST"] = docker_url
    return cli


def test_ssh_drift_and_unreachable_host(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    inventory = ssh_hosts.inventory().replace(
        "  groups:", "    down: {address: 127.0.0.1, port: 9, user: root}\n  groups:")
    write(spec_dir / "site.yaml", inventory + f"""
resources:
  - {{type: line_in_file, name: motd, on: all_hosts, path: /etc/{uid}.motd, line: "welcome", create: true}}
  - {{type: user, name: {uid}x, on: h2, shell: /bin/sh}}
""")
    scli("apply", "--auto-approve", "spec", check=0)
    ssh_hosts.hosts[1].exec(f"echo hacked > /etc/{uid}.motd")
    ssh_hosts.hosts[2].exec(f"usermod -s /bin/bash {uid}x")
    body = json.loads(scli("drift", "--format", "json", "spec").out)
    assert {i["address"]: i["kind"] for i in body["items"]} == {
        "line_in_file.motd[h1]": "missing", f"user.{uid}x": "drifted"}  # the managed line is gone

    write(spec_dir / "site.yaml", inventory + f"""
resources:
  - {{type: line_in_file, name: motd, on: all_hosts, path: /etc/{uid}.motd, line: "welcome", create: true}}
  - {{type: user, name: {uid}x, on: h2, shell: /bin/sh}}
  - {{type: file, name: z, on: down, path: /tmp/z, content: z}}
""")
    run = scli("drift", "spec")
    assert run.rc == 1 and "file.z (spec/site.yaml:14:5): host down unreachable" in run.out and "line_in_file.motd[h1]" in run.out


def test_docker_drift_and_labelled_leftovers(scli: Cli, spec_dir: Path, uid: str, docker_client: Any,
                                             busybox: str) -> None:
    write(spec_dir / "site.yaml", f"""
resources:
  - {{type: docker.container, name: {uid}-app, image: "{busybox}", command: [sleep, "600"], stop_timeout: 1}}
""")
    scli("apply", "--auto-approve", "spec", check=0)
    docker_client.containers.get(f"{uid}-app").stop(timeout=1)
    stray = docker_client.containers.run(
        busybox, ["sleep", "600"], name=f"{uid}-stray", detach=True,
        labels={"reconcile.address": f"docker.container.{uid}-stray", "reconcile.stack": f"{uid}/default"})
    body = json.loads(scli("drift", "--format", "json", "spec").out)
    kinds = {i["address"]: i["kind"] for i in body["items"]}
    assert kinds == {f"docker.container.{uid}-app": "drifted", f"docker.container.{uid}-stray": "unmanaged"}
    scli("apply", "--auto-approve", "--only-drifted", "spec", check=0)
    assert docker_client.containers.get(f"{uid}-app").status == "running"
    assert docker_client.containers.get(f"{uid}-stray").status == "running"  # never touched
    stray.remove(force=True)
    write(spec_dir / "site.yaml", "resources: []\n")
    scli("apply", "--auto-approve", "spec", check=0)


def test_aws_drift(cli: Cli, spec_dir: Path, moto: Any, uid: str, named_stack: str) -> None:
    import boto3

    cli.env.update(moto.env)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    write(spec_dir / "site.yaml", f"""aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - {{type: aws.s3_bucket, name: drift-{uid}, versioning: true, tags: {{team: data}}}}
  - {{type: aws.security_group, name: drift-{uid}, ingress: [{{protocol: tcp, from_port: 80, to_port: 80, cidr_blocks: [0.0.0.0/0]}}]}}
""")
    cli("apply", "--auto-approve", "spec", check=0)
    assert cli("drift", "spec").rc == 0
    s3.put_bucket_versioning(Bucket=f"drift-{uid}", VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_tagging(Bucket=f"drift-{uid}", Tagging={"TagSet": [
        {"Key": "team", "Value": "ops"}, {"Key": "reconcile:address", "Value": f"aws.s3_bucket.drift-{uid}"}]})
    run = cli("drift", "--format", "json", "spec")
    assert run.rc == 2
    (item,) = json.loads(run.out)["items"]
    assert item["address"] == f"aws.s3_bucket.drift-{uid}" and item["kind"] == "drifted"
    # the tag set was replaced: the stack tag went with it, which is drift too (repaired by tagging again)
    assert {a["name"] for a in item["attributes"]} == {"tags", "versioning", "owned"}
    cli("apply", "--auto-approve", "--only-drifted", "spec", check=0)
    assert s3.get_bucket_versioning(Bucket=f"drift-{uid}")["Status"] == "Enabled"
    assert cli("drift", "spec").rc == 0

    # a VPC tagged as this spec's but in neither the spec nor the state; one of another spec is not ours
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    for stack, name in ((f"{uid}/default", "stray"), (f"{uid}/staging", "theirs")):
        ec2.create_vpc(CidrBlock="10.77.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [
            {"Key": "reconcile:address", "Value": f"aws.vpc.{name}-{uid}"}, {"Key": "reconcile:stack", "Value": stack}]}])
    write(spec_dir / "site.yaml", (spec_dir / "site.yaml").read_text() + f"""  - {{type: aws.vpc, name: main-{uid}, cidr_block: 10.78.0.0/16}}
""")
    cli("apply", "--auto-approve", "spec", check=0)
    body = json.loads(cli("drift", "--format", "json", "spec").out)
    assert {i["address"]: i["kind"] for i in body["items"]} == {f"aws.vpc.stray-{uid}": "unmanaged"}
