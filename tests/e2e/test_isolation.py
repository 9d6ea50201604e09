"""Every stack and every workspace has a state of its own, by construction: two stacks in one directory, two
workspaces of one spec, locally and on S3 (moto over HTTP), each apply and prune touching only its own objects;
workspace names checked by one rule; a workspace is never deleted under a running apply."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Cli, state_path, write


def s3(moto: Any) -> Any:
    return boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def bucket(moto: Any, uid: str) -> str:
    s3(moto).create_bucket(Bucket=f"{uid}-iso")
    return f"{uid}-iso"


@pytest.fixture
def tcli(cli: Cli, moto: Any) -> Cli:
    cli.env.update(moto.env)
    return cli


def files(out: Path, *names: str) -> str:
    return "resources:\n" + "".join(
        f'  - {{type: file, name: {n}, path: "{out}/{{{{ workspace }}}}-{n}", content: "{n}\\n"}}\n' for n in names)


def test_two_stacks_in_one_directory_have_their_own_states(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write(spec_dir / "alpha.yaml", "name: alpha\n" + files(out, "a"))
    write(spec_dir / "beta.yaml", "name: beta\n" + files(out, "b1", "b2"))
    cli("apply", "--auto-approve", "spec/alpha.yaml", check=0)
    cli("apply", "--auto-approve", "spec/beta.yaml", check=0)
    assert state_path(spec_dir / "alpha.yaml") != state_path(spec_dir / "beta.yaml")
    assert (spec_dir / ".reconcile/stacks/alpha/state.db").is_file()
    assert (spec_dir / ".reconcile/stacks/beta/state.db").is_file()

    write(spec_dir / "beta.yaml", "name: beta\n" + files(out, "b1"))  # beta prunes b2, and only b2
    plan = cli("plan", "spec/beta.yaml", check=0).out
    assert "- file.b2" in plan and "file.a" not in plan, plan
    cli("apply", "--auto-approve", "spec/beta.yaml", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["default-a", "default-b1"]
    assert "No changes." in cli("plan", "spec/alpha.yaml", check=0).out
    assert cli("state", "list", "--spec", "spec/alpha.yaml", check=0).out.split() == ["file.a"]


def test_two_workspaces_prune_only_their_own(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write(spec_dir / "site.yaml", "name: shop\n" + files(out, "x", "y"))
    cli("apply", "--auto-approve", "spec", check=0)
    cli("apply", "--auto-approve", "--workspace", "prod", "spec", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["default-x", "default-y", "prod-x", "prod-y"]
    assert state_path(spec_dir, "prod") == spec_dir / ".reconcile/stacks/shop/workspaces/prod/state.db"

    write(spec_dir / "site.yaml", "name: shop\n" + files(out, "x"))
    cli("apply", "--auto-approve", "spec", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["default-x", "prod-x", "prod-y"]
    listed = cli("workspace", "list", "--spec", "spec", check=0).out.split()
    assert listed == ["*", "default", "prod"]


@pytest.mark.parametrize("name", ["../../x", "a/b", "", "x" * 65, "sp ace", "dot.ted"])
def test_workspace_names_follow_one_rule_everywhere(cli: Cli, spec_dir: Path, tmp_path: Path, name: str) -> None:
    write(spec_dir / "site.yaml", "name: shop\n" + files(tmp_path / "out", "x"))
    for args in (["apply", "--auto-approve", "--workspace", name, "spec"], ["plan", "--workspace", name, "spec"],
                 ["workspace", "new", name, "--spec", "spec"]):
        run = cli(*args, check=1)
        assert "workspace name" in run.err and "Traceback" not in run.err, run.err
    cli.env["RECONCILE_WORKSPACE"] = name
    if name:  # an empty variable means "not set"
        assert "workspace name" in cli("plan", "spec", check=1).err
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()
    assert not list((spec_dir / ".reconcile").rglob("state.db")) if (spec_dir / ".reconcile").exists() else True


def test_workspace_delete_waits_for_no_one(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write(spec_dir / "site.yaml", "name: shop\n" + files(out, "x")
          + '  - {type: command, name: slow, command: "sleep 3", creates: "' + str(out) + '/{{ workspace }}-slow"}\n')
    cli("workspace", "new", "staging", "--spec", "spec", check=0)
    cli("workspace", "select", "default", "--spec", "spec", check=0)
    running = cli.popen("apply", "--auto-approve", "--workspace", "staging", "spec")
    lock = Path(f"{state_path(spec_dir, 'staging')}.lock")
    deadline = time.time() + 20
    while time.time() < deadline and not (lock.exists() and lock.read_text()):
        time.sleep(0.05)
    refused = cli("workspace", "delete", "staging", "--force", "--spec", "spec", check=1)
    assert "locked by apply" in refused.err, refused.err
    assert running.wait(60) == 0
    assert state_path(spec_dir, "staging").is_file() and (out / "staging-x").is_file()
    cli("workspace", "delete", "staging", "--force", "--spec", "spec", check=0)
    assert not state_path(spec_dir, "staging").exists()


def s3_spec(directory: Path, out: Path, bucket: str, moto: Any, key: str | None, name: str = "shop",
            *names: str) -> None:
    key_line = f'  key: "{key}"\n' if key else ""
    write(directory / "site.yaml", f"""name: {name}
