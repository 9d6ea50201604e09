"""Trust on a real dockerd: stacks never touch each other's objects, a replacement whose image cannot be pulled
leaves the old container running, create_before_destroy, `moved:` keeps the container, images reconcile
did not pull are never untagged, removed resources go in reverse dependency order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, write


@pytest.fixture
def dcli(cli: Cli, docker_url: str, busybox: str) -> Cli:
    cli.env["DOCKER_HOST"] = docker_url
    return cli


def stack(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write(directory / "site.yaml", f"name: {name}\n{body}")
    return directory


def sleeper(name: str, container_name: str, extra: str = "") -> str:
    return (f"  - {{type: docker.container, name: {name}, container_name: {container_name}, "
            f"image: \"reconcile-test/busybox:1\", command: [sleep, \"600\"], stop_timeout: 1{extra}}}\n")


def test_two_stacks_with_the_same_addresses_never_touch_each_other(dcli: Cli, tmp_path: Path, uid: str,
                                                                   docker_client: Any) -> None:
    a = stack(tmp_path / "a", f"{uid}-a", "resources:\n" + sleeper("app", f"{uid}-a-app"))
    b = stack(tmp_path / "b", f"{uid}-b", "resources:\n" + sleeper("app", f"{uid}-b-app"))
    dcli("apply", "--auto-approve", str(a), check=0)
    dcli("apply", "--auto-approve", str(b), check=0)
    first = docker_client.containers.get(f"{uid}-a-app")
    assert first.labels["reconcile.stack"] == f"{uid}-a/default"
    assert docker_client.containers.get(f"{uid}-b-app").labels["reconcile.address"] == "docker.container.app"

    # b names a's container: foreign, an error naming the owner; a's container is untouched
    stack(b, f"{uid}-b", "resources:\n" + sleeper("app", f"{uid}-a-app"))
    refused = dcli("plan", str(b))
    assert refused.rc == 1 and f"belongs to docker.container.app of stack {uid}-a/default" in refused.out
    assert dcli("apply", "--auto-approve", str(b)).rc == 1
    assert docker_client.containers.get(f"{uid}-a-app").id == first.id

    # b's lost state is rebuilt from its own objects only; emptying b removes b's container alone
    stack(b, f"{uid}-b", "resources: []\n")
    import shutil

    shutil.rmtree(b / ".reconcile")
    plan = dcli("plan", str(b), check=0)
    assert "docker.container.app will be destroyed" in plan.out and "Plan: 0 to add, 0 to change, 1 to destroy." in plan.out
    dcli("apply", "--auto-approve", str(b), check=0)
    assert not docker_client.containers.list(all=True, filters={"name": f"{uid}-b-app"})
    assert docker_client.containers.get(f"{uid}-a-app").status == "running"
    stack(a, f"{uid}-a", "resources: []\n")
    dcli("apply", "--auto-approve", str(a), check=0)


def test_replacements_keep_the_old_container_until_the_new_one_can_run(dcli: Cli, spec_dir: Path, uid: str,
                                                                       docker_client: Any) -> None:
    stack(spec_dir, uid, "resources:\n" + sleeper("app", f"{uid}-app"))
    dcli("apply", "--auto-approve", "spec", check=0)
    old = docker_client.containers.get(f"{uid}-app")

    # the new image cannot be pulled: the old container must still be running, untouched
    bad = sleeper("app", f"{uid}-app").replace('"reconcile-test/busybox:1"', '"127.0.0.1:9/nope:1"')
    stack(spec_dir, uid, "resources:\n" + bad)
    failed = dcli("apply", "--auto-approve", "spec")
    assert failed.rc == 1 and "docker.container.app" in failed.text
    now = docker_client.containers.get(f"{uid}-app")
    assert now.id == old.id and now.status == "running"

    # create_before_destroy: the new container is made (under a temporary name) before the old one goes
    cbd = sleeper("app", f"{uid}-app", ", lifecycle: {create_before_destroy: true}").replace('"600"', '"601"')
    stack(spec_dir, uid, "resources:\n" + cbd)
    plan = dcli("plan", "spec", check=0)
    assert "must be replaced (new one first) (because command changed)" in plan.out
    dcli("apply", "--auto-approve", "spec", check=0)
    new = docker_client.containers.get(f"{uid}-app")
    assert new.id != old.id and new.status == "running" and new.attrs["Config"]["Cmd"] == ["sleep", "601"]
    assert not docker_client.containers.list(all=True, filters={"name": f"{uid}-app-reconcile-new"})
    assert "No changes." in dcli("plan", "spec", check=0).out

    # moved: the state follows, the container stays
    renamed = cbd.replace("name: app,", "name: web,")
    stack(spec_dir, uid, "moved:\n  - {from: docker.container.app, to: docker.container.web}\nresources:\n" + renamed)
    assert "# docker.container.app has moved to docker.container.web" in dcli("plan", "spec", check=0).out
    dcli("apply", "--auto-approve", "spec", check=0)
    assert docker_client.containers.get(f"{uid}-app").id == new.id
    assert "No changes." in dcli("plan", "spec", check=0).out
    stack(spec_dir, uid, "resources: []\n")
    dcli("apply", "--auto-approve", "spec", check=0)
    assert not docker_client.containers.list(all=True, filters={"name": f"{uid}-app"})


def test_found_images_are_forgotten_and_removal_order(dcli: Cli, spec_dir: Path, uid: str,
                                                      docker_client: Any, busybox: str) -> None:
    # the harness's busybox image existed before: declared, then dropped, it keeps its tag
    stack(spec_dir, uid, f"""resources:
  - {{type: docker.image, name: base, image: "{busybox}"}}
  - {{type: docker.network, name: a_net, network_name: {uid}-net}}
  - {{type: docker.volume, name: b_vol, volume_name: {uid}-vol}}
  - type: docker.container
    name: z_app
    container_name: {uid}-z
    image: "${{docker.image.base.image}}"
    command: [sleep, "600"]
    stop_timeout: 1
    networks: ["${{docker.network.a_net.network_name}}"]
    volumes: ["${{docker.volume.b_vol.volume_name}}:/data"]
""")
    dcli("apply", "--auto-approve", "spec", check=0)
    assert "docker.image.base  (found)" in dcli("state", "list", "--spec", "spec", check=0).out
    stack(spec_dir, uid, "resources: []\n")
    plan = dcli("plan", "spec", check=0)
    assert "# docker.image.base will be forgotten, not destroyed (it existed before reconcile" in plan.out
    # the network and volume go after the container that uses them (names in the wrong alphabetical order)
    run = dcli("apply", "--auto-approve", "spec", check=0)
    lines = run.out.splitlines()
    done = next(i for i, line in enumerate(lines) if "docker.container.z_app: Destruction complete" in line)
    assert done < next(i for i, line in enumerate(lines) if "docker.network.a_net: Destroying" in line)
    assert done < next(i for i, line in enumerate(lines) if "docker.volume.b_vol: Destroying" in line)
    assert docker_client.images.get(busybox)  # still tagged
    assert not docker_client.networks.list(names=[f"{uid}-net"])
