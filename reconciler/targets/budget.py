"""How many connections a run keeps open at once.

A run that reaches hundreds of hosts must not hold hundreds of SSH connections (each is a socket, a
file descriptor, crypto state and a remote sshd process). Targets share one ConnectionBudget: a target
holds a slot from its first operation until it is closed or evicted. When every slot is taken, the
least recently used *idle* connection (no operation in flight) is closed to make room, and reopened when
its host is needed again; when none is idle, the caller waits for one. Connections are reused as long as
they are not evicted, so a run with fewer hosts than the limit connects once per host.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Protocol

log = logging.getLogger(__name__)


class Holder(Protocol):
    """A target whose connection the budget may close while it is idle."""

    name: str

    def drop_connection(self) -> None:
        """Close the connection (called by the budget, never while the holder has an operation in flight)."""


class ConnectionBudget:
    """At most `limit` connections open at once among its holders (no limit when `limit` is None)."""

    def __init__(self, limit: int | None = None):
        if limit is not None and limit < 1:
            raise ValueError("a connection budget needs at least one connection")
        self.limit = limit
        self._cond = threading.Condition()
        self._open: OrderedDict[int, Holder] = OrderedDict()  # holders with a slot, least recently used first
        self._busy: dict[int, int] = {}  # holder id -> operations in flight
        self.peak = 0  # the most connections open at once (for benchmarks and tests)
        self.opened = 0  # connections opened, reconnections after an eviction included

    def checkout(self, holder: Holder) -> bool:
        """Mark an operation of `holder` as started; wait for a slot when it has none. True when the holder
        must (re)connect: it had no slot."""
        key = id(holder)
        victim: Holder | None = None
        with self._cond:
            self._busy[key] = self._busy.get(key, 0) + 1
            while True:
                if key in self._open:  # open already (or opened by another operation while this one waited)
                    self._open.move_to_end(key)
                    return False
                if self.limit is None or len(self._open) < self.limit:
                    break
                victim = self._idle()
                if victim is not None:
                    del self._open[id(victim)]
                    break
                self._cond.wait()
            self._open[key] = holder
            self.opened += 1
            self.peak = max(self.peak, len(self._open))
        if victim is not None:
            log.debug("closing the idle connection to %s to open one to %s", victim.name, holder.name)
            victim.drop_connection()
        return True

    def checkin(self, holder: Holder) -> None:
        """Mark an operation of `holder` as finished; its connection stays open until evicted or released."""
        with self._cond:
            left = self._busy.get(id(holder), 1) - 1
            if left:
                self._busy[id(holder)] = left
            else:
                self._busy.pop(id(holder), None)
                self._cond.notify_all()

    def release(self, holder: Holder) -> None:
        """`holder` closed its connection (or failed to open one): its slot is free."""
        with self._cond:
            self._open.pop(id(holder), None)
            self._cond.notify_all()

    def holds(self, holder: Holder) -> bool:
        with self._cond:
            return id(holder) in self._open

    def _idle(self) -> Holder | None:
        for key, holder in self._open.items():
            if not self._busy.get(key):
                return holder
        return None
