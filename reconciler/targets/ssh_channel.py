"""Reading an SSH command's channel to its end: both streams, its exit status, within a deadline, asking
the host whether it is still there when the channel falls silent."""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import Any


def collect(channel: Any, deadline: float, what: str, keepalive: float, alive: Callable[[float], bool],
            dead: Callable[[float], Exception]) -> tuple[int, bytes, bytes]:
    """Both streams to their end (EOF, not merely the exit status: data may still follow it).

    Waits with select() on the channel, so output is read as soon as it arrives; a silence of
    `keepalive` seconds asks the host whether it is still there (`alive(timeout)`); when it does not answer,
    `dead(seconds of silence)` is raised. Past `deadline` (monotonic), TimeoutError(what)."""
    stdout, stderr = bytearray(), bytearray()
    silent_since = time.monotonic()
    while True:
        got = False
        while channel.recv_ready():
            stdout += channel.recv(65536)
            got = True
        while channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
            got = True
        if channel.eof_received and channel.exit_status_ready() and not got:
            break
        if channel.closed and not got:
            break
        now = time.monotonic()
        if got:
            silent_since = now
        if now >= deadline:
            raise TimeoutError(what)
        wait = deadline - now
        if keepalive:
            wait = min(wait, max(0.0, silent_since + keepalive - now))
            if now - silent_since >= keepalive:
                if not alive(keepalive):
                    raise dead(time.monotonic() - silent_since)
                silent_since = time.monotonic()
                continue
        if channel.eof_received:  # output complete; the exit status is on its way
            channel.status_event.wait(min(0.05, wait))
        else:
            select.select([channel], [], [], wait)
    return channel.recv_exit_status(), bytes(stdout), bytes(stderr)
