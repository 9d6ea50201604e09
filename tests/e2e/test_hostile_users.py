"""Server types handed to root on a shared host, against a hostile user (mallory, uid 1500, owning her home):
no write, chown, chmod or removal follows a symlink reconcile did not declare, archives are checked by
reconcile before anything is unpacked, and removal takes only what reconcile wrote. On a real sshd host."""

from __future__ import annotations

import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, SSHFleet, write


@pytest.fixture
def scli(cli: Cli) -> Cli:
    cli.env["HOME"] = str(cli.cwd)
    return cli


@pytest.fixture
def mallory(ssh_hosts: SSHFleet, uid: str) -> Iterator[tuple[Any, str]]:
    """A user who owns her home directory on host h2, and plants links in it."""
    h = ssh_hosts.hosts[2]
    name = f"m{uid[1:7]}"
    home = f"/home/{name}"
    rc, said = h.exec(f"useradd -u {1500 + int(uid[1:5], 16) % 1000} -m -d {home} {name}")
    assert rc == 0, said
    yield h, name
    h.exec(f"userdel -r {name} >/dev/null 2>&1")


def digest(h: Any, path: str) -> str:
    return str(h.exec(f"sha256sum {path} 2>/dev/null || echo missing")[1].split()[0])


def as_user(h: Any, user: str, command: str) -> None:
    rc, said = h.exec(f"su -s /bin/sh {user} -c {command!r}")
    assert rc == 0, said


def spec(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, resources: str) -> None:
    write(spec_dir / "site.yaml", "name: hostile\n" + ssh_hosts.inventory() + "resources:\n" + resources)


def refused(scli: Cli, *needles: str) -> str:
    run = scli("apply", "--auto-approve", "spec", check=1)
    for needle in needles:
        assert needle in run.out, run.out
    assert "Traceback" not in run.text
    return run.out


def test_a_users_symlinked_ssh_directory_never_redirects_an_authorized_key(
        scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, mallory: tuple[Any, str]) -> None:
    h, user = mallory
    h.exec("mkdir -p /root/.ssh && touch /root/.ssh/authorized_keys")
    before = digest(h, "/root/.ssh/authorized_keys")
    as_user(h, user, f"ln -s /root/.ssh /home/{user}/.ssh")
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl mallory@laptop"
    spec(scli, spec_dir, ssh_hosts, f"  - {{type: authorized_key, name: k, on: h2, user: {user}, key: \"{key}\"}}\n")
    refused(scli, f"/home/{user}/.ssh is a symbolic link owned by {user}, not root")
    assert digest(h, "/root/.ssh/authorized_keys") == before
    assert h.exec("stat -c %U /root/.ssh")[1].strip() == "root"


