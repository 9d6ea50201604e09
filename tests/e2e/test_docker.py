"""docker.* modules against a real dockerd: create, idempotence, update in place, replace, delete,
drift, ownership (foreign objects are never touched), images built and pulled from a local registry."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, state_path, write
from tests.harness.images import build
from tests.harness.registry import free_port


@pytest.fixture
def dcli(cli: Cli, docker_url: str, busybox: str, named_stack: str) -> Cli:
    cli.env["DOCKER_HOST"] = docker_url
    return cli


def spec(spec_dir: Path, body: str, uid: str, **values: Any) -> Path:
    text = body.replace("UID", uid)
    for key, value in values.items():
        text = text.replace(key.upper(), str(value))
    return write(spec_dir / "site.yaml", text)


def flat(text: str) -> str:
    """Plan text with runs of spaces collapsed, so assertions don't depend on column alignment."""
    return re.sub(r"[ ]+", " ", text)


def container(client: Any, name: str) -> Any:
    return client.containers.get(name)


def http_get(port: int) -> str:
    deadline = time.time() + 10
    while True:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


WEB = """
resources:
  - type: docker.container
    name: UID-web
    image: reconcile-test/busybox:1
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["127.0.0.1:PORT:80"]
    env: {GREETING: hello}
    labels: {team: web}
    restart_policy: RESTART
    stop_timeout: 1
"""


def test_container_lifecycle(dcli: Cli, spec_dir: Path, uid: str, docker_client: Any) -> None:
    port = free_port()
    spec(spec_dir, WEB, uid, port=port, restart="unless-stopped")
    plan = dcli("plan", "spec", check=0)
    assert f"+ docker.container.{uid}-web" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    c = container(docker_client, f"{uid}-web")
    assert c.status == "running"
    assert c.labels["reconcile.address"] == f"docker.container.{uid}-web" and c.labels["team"] == "web"
    assert c.labels["reconcile.stack"] == f"{uid}/default"
    assert "GREETING=hello" in c.attrs["Config"]["Env"]
    assert http_get(port) == "busybox\n"
    first_id = c.id

    again = dcli("apply", "--auto-approve", "spec", check=0)  # idempotent: nothing to do
    assert "No changes." in again.out and "complete after" not in again.out

    # update in place: the restart policy
    spec(spec_dir, WEB, uid, port=port, restart="always")
    plan = dcli("plan", "spec", check=0)
    assert '~ restart_policy = "unless-stopped" -> "always"' in flat(plan.out) and "will be updated in place" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    c = container(docker_client, f"{uid}-web")
    assert c.id == first_id and c.attrs["HostConfig"]["RestartPolicy"]["Name"] == "always"

    # replace: env is fixed at creation
    spec(spec_dir, WEB.replace("hello", "bonjour"), uid, port=port, restart="always")
    plan = dcli("plan", "spec", check=0)
    assert f"-/+ docker.container.{uid}-web" in plan.out and "must be replaced (because env changed)" in plan.out
    assert '"GREETING": "bonjour"' in plan.out and "# forces replacement" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    c = container(docker_client, f"{uid}-web")
    assert c.id != first_id and "GREETING=bonjour" in c.attrs["Config"]["Env"]
    assert dcli("plan", "--detailed-exitcode", "spec").rc == 0

    # delete: state absent
    spec(spec_dir, WEB.replace("stop_timeout: 1", "stop_timeout: 1\n    state: absent"), uid, port=port,
         restart="always")
    dcli("apply", "--auto-approve", "spec", check=0)
    assert not docker_client.containers.list(all=True, filters={"name": f"{uid}-web"})


