"""A Docker engine for the tests: the one DOCKER_HOST or the default socket points at, else a private
dockerd (Debian's docker.io) with its own socket, data-root and exec-root."""

from __future__ import annotations

import fcntl
import os
import re
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


def _answers(url: str) -> bool:
    """More than a ping (which a wedged daemon still answers): `docker info` asks containerd too."""
    import docker

    try:
        client = docker.DockerClient(base_url=url, timeout=15)
        client.info()
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
    """Wait for a dockerd sent SIGTERM to exit; kill it after `timeout` (a late exit would remove the
    socket of the dockerd started after it)."""
    deadline = time.time() + timeout
    while time.time() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 10
        while time.time() < deadline and _alive(pid):
            time.sleep(0.1)


def stop_if_started(run_dir: Path) -> None:
    marker = run_dir / "dockerd.started"
    if not marker.exists():
        return
    pid = int(marker.read_text())
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        _wait_gone(pid)
    marker.unlink()


# -- a dockerd that stops answering: leave evidence (its goroutine stacks) for the run's summary ----------
def watch(url: str, run_dir: Path, every: float = 5.0, patience: float = 30.0) -> None:
    """In a daemon thread: when the engine has not answered for `patience` seconds, ask dockerd for a
    goroutine dump (SIGUSR1) once and note it in run_dir/dockerd.hung for pytest's summary."""
    import threading

    def loop() -> None:
        silent_since: float | None = None
        while True:
            time.sleep(every)
            if _answers(url):
                silent_since = None
                continue
            silent_since = silent_since or time.time()
            note = run_dir / "dockerd.hung"
            if time.time() - silent_since >= patience and not note.exists():
                pid = int(PIDFILE.read_text().strip() or 0) if PIDFILE.exists() else 0
                if pid and _alive(pid):
                    os.kill(pid, signal.SIGUSR1)
                note.write_text(f"{time.strftime('%H:%M:%S')} dockerd (pid {pid}) has not answered for "
                                f"{patience:.0f}s; goroutine stacks requested (see {CACHE / 'dockerd.log'})\n")

    threading.Thread(target=loop, name="dockerd-watch", daemon=True).start()


def hang_report(run_dir: Path) -> str:
    """What the watchdog saw, with the blocked goroutines of the dump dockerd wrote, for the summary."""
    note = run_dir / "dockerd.hung"
    if not note.exists():
        return ""
    lines = [note.read_text().strip()]
    log = CACHE / "dockerd.log"
    if log.exists():
        tail = log.read_bytes()[-200_000:].decode(errors="replace")
        written = re.findall(r"goroutine stacks written to (\S+?)\"?\s", tail)
        if written and Path(written[-1]).exists():
            dump = Path(written[-1]).read_text(errors="replace")
            blocked = [g for g in dump.split("\n\n") if "minutes]" in g.splitlines()[0]] if dump else []
            lines.append(f"{len(blocked)} goroutines blocked for minutes in {written[-1]}; the first ones:")
            lines += ["\n".join(g.splitlines()[:12]) for g in blocked[:8]]
    return "\n".join(lines)
