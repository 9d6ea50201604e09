"""Webhook bodies for a new and a resolved drift, in the `--notify` format (Slack-compatible `text`, the JSON
`report`), delivered one at a time on a background thread: retried with backoff, logged, never fatal."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from reconciler.engine.drift import DriftItem, DriftReport
from reconciler.report.drift_formats import reason, to_json
from reconciler.report.notify import post_json

log = logging.getLogger(__name__)


def drift_notice(item: DriftItem, spec: str, run: int) -> dict[str, Any]:
    why = reason(item)
    return {"text": f"Drift in {spec}: {item.address} is {item.kind}" + (f" ({why})" if why else "") + ".",
            "event": "drift", "resource": item.address, "class": item.kind, "target": item.target,
            "attributes": [a["name"] for a in item.attributes], "why": why,
            "report": to_json(DriftReport((item,), checked=1), spec, run)}


def resolved_notice(item: DriftItem, spec: str, run: int, by: str) -> dict[str, Any]:
    how = "repaired by reconcile watch" if by == "remediation" else "no longer differs"
    return {"text": f"Resolved in {spec}: {item.address} ({item.kind}) {how}.", "event": "resolved",
            "resource": item.address, "class": item.kind, "target": item.target, "resolved_by": by,
            "report": to_json(DriftReport((), checked=1), spec, run)}


class Notifier:
    """Posts each body to every webhook, in order, on one thread of its own."""

    def __init__(self, urls: Sequence[str], mask: Callable[[str], str],
                 post: Callable[[str, dict[str, Any]], str | None] = post_json) -> None:
        self.urls = tuple(urls)
        self.mask = mask
        self._post = post
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def send(self, body: dict[str, Any]) -> None:
        if not self.urls:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._deliver, name="watch-notify", daemon=True)
            self._thread.start()
        self._queue.put(json.loads(self.mask(json.dumps(body, default=str))))  # secrets masked once more

    def close(self, timeout: float = 30) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)

    def _deliver(self) -> None:
        while (body := self._queue.get()) is not None:
            for url in self.urls:
                problem = self._post(url, body)
                if problem:
                    log.warning("%s", problem)
