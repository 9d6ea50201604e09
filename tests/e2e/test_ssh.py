"""Server resources over SSH on real sshd hosts (Debian containers): the same modules as locally."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, SSHFleet, write


@pytest.fixture
def scli(cli: Cli, docker_url: str) -> Cli:
    cli.env["HOME"] = str(cli.cwd)  # no ~/.ssh/known_hosts of the machine's user
    return cli


def test_files_over_ssh_with_hostile_paths(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    weird = f"/srv/{uid}/dir with 'quotes' \"and\" $(touch /tmp/{uid}-pwned)"
    content = f"role={{{{ host.vars.index }}}}\n$(touch /tmp/{uid}-pwned) `id` ; rm -rf /\n"
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + f"""
resources:
  - type: directory
    name: d
    on: all_hosts
    path: {json.dumps(weird)}
    mode: "0750"
  - type: file
    name: f
    on: all_hosts
    path: {json.dumps(weird + "/conf; echo $HOME")}
    content: {json.dumps(content)}
    mode: "0640"
    owner: nobody
  - type: symlink
    name: l
    on: h0
    path: /srv/{uid}/current
    target: {json.dumps(weird)}
  - type: command
    name: c
    on: all_hosts
    command: ["touch", {json.dumps(weird + "/made $(x)")}]
    creates: {json.dumps(weird + "/made $(x)")}
    depends_on: [directory.d]
""")
    plan = scli("plan", "spec", check=0)
    assert "+ file.f[h2]" in plan.out and "Plan: 7 to add, 0 to change, 0 to destroy, 3 to run." in plan.out
    scli("apply", "--auto-approve", "spec", check=0)
    for i, host in enumerate(ssh_hosts.hosts):
        rc, out = host.exec(f"cat {shlex.quote(weird + '/conf; echo $HOME')}")
        assert rc == 0 and out == content.replace("{{ host.vars.index }}", str(i))
        rc, out = host.exec(f"stat -c '%a %U' {shlex.quote(weird + '/conf; echo $HOME')}")
        assert out.strip() == "640 nobody"
        assert host.exec(f"test -e {shlex.quote(weird + '/made $(x)')}")[0] == 0
        assert host.exec(f"test -e /tmp/{uid}-pwned")[0] == 1
    assert ssh_hosts.hosts[0].exec(f"readlink /srv/{uid}/current")[1].strip() == weird
    again = scli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in again.out

    # drift on one host: plan shows it there only, apply repairs it
    ssh_hosts.hosts[1].exec(f"chmod 600 {shlex.quote(weird + '/conf; echo $HOME')}")
    plan = scli("plan", "spec", check=0)
    assert "~ file.f[h1]" in plan.out and "file.f[h0]" not in plan.out
    scli("apply", "--auto-approve", "spec", check=0)
    assert ssh_hosts.hosts[1].exec(f"stat -c %a {shlex.quote(weird + '/conf; echo $HOME')}")[1].strip() == "640"


def test_become_through_sudo(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    write(spec_dir / "site.yaml", ssh_hosts.inventory(user="deploy", become=True) + f"""
resources:
  - type: file
    name: root_owned
    on: h0
    path: /etc/{uid}.conf
    content: "x=1\\n"
    owner: root
    mode: "0600"
""")
    scli("apply", "--auto-approve", "spec", check=0)
    assert ssh_hosts.hosts[0].exec(f"stat -c '%a %U' /etc/{uid}.conf")[1].strip() == "600 root"
    assert "No changes." in scli("plan", "spec", check=0).out


def test_unknown_and_changed_host_keys_are_refused(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet,
                                                    uid: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    body = f"""
resources:
  - {{type: file, name: f, on: h0, path: /tmp/{uid}, content: x}}
