"""Logging in to an SSH host: its address, port, user, keys and jump hosts (the inventory completed by
~/.ssh/config), and a paramiko client whose host key was verified (pinned by the spec, or in known_hosts),
with every way a login fails said in one line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcileError
from reconciler.inventory import Host, Inventory
from reconciler.targets.host_keys import UnknownKeyPolicy, fingerprint, known_hosts_name, pinned_key
from reconciler.targets.ssh_reach import JumpProxy


@dataclass(frozen=True)
class Reach:
    """Where and as whom a host is logged in to."""

    address: str
    port: int
    user: str
    key_files: list[str]
    proxy_jump: str | None


def resolve_host(host: Host) -> tuple[str, int, str, list[str], str | None]:
    """Inventory values, completed by ~/.ssh/config (HostName, Port, User, IdentityFile, ProxyJump)."""
    import paramiko

    config_file = Path("~/.ssh/config").expanduser()
    cfg: dict[str, Any] = {}
    if config_file.exists():
        try:
            cfg = paramiko.SSHConfig.from_path(str(config_file)).lookup(host.address) or {}
        except Exception as exc:  # noqa: BLE001 - a broken ssh config names its problem
            raise ReconcileError(f"cannot read {config_file}: {exc}") from None
    address = cfg.get("hostname", host.address)
    port = host.port if host.port != 22 else int(cfg.get("port", 22))
    user = host.user or cfg.get("user") or "root"
    keys = [os.path.expanduser(host.key_file)] if host.key_file else [
        os.path.expanduser(k) for k in cfg.get("identityfile", []) if os.path.exists(os.path.expanduser(k))]
    jump = host.proxy_jump or cfg.get("proxyjump")
    return address, port, user, keys, (None if jump in (None, "none") else str(jump))


def open_client(name: str, host: Host, inventory: Inventory, reach: Reach) -> Any:
    """A connected paramiko client for `host`, its key verified; a failure is one clear ReconcileError."""
    import paramiko

    client = paramiko.SSHClient()
    known_hosts = inventory.known_hosts
    if host.host_key:  # pinned by the spec: that key and no other
        client.get_host_keys().add(known_hosts_name(reach.address, reach.port), *pinned_key(host))
    else:
        client.load_system_host_keys()  # ~/.ssh/known_hosts
        if known_hosts and os.path.exists(known_hosts):
            client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(UnknownKeyPolicy(
        name, inventory, reach.address, reach.port, bool(host.host_key)))  # type: ignore[arg-type]
    where = f"{reach.address}:{reach.port}"
    proxy = None
    timeout = float(host.connect_timeout)
    try:
        if reach.proxy_jump:
            proxy = JumpProxy(reach.proxy_jump, reach.address, reach.port, reach.key_files, known_hosts,
                              inventory.host_key_checking == "accept-new")
        client.connect(reach.address, port=reach.port, username=reach.user,
                       key_filename=reach.key_files or None,  # type: ignore[arg-type]  # paramiko takes a list
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       sock=proxy,  # type: ignore[arg-type]  # a socket-like channel through the jump host
                       look_for_keys=not reach.key_files, allow_agent=True)
    except paramiko.BadHostKeyException as exc:
        if host.host_key:
            raise ReconcileError(f"host {name} unreachable: it presented the host key {fingerprint(exc.key)}, "
                                 f"not the one the spec pins ({fingerprint(exc.expected_key)})") from None
        raise ReconcileError(
            f"host {name} unreachable: its host key CHANGED (now {fingerprint(exc.key)}, "
            f"expected {fingerprint(exc.expected_key)}); this may be an attack. If the host was rebuilt, "
            f"remove the old entry for {known_hosts_name(reach.address, reach.port)} and run "
            f"`reconcile trust {name}`"
        ) from None
    except ReconcileError:
        raise
    except paramiko.AuthenticationException as exc:
        raise ReconcileError(f"host {name} ({where}) refused the login as {reach.user}: {exc}; check "
                             "the user and key_file of the host") from None
    except paramiko.SSHException as exc:
        jumped = proxy.stderr() if proxy is not None else ""
        if jumped:
            raise ReconcileError(f"host {name}: ProxyJump {reach.proxy_jump} failed: {jumped}") from None
        text = str(exc)
        if any(s in text.lower() for s in ("banner", "protocol", "no existing session")):
            text = (f"{where} accepted the connection but did not speak SSH within {timeout:.0f}s "
                    "(is it an SSH server?)")
        raise ReconcileError(f"host {name} unreachable: {text}") from None
    except (OSError, EOFError) as exc:
        jumped = proxy.stderr() if proxy is not None else ""
        if jumped:  # the jump failed, whichever way paramiko noticed it first
            raise ReconcileError(f"host {name}: ProxyJump {reach.proxy_jump} failed: {jumped}") from None
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ReconcileError(f"host {name} unreachable ({where}): {reason}") from None
    return client
