"""The state on S3 (moto server over HTTP, which honours conditional writes): one lock for everybody, optimistic
writes that never interleave, lineage and serial checks, versions, migration, and the nightly drift job and an
operator's laptop reading one truth."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from reconciler.errors import StateConflict
from reconciler.state.s3 import S3StateStore
from reconciler.state.s3_bucket import S3Config
from tests.conftest import Cli, write
from tests.harness.fault_proxy import ACCESS_DENIED, FaultProxy, Faults


def s3(moto: Any) -> Any:
    return boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def bucket(moto: Any, uid: str) -> str:
    name = f"{uid}-state"
    client = s3(moto)
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def team_spec(directory: Path, out: Path, bucket: str, moto: Any, extra: str = "", files: int = 2) -> Path:
    resources = "".join(f'  - {{type: file, name: f{i}, path: "{out}/f{i}", content: "{i}\\n"}}\n' for i in range(files))
    write(directory / "site.yaml", f"""name: shop
state:
  backend: s3
  bucket: {bucket}
  key: "shop/{{{{ workspace }}}}.state"
  region: us-east-1
  endpoint_url: {moto.url}
resources:
{resources}{extra}""")
    return directory


@pytest.fixture
def tcli(cli: Cli, moto: Any) -> Cli:
    cli.env.update(moto.env)
    return cli


def test_one_lock_for_everybody_and_force_unlock(tcli: Cli, tmp_path: Path, bucket: str, moto: Any) -> None:
    out = tmp_path / "out"
    out.mkdir()
    slow = f'  - {{type: command, name: slow, command: "sleep 4; touch {out}/slow", creates: "{out}/slow"}}\n'
    team_spec(tmp_path / "spec", out, bucket, moto, slow)
    first = tcli.popen("apply", "--auto-approve", "spec")
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            s3(moto).head_object(Bucket=bucket, Key="shop/default.state.lock")
            break
        except Exception:  # noqa: BLE001 - not there yet
            time.sleep(0.1)
    second = tcli("apply", "--auto-approve", "spec")
    assert second.rc == 1 and "is locked by apply of" in second.err and "force-unlock" in second.err
    assert first.wait(60) == 0
    state = json.loads(s3(moto).get_object(Bucket=bucket, Key="shop/default.state")["Body"].read())
    assert sorted(r["address"] for r in state["resources"]) == ["command.slow", "file.f0", "file.f1"]
    assert state["serial"] == 1 and state["stack"] == {"name": "shop", "workspace": "default"}

    # a lock holder killed with -9: the lock stays, with who and when; force-unlock frees it
    (out / "slow").unlink()
    holder = tcli.popen("apply", "--auto-approve", "spec")
    time.sleep(2.5)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    locked = tcli("plan", "spec")  # plan takes no lock: it still works
    assert locked.rc == 0
    blocked = tcli("apply", "--auto-approve", "spec")
    assert blocked.rc == 1 and "is locked" in blocked.err
    lock_id = blocked.err.split("lock id ")[1].split(";")[0]
    tcli("force-unlock", lock_id, "--spec", "spec", "--yes", check=0)
    tcli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in tcli("plan", "spec", check=0).out


def test_writes_never_interleave_and_lineage_serial_versions(tcli: Cli, tmp_path: Path, bucket: str, moto: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in moto.env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out"
    spec = team_spec(tmp_path / "spec", out, bucket, moto)
    tcli("apply", "--auto-approve", "spec", check=0)
    config = S3Config(bucket=bucket, key="shop/default.state", endpoint_url=moto.url)
    store = S3StateStore(config, writable=True, errored_dir=tmp_path)
    before = store.document()
    # someone else writes between this writer's read and its write: the ETag no longer matches
    other = S3StateStore(config, writable=True, errored_dir=tmp_path)
    other.forget("file.f1")
    other.flush()
    store.forget("file.f0")
    with pytest.raises(StateConflict, match="changed by someone else"):
        store.flush()
    remote = json.loads(s3(moto).get_object(Bucket=bucket, Key="shop/default.state")["Body"].read())
    assert [r["address"] for r in remote["resources"]] == ["file.f0"]  # the other writer's change, intact
    assert json.loads((tmp_path / "errored.reconcile-state.json").read_text())["serial"] == before.serial

    pulled = tmp_path / "pulled.json"
    pulled.write_text(tcli("state", "pull", "--spec", "spec", check=0).out)
    older = json.loads(pulled.read_text()) | {"serial": 0}
    (tmp_path / "older.json").write_text(json.dumps(older))
    refused = tcli("state", "push", str(tmp_path / "older.json"), "--spec", "spec")
    assert refused.rc == 1 and "older than the state's" in refused.err
    (tmp_path / "foreign.json").write_text(json.dumps(json.loads(pulled.read_text()) | {"lineage": "other"}))
    refused = tcli("state", "push", str(tmp_path / "foreign.json"), "--spec", "spec")
    assert refused.rc == 1 and "of lineage other" in refused.err

    versions = tcli("state", "versions", "--spec", "spec", check=0).out.splitlines()
    assert len(versions) == 2 and "(current)" in versions[0]  # the apply's write, then the other writer's
    assert tcli("state", "list", "--spec", "spec", check=0).out.split() == ["file.f0"]
    oldest = versions[-1].split()[0]
    tcli("state", "restore", oldest, "--yes", "--spec", "spec", check=0)
    assert sorted(tcli("state", "list", "--spec", "spec", check=0).out.split()) == ["file.f0", "file.f1"]
    assert "No changes." in tcli("plan", "spec", check=0).out
    assert spec.exists()


def test_migrate_round_trip_and_workspaces(tcli: Cli, tmp_path: Path, bucket: str, moto: Any) -> None:
    out = tmp_path / "out"
    write(tmp_path / "spec" / "site.yaml", f'name: shop\nresources:\n  - {{type: file, name: f, path: "{out}/f", '
                                           'content: "x\\n"}\n')
    tcli("apply", "--auto-approve", "spec", check=0)
    local = json.loads(tcli("state", "pull", "--spec", "spec", check=0).out)
    config = [f"--backend-config=bucket={bucket}", "--backend-config=key=moved/default.state",
              f"--backend-config=endpoint_url={moto.url}"]
    tcli("state", "migrate", "--to", "s3", *(c.replace("--backend-config", "--to-config") for c in config),
         "--spec", "spec", check=0)
    remote = json.loads(tcli("state", "pull", "--spec", "spec", "--backend-config=backend=s3", *config, check=0).out)
    assert remote == local
    assert "No changes." in tcli("plan", "spec", "--backend-config=backend=s3", *config, check=0).out
    shutil.rmtree(tmp_path / "spec" / ".reconcile")
    tcli("state", "migrate", "--to", "local", "--spec", "spec", "--backend-config=backend=s3", *config, check=0)
    assert json.loads(tcli("state", "pull", "--spec", "spec", check=0).out) == local
    assert "No changes." in tcli("plan", "spec", check=0).out

    spec = team_spec(tmp_path / "team", out, bucket, moto, files=1)
    tcli("workspace", "new", "staging", "--spec", str(spec), check=0)
    tcli("apply", "--auto-approve", str(spec), check=0)
    assert s3(moto).head_object(Bucket=bucket, Key="shop/staging.state")
    listed = tcli("workspace", "list", "--spec", str(spec), check=0).out.split()
    assert "staging" in listed and "*" in listed
    state = json.loads(s3(moto).get_object(Bucket=bucket, Key="shop/staging.state")["Body"].read())
    assert state["stack"] == {"name": "shop", "workspace": "staging"}


def test_the_nightly_job_and_a_laptop_read_one_truth(tcli: Cli, tmp_path: Path, bucket: str, moto: Any) -> None:
    out = tmp_path / "out"
    laptop = team_spec(tmp_path / "laptop" / "spec", out, bucket, moto)
    nightly = team_spec(tmp_path / "scheduler" / "checkout" / "spec", out, bucket, moto)
    tcli("apply", "--auto-approve", str(laptop), check=0)
    (out / "f1").write_text("edited by hand\n")
    for checkout in (laptop, nightly):  # two checkouts, no local state anywhere: the same answer
        run = tcli("drift", "--format", "json", str(checkout))
        assert run.rc == 2
        assert {i["address"]: i["kind"] for i in json.loads(run.out)["items"]} == {"file.f1": "drifted"}
    for checkout in (laptop, nightly):
        runs = tcli("history", "--drift", "--spec", str(checkout), check=0).out.splitlines()
        assert len(runs) == 2 and all("1 drifted" in r for r in runs)
    assert not (laptop / ".reconcile").exists() and not (nightly / ".reconcile").exists()


def test_bad_backends_are_one_clear_error(tcli: Cli, tmp_path: Path, moto: Any, uid: str) -> None:
    out = tmp_path / "out"
    team_spec(tmp_path / "spec", out, f"{uid}-missing", moto)
    run = tcli("apply", "--auto-approve", "spec")
    assert run.rc == 1 and f"the state bucket {uid}-missing does not exist" in run.err and "Traceback" not in run.text
    assert not out.exists()
    denied = FaultProxy(moto.url, Faults(refuse=(403, ACCESS_DENIED)))
    try:
        team_spec(tmp_path / "spec", out, f"{uid}-any", moto)
        run = tcli("plan", "spec", f"--backend-config=endpoint_url={denied.url}")
        assert run.rc == 1 and "was denied" in run.err and "Traceback" not in run.text
    finally:
        denied.stop()
    run = tcli("plan", "spec", "--backend-config=endpoint_url=http://127.0.0.1:9")
    assert run.rc == 1 and "cannot reach the state store http://127.0.0.1:9" in run.err
    run = tcli("plan", "spec", "--backend-config=nonsense")
    assert run.rc == 1 and "write KEY=VALUE" in run.err
    run = tcli("plan", "spec", "--backend-config=region=eu west")
    assert run.rc == 1 and "is not an AWS region name" in run.err and "Traceback" not in run.text
    assert not out.exists()


def test_a_no_change_plan_costs_two_requests_more_than_a_local_one(tcli: Cli, tmp_path: Path, bucket: str,
                                                                  moto: Any) -> None:
    out = tmp_path / "out"
    team_spec(tmp_path / "spec", out, bucket, moto, files=20)
    tcli("apply", "--auto-approve", "spec", check=0)
    faults = Faults()
    proxy = FaultProxy(moto.url, faults)
    try:
        tcli("plan", "spec", f"--backend-config=endpoint_url={proxy.url}", check=0)
    finally:
        proxy.stop()
    assert faults.counts["requests"] == 2  # the state document and its apply journal: no lock, no listing


def test_dynamodb_lock_encryption_and_state_operations_on_s3(tcli: Cli, tmp_path: Path, bucket: str, moto: Any,
                                                             uid: str) -> None:
    db = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    table = f"{uid}-locks"
    db.create_table(TableName=table, KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST")
    out = tmp_path / "out"
    out.mkdir()
    slow = f'  - {{type: command, name: slow, command: "sleep 3; touch {out}/slow", creates: "{out}/slow"}}\n'
    team_spec(tmp_path / "spec", out, bucket, moto, slow)
    tcli.env["RECONCILE_BACKEND_CONFIG"] = f"lock_table={table}"
    first = tcli.popen("apply", "--auto-approve", "spec")
    deadline = time.time() + 30
    while time.time() < deadline and not db.scan(TableName=table)["Items"]:
        time.sleep(0.1)
    [item] = db.scan(TableName=table)["Items"]
    assert item["LockID"]["S"] == f"{bucket}/shop/default.state"
    second = tcli("apply", "--auto-approve", "spec")
    assert second.rc == 1 and "is locked by apply of" in second.err
    assert first.wait(60) == 0
    assert db.scan(TableName=table)["Items"] == []  # released
    (out / "slow").unlink()  # the command runs again: the lock is held for seconds
    stale = tcli.popen("apply", "--auto-approve", "spec")  # a holder that dies: its item stays until forced off
    deadline = time.time() + 30
    while time.time() < deadline and not db.scan(TableName=table)["Items"]:
        time.sleep(0.1)
    stale.kill()
    stale.wait(30)
    held = json.loads(db.scan(TableName=table)["Items"][0]["Info"]["S"])
    assert tcli("force-unlock", "not-its-id", "--spec", "spec", "--yes").rc == 1
    tcli("force-unlock", held["id"], "--spec", "spec", "--yes", check=0)
    assert db.scan(TableName=table)["Items"] == []
    time.sleep(3.5)  # the killed run's command finishes what it was making
    (out / "slow").touch()
    listed = s3(moto).list_objects_v2(Bucket=bucket, Prefix="shop/default.state.lock")
    assert listed["KeyCount"] == 0  # the lock lived in the table, never in the bucket
    assert s3(moto).head_object(Bucket=bucket, Key="shop/default.state")["ServerSideEncryption"] == "AES256"

    # state mv, rm and import work on the shared state like on a local one
    write(tmp_path / "spec" / "site.yaml", (tmp_path / "spec" / "site.yaml").read_text().replace("name: f0", "name: g0"))
    tcli("state", "mv", "file.f0", "file.g0", "--spec", "spec", check=0)
    assert "No changes." in tcli("plan", "spec", check=0).out
    tcli("state", "rm", "command.slow", "--spec", "spec", check=0)
    assert "command.slow" not in tcli("state", "list", "--spec", "spec", check=0).out.split()
    theirs = f"{uid}-theirs"
    s3(moto).create_bucket(Bucket=theirs)
    spec = (tmp_path / "spec" / "site.yaml").read_text().replace("resources:\n", "resources:\n"
                                                                  f"  - {{type: aws.s3_bucket, name: theirs, "
                                                                  f"bucket: {theirs}, versioning: true}}\n")
    write(tmp_path / "spec" / "site.yaml", spec.replace("state:\n", f'aws: {{region: us-east-1, endpoint_url: '
                                                                    f'"{moto.url}"}}\nstate:\n'))
    tcli("state", "import", "aws.s3_bucket.theirs", theirs, "--spec", "spec", check=0)
    plan = tcli("plan", "spec", check=0).out
    assert "~ aws.s3_bucket.theirs" in plan and "versioning" in plan
    tcli("apply", "--auto-approve", "spec", check=0)
    assert s3(moto).get_bucket_versioning(Bucket=theirs)["Status"] == "Enabled"
    # adopted, not created: dropped from the spec it is forgotten, never deleted
    write(tmp_path / "spec" / "site.yaml", spec.replace(f"  - {{type: aws.s3_bucket, name: theirs, bucket: {theirs}, "
                                                        "versioning: true}\n", ""))
    tcli("apply", "--auto-approve", "spec", check=0)
    assert theirs in [b["Name"] for b in s3(moto).list_buckets()["Buckets"]]
    assert "aws.s3_bucket.theirs" not in tcli("state", "list", "--spec", "spec", check=0).out.split()


def test_lost_answers_from_the_state_store_are_neither_conflicts_nor_foreign_locks(tcli: Cli, tmp_path: Path,
                                                                                  bucket: str, moto: Any) -> None:
    out = tmp_path / "out"
    team_spec(tmp_path / "spec", out, bucket, moto, files=4)
    faults = Faults(lose=0.5)  # half the writes (state, lock, run records) land but their answer is lost
    proxy = FaultProxy(moto.url, faults)
    try:
        for i in range(4):
            (tmp_path / "spec" / "site.yaml").write_text((tmp_path / "spec" / "site.yaml").read_text()
                                                         .replace(f'"{i}\\n"', f'"{i} changed\\n"'))
            tcli("apply", "--auto-approve", "spec", f"--backend-config=endpoint_url={proxy.url}", check=0)
    finally:
        proxy.stop()
    assert faults.counts["lost"] > 0, faults.counts
    state = json.loads(s3(moto).get_object(Bucket=bucket, Key="shop/default.state")["Body"].read())
    assert state["serial"] == 4 and len(state["resources"]) == 4  # one write per apply, none lost or doubled
    assert s3(moto).list_objects_v2(Bucket=bucket, Prefix="shop/default.state.lock")["KeyCount"] == 0
    assert "No changes." in tcli("plan", "spec", check=0).out


def test_the_journal_on_s3_survives_a_killed_apply(tcli: Cli, tmp_path: Path, bucket: str, moto: Any) -> None:
    """The apply journal beside the S3 document: written before anything changes, left by a run killed midway,
    listed by the next plan, and settled (removed) by the next apply, which keeps what the killed run made as
    created by reconcile."""
    import subprocess

    out = tmp_path / "out"
    out.mkdir()
    spec = team_spec(tmp_path / "spec", out, bucket, moto, files=1, extra="""  - type: file
    name: many
    count: 150
    path: "OUT/m{{ count.index }}"
    content: "m"
