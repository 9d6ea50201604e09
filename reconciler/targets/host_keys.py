"""SSH host keys: verified against known_hosts or a pinned fingerprint, never accepted blindly; fetched and
recorded only by `reconcile trust`."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError
from reconciler.inventory import Host, Inventory
from reconciler.targets.ssh_reach import CONNECT_TIMEOUT


def fingerprint(key: Any) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


class UnknownKeyPolicy:  # duck-types paramiko.MissingHostKeyPolicy (paramiko is imported only when used)
    """strict: refuse with instructions. accept-new: record the key in the known_hosts file and go on."""

    def __init__(self, name: str, inventory: Inventory, address: str, port: int, pinned: bool = False):
        self.name = name
        self.inventory = inventory
        self.entry = known_hosts_name(address, port)
        self.pinned = pinned

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        if self.pinned:
            raise ReconcileError(f"host {self.name} unreachable: it presented a {key.get_name()} key "
                                 f"({fingerprint(key)}), not the key the spec pins")
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


def pinned_key(host: Host) -> tuple[str, Any]:
    """The host's `host_key` ("TYPE BASE64 [comment]") as (type, paramiko key)."""
    import binascii

    import paramiko

    parts = (host.host_key or "").split()
    try:
        return parts[0], paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
    except (IndexError, ValueError, binascii.Error, paramiko.SSHException) as exc:
        raise ReconcileError(f"host {host.name}: host_key is not an SSH public key (\"TYPE BASE64\"): "
                             f"{exc or 'too short'}") from None


def append_known_host(path: str, entry: str, key: Any) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "a") as fh:
        fh.write(f"{entry} {key.get_name()} {key.get_base64()}\n")


def fetch_host_key(address: str, port: int, timeout: float = CONNECT_TIMEOUT) -> Any:
    """The host's key, read from the SSH handshake without logging in."""
    import paramiko

    where = f"{address}:{port}"
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise ReconcileError(f"cannot connect to {where}: {exc.strerror or exc}") from None
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise ReconcileError(f"{where} did not complete an SSH handshake ({exc or type(exc).__name__}); "
                             "is it an SSH server?") from None
    finally:
        transport.close()