"""
    write(spec_dir / "site.yaml", ssh_hosts.inventory(known_hosts=empty) + body)
    refused = scli("plan", "spec")
    assert refused.rc == 1 and "host h0 unreachable: its host key is not known" in refused.out
    assert "reconcile trust h0" in refused.out
    trusted = scli("trust", "h0", "--spec", "spec", "--yes", check=0)
    assert "SHA256:" in trusted.out and "[127.0.0.1]:" in empty.read_text()
    scli("apply", "--auto-approve", "spec", check=0)

    other = ssh_hosts.hosts[1].host_key_line().split(" ", 1)[1]
    empty.write_text(f"[127.0.0.1]:{ssh_hosts.hosts[0].port} {other}\n")  # h0 now presents a "changed" key
    changed = scli("plan", "spec")
    assert changed.rc == 1 and "host key CHANGED" in changed.out

    fresh = tmp_path / "fresh_known_hosts"
    write(spec_dir / "site.yaml",
          ssh_hosts.inventory(known_hosts=fresh).replace("  known_hosts:", "  host_key_checking: accept-new\n"
                                                         "  known_hosts:") + body)
    scli("plan", "spec", check=0)
    assert f"[127.0.0.1]:{ssh_hosts.hosts[0].port} ssh-" in fresh.read_text()


def test_unreachable_host_fails_its_resources_only(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str,
                                                   docker_client: Any) -> None:
    from tests.harness.ssh_hosts import start_hosts

    (doomed,) = start_hosts(docker_client, f"{uid}-doomed", 1)
    known = ssh_hosts.known_hosts.parent / f"{uid}_known"
    known.write_text(ssh_hosts.known_hosts.read_text() + doomed.host_key_line() + "\n")
    inventory = ssh_hosts.inventory(known_hosts=known).replace(
        "  groups:", f"    doomed: {{address: 127.0.0.1, port: {doomed.port}, user: root, key_file: {ssh_hosts.key}}}\n"
                     "  groups:")
    write(spec_dir / "site.yaml", inventory + f"""
resources:
  - {{type: file, name: f, on: all_hosts, path: /tmp/{uid}-ok, content: ok}}
  - {{type: file, name: g, on: doomed, path: /tmp/{uid}-doomed, content: x}}
  - {{type: command, name: after, on: doomed, command: "true", depends_on: [file.g]}}
""")
    scli("plan", "spec", check=0)
    doomed.container.stop(timeout=1)  # the host goes away mid-run
    run = scli("apply", "--auto-approve", "spec")
    assert run.rc == 1
    assert "host doomed unreachable" in run.out
    for host in ssh_hosts.hosts:
        assert host.exec(f"cat /tmp/{uid}-ok")[1] == "ok"
    doomed.container.remove(force=True)


def test_ansible_inventory_and_ssh_config(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    h0, h1 = ssh_hosts.hosts[0], ssh_hosts.hosts[1]
    # web2 is only an alias: ~/.ssh/config says where it is and how to log in
    write(scli.cwd / ".ssh/config", f"Host web2-alias\n  HostName 127.0.0.1\n  Port {h1.port}\n  User root\n"
                                    f"  IdentityFile {ssh_hosts.key}\n")
    write(spec_dir / "hosts.yml", f"""
all:
  vars: {{tier: base}}
  children:
    web:
      vars: {{tier: web}}
      hosts:
        web1: {{ansible_host: 127.0.0.1, ansible_port: {h0.port}, ansible_user: root,
               ansible_ssh_private_key_file: {ssh_hosts.key}, colour: blue}}
        web2: {{ansible_host: web2-alias}}
""")
    write(spec_dir / "site.yaml", f"""
inventory: hosts.yml
resources:
  - type: file
    name: f
    on: web
    path: /tmp/{uid}-inv
    content: "{{{{ host.name }}}} {{{{ host.vars.tier }}}} {{{{ host.vars.colour | default('none') }}}}"