def test_container_drift_is_found_and_repaired(dcli: Cli, spec_dir: Path, uid: str, docker_client: Any) -> None:
    port = free_port()
    spec(spec_dir, WEB, uid, port=port, restart="unless-stopped")
    dcli("apply", "--auto-approve", "spec", check=0)
    c = container(docker_client, f"{uid}-web")

    c.stop(timeout=1)  # stopped behind our back
    plan = dcli("plan", "--detailed-exitcode", "spec")
    assert plan.rc == 2 and '~ state = "stopped" -> "running"' in flat(plan.out)
    dcli("apply", "--auto-approve", "spec", check=0)
    assert container(docker_client, f"{uid}-web").status == "running" and http_get(port)

    c.update(restart_policy={"Name": "no"})  # changed behind our back
    plan = dcli("plan", "spec", check=0)
    assert '~ restart_policy = "no" -> "unless-stopped"' in flat(plan.out)
    dcli("apply", "--auto-approve", "spec", check=0)
    assert container(docker_client, f"{uid}-web").attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"

    container(docker_client, f"{uid}-web").remove(force=True)  # removed behind our back
    plan = dcli("plan", "spec", check=0)
    assert f"+ docker.container.{uid}-web" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    assert http_get(port) == "busybox\n"
    assert dcli("plan", "--detailed-exitcode", "spec").rc == 0


def test_foreign_containers_are_never_touched(dcli: Cli, spec_dir: Path, uid: str, docker_client: Any,
                                              busybox: str) -> None:
    bystander = docker_client.containers.run(busybox, ["sleep", "300"], name=f"{uid}-bystander", detach=True)
    clash = docker_client.containers.run(busybox, ["sleep", "300"], name=f"{uid}-app", detach=True)
    body = """
resources:
  - type: docker.container
    name: UID-app
    image: reconcile-test/busybox:1
    command: ["sleep", "600"]
    stop_timeout: 1
"""
    spec(spec_dir, body, uid)
    plan = dcli("plan", "spec")
    assert plan.rc == 1 and f"the name '{uid}-app' is taken by an existing object not managed by reconcile" in plan.out
    assert dcli("apply", "--auto-approve", "spec").rc == 1
    assert container(docker_client, f"{uid}-app").id == clash.id  # untouched

    spec(spec_dir, body.replace("stop_timeout: 1", "stop_timeout: 1\n    adopt: true"), uid)
    plan = dcli("plan", "spec", check=0)
    assert "~ managed = false -> true # forces replacement" in flat(plan.out)
    dcli("apply", "--auto-approve", "spec", check=0)
    adopted = container(docker_client, f"{uid}-app")
    assert adopted.id != clash.id and adopted.labels["reconcile.address"] == f"docker.container.{uid}-app"

    spec(spec_dir, "resources: []\n", uid)  # prune: ours goes, the bystander stays
    plan = dcli("plan", "spec", check=0)
    assert f"- docker.container.{uid}-app" in plan.out and "bystander" not in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    assert not docker_client.containers.list(all=True, filters={"name": f"{uid}-app"})
    assert container(docker_client, f"{uid}-bystander").status == "running"
    bystander.remove(force=True)


def test_networks_volumes_health_and_secrets(dcli: Cli, spec_dir: Path, uid: str, docker_client: Any) -> None:
    body = """
resources:
  - type: docker.network
    name: UID-net
    subnet: 10.213.SUBNET.0/24
    internal: true
    labels: {tier: back}
  - type: docker.volume
    name: UID-data
    labels: {keep: "yes"}
  - type: docker.container
    name: UID-db
    image: reconcile-test/busybox:1
    command: ["sh", "-c", "echo stored > /data/file; exec sleep 600"]
    env: {DB_PASSWORD: s3cret-value}
    sensitive: [env]
    volumes: ["${docker.volume.UID-data.volume_name}:/data"]
    networks: [{name: "${docker.network.UID-net.network_name}", aliases: [database]}]
    healthcheck: {test: "test -f /data/file", interval: 1s, retries: 20}
    wait: healthy
    wait_timeout: 30
    memory: 64m
    stop_timeout: 1
"""
    subnet = int(uid[1:3], 16) % 200 + 20
    spec(spec_dir, body, uid, subnet=subnet)
    plan = dcli("plan", "spec", check=0)
    assert "+ env = (sensitive)" in flat(plan.out) and "s3cret" not in plan.out
    assert "(known after apply)" not in plan.out  # names are set in the spec, known before apply
    applied = dcli("apply", "--auto-approve", "spec", check=0)
    assert "s3cret" not in applied.text
    c = container(docker_client, f"{uid}-db")
    assert c.attrs["State"]["Health"]["Status"] == "healthy"
    net = docker_client.networks.get(f"{uid}-net")
    assert net.attrs["Internal"] and net.attrs["IPAM"]["Config"][0]["Subnet"] == f"10.213.{subnet}.0/24"
    assert "database" in c.attrs["NetworkSettings"]["Networks"][f"{uid}-net"]["Aliases"]
    assert c.attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert docker_client.volumes.get(f"{uid}-data").attrs["Labels"]["keep"] == "yes"
    db = state_path(spec_dir).read_bytes()
    assert b"s3cret" not in db
    assert "No changes." in dcli("plan", "spec", check=0).out

    # the volume holds data: destroying it is refused unless allowed
    spec(spec_dir, "resources: []\n", uid)
    refused = dcli("apply", "--auto-approve", "spec")
    assert refused.rc == 1 and f"volume {uid}-data holds" in refused.text and "--allow-data-loss" in refused.text
    assert docker_client.containers.get(f"{uid}-db")
    dcli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert not docker_client.volumes.list(filters={"name": f"{uid}-data"})
    assert not docker_client.networks.list(names=[f"{uid}-net"])


