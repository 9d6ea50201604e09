"""`reconcile test`: the spec's own cases, on throwaway containers of the harness's sshd image reached with
`docker exec` (inventory `connection: docker`): a passing case, a failing assertion, a spec that is not
idempotent, JUnit output, and no container left behind (checked with the Docker SDK). The `docker`
connection is also a target of its own: the server modules' three steps and drift on it, outside tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.conftest import Cli, write

SPEC = """name: web
vars: {port: 8080}
inventory:
  hosts:
    web1: {address: 192.0.2.10}
resources:
  - {type: directory, name: app, on: web1, path: /srv/app, mode: "0750"}
  - type: file
    name: conf
    on: web1
    path: /etc/app.conf
    mode: "0640"
    content: "port = {{ vars.port }}\\n"
  - {type: user, name: svc, on: web1, username: appsvc, shell: /bin/sh}
"""


def case(image: str, port: int, checks: str) -> str:
    return f"""hosts:
  web1: {{image: {image}}}
vars: {{port: {port}}}
assert:
{checks}"""


def test_cases_converge_throwaway_containers_and_leave_nothing(cli: Cli, tmp_path: Path, docker_client: Any,
                                                              docker_url: str) -> None:
    from tests.harness.ssh_hosts import ensure_image

    image = ensure_image(docker_client)
    cli.env["DOCKER_HOST"] = docker_url
    spec = tmp_path / "spec"
    write(spec / "site.yaml", SPEC)
    write(spec / "tests/passing.yaml", case(image, 8081, """  - {on: web1, command: "cat /etc/app.conf", stdout_contains: "port = 8081"}
  - {on: web1, file: /etc/app.conf, mode: "0640", owner: root, content: "port = 8081\\n"}
  - {on: web1, file: /srv/app, mode: "750"}
  - {on: web1, command: "id -u appsvc"}
  - {on: web1, file: /etc/nothing-here, absent: true}
"""))
    run = cli("test", "spec", check=0)
    assert "PASS passing: converged (3 changes), idempotent, 5 checks passed" in run.out, run.text
    assert not (spec / ".reconcile").exists()  # the case's state lived in a temporary directory

    write(spec / "tests/wrong.yaml", case(image, 9000, """  - {on: web1, command: "cat /etc/app.conf", stdout_contains: "port = 8081"}
  - {on: web1, file: /etc/app.conf, mode: "0600"}
  - {on: web1, command: "false"}
"""))
    run = cli("test", "spec", check=1)
    assert "PASS passing" in run.out and "FAIL wrong" in run.out, run.out
    assert "web1: `cat /etc/app.conf`: its output does not hold 'port = 8081'" in run.out
    assert "web1: file /etc/app.conf: mode 640, not 0600" in run.out and "web1: `false`: exit 1, not 0" in run.out
    assert "1 of 2 cases passed." in run.out

    # a spec that changes something on every run is not idempotent
    write(spec / "site.yaml", SPEC + "  - {type: command, name: stamp, on: web1, command: \"date > /tmp/stamp\"}\n")
    (spec / "tests/wrong.yaml").unlink()
    run = cli("test", "spec", "--format", "junit", check=1)
    report = ET.fromstring(run.out.split("\n", 1)[1] if run.out.startswith("<?xml") else run.out)
    failure = report.find(".//testcase[@name='passing']/failure")
    assert failure is not None and "not idempotent: a second plan would change command.stamp" in (failure.text or "")

    left = docker_client.containers.list(all=True, filters={"label": "reconcile.test"})
    assert left == [], [c.name for c in left]


def test_bad_cases_are_errors_at_their_line(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "spec"
    write(spec / "site.yaml", SPEC)
    write(spec / "tests/bad.yaml", "hosts:\n  web1: {image: x}\nassert:\n  - {on: web2, command: true}\n")
    run = cli("test", "spec", check=1)
    assert "spec/tests/bad.yaml:4:5: check on 'web2'" in run.err and "Traceback" not in run.text, run.text
    write(spec / "tests/bad.yaml", "hosts: [web1]\n")
    assert "hosts: maps each inventory host to {image: IMAGE}" in cli("test", "spec", check=1).err
    (spec / "tests/bad.yaml").unlink()
    assert "no test case" in cli("test", "spec", check=1).err


def test_the_docker_connection_is_a_server_target(cli: Cli, tmp_path: Path, docker_client: Any,
                                                  docker_url: str, uid: str) -> None:
    from tests.harness.ssh_hosts import ensure_image

    container = docker_client.containers.run(ensure_image(docker_client), detach=True, name=f"dx-{uid}")
    try:
        cli.env["DOCKER_HOST"] = docker_url
        write(tmp_path / "spec/site.yaml", f"""inventory:
  hosts:
    box: {{connection: docker, address: dx-{uid}}}
resources:
  - {{type: file, name: motd, on: box, path: /etc/motd, content: "hello\\n", mode: "0644"}}
  - {{type: line_in_file, name: limit, on: box, path: /etc/security/limits.conf, line: "* soft nofile 4096"}}
  - {{type: group, name: ops, on: box, group_name: ops}}
""")
        plan = cli("plan", "spec", check=0).out
        assert "~ file.motd" in plan and "+ group.ops" in plan and "on box" in plan, plan  # /etc/motd exists
        cli("apply", "--auto-approve", "spec", check=0)
        assert container.exec_run(["cat", "/etc/motd"]).output == b"hello\n"
        assert "No changes" in cli("plan", "spec", check=0).out
        container.exec_run(["sh", "-c", "echo drifted > /etc/motd"])
        assert "file.motd" in cli("drift", "spec", check=2).out
        cli("apply", "--auto-approve", "spec", check=0)
        assert container.exec_run(["cat", "/etc/motd"]).output == b"hello\n"
        container.stop(timeout=1)
        run = cli("plan", "spec", check=1)
        assert f"container dx-{uid} (host box) cannot be reached" in run.text and "Traceback" not in run.text, run.text
    finally:
        container.remove(force=True)


def test_a_case_points_the_aws_resources_at_an_endpoint_and_destroys_them(
        cli: Cli, tmp_path: Path, docker_client: Any, docker_url: str, moto: Any, uid: str) -> None:
    import boto3

    from tests.harness.ssh_hosts import ensure_image

    cli.env.update(moto.env)
    cli.env.pop("AWS_ENDPOINT_URL", None)
    cli.env["DOCKER_HOST"] = docker_url
    spec = tmp_path / "spec"
    write(spec / "site.yaml", SPEC.replace("resources:\n", f"""aws: {{region: us-east-1}}
resources:
  - {{type: aws.s3_bucket, name: assets, bucket: assets-{uid}}}
  - {{type: file, name: bucket, on: web1, path: /etc/bucket, content: "${{aws.s3_bucket.assets.bucket}}\\n"}}
"""))
    write(spec / "tests/aws.yaml", f"""hosts:
  web1: {{image: {ensure_image(docker_client)}}}
aws: {{endpoint_url: "{moto.url}"}}
assert:
  - {{on: web1, file: /etc/bucket, content: "assets-{uid}\\n"}}
""")
    run = cli("test", "spec", check=0)
    assert "PASS aws" in run.out, run.text
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    assert f"assets-{uid}" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}  # destroyed after the case
