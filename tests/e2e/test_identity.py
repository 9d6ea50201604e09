"""Identity: changing what names an object (a file's or directory's path, a user's name, the host it is on) is a
replacement that removes the old object reconcile created, or releases one it found, and says so; and every
plan line, in text, JSON and HTML, names where its object lives. On real local files and an sshd host."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, SSHFleet, write


def spec(spec_dir: Path, out: Path, directory: str, name: str) -> None:
    write(spec_dir / "site.yaml", f"""name: ident
resources:
  - {{type: directory, name: d, path: "{out}/{directory}"}}
  - {{type: file, name: f, path: "${{directory.d.path}}/{name}", content: "x\\n"}}
""")


def test_a_changed_path_replaces_the_object_and_removes_the_old_one(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    spec(spec_dir, out, "d1", "a.conf")
    cli("apply", "--auto-approve", "spec", check=0)
    spec(spec_dir, out, "d2", "b.conf")
    plan = cli("plan", "spec", check=0).out
    assert f"-/+ file.f  (path {out}/d2/b.conf on local)" in plan, plan
    assert f'~ path = "{out}/d1/a.conf" -> "{out}/d2/b.conf"  # forces replacement' in plan, plan
    assert f"-/+ directory.d  (path {out}/d2 on local)" in plan
    assert "Plan: 2 to add, 0 to change, 2 to destroy." in plan
    changes = {c["address"]: c for c in json.loads(cli("plan", "--json", "spec", check=0).out)["changes"]}
    assert changes["file.f"]["action"] == "replace" and changes["file.f"]["replace_because"] == ["path"]
    assert changes["file.f"]["where"] == f"path {out}/d2/b.conf on local"
    cli("plan", "spec", "--html", str(tmp_path / "plan.html"), check=0)
    assert f"path {out}/d2/b.conf on local" in (tmp_path / "plan.html").read_text()

    cli("apply", "--auto-approve", "spec", check=0)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["d2", "d2/b.conf"]  # nothing left behind
    assert "No changes." in cli("plan", "--detailed-exitcode", "spec", check=0).out

    write(spec_dir / "site.yaml", "name: ident\nresources: []\n")  # nothing orphaned blocks the parent's removal
    cli("apply", "--auto-approve", "spec", check=0)
    assert not any(out.iterdir())


def test_an_old_object_reconcile_found_is_released(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "theirs.conf").write_text("x\n")
    write(spec_dir / "site.yaml", f'name: ident\nresources:\n  - {{type: file, name: f, path: "{out}/theirs.conf", content: "x\\n"}}\n')
    cli("apply", "--auto-approve", "spec", check=0)
    assert "(found)" in cli("state", "list", "--spec", "spec", check=0).out
    write(spec_dir / "site.yaml", f'name: ident\nresources:\n  - {{type: file, name: f, path: "{out}/ours.conf", content: "x\\n"}}\n')
    plan = cli("plan", "spec", check=0).out
    assert f"path {out}/theirs.conf on local is released, not destroyed" in plan and "+ file.f" in plan, plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["ours.conf", "theirs.conf"]
    assert cli("state", "list", "--spec", "spec", check=0).out.strip() == "file.f"  # the new one is ours


def test_a_pruned_object_and_an_edit_say_where(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write(spec_dir / "site.yaml", f"""name: ident
resources:
  - {{type: file, name: extra, path: "{out}/extra", content: "1\\n"}}
  - {{type: line_in_file, name: l, path: "{out}/extra", line: "two", depends_on: [file.extra]}}
""")
    plan = cli("plan", "spec", check=0).out
    assert f"+ line_in_file.l  (a line of {out}/extra on local)" in plan, plan
    cli("apply", "--auto-approve", "spec", check=0)
    write(spec_dir / "site.yaml", "name: ident\nresources: []\n")
    plan = cli("plan", "spec", check=0).out
    assert f"- file.extra  (path {out}/extra on local)" in plan, plan


def test_a_renamed_user_and_a_moved_file_on_an_ssh_host(cli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    cli.env["HOME"] = str(cli.cwd)
    h0, h1 = ssh_hosts.hosts[0], ssh_hosts.hosts[1]

    def body(user: str, host: str) -> str:
        return f"name: {uid}\n" + ssh_hosts.inventory() + f"""resources:
  - {{type: user, name: u, username: {user}, on: h0}}
  - {{type: file, name: motd, path: /etc/{uid}.motd, content: "hi\\n", on: {host}}}
"""
    write(spec_dir / "site.yaml", body(f"{uid}a", "h0"))
    cli("apply", "--auto-approve", "spec", check=0)
    write(spec_dir / "site.yaml", body(f"{uid}b", "h1"))
    plan = cli("plan", "spec", check=0).out
    assert f"-/+ user.u  (user {uid}b on h0)" in plan and f'~ username = "{uid}a" -> "{uid}b"  # forces replacement' in plan, plan
    assert '~ on = "h0" -> "h1"  # forces replacement' in plan, plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert h0.exec(f"id -u {uid}a")[0] != 0 and h0.exec(f"id -u {uid}b")[0] == 0
    assert h0.exec(f"test -e /etc/{uid}.motd")[0] != 0 and h1.exec(f"cat /etc/{uid}.motd")[1] == "hi\n"
    assert "No changes." in cli("plan", "spec", check=0).out
