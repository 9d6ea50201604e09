"""A Docker engine per SSH test host, for containers placed on a fleet (`on: web`).

Each engine is a dockerd on this machine with its own bridge, subnet, data-root and exec-root and no
iptables rules (so it leaves the harness engine's docker0 and chains alone, see DESIGN.md section 4).
Its socket is mounted into one SSH test host at /var/run/docker.sock, with this machine's docker CLI
beside it: the docker SDK's ssh:// transport runs `docker system dial-stdio` on the host, so the
tool reaches "the host's engine" over SSH exactly as it would on a real server.
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .docker_engine import CACHE, _alive, _pings, _wait_gone, machine_lock

MAX_ENGINES = 64


@dataclass
class HostEngine:
    number: int
    socket: Path
    bridge: str
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.url, timeout=60)

    def mounts(self) -> dict[str, dict[str, str]]:
        """`volumes=` for the SSH host this engine belongs to: its socket and a docker CLI."""
        cli = shutil.which("docker")
        if cli is None:
            raise RuntimeError("the docker CLI is not installed: apt-get install docker.io (make test does)")
        return {str(self.socket): {"bind": "/var/run/docker.sock", "mode": "rw"},
                str(Path(cli).resolve()): {"bind": "/usr/local/bin/docker", "mode": "ro"}}

    def stop(self) -> None:
        """Its containers killed first (a dockerd asked to stop waits for each container's stop timeout)."""
        if self.process.poll() is None:
            try:
                client = self.client()
                for container in client.containers.list(all=True):
                    container.remove(force=True)
                client.close()
            except Exception:  # noqa: BLE001 - an engine that does not answer is stopped all the same
                logging.getLogger(__name__).warning("engine %s: its containers could not be removed",
                                                    self.bridge, exc_info=True)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


def start_engines(count: int) -> list[HostEngine]:
    """`count` engines, started side by side (about 3 s); stop them with `HostEngine.stop`."""
    with machine_lock("host-engines"):
        numbers = [n for n in range(MAX_ENGINES) if not Path(f"/sys/class/net/rte{n}").exists()][:count]
        if len(numbers) < count:
            raise RuntimeError(f"no free engine numbers below {MAX_ENGINES}: remove stale rte* bridges")
        started = [_launch(n) for n in numbers]
    for engine in started:
        _wait_ready(engine)
    return started


def _launch(n: int) -> HostEngine:
    root = CACHE / f"host-engine-{n}"
    pidfile = root / "dockerd.pid"
    if pidfile.exists():  # left by a run that was killed
        old = int(pidfile.read_text().strip() or 0)
        if old and _alive(old):
            subprocess.run(["kill", str(old)])
            _wait_gone(old)
    exec_root = Path(f"/tmp/rte{n}-exec")
    for d in (root / "data", exec_root):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    bridge = f"rte{n}"
    for command in (["ip", "link", "add", bridge, "type", "bridge"],
                    ["ip", "addr", "add", f"10.231.{n}.1/24", "dev", bridge], ["ip", "link", "set", bridge, "up"]):
        subprocess.run(command, check=True, capture_output=True)
    socket = root / "docker.sock"
    log = open(root / "dockerd.log", "ab")
    process = subprocess.Popen(
        ["dockerd", "--host", f"unix://{socket}", "--data-root", str(root / "data"), "--exec-root", str(exec_root),
         "--pidfile", str(pidfile), "--bridge", bridge, "--iptables=false", "--ip6tables=false", "--ip-masq=false"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    return HostEngine(n, socket, bridge, process)


def _wait_ready(engine: HostEngine, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if engine.process.poll() is not None:
            raise RuntimeError(f"dockerd for {engine.bridge} exited {engine.process.returncode}; "
                               f"see {engine.socket.parent / 'dockerd.log'}")
        if engine.socket.exists() and _pings(engine.url):
            return
        time.sleep(0.2)
    raise RuntimeError(f"dockerd for {engine.bridge} did not answer in {timeout:.0f} s")
