"""One apply of a session: lock, plan again, ask, carry the changes out (here or on a Dask cluster), configure
the hosts a dynamic group gained, and record the run, the state and the outputs."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.engine.apply import Applier, ApplyHooks, failed
from reconciler.engine.carry import Executor, LocalExecutor
from reconciler.engine.outcomes import ApplyOutcome, found_objects, makes_hosts, ran, summarize
from reconciler.engine.planning_session import PlanningSession
from reconciler.errors import ReconcileError
from reconciler.model import UNKNOWN, Action, Plan, Result, Selection, Status
from reconciler.spec.validate import Validated
from reconciler.state.interface import StateStore
from reconciler.state.planfile import check_fresh
from reconciler.targets import TargetPool
from reconciler.words import plural

log = logging.getLogger(__name__)
@dataclass
class ApplyRun:
    """An apply of `session`'s spec as `validated`, telling `hooks` what happens; `cluster` is the Dask client
    when the changes are carried out on a cluster."""

    session: PlanningSession
    validated: Validated
    hooks: ApplyHooks | None
    cluster: Any = None

    def run(self, selection: Selection, approve: Callable[[Plan], bool], saved: Mapping[str, Any] | None,
            only_drifted: bool, on_plan: Callable[[Plan], None]) -> ApplyOutcome:
        """Lock, plan again (a `saved` plan must still be fresh), ask `approve`, apply, record the run."""
        validated, hooks = self.validated, self.hooks
        backend = self.session.backend
        selection = dataclasses.replace(selection, full_refresh=True)  # apply acts on what it reads now
        with backend.lock("apply"), self.session.targets() as pool:
            validated = self.session.with_facts(self.session.with_members(validated, pool), pool, selection)
            new = backend.creates_on_open and not backend.exists()
            with backend.open(writable=not new) as store:
                self.session.check_owner(store)
                plan = self.session.make_plan(validated, pool, store, selection)
                if saved is not None:
                    check_fresh(saved, plan)
                if only_drifted:
                    plan = self._only_drifted(plan, store)
                on_plan(plan)
                if plan.blockers:
                    raise ReconcileError("the plan cannot be applied: " + "; ".join(plan.blockers))
                if not new:  # nothing to change: the state still learns the spec's current values
                    if not plan.actionable:
                        return self._record_only(validated, plan, pool, store, hooks)
                    if not approve(plan):
                        raise ReconcileError("apply cancelled")
                    return self._carry_out(validated, plan, pool, store, hooks, selection)
            # a new state (or a lost one): made when there is something to record, found objects included, so that
            # ownership survives a no-change apply
            if not plan.actionable and not (validated.spec.outputs or found_objects(plan)):
                return ApplyOutcome(plan, (), None, applied=False)
            if plan.actionable and not approve(plan):
                raise ReconcileError("apply cancelled")
            with backend.open(writable=True) as store:
                self.session.check_owner(store)
                if not plan.actionable:
                    store.set_stack(validated.spec.stack)
                    return self._record_only(validated, plan, pool, store, hooks)
                return self._carry_out(validated, plan, pool, store, hooks, selection)

    def _record_only(self, validated: Validated, plan: Plan, pool: TargetPool, store: StateStore,
                     hooks: ApplyHooks | None) -> ApplyOutcome:
        """A plan with nothing to change: the state records what was observed (values, found objects)."""
        applier = Applier(validated.graph, self.session.type_registry, pool, store, self.session.parallelism, hooks, self.session.redactor,
                          validated.spec.data)
        results = self.session.redacting(lambda: applier.apply(plan))
        outputs = self._record_outputs(validated, applier, store)
        return ApplyOutcome(plan, tuple(results), None, applied=False, outputs=outputs)

    def _carry_out(self, validated: Validated, plan: Plan, pool: TargetPool, store: StateStore,
                   hooks: ApplyHooks | None, selection: Selection) -> ApplyOutcome:
        store.set_stack(validated.spec.stack)
        executor = self._executor(validated, plan, pool)
        applier = Applier(validated.graph, self.session.type_registry, pool, store, self.session.parallelism, hooks, self.session.redactor,
                          validated.spec.data, executor, validated.spec.inventory.rollouts)
        run_id = store.start_run("apply", str(Path(self.session.spec_path).absolute()))
        results: list[Result] = []
        status = "interrupted"  # what the history says if this process is stopped on the way
        now = dataclasses.replace(plan, changes=tuple(c for c in plan.changes if not c.deferred))
        try:
            results = self.session.redacting(lambda: applier.apply(now))
            if not failed(results) and makes_hosts(validated.spec, plan, results):
                results += self._configure_new_hosts(validated, pool, store, hooks, selection)
            status = "failed" if failed(results) or plan.failures else "ok"
        finally:
            executor.close()
            store.finish_run(run_id, status, summarize(results, ran(plan)) | {
                "resources": {r.address: r.status.value for r in results if r.status is not Status.NOOP}})
        outputs = self._record_outputs(validated, applier, store)
        return ApplyOutcome(plan, tuple(results), run_id, applied=True, outputs=outputs)

    def _configure_new_hosts(self, validated: Validated, pool: TargetPool, store: StateStore, hooks: ApplyHooks | None,
                             selection: Selection) -> list[Result]:
        """The second half of an apply that made instances of a dynamic group: look the group up again, wait
        for the new hosts to answer SSH, then plan and apply the resources on them (and on them only)."""
        from reconciler.engine.members import new_hosts, wait_for_hosts

        note = hooks.note if hooks is not None else (lambda message: log.info("%s", message))
        rebuilt = self.session.with_members(validated, pool, fresh=True)
        hosts = new_hosts(validated.spec, rebuilt.spec)
        if not hosts:
            return []
        unreachable = wait_for_hosts(rebuilt.spec, hosts, note, self.session.parallelism)
        results = [Result(r.address, Action.CREATE, Status.FAILED, error=f"host {r.host} never answered SSH: "
                          f"{unreachable[r.host or '']}") for r in rebuilt.spec.resources if r.host in unreachable]
        ready = [h for h in hosts if h not in unreachable]
        on_them = [h for h in ready if any(r.host == h for r in rebuilt.spec.resources)]
        if not on_them:
            return results
        note(f"configuring {plural(len(on_them), 'new host')}: {', '.join(on_them)}")
        limited = dataclasses.replace(selection, limit=tuple(on_them))
        rebuilt = self.session.with_facts(rebuilt, pool, limited)
        plan = self.session.make_plan(rebuilt, pool, store, limited)
        if plan.blockers:
            raise ReconcileError("the plan for the new hosts cannot be applied: " + "; ".join(plan.blockers))
        applier = Applier(rebuilt.graph, self.session.type_registry, pool, store, self.session.parallelism, hooks, self.session.redactor,
                          rebuilt.spec.data, LocalExecutor(self.session.type_registry, pool), rebuilt.spec.inventory.rollouts)
        done = self.session.redacting(lambda: applier.apply(plan))
        failures = [Result(a, Action.CREATE, Status.FAILED, error=why) for a, why in plan.failures.items()]
        return results + list(done) + failures

    def _executor(self, validated: Validated, plan: Plan, pool: TargetPool) -> Executor:
        """Where this apply's changes are carried out: here, or on the Dask cluster asked for."""
        local = LocalExecutor(self.session.type_registry, pool)
        if self.cluster is None:
            return local
        from reconciler.engine.distributed import DaskExecutor

        targets = [(self.session.type_registry.module_class(c.type).family, c.resource.target) for c in plan.changes
                   if c.resource is not None]
        return DaskExecutor(self.cluster, validated.spec, self.session.type_registry, local, targets, self.session.parallelism)

    def _record_outputs(self, validated: Validated, applier: Applier, store: StateStore) -> tuple[Any, ...]:
        """The outputs as applied, kept in the state for `reconcile output` (sensitive ones never)."""
        from reconciler.engine.outputs import resolve_outputs

        outputs = resolve_outputs(validated.spec.outputs, validated.graph, self.session.type_registry, applier.known,
                                  applier.secrets, validated.spec.data)
        for o in outputs:
            if o.sensitive and o.value not in (None, UNKNOWN):
                self.session.redactor.add(str(o.value))
        store.set_outputs({o.name: o.stored() for o in outputs if o.value is not UNKNOWN})
        return outputs

    def _only_drifted(self, plan: Plan, store: StateStore) -> Plan:
        """The plan with every change that is not a repair of drift (or of a missing resource) left out
        altogether (not turned into no-ops: the state must not record values that were never applied)."""
        from reconciler.engine.diff import change_for
        from reconciler.engine.drift import classify
        from reconciler.engine.triggers import cause_of, react

        drifted = {i.address for i in classify(plan, store.records(), self.session.type_registry).items
                   if i.kind in ("drifted", "missing")}
        kept = [c for c in plan.changes if c.address in drifted or (c.action is Action.NOOP and not c.pruned)]
        changing = {c.address for c in kept if c.action is not Action.NOOP}
        out = []
        for c in kept:  # a handler runs only for a trigger this run carries out (a pending one stays pending)
            if c.triggered_by and c.resource is not None and not any(cause_of(t) in changing and cause_of(t) == t
                                                                      for t in c.triggered_by):
                module = self.session.type_registry.module(c.type)
                c = dataclasses.replace(react(module, change_for(module, c.resource, c.observed), []), where=c.where)
                if c.action is Action.NOOP:
                    continue
            out.append(c)
        return dataclasses.replace(plan, changes=tuple(out))
