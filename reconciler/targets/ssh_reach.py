"""Reaching an SSH host: through jump hosts (ProxyJump), and waiting for a new host's SSH to answer."""

from __future__ import annotations

import os
import select
import shlex
import socket
import subprocess
import time
from collections.abc import Sequence

from reconciler.errors import ReconcileError

CONNECT_TIMEOUT = 10.0


def split_jump(hop: str) -> tuple[str | None, str, int]:
    """OpenSSH's ProxyJump syntax for one hop: [user@]host[:port] (or ssh://[user@]host[:port])."""
    hop = hop.removeprefix("ssh://")
    user, _, rest = hop.rpartition("@")
    host, port = rest, 22
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = int(tail[1:]) if tail.startswith(":") else 22
    elif rest.count(":") == 1:
        host, _, p = rest.partition(":")
        port = int(p)
    return (user or None), host, port


class JumpProxy:
    """The socket-like object paramiko reads through: `ssh -W` via the ProxyJump chain. ssh's own stderr
    is kept, so a failing jump says why instead of timing out on the banner."""

    def __init__(self, chain: str, address: str, port: int, key_files: Sequence[str], known_hosts: str | None,
                 accept_new: bool):
        hops = [h.strip() for h in chain.split(",") if h.strip()]
        user, host, hop_port = split_jump(hops[-1])
        argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(CONNECT_TIMEOUT)}",
                "-o", f"StrictHostKeyChecking={'accept-new' if accept_new else 'yes'}"]
        files = [f for f in (known_hosts, os.path.expanduser("~/.ssh/known_hosts")) if f]
        argv += ["-o", "UserKnownHostsFile=" + " ".join(shlex.quote(f) for f in files)]
        for key in key_files:
            argv += ["-i", key]
        if len(hops) > 1:
            argv += ["-J", ",".join(hops[:-1])]
        argv += ["-p", str(hop_port)] + (["-l", user] if user else []) + ["-W", f"[{address}]:{port}", host]
        self.argv = argv
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, bufsize=0)
        self.timeout: float | None = None
        self._said: str | None = None

    def send(self, content: bytes) -> int:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(content)
        except OSError as exc:
            raise OSError(f"ProxyJump failed: {self.stderr() or exc}") from None
        return len(content)

    def recv(self, size: int) -> bytes:

        assert self.process.stdout is not None
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.process.stdout], [], [], wait)
            if ready:
                data = os.read(self.process.stdout.fileno(), size)
                if not data:  # ssh closed its output: it failed (or the hop closed); say why
                    raise OSError(f"ProxyJump failed: {self.stderr() or 'ssh exited'}")
                return data
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("ProxyJump: no data")

    def stderr(self) -> str:
        """What ssh said, once it has exited (waiting a moment for it to)."""
        if self._said is None:
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                return ""
            assert self.process.stderr is not None
            self._said = self.process.stderr.read().decode(errors="replace").strip()
        return self._said

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    @property
    def closed(self) -> bool:
        return self.process.poll() is not None

    @property
    def _closed(self) -> bool:  # what paramiko's Transport asks of a socket
        return self.closed

    def getpeername(self) -> tuple[str, int]:
        return ("", 0)


def wait_for_ssh(address: str, port: int, timeout: float, pause: float = 1.0) -> float:
    """Seconds until `address:port` sends an SSH banner (a new instance booting); ReconcileError after
    `timeout` seconds."""
    started = time.monotonic()
    last = "no answer"
    while True:
        try:
            with socket.create_connection((address, port), timeout=min(5.0, timeout)) as sock:
                sock.settimeout(min(5.0, timeout))
                if sock.recv(256).startswith(b"SSH-"):
                    return time.monotonic() - started
                last = "it answered, but not with SSH"
        except OSError as exc:
            last = exc.strerror or str(exc) or type(exc).__name__
        if time.monotonic() - started + pause > timeout:
            raise ReconcileError(f"{address}:{port} did not answer SSH within {timeout:.0f}s ({last})")
        time.sleep(pause)
