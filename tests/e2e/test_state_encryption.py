"""State encrypted at rest (`state.encryption`), local with a passphrase and on S3 with KMS (moto over HTTP):
the state, its backups, history, journal and saved plans hold nothing readable; without the key, or with a
wrong one, every command stops with one clear error and writes nothing; a state written before encryption
is read and sealed; `state rekey` moves it to a new key (the old one no longer opens it) and `state migrate`
turns encryption off and on."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Cli, write
from tests.harness.fault_proxy import FaultProxy, Faults

KMS_DENIED = b'{"__type": "AccessDeniedException", "message": "User is not authorized to perform kms:Decrypt"}'

MARK = "marker-for-the-encrypted-state"


def spec(directory: Path, out: Path, state: str, content: str = "one") -> None:
    write(directory / "site.yaml", f"""name: vault
state:
{state}
resources:
  - {{type: directory, name: {MARK.replace("-", "_")}, path: "{out}/{MARK}"}}
  - {{type: file, name: conf, path: "{out}/{MARK}/app.conf", content: "{content}\\n"}}
""")


def readable(paths: list[Path]) -> list[str]:
    """Files that give away the stack: an address, a path or the marker in clear."""
    return [str(p) for p in paths if p.is_file() and (MARK.encode() in p.read_bytes()
                                                       or b"file.conf" in p.read_bytes())]


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_local_state_sealed_with_a_passphrase(cli: Cli, tmp_path: Path) -> None:
    out, specs = tmp_path / "out", tmp_path / "spec"
    out.mkdir()
    cli.env.pop("STATE_PASS", None)
    # written before encryption: a plain SQLite state with a backup
    spec(specs, out, "  path: state/state.db")
    cli("apply", "--auto-approve", "spec", check=0)
    spec(specs, out, "  path: state/state.db", "two")
    cli("apply", "--auto-approve", "spec", check=0)
    state = specs / "state" / "state.db"
    assert state.read_bytes().startswith(b"SQLite format 3")
    assert readable(files_under(specs / "state"))

    spec(specs, out, "  path: state/state.db\n  encryption: {passphrase_env: STATE_PASS}", "three")
    before = state.read_bytes()
    cli("plan", "spec", check=0)  # a plain state is read without the key; sealing it needs the key
    run = cli("apply", "--auto-approve", "spec", check=1)
    assert "$STATE_PASS is not set" in run.err and "Traceback" not in run.text, run.text
    assert state.read_bytes() == before and (out / MARK / "app.conf").read_text() == "two\n"

    cli.env["STATE_PASS"] = "correct horse battery staple"
    cli("plan", "--out", "saved.plan", "spec", check=0)
    cli("apply", "--auto-approve", "saved.plan", check=0)  # a sealed saved plan, applied by another process
    assert (out / MARK / "app.conf").read_text() == "three\n"
    assert json.loads(state.read_bytes())["reconcile_sealed"] == 1
    assert json.loads((tmp_path / "saved.plan").read_bytes())["purpose"] == "plan"
    assert readable(files_under(specs / "state") + [tmp_path / "saved.plan"]) == []  # backups sealed too
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    assert "No changes" in cli("plan", "spec", check=0).out
    history = cli("history", "--spec", "spec", check=0).out
    assert "apply" in history and "1 changed" in history
    assert "file.conf" in cli("state", "list", "--spec", "spec", check=0).out

    # drift is still seen and repaired through the sealed state
    (out / MARK / "app.conf").write_text("tampered\n")
    assert "file.conf" in cli("drift", "spec", check=2).out
    cli("apply", "--auto-approve", "spec", check=0)

    # a wrong key: one clear error, nothing written
    sealed = state.read_bytes()
    cli.env["STATE_PASS"] = "wrong"
    for args in (("plan", "spec"), ("apply", "--auto-approve", "spec"), ("state", "list", "--spec", "spec"),
                 ("show", "saved.plan")):
        run = cli(*args, check=1)
        assert "Traceback" not in run.text and "not the key it was encrypted with" in run.err, run.text
    assert state.read_bytes() == sealed

    # rekey under a new variable: the old passphrase no longer opens it
    cli.env["STATE_PASS"] = "correct horse battery staple"
    cli.env["NEW_PASS"] = "a new passphrase"
    spec(specs, out, "  path: state/state.db\n  encryption: {passphrase_env: NEW_PASS}", "three")
    cli("state", "rekey", "--spec", "spec", "--old-passphrase-env", "STATE_PASS", check=0)
    assert json.loads(state.read_bytes())["passphrase_env"] == "NEW_PASS"
    assert "No changes" in cli("plan", "spec", check=0).out
    cli.env["NEW_PASS"] = "correct horse battery staple"
    assert "not the key" in cli("plan", "spec", check=1).err
    for backup in (specs / "state" / "backups").rglob("*.db"):
        assert json.loads(backup.read_bytes())["passphrase_env"] == "NEW_PASS"
    cli.env["NEW_PASS"] = "a new passphrase"

    # off, then on again, in place
    cli("state", "migrate", "--to", "local", "--to-config", "encryption=off", "--spec", "spec", check=0)
    assert state.read_bytes().startswith(b"SQLite format 3")
    assert sqlite3.connect(state).execute("SELECT count(*) FROM resources").fetchone() == (2,)
    cli("state", "migrate", "--to", "local", "--to-config", "encryption.passphrase_env=NEW_PASS", "--spec", "spec",
        check=0)
    assert json.loads(state.read_bytes())["reconcile_sealed"] == 1
    assert "No changes" in cli("plan", "spec", check=0).out


def test_a_drift_job_and_an_apply_write_one_sealed_state_without_losing_a_run(cli: Cli, tmp_path: Path) -> None:
    out, specs = tmp_path / "out", tmp_path / "spec"
    out.mkdir()
    cli.env["STATE_PASS"] = "p"
    spec(specs, out, "  encryption: {passphrase_env: STATE_PASS}")
    cli("apply", "--auto-approve", "spec", check=0)
    drift = [cli.popen("drift", "spec") for _ in range(3)]
    spec(specs, out, "  encryption: {passphrase_env: STATE_PASS}", "two")
    cli("apply", "--auto-approve", "spec", check=0)
    for proc in drift:
        proc.communicate(timeout=120)
        assert proc.returncode in (0, 2)  # the apply may have begun: drift then sees the spec's new content
    runs = cli("history", "--spec", "spec", check=0).out
    assert runs.count("  drift  ") == 3 and runs.count("  apply  ") == 2, runs


@pytest.fixture(scope="module")
def moto(own_moto: Any) -> Any:
    return own_moto


def client(moto: Any, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def test_an_s3_state_sealed_with_kms(cli: Cli, tmp_path: Path, moto: Any, uid: str) -> None:
    s3, kms = client(moto, "s3"), client(moto, "kms")
    bucket = f"{uid}-state"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/{uid}", TargetKeyId=first)
    second = kms.create_key()["KeyMetadata"]["KeyId"]
    cli.env.update(moto.env)
    out, specs = tmp_path / "out", tmp_path / "spec"
    out.mkdir()

    def settings(key_id: str, kms_url: str = moto.url) -> str:
        return (f"  backend: s3\n  bucket: {bucket}\n  key: vault.state\n  region: us-east-1\n"
                f"  endpoint_url: {moto.url}\n"
                f"  encryption: {{key_provider: aws_kms, key_id: {key_id}, endpoint_url: {kms_url}}}")

    spec(specs, out, settings(f"alias/{uid}"))
    cli("plan", "--out", "saved.plan", "spec", check=0)
    cli("apply", "--auto-approve", "saved.plan", check=0)
    cli("drift", "spec", check=0)

    def body(key: str) -> bytes:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    runs = [k for k in keys if k.startswith("vault.state.runs/")]
    assert "vault.state" in keys and len(runs) == 2, keys
    for key in ["vault.state", *runs]:
        sealed = json.loads(body(key))
        assert sealed["method"] == "aws_kms" and sealed["key_id"] == f"alias/{uid}", sealed
        assert MARK.encode() not in body(key) and b"file.conf" not in body(key)
    assert MARK.encode() not in (tmp_path / "saved.plan").read_bytes()
    assert "No changes" in cli("plan", "spec", check=0).out

    # without access to the KMS key (KMS answers AccessDenied): a clear error, nothing written
    version = s3.head_object(Bucket=bucket, Key="vault.state")["VersionId"]
    denied = FaultProxy(moto.url, Faults(refuse=(400, KMS_DENIED)))
    try:
        spec(specs, out, settings(f"alias/{uid}", denied.url), "changed")
        for args in (("plan", "spec"), ("apply", "--auto-approve", "spec"), ("history", "--spec", "spec")):
            run = cli(*args, check=1)
            assert "Traceback" not in run.text and f"KMS key alias/{uid}" in run.err, run.text
            assert "AccessDeniedException" in run.err, run.err
    finally:
        denied.stop()
    assert s3.head_object(Bucket=bucket, Key="vault.state")["VersionId"] == version
    assert (out / MARK / "app.conf").read_text() == "one\n"

    # rekey to the second key: every object names it, and the state opens as before
    spec(specs, out, settings(second))
    cli("state", "rekey", "--spec", "spec", check=0)
    for key in ["vault.state", *runs]:
        assert json.loads(body(key))["key_id"] == second
    assert "No changes" in cli("plan", "spec", check=0).out
    assert cli("history", "--spec", "spec", check=0).out.count("  drift  ") == 1
