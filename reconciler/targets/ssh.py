"""A server reached over SSH (paramiko): one connection per host per run, shared by every module.

Host keys are verified against ~/.ssh/known_hosts and the spec's `known_hosts:` file; an unknown key
is refused with instructions (`reconcile trust HOST`, or `host_key_checking: accept-new`), a changed
key always. Every command is an argv joined with shlex quoting; `become` wraps it in `sudo -n`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shlex
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.errors import ModuleError, ReconcileError
from reconciler.model import Host, Inventory
from reconciler.targets.base import CommandResult, PathStat, Target

CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 600.0

# Runs on the host with python3: stats (and hashes) or reads every path given on stdin, in one go.
_REMOTE = r"""
import grp, hashlib, json, os, pwd, stat, sys
req = json.load(sys.stdin)
out = {}
def name(f, i):
    try: return f(i)[0]
    except KeyError: return str(i)
for p in req["paths"]:
    try: st = os.lstat(p)
    except (FileNotFoundError, NotADirectoryError): out[p] = None; continue
    except PermissionError as e: out[p] = {"error": str(e)}; continue
    kind = {stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "link"}.get(stat.S_IFMT(st.st_mode), "other")
    d = {"kind": kind, "mode": format(stat.S_IMODE(st.st_mode), "04o"), "uid": st.st_uid, "gid": st.st_gid,
         "owner": name(pwd.getpwuid, st.st_uid), "group": name(grp.getgrgid, st.st_gid),
         "size": st.st_size, "mtime": st.st_mtime}
    if kind == "link": d["link_target"] = os.readlink(p)
    if kind == "file" and (req["hash"] or req["read"]):
        data = open(p, "rb").read()
        d["sha256"] = hashlib.sha256(data).hexdigest()
        if req["read"]: d["content"] = data.decode("latin-1")
    out[p] = d
