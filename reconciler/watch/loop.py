"""The watch loop: each resource on its cadence, a run now when asked (`POST /run`), a clean stop on SIGTERM.

A run never stops the loop: its failure is recorded, counted and retried at the next interval. A stop asked
during a run lets that run finish (a remediation releases the state lock as it ends), then the loop returns."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.engine.session import Session
from reconciler.errors import ReconcileError
from reconciler.model import Resource
from reconciler.watch.cycle import RunRecord, due_addresses, run_once
from reconciler.watch.ledger import DriftLedger
from reconciler.watch.metrics import WatchMetrics
from reconciler.watch.notices import Notifier, drift_notice, resolved_notice
from reconciler.watch.settings import WatchSettings
from reconciler.watch.status import WatchStatus

log = logging.getLogger(__name__)


@dataclass
class Watcher:
    make_session: Callable[[], Session]  # a fresh session per run: the spec is read again each time
    settings: WatchSettings
    spec_name: str
    status: WatchStatus
    metrics: WatchMetrics
    notifier: Notifier
    on_run: Callable[[RunRecord], None] = lambda run: None
    ledger: DriftLedger = field(default_factory=DriftLedger)
    last_seen: dict[str, float] = field(default_factory=dict)  # address -> when it was last observed (monotonic)
    resources: tuple[Resource, ...] = ()
    runs: int = 0

    def run(self, due: set[str] | None = None) -> RunRecord:
        """One run: everything (or the addresses due), then the notices, the status and the metrics."""
        self.runs += 1
        now = time.monotonic()
        session = self.make_session()
        try:
            self.resources = session.validate().spec.resources
        except ReconcileError:
            pass  # the run records the error
        record = run_once(session, self.runs, self.settings.max_changes, due)
        if record.report is not None:
            for address in (due if due is not None else [r.address for r in self.resources]):
                self.last_seen[address] = now
            changes = self.ledger.observe(record.report, due)
            for item in changes.new:
                self.notifier.send(drift_notice(item, self.spec_name, record.number))
            for item in changes.resolved:
                self.notifier.send(resolved_notice(item, self.spec_name, record.number, "outside"))
            for item in self.ledger.repaired(record.repaired):
                self.notifier.send(resolved_notice(item, self.spec_name, record.number, "remediation"))
        drift = tuple(sorted(self.ledger.current.values(), key=lambda i: i.address))
        automatic = frozenset(r.address for r in self.resources if r.drift.automatic)
        self.status.record(record, drift, automatic)
        self.metrics.record(result=record.result, resources=len(self.resources), drift=self.ledger.counts(),
                            repaired=len(record.repaired), finished=time.time(), took=record.took)
        self.on_run(record)
        del session
        gc.collect()  # the run's session, plan and graph hold cycles; a process that runs for months frees them now
        return record

    def next_due(self, now: float) -> float:
        """Seconds until the next resource's cadence comes (the interval when nothing was observed yet)."""
        if not self.resources or not self.last_seen:
            return self.settings.interval
        waits = [self.last_seen.get(r.address, float("-inf")) + (r.drift.every or self.settings.interval) - now
                 for r in self.resources]
        return max(0.0, min(waits))

    def forever(self, stop: threading.Event, wake: threading.Event) -> None:
        """Until `stop` is set: a full run first, then the due resources on their cadences, or all when woken."""
        self.run()
        while not stop.is_set():
            woken = wake.wait(self.next_due(time.monotonic()))
            if stop.is_set():
                break
            if woken:
                wake.clear()
                self.run()
                continue
            due = due_addresses(self.resources, self.settings.interval, self.last_seen, time.monotonic())
            if due is None or due:
                self.run(due)
