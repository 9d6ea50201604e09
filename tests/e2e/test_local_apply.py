"""End to end: the `reconcile` command on specs in a temp dir, asserting on the files really there."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import jsonschema

from reconciler.state.lock import StateLock
from tests.conftest import ROOT, Cli, state_path, write


def spec_for(spec_dir: Path, out: Path, resources: str, extra: str = "") -> Path:
    return write(spec_dir / "site.yaml", f"vars:\n  out: {json.dumps(str(out))}\n{extra}resources:\n{resources}")


BASIC = """
  - type: directory
    name: conf
    path: "{{ out }}/etc/app"
    mode: "0750"
  - type: file
    name: config
    path: "${directory.conf.path}/app.conf"
    content: "port = 8080\\n"
    mode: "0640"
  - type: symlink
    name: current
    path: "{{ out }}/current"
    target: "${directory.conf.path}"
"""


def test_create_then_second_apply_does_nothing(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec_for(spec_dir, out, BASIC)
    plan = cli("plan", "spec", check=0)
    assert "+ file.config" in plan.out and "Plan: 3 to add, 0 to change, 0 to destroy." in plan.out
    first = cli("apply", "--auto-approve", "spec", check=0)
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in first.out
    conf = out / "etc/app/app.conf"
    assert conf.read_text() == "port = 8080\n"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert stat.S_IMODE((out / "etc/app").stat().st_mode) == 0o750
    assert os.readlink(out / "current") == str(out / "etc/app")
    state = state_path(spec_dir)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    mtime = conf.stat().st_mtime_ns
    time.sleep(0.05)
    second = cli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in second.out and "Creating" not in second.out and "complete after" not in second.out
    assert conf.stat().st_mtime_ns == mtime
    assert cli("plan", "--detailed-exitcode", "spec").rc == 0


def test_drift_is_planned_and_repaired(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec_for(spec_dir, out, BASIC)
    cli("apply", "--auto-approve", "spec", check=0)
    conf = out / "etc/app/app.conf"
    conf.write_text("port = 9999\n")
    conf.chmod(0o666)
    (out / "current").unlink()
    plan = cli("plan", "--detailed-exitcode", "spec")
    assert plan.rc == 2
    assert '~ mode    = "0666" -> "0640"' in plan.out
    assert "~ content = " in plan.out
    assert "+ symlink.current" in plan.out
    assert "Plan: 1 to add, 1 to change, 0 to destroy." in plan.out
    cli("apply", "--auto-approve", "spec", check=0)
    assert conf.read_text() == "port = 8080\n" and stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert (out / "current").is_symlink()
    assert cli("plan", "--detailed-exitcode", "spec").rc == 0


def test_removed_resources_are_pruned_unless_no_prune(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec_for(spec_dir, out, BASIC)
    cli("apply", "--auto-approve", "spec", check=0)
    spec_for(spec_dir, out, BASIC.split("  - type: symlink")[0])
    kept = cli("plan", "--no-prune", "spec", check=0)
    assert "No changes." in kept.out
    plan = cli("plan", "spec", check=0)
    assert "# symlink.current will be destroyed (no longer in the spec)" in plan.out
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in plan.out
    cli("apply", "--auto-approve", "spec", check=0)
    assert not (out / "current").exists() and (out / "etc/app/app.conf").exists()
    assert "symlink.current" not in cli("state", "list", "--spec", "spec", check=0).out


def test_prevent_destroy_fails_the_plan_and_deletes_nothing(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    guarded = BASIC.replace('    target: "${directory.conf.path}"',
                            '    target: "${directory.conf.path}"\n    lifecycle: {prevent_destroy: true}')
    spec_for(spec_dir, out, guarded)
    cli("apply", "--auto-approve", "spec", check=0)
    spec_for(spec_dir, out, BASIC.split("  - type: symlink")[0])
    plan = cli("plan", "spec")
    assert plan.rc == 1 and "prevent_destroy" in plan.out
    apply = cli("apply", "--auto-approve", "spec")
    assert apply.rc == 1 and "prevent_destroy" in apply.text
    assert (out / "current").is_symlink()


def test_apply_needs_approval_when_stdin_is_not_a_terminal(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    spec_for(spec_dir, tmp_path / "out", BASIC)
    run = cli("apply", "spec")
    assert run.rc == 1 and "--auto-approve" in run.err
    assert not (tmp_path / "out").exists()


def test_apply_asks_on_a_terminal(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    import pty
    import subprocess
    import sys

    spec_for(spec_dir, tmp_path / "out", BASIC)
    for answer, created in (("no", False), ("yes", True)):
        primary, secondary = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "reconciler", "apply", "spec"], cwd=cli.cwd, env=cli.env,
                                stdin=secondary, stdout=secondary, stderr=secondary)
        os.close(secondary)
        output = b""
        while b"Enter a value" not in output:
            output += os.read(primary, 4096)
        os.write(primary, answer.encode() + b"\n")
        proc.wait(timeout=60)
        try:
            while chunk := os.read(primary, 4096):
                output += chunk
        except OSError:
            pass
        os.close(primary)
        assert (proc.returncode == 0) is created, output.decode()
        assert (tmp_path / "out/etc/app/app.conf").exists() is created


def test_second_apply_at_once_is_locked_out(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec_for(spec_dir, out, """
  - type: command
    name: slow
    command: "sleep 3; touch {{ out }}/slow"
    creates: "{{ out }}/slow"
