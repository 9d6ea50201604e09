"""`make sandbox`: this machine's test services for following the getting-started pages by hand.

Starts (or reuses) the harness's Docker engine (with a tiny busybox image), two SSH hosts and a moto
server, writes
`.sandbox/env.sh` (DOCKER_HOST, dummy AWS credentials and the endpoint) and `.sandbox/inventory.yaml`
(the hosts, with their keys trusted), and waits; Ctrl-C stops the hosts and moto.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import time
from pathlib import Path

import docker

from .docker_engine import engine_url, stop_if_started
from .images import ensure_busybox
from .moto import MotoServer
from .ssh_hosts import client_key, start_hosts

OUT = Path(".sandbox")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="reconcile-sandbox-"))
    url = engine_url(run_dir)
    client = docker.DockerClient(base_url=url, timeout=300)
    for old in client.containers.list(all=True, filters={"name": "sandbox-"}):
        old.remove(force=True)  # a sandbox left by an earlier run
    print("== starting two SSH hosts (the first time builds their image: about a minute)", flush=True)
    hosts = start_hosts(client, "sandbox", 2)
    image = ensure_busybox(client)  # a tiny image made here: the sandbox needs no registry on the internet
    moto = MotoServer(run_dir)
    known = (OUT / "known_hosts").absolute()
    known.write_text("".join(h.host_key_line() + "\n" for h in hosts))
    key = client_key()
    lines = ["inventory:", "  hosts:"]
    lines += [f"    web{i + 1}: {{address: 127.0.0.1, port: {h.port}, user: root, key_file: {key}}}"
              for i, h in enumerate(hosts)]
    lines += ["  groups:", "    web: [web1, web2]", f"  known_hosts: {known}"]
    (OUT / "inventory.yaml").write_text("\n".join(lines) + "\n")
    env = {"DOCKER_HOST": url, **moto.env}
    (OUT / "env.sh").write_text("".join(f"export {k}={v}\n" for k, v in env.items()))
    print(f"== ready. In another shell:  . {OUT}/env.sh   (Docker engine, AWS endpoint {moto.url})")
    print(f"== SSH hosts: {OUT}/inventory.yaml  (web1, web2; their keys are in {known})")
    print(f"== a local image to run: {image}")
    print("== Ctrl-C stops the hosts and moto", flush=True)

    def stop(*_: object) -> None:
        for h in hosts:
            h.container.remove(force=True)
        moto.stop()
        stop_if_started(run_dir)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop()


if __name__ == "__main__":
    main()
