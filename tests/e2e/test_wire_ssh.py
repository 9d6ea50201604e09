"""SSH under faults and limits, on real sshd hosts: nothing waits forever (command deadlines, a silent host),
server channel limits are respected, dropped connections are re-established, connection and `become` errors
are one line, ProxyJump in OpenSSH's syntax, held dpkg locks are waited for, a full disk says so, and a host
key that changed after `plan --out` is named."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, SSHFleet, write
from tests.harness.ssh_hosts import client_key, start_hosts


@pytest.fixture
def scli(cli: Cli, docker_url: str) -> Cli:
    cli.env["HOME"] = str(cli.cwd)
    return cli


def inventory(hosts: list[Any], known: Path, extra: str = "", user: str = "root") -> str:
    lines = ["inventory:", "  hosts:"]
    for i, h in enumerate(hosts):
        lines.append(f"    h{i}: {{address: 127.0.0.1, port: {h.port}, user: {user}, key_file: {client_key()}{extra}}}")
    lines.append(f"  known_hosts: {known}")
    return "\n".join(lines) + "\n"


def trusted(hosts: list[Any], path: Path) -> Path:
    path.write_text("".join(h.host_key_line() + "\n" for h in hosts))
    return path


def test_deadlines_a_silent_host_and_a_list_of_hosts(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet,
                                                      uid: str) -> None:
    hosts = ssh_hosts.hosts
    write(spec_dir / "site.yaml", inventory(hosts, ssh_hosts.known_hosts, ", keepalive: 2") + f"""
resources:
  - {{type: command, name: slow, on: h0, command: "sleep 25", timeout: 3}}
  - {{type: file, name: f, on: [h1, h2], path: /tmp/{uid}-f, content: "x\\n"}}
""")
    started = time.monotonic()
    run = scli("apply", "--auto-approve", "spec")
    assert run.rc == 1 and "`sh -c 'sleep 25'` on h0 timed out after 3s" in run.out, run.text
    assert time.monotonic() - started < 20
    assert hosts[0].exec("pgrep -x sleep")[0] != 0  # killed on the host too
    assert hosts[1].exec(f"cat /tmp/{uid}-f")[1] == "x\n" and hosts[2].exec(f"cat /tmp/{uid}-f")[1] == "x\n"

    write(spec_dir / "site.yaml", inventory(hosts, ssh_hosts.known_hosts, ", keepalive: 2") + f"""
resources:
  - {{type: command, name: wait, on: h1, command: "sleep 8; touch /tmp/{uid}-late", creates: /tmp/{uid}-late}}
  - {{type: file, name: g, on: h2, path: /tmp/{uid}-g, content: "y\\n"}}
""")
    proc = scli.popen("apply", "--auto-approve", "spec")
    time.sleep(3)
    # every process of the host but its init stops: connections stay open and nothing answers. (SIGSTOP
    # rather than `docker pause`: the cgroup v1 freezer can wedge Debian's dockerd 20.10 for minutes.)
    hosts[1].exec("kill -STOP -1")
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        hosts[1].exec("kill -CONT -1")
    assert proc.returncode == 1 and "host h1 did not answer for" in out + err, out + err
    assert hosts[2].exec(f"cat /tmp/{uid}-g")[1] == "y\n"  # the rest of the run went on


def test_a_server_allowing_two_channels_and_dropped_connections(scli: Cli, spec_dir: Path, docker_client: Any,
                                                                tmp_path: Path, uid: str) -> None:
    (narrow,) = start_hosts(docker_client, f"rt-{uid}-narrow", 1, sshd_options="MaxSessions 2")
    try:
        known = trusted([narrow], tmp_path / "known_hosts")
        files = "".join(f"  - {{type: file, name: f{i}, on: h0, path: /srv/{uid}/f{i}, content: \"{i}\\n\"}}\n"
                        for i in range(100))
        write(spec_dir / "site.yaml", inventory([narrow], known) + "resources:\n" + files)
        run = scli("apply", "--auto-approve", "--parallelism", "10", "spec")
        assert run.rc == 0 and "100 added" in run.out and "Error" not in run.out, run.text
        assert narrow.exec(f"ls /srv/{uid} | wc -l")[1].strip() == "100"
        assert "No changes." in scli("plan", "spec", check=0).out

        # the host drops every session while an apply runs: reconnected, converged in this run or the next
        edited = files.replace('\\n"}', '-v2\\n"}')
        write(spec_dir / "site.yaml", inventory([narrow], known) + "resources:\n" + edited)
        proc = scli.popen("apply", "--auto-approve", "--parallelism", "10", "spec")
        stop = time.monotonic() + 3
        while time.monotonic() < stop:
            narrow.exec("pkill -f 'sshd: root@' || true")
            time.sleep(0.2)
        proc.communicate(timeout=120)
        scli("apply", "--auto-approve", "spec", check=0)
        assert narrow.exec(f"cat /srv/{uid}/f42")[1] == "42-v2\n"
        assert "No changes." in scli("plan", "spec", check=0).out
    finally:
        narrow.container.remove(force=True)


def test_connection_and_become_errors_are_one_line(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet,
                                                   uid: str) -> None:
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(5)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: [accepted.append(mute.accept()[0]) for _ in range(5)], daemon=True).start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    h = ssh_hosts.hosts[0]
    h.exec(f"id {uid}p >/dev/null 2>&1 || (useradd -m {uid}p && useradd -m {uid}n && "
           f"for u in {uid}p {uid}n; do mkdir -p /home/$u/.ssh && cp /root/.ssh/authorized_keys /home/$u/.ssh/ && "
           f"chown -R $u /home/$u/.ssh; done && echo '{uid}p ALL=(ALL) ALL' > /etc/sudoers.d/{uid}p)")
    write(spec_dir / "site.yaml", f"""inventory:
  hosts:
    mute: {{address: 127.0.0.1, port: {mute.getsockname()[1]}, key_file: {client_key()}, connect_timeout: 2}}
    closed: {{address: 127.0.0.1, port: {closed_port}, key_file: {client_key()}}}
    password: {{address: 127.0.0.1, port: {h.port}, user: {uid}p, become: true, key_file: {client_key()}}}
    nosudo: {{address: 127.0.0.1, port: {h.port}, user: {uid}n, become: true, key_file: {client_key()}}}
  known_hosts: {ssh_hosts.known_hosts}
