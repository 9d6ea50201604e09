"""The apply lock: one apply per state at a time; a dead holder's lock is released by the kernel."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from reconciler.errors import StateLockedError


class StateLock:
    """An exclusive flock on `<state>.lock`, holding who took it (pid, host, since) for the message."""

    def __init__(self, state_path: Path, operation: str = "apply"):
        self.path = Path(str(state_path) + ".lock")
        self.operation = operation
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read_holder(fd)
            os.close(fd)
            raise StateLockedError(
                f"the state {self.path.with_suffix('')} is locked by {holder}; "
                "wait for that run to finish (a lock of a process that died is released automatically)"
            ) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "operation": self.operation}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    @staticmethod
    def _read_holder(fd: int) -> str:
        try:
            info = json.loads(os.pread(fd, 4096, 0) or b"{}")
            return f"{info.get('operation', 'a run')} pid {info['pid']} on host {info['host']} since {info['since']}"
        except (ValueError, KeyError):
            return "another process"

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
