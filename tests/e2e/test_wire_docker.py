"""Docker under faults and odd input, against the harness's dockerd: a container that cannot stay up is a
failure, names are attributes (a rename is planned; a hand rename is drift), values reach the engine as
written, removal is parallel, engine errors name the engine, and an engine reached over SSH uses the
inventory host's settings and host-key rules."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, write
from tests.harness.ssh_hosts import client_key, start_hosts

BUSYBOX = "reconcile-test/busybox:1"


@pytest.fixture
def dcli(cli: Cli, docker_url: str, busybox: str) -> Cli:
    cli.env["DOCKER_HOST"] = docker_url
    return cli


def stack(spec_dir: Path, uid: str, body: str) -> None:
    write(spec_dir / "site.yaml", f"name: {uid}\n{body}")


def test_crash_at_start_names_and_values(dcli: Cli, spec_dir: Path, uid: str, docker_client: Any) -> None:
    stack(spec_dir, uid, f"""resources:
  - type: docker.container
    name: crash
    container_name: {uid}-crash
    image: {BUSYBOX}
    command: ["sh", "-c", "echo 'config missing' >&2; exit 3"]
  - type: docker.container
    name: env
    container_name: {uid}-env
    image: {BUSYBOX}
    command: [sleep, "600"]
    stop_timeout: 1
    env: {{DEBUG: true, QUIET: false, VERSION: 1.10, PORT: 8080, RAW: "$${{HOME}}/x"}}
""")
    run = dcli("apply", "--auto-approve", "spec")
    assert run.rc == 1 and "docker.container.crash" in run.out
    assert "the container exited with code 3 right after it started; its last log lines: config missing" in run.out
    assert "Creation complete" not in run.out.split("docker.container.crash: Creating...")[1].split("\n")[1]
    env = dict(e.split("=", 1) for e in docker_client.containers.get(f"{uid}-env").attrs["Config"]["Env"])
    assert (env["DEBUG"], env["QUIET"], env["VERSION"], env["PORT"], env["RAW"]) == ("true", "false", "1.10",
                                                                                      "8080", "${HOME}/x")
    plan = dcli("plan", "spec", check=0)
    assert '~ state = "stopped" -> "running"' in " ".join(plan.out.split())  # honest about the dead one

    # a new name in the spec names another container: a replacement (the old one goes); a rename by hand is
    # drift, repaired in place
    stack(spec_dir, uid, f"""resources:
  - {{type: docker.container, name: env, container_name: {uid}-renamed, image: {BUSYBOX}, command: [sleep, "600"],
      stop_timeout: 1, env: {{DEBUG: true, QUIET: false, VERSION: 1.10, PORT: 8080, RAW: "$${{HOME}}/x"}}}}
  - {{type: docker.network, name: net, network_name: {uid}-net1}}
