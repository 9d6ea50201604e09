"""What a run returns and counts: an apply's outcome and a drift run's, and the tallies reports print."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.engine.apply import failed
from reconciler.model import Action, Plan, Result, Status


@dataclass(frozen=True)
class ApplyOutcome:
    plan: Plan
    results: tuple[Result, ...]
    run_id: int | None
    applied: bool  # False: nothing to do, or not approved
    outputs: tuple[Any, ...] = ()  # reconciler.engine.outputs.OutputValue, as applied

    @property
    def failed(self) -> bool:
        return failed(self.results) or bool(self.plan.failures)

    @property
    def runs(self) -> frozenset[str]:
        """The commands the plan ran (counted apart from changes)."""
        return ran(self.plan)

    @property
    def targets(self) -> dict[str, str]:
        """Where each result happened: its target; a rollout's gate, its group; a resource of a host made in
        this run (planned on a placeholder, then named by its host), that host."""
        gates = {r.address: r.address.split("[")[0] for r in self.results if r.address.startswith("rollout.")}
        made = {r.address: r.address.rsplit("[", 1)[1].rstrip("]") for r in self.results
                if r.address.endswith("]") and not r.address.startswith("rollout.")}
        return made | gates | {c.address: c.resource.target for c in self.plan.changes if c.resource is not None}


@dataclass(frozen=True)
class DriftOutcome:
    report: Any  # reconciler.engine.drift.DriftReport
    run_id: int | None
    plan: Plan
    history: tuple[Mapping[str, Any], ...] = ()  # the last drift runs, oldest first: run, started_at, total


def found_objects(plan: Plan) -> bool:
    """Whether the plan observed objects of the spec (a lost or new state then has ownership to record)."""
    return any(c.observed is not None and not c.pruned for c in plan.changes)


def makes_hosts(spec: Any, plan: Plan, results: Sequence[Result]) -> bool:
    """Whether this apply may have changed a dynamic group's hosts: it planned resources on hosts still to
    come, or changed an object of a type groups are made of (else the groups are not looked up again)."""
    if any(c.deferred for c in plan.changes):
        return True
    sources = {g.source_type for g in spec.inventory.dynamic.values()}
    done = {r.address for r in results if r.status is Status.OK and r.action is not Action.NOOP}
    return any(c.type in sources and c.address in done for c in plan.changes)


def summarize(results: Sequence[Result], runs: Collection[str] = ()) -> dict[str, int]:
    """How many objects each outcome touched; `runs`: the commands among the updates (counted as run, as the
    plan counts them)."""
    counts = {"added": 0, "changed": 0, "destroyed": 0, "forgotten": 0, "failed": 0, "skipped": 0, "run": 0}
    for r in results:
        if r.status is Status.FAILED:
            counts["failed"] += 1
        elif r.status is Status.SKIPPED:
            counts["skipped"] += 1
        elif r.status is Status.OK:
            if r.action in (Action.CREATE, Action.REPLACE):
                counts["added"] += 1
            if r.action in (Action.DELETE, Action.REPLACE):
                counts["destroyed"] += 1
            if r.action is Action.UPDATE:
                counts["run" if r.address in runs else "changed"] += 1
            if r.action is Action.FORGET:
                counts["forgotten"] += 1
    return counts


def ran(plan: Plan) -> frozenset[str]:
    """The addresses of the plan's commands to run."""
    return frozenset(c.address for c in plan.changes if c.verb == "run")
