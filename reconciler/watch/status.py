"""What the service shows: the drift now, the last runs, the held remediations. Written by the loop, read by
the HTTP threads, under one lock."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from reconciler.engine.drift import DriftItem
from reconciler.report.drift_formats import reason
from reconciler.watch.cycle import Held, RunRecord

KEPT_RUNS = 50


@dataclass(frozen=True)
class Snapshot:
    spec: str
    interval: float
    max_changes: int
    runs: tuple[RunRecord, ...]  # newest first
    drift: tuple[DriftItem, ...]
    held: tuple[tuple[int, Held], ...]  # (run, held) newest first
    automatic: frozenset[str]  # addresses whose drift watch repairs

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "interval_seconds": self.interval, "max_changes": self.max_changes,
                "runs": [r.to_json() for r in self.runs],
                "drift": [{"address": i.address, "type": i.type, "class": i.kind, "target": i.target,
                           "remediate": "auto" if i.address in self.automatic else "report",
                           "attributes": list(i.attributes), "why": reason(i)} for i in self.drift],
                "held": [{"run": n, "addresses": list(h.addresses), "why": h.why} for n, h in self.held]}


@dataclass
class WatchStatus:
    spec: str
    interval: float
    max_changes: int
    _runs: deque[RunRecord] = field(default_factory=lambda: deque(maxlen=KEPT_RUNS))
    _held: deque[tuple[int, Held]] = field(default_factory=lambda: deque(maxlen=KEPT_RUNS))
    _drift: tuple[DriftItem, ...] = ()
    _automatic: frozenset[str] = frozenset()
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, run: RunRecord, drift: tuple[DriftItem, ...], automatic: frozenset[str]) -> None:
        with self._lock:
            self._runs.appendleft(run)
            if run.held is not None:
                self._held.appendleft((run.number, run.held))
            self._drift = drift
            self._automatic = automatic

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(self.spec, self.interval, self.max_changes, tuple(self._runs), self._drift,
                            tuple(self._held), self._automatic)
