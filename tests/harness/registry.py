"""A Docker registry on 127.0.0.1 (Debian's docker-registry), for pull tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def wait_http(url: str, what: str, timeout: float = 30) -> None:
    """Until `url` answers on 127.0.0.1 (a service this harness just started)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    def __init__(self, workdir: Path):
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("docker-registry is not installed: apt-get install docker-registry (.ci/run does)")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        config = workdir / "registry.yml"
        (workdir / "registry-data").mkdir(parents=True, exist_ok=True)
        config.write_text(
            "version: 0.1\nlog: {level: error}\n"
            f"storage: {{filesystem: {{rootdirectory: {workdir / 'registry-data'}}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: {self.address}}}\n"
        )
        self.proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        wait_http(f"http://{self.address}/v2/", "docker-registry")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