""".replace("OUT", str(out)))
    proc = subprocess.Popen([tcli.python, "-m", "reconciler", "apply", "--auto-approve", "--parallelism", "1",
                             str(spec)], cwd=tcli.cwd, env=tcli.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while proc.poll() is None and len(list(out.glob("m*"))) < 20 and time.time() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the apply finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    journal = json.loads(s3(moto).get_object(Bucket=bucket, Key="shop/default.state.journal")["Body"].read())
    assert len(journal) >= 150 and all(e["action"] == "create" and e["origin"] == "created" for e in journal.values())

    lock = json.loads(s3(moto).get_object(Bucket=bucket, Key="shop/default.state.lock")["Body"].read())
    tcli("force-unlock", lock["id"], "--yes", "--spec", str(spec), check=0)
    plan = tcli("plan", str(spec), check=0).out
    assert "a run stopped before it recorded the outcome of" in plan, plan
    tcli("apply", "--auto-approve", str(spec), check=0)
    listed = tcli("state", "list", "--spec", str(spec), check=0).out.splitlines()
    assert len(listed) == 151 and not [line for line in listed if "(found)" in line]
    keys = {o["Key"] for o in s3(moto).list_objects_v2(Bucket=bucket).get("Contents") or []}
    assert "shop/default.state.journal" not in keys
    assert "No changes." in tcli("plan", str(spec), check=0).out
