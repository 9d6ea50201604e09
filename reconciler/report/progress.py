"""Apply progress for people: a line per change started and finished, "Still creating…" ticks, summaries."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from typing import TextIO

import click

from reconciler.model import Action, Change, Result, Status
from reconciler.report.plan_text import error_line

_VERBS = {Action.CREATE: ("Creating", "Creation"), Action.UPDATE: ("Modifying", "Modifications"),
          Action.REPLACE: ("Replacing", "Replacement"), Action.DELETE: ("Destroying", "Destruction"),
          Action.FORGET: ("Forgetting", "Forget"), Action.NOOP: ("Checking", "Check")}


def verb_forms(verb: str) -> tuple[str, str]:
    """("Running", "Run") for a module's action verb such as run, restart, reload."""
    word = verb.capitalize()
    ing = (word[:-1] if word.endswith("e") and not word.endswith("ee") else word) + "ing"
    if word in ("Run",):
        ing = "Running"
    return ing, word


class ApplyReporter:
    """Prints a line when a change starts and when it ends; on a terminal, a [done/total] counter."""

    def __init__(self, total: int, out: TextIO = sys.stdout, color: bool = False, progress: bool = False,
                 every: float = 10.0):
        self.total = total
        self.done = 0
        self.out = out
        self.color = color
        self.progress = progress
        self.every = every
        self._verbs: dict[str, str] = {}  # address -> its change's own verb (run, restart…)
        self._active: dict[str, tuple[str, float]] = {}  # address -> (verb, started)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        """Every `every` seconds, a line for each change still under way (waiters can take minutes)."""
        while not self._stop.wait(self.every):
            now = time.monotonic()
            with self._lock:  # printed under the lock: never after the change's own "complete" line
                for address, (verb, since) in sorted(self._active.items()):
                    if now - since >= self.every:
                        self._print(f"{address}: Still {verb.lower()}... [{now - since:.0f}s elapsed]")

    def close(self) -> None:
        self._stop.set()

    def started(self, change: Change) -> None:
        if change.verb:
            self._verbs[change.address] = change.verb
        verb = verb_forms(change.verb)[0] if change.verb else _VERBS[change.action][0]
        with self._lock:
            self._active[change.address] = (verb, time.monotonic())
        self._print(f"{change.address}: {verb}...")

    def finished(self, result: Result) -> None:
        with self._lock:
            self._active.pop(result.address, None)
            self.done += 1
            counter = f"[{self.done}/{self.total}] " if self.progress else ""
        if result.status is Status.OK:
            own = self._verbs.get(result.address)
            noun = verb_forms(own)[1] if own else _VERBS.get(result.action, ("", "Change"))[1]
            self._print(f"{counter}{result.address}: {noun} complete after {result.seconds:.1f}s")
        elif result.status is Status.SKIPPED:
            self._print(f"{counter}{result.address}: {result.error}")
        else:
            sep = " " if result.error.startswith("(") else ": "
            self._print(f"{counter}{error_line(f'{result.address}{sep}{result.error}', self.color)}")

    def note(self, message: str) -> None:
        self._print(message)

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def per_target(results: Sequence[Result], targets: Mapping[str, str]) -> str:
    """One line per host/engine when a run spans several: how each one fared."""
    rows: dict[str, dict[str, int]] = {}
    for r in results:
        if r.status is Status.NOOP:
            continue
        row = rows.setdefault(targets.get(r.address, "?"), {})
        row[r.status.value] = row.get(r.status.value, 0) + 1
    if len(rows) < 2:
        return ""
    lines = ["Per target:"]
    for name in sorted(rows):
        lines.append(f"  {name}: " + ", ".join(f"{n} {status}" for status, n in sorted(rows[name].items())))
    return "\n".join(lines) + "\n"


def render_summary(results: Sequence[Result], color: bool = False, runs: Collection[str] = ()) -> str:
    from reconciler.engine.outcomes import summarize  # the engine only once there is an apply to show

    c = summarize(results, runs)
    text = f"Resources: {c['added']} added, {c['changed']} changed, {c['destroyed']} destroyed"
    if c["run"]:
        text += f", {c['run']} run"
    if c["forgotten"]:
        text += f", {c['forgotten']} forgotten"
    if c["failed"] or c["skipped"]:
        text += f", {c['failed']} failed, {c['skipped']} skipped"
        head = click.style("Apply finished with errors!", fg="red", bold=True) if color else "Apply finished with errors!"
        failed = [f"  - {r.address}{' ' if r.error.startswith('(') else ': '}{r.error}"
                  for r in results if r.status in (Status.FAILED, Status.SKIPPED)]
        return "\n".join([f"{head} {text}."] + failed) + "\n"
    head = click.style("Apply complete!", fg="green", bold=True) if color else "Apply complete!"
    return f"{head} {text}.\n"


