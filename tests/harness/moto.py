"""moto in server mode on 127.0.0.1: a real AWS API endpoint over HTTP (not in-process mocks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .registry import free_port, wait_http

DUMMY_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


class MotoServer:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "moto.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)], stdout=self.log,
                                     stderr=self.log, stdin=subprocess.DEVNULL)
        wait_http(f"{self.url}/moto-api/", "moto_server")

    @property
    def env(self) -> dict[str, str]:
        """Dummy credentials and the endpoint: nothing can reach real AWS."""
        return {**DUMMY_ENV, "AWS_ENDPOINT_URL": self.url}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
