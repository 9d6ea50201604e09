"""`firewall` on a real sshd host with its own network namespace (NET_ADMIN): nftables installed by a
package resource in the same run, the rules' real effect checked by connecting from the controller to a
port published from the host, hand-made changes shown and undone, a policy that would shut out SSH
refused with nothing changed, and removal giving the traffic back."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, write


@pytest.fixture(scope="module")
def box(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, Path]]:
    from tests.harness.ssh_hosts import client_key, start_hosts

    (host,) = start_hosts(docker_client, f"fw-{os.getpid()}", 1, publish=(8080,), cap_add=["NET_ADMIN"])
    host.container.exec_run(["python3", "-m", "http.server", "8080", "--directory", "/tmp"], detach=True)
    deadline = time.monotonic() + 20
    while not answers(host.published(8080)) and time.monotonic() < deadline:
        time.sleep(0.2)
    known = tmp_path_factory.mktemp("fw") / "known_hosts"
    known.write_text(host.host_key_line() + "\n")
    yield host, known, client_key()
    host.container.remove(force=True)


def answers(port: int) -> bool:
    """Whether the web server behind the firewall answers (a dropped SYN times out)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.settimeout(3)
            return s.recv(12).startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def spec(box: Any, rules: str, extra: str = "") -> str:
    host, known, key = box
    return f"""
inventory:
  hosts:
    box: {{address: 127.0.0.1, port: {host.port}, user: root, key_file: {key}}}
  known_hosts: {known}
resources:
  - {{type: package, name: nftables, on: box, update_cache: true}}
  - type: firewall
    name: inbound
    on: box
    depends_on: [package.nftables]
    rules: {rules}
{extra}"""


def test_rules_as_a_set_with_real_effect_drift_lockout_guard_and_removal(cli: Cli, spec_dir: Path, box: Any) -> None:
    cli.env["HOME"] = str(cli.cwd)
    host = box[0]
    web = host.published(8080)
    assert answers(web)
    write(spec_dir / "site.yaml", spec(box, "[{port: 22}, {proto: icmp}]"))
    plan = cli("plan", "spec", check=0).out
    assert "+ firewall.inbound" in plan and '"tcp dport 22 accept"' in plan, plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert not answers(web)  # dropped: policy drop, no rule for 8080
    again = cli("apply", "--auto-approve", "spec", check=0)  # SSH still gets in, and nothing to do
    assert "No changes." in again.out, again.out
    listed = host.exec("nft list table inet reconcile")[1]
    assert "policy drop;" in listed and 'tcp dport 22 accept comment "rc: tcp dport 22 accept"' in listed, listed
    assert host.exec("cat /etc/nftables.d/reconcile.nft")[1].startswith("table inet reconcile\n")
    assert 'include "/etc/nftables.d/*.nft"' in host.exec("cat /etc/nftables.conf")[1]

    write(spec_dir / "site.yaml", spec(box, "[{port: 22}, {proto: icmp}, {port: [8080, 8081], source: 172.16.0.0/12}]"))
    plan = cli("plan", "spec", check=0).out
    assert "~ firewall.inbound" in plan and "ip saddr 172.16.0.0/12 tcp dport { 8080, 8081 } accept" in plan, plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert answers(web)

    # behind the tool's back: a rule added by hand, the persisted file edited
    host.exec("nft add rule inet reconcile input tcp dport 9999 accept; echo '# mine' >> /etc/nftables.d/reconcile.nft")
    plan = cli("plan", "spec", check=0).out
    assert "tcp dport 9999 accept  (not made by reconcile)" in plan and "persisted" in plan, plan
    cli("apply", "--auto-approve", "spec", check=0)
    assert "9999" not in host.exec("nft list table inet reconcile")[1]
    assert "No changes." in cli("plan", "spec", check=0).out

    # a drop policy without the SSH port: refused before anything changes
    write(spec_dir / "site.yaml", spec(box, "[{port: 8080}]"))
    refused = cli("apply", "--auto-approve", "spec")
    assert refused.rc == 1 and "these rules would shut out SSH: policy drop and no rule accepts tcp port 22" \
        in refused.out, refused.text
    assert answers(web) and "tcp dport 22 accept" in host.exec("nft list table inet reconcile")[1]

    # removed from the spec: the table and its file go, traffic flows again
    write(spec_dir / "site.yaml", spec(box, "[]").split("  - type: firewall")[0])
    cli("apply", "--auto-approve", "spec", check=0)
    assert host.exec("nft list table inet reconcile")[0] != 0
    assert host.exec("test -e /etc/nftables.d/reconcile.nft")[0] != 0
    assert answers(web)