def test_images_built_and_pulled(dcli: Cli, spec_dir: Path, uid: str, docker_client: Any, registry: Any,
                                 busybox: str) -> None:
    write(spec_dir / "app/Dockerfile", f"FROM {busybox}\nCOPY version /version\nCMD [\"cat\", \"/version\"]\n")
    write(spec_dir / "app/version", "1\n")
    repo = f"{registry.address}/{uid}/tool"
    build(docker_client, f"{repo}:stable", f"FROM {busybox}\nRUN echo one > /v\n")
    docker_client.images.push(repo, tag="stable")
    docker_client.images.remove(f"{repo}:stable")
    body = """
resources:
  - type: docker.image
    name: app
    image: UID/app:dev
    build: {context: app}
  - type: docker.image
    name: tool
    image: REPO:stable
    pull: always
  - type: docker.container
    name: UID-tool
    image: "REPO:stable"
    command: ["sleep", "600"]
    stop_timeout: 1
    depends_on: [docker.image.tool]
"""
    spec(spec_dir, body, uid, repo=repo)
    dcli("apply", "--auto-approve", "spec", check=0)
    built = docker_client.images.get(f"{uid}/app:dev")
    assert docker_client.containers.run(built.id, remove=True) == b"1\n"
    pulled = docker_client.images.get(f"{repo}:stable")
    assert container(docker_client, f"{uid}-tool").image.id == pulled.id
    assert "No changes." in dcli("plan", "spec", check=0).out

    write(spec_dir / "app/version", "2\n")  # the build context changed: rebuild
    plan = dcli("plan", "spec", check=0)
    assert "~ context_hash" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    assert docker_client.containers.run(f"{uid}/app:dev", remove=True) == b"2\n"

    # a new image is pushed to the same tag: pull it, and the container on that tag is replaced
    build(docker_client, f"{repo}:stable", f"FROM {busybox}\nRUN echo two > /v\n")
    docker_client.images.push(repo, tag="stable")
    docker_client.images.get(f"{repo}:stable").tag(f"{repo}", "pushed")
    docker_client.images.remove(f"{repo}:stable")
    docker_client.images.get(pulled.id).tag(repo, "stable")  # locally the tag still names the old image
    plan = dcli("plan", "spec", check=0)
    assert "the registry has a new image for the tag" in plan.out or "~ digest" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    new = docker_client.images.get(f"{repo}:stable")
    assert new.id != pulled.id
    plan = dcli("plan", "spec", check=0)
    assert f"-/+ docker.container.{uid}-tool" in plan.out and "image_id" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    assert container(docker_client, f"{uid}-tool").image.id == new.id
    assert "No changes." in dcli("plan", "spec", check=0).out
    spec(spec_dir, "resources: []\n", uid)
    dcli("apply", "--auto-approve", "spec", check=0)
    assert not docker_client.images.list(name=f"{uid}/app")


def test_unreachable_engine_is_reported(cli: Cli, spec_dir: Path, uid: str) -> None:
    spec(spec_dir, """
docker:
  engines:
    gone: {base_url: "unix:///nonexistent/docker.sock"}
resources:
  - type: docker.container
    name: UID-x
    on: gone
    image: reconcile-test/busybox:1
""", uid)
    run = cli("plan", "spec")
    assert run.rc == 1 and "docker engine gone unreachable" in run.out
    assert json.loads(cli("plan", "--json", "spec").out)["errors"][0]["address"] == f"docker.container.{uid}-x"


