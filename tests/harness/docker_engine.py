"""A Docker engine for the tests: the one DOCKER_HOST or the default socket points at, else a private
dockerd (Debian's docker.io) with its own socket, data-root and exec-root."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CACHE = Path(os.environ.get("RECONCILE_TEST_CACHE", "/var/tmp/reconcile-tests"))
SOCKET = CACHE / "docker.sock"
PIDFILE = CACHE / "dockerd.pid"


@contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """One holder at a time across processes (xdist workers, concurrent runs)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pings(url: str) -> bool:
    import docker

    try:
        client = docker.DockerClient(base_url=url, timeout=5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def engine_url(run_dir: Path) -> str:
    """A reachable engine's URL, starting a private dockerd if needed (recorded in run_dir)."""
    for url in filter(None, [os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock"]):
        if url.startswith("unix://") and not Path(url[7:]).exists():
            continue
        if _pings(url):
            return url
    private = f"unix://{SOCKET}"
    with machine_lock("dockerd"):
        if SOCKET.exists() and _pings(private):
            return private
        if PIDFILE.exists():
            old = int(PIDFILE.read_text().strip() or 0)
            if old and _alive(old):
                os.kill(old, signal.SIGTERM)
                _wait_gone(old)
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise RuntimeError("dockerd is not installed: apt-get install docker.io (.ci/run does)")
        exec_root = Path("/tmp/rt-docker-exec")
        for d in (CACHE / "docker-data", exec_root):
            d.mkdir(parents=True, exist_ok=True)
        log = open(CACHE / "dockerd.log", "ab")
        proc = subprocess.Popen(
            [dockerd, "--host", private, "--data-root", str(CACHE / "docker-data"), "--exec-root", str(exec_root),
             "--pidfile", str(PIDFILE)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"dockerd exited {proc.returncode}; see {CACHE / 'dockerd.log'}")
            if SOCKET.exists() and _pings(private):
                (run_dir / "dockerd.started").write_text(str(proc.pid))
                return private
            time.sleep(0.2)
        raise RuntimeError(f"dockerd did not answer in 60 s; see {CACHE / 'dockerd.log'}")


def _wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and _alive(pid):
        time.sleep(0.2)


def stop_if_started(run_dir: Path) -> None:
    marker = run_dir / "dockerd.started"
    if not marker.exists():
        return
    pid = int(marker.read_text())
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        _wait_gone(pid)
    marker.unlink()
