"""Secrets from the stores teams use (SSM Parameter Store, Secrets Manager) on moto: they reach a file on
the local target and on an sshd host, rotation in the store is planned and applied, a saved plan applies
after the process that made it is gone, and no file reconcile writes outside the target holds a value
(state, saved plan, log, JSON events, drift reports, history) — not even hashed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Cli, SSHFleet, write


@pytest.fixture(scope="module")
def moto(own_moto: Any) -> Any:
    """This module's own moto server (see conftest.own_moto)."""
    return own_moto


def aws(moto: Any, service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def spec(spec_dir: Path, moto: Any, uid: str, out: Path, inventory: str) -> None:
    write(spec_dir / "site.yaml", inventory + f"""
name: {uid}
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
data:
  - {{type: aws.ssm_parameter, name: db, parameter: /{uid}/db/password}}
  - {{type: aws.ssm_parameter, name: app, path: /{uid}/app}}
  - {{type: aws.secretsmanager_secret, name: api, secret_id: {uid}/api}}
resources:
  - type: file
    name: conf
    path: {out}/app.conf
    mode: "0600"
    content: "password = ${{data.aws.ssm_parameter.db.value}}\\ntoken = ${{data.aws.secretsmanager_secret.api.json.token}}\\n"
  - type: file
    name: remote
    on: h0
    path: /tmp/{uid}-app.conf
    content: "level = ${{data.aws.ssm_parameter.app.values.level}}\\npassword = ${{data.aws.ssm_parameter.db.value}}\\n"
""")


def leaks(root: Path, values: list[str]) -> list[str]:
    """Files under `root` holding any of the values, in clear or as a plain sha256 (hex or base64)."""
    forms = {v.encode() for v in values} | {hashlib.sha256(v.encode()).hexdigest().encode() for v in values}
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.name.endswith(".conf"):
            data = path.read_bytes()
            found += [f"{path}: {f[:12]!r}…" for f in forms if f in data]
    return found


def test_store_values_reach_targets_rotate_and_are_written_nowhere(cli: Cli, spec_dir: Path, tmp_path: Path,
                                                                    moto: Any, ssh_hosts: SSHFleet,
                                                                    uid: str) -> None:
    ssm, sm = aws(moto, "ssm"), aws(moto, "secretsmanager")
    password, token, level = f"pw-{uid}-Xq7", f"tok-{uid}-Zr9", f"lvl-{uid}"
    ssm.put_parameter(Name=f"/{uid}/db/password", Value=password, Type="SecureString")
    ssm.put_parameter(Name=f"/{uid}/app/level", Value=level, Type="String")
    sm.create_secret(Name=f"{uid}/api", SecretString=json.dumps({"token": token, "user": "api"}))
    out = tmp_path / "target"
    out.mkdir()
    cli.env.update(moto.env)
    cli.env["HOME"] = str(cli.cwd)
    spec(spec_dir, moto, uid, out, ssh_hosts.inventory())
    logs = tmp_path / "logs"
    logs.mkdir()

    plan = cli("-vv", "--log-file", str(logs / "plan.log"), "plan", "--out", str(tmp_path / "saved.plan"), "spec",
               check=0)
    assert "+ file.conf" in plan.out and password not in plan.text and token not in plan.text
    applied = cli("apply", "--json", "--auto-approve", str(tmp_path / "saved.plan"), check=0)  # a new process
    write(logs / "events.jsonl", applied.out)
    assert (out / "app.conf").read_text() == f"password = {password}\ntoken = {token}\n"
    h0 = ssh_hosts.hosts[0]
    assert h0.exec(f"cat /tmp/{uid}-app.conf")[1] == f"level = {level}\npassword = {password}\n"
    assert "No changes." in cli("plan", "spec", check=0).out

    # rotation in the store: every resource that uses the value changes, and apply carries it out
    rotated = f"pw2-{uid}-Kd3"
    ssm.put_parameter(Name=f"/{uid}/db/password", Value=rotated, Type="SecureString", Overwrite=True)
    plan = cli("plan", "spec", check=0).out
    assert "~ file.conf" in plan and "~ file.remote" in plan and rotated not in plan, plan
    cli("-vv", "--log-file", str(logs / "apply.log"), "apply", "--auto-approve", "spec", check=0)
    assert (out / "app.conf").read_text().startswith(f"password = {rotated}\n")
    # drift of the target is still seen (compared with what the file holds, hashed in memory only)
    (out / "app.conf").write_text("tampered\n")
    cli("drift", "--format", "json", "--output", str(logs / "drift.json"), "spec", check=2)
    cli("drift", "--format", "html", "--output", str(logs / "drift.html"), "spec", check=2)
    cli("apply", "--auto-approve", "spec", check=0)
    cli("history", "--spec", "spec", check=0)

    secrets = [password, token, level, rotated]
    assert not leaks(spec_dir / ".reconcile", secrets), leaks(spec_dir / ".reconcile", secrets)
    assert not leaks(tmp_path, secrets), leaks(tmp_path, secrets)
    assert b"ephemeral" in b"".join(p.read_bytes() for p in (spec_dir / ".reconcile").rglob("*.db"))


def test_a_missing_or_wrong_lookup_is_one_clear_error(cli: Cli, spec_dir: Path, tmp_path: Path, moto: Any,
                                                      uid: str) -> None:
    cli.env.update(moto.env)
    write(spec_dir / "site.yaml", f"""name: {uid}
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
data:
  - {{type: aws.ssm_parameter, name: gone, parameter: /{uid}/nowhere}}
  - {{type: aws.secretsmanager_secret, name: gone, secret_id: {uid}/nowhere}}
resources:
  - {{type: file, name: f, path: "{tmp_path}/f", content: "${{data.aws.ssm_parameter.gone.value}}"}}
""")
    run = cli("plan", "spec", check=1)
    assert f"SSM parameter /{uid}/nowhere does not exist" in run.text and f"secret {uid}/nowhere" in run.text
    assert "Traceback" not in run.text and not (tmp_path / "f").exists()
