"""reconcile's own container image (the Dockerfile, built as `make image` builds it) on the harness's dockerd:
its version, a spec mounted at /work planned and applied on the local target and against moto, and the state
where the documentation says it is (/work/.reconcile/stacks/NAME/state.db for a mounted spec named NAME)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, write
from tools.image import build_image

VERSION = re.search(r'^__version__ = "([^"]+)"', (ROOT / "reconciler/__init__.py").read_text(), re.M).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def image(docker_client: Any) -> str:
    tag = f"reconcile-test/reconcile:{VERSION}"
    build_image(docker_client, tag)
    return tag


def run(client: Any, image: str, *args: str, mount: Path | None = None, env: dict[str, str] | None = None,
        user: str | None = None) -> tuple[int, str]:
    container = client.containers.run(
        image, list(args), detach=True, environment=env or {}, network_mode="host", user=user,
        volumes={str(mount): {"bind": "/work", "mode": "rw"}} if mount else None)
    try:
        rc = int(container.wait(timeout=300)["StatusCode"])
        return rc, container.logs(stdout=True, stderr=True).decode()
    finally:
        container.remove(force=True)


def test_the_image_runs_reconcile_as_a_non_root_user(docker_client: Any, image: str) -> None:
    rc, out = run(docker_client, image, "--version")
    assert rc == 0 and out.strip() == f"reconcile {VERSION}", out
    attrs = docker_client.images.get(image).attrs["Config"]
    assert attrs["Entrypoint"] == ["reconcile"] and attrs["User"] == "reconcile" and attrs["WorkingDir"] == "/work"
    container = docker_client.containers.run(image, detach=True, entrypoint=["sh", "-c", "id -u; command -v dot; command -v ssh"])
    try:
        container.wait(timeout=60)
        said = container.logs().decode().split()
    finally:
        container.remove(force=True)
    assert said[0] == "10001" and said[1].endswith("/dot") and said[2].endswith("/ssh"), said


def test_a_mounted_spec_on_the_local_target(docker_client: Any, image: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec"
    write(spec / "site.yaml", """
        name: in-image
        resources:
          - {type: directory, name: out, path: /work/out, mode: "0755"}
          - {type: file, name: hello, path: "${directory.out.path}/hello.txt", content: "hello from the image\\n"}
        """)
    spec.chmod(0o777)  # the image's user (uid 10001) writes the state and the files beside the spec
    rc, out = run(docker_client, image, "plan", "/work", mount=spec)
    assert rc == 0 and "Plan: 2 to add" in out, out
    rc, out = run(docker_client, image, "apply", "--auto-approve", "/work", mount=spec)
    assert rc == 0, out
    assert (spec / "out/hello.txt").read_text() == "hello from the image\n"
    state = spec / ".reconcile/stacks/in-image/state.db"  # where docs/ci.md says a mounted spec's state is
    assert state.is_file() and state.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(state) as db:
        assert {r[0] for r in db.execute("SELECT address FROM resources")} == {"directory.out", "file.hello"}
    rc, out = run(docker_client, image, "plan", "--detailed-exitcode", "/work", mount=spec)
    assert rc == 0 and "No changes." in out, out
    (spec / "out/hello.txt").write_text("changed by hand\n")
    rc, out = run(docker_client, image, "watch", "--once", "/work", mount=spec)  # the image has the watch extra
    assert rc == 2 and "run 1: drift (1 drifted)" in out, out


def test_a_mounted_spec_against_moto(docker_client: Any, image: str, moto: Any, tmp_path: Path, uid: str) -> None:
    moto_url = moto.url
    spec = tmp_path / "spec"
    write(spec / "site.yaml", f"""
        name: {uid}
        aws: {{region: us-east-1, endpoint_url: "{moto_url}"}}
        resources:
          - {{type: aws.s3_bucket, name: logs, bucket: "{uid}-image-logs"}}
        """)
    spec.chmod(0o777)
    env = dict(moto.env)
    rc, out = run(docker_client, image, "plan", "/work", mount=spec, env=env)
    assert rc == 0 and "+ aws.s3_bucket.logs" in out, out
    rc, out = run(docker_client, image, "apply", "--auto-approve", "--json", "/work", mount=spec, env=env)
    assert rc == 0, out
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert events[-1]["type"] == "summary", events[-1]
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")  # moto takes any credentials
    assert f"{uid}-image-logs" in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    rc, out = run(docker_client, image, "plan", "--detailed-exitcode", "/work", mount=spec, env=env)
    assert rc == 0 and "No changes." in out, out
