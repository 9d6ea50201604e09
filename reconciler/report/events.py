"""Machine-readable run events, one JSON object per line (`plan --json-stream`, `apply --json`).

Like Terraform's `-json` UI: every line has `type`, `timestamp` (UTC, ISO 8601) and `@message` (the line a
person would have read); the other keys depend on the type:

- `planned`: one per change the plan holds (`change`: the object of schemas/plan.json's `changes`);
- `diagnostic`: a plan error, blocker or warning, or the error that stopped the command (`severity`, `message`);
- `started`: a change begins (`address`, `action`, `verb`);
- `progress`: a change still under way (`address`, `elapsed_seconds`), every `every` seconds;
- `completed` / `failed`: a change ended (`address`, `action`, `status`, `elapsed_seconds`, `error`);
- `summary`: the counts at the end (`operation`: plan or apply; added, changed, destroyed, …).

Values marked sensitive are never written (they already arrive masked from the plan).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from reconciler.engine.outcomes import summarize
from reconciler.model import Change, Plan, Result, Status
from reconciler.report.plan_text import change_to_json

FORMAT_VERSION = "1.0"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonEvents:
    """Writes events to `out`; usable as the ApplyHooks of an apply. Thread-safe."""

    def __init__(self, out: TextIO = sys.stdout, every: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 timestamp: Callable[[], str] = _now):
        self.out = out
        self.every = every
        self.clock = clock
        self.timestamp = timestamp
        self._lock = threading.Lock()
        self._active: dict[str, float] = {}
        self._verbs: dict[str, str] = {}  # address -> the change's own verb (run, restart…)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- writing ---------------------------------------------------------------------------------
    def emit(self, kind: str, text: str, **fields: Any) -> None:
        event = {"type": kind, "timestamp": self.timestamp(), "@message": text, **fields}
        line = json.dumps(event, default=str, sort_keys=False)
        with self._lock:
            print(line, file=self.out, flush=True)

    def version(self, operation: str) -> None:
        self.emit("version", f"reconcile {operation}", format_version=FORMAT_VERSION, operation=operation)

    # -- a plan ----------------------------------------------------------------------------------
    def planned(self, plan: Plan) -> None:
        for change in plan.actionable:
            self.emit("planned", f"{change.address}: plan to {change.verb or change.action.value}",
                      change=change_to_json(change))
        for address, message in sorted(plan.failures.items()):
            self.emit("diagnostic", f"{address}: {message}", severity="error", address=address, message=message)
        for message in plan.blockers:
            self.emit("diagnostic", message, severity="error", message=message, blocker=True)
        for message in plan.warnings:
            self.emit("diagnostic", message, severity="warning", message=message)

    def plan_summary(self, plan: Plan) -> None:
        counts = plan.counts()
        self.emit("summary", "Plan: " + ", ".join(f"{n} to {k}" for k, n in counts.items()),
                  operation="plan", changes=counts, errors=len(plan.failures), blockers=len(plan.blockers))

    def error(self, message: str, location: Mapping[str, Any] | None = None) -> None:
        self.emit("diagnostic", message, severity="error", message=message, **({"location": location} if location else {}))

    # -- an apply (ApplyHooks) -------------------------------------------------------------------
    def start_ticking(self) -> None:
        if self._ticker is None and self.every > 0:
            self._ticker = threading.Thread(target=self._tick, name="json-progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self.tick()

    def tick(self) -> None:
        """A `progress` event for each change under way for at least `every` seconds."""
        now = self.clock()
        with self._lock:
            active = sorted(self._active.items())
        for address, since in active:
            if now - since >= self.every:
                self.emit("progress", f"{address}: still in progress [{now - since:.0f}s elapsed]",
                          address=address, elapsed_seconds=round(now - since, 1))

    def started(self, change: Change) -> None:
        with self._lock:
            self._active[change.address] = self.clock()
            self._verbs[change.address] = change.verb or change.action.value
        self.emit("started", f"{change.address}: {change.verb or change.action.value} started",
                  address=change.address, action=change.action.value, verb=change.verb or None)

    def note(self, message: str) -> None:
        self.emit("progress", message)

    def finished(self, result: Result) -> None:
        with self._lock:
            self._active.pop(result.address, None)
            verb = self._verbs.get(result.address, result.action.value)
        ok = result.status in (Status.OK, Status.NOOP)
        kind = "completed" if ok else "failed"
        message = f"{result.address}: {verb} {'complete' if ok else result.status.value}"
        if result.error:
            message += f": {result.error}"
        self.emit(kind, message, address=result.address, action=result.action.value, status=result.status.value,
                  elapsed_seconds=round(result.seconds, 3), error=result.error or None)

    def apply_summary(self, results: Sequence[Result]) -> None:
        counts = summarize(results)
        self.emit("summary", "Apply: " + ", ".join(f"{n} {k}" for k, n in counts.items()), operation="apply",
                  **counts)

    def close(self) -> None:
        self._stop.set()
