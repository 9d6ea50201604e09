"""Live progress on a terminal, drawn with rich: a bar while targets are observed (`Observing 120 targets…
87/120`), a bar with elapsed time while changes are applied (the usual line per change scrolls above it),
and the per-target summary as a table. Used only when stdout is a terminal and colour is allowed; logs,
pipes and CI keep the plain line output of progress.py, byte for byte."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from reconciler.model import Result, Status
from reconciler.report.progress import ApplyReporter


class LiveProgress:
    def __init__(self, out: TextIO | None = None, width: int | None = None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(file=out, highlight=False, width=width)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=self.console, transient=True)
        self._lock = threading.Lock()
        self._observe: Any = None
        self._apply: Any = None
        self._running = False

    def start(self) -> None:
        with self._lock:
            if not self._running:
                self.progress.start()
                self._running = True

    def stop(self) -> None:
        with self._lock:
            if self._running:
                self.progress.stop()
                self._running = False
            for task in (self._observe, self._apply):
                if task is not None:
                    self.progress.remove_task(task)
            self._observe = self._apply = None

    # -- observe ---------------------------------------------------------------------------------
    def observing(self, target: str, done: int, total: int) -> None:
        """Observe's progress callback: each wave of observation counts its targets afresh."""
        self.start()
        description = f"Observing {total} target{'s' if total != 1 else ''}…"
        with self._lock:
            if self._observe is None:
                self._observe = self.progress.add_task(description, total=total)
            self.progress.update(self._observe, description=description, completed=done, total=total)

    # -- apply -----------------------------------------------------------------------------------
    def applying(self, total: int) -> None:
        self.start()
        with self._lock:
            if self._observe is not None:
                self.progress.remove_task(self._observe)
                self._observe = None
            if self._apply is None:
                self._apply = self.progress.add_task("Applying…", total=total)

    def advance(self) -> None:
        with self._lock:
            if self._apply is not None:
                self.progress.advance(self._apply)

    def print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


class LiveApplyReporter(ApplyReporter):
    """The plain reporter's lines, printed above a live bar of changes done."""

    def __init__(self, total: int, live: LiveProgress, color: bool = True, every: float = 10.0):
        self.live = live
        super().__init__(total, color=color, progress=False, every=every)
        live.applying(total)

    def finished(self, result: Result) -> None:
        super().finished(result)
        self.live.advance()

    def close(self) -> None:
        super().close()
        self.live.stop()

    def _print(self, text: str) -> None:
        self.live.print(text)


def per_target_table(results: Sequence[Result], targets: Mapping[str, str], out: TextIO | None = None,
                     width: int | None = None) -> None:
    """How each host/engine/region fared, as a table (when a run spans several)."""
    from rich.console import Console
    from rich.table import Table

    rows: dict[str, dict[str, int]] = {}
    for r in results:
        if r.status is not Status.NOOP:
            row = rows.setdefault(targets.get(r.address, "?"), {})
            row[r.status.value] = row.get(r.status.value, 0) + 1
    if len(rows) < 2:
        return
    statuses = [s.value for s in (Status.OK, Status.FAILED, Status.SKIPPED) if any(s.value in r for r in rows.values())]
    table = Table(title="Per target", title_justify="left")
    table.add_column("target")
    for status in statuses:
        table.add_column(status, justify="right")
    for name in sorted(rows):
        table.add_row(name, *(str(rows[name].get(s, 0)) for s in statuses))
    Console(file=out, highlight=False, width=width).print(table)
