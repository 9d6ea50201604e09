"""Handlers on a real SSH host: `notify:` and `triggered_by:` fire a service reload/restart and a command
once per run, after all their triggers, and only when one of them changed (pid and run counter checked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli, SSHFleet, write


@pytest.fixture
def scli(cli: Cli) -> Cli:
    cli.env["HOME"] = str(cli.cwd)
    return cli


def test_handlers_run_once_after_their_triggers_and_only_when_one_changed(
        scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    h = ssh_hosts.hosts[1]
    base = f"/srv/{uid}"
    body = ssh_hosts.inventory() + f"""
resources:
  - {{type: directory, name: d, on: h1, path: {base}}}
  - {{type: file, name: a, on: h1, path: {base}/a, content: "A\\n", depends_on: [directory.d],
     notify: ["service.cron: reload", command.count]}}
  - {{type: file, name: b, on: h1, path: {base}/b, content: "B\\n", depends_on: [directory.d],
     notify: ["service.cron: reload", command.count]}}
  - {{type: file, name: c, on: h1, path: {base}/c, content: "C\\n", depends_on: [directory.d],
     notify: ["service.cron: CACTION"]}}
  - {{type: service, name: cron, on: h1, state: running}}
  - type: command
    name: count
    on: h1
    command: "echo run >> {base}/runs; cat {base}/a {base}/b > {base}/seen"
    triggered_by: [file.c]
"""

    def spec(a: str = "A", b: str = "B", c: str = "C", c_action: str = "reload") -> None:
        write(spec_dir / "site.yaml", body.replace('"A\\n"', f'"{a}\\n"').replace('"B\\n"', f'"{b}\\n"')
              .replace('"C\\n"', f'"{c}\\n"').replace("CACTION", c_action))

    def runs() -> int:
        return len(h.exec(f"cat {base}/runs 2>/dev/null")[1].splitlines())

    def cron_pid() -> str:
        return h.exec("cat /var/run/crond.pid")[1].strip()

    h.exec("service cron start >/dev/null 2>&1 || true")
    spec()
    plan = scli("plan", "spec", check=0).out
    assert "# command.count will run: triggered by file.a, file.b, file.c" in plan, plan
    scli("apply", "--auto-approve", "spec", check=0)
    assert runs() == 1 and h.exec(f"cat {base}/seen")[1] == "A\nB\n"  # once, after all three triggers

    pid = cron_pid()
    again = scli("plan", "spec", check=0).out  # nothing changed: no reload, no run
    assert "No changes." in again, again
    scli("apply", "--auto-approve", "spec", check=0)
    assert runs() == 1 and cron_pid() == pid

    spec(a="A2", b="B2", c="C2")  # three triggers change: one reload, one run
    plan = scli("plan", "spec", check=0).out
    assert "# service.cron will be reloaded (reload: file.a, file.b, file.c change)" in plan, plan
    assert plan.count("service.cron will be") == 1
    applied = scli("apply", "--auto-approve", "spec", check=0).out
    assert "Resources: 0 added, 4 changed, 0 destroyed, 1 run." in applied, applied
    assert runs() == 2 and h.exec(f"cat {base}/seen")[1] == "A2\nB2\n"
    assert cron_pid() == pid  # a reload keeps the process

    spec(a="A2", b="B2", c="C3", c_action="restart")  # a restart asked for wins over a reload
    plan = scli("plan", "spec", check=0).out
    assert "# service.cron will be restarted (restart: file.c changes)" in plan, plan
    scli("apply", "--auto-approve", "spec", check=0)
    assert cron_pid() != pid and runs() == 3

    h.exec(f"echo tampered > {base}/b")  # drift on one trigger: repaired, and its handlers fire
    plan = scli("plan", "spec", check=0).out
    assert "~ file.b[h1]" in plan or "~ file.b" in plan
    assert "command.count will run: triggered by file.b" in plan, plan
    scli("apply", "--auto-approve", "spec", check=0)
    assert runs() == 4 and h.exec(f"cat {base}/b")[1] == "B2\n"
    assert "No changes." in scli("plan", "spec", check=0).out


LOCAL = """name: pending
resources:
  - {type: file, name: a, path: "OUT/a", content: "CONTENT\\n", notify: [command.handle]}
  - {type: file, name: b, path: "OUT/b", content: "b\\n"}
  - type: command
    name: handle
    command: "test -e OUT/ok && echo run >> OUT/runs"
"""


def local_spec(spec_dir: Path, out: Path, content: str = "one") -> None:
    write(spec_dir / "site.yaml", LOCAL.replace("OUT", str(out)).replace("CONTENT", content))


def runs(out: Path) -> int:
    return len((out / "runs").read_text().splitlines()) if (out / "runs").exists() else 0


def test_a_failed_handler_stays_pending_and_runs_at_the_next_apply(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    local_spec(spec_dir, out)
    failed = cli("apply", "--auto-approve", "spec", check=1)  # the handler fails (out/ok is missing)
    assert "command.handle" in failed.text and runs(out) == 0
    plan = cli("plan", "spec", check=0).out
    assert "# command.handle will run: triggered by file.a (pending since an earlier apply)" in plan, plan
    (out / "ok").touch()
    cli("apply", "--auto-approve", "spec", check=0)
    assert runs(out) == 1
    assert "No changes." in cli("plan", "spec", check=0).out  # it ran: nothing pending any more


def test_a_handler_left_out_by_target_runs_later(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "ok").touch()
    local_spec(spec_dir, out)
    cli("apply", "--auto-approve", "spec", check=0)
    assert runs(out) == 1
    local_spec(spec_dir, out, "two")
    cli("apply", "--auto-approve", "--target", "file.a", "--exclude", "command.handle", "spec", check=0)
    assert (out / "a").read_text() == "two\n" and runs(out) == 1  # the handler was left out
    plan = cli("plan", "spec", check=0).out
    assert "(pending since an earlier apply)" in plan, plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert runs(out) == 2 and "No changes." in cli("plan", "spec", check=0).out


def test_only_drifted_never_runs_a_handler_whose_trigger_it_left_out(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "ok").touch()
    local_spec(spec_dir, out)
    cli("apply", "--auto-approve", "spec", check=0)
    local_spec(spec_dir, out, "two")  # a change of the spec (not drift) to the handler's trigger
    (out / "b").write_text("tampered\n")  # and drift elsewhere
    cli("apply", "--auto-approve", "--only-drifted", "spec", check=0)
    assert (out / "b").read_text() == "b\n" and (out / "a").read_text() == "one\n"
    assert runs(out) == 1  # its trigger was left out: the handler did not run
