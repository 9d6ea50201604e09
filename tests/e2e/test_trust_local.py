"""Trust on the local machine: what reconcile found is never destroyed, data-loss hazards block, `moved:` keeps
the object, removed resources go in reverse dependency order, symlinks are never followed, new files honour
the umask and rewrites keep what the spec does not set, and a secret used through a reference appears in no
output, file or request."""

from __future__ import annotations

import http.server
import json
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

from reconciler.engine.diff import change_for
from reconciler.model import Action, Change, Observed, Resource
from reconciler.registry import Registry
from reconciler.targets.local import LocalTarget
from tests.conftest import Cli, state_path, write


def spec(spec_dir: Path, out: Path, resources: str, extra: str = "") -> None:
    write(spec_dir / "site.yaml", f"name: trust\nvars:\n  out: {json.dumps(str(out))}\n{extra}resources:\n{resources}")


def test_found_objects_are_forgotten_and_data_loss_blocks(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "existing").mkdir(parents=True)
    (out / "existing" / "data.txt").write_text("precious\n")
    resources = """
  - {type: directory, name: existing, path: "{{ out }}/existing", mode: "0755"}
  - {type: directory, name: made, path: "{{ out }}/made", mode: "0755"}
"""
    spec(spec_dir, out, resources)
    cli("apply", "--auto-approve", "spec", check=0)
    listed = cli("state", "list", "--spec", "spec", check=0).out.splitlines()
    assert "directory.existing  (found)" in listed and "directory.made" in listed
    (out / "made" / "notes.txt").write_text("someone else's\n")

    spec(spec_dir, out, "  []\n")
    plan = cli("plan", "spec")
    assert plan.rc == 1
    assert "# directory.existing will be forgotten, not destroyed (it existed before reconcile" in plan.out
    assert "directory.made: the plan would destroy it, but" in plan.out and "notes.txt" in plan.out
    assert "--allow-data-loss" in plan.out
    assert cli("apply", "--auto-approve", "spec").rc == 1
    assert (out / "made" / "notes.txt").exists() and (out / "existing" / "data.txt").exists()

    done = cli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert "1 destroyed, 1 forgotten" in done.out
    assert not (out / "made").exists()
    assert (out / "existing" / "data.txt").read_text() == "precious\n"  # found: left as it was
    assert cli("state", "list", "--spec", "spec", check=0).out == ""

    # taken over again, then removed with `removed: destroy: true`: still a hazard, so it needs consent
    spec(spec_dir, out, resources.split("\n  - {type: directory, name: made")[0] + "\n")
    cli("apply", "--auto-approve", "spec", check=0)
    spec(spec_dir, out, "  []\n", extra="removed:\n  - {address: directory.existing, destroy: true}\n")
    blocked = cli("plan", "spec")
    assert blocked.rc == 1 and "directory.existing: the plan would destroy it" in blocked.out
    cli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert not (out / "existing").exists()