""")
    out.mkdir()
    first = cli.popen("apply", "--auto-approve", "spec")
    lock = Path(f"{state_path(spec_dir)}.lock")
    deadline = time.time() + 20
    while time.time() < deadline and not (lock.exists() and lock.read_text()):
        time.sleep(0.05)
    second = cli("apply", "--auto-approve", "spec")
    assert second.rc == 1
    assert f"locked by apply pid {first.pid} on host" in second.err
    assert first.wait(60) == 0


def test_stale_lock_of_a_dead_process_is_recovered(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    spec_for(spec_dir, tmp_path / "out", BASIC)
    lock = Path(f"{state_path(spec_dir)}.lock")
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": 999999, "host": "gone", "since": "2020-01-01T00:00:00"}))
    cli("apply", "--auto-approve", "spec", check=0)
    held = StateLock(state_path(spec_dir))
    held.acquire()
    try:
        locked = cli("apply", "--auto-approve", "spec")
        assert locked.rc == 1 and f"pid {os.getpid()}" in locked.err
    finally:
        held.release()


def test_saved_plan_applies_once_and_stale_plans_are_refused(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec_for(spec_dir, out, BASIC)
    cli("plan", "--out", "p.json", "spec", check=0)
    assert stat.S_IMODE((tmp_path / "p.json").stat().st_mode) == 0o600
    cli("apply", "p.json", check=0)  # a saved plan is already approved
    assert (out / "etc/app/app.conf").exists()
    # applied: the state moved on, so the same plan is stale now
    again = cli("apply", "p.json")
    assert again.rc == 1 and "plan again" in again.err

    (out / "etc/app/app.conf").write_text("changed\n")
    cli("plan", "--out", "p2.json", "spec", check=0)
    (out / "etc/app/app.conf").write_text("changed twice\n")  # the world moved after planning
    stale = cli("apply", "p2.json")
    assert stale.rc == 1 and "stale plan" in stale.err and "file.config" in stale.err
    assert (out / "etc/app/app.conf").read_text() == "changed twice\n"

    cli("plan", "--out", "p3.json", "spec", check=0)
    spec_for(spec_dir, out, BASIC.replace("8080", "8081"))
    changed = cli("apply", "p3.json")
    assert changed.rc == 1 and "spec changed" in changed.err


def test_hostile_paths_and_contents(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    canary = tmp_path / "pwned"
    weird_dir = f"{out}/dir with spaces 'and' \"quotes\" $(touch {canary})"
    content = f"line one\n$(touch {canary}) `touch {canary}`\n'quoted' \"double\" ; rm -rf /\n"
    spec_for(spec_dir, out, f"""
  - type: directory
    name: weird
    path: {json.dumps(weird_dir)}
  - type: file
    name: weird
    path: {json.dumps(weird_dir + "/file; echo $HOME .conf")}
    content: {json.dumps(content)}
  - type: symlink
    name: weird
    path: {json.dumps(weird_dir + "/link $(id)")}
    target: {json.dumps(weird_dir + "/file; echo $HOME .conf")}
  - type: command
    name: weird
    command: ["touch", {json.dumps(weird_dir + "/made by argv $(x)")}]
    creates: {json.dumps(weird_dir + "/made by argv $(x)")}
    depends_on: [directory.weird]
""")
    cli("apply", "--auto-approve", "spec", check=0)
    target = Path(weird_dir) / "file; echo $HOME .conf"
    assert target.read_text() == content
    assert os.readlink(Path(weird_dir) / "link $(id)") == str(target)
    assert (Path(weird_dir) / "made by argv $(x)").exists()
    assert not canary.exists()
    assert "No changes." in cli("apply", "--auto-approve", "spec", check=0).out


def test_command_runs_only_when_needed_and_values_flow_at_apply(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    spec_for(spec_dir, out, """
  - type: command
    name: gen
    command: "printf generated-%s 42"
    unless: "test -f {{ out }}/result"
  - type: file
    name: result
    path: "{{ out }}/result"
    content: "${command.gen.stdout}"
