"""A server reached over SSH (paramiko): one connection per host per run, shared by every module.

- Host keys are verified against ~/.ssh/known_hosts and the spec's `known_hosts:`; an unknown key is
  refused with instructions (`reconcile trust HOST`, or `host_key_checking: accept-new`), a changed key
  always.
- Every command is an argv joined with shlex quoting; `become` wraps it in `sudo -n`.
- Filesystem work runs fsops.py on the host (`python3 -c`), its request and file bytes streamed on stdin
  of the command channel, so it works the same with `become` and costs one round trip per batch.
- At most `max_sessions` channels at once per connection (default 8, below OpenSSH's MaxSessions 10);
  a server that allows fewer is adapted to. Operations that had not started are retried on a new
  connection when the old one dropped.
- Connections come from the run's ConnectionBudget (budget.py): at most `--parallelism` are open at
  once; an idle one is closed to make room and reopened when its host is needed again.
- Nothing waits forever: commands have a deadline (the resource's `timeout`, else COMMAND_TIMEOUT), and
  a channel silent for `keepalive` seconds triggers an SSH-level probe: a host that does not answer it
  is declared dead ("host H did not answer for N s") and its remaining operations fail at once.
"""

from __future__ import annotations

import inspect
import json
import logging
import shlex
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.errors import ModuleError, ReconcileError
from reconciler.inventory import Host, Inventory
from reconciler.targets import fsops
from reconciler.targets.base import CommandResult, FsOp, Target
from reconciler.targets.budget import ConnectionBudget
from reconciler.targets.ssh_channel import collect
from reconciler.targets.ssh_login import Reach, open_client, resolve_host

log = logging.getLogger(__name__)
COMMAND_TIMEOUT = 600.0  # a command's deadline when its resource sets no `timeout`
FS_TIMEOUT = 300.0  # filesystem batches (hashing large files included)
RECONNECTS = 2
FS_HELPER = inspect.getsource(fsops)
HELPER_LABEL = "python3 -c <reconcile fs helper>"


class HostDead(ModuleError):
    """The host stopped answering (or the connection to it is gone for good)."""


