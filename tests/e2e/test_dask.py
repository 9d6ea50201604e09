"""The distributed executor on a real Dask LocalCluster (2 worker processes) converging 10 real SSH
hosts: the same outcome as the local executor, a cross-host dependency kept across workers, a worker
killed in the middle of a change (no double apply, a clear report, a rerun converges), and a bad
scheduler refused before anything is applied."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, state_path, write

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=4, processes=True, host="127.0.0.1",
                      dashboard_address=None) as local:
        yield local


@pytest.fixture(scope="module")
def hosts(docker_client, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.harness.ssh_hosts import client_key, start_hosts

    fleet = start_hosts(docker_client, f"dk-{os.getpid()}", 10)
    known = tmp_path_factory.mktemp("dask-ssh") / "known_hosts"
    known.write_text("".join(h.host_key_line() + "\n" for h in fleet))
    yield fleet, known, client_key()
    for h in fleet:
        h.container.remove(force=True)


def inventory(hosts: Any) -> str:
    fleet, known, key = hosts
    lines = ["inventory:", "  hosts:"]
    lines += [f"    h{i}: {{address: 127.0.0.1, port: {h.port}, user: root, key_file: {key}}}" for i, h in enumerate(fleet)]
    lines += ["  groups:", "    fleet: [" + ", ".join(f"h{i}" for i in range(len(fleet))) + "]", f"  known_hosts: {known}"]
    return "\n".join(lines) + "\n"


def events(cluster: Any) -> list[dict[str, Any]]:
    from distributed import Client

    with Client(cluster.scheduler_address, set_as_default=False) as client:
        return [e for _, e in client.get_events("reconcile")]


def test_ten_hosts_converge_on_two_workers_with_a_cross_host_edge(cli: Cli, spec_dir: Path, cluster: Any,
                                                                  hosts: Any, uid: str) -> None:
    fleet = hosts[0]
    write(spec_dir / "site.yaml", inventory(hosts) + f"""
name: dask-{uid}
resources:
  - {{type: directory, name: app, on: fleet, path: /srv/{uid}, mode: "0755"}}
  - type: file
    name: conf
    on: fleet
    path: /srv/{uid}/app.conf
    content: "host {{{{ host.name }}}}\\n"
    depends_on: [directory.app]
  - {{type: line_in_file, name: setting, on: fleet, path: /srv/{uid}/settings, line: "x=1", create: true,
     depends_on: [directory.app]}}
  - {{type: command, name: first, on: h0, command: "date +%s%N > /srv/{uid}/first", creates: /srv/{uid}/first,
     depends_on: ["directory.app[h0]"]}}
  - {{type: command, name: second, on: h1, command: "date +%s%N > /srv/{uid}/second", creates: /srv/{uid}/second,
     depends_on: [command.first, "directory.app[h1]"]}}
""")
    scheduler = ["--executor", "dask", "--scheduler", cluster.scheduler_address]
    applied = cli("apply", "--auto-approve", *scheduler, "spec", check=0)
    assert "Apply complete! Resources: 30 added, 0 changed, 0 destroyed, 2 run." in applied.out, applied.out
    for i, h in enumerate(fleet):
        assert h.exec(f"cat /srv/{uid}/app.conf")[1] == f"host h{i}\n"
        assert h.exec(f"cat /srv/{uid}/settings")[1] == "x=1\n"
    first = int(fleet[0].exec(f"cat /srv/{uid}/first")[1])
    second = int(fleet[1].exec(f"cat /srv/{uid}/second")[1])
    assert second > first  # the cross-host edge held
    ran = {e["address"]: e["worker"] for e in events(cluster)}
    assert ran["command.first"] != ran["command.second"]  # ... across two workers
    assert len({w for a, w in ran.items() if a.endswith(("[h2]", "[h3]", "[h4]"))}) == 2
    assert "No changes." in cli("plan", "spec", check=0).out
    # drift repaired through the workers, like the local executor does
    fleet[5].exec(f"echo tampered > /srv/{uid}/app.conf")
    assert "~ file.conf[h5]" in cli("plan", "spec", check=0).out
    cli("apply", "--auto-approve", *scheduler, "spec", check=0)
    assert fleet[5].exec(f"cat /srv/{uid}/app.conf")[1] == "host h5\n"
    assert "No changes." in cli("plan", "spec", check=0).out


def test_a_worker_killed_mid_change_is_reported_and_never_applies_twice(cli: Cli, spec_dir: Path, cluster: Any,
                                                                         hosts: Any, uid: str) -> None:
    from distributed import Client

    fleet = hosts[0]
    write(spec_dir / "site.yaml", inventory(hosts) + f"""
