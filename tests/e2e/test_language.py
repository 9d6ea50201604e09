"""The language for estates: for_each, count and when, end to end on the local machine and moto."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import Cli, state_path, write


def teams_spec(spec_dir: Path, out: Path, teams: str, extra: str = "") -> None:
    write(spec_dir / "site.yaml", f"""
name: teams
vars:
  teams: {teams}
  root: "{out}"
resources:
  - type: directory
    name: team
    for_each: "{{{{ teams }}}}"
    path: "{{{{ root }}}}/{{{{ each.key }}}}"
    mode: "{{{{ each.value.mode }}}}"
  - type: file
    name: motd
    for_each: "{{{{ teams }}}}"
    path: "${{directory.team[{{{{ each.key }}}}].path}}/motd"
    content: "Welcome to {{{{ each.key }}}} ({{{{ each.value.lead }}}})\\n"
  - type: file
    name: shard
    count: 3
    path: "{{{{ root }}}}/shard-{{{{ count.index }}}}"
    content: "{{{{ count.index }}}} of 3\\n"
  - type: file
    name: banner
    when: workspace == "prod"
    path: "{{{{ root }}}}/PRODUCTION"
    content: "careful\\n"
{extra}""")


def test_for_each_count_and_when(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    teams_spec(spec_dir, out, "{ops: {mode: '0750', lead: ann}, web: {mode: '0755', lead: bo}}")
    plan = cli("plan", "spec", check=0).out
    assert "+ directory.team[ops]" in plan and "+ file.motd[web]" in plan and "+ file.shard[2]" in plan
    assert "banner" not in plan and "Plan: 7 to add" in plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert (out / "ops/motd").read_text() == "Welcome to ops (ann)\n"
    assert oct((out / "ops").stat().st_mode & 0o777) == "0o750"
    assert sorted(p.name for p in out.iterdir()) == ["ops", "shard-0", "shard-1", "shard-2", "web"]
    graph = cli("graph", "spec", check=0).out
    assert '"directory.team[web]" -> "file.motd[web]";' in graph  # a reference into one instance
    kept = (out / "web/motd").stat().st_ino

    # keys are stable: the same teams in another order change nothing
    teams_spec(spec_dir, out, "{web: {mode: '0755', lead: bo}, ops: {mode: '0750', lead: ann}}")
    assert "No changes." in cli("plan", "spec", check=0).out

    # removing a key removes that element only (the directory holds only what reconcile wrote)
    teams_spec(spec_dir, out, "{web: {mode: '0755', lead: bo}}")
    plan = cli("plan", "spec", check=0).out
    assert "- directory.team[ops]" in plan and "- file.motd[ops]" in plan and "Plan: 0 to add, 0 to change, 2 to " \
        "destroy." in plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert not (out / "ops").exists() and (out / "web/motd").stat().st_ino == kept

    # when: only in the prod workspace
    prod = cli("plan", "--workspace", "prod", "spec", check=0).out
    assert "+ file.banner" in prod
    cli("apply", "--auto-approve", "--workspace", "prod", "spec", check=0)
    assert (out / "PRODUCTION").read_text() == "careful\n"

    # addresses with keys work everywhere an address does
    assert "file.motd[web]" in cli("state", "list", "--spec", "spec", check=0).out
    targeted = cli("plan", "--target", "file.shard[1]", "spec", check=0).out
    assert "No changes." in targeted


def test_count_zero_and_a_false_condition_prune(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    body = """
name: switch
vars: {{n: {n}, on: {on}}}
resources:
  - {{type: file, name: f, count: "{{{{ n }}}}", path: "{out}/f{{{{ count.index }}}}", content: x}}
  - {{type: file, name: g, when: "{{{{ on }}}}", path: "{out}/g", content: y}}
"""
    write(spec_dir / "site.yaml", body.format(n=2, on="true", out=out))
    cli("apply", "--auto-approve", "spec", check=0)
    assert sorted(os.listdir(out)) == ["f0", "f1", "g"]
    write(spec_dir / "site.yaml", body.format(n=0, on="false", out=out))
    assert "3 destroyed" in cli("apply", "--auto-approve", "spec", check=0).out
    assert os.listdir(out) == []


def test_one_bucket_per_team(acli: Cli, spec_dir: Path, moto: Any, uid: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url)

    def spec(teams: list[str]) -> None:
        write(spec_dir / "site.yaml", f"""
aws: {{region: us-east-1, endpoint_url: "{moto.url}"}}
vars: {{teams: {teams}}}
resources:
  - type: aws.s3_bucket
    name: team
    for_each: "{{{{ teams }}}}"
    bucket: "{uid}-{{{{ each.key }}}}"
    tags: {{team: "{{{{ each.key }}}}"}}
