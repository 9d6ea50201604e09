"""A component used twice on different real SSH hosts, and `when:`/templates on host facts: plan, apply,
no-change rerun, drift repaired."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli, SSHFleet, write


@pytest.fixture
def scli(cli: Cli, docker_url: str) -> Cli:
    cli.env["HOME"] = str(cli.cwd)
    return cli


SITE = """
description: a site root with its config and a marker chosen by the host's OS family
inputs:
  root: {type: string}
  port: {type: integer, default: 8080}
  hosts: {type: string}
outputs:
  conf: {value: "${file.conf.path}"}
resources:
  - {type: directory, name: root, on: "{{ inputs.hosts }}", path: "{{ inputs.root }}", mode: "0755"}
  - type: file
    name: conf
    on: "{{ inputs.hosts }}"
    path: "${directory.root.path}/site.conf"
    content: "listen {{ inputs.port }}\\narch {{ host.facts.architecture }}\\ncpus {{ host.facts.processor_count }}\\n"
  - type: file
    name: debian_marker
    on: "{{ inputs.hosts }}"
    when: host.facts.os_family == "Debian"
    path: "${directory.root.path}/{{ host.facts.distribution | lower }}-{{ host.facts.distribution_major_version }}"
    content: "{{ host.facts.hostname }}\\n"
  - type: file
    name: redhat_marker
    on: "{{ inputs.hosts }}"
    when: host.facts.os_family == "RedHat"
    path: "${directory.root.path}/redhat"
    content: "never on these hosts\\n"
"""


def test_a_component_twice_on_two_hosts_with_facts(scli: Cli, spec_dir: Path, ssh_hosts: SSHFleet, uid: str,
                                                   tmp_path: Path) -> None:
    h0, h1 = ssh_hosts.hosts[0], ssh_hosts.hosts[1]
    write(tmp_path / "lib/site/main.yaml", SITE)
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + f"""
name: comp-{uid}
components:
  - {{name: blue, use: {tmp_path}/lib/site, with: {{root: "/srv/{uid} blue", hosts: h0}}}}
  - {{name: green, use: {tmp_path}/lib/site, with: {{root: "/srv/{uid}-green", port: 9090, hosts: h1}}}}
outputs:
  blue_conf: {{value: "${{component.blue.conf}}"}}
""")
    plan = scli("plan", "spec", check=0).out
    assert "+ component.blue.file.conf" in plan and "+ component.green.file.debian_marker" in plan
    assert "redhat_marker" not in plan and "Plan: 6 to add" in plan
    graph = scli("graph", "spec", check=0).out
    assert '"component.blue.directory.root" -> "component.blue.file.conf"' in graph

    applied = scli("apply", "--auto-approve", "spec", check=0).out
    assert f'blue_conf = "/srv/{uid} blue/site.conf"' in applied
    arch = h0.exec("uname -m")[1].strip()
    assert h0.exec(f"cat '/srv/{uid} blue/site.conf'")[1] == f"listen 8080\narch {arch}\ncpus {h0.exec('nproc')[1].strip()}\n"
    assert h1.exec(f"cat /srv/{uid}-green/site.conf")[1].startswith("listen 9090\n")
    version = h1.exec(". /etc/os-release; echo $VERSION_ID")[1].strip().split(".")[0]
    assert h1.exec(f"cat /srv/{uid}-green/debian-{version}")[1] == h1.exec("hostname")[1]
    assert h0.exec(f"test -e /srv/{uid}-green")[0] != 0 and h1.exec(f"test -e '/srv/{uid} blue'")[0] != 0
    rerun = scli("plan", "--detailed-exitcode", "spec", check=0)
    assert "No changes." in rerun.out
    listed = scli("state", "list", "--spec", "spec", check=0).out.split()
    assert "component.green.file.debian_marker" in listed and "component.blue.directory.root" in listed

    h1.exec(f"echo tampered > /srv/{uid}-green/site.conf")  # drift behind the tool's back
    drifted = scli("plan", "spec", check=0).out
    assert "~ component.green.file.conf" in drifted and "Plan: 0 to add, 1 to change" in drifted
    scli("apply", "--auto-approve", "spec", check=0)
    assert h1.exec(f"cat /srv/{uid}-green/site.conf")[1].startswith("listen 9090\n")

    write(spec_dir / "site.yaml", ssh_hosts.inventory() + f"name: comp-{uid}\nresources: []\n")
    gone = scli("apply", "--auto-approve", "spec", check=0).out
    assert "6 destroyed" in gone
    assert h0.exec(f"test -e '/srv/{uid} blue'")[0] != 0 and h1.exec(f"test -e /srv/{uid}-green")[0] != 0


def test_facts_of_an_unreachable_host_stop_the_plan_with_one_error(scli: Cli, spec_dir: Path,
                                                                    ssh_hosts: SSHFleet) -> None:
    write(spec_dir / "site.yaml", ssh_hosts.inventory().replace(
        "  groups:", "    ghost: {address: 127.0.0.1, port: 1, user: root, connect_timeout: 2}\n  groups:") + """
resources:
  - {type: file, name: f, on: ghost, path: /tmp/x, when: host.facts.os_family == "Debian"}
  - {type: file, name: g, on: h0, path: /tmp/never-written-by-this-test, content: "{{ host.facts.hostname }}"}
""")
    run = scli("plan", "spec", check=1)
    assert "Traceback" not in run.text
    assert "host.facts" in run.err and "ghost" in run.err and "--limit" in run.err
    limited = scli("plan", "--limit", "h0", "spec", check=0).out
    assert "+ file.g" in limited and "file.f" not in limited