def test_moved_keeps_the_object_and_same_object_renames_are_refused(cli: Cli, spec_dir: Path,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec(spec_dir, out, '  - {type: file, name: old, path: "{{ out }}/app.conf", content: "x=1\\n"}\n')
    cli("apply", "--auto-approve", "spec", check=0)
    inode = (out / "app.conf").stat().st_ino

    renamed = '  - {type: file, name: new, path: "{{ out }}/app.conf", content: "x=1\\n"}\n'
    spec(spec_dir, out, renamed)
    refused = cli("plan", "spec")
    assert refused.rc == 1 and "file.old and file.new are the same object (path" in refused.out
    assert "moved: [{from: file.old, to: file.new}]" in refused.out
    assert cli("apply", "--auto-approve", "spec").rc == 1 and (out / "app.conf").stat().st_ino == inode

    spec(spec_dir, out, renamed, extra="moved:\n  - {from: file.old, to: file.new}\n")
    plan = cli("plan", "spec", check=0)
    assert "# file.old has moved to file.new" in plan.out
    assert "Plan: 0 to add, 0 to change, 0 to destroy, 1 to move." in plan.out
    cli("apply", "--auto-approve", "spec", check=0)
    assert (out / "app.conf").stat().st_ino == inode and (out / "app.conf").read_text() == "x=1\n"
    assert cli("state", "list", "--spec", "spec", check=0).out.split() == ["file.new"]
    assert "No changes." in cli("plan", "spec", check=0).out

    bad = cli("validate", "spec")  # the old address is gone from the spec, so `moved:` may stay; a wrong one may not
    assert bad.rc == 0
    spec(spec_dir, out, renamed, extra="moved:\n  - {from: file.new, to: file.other}\n")
    wrong = cli("validate", "spec")
    assert wrong.rc == 1 and "site.yaml:5:" in wrong.out and "moved: file.new is still in the spec" in wrong.out


def test_removed_resources_go_in_reverse_dependency_order(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # names whose alphabetical order is the wrong order: a_dir holds z_file, z_link points into a_dir
    spec(spec_dir, out, """
  - {type: directory, name: a_dir, path: "{{ out }}/tree"}
  - {type: file, name: z_file, path: "${directory.a_dir.path}/f", content: "x\\n"}
  - {type: symlink, name: m_link, path: "{{ out }}/link", target: "${file.z_file.path}"}
""")
    cli("apply", "--auto-approve", "spec", check=0)
    with sqlite3.connect(state_path(spec_dir)) as db:
        deps = dict(db.execute("SELECT address, depends_on FROM resources"))
    assert json.loads(deps["file.z_file"]) == ["directory.a_dir"]  # reference edges are recorded too
    assert json.loads(deps["symlink.m_link"]) == ["file.z_file"]

    spec(spec_dir, out, "  []\n")
    run = cli("apply", "--auto-approve", "--parallelism", "4", "spec", check=0)
    lines = run.out.splitlines()

    def at(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    assert at("symlink.m_link: Destruction complete") < at("file.z_file: Destroying")
    assert at("file.z_file: Destruction complete") < at("directory.a_dir: Destroying")
    assert not (out / "tree").exists() and not os.path.lexists(out / "link")


def test_symlinks_are_never_followed(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    (out / "tree" / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("x")
    outside.chmod(0o700)
    (outside / "secret").chmod(0o600)
    (out / "tree" / "sub" / "escape").symlink_to(outside)  # a link to a directory outside the tree
    (out / "tree" / "file-escape").symlink_to(outside / "secret")
    spec(spec_dir, out, '  - {type: directory, name: tree, path: "{{ out }}/tree", mode: "0751", recurse: true}\n')
    cli("apply", "--auto-approve", "spec", check=0)
    assert stat.S_IMODE((out / "tree" / "sub").stat().st_mode) == 0o751
    assert stat.S_IMODE(outside.stat().st_mode) == 0o700
    assert stat.S_IMODE((outside / "secret").stat().st_mode) == 0o600
    assert "No changes." in cli("plan", "spec", check=0).out

    # a path swapped for a link between observation and apply: the change is refused, nothing outside moves
    registry = Registry.installed()
    target = LocalTarget()
    victim = out / "victim"
    victim.mkdir()
    victim.chmod(0o700)
    resource = Resource("directory.victim", "directory", "victim", "local", {"path": str(victim), "mode": "0755"})
    module = registry.module("directory")
    observed = module.observe(target, [resource])[resource.address]
    change = change_for(module, resource, observed if isinstance(observed, Observed) else None)
    assert change.action is Action.UPDATE
    victim.rmdir()
    victim.symlink_to(outside)
    failure = ""
    try:
        module.apply(target, change)
    except Exception as exc:  # noqa: BLE001 - the message is what is checked
        failure = str(exc)
    assert "symbolic link" in failure and stat.S_IMODE(outside.stat().st_mode) == 0o700

    file_module = registry.module("file")
    target_file = out / "swapped.conf"
    target_file.write_text("a\n")
    r = Resource("file.s", "file", "s", "local", {"path": str(target_file), "mode": "0644"})
    seen = file_module.observe(target, [r])[r.address]
    target_file.unlink()
    target_file.symlink_to(outside / "secret")
    mode_only = Change(r.address, r.type, Action.UPDATE, change_for(file_module, r, seen).diffs, resource=r,
                       observed=seen if isinstance(seen, Observed) else None)
    try:
        file_module.apply(target, mode_only)
    except Exception as exc:  # noqa: BLE001
        failure = str(exc)
    assert "symbolic link" in failure and stat.S_IMODE((outside / "secret").stat().st_mode) == 0o600


def test_new_files_honour_the_umask_and_rewrites_keep_owner_and_mode(cli: Cli, spec_dir: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    spec(spec_dir, out, '  - {type: file, name: f, path: "{{ out }}/new.conf", content: "one\\n"}\n')
    proc_cmd = ["sh", "-c", 'umask 077 && exec "$@"', "sh"]
    import subprocess
    import sys

    subprocess.run(proc_cmd + [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "spec"],
                   cwd=cli.cwd, env=cli.env, check=True, capture_output=True)
    assert stat.S_IMODE((out / "new.conf").stat().st_mode) == 0o600  # 0666 minus umask 077

    existing = out / "kept.conf"
    existing.write_text("old\n")
    existing.chmod(0o640)
    os.chown(existing, 65534, 65534)
    spec(spec_dir, out, '  - {type: file, name: f, path: "{{ out }}/new.conf", content: "one\\n"}\n'
                        '  - {type: file, name: k, path: "{{ out }}/kept.conf", content: "new\\n"}\n')
    cli("apply", "--auto-approve", "spec", check=0)
    st = existing.stat()
    assert existing.read_text() == "new\n"
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 65534, 65534)
    assert "No changes." in cli("plan", "spec", check=0).out


class _Hook(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_secret_used_through_a_reference_appears_nowhere(cli: Cli, spec_dir: Path, tmp_path: Path,
                                                           uid: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    token = f"s3cr3t-{uid}-token"
    cli.env["TOKEN"] = token
    spec(spec_dir, out, """
  - type: command
    name: mint
    command: "printf %s {{ env.TOKEN }}"
    sensitive: [command]
  - type: file
    name: cfg
    path: "{{ out }}/app.conf"
    content: "token=${command.mint.stdout}\\n"
  - type: command
    name: fails
    command: "echo using ${command.mint.stdout} >&2; exit 3"
""", extra="vars_from_env: [TOKEN]\n")
    texts: dict[str, str] = {}
    texts["plan"] = cli("plan", "spec", check=0).out
    texts["plan-json"] = cli("plan", "--json", "spec", check=0).out
    cli("plan", "--out", "saved.json", "spec", check=0)
    texts["saved"] = (tmp_path / "saved.json").read_text()
    run = cli("apply", "--auto-approve", "--log-file", str(tmp_path / "run.log"), "-vv", "spec")
    assert run.rc == 1 and "command.fails" in run.text and "exited 3" in run.text  # it failed, masked
    texts["apply"] = run.text
    texts["log"] = (tmp_path / "run.log").read_text()
    assert (out / "app.conf").read_text() == f"token={token}\n"  # the file itself does hold it

    (out / "app.conf").write_text("token=tampered\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for fmt in ("text", "json", "markdown", "junit"):
            texts[f"drift-{fmt}"] = cli("drift", "--format", fmt, "spec").text
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        cli("drift", "--notify", url, "spec")
    finally:
        server.shutdown()
    assert _Hook.bodies
    texts["webhook"] = b"".join(_Hook.bodies).decode()
    texts["state show"] = cli("state", "show", "file.cfg", "--spec", "spec", check=0).out
    texts["history"] = cli("history", "--spec", "spec", check=0).out
    for path in (spec_dir / ".reconcile").rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("latin-1")
    leaks = [name for name, text in texts.items() if token in text]
    assert not leaks, f"the secret appears in: {leaks}"
    assert "(sensitive)" in texts["plan"] and "(sensitive)" in texts["apply"]


def test_directory_modes_clear_special_bits_and_converge(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    """Ansible's file module: a numeric mode is the whole mode (GNU chmod 0755 would keep a directory's
    setgid, and the plan would say 2755 -> 0755 forever); a new directory under a setgid parent gets the
    mode asked for."""
    out = tmp_path / "out"
    (out / "shared").mkdir(parents=True)
    (out / "shared").chmod(0o2775)
    (out / "sticky").mkdir()
    (out / "sticky").chmod(0o1777)
    spec(spec_dir, out, """
  - {type: directory, name: shared, path: "{{ out }}/shared", mode: "0755"}
  - {type: directory, name: sticky, path: "{{ out }}/sticky", mode: "0755"}
  - {type: directory, name: child, path: "{{ out }}/shared/child", mode: "0750", depends_on: [directory.shared]}
""")
    (out / "shared" / "child").parent.chmod(0o2775)
    cli("apply", "--auto-approve", "spec", check=0)
    assert stat.S_IMODE((out / "shared").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "sticky").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "shared" / "child").stat().st_mode) == 0o750
    assert "No changes." in cli("plan", "spec", check=0).out
