"""Containers on a fleet: `docker.container` with `on: web` runs one container per host of the group, on
that host's own engine reached over SSH (the docker SDK's ssh:// transport through reconcile's SSH
connection, host keys checked against the spec's known_hosts). Each host here is a real sshd container
with its own dockerd's socket mounted (tests/harness/host_engines.py). A new image version rolls out
one host at a time behind an HTTP health gate, each new container made before the old one goes; a
version that fails the gate stops the rollout with the other hosts untouched."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, write


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def fleet(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from tests.harness.host_engines import start_engines
    from tests.harness.images import ensure_busybox
    from tests.harness.ssh_hosts import client_key, start_hosts

    engines = start_engines(3)
    try:
        for engine in engines:
            ensure_busybox(engine.client())
        hosts = [start_hosts(docker_client, f"fleetc-{os.getpid()}-{i}", 1, volumes=engine.mounts())[0]
                 for i, engine in enumerate(engines)]
        known = tmp_path_factory.mktemp("fleet") / "known_hosts"
        known.write_text("".join(h.host_key_line() + "\n" for h in hosts))
        yield {"engines": engines, "hosts": hosts, "known": known, "key": client_key(),
               "ports": [free_port() for _ in hosts]}
        for h in hosts:
            h.container.remove(force=True)
    finally:
        for engine in engines:
            engine.stop()


def spec(fleet: dict[str, Any], uid: str, version: str, serve: str = "/tmp/www") -> str:
    hosts = "".join(
        f"    w{i}: {{address: 127.0.0.1, port: {h.port}, user: root, key_file: {fleet['key']}, "
        f"vars: {{app_port: {fleet['ports'][i]}}}}}\n" for i, h in enumerate(fleet["hosts"]))
    return f"""
inventory:
  known_hosts: {fleet['known']}
  hosts:
{hosts}  groups:
    web:
      hosts: [w0, w1, w2]
      serial: 1
      wait_for: {{http: "http://127.0.0.1:{{{{ host.vars.app_port }}}}/", status: 200, timeout: 3, interval: 0.2}}
resources:
  - type: docker.container
    name: app
    on: web
    container_name: app-{uid}
    image: reconcile-test/busybox:1
    command: ["sh", "-c", "mkdir -p /tmp/www /tmp/empty && echo $VERSION > /tmp/www/index.html && exec httpd -f -p 8080 -h {serve}"]
    env: {{VERSION: "{version}"}}
    ports: ["127.0.0.1:{{{{ host.vars.app_port }}}}:8080"]
    stop_timeout: 1
    lifecycle: {{create_before_destroy: true}}
"""


def served(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return response.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except OSError as exc:
        return f"down: {exc}"


def containers(fleet: dict[str, Any], uid: str) -> list[list[Any]]:
    """Per host, the containers of this test on that host's own engine."""
    return [e.client().containers.list(all=True, filters={"name": f"app-{uid}"}) for e in fleet["engines"]]


def test_a_container_per_host_over_ssh_rolled_out_one_host_at_a_time(
        cli: Cli, spec_dir: Path, fleet: dict[str, Any], uid: str) -> None:
    cli.env["HOME"] = str(cli.cwd)
    ports = fleet["ports"]
    write(spec_dir / "site.yaml", spec(fleet, uid, "v1"))

    plan = cli("plan", "spec", check=0)
    for w in ("w0", "w1", "w2"):
        assert f"docker.container.app[{w}] will be created" in plan.out, plan.out
    cli("apply", "--auto-approve", "spec", check=0)
    assert [served(p) for p in ports] == ["v1"] * 3
    first = containers(fleet, uid)
    assert [len(c) for c in first] == [1, 1, 1]  # each on its own host's engine
    assert "No changes." in cli("plan", "spec", check=0).out

    # drift behind the tool's back on one host: shown for that host only, and repaired
    first[1][0].stop(timeout=1)
    drift = cli("plan", "spec", check=0).out
    assert "docker.container.app[w1] will be updated in place" in drift, drift
    assert "app[w0]" not in drift and "app[w2]" not in drift, drift
    cli("apply", "--auto-approve", "spec", check=0)
    assert served(ports[1]) == "v1"

    # a new version: one host at a time, each host's new container made before its old one goes
    write(spec_dir / "site.yaml", spec(fleet, uid, "v2"))
    plan = cli("plan", "spec", check=0).out
    assert plan.count("must be replaced (new one first)") == 3, plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert [served(p) for p in ports] == ["v2"] * 3
    second = [c[0] for c in containers(fleet, uid)]
    assert all(c.id != old[0].id for c, old in zip(second, first, strict=True))
    for c in second:
        c.reload()
    started = [c.attrs["State"]["StartedAt"] for c in second]
    assert started == sorted(started), started  # w0, then w1, then w2: serial 1, in inventory order
    assert "No changes." in cli("plan", "spec", check=0).out

    # a version that fails the health gate (its server answers 404) stops the rollout at the first host
    write(spec_dir / "site.yaml", spec(fleet, uid, "v3", serve="/tmp/empty"))
    stopped = cli("apply", "--auto-approve", "spec")
    assert stopped.rc == 1, stopped.text
    assert "the rollout of web stopped at batch 1 of 3" in stopped.out, stopped.out
    assert "answered 404, wanted 200; not reached: w1, w2" in stopped.out, stopped.out
    assert "docker.container.app[w1]: not reached: the rollout of web stopped at batch 1" in stopped.out
    assert [served(p) for p in ports] == ["HTTP 404", "v2", "v2"]
    assert [c[0].id for c in containers(fleet, uid)][1:] == [c.id for c in second][1:]

    # gone from the spec: removed from every host's engine
    write(spec_dir / "site.yaml", spec(fleet, uid, "v3").split("resources:")[0] + "resources: []\n")
    cli("apply", "--auto-approve", "spec", check=0)
    assert containers(fleet, uid) == [[], [], []]


def test_an_unknown_group_for_a_container_is_refused_at_its_line(cli: Cli, spec_dir: Path) -> None:
    write(spec_dir / "site.yaml", """
inventory:
  hosts:
    w0: {address: 127.0.0.1, port: 1}
resources:
  - type: docker.container
    name: app
    on: webb
    image: reconcile-test/busybox:1
""")
    run = cli("validate", "spec", check=1)
    assert "site.yaml:7:5: error:" in run.text and "unknown docker engine, host or group 'webb'" in run.text, run.text