state:
  backend: s3
  bucket: {bucket}
{key_line}  region: us-east-1
  endpoint_url: {moto.url}
""" + files(out, *(names or ("x", "y"))))


def keys(moto: Any, bucket: str) -> set[str]:
    listed = s3(moto).list_objects_v2(Bucket=bucket).get("Contents") or []
    return {o["Key"] for o in listed if ".runs/" not in o["Key"]}


def test_an_s3_key_without_the_workspace_is_kept_apart(tcli: Cli, spec_dir: Path, tmp_path: Path, bucket: str,
                                                        moto: Any) -> None:
    out = tmp_path / "out"
    out.mkdir()
    s3_spec(spec_dir, out, bucket, moto, "app/state.json")
    tcli("apply", "--auto-approve", "spec", check=0)
    tcli("apply", "--auto-approve", "--workspace", "prod", "spec", check=0)
    assert keys(moto, bucket) == {"app/state.json", "env:/prod/app/state.json"}

    s3_spec(spec_dir, out, bucket, moto, "app/state.json", "shop", "x")
    tcli("apply", "--auto-approve", "spec", check=0)  # default prunes its y, never prod's
    assert sorted(p.name for p in out.iterdir()) == ["default-x", "prod-x", "prod-y"]
    assert tcli("workspace", "list", "--spec", "spec", check=0).out.split() == ["*", "default", "prod"]


def test_backend_config_is_templated_like_the_spec(tcli: Cli, spec_dir: Path, tmp_path: Path, bucket: str,
                                                   moto: Any) -> None:
    out = tmp_path / "out"
    out.mkdir()
    s3_spec(spec_dir, out, bucket, moto, None)
    for workspace in ("default", "prod"):
        tcli("apply", "--auto-approve", "--workspace", workspace, "--backend-config", "key=app/{{ workspace }}.json",
             "spec", check=0)
    assert keys(moto, bucket) == {"app/default.json", "app/prod.json"}
    assert sorted(p.name for p in out.iterdir()) == ["default-x", "default-y", "prod-x", "prod-y"]


def test_two_stacks_never_share_one_state(tcli: Cli, tmp_path: Path, bucket: str, moto: Any) -> None:
    out = tmp_path / "out"
    out.mkdir()
    s3_spec(tmp_path / "alpha", out, bucket, moto, "shared.json", "alpha", "a")
    s3_spec(tmp_path / "beta", out, bucket, moto, "shared.json", "beta", "b")
    tcli("apply", "--auto-approve", "alpha", check=0)
    for args in (["plan", "beta"], ["apply", "--auto-approve", "beta"]):
        refused = tcli(*args, check=1)
        assert "belongs to stack alpha/default, not beta/default" in refused.err, refused.err
    assert sorted(p.name for p in out.iterdir()) == ["default-a"]
    assert "No changes." in tcli("plan", "alpha", check=0).out