def test_copy_file_and_get_url_never_write_through_a_users_link(
        scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, mallory: tuple[Any, str], tmp_path: Path) -> None:
    h, user = mallory
    home = f"/home/{user}"
    as_user(h, user, f"mkdir -p {home}/app && ln -s /etc/profile.d {home}/app/conf && ln -s /root {home}/link "
                     f"&& ln -s /etc {home}/dl")
    (spec_dir / "files").mkdir()
    (spec_dir / "files/evil.sh").write_text("echo owned\n")
    www = tmp_path / "www"
    www.mkdir()
    (www / "tool").write_bytes(b"tool\n")
    handler = type("H", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for resource, needle in (
                (f"{{type: copy, name: c, on: h2, src: files/evil.sh, dest: {home}/app/conf/evil.sh, owner: {user}}}",
                 f"{home}/app/conf is a symbolic link owned by {user}"),
                (f"{{type: file, name: f, on: h2, path: {home}/link/planted, content: x}}",
                 f"{home}/link is a symbolic link owned by {user}"),
                (f"{{type: directory, name: d, on: h2, path: {home}/link/dir}}",
                 f"{home}/link is a symbolic link owned by {user}"),
                (f"{{type: get_url, name: g, on: h2, url: 'http://127.0.0.1:{server.server_address[1]}/tool', "
                 f"dest: {home}/dl/tool}}", f"{home}/dl is a symbolic link owned by {user}")):
            spec(scli, spec_dir, ssh_hosts, f"  - {resource}\n")
            refused(scli, needle)
    finally:
        server.shutdown()
    assert h.exec("test -e /etc/profile.d/evil.sh || test -e /root/planted || test -e /root/dir || test -e /etc/tool")[0] != 0


def test_line_and_block_edits_never_follow_a_users_link(
        scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, mallory: tuple[Any, str]) -> None:
    h, user = mallory
    home = f"/home/{user}"
    as_user(h, user, f"rm -f {home}/.bashrc {home}/.profile && ln -s /etc/shadow {home}/.bashrc && "
                     f"ln -s /etc/shadow {home}/.profile")
    before = digest(h, "/etc/shadow")
    spec(scli, spec_dir, ssh_hosts, f"""  - {{type: line_in_file, name: l, on: h2, path: {home}/.bashrc, line: "export A=1"}}
  - {{type: block_in_file, name: b, on: h2, path: {home}/.profile, block: "export B=1"}}
""")
    run = scli("plan", "spec", check=1)
    assert f"{home}/.bashrc is a symbolic link owned by {user}" in run.out, run.out
    assert f"{home}/.profile is a symbolic link owned by {user}" in run.out, run.out
    refused(scli, f"{home}/.bashrc is a symbolic link owned by {user}")
    assert digest(h, "/etc/shadow") == before


def test_removal_takes_only_what_reconcile_wrote(
        scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, mallory: tuple[Any, str]) -> None:
    h, user = mallory
    home = f"/home/{user}"
    (spec_dir / "tree/sub").mkdir(parents=True)
    (spec_dir / "tree/sub/a.conf").write_text("a\n")
    (spec_dir / "tree/b.conf").write_text("b\n")
    h.exec("mkdir -p /srv/victim && echo precious > /srv/victim/a.conf")
    spec(scli, spec_dir, ssh_hosts, f"  - {{type: copy, name: c, on: h2, src: tree, dest: {home}/app, owner: {user}}}\n")
    scli("apply", "--auto-approve", "spec", check=0)
    # what mallory can make of a tree in her home (done as root here, as a race she won would leave it)
    h.exec(f"rm -r {home}/app/sub && ln -s /srv/victim {home}/app/sub && chown -h {user} {home}/app/sub")
    as_user(h, user, f"echo mine > {home}/app/b.conf")
    spec(scli, spec_dir, ssh_hosts, f"  - {{type: copy, name: c, on: h2, src: tree, dest: {home}/app, state: absent}}\n")
    run = scli("apply", "--auto-approve", "spec")
    assert f"{home}/app/sub is a symbolic link owned by {user}" in run.text, run.text
    assert h.exec("cat /srv/victim/a.conf")[1] == "precious\n"
    assert h.exec(f"cat {home}/app/b.conf")[1] == "mine\n"  # changed since it was sent: left in place


def tarball(members: list[tuple[str, bytes | None, dict[str, Any]]]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, content, extra in members:
            info = tarfile.TarInfo(name)
            for key, value in extra.items():
                setattr(info, key, value)
            if content is not None:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                tar.addfile(info)
    return data.getvalue()


def test_archives_are_checked_by_reconcile_before_anything_is_unpacked(
        scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    h = ssh_hosts.hosts[2]
    dest = f"/opt/{uid}-arch"

    def use(name: str, members: list[tuple[str, bytes | None, dict[str, Any]]], extra: str = "") -> None:
        (spec_dir / name).write_bytes(tarball(members))
        spec(scli, spec_dir, ssh_hosts, f"  - {{type: archive, name: a, on: h2, src: {name}, dest: {dest}{extra}}}\n")

    for name, members, needle in (
            ("abs.tgz", [("/etc/cron.d/x", b"* * * * * root id\n", {})], "has an absolute path"),
            ("dots.tgz", [("ok/../../etc/x", b"x", {})], "leads out of the directory"),
            ("link.tgz", [("lib", None, {"type": tarfile.SYMTYPE, "linkname": "/root"})], "outside the directory"),
            ("dev.tgz", [("null", None, {"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3})], "device or FIFO")):
        use(name, members)
        run = scli("validate", "spec", check=1)
        assert needle in run.out and "site.yaml:" in run.out, run.out
    assert h.exec(f"test -e {dest}")[0] != 0

    use("v1.tgz", [("sub/", None, {"type": tarfile.DIRTYPE, "mode": 0o755}), ("lib", None, {"type": tarfile.SYMTYPE,
                                                                                          "linkname": "sub"}),
                   ("bin/tool", b"#!/bin/sh\n", {"mode": 0o4755, "uid": 1500, "gid": 1500})])
    scli("apply", "--auto-approve", "spec", check=0)
    assert h.exec(f"stat -c '%a %u' {dest}/bin/tool")[1].strip() == "755 0"  # no setuid; the user reconcile runs as
    assert h.exec(f"readlink {dest}/lib")[1].strip() == "sub"
    use("v2.tgz", [("lib/planted", b"x", {})])
    refused(scli, f"{dest}/lib is a symbolic link inside {dest}; nothing is written through one")
    assert h.exec(f"test -e {dest}/sub/planted")[0] != 0

    use("v3.tgz", [("bin/tool", b"#!/bin/sh\n", {"mode": 0o4755})], ", keep_special_modes: true")
    scli("apply", "--auto-approve", "spec", check=0)
    assert h.exec(f"stat -c %a {dest}/bin/tool")[1].strip() == "4755"


def test_a_symlink_swapped_in_after_observation_is_refused(tmp_path: Path) -> None:
    """Between a plan's observation and the apply's write, a directory becomes a user's link: the write, made
    one component at a time from descriptors, refuses it (fsops, as every target runs it)."""
    import os

    from reconciler.targets import fsops

    base = tmp_path / "home"
    (base / "app").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    seen = fsops.stat_paths([str(base / "app")])  # observed: a directory
    assert seen[str(base / "app")]["kind"] == "directory"
    (base / "app").rmdir()
    os.symlink(elsewhere, base / "app")
    os.lchown(base / "app", 1500, 1500)
    result = fsops.run_op("write", {"path": str(base / "app/conf")}, b"data")
    assert result["error"]["kind"] == "EUNSAFE" and not (elsewhere / "conf").exists()