""")
    old = docker_client.containers.get(f"{uid}-env").id
    plan = dcli("plan", "spec", check=0)
    assert f'~ container_name = "{uid}-env" -> "{uid}-renamed" # forces replacement' in " ".join(plan.out.split())
    assert "-/+ docker.container.env" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    before = docker_client.containers.get(f"{uid}-renamed").id
    assert before != old and f"{uid}-env" not in {c.name for c in docker_client.containers.list(all=True)}
    docker_client.containers.get(f"{uid}-renamed").rename(f"{uid}-by-hand")
    plan = dcli("plan", "spec", check=0)
    assert f'~ container_name = "{uid}-by-hand" -> "{uid}-renamed"' in " ".join(plan.out.split())
    dcli("apply", "--auto-approve", "spec", check=0)
    assert docker_client.containers.get(f"{uid}-renamed").id == before
    write(spec_dir / "site.yaml", (spec_dir / "site.yaml").read_text().replace(f"{uid}-net1", f"{uid}-net2"))
    plan = dcli("plan", "spec", check=0)
    assert "-/+ docker.network.net" in plan.out and "because network_name changed" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    assert docker_client.networks.list(names=[f"{uid}-net2"]) and not docker_client.networks.list(names=[f"{uid}-net1"])
    stack(spec_dir, uid, "resources: []\n")
    dcli("apply", "--auto-approve", "spec", check=0)


def test_removal_is_parallel(dcli: Cli, spec_dir: Path, uid: str, docker_client: Any) -> None:
    body = "".join(f"  - {{type: docker.container, name: c{i}, container_name: {uid}-c{i}, image: {BUSYBOX}, "
                   f"command: [sleep, \"600\"], stop_timeout: 3}}\n" for i in range(10))
    stack(spec_dir, uid, "resources:\n" + body)
    dcli("apply", "--auto-approve", "spec", check=0)
    stack(spec_dir, uid, "resources: []\n")
    run = dcli("apply", "--auto-approve", "--parallelism", "10", "spec", check=0)
    lines = run.out.splitlines()
    first_done = next(i for i, line in enumerate(lines) if "Destruction complete" in line)
    assert sum("Destroying..." in line for line in lines[:first_done]) == 10  # all ten at once (stop takes 3 s)
    assert not docker_client.containers.list(all=True, filters={"name": f"{uid}-c"})


def _relay(target: str, listen: str) -> socket.socket:
    """A unix socket that forwards to dockerd's: closing it plays a dockerd that died."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(listen)
    server.listen(16)

    def pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(target)
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_engine_errors_name_the_engine_and_hide_secrets(dcli: Cli, spec_dir: Path, uid: str, docker_url: str,
                                                        tmp_path: Path) -> None:
    relay_path = str(tmp_path / "relay.sock")
    server = _relay(docker_url.removeprefix("unix://"), relay_path)
    secret = f"hunter2-{uid}"
    dcli.env["DB_PASSWORD"] = secret
    stack(spec_dir, uid, f"""docker:
  engines:
    relay: {{base_url: "unix://{relay_path}"}}
vars_from_env: [DB_PASSWORD]
resources:
  - type: docker.container
    name: app
    on: relay
    container_name: {uid}-app
    image: {BUSYBOX}
    command: [sleep, "600"]
    stop_timeout: 1
    env: {{PASSWORD: "{{{{ env.DB_PASSWORD }}}}"}}
    sensitive: [env]
""")
    dcli("apply", "--auto-approve", "spec", check=0)
    server.close()
    os.unlink(relay_path)
    run = dcli("plan", "spec")
    assert run.rc == 1 and "docker engine relay unreachable: cannot connect" in run.out, run.text
    assert "Traceback" not in run.text and secret not in run.text
    server = _relay(docker_url.removeprefix("unix://"), relay_path)
    stack(spec_dir, uid, (spec_dir / "site.yaml").read_text().split("\n", 1)[1].replace(
        "image: " + BUSYBOX, "image: 127.0.0.1:9/none:1"))
    failed = dcli("apply", "--auto-approve", "spec")
    assert failed.rc == 1 and "docker engine relay:" in failed.out and secret not in failed.text
    stack(spec_dir, uid, f"""docker:
  engines:
    relay: {{base_url: "unix://{relay_path}"}}
resources: []
""")
    dcli("apply", "--auto-approve", "spec", check=0)
    server.close()


def test_an_engine_reached_over_ssh_uses_the_inventory_host(dcli: Cli, spec_dir: Path, uid: str, docker_url: str,
                                                            docker_client: Any, tmp_path: Path) -> None:
    socket_path = docker_url.removeprefix("unix://")
    (h,) = start_hosts(docker_client, f"rt-{uid}-engine", 1, volumes={
        socket_path: {"bind": "/var/run/docker.sock", "mode": "rw"},
        "/usr/bin/docker": {"bind": "/usr/bin/docker", "mode": "ro"}})
    try:
        known = tmp_path / "known_hosts"
        inventory = f"""inventory:
  hosts:
    web1: {{address: 127.0.0.1, port: {h.port}, user: root, key_file: {client_key()}}}
  known_hosts: {known}
docker:
  engines:
    remote: {{base_url: "ssh://web1"}}
"""
        known.write_text("")
        stack(spec_dir, uid, inventory + f"""resources:
  - {{type: docker.container, name: app, on: remote, container_name: {uid}-remote, image: {BUSYBOX},
      command: [sleep, "600"], stop_timeout: 1}}
""")
        refused = dcli("plan", "spec")  # the host's key is not known yet: refused as for any SSH target
        assert refused.rc == 1 and "docker engine remote unreachable: host web1 unreachable: its host key is not known" \
            in refused.out, refused.text
        dcli("trust", "web1", "--spec", "spec", "--yes", check=0)
        dcli("apply", "--auto-approve", "spec", check=0)
        assert docker_client.containers.get(f"{uid}-remote").status == "running"
        assert "No changes." in dcli("plan", "spec", check=0).out
        stack(spec_dir, uid, inventory + "resources: []\n")
        dcli("apply", "--auto-approve", "spec", check=0)
        assert not docker_client.containers.list(all=True, filters={"name": f"{uid}-remote"})
    finally:
        h.container.remove(force=True)
