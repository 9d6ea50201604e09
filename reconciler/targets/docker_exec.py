"""A server target that is a container, reached with `docker exec` (inventory `connection: docker`): the
same two primitives as SSH — a command, and the file helper (fsops.py run by the container's python3 with
its request and bytes on stdin) — so every server module works on it unchanged. One `docker exec` per
command and per batch of file operations; the engine is DOCKER_HOST's, or the host's `docker_host`."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.errors import ModuleError, ReconcileError
from reconciler.inventory import Host
from reconciler.targets.base import CommandResult, FsOp, Target
from reconciler.targets.ssh import FS_HELPER

log = logging.getLogger(__name__)
COMMAND_TIMEOUT = 3600.0
FS_TIMEOUT = 300.0


class DockerExecTarget(Target):
    def __init__(self, host: Host):
        super().__init__()
        self.name = host.name
        self.container = host.address
        self.user = host.user
        docker = shutil.which("docker")
        if docker is None:
            raise ReconcileError(f"host {host.name} is reached with `docker exec`, and this machine has no docker "
                                 "command: install the Docker CLI (Debian: docker.io)")
        self.docker = docker
        self.environ = {**os.environ, **({"DOCKER_HOST": host.docker_host} if host.docker_host else {})}

    def _exec(self, argv: Sequence[str], stdin: bytes | None, timeout: float, what: str,
              env: Mapping[str, str] | None = None, cwd: str | None = None) -> tuple[int, bytes, bytes]:
        command = [self.docker, "exec", "-i"]
        if self.user:
            command += ["-u", self.user]
        if cwd:
            command += ["-w", cwd]
        for key, value in (env or {}).items():
            command += ["-e", f"{key}={value}"]
        command += [self.container, *argv]
        try:
            done = subprocess.run(command, input=stdin or b"", capture_output=True, timeout=timeout, env=self.environ)
        except subprocess.TimeoutExpired:
            raise ModuleError(f"{what} on {self.name} timed out after {timeout:.0f}s") from None
        said = done.stderr[:300]
        if done.returncode != 0 and (said.startswith(b"Error response from daemon") or b"No such container" in said
                                     or said.startswith(b"Cannot connect to the Docker daemon")):
            message = done.stderr.decode(errors="replace").strip().splitlines()[-1]
            raise ModuleError(f"container {self.container} (host {self.name}) cannot be reached: {message}",
                              retryable=False)
        return done.returncode, done.stdout, done.stderr

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None, idempotent: bool = False,
        shown: str | None = None,
    ) -> CommandResult:
        what = shown or shlex.join(argv)
        started = time.monotonic()
        rc, out, err = self._exec(argv, stdin, float(timeout) if timeout else COMMAND_TIMEOUT,
                                  f"`{what[:200]}`", env, cwd)
        log.debug("%s: `%s` exited %d in %.0f ms (one docker exec)", self.name, what[:200], rc,
                  (time.monotonic() - started) * 1000)
        return CommandResult(tuple(argv) if shown is None else (shown,), rc, out, err)

    def fs(self, ops: Sequence[FsOp]) -> list[dict[str, Any]]:
        header = json.dumps({"ops": [{"op": op, "args": dict(args), "size": len(data) if data else 0}
                                     for op, args, data in ops]}).encode() + b"\n"
        body = header + b"".join(data for _, _, data in ops if data)
        rc, out, err = self._exec(["python3", "-c", FS_HELPER], body, FS_TIMEOUT + len(body) / (1 << 20),
                                  "file operations")
        if rc != 0:
            text = err.decode(errors="replace").strip().splitlines()
            if rc == 127 or (text and "python3" in text[-1] and "not found" in text[-1]):
                raise ModuleError(f"host {self.name} has no python3, which reconcile needs for files; install it")
            raise ModuleError(f"file operations on {self.name} failed (exit {rc}): {text[-1] if text else ''}")
        return list(json.loads(out))

    def close(self) -> None:
        pass