""")
    (scli.cwd / ".ssh/known_hosts").write_text(ssh_hosts.known_hosts.read_text())
    scli("apply", "--auto-approve", "spec", check=0)
    assert h0.exec(f"cat /tmp/{uid}-inv")[1] == "web1 web blue"
    assert h1.exec(f"cat /tmp/{uid}-inv")[1] == "web2 web none"


def test_twenty_hosts_in_parallel(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str,
                                  docker_client: Any) -> None:
    from tests.harness.ssh_hosts import SSHHost, _wait_for_ssh, start_hosts

    fleet = start_hosts(docker_client, f"{uid}-fleet", 20)
    known = spec_dir.parent / "fleet_known_hosts"

    def write_spec() -> None:
        known.write_text("".join(h.host_key_line() + "\n" for h in fleet))
        lines = ["inventory:", "  hosts:"]
        lines += [f"    f{i}: {{address: 127.0.0.1, port: {h.port}, user: root, key_file: {ssh_hosts.key}}}"
                  for i, h in enumerate(fleet)]
        lines += ["  groups:", "    fleet: [" + ", ".join(f"f{i}" for i in range(20)) + "]",
                  f"  known_hosts: {known}"]
        write(spec_dir / "site.yaml", "\n".join(lines) + f"""
resources:
  - {{type: directory, name: d, on: fleet, path: /srv/{uid}}}
  - {{type: file, name: f, on: fleet, path: "/srv/{uid}/id", content: "{{{{ host.name }}}}", depends_on: [directory.d]}}
  - {{type: line_in_file, name: l, on: fleet, path: /etc/hosts, line: "127.0.0.2 {uid}.internal"}}
""")

    try:
        write_spec()
        run = scli("apply", "--auto-approve", "--parallelism", "20", "spec", check=0)
        assert "Resources: 60 added" in run.out and "Per target:" in run.out and "f19: 3 ok" in run.out
        for i, h in enumerate(fleet):
            assert h.exec(f"cat /srv/{uid}/id")[1] == f"f{i}"
            assert f"{uid}.internal" in h.exec("cat /etc/hosts")[1]
        # --parallelism caps open connections: 20 hosts drifted, repaired with at most 4 connections open
        for h in fleet:
            h.exec(f"echo tampered > /srv/{uid}/id")
        capped, peak = run_sampling_sockets(scli, "apply", "--auto-approve", "--parallelism", "4", "spec")
        assert capped.returncode == 0 and "Resources: 0 added, 20 changed" in capped.stdout, capped.stdout
        assert 1 <= peak <= 4, f"{peak} sockets open at once with --parallelism 4"
        assert all(h.exec(f"cat /srv/{uid}/id")[1] == f"f{i}" for i, h in enumerate(fleet))
        fleet[7].container.stop(timeout=1)  # one host goes down; another drifts
        fleet[3].exec(f"rm /srv/{uid}/id")
        again = scli("apply", "--auto-approve", "--parallelism", "20", "spec")
        assert again.rc == 1 and "host f7 unreachable" in again.out and "f3: 1 ok" in again.out
        assert fleet[3].exec(f"cat /srv/{uid}/id")[1] == "f3"

        fleet[7].container.start()  # it comes back (on a new port): the rerun converges
        fleet[7].container.reload()
        port = int(fleet[7].container.attrs["NetworkSettings"]["Ports"]["22/tcp"][0]["HostPort"])
        fleet[7] = SSHHost(fleet[7].name, port, fleet[7].container)
        _wait_for_ssh(fleet[7])
        write_spec()
        scli("apply", "--auto-approve", "spec", check=0)  # (docker rewrote its /etc/hosts on restart)
        assert f"{uid}.internal" in fleet[7].exec("cat /etc/hosts")[1]
        assert "No changes." in scli("apply", "--auto-approve", "spec", check=0).out
    finally:
        for h in fleet:
            h.container.remove(force=True)


def run_sampling_sockets(cli: Cli, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the CLI and sample its open sockets (its SSH connections) every 10 ms; the most seen at once."""
    proc = cli.popen(*args)
    peak = 0
    while proc.poll() is None:
        try:
            fds = os.listdir(f"/proc/{proc.pid}/fd")
            peak = max(peak, sum(1 for fd in fds if _is_socket(proc.pid, fd)))
        except OSError:
            pass
        time.sleep(0.01)
    out, err = proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, out, err), peak


def _is_socket(pid: int, fd: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    except OSError:
        return False
