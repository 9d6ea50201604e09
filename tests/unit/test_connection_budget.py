"""The connection budget on its own: never more than `limit` open, idle ones evicted least recently used
first, busy ones never, callers wait when every connection is busy, and reuse when there is room."""

from __future__ import annotations

import random
import threading
import time

import pytest

from reconciler.targets.budget import ConnectionBudget


class FakeConnection:
    """A holder that counts how often it was (re)connected and closed, and checks it is never closed busy."""

    def __init__(self, name: str, budget: ConnectionBudget, open_now: list[int]):
        self.name, self.budget, self.open_now = name, budget, open_now
        self.connected = False
        self.connects = self.drops = self.busy = 0
        self.lock = threading.Lock()

    def use(self, seconds: float = 0.0) -> None:
        if self.budget.checkout(self):
            with self.lock:
                assert not self.connected
                self.connected = True
                self.connects += 1
                self.open_now[0] += 1
        with self.lock:
            self.busy += 1
        time.sleep(seconds)
        with self.lock:
            self.busy -= 1
        self.budget.checkin(self)

    def drop_connection(self) -> None:
        with self.lock:
            assert self.busy == 0, f"{self.name} was closed while busy"
            if not self.budget.holds(self):
                self.connected = False
                self.drops += 1
                self.open_now[0] -= 1


def test_connections_are_reused_while_there_is_room() -> None:
    budget, open_now = ConnectionBudget(3), [0]
    hosts = [FakeConnection(f"h{i}", budget, open_now) for i in range(3)]
    for _ in range(4):
        for h in hosts:
            h.use()
    assert [h.connects for h in hosts] == [1, 1, 1]
    assert budget.peak == 3 and budget.opened == 3


def test_the_least_recently_used_idle_connection_makes_room() -> None:
    budget, open_now = ConnectionBudget(2), [0]
    a, b, c = (FakeConnection(n, budget, open_now) for n in "abc")
    a.use()
    b.use()
    a.use()  # b is now the least recently used
    c.use()
    assert (a.connected, b.connected, c.connected) == (True, False, True)
    assert b.drops == 1 and budget.peak == 2
    b.use()  # reopened, evicting a (older than c)
    assert b.connects == 2 and not a.connected


def test_a_busy_connection_is_never_closed_and_callers_wait() -> None:
    budget, open_now = ConnectionBudget(1), [0]
    a, b = FakeConnection("a", budget, open_now), FakeConnection("b", budget, open_now)
    started = threading.Event()

    def long_use() -> None:
        if budget.checkout(a):
            a.connected, a.connects = True, 1
        started.set()
        time.sleep(0.3)
        budget.checkin(a)

    t = threading.Thread(target=long_use)
    t.start()
    started.wait()
    begun = time.monotonic()
    b.use()  # waits until a is idle, then evicts it
    assert time.monotonic() - begun >= 0.2
    t.join()
    assert b.connected and budget.peak == 1


def test_many_threads_never_exceed_the_limit() -> None:
    budget, open_now = ConnectionBudget(4), [0]
    hosts = [FakeConnection(f"h{i}", budget, open_now) for i in range(25)]
    highest = [0]
    guard = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(60):
            h = rng.choice(hosts)
            h.use(rng.random() / 500)
            with guard:
                highest[0] = max(highest[0], open_now[0])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert budget.peak <= 4 and highest[0] <= 4
    assert sum(h.connects for h in hosts) == budget.opened


def test_a_budget_needs_at_least_one_connection() -> None:
    with pytest.raises(ValueError):
        ConnectionBudget(0)
