"""One round trip per host: a no-change plan of a host with every server type costs one SSH exchange
(the reads of all types gathered in one batch), measured by the engine's own count."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Cli, SSHFleet, write


def test_a_no_change_plan_costs_one_round_trip_per_host(cli: Cli, spec_dir: Path, ssh_hosts: SSHFleet,
                                                        uid: str) -> None:
    cli.env["HOME"] = str(cli.cwd)
    base = f"/srv/{uid}"
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + f"""
resources:
  - {{type: directory, name: d, on: all_hosts, path: {base}}}
  - {{type: file, name: f, on: all_hosts, path: {base}/f, content: "x\\n", depends_on: [directory.d]}}
  - {{type: symlink, name: s, on: all_hosts, path: {base}/s, target: {base}/f, depends_on: [directory.d]}}
  - {{type: line_in_file, name: l, on: all_hosts, path: {base}/l, line: "a=1", create: true, depends_on: [directory.d]}}
  - {{type: command, name: c, on: all_hosts, command: "touch {base}/made", creates: {base}/made,
     depends_on: [directory.d]}}
  - {{type: group, name: {uid}g, on: all_hosts}}
  - {{type: user, name: {uid}u, on: all_hosts, groups: [{uid}g], depends_on: ["group.{uid}g"]}}
  - {{type: cron, name: job, on: all_hosts, minute: 5, job: "true"}}
  - {{type: package, name: coreutils, on: all_hosts}}
  - {{type: service, name: cron, on: all_hosts, state: running}}
""")
    cli("apply", "--auto-approve", "spec", check=0)
    plan = cli("-v", "plan", "spec", check=0)
    assert "No changes." in plan.out, plan.text
    trips = re.search(r"SSH: (\d+) hosts, (\d+) round trips", plan.text)
    assert trips and trips.groups() == ("3", "3"), plan.text  # 10 types on 3 hosts: one exchange per host