""")

    spec(["ops", "web", "data"])
    acli("apply", "--auto-approve", "spec", check=0)
    names = {b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(uid)}
    assert names == {f"{uid}-ops", f"{uid}-web", f"{uid}-data"}
    created = {b["Name"]: b["CreationDate"] for b in s3.list_buckets()["Buckets"]}
    spec(["ops", "data"])
    plan = acli("plan", "spec", check=0).out
    assert "- aws.s3_bucket.team[web]" in plan and "Plan: 0 to add, 0 to change, 1 to destroy." in plan
    acli("apply", "--auto-approve", "spec", check=0)
    after = {b["Name"]: b["CreationDate"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(uid)}
    assert set(after) == {f"{uid}-ops", f"{uid}-data"} and after[f"{uid}-ops"] == created[f"{uid}-ops"]
    assert {t["Value"] for t in s3.get_bucket_tagging(Bucket=f"{uid}-data")["TagSet"]} >= {"data",
                                                                                            "aws.s3_bucket.team[data]"}


def test_outputs_after_apply_in_the_plan_and_by_name(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cli.env["TOKEN"] = "hunter2-output-secret"
    write(spec_dir / "site.yaml", f"""
name: outs
vars_from_env: [TOKEN]
vars: {{root: "{out}"}}
resources:
  - {{type: directory, name: d, path: "{{{{ root }}}}"}}
  - {{type: command, name: c, command: "echo v1", creates: "{{{{ root }}}}/never"}}
  - {{type: file, name: s, path: "${{directory.d.path}}/s", content: "{{{{ env.TOKEN }}}}", sensitive: [content]}}
outputs:
  dir: {{value: "${{directory.d.path}}", description: where}}
  said: {{value: "${{command.c.stdout}}"}}
  token: {{value: "${{file.s.content}}"}}
  listed: {{value: ["{{{{ root }}}}/a", "${{directory.d.path}}/b"]}}
""")
    plan = cli("plan", "spec", check=0).out
    assert 'said   = (known after apply)' in plan and 'dir    = "' + str(out) + '"' in plan
    planned = json.loads(cli("plan", "--json", "spec", check=0).out)["outputs"]
    assert planned["said"] == {"value": None, "sensitive": False, "known": False}
    applied = cli("apply", "--auto-approve", "spec", check=0)
    assert 'said   = "v1\\n"' in applied.out and "token  = (sensitive)" in applied.out
    assert cli("output", "dir", "--spec", "spec", check=0).out == f"{out}\n"
    assert json.loads(cli("output", "--json", "--spec", "spec", check=0).out)["listed"]["value"] == [
        f"{out}/a", f"{out}/b"]
    assert "is sensitive" in cli("output", "token", "--spec", "spec", check=1).err
    everything = [cli("output", "--spec", "spec", check=0).out, applied.out, plan,
                  state_path(spec_dir).read_bytes().decode("latin-1")]
    assert not any("hunter2" in text for text in everything)
    assert "no output 'nope'" in cli("output", "nope", "--spec", "spec", check=1).err


def test_variables_by_workspace_file_and_command_line(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(spec_dir / "site.yaml", f"""
name: layers
vars: {{size: small, replicas: 1, root: "{out}"}}
resources:
  - {{type: file, name: conf, path: "{{{{ root }}}}/conf", content: "size={{{{ size }}}} n={{{{ replicas }}}}\\n"}}
""")
    write(spec_dir / "vars/prod.yaml", "size: large\n")  # beside the spec, never read as a spec part
    write(tmp_path / "extra.yaml", "replicas: 3\nsize: medium\n")
    cli("apply", "--auto-approve", "spec", check=0)
    assert (out / "conf").read_text() == "size=small n=1\n"
    cli("apply", "--auto-approve", "--workspace", "prod", "spec", check=0)
    assert (out / "conf").read_text() == "size=large n=1\n"
    cli("apply", "--auto-approve", "--workspace", "prod", "--var-file", str(tmp_path / "extra.yaml"),
        "--var", "replicas=5", "spec", check=0)
    assert (out / "conf").read_text() == "size=medium n=5\n"  # --var beats --var-file beats vars/prod.yaml
    shown = json.loads(cli("vars", "spec", "--json", "--workspace", "prod", "--var-file", str(tmp_path / "extra.yaml"),
                           "--var", "replicas=5", check=0).out)
    assert shown["replicas"] == {"value": 5, "source": "--var"}
    assert shown["size"] == {"value": "medium", "source": str(tmp_path / "extra.yaml")}
    assert shown["root"]["source"] == "spec vars:"
    assert json.loads(cli("vars", "spec", "--json", "--workspace", "prod", check=0).out)["size"]["source"].endswith(
        "vars/prod.yaml")

    write(tmp_path / "broken.yaml", "size: [\n")
    bad = cli("plan", "--var-file", str(tmp_path / "broken.yaml"), "spec", check=1)
    assert "broken.yaml:2:1: error: YAML syntax error" in bad.err  # at the var file's own line, relative
    assert cli("plan", "--var-file", str(tmp_path / "none.yaml"), "spec", check=1).err.strip() == \
        f"Error: variable file {tmp_path / 'none.yaml'} does not exist"
    assert "must be NAME=VALUE" in cli("plan", "--var", "oops", "spec", check=1).err
