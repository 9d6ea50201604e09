"""package, service, user, group, line_in_file and cron on real SSH hosts: create, idempotence, drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli, SSHFleet, write


@pytest.fixture
def scli(cli: Cli, docker_url: str) -> Cli:
    cli.env["HOME"] = str(cli.cwd)
    return cli


def converge(scli: Cli) -> None:
    """Apply, then check that a second apply has nothing to do."""
    scli("apply", "--auto-approve", "spec", check=0)
    again = scli("apply", "--auto-approve", "spec", check=0)
    assert "No changes." in again.out and "complete after" not in again.out, again.out


def test_users_groups_and_keys(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    h = ssh_hosts.hosts[0]
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBzL8t3PqZ9fdq9k2t6bW3q3JqzQy0c2fF2Zp8u6g2Lx ops@example"
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + f"""
resources:
  - type: group
    name: {uid}g
    gid: 4242
  - type: user
    name: {uid}u
    on: h0
    uid: 4343
    shell: /bin/sh
    groups: ["{uid}g"]
    authorized_keys: ["{key}"]
    depends_on: [group.{uid}g]
""".replace(f"name: {uid}g\n", f"name: {uid}g\n    on: h0\n"))
    converge(scli)
    assert h.exec(f"getent group {uid}g")[1].startswith(f"{uid}g:x:4242:{uid}u")
    assert h.exec(f"getent passwd {uid}u")[1].strip() == f"{uid}u:x:4343:4343::/home/{uid}u:/bin/sh"
    assert h.exec(f"cat /home/{uid}u/.ssh/authorized_keys")[1] == key + "\n"
    assert h.exec(f"stat -c '%a %U %G' /home/{uid}u/.ssh/authorized_keys")[1].strip() == f"600 {uid}u {uid}u"
    assert h.exec(f"stat -c '%a %U %G' /home/{uid}u/.ssh")[1].strip() == f"700 {uid}u {uid}u"

    h.exec(f"usermod -s /bin/bash {uid}u; echo 'ssh-rsa AAAA intruder' >> /home/{uid}u/.ssh/authorized_keys")
    plan = scli("plan", "spec", check=0)
    assert '~ shell' in plan.out and '"/bin/bash" -> "/bin/sh"' in plan.out and "~ authorized_keys" in plan.out
    converge(scli)
    assert h.exec(f"cat /home/{uid}u/.ssh/authorized_keys")[1] == key + "\n"
    assert h.exec(f"getent passwd {uid}u")[1].strip().endswith(":/bin/sh")

    write(spec_dir / "site.yaml", ssh_hosts.inventory() + "resources: []\n")
    scli("apply", "--auto-approve", "spec", check=0)
    assert h.exec(f"getent passwd {uid}u")[0] != 0 and h.exec(f"getent group {uid}g")[0] != 0


def test_lines_and_cron_entries(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    h = ssh_hosts.hosts[1]
    h.exec(f"printf 'a=1\\nPort 22\\n' > /etc/{uid}.conf; echo '0 1 * * * keep-me' | crontab -")
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + f"""
resources:
  - type: line_in_file
    name: port
    on: h1
    path: /etc/{uid}.conf
    regexp: "^Port "
    line: "Port 2222"
  - type: line_in_file
    name: extra
    on: h1
    path: /etc/{uid}.conf
    line: "b=2"
  - type: line_in_file
    name: created
    on: h1
    path: /etc/{uid}.new
    line: "new file"
    create: true
  - type: cron
    name: backup
    on: h1
    minute: 30
    hour: 2
    job: "/usr/local/bin/backup --all > /dev/null 2>&1"
""")
    converge(scli)
    assert h.exec(f"cat /etc/{uid}.conf")[1] == "a=1\nPort 2222\nb=2\n"
    assert h.exec(f"cat /etc/{uid}.new")[1] == "new file\n"
    tab = h.exec("crontab -l")[1]
    assert "0 1 * * * keep-me" in tab and "# reconcile: backup\n30 2 * * * /usr/local/bin/backup --all" in tab

    h.exec(f"sed -i 's/Port 2222/Port 22/' /etc/{uid}.conf; crontab -l | sed 's/^30 2/0 5/' | crontab -")
    plan = scli("plan", "spec", check=0)
    assert "~ line_in_file.port" in plan.out and "~ cron.backup" in plan.out
    converge(scli)
    assert h.exec(f"cat /etc/{uid}.conf")[1] == "a=1\nPort 2222\nb=2\n"
    assert "30 2 * * *" in h.exec("crontab -l")[1]

    write(spec_dir / "site.yaml", ssh_hosts.inventory() + "resources: []\n")  # pruned: entries removed
    scli("apply", "--auto-approve", "spec", check=0)
    assert h.exec("crontab -l")[1] == "0 1 * * * keep-me\n"
    # b=2 was added by reconcile and goes with its resource; the Port line existed before: it is left alone
    assert h.exec(f"cat /etc/{uid}.conf")[1] == "a=1\nPort 2222\n"


def test_packages_and_services(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    h = ssh_hosts.hosts[2]
    body = ssh_hosts.inventory() + """
resources:
  - type: package
    name: tools
    on: h2
    names: [hello, tree]
    update_cache: true
  - {type: package, name: sl, on: h2}
  - type: line_in_file
    name: cron_conf
    on: h2
    path: /etc/default/cron
    regexp: "^EXTRA_OPTS="
    line: 'EXTRA_OPTS="-L VALUE"'
  - type: service
    name: cron
    on: h2
    state: running
    enabled: true
    restart_on: [line_in_file.cron_conf]
"""
    write(spec_dir / "site.yaml", body.replace("VALUE", "1"))
    plan = scli("plan", "spec", check=0)
    assert "+ package.tools" in plan.out and "# service.cron will be restarted (restart: line_in_file.cron_conf changes)" in plan.out
    converge(scli)
    assert h.exec("hello")[1].strip() == "Hello, world!" and h.exec("tree --version")[0] == 0
    assert h.exec("test -x /usr/games/sl")[0] == 0
    # the two package resources went in as one apt-get install (dpkg logs one run for all three)
    log = h.exec("grep -c '^Commandline: apt-get.* install ' /var/log/apt/history.log")[1].strip()
    assert log == "1", h.exec("cat /var/log/apt/history.log")[1]
    assert h.exec("service cron status")[0] == 0
    pid = h.exec("cat /var/run/crond.pid")[1].strip()

    write(spec_dir / "site.yaml", body.replace("VALUE", "2"))  # the config changes: cron restarts
    plan = scli("plan", "spec", check=0)
    assert "restart: line_in_file.cron_conf" in plan.out
    converge(scli)
    assert h.exec("cat /var/run/crond.pid")[1].strip() != pid

    h.exec("service cron stop; DEBIAN_FRONTEND=noninteractive apt-get remove -y -q tree >/dev/null")  # drift
    plan = scli("plan", "spec", check=0)
    assert "~ package.tools" in plan.out and '"stopped" -> "running"' in plan.out
    converge(scli)
    assert h.exec("service cron status")[0] == 0 and h.exec("tree --version")[0] == 0

    write(spec_dir / "site.yaml", body.replace("VALUE", "2").replace("names: [hello, tree]", "names: [hello, tree]\n    state: absent"))
    scli("apply", "--auto-approve", "spec", check=0)
    assert h.exec("command -v hello")[0] != 0
