"""Large files over SSH: a 20 MB write through reconcile's SSH target (streamed on the command channel to
the host's fs helper) against scp of the same file to the same sshd test host, in the same run.

Run with `make bench` (or `python bench/ssh_file_bench.py [MB]`)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from reconciler.inventory import Host, Inventory  # noqa: E402
from reconciler.targets.ssh import SSHTarget  # noqa: E402
from tests.harness.docker_engine import engine_url  # noqa: E402
from tests.harness.ssh_hosts import client_key, start_hosts  # noqa: E402


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    run_dir = Path(tempfile.mkdtemp(prefix="ssh-file-bench-"))
    client = docker.DockerClient(base_url=engine_url(run_dir), timeout=120)
    (host,) = start_hosts(client, f"bench-file-{os.getpid()}", 1)
    try:
        known = run_dir / "known_hosts"
        known.write_text(host.host_key_line() + "\n")
        data = os.urandom(megabytes * 1024 * 1024)
        local = run_dir / "big.bin"
        local.write_bytes(data)
        target = SSHTarget(Host("bench", "127.0.0.1", host.port, "root", str(client_key())),
                           Inventory(known_hosts=str(known)))
        results = {}
        for name, action in (
            ("reconcile", lambda: target.write_file("/tmp/reconcile.bin", data)),
            ("scp", lambda: subprocess.run(
                ["scp", "-q", "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-i",
                 str(client_key()), "-P", str(host.port), str(local), "root@127.0.0.1:/tmp/scp.bin"], check=True)),
        ):
            times = []
            for _ in range(3):
                started = time.perf_counter()
                action()
                times.append(time.perf_counter() - started)
            results[name] = min(times)
        target.close()
        assert host.exec("cmp /tmp/reconcile.bin /tmp/scp.bin && echo same")[1].strip() == "same"
    finally:
        host.container.remove(force=True)
    print(f"{megabytes} MB file to one sshd test host, best of 3 (seconds)")
    for name, seconds in results.items():
        print(f"{name:>10} {seconds:8.2f}")
    print(f"reconcile takes {results['reconcile'] / results['scp']:.2f}x the time of scp")


if __name__ == "__main__":
    main()
