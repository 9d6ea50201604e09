"""Trust on real SSH hosts: accounts that existed are never deleted, a user's home with files is a data-loss
hazard, removed accounts go in reverse dependency order (a primary group after its user), writes through
`become` keep owner and mode, and recursive modes never follow a link out of the tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli, SSHFleet, write


@pytest.fixture
def scli(cli: Cli, docker_url: str) -> Cli:
    cli.env["HOME"] = str(cli.cwd)
    return cli


def test_accounts_found_hazards_and_removal_order(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str) -> None:
    h = ssh_hosts.hosts[0]
    # names in the wrong alphabetical order: a_grp is z_usr's primary group, so it can only go after z_usr
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + f"""
resources:
  - {{type: user, name: root, on: h0, shell: /bin/bash}}
  - {{type: group, name: a_grp, on: h0, group_name: {uid}g}}
  - {{type: user, name: z_usr, on: h0, username: {uid}u, group: "${{group.a_grp.group_name}}"}}
""")
    scli("apply", "--auto-approve", "spec", check=0)
    assert h.exec(f"id -gn {uid}u")[1].strip() == f"{uid}g"
    assert "user.root  (found)" in scli("state", "list", "--spec", "spec", check=0).out
    h.exec(f"echo work > /home/{uid}u/notes.txt")

    write(spec_dir / "site.yaml", ssh_hosts.inventory() + "resources: []\n")
    plan = scli("plan", "spec")
    assert plan.rc == 1 and f"the home /home/{uid}u of user {uid}u holds 1 file(s)" in plan.out
    assert "# user.root will be forgotten, not destroyed (it existed before reconcile" in plan.out
    scli("apply", "--auto-approve", "--allow-data-loss", "spec", check=0)
    assert h.exec(f"getent passwd {uid}u")[0] != 0 and h.exec(f"getent group {uid}g")[0] != 0
    assert h.exec("getent passwd root")[0] == 0  # found: never deleted


def test_writes_keep_owner_and_mode_and_links_are_not_followed(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet,
                                                               uid: str) -> None:
    h = ssh_hosts.hosts[1]
    h.exec(f"mkdir -p /srv/{uid}/tree/sub /srv/{uid}-outside && chmod 700 /srv/{uid}-outside && "
           f"ln -s /srv/{uid}-outside /srv/{uid}/tree/sub/escape && "
           f"printf 'old\\n' > /srv/{uid}/kept.conf && chown nobody:nogroup /srv/{uid}/kept.conf && "
           f"chmod 640 /srv/{uid}/kept.conf")
    write(spec_dir / "site.yaml", ssh_hosts.inventory(user="deploy", become=True) + f"""
resources:
  - {{type: file, name: kept, on: h1, path: /srv/{uid}/kept.conf, content: "new\\n"}}
  - {{type: file, name: fresh, on: h1, path: /srv/{uid}/fresh.conf, content: "fresh\\n"}}
  - {{type: directory, name: tree, on: h1, path: /srv/{uid}/tree, mode: "0751", recurse: true}}
""")
    scli("apply", "--auto-approve", "spec", check=0)
    assert h.exec(f"cat /srv/{uid}/kept.conf")[1] == "new\n"
    assert h.exec(f"stat -c '%a %U %G' /srv/{uid}/kept.conf")[1].strip() == "640 nobody nogroup"
    assert h.exec(f"stat -c '%a' /srv/{uid}/fresh.conf")[1].strip() == "644"  # 0666 minus sudo's umask 022
    assert h.exec(f"stat -c '%a' /srv/{uid}/tree/sub")[1].strip() == "751"
    assert h.exec(f"stat -c '%a' /srv/{uid}-outside")[1].strip() == "700"
    assert "No changes." in scli("plan", "spec", check=0).out