json.dump(out, sys.stdout)
"""


def fingerprint(key: Any) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


class SSHTarget(Target):
    def __init__(self, host: Host, inventory: Inventory, connect_timeout: float = CONNECT_TIMEOUT):
        import paramiko

        self.name = host.name
        self.host = host
        self._sftp: Any = None
        self._lock = threading.Lock()
        self._sftp_lock = threading.Lock()  # paramiko's SFTP client takes one request at a time
        address, port, user, key_files, proxy = self._resolve(host)
        self.user = user
        self.become = host.become and user != "root"
        client = paramiko.SSHClient()
        client.load_system_host_keys()  # ~/.ssh/known_hosts
        self.known_hosts = inventory.known_hosts
        if self.known_hosts and os.path.exists(self.known_hosts):
            client.load_host_keys(self.known_hosts)
        client.set_missing_host_key_policy(_UnknownKeyPolicy(host.name, inventory, address, port))
        try:
            client.connect(address, port=port, username=user, key_filename=key_files or None,
                           timeout=connect_timeout, banner_timeout=connect_timeout, auth_timeout=connect_timeout,
                           sock=proxy, look_for_keys=not key_files, allow_agent=True)
        except paramiko.BadHostKeyException as exc:
            raise ReconcileError(
                f"host {host.name} unreachable: its host key CHANGED (now {fingerprint(exc.key)}, "
                f"expected {fingerprint(exc.expected_key)}); this may be an attack. If the host was rebuilt, "
                f"remove the old entry for {known_hosts_name(address, port)} and run `reconcile trust {host.name}`"
            ) from None
        except ReconcileError:
            raise
        except Exception as exc:
            raise ReconcileError(f"host {host.name} unreachable: {exc or type(exc).__name__}") from None
        self.client = client
        self.transport = client.get_transport()

    @staticmethod
    def _resolve(host: Host) -> tuple[str, int, str, list[str], Any]:
        """Inventory values, completed by ~/.ssh/config (HostName, Port, User, IdentityFile, ProxyJump)."""
        import paramiko

        config_file = Path("~/.ssh/config").expanduser()
        cfg: dict[str, Any] = {}
        if config_file.exists():
            ssh_config = paramiko.SSHConfig.from_path(str(config_file))
            cfg = ssh_config.lookup(host.address) or {}
        address = cfg.get("hostname", host.address)
        port = host.port if host.port != 22 else int(cfg.get("port", 22))
        user = host.user or cfg.get("user") or "root"
        keys = [os.path.expanduser(host.key_file)] if host.key_file else [
            os.path.expanduser(k) for k in cfg.get("identityfile", []) if os.path.exists(os.path.expanduser(k))]
        proxy = None
        if cfg.get("proxyjump"):
            proxy = paramiko.ProxyCommand(f"ssh -W {shlex.quote(address)}:{port} {shlex.quote(cfg['proxyjump'])}")
        return address, port, user, keys, proxy

    # -- commands -----------------------------------------------------------------------------
    def command_line(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> str:
        line = shlex.join(argv)
        if env:
            line = shlex.join(["env", *(f"{k}={v}" for k, v in env.items())]) + " " + line
        if cwd:
            line = f"cd {shlex.quote(cwd)} && {line}"
        if self.become:
            line = "sudo -n -H -- sh -c " + shlex.quote(line)
        return line

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None,
    ) -> CommandResult:
        limit = timeout or COMMAND_TIMEOUT
        try:
            channel = self.transport.open_session(timeout=CONNECT_TIMEOUT)
            channel.settimeout(limit)
            channel.exec_command(self.command_line(argv, env, cwd))
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            stdout, stderr = bytearray(), bytearray()
            while not channel.exit_status_ready() or channel.recv_ready() or channel.recv_stderr_ready():
                if channel.recv_ready():
                    stdout += channel.recv(65536)
                elif channel.recv_stderr_ready():
                    stderr += channel.recv_stderr(65536)
                elif not channel.status_event.wait(0.01) and channel.closed:
                    break
            stdout += _drain(channel.recv)
            stderr += _drain(channel.recv_stderr)
            rc = channel.recv_exit_status()
            channel.close()
        except TimeoutError as exc:
            raise ModuleError(f"`{shlex.join(argv)}` on {self.name} timed out after {limit:.0f}s") from exc
        except Exception as exc:
            if isinstance(exc, ModuleError):
                raise
            raise ModuleError(f"host {self.name} unreachable: {exc or type(exc).__name__}", retryable=False) from exc
        return CommandResult(tuple(argv), rc, bytes(stdout), bytes(stderr))

    def _remote(self, paths: list[str], *, hash_files: bool, read: bool) -> dict[str, Any]:
        request = json.dumps({"paths": paths, "hash": hash_files, "read": read}).encode()
        result = self.run(["python3", "-c", _REMOTE], stdin=request).check()
        return dict(json.loads(result.stdout))

    def stat_many(self, paths: Iterable[str], *, hash_files: bool = True) -> dict[str, PathStat | None]:
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        raw = self._remote(wanted, hash_files=hash_files, read=False)
        return {p: _stat(p, raw.get(p)) for p in wanted}

    def read_many(self, paths: Iterable[str]) -> dict[str, bytes | None]:
        wanted = list(dict.fromkeys(paths))
        raw = self._remote(wanted, hash_files=False, read=True) if wanted else {}
        return {p: (raw[p]["content"].encode("latin-1") if raw.get(p) and "content" in raw[p] else None)
                for p in wanted}

    # -- files over SFTP (through sudo when becoming another user) ------------------------------
    def _sftp_client(self) -> Any:
        with self._lock:
            if self._sftp is None:
                self._sftp = self.client.open_sftp()
            return self._sftp

    def read_file(self, path: str) -> bytes:
        if self.become:
            return super().read_file(path)
        with self._sftp_lock, self._sftp_client().open(path, "rb") as fh:
            return bytes(fh.read())

    def write_file(self, path: str, data: bytes, *, mode: str | None = None,
                   owner: str | None = None, group: str | None = None) -> None:
        if self.become:
            return super().write_file(path, data, mode=mode, owner=owner, group=group)
        directory = os.path.dirname(path) or "."
        self.run(["mkdir", "-p", "--", directory]).check()
        sftp = self._sftp_client()
        tmp = f"{directory}/.reconcile.{os.urandom(6).hex()}"
        try:
            with self._sftp_lock:
                with sftp.open(tmp, "wb") as fh:
                    fh.write(data)
                if mode is None:
                    try:
                        mode = format(sftp.stat(path).st_mode & 0o7777, "04o")
                    except OSError:
                        mode = "0644"
                sftp.chmod(tmp, int(mode, 8))
            if owner or group:
                spec = (owner or "") + (":" + group if group else "")
                self.run(["chown", "--", spec, tmp]).check()
            try:
                with self._sftp_lock:
                    sftp.posix_rename(tmp, path)
            except OSError:  # a bind-mounted file (e.g. /etc/hosts in a container) can't be renamed over
                self.run(["sh", "-c", 'cat -- "$1" > "$2" && rm -f -- "$1"', "sh", tmp, path]).check()
        except BaseException:
            self.run(["rm", "-f", "--", tmp])
            raise

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        self.client.close()


def _drain(recv: Any) -> bytes:
    out = bytearray()
    while True:
        chunk = recv(65536)
        if not chunk:
            return bytes(out)
        out += chunk


def _stat(path: str, raw: Mapping[str, Any] | None) -> PathStat | None:
    if raw is None:
        return None
    if "error" in raw:
        raise ModuleError(f"cannot stat {path}: {raw['error']}")
    return PathStat(kind=raw["kind"], mode=raw["mode"], owner=raw["owner"], group=raw["group"], uid=raw["uid"],
                    gid=raw["gid"], size=raw["size"], mtime=raw["mtime"], sha256=raw.get("sha256"),
                    link_target=raw.get("link_target"))


class _UnknownKeyPolicy:
    """strict: refuse with instructions. accept-new: record the key in the known_hosts file and go on."""

    def __init__(self, name: str, inventory: Inventory, address: str, port: int):
        self.name = name
        self.inventory = inventory
        self.entry = known_hosts_name(address, port)

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        if self.inventory.host_key_checking == "accept-new":
            path = self.inventory.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
            append_known_host(path, self.entry, key)
            client.get_host_keys().add(hostname, key.get_name(), key)
            return
        raise ReconcileError(
            f"host {self.name} unreachable: its host key is not known ({key.get_name()} {fingerprint(key)}). "
            f"Check it, then run `reconcile trust {self.name} --spec SPEC`, or set "
            "`inventory.host_key_checking: accept-new` in the spec"
        )


def append_known_host(path: str, entry: str, key: Any) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "a") as fh:
        fh.write(f"{entry} {key.get_name()} {key.get_base64()}\n")


def fetch_host_key(address: str, port: int, timeout: float = CONNECT_TIMEOUT) -> Any:
    """The host's key, read from the SSH handshake without logging in."""
    import socket

    import paramiko

    sock = socket.create_connection((address, port), timeout=timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    finally:
        transport.close()
