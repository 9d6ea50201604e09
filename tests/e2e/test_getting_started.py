"""The getting-started pages work as written, on this machine's test services (what `make sandbox`
starts): each page's spec, with only the sandbox's ports, key and names filled in, applies and then
plans "No changes"."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, SSHFleet, write

PAGES = Path(__file__).resolve().parent.parent.parent / "docs" / "getting-started"


def spec_of(page: str) -> str:
    text = (PAGES / page).read_text()
    return re.search(r"```yaml\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]


def converge(cli: Cli, spec: str) -> None:
    cli("validate", spec, check=0)
    assert "Plan:" in cli("plan", spec, check=0).out
    cli("apply", "--auto-approve", spec, check=0)
    assert "No changes." in cli("plan", spec, check=0).out


def test_servers(cli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    cli.env["HOME"] = str(cli.cwd)
    h0, h1 = ssh_hosts.hosts[0], ssh_hosts.hosts[1]
    text = (spec_of("servers.md").replace("32768", "PORT0").replace("32769", "PORT1")
            .replace("PORT0", str(h0.port)).replace("PORT1", str(h1.port))
            .replace("/var/tmp/reconcile-tests/id_ed25519", str(ssh_hosts.key))
            .replace("/var/tmp/known_hosts", str(ssh_hosts.known_hosts))
            .replace("name: web\n", f"name: gs-{uid}\n", 1).replace("/srv/site", f"/srv/site-{uid}")
            .replace("name: app, on: web, gid: 4200", f"name: {uid}a, on: web, gid: 4200")
            .replace("name: app, on: web, uid: 4200, group: app", f"name: {uid}a, on: web, uid: 4200, group: {uid}a")
            .replace("depends_on: [group.app]", f"depends_on: [group.{uid}a]")
            .replace("owner: app", f"owner: {uid}a").replace("depends_on: [user.app]", f"depends_on: [user.{uid}a]"))
    write(spec_dir / "site.yaml", text)
    converge(cli, "spec")
    assert h1.exec(f"cat /srv/site-{uid}/site.conf")[1] == "listen 8080\nname web2\n"
    write(spec_dir / "site.yaml", text.split("resources:")[0] + "resources: []\n")
    cli("apply", "--auto-approve", "spec", check=0)
    assert h0.exec(f"test -e /srv/site-{uid}")[0] != 0 and h0.exec(f"getent passwd {uid}a")[0] != 0


def test_docker(cli: Cli, spec_dir: Path, docker_url: str, busybox: str, uid: str) -> None:
    from tests.harness.registry import free_port

    cli.env["DOCKER_HOST"] = docker_url
    text = (spec_of("docker.md").replace("reconcile-test/busybox:1", busybox)
            .replace("name: app\n", f"name: gs-{uid}\n", 1).replace("name: web\n", f"name: {uid}-web\n")
            .replace("backend", f"{uid}-backend").replace("name: data}", f"name: {uid}-data}}")
            .replace("data:/www", f"{uid}-data:/www").replace("docker.volume.data", f"docker.volume.{uid}-data")
            .replace("18080", str(free_port())))
    write(spec_dir / "site.yaml", text)
    converge(cli, "spec")
    write(spec_dir / "site.yaml", f"name: gs-{uid}\nresources: []\n")
    cli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)


def test_aws(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    text = spec_of("aws.md").replace("name: net\n", "", 1).replace("net-assets-example",
                                                                                  f"{uid}-assets")
    write(spec_dir / "site.yaml", text)
    converge(acli, "spec")
    assert acli("output", "vpc_id", "--spec", "spec", check=0).out.startswith("vpc-")
    write(spec_dir / "site.yaml", "aws: {region: us-east-1}\nresources: []\n")
    acli("apply", "--auto-approve", "spec", check=0)


@pytest.mark.parametrize("page", ["servers.md", "docker.md", "aws.md"])
def test_each_page_has_one_spec_and_the_commands(page: str) -> None:
    text = (PAGES / page).read_text()
    assert text.count("```yaml") == 1 and "reconcile plan" in text and "No changes." in text


def test_local_walk_runs_as_written(cli: Cli, tmp_path: Path) -> None:
    """docs/getting-started/local.md: its files written, then every ```sh block run as written, in order, with
    the reconcile command on PATH (nothing but this machine)."""
    import os
    import shutil
    import subprocess
    import sys

    text = (PAGES / "local.md").read_text()
    root = tmp_path / "walk"
    root.mkdir()
    for path, body in re.findall(r"<!-- file: (\S+) -->\n```yaml\n(.*?)```", text, re.S):
        write(root / path, body)
    shutil.rmtree("/tmp/reconcile-hello", ignore_errors=True)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "reconcile").write_text(f"#!/bin/sh\nexec {sys.executable} -m reconciler \"$@\"\n")
    (bindir / "reconcile").chmod(0o755)
    env = {**cli.env, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    outputs = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        done = subprocess.run(["sh", "-ec", block], cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (block, done.stdout, done.stderr)
        outputs.append(done.stdout)
    assert "Plan: 2 to add, 0 to change, 0 to destroy, 1 to run." in outputs[0], outputs[0]
    assert "Resources: 2 added, 0 changed, 0 destroyed, 1 run." in outputs[0]
    assert "No changes." in outputs[0].rsplit("Plan:", 1)[-1]
    assert "<h1>Hello, world</h1>" in outputs[0] and "<h1>Hello, world</h1>" in outputs[1]
    assert "file.index" in outputs[2] and not os.path.exists("/tmp/reconcile-hello/www")
    assert outputs[2].split()[-1] == "stamp"
