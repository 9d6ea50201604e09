"""Rolling updates on 6 real SSH hosts: `serial: 2` converges two hosts at a time with a health gate
between batches (a command on the host, an HTTP check from the controller); a gate that fails stops
the rollout: the hosts not reached stay untouched, the run exits 1 and says which."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, write


@pytest.fixture(scope="module")
def six(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Any], Path, Path]]:
    from tests.harness.ssh_hosts import client_key, start_hosts

    fleet = start_hosts(docker_client, f"roll-{os.getpid()}", 6)
    known = tmp_path_factory.mktemp("rolling") / "known_hosts"
    known.write_text("".join(h.host_key_line() + "\n" for h in fleet))
    yield fleet, known, client_key()
    for h in fleet:
        h.container.remove(force=True)


@pytest.fixture
def health() -> Iterator[tuple[int, set[str]]]:
    """An HTTP server on 127.0.0.1: /NAME answers 200, or 500 for the names in the returned set."""
    sick: set[str] = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(500 if self.path.strip("/") in sick else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], sick
    server.shutdown()


def spec(six: Any, uid: str, version: str, gate: str) -> str:
    fleet, known, key = six
    hosts = "".join(f"    w{i}: {{address: 127.0.0.1, port: {h.port}, user: root, key_file: {key}}}\n"
                    for i, h in enumerate(fleet))
    return f"""
inventory:
  known_hosts: {known}
  hosts:
{hosts}  groups:
    web:
      hosts: [w0, w1, w2, w3, w4, w5]
      serial: 2
      wait_for: {gate}
resources:
  - {{type: file, name: app, on: web, path: /srv/{uid}/app, content: "{version}\\n"}}
  - type: command
    name: stamp
    on: web
    command: "sleep 0.3; date +%s%N > /srv/{uid}/stamp"
    triggered_by: [file.app]
"""


def test_serial_batches_wait_for_the_health_gate_and_a_failed_gate_stops_the_rollout(
        cli: Cli, spec_dir: Path, six: Any, health: tuple[int, set[str]], uid: str) -> None:
    fleet = six[0]
    cli.env["HOME"] = str(cli.cwd)
    on_host = f'{{command: "test -s /srv/{uid}/stamp", timeout: 10}}'
    write(spec_dir / "site.yaml", spec(six, uid, "v1", on_host))
    run = cli("apply", "--auto-approve", "spec", check=0)
    assert "Apply complete! Resources: 6 added, 0 changed, 0 destroyed, 6 run." in run.out, run.out
    stamps = [int(h.exec(f"cat /srv/{uid}/stamp")[1]) for h in fleet]
    for first, second in ((0, 2), (2, 4)):  # each batch started after the one before it had finished
        assert max(stamps[first:first + 2]) < min(stamps[second:second + 2]), stamps
    assert "No changes." in cli("plan", "spec", check=0).out

    port, sick = health
    sick.add("w3")  # the second batch's w3 is unhealthy after its update: w4 and w5 must not be touched
    gate = f'{{http: "http://127.0.0.1:{port}/{{{{ host.name }}}}", status: 200, timeout: 2}}'
    write(spec_dir / "site.yaml", spec(six, uid, "v2", gate))
    stopped = cli("apply", "--auto-approve", "spec")
    assert stopped.rc == 1, stopped.text
    assert ("the rollout of web stopped at batch 2 of 3: 1 of 2 hosts failed (max_fail_percentage 0) - w3: health "
            f"check failed after 2 s: http://127.0.0.1:{port}/w3 answered 500, wanted 200; not reached: w4, w5"
            ) in stopped.out, stopped.out
    assert "file.app[w4]: not reached: the rollout of web stopped at batch 2" in stopped.out
    contents = [h.exec(f"cat /srv/{uid}/app")[1] for h in fleet]
    assert contents == ["v2\n"] * 4 + ["v1\n"] * 2, contents

    again = cli("apply", "--auto-approve", "spec")  # still unhealthy: the rollout resumes at batch 2 and stops there
    assert again.rc == 1 and "the rollout of web stopped at batch 1 of 2" in again.out, again.out
    assert "w3: health check failed" in again.out and "not reached: w4, w5" in again.out, again.out
    assert [h.exec(f"cat /srv/{uid}/app")[1] for h in fleet] == contents  # it never skips ahead

    sick.clear()  # healthy again: the rerun checks the stopped batch, then finishes with the hosts not reached
    run = cli("apply", "--auto-approve", "spec", check=0)
    assert "Resources: 0 added, 2 changed, 0 destroyed, 2 run." in run.out, run.out
    assert [h.exec(f"cat /srv/{uid}/app")[1] for h in fleet] == ["v2\n"] * 6


def test_an_unreachable_host_counts_as_failed_for_max_fail_percentage(cli: Cli, spec_dir: Path, six: Any,
                                                                      uid: str) -> None:
    fleet, known, key = six
    cli.env["HOME"] = str(cli.cwd)
    write(spec_dir / "site.yaml", f"""
inventory:
  known_hosts: {known}
  hosts:
    w0: {{address: 127.0.0.1, port: {fleet[0].port}, user: root, key_file: {key}}}
    gone: {{address: 127.0.0.1, port: 9, user: root, key_file: {key}, connect_timeout: 2}}
    w1: {{address: 127.0.0.1, port: {fleet[1].port}, user: root, key_file: {key}}}
  groups:
    web:
      hosts: [w0, gone, w1]
      serial: 2
resources:
  - {{type: file, name: app, on: web, path: /srv/{uid}-u/app, content: "v1\n"}}
""")
    run = cli("apply", "--auto-approve", "spec")
    assert run.rc == 1 and "the rollout of web stopped at batch 1 of 2" in run.out, run.out
    assert "gone: unreachable" in run.out and "not reached: w1" in run.out, run.out
    assert fleet[1].exec(f"test -e /srv/{uid}-u/app")[0] != 0  # the next batch was never started