def test_named_engine_network_volume_drift_and_replace(dcli: Cli, spec_dir: Path, uid: str, docker_client: Any,
                                                       docker_url: str) -> None:
    body = """
docker:
  engines:
    main: {base_url: "URL"}
resources:
  - type: docker.network
    name: UID-n
    on: main
    labels: {v: "LABEL"}
  - type: docker.volume
    name: UID-v
    on: main
    labels: {v: "LABEL"}
  - type: docker.container
    name: UID-c
    on: main
    image: reconcile-test/busybox:1
    entrypoint: ["sh", "-c"]
    command: ["pwd > /tmp/where; id -u >> /tmp/where; exec sleep 600"]
    user: "65534"
    working_dir: /www
    volumes: ["${docker.volume.UID-v.volume_name}:/data:ro"]
    networks: ["${docker.network.UID-n.network_name}"]
    stop_timeout: 1
"""
    del dcli.env["DOCKER_HOST"]  # only the spec's named engine says where to go
    spec(spec_dir, body, uid, url=docker_url, label="1")
    dcli("apply", "--auto-approve", "spec", check=0)
    c = container(docker_client, f"{uid}-c")
    assert c.attrs["Config"]["User"] == "65534" and c.attrs["Config"]["WorkingDir"] == "/www"
    assert c.exec_run(["cat", "/tmp/where"]).output == b"/www\n65534\n"
    assert c.attrs["Mounts"][0]["Name"] == f"{uid}-v" and c.attrs["Mounts"][0]["RW"] is False
    assert "No changes." in dcli("plan", "spec", check=0).out

    # drift: the container is disconnected from its network and the network removed
    docker_client.networks.get(f"{uid}-n").disconnect(c, force=True)
    docker_client.networks.get(f"{uid}-n").remove()
    plan = dcli("plan", "spec", check=0)
    assert f"+ docker.network.{uid}-n" in plan.out and f"-/+ docker.container.{uid}-c" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    c = container(docker_client, f"{uid}-c")
    assert f"{uid}-n" in c.attrs["NetworkSettings"]["Networks"]
    assert "No changes." in dcli("plan", "spec", check=0).out

    # a label change replaces the (empty) volume; an empty volume needs no permission to go
    c.stop(timeout=1)
    spec(spec_dir, body.replace("stop_timeout: 1", "stop_timeout: 1\n    state: absent"), uid,
         url=docker_url, label="2")
    plan = dcli("plan", "spec", check=0)
    assert f"-/+ docker.volume.{uid}-v" in plan.out and "must be replaced (because labels changed)" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    assert docker_client.volumes.get(f"{uid}-v").attrs["Labels"]["v"] == "2"
    spec(spec_dir, body.split("resources:")[0] + "resources: []\n", uid, url=docker_url)
    dcli("apply", "--auto-approve", "spec", check=0)


def test_pull_by_digest(dcli: Cli, spec_dir: Path, uid: str, docker_client: Any, registry: Any, busybox: str) -> None:
    repo = f"{registry.address}/{uid}/pinned"
    build(docker_client, f"{repo}:v1", f"FROM {busybox}\nRUN echo pinned > /v\n")
    docker_client.images.push(repo, tag="v1")
    digest = docker_client.images.get_registry_data(f"{repo}:v1").id  # sha256:… as the registry has it
    docker_client.images.remove(f"{repo}:v1")
    spec(spec_dir, f"""
resources:
  - {{type: docker.image, name: pinned, image: "{repo}@{digest}"}}
  - type: docker.container
    name: UID-pinned
    image: "{repo}@{digest}"
    command: ["sleep", "600"]
    stop_timeout: 1
    depends_on: [docker.image.pinned]
""", uid)
    dcli("apply", "--auto-approve", "spec", check=0)
    image = docker_client.images.get(f"{repo}@{digest}")
    assert f"{repo}@{digest}" in image.attrs["RepoDigests"]
    assert container(docker_client, f"{uid}-pinned").image.id == image.id
    assert "No changes." in dcli("plan", "spec", check=0).out
    spec(spec_dir, "resources: []\n", uid)
    dcli("apply", "--auto-approve", "spec", check=0)
