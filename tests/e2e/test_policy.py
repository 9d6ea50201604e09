"""CI gates on the plan: Rego policies (`policy:` and --policy, evaluated by regopy) deny and warn on the plan
in Terraform's plan-JSON shape; a broken policy is one error naming its file; and `show --format
terraform-json` is read by Checkov, the scanner teams run on Terraform plans, on an AWS plan made on moto:
a security group open to the world on port 22 fails CKV_AWS_24 and passes once narrowed, an unencrypted
database fails CKV_AWS_16, a bucket whose public access is not blocked fails CKV_AWS_53/54/55/56."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, write

ROOT = Path(__file__).resolve().parents[2]

FILES_POLICY = """package reconcile.files
import rego.v1

deny contains msg if {
  some r in input.resource_changes
  r.type == "file"
  some action in r.change.actions
  action in {"create", "update"}
  r.change.after.mode == "0666"
  msg := sprintf("%s is world-writable", [r.address])
}

warn contains {"msg": "debug is on", "address": r.address} if {
  some r in input.resource_changes
  contains(r.change.after.content, "debug")
}
"""

# A conftest policy as written for Terraform plans (package main, input.resource_changes, aws_* types).
SSH_POLICY = """package main
import rego.v1

deny contains msg if {
  some r in input.resource_changes
  r.type == "aws_security_group"
  some rule in r.change.after.ingress
  rule.from_port <= 22
  rule.to_port >= 22
  "0.0.0.0/0" in rule.cidr_blocks
  msg := sprintf("%s allows SSH from anywhere", [r.address])
}
"""


def test_policies_deny_warn_and_fail_clearly(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(tmp_path / "spec/policies/files.rego", FILES_POLICY)
    write(tmp_path / "spec/policies/files_test.rego", "this is a test file of the policy, never loaded\n")
    body = f"""name: gates
policy:
  - path: policies
resources:
  - {{type: file, name: conf, path: "{out}/app.conf", content: "debug = true\\n", mode: "0666"}}
  - {{type: file, name: ok, path: "{out}/ok.conf", content: "x\\n"}}
