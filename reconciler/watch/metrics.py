"""The Prometheus metrics of one watch, in a registry of its own (no process-wide state)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from reconciler.engine.drift import KINDS

RESULTS = ("clean", "drift", "remediated", "held", "failed")


class WatchMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.resources = Gauge("reconcile_resources", "Resources the watched spec declares.", registry=self.registry)
        self.drift = Gauge("reconcile_drift_resources", "Resources with drift now, by class.", ["class"],
                           registry=self.registry)
        self.runs = Counter("reconcile_runs", "Watch runs, by result.", ["result"], registry=self.registry)
        self.remediations = Counter("reconcile_remediations", "Resources repaired by automatic remediation.",
                                    registry=self.registry)
        self.last_run = Gauge("reconcile_last_run_timestamp_seconds", "When the last run finished (Unix time).",
                              registry=self.registry)
        self.duration = Histogram("reconcile_run_duration_seconds", "How long each run took.",
                                  buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
                                  registry=self.registry)
        for kind in KINDS:
            self.drift.labels(kind).set(0)
        for result in RESULTS:
            self.runs.labels(result)

    def record(self, *, result: str, resources: int, drift: Mapping[str, int], repaired: int, finished: float,
               took: float) -> None:
        self.resources.set(resources)
        for kind in KINDS:
            self.drift.labels(kind).set(drift.get(kind, 0))
        self.runs.labels(result).inc()
        if repaired:
            self.remediations.inc(repaired)
        self.last_run.set(finished)
        self.duration.observe(took)

    def text(self) -> bytes:
        return generate_latest(self.registry)
