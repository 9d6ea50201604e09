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


def test_a_first_converge_costs_a_few_exchanges_per_host_not_one_per_change(cli: Cli, spec_dir: Path,
                                                                            ssh_hosts: SSHFleet, uid: str) -> None:
    """The fleet benchmark's 30 resources per host: 8 directories, 12 files in them, 8 lines of one file, a
    package and a user. Two waves of ready changes (everything but the files, then the files): the first
    wave's edits read their file in one exchange and are written in a second; the package goes in one apt
    transaction beside them; the files go in one more. Before the batching this was 38 per host."""
    cli.env["HOME"] = str(cli.cwd)
    base = f"/srv/{uid}"
    entries = [f"  - {{type: directory, name: d{d}, on: all_hosts, path: {base}/d{d}}}" for d in range(8)]
    entries += [f"  - {{type: file, name: f{f}, on: all_hosts, path: {base}/d{f % 8}/f{f}.conf, "
                f"content: \"file {f} on {{{{ host.name }}}}\\n\", depends_on: [directory.d{f % 8}]}}" for f in range(12)]
    entries += [f"  - {{type: line_in_file, name: l{k}, on: all_hosts, path: {base}/lines.conf, line: \"key{k}=v{k}\", "
                f"create: true}}" for k in range(8)]
    entries += ["  - {type: package, name: coreutils, on: all_hosts}",
                f"  - {{type: user, name: {uid}u, on: all_hosts}}"]
    write(spec_dir / "site.yaml", ssh_hosts.inventory() + "resources:\n" + "\n".join(entries) + "\n")
    applied = cli("-v", "apply", "--auto-approve", "spec", check=0)
    trips = re.search(r"SSH: (\d+) hosts, (\d+) round trips", applied.text)
    assert trips, applied.text
    hosts, total = int(trips.group(1)), int(trips.group(2))
    print(f"first converge: {total / hosts:.1f} round trips per host")
    # the plan's observation (1), the first wave's reads and writes (2), the files (1), and the package
    # transaction and its check (at most 3): against 38 when every change was its own exchange
    assert hosts == 3 and total / hosts <= 6, applied.text  # 5 here
    for i, host in enumerate(ssh_hosts.hosts):
        assert host.exec(f"cat {base}/lines.conf")[1].splitlines() == [f"key{k}=v{k}" for k in range(8)]
        assert host.exec(f"cat {base}/d3/f11.conf")[1].strip() == f"file 11 on h{i}"
        assert host.exec(f"id -u {uid}u")[0] == 0
    again = cli("-v", "plan", "spec", check=0)
    assert "No changes." in again.out, again.text
