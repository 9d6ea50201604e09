"""One drift check of a session (`reconcile drift`, `watch`): plan against what is there, read in full, sort
every difference into drifted, pending, missing or unmanaged, and keep the report in the run history."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.engine.drift import classify, discover_unmanaged, new_since
from reconciler.engine.outcomes import DriftOutcome
from reconciler.engine.planning_session import PlanningSession
from reconciler.errors import ReconcileError
from reconciler.model import Selection


def drift_run(session: PlanningSession, *, limit: Sequence[str] = (), since: int | None = None,
              record: bool = True, report_body: Callable[[Any, int | None], Mapping[str, Any]] | None = None,
              targets: Sequence[str] = ()) -> DriftOutcome:
    """Drift classes (drifted/pending/missing/unmanaged); read-only apart from the history entry.
    `targets`: only these addresses (and what they depend on) are observed (`watch`'s own cadences)."""
    validated = session.validate()
    writable = record and (not session.backend.creates_on_open or session.backend.exists())
    with session.state(writable=writable) as store, session.targets() as pool:
        everything = Selection(targets=tuple(targets), limit=tuple(limit), full_refresh=True)  # read in full
        validated = session.with_facts(session.with_members(validated, pool), pool, everything)
        plan = session.make_plan(validated, pool, store, everything)
        records = store.records()
        in_use = {(r.type, r.target) for r in validated.spec.resources} | {
            (r.type, r.target) for r in records.values()}
        unmanaged, discovery_errors = discover_unmanaged(
            [(t, n) for t, n in in_use if t in session.type_registry], session.type_registry, pool)
        found = classify(plan, records, session.type_registry, unmanaged)
        if discovery_errors:
            found = dataclasses.replace(found, errors={**found.errors, **discovery_errors})
        if since is not None:
            earlier = next((r for r in store.runs(kind="drift", limit=100000) if r.id == since), None)
            if earlier is None:
                raise ReconcileError(f"no drift run #{since} in the history (see `reconcile history --drift`)")
            found = new_since(found, earlier.summary.get("report", {}))
        run_id = None
        if writable:
            run_id = store.start_run("drift", str(Path(session.spec_path).absolute()))
            body = report_body(found, run_id) if report_body else {}
            store.finish_run(run_id, "drift" if found.found else ("error" if found.errors else "ok"),
                             {**found.counts(), "errors": len(found.errors), "report": body})
        history = tuple({"run": r.id, "started_at": r.started_at,
                         "total": sum(int(r.summary.get(k) or 0) for k in found.counts())}
                        for r in reversed(store.runs(kind="drift", limit=30)) if r.status != "running")
        return DriftOutcome(found, run_id, plan, history)