"""
    write(tmp_path / "spec/site.yaml", body)
    plan = cli("plan", "spec", check=1)
    assert "Error: policy: file.conf: file.conf is world-writable" in plan.text, plan.text
    assert "Warning: policy: file.conf: debug is on" in plan.text and "Traceback" not in plan.text
    as_json = json.loads(cli("plan", "--json", "spec", check=1).out)
    kinds = {(f["kind"], f["address"]) for f in as_json["policy"]}
    assert kinds == {("deny", "file.conf"), ("warn", "file.conf")}, as_json["policy"]
    sarif = json.loads(cli("plan", "--format", "sarif", "spec", check=1).out)["runs"][0]["results"]
    levels = {(r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in sarif}
    assert levels == {("error", 5), ("warning", 5)}, sarif  # at the spec line of file.conf
    junit = cli("plan", "--format", "junit", "spec", check=1).out
    assert "<failure" in junit and "world-writable" in junit and "site.yaml:5:" in junit
    applied = cli("apply", "--auto-approve", "spec", check=1)
    assert "world-writable" in applied.err and not out.exists()  # denied: nothing was applied

    write(tmp_path / "spec/site.yaml", body.replace('mode: "0666"', 'mode: "0640"'))
    cli("apply", "--auto-approve", "spec", check=0)  # the warning alone does not block
    assert (out / "app.conf").read_text() == "debug = true\n"

    # --policy adds policies; one that does not parse, or has no package, is one error naming its file
    write(tmp_path / "extra/bad.rego", "package bad\ndeny contains msg if { msg := }\n")
    run = cli("plan", "spec", "--policy", str(tmp_path / "extra"), check=1)
    assert f"{tmp_path / 'extra/bad.rego'}:2:" in run.err and "Traceback" not in run.text, run.text
    write(tmp_path / "extra/bad.rego", "deny := true\n")
    run = cli("plan", "spec", "--policy", str(tmp_path / "extra/bad.rego"), check=1)
    assert "a policy starts with `package NAME`" in run.err and "Traceback" not in run.text
    run = cli("plan", "spec", "--policy", str(tmp_path / "spec"), check=1)
    assert "holds no .rego file" in run.err
    assert "policy" not in cli("validate", "spec", check=0).text  # validate contacts nothing: no policy runs


@pytest.fixture(scope="module")
def moto(own_moto: Any) -> Any:
    return own_moto


def checkov() -> str:
    found = ROOT / ".venv-checkov/bin/checkov"
    path = str(found) if found.exists() else shutil.which("checkov")
    assert path, "Checkov is missing: `make test` installs it in .venv-checkov"
    return path


def scanned(tf_json: Path, checks: str) -> dict[str, set[str]]:
    """Checkov's verdicts on a Terraform plan JSON: check id -> the resources that failed, and passed."""
    done = subprocess.run([checkov(), "-f", str(tf_json), "--framework", "terraform_plan", "-c", checks, "-o", "json",
                           "--compact"], capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    report = report[0] if isinstance(report, list) else report
    results = report.get("results", {}) if isinstance(report, dict) else {}
    out: dict[str, set[str]] = {}
    for verdict in ("failed_checks", "passed_checks"):
        for item in results.get(verdict) or []:
            out.setdefault(f"{verdict.split('_')[0]} {item['check_id']}", set()).add(item["resource"])
    return out


def test_the_terraform_form_of_an_aws_plan_is_read_by_checkov_and_conftest_policies(
        cli: Cli, tmp_path: Path, moto: Any, uid: str) -> None:
    cli.env.update(moto.env)
    cli.env["DB_PASSWORD"] = "not-a-real-password-1"
    spec = tmp_path / "spec"

    def write_spec(cidr: str, encrypted: bool, blocked: bool) -> None:
        on = str(blocked).lower()
        block = (f"\n    public_access_block: {{block_public_acls: {on}, ignore_public_acls: {on}, "
                 f"block_public_policy: {on}, restrict_public_buckets: {on}}}")
        write(spec / "site.yaml", f"""name: scan-{uid}
vars_from_env: [DB_PASSWORD]
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
resources:
  - type: aws.security_group
    name: web
    group_name: web-{uid}
    description: web
    ingress:
      - {{protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: ["{cidr}"]}}
  - type: aws.security_group
    name: db
    group_name: db-{uid}
    description: db
    ingress:
      - {{protocol: tcp, from_port: 5432, to_port: 5432, source_security_group_ids: ["${{aws.security_group.web.id}}"]}}
  - type: aws.s3_bucket
    name: logs
    bucket: logs-{uid}{block}
  - type: aws.rds_instance
    name: db
    db_instance_identifier: db-{uid}
    engine: postgres
    instance_class: db.t3.micro
    allocated_storage: 20
    master_username: app
    master_password: "{{{{ env.DB_PASSWORD }}}}"
    storage_encrypted: {str(encrypted).lower()}
    skip_final_snapshot: true
    sensitive: [master_password]
""")

    write_spec("0.0.0.0/0", encrypted=False, blocked=False)
    cli("plan", "--out", "open.plan", "spec", check=0)
    tf = json.loads(cli("show", "open.plan", "--format", "terraform-json", check=0).out)
    (tmp_path / "open.json").write_text(json.dumps(tf))
    assert tf["format_version"] == "1.2" and tf["planned_values"]["root_module"]["resources"]
    by_address = {r["address"]: r for r in tf["resource_changes"]}
    group = by_address["aws_security_group.web"]
    assert group["type"] == "aws_security_group" and group["change"]["actions"] == ["create"]
    assert group["change"]["after"]["ingress"][0]["cidr_blocks"] == ["0.0.0.0/0"]
    assert group["change"]["after"]["name"] == f"web-{uid}"
    database = by_address["aws_db_instance.db"]["change"]
    assert database["after"]["password"] is None and database["after_sensitive"]["password"] is True
    assert "not-a-real-password-1" not in json.dumps(tf)
    assert by_address["aws_s3_bucket.logs"]["change"]["after"]["bucket"] == f"logs-{uid}"
    configured = {r["address"]: r for r in tf["configuration"]["root_module"]["resources"]}
    assert configured["aws_security_group.db"]["expressions"]["ingress"] == {
        "references": ["aws_security_group.web.id", "aws_security_group.web"]}  # as Terraform's configuration says it
    assert configured["aws_security_group.web"]["expressions"]["name"] == {"constant_value": f"web-{uid}"}

    found = scanned(tmp_path / "open.json", "CKV_AWS_24,CKV_AWS_16,CKV_AWS_53,CKV_AWS_54,CKV_AWS_55,CKV_AWS_56")
    assert "aws_security_group.web" in found.get("failed CKV_AWS_24", set()), found
    assert "aws_db_instance.db" in found.get("failed CKV_AWS_16", set()), found
    for check in ("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"):  # the bucket's public access left open
        assert "aws_s3_bucket_public_access_block.logs_public_access_block" in found.get(f"failed {check}", set()), \
            found
    write_spec("0.0.0.0/0", encrypted=False, blocked=True)
    cli("plan", "--out", "blocked.plan", "spec", check=0)
    (tmp_path / "blocked.json").write_text(cli("show", "blocked.plan", "--format", "terraform-json", check=0).out)
    blocked = scanned(tmp_path / "blocked.json", "CKV_AWS_53,CKV_AWS_54,CKV_AWS_55,CKV_AWS_56")
    for check in ("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"):
        assert "aws_s3_bucket_public_access_block.logs_public_access_block" in blocked.get(f"passed {check}", set()), \
            blocked

    # a conftest policy written for Terraform denies the same plan, unchanged; narrowed, everything passes
    write(tmp_path / "policies/ssh.rego", SSH_POLICY)
    run = cli("plan", "spec", "--policy", str(tmp_path / "policies"), check=1)
    assert "aws.security_group.web: aws_security_group.web allows SSH from anywhere" in run.text, run.text
    write_spec("10.0.0.0/8", encrypted=True, blocked=True)
    cli("plan", "--out", "narrow.plan", "spec", "--policy", str(tmp_path / "policies"), check=0)
    (tmp_path / "narrow.json").write_text(cli("show", "narrow.plan", "--format", "terraform-json", check=0).out)
    narrowed = scanned(tmp_path / "narrow.json", "CKV_AWS_24,CKV_AWS_16")
    assert "aws_security_group.web" in narrowed.get("passed CKV_AWS_24", set()), narrowed
    assert "aws_db_instance.db" in narrowed.get("passed CKV_AWS_16", set()), narrowed


def test_the_markdown_plan_fits_a_pull_request_comment(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    body = "".join(f'  - {{type: file, name: f{i}, path: "{out}/f{i}.conf", content: "{"line ```x``` " * 4}{i}\\n'
                   + "more\\n" * 30 + '"}\n' for i in range(300))
    write(tmp_path / "spec/site.yaml", "resources:\n" + body)
    text = cli("plan", "spec", "--format", "markdown", check=0).out
    assert len(text) <= 60_000, len(text)
    assert text.startswith("### reconcile plan: spec\n") and "| 300 | 0 | 0 | 0 | 0 |" in text
    shown = text.count("<details>")
    assert 10 < shown < 300 and text.count("</details>") == shown
    assert f"{300 - shown} more change(s) not shown" in text, text[-600:]
    assert "````diff" in text  # a fence longer than the content's own backticks: nothing in it can close it
    small = cli("plan", "spec", "--format", "markdown", "--target", "file.f7", check=0).out
    assert "not shown" not in small and small.count("<details>") == 1 and "+line ```x```" in small
