"""What `watch` runs with: the spec's `watch:` block, overridden by the command line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.durations import seconds
from reconciler.errors import ReconcileError

DEFAULT_INTERVAL = 600.0
DEFAULT_MAX_CHANGES = 10
DEFAULT_LISTEN = "127.0.0.1:9464"


@dataclass(frozen=True)
class WatchSettings:
    interval: float = DEFAULT_INTERVAL  # seconds between observations of everything
    max_changes: int = DEFAULT_MAX_CHANGES  # blast radius of one automatic remediation
    notify: tuple[str, ...] = ()  # webhooks told of each new and each resolved drift


def watch_settings(block: Mapping[str, Any] | None, *, interval: str | None = None, max_changes: int | None = None,
                   notify: Sequence[str] = ()) -> WatchSettings:
    """The spec's block (already checked by the spec's schema) with the options given on the command line."""
    block = block or {}
    try:
        every = seconds(interval if interval is not None else block.get("interval", DEFAULT_INTERVAL))
    except ValueError as exc:
        raise ReconcileError(f"--interval: {exc}") from None
    if every <= 0:
        raise ReconcileError("--interval must be more than 0 (write it as 30s, 5m or 1h)")
    limit = max_changes if max_changes is not None else int(block.get("max_changes", DEFAULT_MAX_CHANGES))
    hooks = tuple(notify) or tuple(str(u) for u in block.get("notify") or ())
    return WatchSettings(every, limit, hooks)


def listen_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:PORT` for IPv6) -> (host, port); a port alone binds 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ReconcileError(f"--listen {text!r}: write it as HOST:PORT, such as 127.0.0.1:9464")
    return host, int(port)