class SSHTarget(Target):
    def __init__(self, host: Host, inventory: Inventory, budget: ConnectionBudget | None = None):
        """Connects at once (an unreachable host or an unknown key fails here), within `budget`."""
        super().__init__()
        self.name = host.name
        self.host = host
        self.inventory = inventory
        self.address, self.port, self.user, self.key_files, self.proxy_jump = resolve_host(host)
        self.become = host.become and self.user != "root"
        self.keepalive = float(host.keepalive)
        self.max_sessions = max(1, int(host.max_sessions))
        self._slots = threading.Semaphore(self.max_sessions)
        self._open = 0
        self._open_lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._dead: str | None = None
        self.client: Any = None
        self.transport: Any = None
        self.budget = budget if budget is not None else ConnectionBudget()
        self.round_trips = 0  # commands and file batches sent (each one exchange on a channel)
        self._checkout()
        self.budget.checkin(self)

    # -- the connection budget ------------------------------------------------------------------
    def _checkout(self) -> None:
        """An operation starts: hold a slot of the budget, connecting when the connection was evicted."""
        if not self.budget.checkout(self):
            return
        try:
            with self._connect_lock:
                if self._dead:
                    raise HostDead(self._dead)
                self._close_client()
                self._connect()
        except BaseException:
            self.budget.checkin(self)
            self.budget.release(self)
            raise

    def drop_connection(self) -> None:
        """Evicted by the budget while idle: close the connection, unless a new operation has taken a slot
        again meanwhile (it then reconnects, or already has)."""
        with self._connect_lock:
            if not self.budget.holds(self):
                self._close_client()

    def _close_client(self) -> None:
        client, self.client, self.transport = self.client, None, None
        if client is not None:
            client.close()

    # -- connecting ---------------------------------------------------------------------------
    def _connect(self) -> None:
        self.client = open_client(self.name, self.host, self.inventory, Reach(self.address, self.port, self.user,
                                                                               self.key_files, self.proxy_jump))
        self.transport = self.client.get_transport()
        if self.keepalive:
            self.transport.set_keepalive(int(max(1, self.keepalive)))

    def _reconnect(self, failed_transport: Any) -> None:
        with self._connect_lock:
            if self._dead:
                raise HostDead(self._dead)
            if self.transport is not failed_transport and self.transport is not None and self.transport.is_active():
                return  # another thread reconnected already
            last: Exception | None = None
            for attempt in range(RECONNECTS):
                try:
                    log.info("%s: connection lost; reconnecting (attempt %d)", self.name, attempt + 1)
                    self._connect()
                    return
                except ReconcileError as exc:
                    last = exc
                    time.sleep(0.5 * (attempt + 1))
            raise ModuleError(f"host {self.name}: the SSH connection dropped and could not be re-established: {last}")

    def _declare_dead(self, why: str) -> HostDead:
        self._dead = why
        try:
            if self.transport is not None:
                self.transport.close()
        except Exception:  # noqa: BLE001 - closing a dead connection may fail in any way
            log.debug("closing the connection to %s failed", self.name, exc_info=True)
        return HostDead(why)

    def _alive(self, timeout: float) -> bool:
        """An SSH-level round trip (keepalive@openssh.com with a reply): does the host still answer?"""
        with self._probe_lock:
            transport = self.transport
            if transport is None or not transport.is_active():
                return False
            done = threading.Event()

            def ask() -> None:
                try:
                    transport.global_request("keepalive@openssh.com", wait=True)
                except Exception:  # noqa: BLE001 - any failure means no answer
                    log.debug("keepalive probe of %s failed", self.name, exc_info=True)
                finally:
                    done.set()

            threading.Thread(target=ask, daemon=True, name=f"probe-{self.name}").start()
            return done.wait(timeout) and transport.is_active()

    # -- channels -------------------------------------------------------------------------------
    def _open_channel(self) -> Any:
        """A new session channel. A server that refuses one (it allows fewer than our cap: OpenSSH's
        MaxSessions) is adapted to; a dropped connection is re-established."""
        import paramiko

        reconnects = 0
        for attempt in range(1, 60):
            if self._dead:
                raise HostDead(self._dead)
            transport = self.transport
            if transport is None or not transport.is_active():
                reconnects += 1
                if reconnects > RECONNECTS:
                    raise ModuleError(f"host {self.name}: the SSH connection dropped and stays down")
                self._reconnect(transport)
                continue
            try:
                return transport.open_session(timeout=max(self.host.connect_timeout, 5))
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if not transport.is_active():
                    continue  # the connection went: re-established on the next turn
                with self._open_lock:  # refused while the connection stands: too many channels at once
                    if self._open > 1 and self.max_sessions > self._open - 1:
                        log.info("%s refused a channel (%s): at most %d at once from now on", self.name, exc,
                                 self._open - 1)
                        self.max_sessions = self._open - 1
                time.sleep(min(0.05 * attempt, 1.0))
        raise ModuleError(f"host {self.name} keeps refusing to open a channel; lower its max_sessions")

    def _acquire_slot(self) -> None:
        while True:
            self._slots.acquire()
            with self._open_lock:
                if self._open < self.max_sessions:
                    self._open += 1
                    return
            self._slots.release()  # the cap shrank: wait for a channel to close
            time.sleep(0.02)

    def _release_slot(self) -> None:
        with self._open_lock:
            self._open -= 1
        self._slots.release()

    def _exchange(self, line: str, stdin: bytes | Callable[[Any], None] | None, deadline: float,
                  what: str, idempotent: bool) -> tuple[int, bytes, bytes]:
        """Run `line`, feed stdin, read everything back, within `deadline` (monotonic)."""
        with self._open_lock:
            self.round_trips += 1
        self._checkout()
        try:
            return self._exchange_held(line, stdin, deadline, what, idempotent)
        finally:
            self.budget.checkin(self)

    def _exchange_held(self, line: str, stdin: bytes | Callable[[Any], None] | None, deadline: float,
                       what: str, idempotent: bool) -> tuple[int, bytes, bytes]:
        import paramiko

        for attempt in range(RECONNECTS + 1):
            self._acquire_slot()
            started = False
            try:
                channel = self._open_channel()
                try:
                    channel.settimeout(min(self.keepalive or 15.0, 15.0))
                    channel.exec_command(line)
                    started = True
                    if callable(stdin):
                        stdin(channel)
                    elif stdin:
                        channel.sendall(stdin)
                    channel.shutdown_write()
                    return collect(channel, deadline, what, self.keepalive, self._alive,
                                   lambda silent: self._declare_dead(f"host {self.name} did not answer for "
                                                                     f"{silent:.0f} s"))
                finally:
                    channel.close()
            except TimeoutError:
                if not self._dead and self.keepalive and not self._alive(self.keepalive):
                    raise self._declare_dead(f"host {self.name} did not answer for "
                                             f"{2 * self.keepalive:.0f} s") from None
                raise
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if (started and not idempotent) or attempt == RECONNECTS or self._dead:
                    state = "it may or may not have run" if started else "it did not start"
                    raise ModuleError(f"host {self.name}: the connection dropped during {what} ({state}): "
                                      f"{exc or type(exc).__name__}") from None
                self._reconnect(self.transport)
            finally:
                self._release_slot()
        raise ModuleError(f"host {self.name}: {what} failed")

    # -- commands -----------------------------------------------------------------------------
    def command_line(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None,
                     timeout: float | None = None) -> str:
        line = shlex.join(argv)
        if env:
            line = shlex.join(["env", *(f"{k}={v}" for k, v in env.items())]) + " " + line
        if timeout:  # killed on the host too, not only abandoned here
            line = f"timeout -k 5 {int(max(1, timeout))} sh -c {shlex.quote(line)}"
        if cwd:
            line = f"cd {shlex.quote(cwd)} && {line}"
        if self.become:
            line = "sudo -n -H -- sh -c " + shlex.quote(line)
        return line

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None, idempotent: bool = False,
        shown: str | None = None,
    ) -> CommandResult:
        limit = float(timeout) if timeout else COMMAND_TIMEOUT
        what = shown or shlex.join(argv)
        if len(what) > 200:
            what = what[:197] + "..."
        started = time.monotonic()
        try:
            rc, out, err = self._exchange(self.command_line(argv, env, cwd, timeout), stdin,
                                          time.monotonic() + limit + (10 if timeout else 0), f"`{what}`", idempotent)
        except TimeoutError:
            raise ModuleError(f"`{what}` on {self.name} timed out after {limit:.0f}s") from None
        log.debug("%s: `%s` exited %d in %.0f ms (one SSH round trip)", self.name, what, rc,
                  (time.monotonic() - started) * 1000)
        if timeout and rc == 124:
            raise ModuleError(f"`{what}` on {self.name} timed out after {limit:.0f}s")
        self._check_become(rc, err)
        return CommandResult(tuple(argv) if shown is None else (shown,), rc, out, err)

    def _check_become(self, rc: int, err: bytes) -> None:
        if not self.become or rc == 0:
            return
        text = err.decode(errors="replace")
        if "a password is required" in text or "a terminal is required" in text:
            raise ModuleError(f"become failed on {self.name}: sudo wants a password for {self.user} (or refuses "
                              f"it); give {self.user} passwordless sudo (NOPASSWD) or connect as root")
        if "not in the sudoers" in text or "is not allowed to" in text or "may not run sudo" in text:
            raise ModuleError(f"become failed on {self.name}: {self.user} may not use sudo there; connect as a "
                              "user who may, or as root")

    # -- the filesystem helper ------------------------------------------------------------------
    def fs(self, ops: Sequence[FsOp]) -> list[dict[str, Any]]:
        header = json.dumps({"ops": [{"op": op, "args": dict(args), "size": len(data) if data else 0}
                                     for op, args, data in ops]}).encode() + b"\n"
        blobs = [data for _, _, data in ops if data]
        total = len(header) + sum(len(b) for b in blobs)
        readonly = all(op in ("stat", "tree_mismatches", "list_tree", "query") for op, _, _ in ops)

        def feed(channel: Any) -> None:
            channel.sendall(header)
            for blob in blobs:
                view = memoryview(blob)
                for i in range(0, len(view), 1 << 20):
                    channel.sendall(view[i:i + (1 << 20)])

        limit = FS_TIMEOUT + total / (1 << 20)  # a second per MiB on top, for large files
        started = time.monotonic()
        try:
            rc, out, err = self._exchange(self.command_line(["python3", "-c", FS_HELPER]), feed,
                                          time.monotonic() + limit, "file operations", readonly)
        except TimeoutError:
            raise ModuleError(f"file operations on {self.name} timed out after {limit:.0f}s") from None
        self._check_become(rc, err)
        if rc != 0:
            text = err.decode(errors="replace").strip().splitlines()
            if rc == 127 or (text and "python3" in text[-1] and "not found" in text[-1]):
                raise ModuleError(f"host {self.name} has no python3, which reconcile needs for files; install it")
            raise ModuleError(f"file operations on {self.name} failed (exit {rc}): {text[-1] if text else ''}")
        log.debug("%s: %d file operation(s) (%s) in %.0f ms (one SSH round trip)", self.name, len(ops),
                  ", ".join(sorted({op for op, _, _ in ops})), (time.monotonic() - started) * 1000)
        return list(json.loads(out))

    def close(self) -> None:
        with self._connect_lock:
            self._close_client()
        self.budget.release(self)