""")
    plan = cli("plan", "spec", check=0)
    assert "# command.gen will run: `unless` failed" in plan.out
    assert "content = (known after apply)" in plan.out
    cli("apply", "--auto-approve", "spec", check=0)
    assert (out / "result").read_text() == "generated-42"
    second = cli("apply", "--auto-approve", "spec", check=0)
    assert "Running" not in second.out and "No changes." in second.out


def test_a_failure_skips_only_its_dependents(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec_for(spec_dir, out, """
  - type: command
    name: broken
    command: "echo boom >&2; exit 3"
  - type: file
    name: after_broken
    path: "{{ out }}/after"
    depends_on: [command.broken]
  - type: file
    name: independent
    path: "{{ out }}/independent"
    content: ok
""")
    run = cli("apply", "--auto-approve", "spec")
    assert run.rc == 1
    assert "command.broken (spec/site.yaml:5:5): `sh -c 'echo boom >&2; exit 3'` exited 3: boom" in run.out
    assert "file.after_broken: skipped: dependency command.broken failed" in run.out
    assert "1 added, 0 changed, 0 destroyed, 1 failed, 1 skipped" in run.out
    assert (out / "independent").read_text() == "ok" and not (out / "after").exists()


def test_target_selects_a_resource_and_its_dependencies(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec_for(spec_dir, out, BASIC + """
  - type: file
    name: other
    path: "{{ out }}/other"
""")
    plan = cli("plan", "--target", "file.config", "spec", check=0)
    assert "directory.conf" in plan.out and "file.config" in plan.out
    assert "file.other" not in plan.out and "symlink.current" not in plan.out
    cli("apply", "--auto-approve", "--target", "file.config", "spec", check=0)
    assert (out / "etc/app/app.conf").exists() and not (out / "other").exists()


def test_json_plan_follows_its_schema_and_hides_secrets(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec_for(spec_dir, out, """
  - type: file
    name: secret
    path: "{{ out }}/token"
    content: "hunter2-top-secret"
    mode: "0600"
    sensitive: [content]
  - type: file
    name: needs_secret
    path: "{{ out }}/copy"
    content: "${file.secret.sha256}"
""")
    run = cli("plan", "--json", "spec", check=0)
    body = json.loads(run.out)
    schema = json.loads((ROOT / "schemas/plan.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(body)
    assert body["summary"] == {"add": 2, "change": 0, "destroy": 0, "forget": 0, "move": 0, "run": 0}
    attrs = {a["name"]: a for a in body["changes"][0]["attributes"]} | {}
    assert "hunter2" not in run.out
    text = cli("plan", "spec", check=0).out
    assert 'content = (sensitive)' in text and "hunter2" not in text
    applied = cli("apply", "--auto-approve", "spec", check=0)
    assert "hunter2" not in applied.text
    assert (out / "token").read_text() == "hunter2-top-secret"
    db = state_path(spec_dir).read_bytes()
    assert b"hunter2" not in db and b"salted-sha256:" in db
    import hashlib
    assert hashlib.sha256(b"hunter2-top-secret").hexdigest().encode() not in db
    shown = cli("state", "show", "file.secret", "--spec", "spec", check=0).out
    assert "hunter2" not in shown and "salted-sha256:" in shown
    assert attrs


def test_history_and_state_commands(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec_for(spec_dir, out, BASIC)
    cli("apply", "--auto-approve", "spec", check=0)
    listed = cli("state", "list", "--spec", "spec", check=0).out.split()
    assert listed == ["directory.conf", "file.config", "symlink.current"]
    shown = json.loads(cli("state", "show", "file.config", "--spec", "spec", check=0).out)
    assert shown["attributes"]["path"] == str(out / "etc/app/app.conf")
    cli("state", "rm", "symlink.current", "--spec", "spec", check=0)
    assert "symlink.current" not in cli("state", "list", "--spec", "spec", check=0).out
    assert (out / "current").is_symlink()  # forgotten, not deleted
    history = cli("history", "--spec", "spec", check=0).out
    assert "apply" in history and "ok" in history and "3 added" in history


def test_template_files_render_with_vars_and_env(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(spec_dir / "templates/app.j2", "name={{ app }}\nfrom_env={{ env.APP_ENV }}\n")
    spec_for(spec_dir, out, """
  - type: file
    name: app
    path: "{{ out }}/app.ini"
    template: templates/app.j2
""", extra="  app: demo\nvars_from_env: [APP_ENV]\n")
    cli.env["APP_ENV"] = "staging"
    cli("apply", "--auto-approve", "spec", check=0)
    assert (out / "app.ini").read_text() == "name=demo\nfrom_env=staging\n"
    cli.env["APP_ENV"] = "prod"
    plan = cli("plan", "spec", check=0)
    assert "~ content" in plan.out


def test_graph_command(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    spec_for(spec_dir, tmp_path / "out", BASIC)
    dot = cli("graph", "spec", check=0).out
    assert '"directory.conf" -> "file.config";' in dot
    mermaid = cli("graph", "--format", "mermaid", "spec", check=0).out
    assert mermaid.startswith("flowchart LR")