resources:
  - {{type: file, name: a, on: [mute, closed, password, nosudo], path: /etc/{uid}-x, content: "x\\n"}}
""")
    run = scli("plan", "spec")
    lines = [line for line in run.out.splitlines() if line.startswith("Error:")]
    assert run.rc == 1 and "Traceback" not in run.text and len(lines) == 4, run.text
    text = "\n".join(lines)
    assert "accepted the connection but did not speak SSH within 2s" in text
    assert f"host closed unreachable (127.0.0.1:{closed_port}): Unable to connect to port {closed_port}" in text
    assert f"become failed on password: sudo wants a password for {uid}p" in text
    assert f"become failed on nosudo: sudo wants a password for {uid}n (or refuses it)" in text
    assert all(len(line) < 400 for line in lines)
    trust = scli("trust", "closed", "--spec", "spec", "--yes")
    assert trust.rc == 1 and "Traceback" not in trust.text and f"cannot connect to 127.0.0.1:{closed_port}" in trust.err
    mute.close()


def test_proxy_jump_in_openssh_syntax(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, tmp_path: Path,
                                      uid: str) -> None:
    jump, target = ssh_hosts.hosts[0], ssh_hosts.hosts[1]
    inside = target.internal_address
    key = target.host_key_line().split(" ", 1)[1]
    known = tmp_path / "known_hosts"
    known.write_text(jump.host_key_line() + "\n" + f"{inside} {key}\n")
    write(spec_dir / "site.yaml", f"""inventory:
  hosts:
    far: {{address: {inside}, user: root, key_file: {client_key()}, proxy_jump: "root@127.0.0.1:{jump.port}"}}
  known_hosts: {known}
resources:
  - {{type: file, name: f, on: far, path: /tmp/{uid}-jumped, content: "through the jump host\\n"}}
""")
    scli("apply", "--auto-approve", "spec", check=0)
    assert target.exec(f"cat /tmp/{uid}-jumped")[1] == "through the jump host\n"
    assert "No changes." in scli("plan", "spec", check=0).out

    write(spec_dir / "site.yaml", (spec_dir / "site.yaml").read_text().replace(f"127.0.0.1:{jump.port}",
                                                                                "127.0.0.1:9"))
    run = scli("plan", "spec")
    assert run.rc == 1 and "ProxyJump root@127.0.0.1:9 failed: " in run.out and "Connection refused" in run.out


def test_dpkg_lock_full_disk_and_changed_host_key(scli: Cli, spec_dir: Path, docker_client: Any, tmp_path: Path,
                                                  uid: str) -> None:
    (h,) = start_hosts(docker_client, f"rt-{uid}-small", 1, tmpfs={"/small": "size=1m"})
    try:
        known = trusted([h], tmp_path / "known_hosts")
        h.exec("nohup python3 -c \"import fcntl,time; f=open('/var/lib/dpkg/lock-frontend','w'); "
               "fcntl.lockf(f, fcntl.LOCK_EX); time.sleep(5)\" >/dev/null 2>&1 &")
        time.sleep(0.5)
        write(spec_dir / "site.yaml", inventory([h], known) + """resources:
  - {type: package, name: hello, on: h0, update_cache: true}
""")
        started = time.monotonic()
        run = scli("apply", "--auto-approve", "spec")
        assert run.rc == 0, run.text  # waited for the lock instead of failing at once
        assert time.monotonic() - started >= 4
        assert h.exec("dpkg -s hello")[0] == 0

        write(spec_dir / "site.yaml", inventory([h], known) + """resources:
  - {type: file, name: big, on: h0, path: /small/big, content: "{{ 'x' * 900000 }}{{ 'y' * 900000 }}"}
""")
        run = scli("apply", "--auto-approve", "spec")
        assert run.rc == 1 and "no space left on device on h0:/small/" in run.out, run.text

        write(spec_dir / "site.yaml", inventory([h], known) + """resources:
  - {type: file, name: small, on: h0, path: /small/ok, content: "ok\\n"}
""")
        scli("plan", "--out", "saved.json", "spec", check=0)
        other = start_hosts(docker_client, f"rt-{uid}-other", 1)[0]
        try:
            line = known.read_text().split(" ", 1)
            known.write_text(line[0] + " " + other.host_key_line().split(" ", 1)[1] + "\n")  # "the host changed"
        finally:
            other.container.remove(force=True)
        run = scli("apply", "saved.json")
        assert run.rc == 1 and "host h0 unreachable: its host key CHANGED" in run.err, run.text
        assert h.exec("test -e /small/ok")[0] != 0
    finally:
        h.container.remove(force=True)