name: kill-{uid}
resources:
  - type: command
    name: slow
    on: fleet
    command: "sleep 4 && echo once >> /root/count-{uid} && touch /root/done-{uid}"
    creates: /root/done-{uid}
""")
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        pids = client.run(os.getpid)
    run = cli.popen("apply", "--auto-approve", "--executor", "dask", "--scheduler", cluster.scheduler_address, "spec")
    deadline, victim = time.time() + 30, None
    while time.time() < deadline and victim is None:
        started = [e for e in events(cluster) if e["address"].startswith("command.slow")]
        if started:
            victim = started[0]
        time.sleep(0.2)
    assert victim is not None
    os.kill(pids[victim["worker"]], signal.SIGKILL)  # the nanny starts a new worker; its tasks move
    out, err = run.communicate(timeout=120)
    out += err
    assert run.returncode == 1, out
    assert f"{victim['address']}" in out and "outcome unknown" in out and "Traceback" not in out
    lost = int(victim["address"].split("[h")[1].rstrip("]"))
    for i, h in enumerate(fleet):
        count = h.exec(f"cat /root/count-{uid} 2>/dev/null | wc -l")[1].strip()
        assert count in (("0", "1") if i == lost else ("1",)), (i, count, out)
    again = cli("apply", "--auto-approve", "--executor", "dask", "--scheduler", cluster.scheduler_address, "spec",
                check=0)
    # the lost change is observed again: run now if it had not finished, or found done (its remote command
    # outlived the worker's connection)
    assert "Apply complete!" in again.out or "No changes." in again.out
    for h in fleet:
        assert h.exec(f"cat /root/count-{uid} | wc -l")[1].strip() == "1"  # applied once, never twice
    assert "No changes." in cli("plan", "spec", check=0).out


def test_a_bad_scheduler_is_refused_before_anything_is_applied(cli: Cli, spec_dir: Path, tmp_path: Path,
                                                               cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    write(spec_dir / "site.yaml", f"resources:\n  - {{type: file, name: f, path: {tmp_path}/never, content: x}}\n")
    run = cli("apply", "--auto-approve", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", "spec", check=1)
    assert run.err.startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9") and "Traceback" not in run.text
    assert not (tmp_path / "never").exists() and not state_path(spec_dir).exists()
    assert "needs --scheduler" in cli("apply", "--auto-approve", "--executor", "dask", "spec", check=1).err

    from reconciler.engine import distributed as executor
    from reconciler.errors import ReconcileError

    monkeypatch.setattr(executor, "_reconcile_version", lambda: "0.0.1-other")
    with pytest.raises(ReconcileError, match="cannot run this apply: its workers run reconcile .* this client runs 0.0.1-other"):
        executor.connect(cluster.scheduler_address)


def test_a_local_apply_imports_no_dask(cli: Cli, spec_dir: Path, tmp_path: Path) -> None:
    """The default executor stays the thread pool, and nothing about Dask is imported unless asked for."""
    import subprocess
    import sys

    write(spec_dir / "site.yaml", f"resources:\n  - {{type: file, name: f, path: {tmp_path}/made, content: x}}\n")
    probe = ("import sys; from reconciler.cli import main\n"
             "try:\n    main(['apply', '--auto-approve', 'spec'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=cli.cwd, env=cli.env, capture_output=True, text=True)
    assert done.stdout.strip().endswith("[]"), done.stdout + done.stderr
    assert (tmp_path / "made").read_text() == "x"
